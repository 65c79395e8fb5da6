#include "app/lock.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "app/probe.hpp"
#include "lock/lockfile.hpp"
#include "lock/model_state.hpp"
#include "lock/resolution.hpp"
#include "lock/venv_inspect.hpp"
#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/strings.hpp"

namespace sd35::app {
namespace {

namespace stdfs = std::filesystem;

// Every locked wheel must be what the venv has (lock::compare_wheel: pip recorded the wheel's
// sha256 in direct_url.json, and it is the resolved one).
Status cross_check_venv(const std::vector<resolve::Package>& pk,
                        const std::map<std::string, lock::InstalledDist>& have,
                        const std::string& venv) {
  for (const auto& p : pk) {
    const lock::WheelCheck c = lock::compare_wheel(p, have);
    if (c.same()) continue;
    return make_error(Errc::integrity, "the venv differs from the resolution: " + c.detail,
                      c.installed ? c.installed->dist_info.string() : venv,
                      c.match == lock::WheelMatch::missing
                          ? "run `sd35-setup install --venv DIR --from RESOLUTION` first"
                          : "reinstall with `sd35-setup install --venv DIR --from RESOLUTION` "
                            "(installs by URL, so pip records the wheel hash), or resolve again");
  }
  return ok();
}

// Without a resolution, the venv's wheels installed by URL are the lock's packages.
void packages_from_venv(const std::map<std::string, lock::InstalledDist>& have, lock::Lockfile& l,
                        Reporter& reporter) {
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
      const auto plus = d.version.find('+');
      l.torch = d.version.substr(0, plus);
      l.cuda = plus == std::string::npos ? "" : d.version.substr(plus + 1);
    }
  }
}

void record_host(const HostFacts& host, lock::Lockfile& l) {
  if (host.nvidia) {
    l.host.driver = host.nvidia->driver_version;
    l.host.cuda_driver_version = host.nvidia->cuda_driver_version;
    for (const auto& g : host.nvidia->gpus) l.host.gpus.push_back({g.name, g.compute_capability});
  }
  l.host.glibc = host.glibc;
  l.host.machine = host.os.arch;
  if (l.host.python.empty() && host.primary_python())
    l.host.python = host.primary_python()->version;
}

// The smoke result to record: `up` passes its document in process, else --smoke-result FILE.
Result<std::optional<nlohmann::json>> smoke_to_record(const LockOptions& o) {
  nlohmann::json smoke;
  const std::string where = o.smoke_document ? std::string("the smoke run") : o.smoke_result;
  if (o.smoke_document) {
    smoke = *o.smoke_document;
  } else if (!o.smoke_result.empty()) {
    SD35_TRY(smoke, jsonio::parse_file(o.smoke_result));
  } else {
    return std::optional<nlohmann::json>();
  }
  if (!smoke.is_object())
    return make_error(Errc::bad_input, "smoke result is not a JSON object", where,
                      "pass the file written by `sd35-setup smoke --json > FILE`");
  // A lock records a proven environment, or nothing: a failed or CPU-instead-of-GPU smoke
  // result is refused rather than locked as if it proved something.
  if (!smoke.value("proven", smoke.value("ok", false)))
    return make_error(Errc::host_not_ready, "the smoke result did not prove the environment", where,
                      "fix what `sd35-setup smoke` reported, run it again (--json > FILE), "
                      "then lock");
  // Without the summary and the image's path (this machine's): lock::smoke_record.
  return std::optional<nlohmann::json>(lock::smoke_record(std::move(smoke)));
}

// The packages, torch and Python from the resolution and/or the venv, each checked against the
// other and against this manifest and host.
Status lock_environment(const LockOptions& o, const std::string& from, const Manifest& manifest,
                        const HostFacts& host, lock::Lockfile& l, std::vector<std::string>& summary,
                        Reporter& reporter) {
  if (!from.empty()) {
    SD35_TRY(auto r, lock::read_resolution(from));
    SD35_TRY_STATUS(lock::resolution_fits_manifest(r, manifest));
    SD35_TRY_STATUS(lock::resolution_fits_host(r, host, o.venv));
    l.torch = r.torch;
    l.cuda = r.cuda;
    l.index_url = r.index_url;
    l.host.python = r.python;
    l.packages = std::move(r.packages);
  }
  if (o.venv.empty()) return ok();
  SD35_TRY(auto have, lock::installed_dists(o.venv));
  if (!from.empty()) {
    SD35_TRY_STATUS(cross_check_venv(l.packages, have, o.venv));
    summary.push_back(
        fmt::format("venv {} matches the resolution ({} wheels)", o.venv, l.packages.size()));
  } else {
    packages_from_venv(have, l, reporter);
  }
  if (auto v = lock::venv_python_version(o.venv); !v.empty()) l.host.python = v;
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
  SD35_TRY(HostFacts host, host_facts_for(global, options.host_file, {}));
  lock::Lockfile l;
  l.tool_version = SD35_VERSION;
  l.manifest_name = manifest.name;
  l.manifest_digest = manifest.digest;
  std::vector<std::string> summary;
  SD35_TRY_STATUS(lock_environment(options, from, manifest, host, l, summary, reporter));
  record_host(host, l);
  l.model = lock::model_from_cache(manifest, hub_env_for(global));  // its repo: HF_ENDPOINT
  if (!l.model.verified)
    summary.emplace_back(
        "model: not (completely) fetched: the manifest's values are recorded, marked unverified");
  SD35_TRY(l.smoke, smoke_to_record(options));
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
