// The gate's host step: driver floor of the locked CUDA, GPU compute capabilities, glibc.
#include <fmt/format.h>

#include <set>

#include "compat/driver_floor.hpp"
#include "gate/gate.hpp"
#include "util/strings.hpp"

namespace sd35::gate {
namespace {

Finding driver_finding(const lock::Lockfile& l, const HostFacts& host) {
  const std::string driver = host.nvidia ? host.nvidia->driver_version : std::string();
  const compat::DriverVerdict v = compat::driver_runs_variant(driver, l.cuda);
  switch (v.fit) {
    case compat::DriverFit::cpu:
      return gate_finding("host:driver", "driver floor", Verdict::skip,
                          "the lock has a CPU build: no driver needed");
    case compat::DriverFit::runs:
      return gate_finding(
          "host:driver", "driver floor", Verdict::pass,
          fmt::format("driver {} >= {} for {}", driver, v.floor->linux_min_driver, l.cuda));
    case compat::DriverFit::unknown_variant:
      return gate_finding("host:driver", "driver floor", Verdict::fail,
                          compat::describe_driver_problem(v, driver, l.cuda));
    case compat::DriverFit::no_driver:
      return gate_finding(
          "host:driver", "driver floor", Verdict::fail,
          fmt::format("no NVIDIA driver on this machine; the lock has a {} build", l.cuda),
          fmt::format("install an NVIDIA driver >= {}", v.floor->linux_min_driver));
    case compat::DriverFit::too_old:
      break;
  }
  return gate_finding("host:driver", "driver floor", Verdict::fail,
                      compat::describe_driver_problem(v, driver, l.cuda) + ", the locked build",
                      fmt::format("upgrade the driver to >= {}, or lock a build for an older CUDA",
                                  v.floor->linux_min_driver));
}

std::string list_or_none(const std::set<std::string>& s) {
  std::string t;
  for (const auto& x : s) t += (t.empty() ? "" : ", ") + x;
  return t.empty() ? std::string("none") : t;
}

Finding arch_finding(const lock::Lockfile& l, const HostFacts& host) {
  std::set<std::string> want, have;
  for (const auto& g : l.host.gpus) want.insert(g.compute_capability);
  if (host.nvidia)
    for (const auto& g : host.nvidia->gpus) have.insert(g.compute_capability);
  if (want == have)
    return gate_finding("host:gpu-arch", "GPU architecture", Verdict::pass,
                        fmt::format("compute capability {} as locked", list_or_none(have)));
  return gate_finding(
      "host:gpu-arch", "GPU architecture", Verdict::fail,
      fmt::format("this machine's GPUs have compute capability {}, the lock was made on {}",
                  list_or_none(have), list_or_none(want)),
      "run the gate on the GPU class the lock was proven on, or re-lock on this machine");
}

Finding glibc_finding(const lock::Lockfile& l, const HostFacts& host) {
  if (!l.host.glibc.empty() && !host.glibc.empty() &&
      str::compare_dotted(host.glibc, l.host.glibc) < 0)
    return gate_finding(
        "host:glibc", "glibc", Verdict::fail,
        fmt::format("glibc {} is older than {} where the lock was made", host.glibc, l.host.glibc),
        "use a newer OS image");
  return gate_finding("host:glibc", "glibc", Verdict::pass,
                      fmt::format("glibc {} (lock: {})", host.glibc, l.host.glibc));
}

}  // namespace

std::vector<Finding> check_host(const lock::Lockfile& locked, const HostFacts& host) {
  return {driver_finding(locked, host), arch_finding(locked, host), glibc_finding(locked, host)};
}

}  // namespace sd35::gate
