#include "app/lock.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "app/probe.hpp"
#include "lock/lockfile.hpp"
#include "lock/model_state.hpp"
#include "lock/venv_inspect.hpp"
#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/strings.hpp"

namespace sd35::app {
namespace {

namespace stdfs = std::filesystem;

// "version = 3.11.7" from <venv>/pyvenv.cfg.
std::string venv_python_version(const stdfs::path& venv) {
  auto text = fs::read_file(venv / "pyvenv.cfg");
  if (!text) return {};
  for (auto line : str::split(*text, '\n')) {
    auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    auto key = str::trim(line.substr(0, eq));
    if (key == "version" || key == "version_info") {
      auto parts = str::split(str::trim(line.substr(eq + 1)), '.');
      if (parts.size() >= 3) return fmt::format("{}.{}.{}", parts[0], parts[1], parts[2]);
    }
  }
  return {};
}

struct FromResolution {
  std::string torch, cuda, index_url, python;
  std::vector<resolve::Package> packages;
};

Result<FromResolution> read_resolution(const std::string& path) {
  SD35_TRY(auto doc, jsonio::parse_file(path));
  if (!doc.is_object() || !doc.contains("selected") || !doc["selected"].is_object())
    return make_error(Errc::bad_input, "not a resolution with a selection (/selected)", path,
                      "write one with `sd35-setup resolve --index URL --closure --out FILE`");
  const auto& s = doc["selected"];
  FromResolution r;
  r.torch = s.value("torch", "");
  r.cuda = s.value("cuda", "");
  r.index_url = s.value("index_url", "");
  r.python = s.value("python", "");
  SD35_TRY(r.packages, resolve::packages_from_json(s["packages"], path, "/selected/packages"));
  for (const auto& p : r.packages)
    if (!p.pinned() || p.sha256.empty())
      return make_error(Errc::bad_input, fmt::format("{} has no pinned wheel + sha256", p.name),
                        path, "resolve with --index URL --closure so every wheel is pinned");
  return r;
}

// Every locked wheel must be what the venv has (pip recorded the wheel hash in direct_url.json).
Status cross_check_venv(const std::vector<resolve::Package>& pk,
                        const std::map<std::string, lock::InstalledDist>& have,
                        const std::string& venv) {
  for (const auto& p : pk) {
    auto it = have.find(p.name);
    if (it == have.end())
      return make_error(Errc::integrity,
                        fmt::format("{} {} is not installed in the venv", p.name, p.version), venv,
                        "run `sd35-setup install --venv DIR` first");
    if (it->second.version != p.version ||
        (!it->second.sha256.empty() && it->second.sha256 != p.sha256))
      return make_error(
          Errc::integrity,
          fmt::format("{}: venv has {} (sha256 {}), the resolution says {} (sha256 {})", p.name,
                      it->second.version, it->second.sha256.empty() ? "unknown" : it->second.sha256,
                      p.version, p.sha256),
          it->second.dist_info.string(), "reinstall with `sd35-setup install`, or resolve again");
  }
  return ok();
}

}  // namespace

Result<Outcome> lock(const GlobalOptions& global, const LockOptions& options, Reporter& reporter) {
  SD35_TRY(Manifest manifest, load_manifest_for(global));
  std::string from = options.from;
  std::error_code ec;
  if (from.empty() && stdfs::exists("sd35-resolve.json", ec)) from = "sd35-resolve.json";
  if (from.empty() && options.venv.empty())
    return make_error(Errc::usage, "nothing to lock: no resolution and no venv", {},
                      "pass --from sd35-resolve.json (from `resolve --out`) and/or --venv DIR");
  lock::Lockfile l;
  l.tool_version = SD35_VERSION;
  l.manifest_name = manifest.name;
  l.manifest_digest = manifest.digest;
  std::vector<std::string> summary;
  if (!from.empty()) {
    SD35_TRY(auto r, read_resolution(from));
    l.torch = r.torch;
    l.cuda = r.cuda;
    l.index_url = r.index_url;
    l.host.python = r.python;
    l.packages = std::move(r.packages);
  }
  if (!options.venv.empty()) {
    SD35_TRY(auto have, lock::installed_dists(options.venv));
    if (!from.empty()) {
      SD35_TRY_STATUS(cross_check_venv(l.packages, have, options.venv));
      summary.push_back(fmt::format("venv {} matches the resolution ({} wheels)", options.venv,
                                    l.packages.size()));
    } else {
      for (const auto& [name, d] : have) {
        if (d.sha256.empty() || d.url.empty()) {
          reporter.warn(fmt::format(
              "{} {} left out: pip recorded no wheel hash (not installed by `sd35-setup install`)",
              name, d.version));
          continue;
        }
        resolve::Package p;
        p.name = name;
        p.version = d.version;
        p.specifier = "==" + d.version;
        p.url = d.url.substr(0, d.url.find('#'));
        p.file = p.url.substr(p.url.rfind('/') + 1);
        p.sha256 = d.sha256;
        l.packages.push_back(std::move(p));
        if (name == "torch") {
          l.torch = d.version.substr(0, d.version.find('+'));
          l.cuda = d.version.find('+') == std::string::npos
                       ? ""
                       : d.version.substr(d.version.find('+') + 1);
        }
      }
    }
    if (auto v = venv_python_version(options.venv); !v.empty()) l.host.python = v;
  }
  SD35_TRY(HostFacts host, host_facts_for(global, options.host_file, {}));
  if (host.nvidia) {
    l.host.driver = host.nvidia->driver_version;
    l.host.cuda_driver_version = host.nvidia->cuda_driver_version;
    for (const auto& g : host.nvidia->gpus) l.host.gpus.push_back({g.name, g.compute_capability});
  }
  l.host.glibc = host.glibc;
  l.host.machine = host.os.arch;
  if (l.host.python.empty() && host.primary_python())
    l.host.python = host.primary_python()->version;

  l.model = lock::model_from_cache(manifest, hub_env_for(global));  // its repo: HF_ENDPOINT
  if (!l.model.verified)
    summary.emplace_back(
        "model: not (completely) fetched: the manifest's values are recorded, marked unverified");
  if (!options.smoke_result.empty()) {
    SD35_TRY(auto smoke, jsonio::parse_file(options.smoke_result));
    if (!smoke.is_object())
      return make_error(Errc::bad_input, "smoke result is not a JSON object", options.smoke_result,
                        "pass the file written by `sd35-setup smoke --json > FILE`");
    // A lock records a proven environment, or nothing: a failed or CPU-instead-of-GPU smoke
    // result is refused rather than locked as if it proved something.
    if (!smoke.value("proven", smoke.value("ok", false)))
      return make_error(Errc::host_not_ready, "the smoke result did not prove the environment",
                        options.smoke_result,
                        "fix what `sd35-setup smoke` reported, run it again (--json > FILE), "
                        "then lock");
    l.smoke = lock::smoke_record(std::move(smoke));
  }
  if (!options.created.empty()) l.created = options.created;
  std::string text = lock::serialize(l);
  SD35_TRY_STATUS(fs::write_file_atomic(options.out, text));
  summary.insert(
      summary.begin(),
      fmt::format("wrote {}: torch {} {}, {} wheel(s), model {} ({} file(s))", options.out, l.torch,
                  l.cuda, l.packages.size(), l.model.repo, l.model.files.size()));
  nlohmann::json doc = nlohmann::json::parse(text);
  reporter.result("lock",
                  {{"ok", true}, {"path", options.out}, {"lock", doc}, {"summary", summary}});
  return Outcome::ok;
}

Result<Outcome> lock_export(const GlobalOptions& /*global*/, const LockExportOptions& options,
                            Reporter& reporter) {
  SD35_TRY(auto l, lock::load(options.lock));
  std::string text;
  if (options.format == "requirements")
    text = lock::export_requirements(l);
  else if (options.format == "pylock")
    text = lock::export_pylock(l);
  else
    return make_error(Errc::usage, fmt::format("unknown export format '{}'", options.format), {},
                      "use --format requirements or --format pylock");
  std::vector<std::string> summary;
  if (!options.out.empty()) {
    SD35_TRY_STATUS(fs::write_file_atomic(options.out, text));
    summary.push_back(fmt::format("wrote {} ({})", options.out, options.format));
  } else {
    for (auto line : str::split(text, '\n')) summary.emplace_back(line);
    if (!summary.empty() && summary.back().empty()) summary.pop_back();
  }
  reporter.result("lock-export",
                  {{"ok", true}, {"format", options.format}, {"text", text}, {"summary", summary}});
  return Outcome::ok;
}

Result<Outcome> lock_diff(const GlobalOptions& /*global*/, const LockDiffOptions& options,
                          Reporter& reporter) {
  SD35_TRY(auto a, lock::load(options.a));
  SD35_TRY(auto b, lock::load(options.b));
  auto lines = lock::diff(a, b);
  nlohmann::json changes = nlohmann::json::array();
  std::vector<std::string> summary;
  for (const auto& d : lines) {
    changes.push_back({{"section", d.section},
                       {"key", d.key},
                       {"a", d.a.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.a)},
                       {"b", d.b.empty() ? nlohmann::json(nullptr) : nlohmann::json(d.b)}});
    summary.push_back(fmt::format("{} {}: {} -> {}", d.section, d.key,
                                  d.a.empty() ? "(absent)" : d.a, d.b.empty() ? "(absent)" : d.b));
  }
  if (lines.empty()) summary.emplace_back("the locks are equivalent");
  reporter.result("lock-diff", {{"ok", lines.empty()},
                                {"identical", lines.empty()},
                                {"changes", changes},
                                {"summary", summary}});
  return lines.empty() ? Outcome::ok : Outcome::verification_failed;
}

}  // namespace sd35::app
