#include <fmt/format.h>

#include <set>

#include "checks/check.hpp"
#include "compat/compat.hpp"
#include "compat/driver_floor.hpp"

namespace sd35::checks {

static Finding run_driver_cuda_compat(const CheckInfo& info, const CheckContext& ctx) {
  // The CUDA majors the manifest's candidates could use, newest first.
  std::set<std::string, std::greater<>> variants;
  for (const auto& c : ctx.manifest.environment.candidates)
    for (const auto& v : c.cuda)
      if (v != "cpu") variants.insert(v);
  if (!ctx.host.nvidia)
    return make_finding(info, Verdict::skip,
                        "no NVIDIA driver: CUDA builds cannot run here (only cpu variants)");
  const std::string& driver = ctx.host.nvidia->driver_version;
  std::vector<std::string> ok, rejected;
  nlohmann::json per_variant = nlohmann::json::object();
  for (const auto& v : variants) {
    const compat::DriverVerdict verdict = compat::driver_runs_variant(driver, v);
    if (verdict.fit == compat::DriverFit::unknown_variant) {
      rejected.push_back(fmt::format("{} (unknown CUDA major)", v));
      continue;
    }
    const compat::DriverFloor* floor = verdict.floor;
    const bool runs = verdict.fit == compat::DriverFit::runs;
    per_variant[v] = {{"driver_floor", floor->linux_min_driver}, {"runs", runs}};
    (runs ? ok : rejected)
        .push_back(runs ? v
                        : fmt::format("{} (CUDA {}.x needs driver >= {})", v, floor->cuda_major,
                                      floor->linux_min_driver));
  }
  std::string cuda_ver =
      ctx.host.nvidia->cuda_driver_version
          ? fmt::format(", reports CUDA {}.{}", *ctx.host.nvidia->cuda_driver_version / 1000,
                        (*ctx.host.nvidia->cuda_driver_version % 1000) / 10)
          : "";
  Finding f;
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
  };
  if (variants.empty()) {
    f = make_finding(
        info, Verdict::warn,
        fmt::format("driver {}{}; the manifest lists only cpu variants", driver, cuda_ver));
  } else if (ok.empty()) {
    const auto* lowest = compat::driver_floor_for_variant(*variants.rbegin());
    f = make_finding(
        info, Verdict::fail,
        fmt::format("driver {}{} is too old for every CUDA variant in the manifest: {}", driver,
                    cuda_ver, join(rejected)),
        fmt::format("upgrade the NVIDIA driver to >= {} (or add a candidate with an older CUDA "
                    "variant such as cu118)",
                    lowest ? lowest->linux_min_driver : "the floor above"));
  } else {
    f = make_finding(info, Verdict::pass,
                     fmt::format("driver {}{} runs {}{}", driver, cuda_ver, join(ok),
                                 rejected.empty() ? "" : fmt::format("; not {}", join(rejected))));
  }
  f.data = {{"driver_version", driver}, {"variants", per_variant}};
  return f;
}

extern const CheckDef driver_cuda_compat{
    {"driver.cuda-compat", "Driver runs the manifest's CUDA builds",
     "the driver meets the minor-version-compatibility floor of at least one CUDA variant the "
     "manifest allows "
     "(11.x >= 450.80.02, 12.x >= 525.60.13, 13.x >= 580)",
     "upgrade the NVIDIA driver, or choose a candidate built for an older CUDA major", true},
    run_driver_cuda_compat};

}  // namespace sd35::checks
