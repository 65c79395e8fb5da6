#include "lock/resolution.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "compat/driver_floor.hpp"
#include "lock/venv_inspect.hpp"
#include "util/json_reader.hpp"
#include "util/strings.hpp"

namespace sd35::lock {
namespace {

std::string minor_of(const std::string& version) {
  const auto parts = str::split(version, '.');
  return parts.size() >= 2 ? fmt::format("{}.{}", parts[0], parts[1]) : version;
}

std::set<std::string> compute_capabilities_in(const nlohmann::json& host) {
  std::set<std::string> out;
  // A host without an NVIDIA driver records "nvidia": null.
  const auto nvidia = host.value("nvidia", nlohmann::json());
  if (!nvidia.is_object() || !nvidia.contains("gpus") || !nvidia["gpus"].is_array()) return out;
  for (const auto& g : nvidia["gpus"])
    if (g.is_object() && g.contains("compute_capability") && g["compute_capability"].is_string())
      out.insert(g["compute_capability"].get<std::string>());
  return out;
}

std::string python_now(const HostFacts& host, const std::string& venv, const std::string& want) {
  if (!venv.empty()) return venv_python_version(venv);
  for (const auto& py : host.python)
    if (minor_of(py.version) == minor_of(want)) return py.version;
  return host.primary_python() ? host.primary_python()->version : std::string();
}

}  // namespace

Result<FromResolution> read_resolution(const std::string& path) {
  SD35_TRY(auto doc, jsonio::parse_file(path));
  if (!doc.is_object() || !doc.contains("selected") || !doc["selected"].is_object())
    return make_error(Errc::bad_input, "not a resolution with a selection (/selected)", path,
                      "write one with `sd35-setup resolve --index URL --closure --out FILE`");
  const auto& s = doc["selected"];
  FromResolution r;
  r.path = path;
  r.torch = s.value("torch", "");
  r.cuda = s.value("cuda", "");
  r.index_url = s.value("index_url", "");
  r.python = s.value("python", "");
  if (doc.contains("manifest") && doc["manifest"].is_object()) r.manifest = doc["manifest"];
  if (doc.contains("host") && doc["host"].is_object()) r.host = doc["host"];
  SD35_TRY(r.packages, resolve::packages_from_json(s["packages"], path, "/selected/packages"));
  for (const auto& p : r.packages)
    if (!p.pinned() || p.sha256.empty())
      return make_error(Errc::bad_input, fmt::format("{} has no pinned wheel + sha256", p.name),
                        path, "resolve with --index URL --closure so every wheel is pinned");
  return r;
}

Status resolution_fits_manifest(const FromResolution& r, const Manifest& m) {
  if (r.manifest.is_null()) return ok();  // hand-written: nothing recorded to compare
  const std::string name = r.manifest.value("name", ""), digest = r.manifest.value("digest", "");
  if (name == m.name && digest == m.digest) return ok();
  return make_error(
      Errc::bad_input,
      fmt::format("the resolution was made for manifest {} (digest {}), this lock is for {} "
                  "(digest {})",
                  name, digest.substr(0, 16), m.name, m.digest.substr(0, 16)),
      r.path,
      "lock with the --manifest the resolution was made with, or resolve again with this one");
}

Status resolution_fits_host(const FromResolution& r, const HostFacts& host,
                            const std::string& venv) {
  const std::string driver = host.nvidia ? host.nvidia->driver_version : std::string();
  const auto fit = compat::driver_runs_variant(driver, r.cuda);
  if (fit.fit != compat::DriverFit::runs && fit.fit != compat::DriverFit::cpu)
    return make_error(
        Errc::host_not_ready,
        "the resolution's torch " + r.torch + " " + r.cuda +
            " cannot run on this host: " + compat::describe_driver_problem(fit, driver, r.cuda),
        r.path, "resolve again on this host (sd35-setup resolve --out FILE)");
  std::set<std::string> have;
  if (host.nvidia)
    for (const auto& g : host.nvidia->gpus) have.insert(g.compute_capability);
  if (!r.host.is_null() && compute_capabilities_in(r.host) != have)
    return make_error(
        Errc::host_not_ready,
        fmt::format("the resolution was made for GPUs of compute capability [{}], "
                    "this host has [{}]",
                    fmt::join(compute_capabilities_in(r.host), ", "), fmt::join(have, ", ")),
        r.path, "resolve again on this host (sd35-setup resolve --out FILE)");
  const std::string py = python_now(host, venv, r.python);
  if (!r.python.empty() && !py.empty() && minor_of(py) != minor_of(r.python))
    return make_error(
        Errc::host_not_ready,
        fmt::format("the resolution's wheels are for Python {}, {} has Python {}",
                    minor_of(r.python), venv.empty() ? "this host" : venv, py),
        r.path,
        "resolve again for this Python, or lock a venv made with Python " + minor_of(r.python));
  return ok();
}

}  // namespace sd35::lock
