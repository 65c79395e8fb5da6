// The gate's packages step: the venv's Python and every locked wheel (lock::compare_wheel).
#include <fmt/format.h>

#include <filesystem>

#include "gate/gate.hpp"
#include "lock/venv_inspect.hpp"
#include "util/strings.hpp"

namespace sd35::gate {
namespace {

std::string minor_of(const std::string& version) {
  const auto parts = str::split(version, '.');
  return parts.size() >= 2 ? fmt::format("{}.{}", parts[0], parts[1]) : version;
}

std::optional<Finding> python_finding(const lock::Lockfile& l, const std::string& venv) {
  const std::string have = lock::venv_python_version(venv);
  if (have.empty() || l.host.python.empty()) return std::nullopt;
  const std::string want = minor_of(l.host.python);
  if (minor_of(have) == want)
    return gate_finding("host:python", "venv Python", Verdict::pass,
                        fmt::format("venv Python {} ({}.x as locked)", have, want));
  return gate_finding(
      "host:python", "venv Python", Verdict::fail,
      fmt::format("the venv's Python is {}, not {}.x (the locked wheels are built for it)", have,
                  want),
      "recreate the venv with the locked Python");
}

}  // namespace

std::vector<Finding> check_packages(const lock::Lockfile& l, const std::string& venv) {
  if (venv.empty())
    return {gate_finding("package:*", "installed wheels", Verdict::skip,
                         "no --venv given: installed wheels not checked")};
  auto have = lock::installed_dists(venv);
  if (!have)
    return {gate_finding("package:*", "installed wheels", Verdict::fail, have.error().describe(),
                         "sd35-setup install --venv DIR --from LOCK")};
  std::vector<Finding> out;
  if (auto py = python_finding(l, venv)) out.push_back(std::move(*py));
  for (const auto& p : l.packages) {
    const lock::WheelCheck c = lock::compare_wheel(p, *have);
    out.push_back(gate_finding("package:" + p.name, p.name,
                               c.same() ? Verdict::pass : Verdict::fail, c.detail,
                               c.same() ? "" : "sd35-setup install --venv DIR --from LOCK"));
  }
  return out;
}

}  // namespace sd35::gate
