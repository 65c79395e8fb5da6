#include "app/install.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "app/probe.hpp"
#include "checks/check.hpp"
#include "host/probe.hpp"
#include "lock/lockfile.hpp"
#include "resolve/pip_errors.hpp"
#include "resolve/resolve.hpp"
#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/process.hpp"

namespace sd35::app {
namespace {

namespace stdfs = std::filesystem;

// The packages of a resolution (/selected/packages) or of a lockfile (/packages, digest-checked).
Result<std::vector<resolve::Package>> packages_to_install(const std::string& path) {
  std::error_code ec;
  if (!stdfs::exists(path, ec))
    return make_error(Errc::usage, "no resolution to install from", path,
                      "run `sd35-setup resolve --index https://download.pytorch.org/whl/{variant} "
                      "--closure --out "
                      "sd35-resolve.json` first, or pass --from FILE");
  SD35_TRY(auto text, fs::read_file(path));
  SD35_TRY(auto doc, jsonio::parse(text, path));
  if (doc.is_object() && doc.contains("lock_digest")) {
    SD35_TRY(auto lock, lock::parse(text, path));
    return lock.packages;
  }
  if (!doc.is_object() || !doc.contains("selected") || !doc["selected"].is_object())
    return make_error(
        Errc::bad_input, "neither a resolution (no /selected) nor a lockfile", path,
        "pass the file written by `sd35-setup resolve --out FILE` or `sd35-setup lock`");
  SD35_TRY(auto pk,
           resolve::packages_from_json(doc["selected"]["packages"], path, "/selected/packages"));
  std::string missing;
  for (const auto& p : pk)
    if (!p.pinned() || p.sha256.empty()) missing += (missing.empty() ? "" : ", ") + p.name;
  if (!missing.empty())
    return make_error(Errc::bad_input, fmt::format("no pinned wheel + sha256 for: {}", missing),
                      path,
                      "resolve with --index URL --closure so every wheel has a URL and a hash");
  return pk;
}

// "name @ URL#sha256=H --hash=sha256:H": a direct reference makes pip record the wheel hash in
// direct_url.json, which `verify --lock` compares later.
std::string requirements_text(const std::vector<resolve::Package>& pk) {
  std::string out;
  for (const auto& p : pk) {
    std::string url = p.url.substr(0, p.url.find('#'));
    out += fmt::format("{} @ {}#sha256={} --hash=sha256:{}\n", p.name, url, p.sha256, p.sha256);
  }
  return out;
}

Status run_tool(proc::Command cmd, const std::string& what) {
  cmd.env_overrides.emplace("PIP_DISABLE_PIP_VERSION_CHECK", "1");
  cmd.env_overrides.emplace("PIP_NO_INPUT", "1");
  SD35_TRY(auto outcome, proc::run(cmd));
  if (outcome.success()) return ok();
  return resolve::pip_failure(outcome, {what + " failed", cmd.argv.front(), Errc::host_not_ready,
                                        "read the tool's message above"});
}

}  // namespace

Result<Outcome> install(const GlobalOptions& global, const InstallOptions& options,
                        Reporter& reporter) {
  SD35_TRY(Manifest manifest, load_manifest_for(global));
  SD35_TRY(auto packages, packages_to_install(options.from));
  const stdfs::path venv = stdfs::absolute(options.venv);
  const stdfs::path vpython = venv / "bin" / "python";
  std::error_code ec;
  if (!stdfs::exists(vpython, ec)) {
    std::string python =
        options.python.empty() ? proc::which("python3").value_or("python3") : options.python;
    reporter.info(fmt::format("creating {} with {}", venv.string(), python));
    proc::Command mk;
    mk.argv = {python, "-m", "venv", venv.string()};
    if (options.system_site_packages) mk.argv.emplace_back("--system-site-packages");
    mk.timeout = std::chrono::minutes(3);
    SD35_TRY_STATUS(run_tool(mk, "python -m venv (Debian: apt-get install python3-venv)"));
  }
  const stdfs::path req = venv / "sd35-requirements.txt";
  SD35_TRY_STATUS(fs::write_file_atomic(req, requirements_text(packages)));
  reporter.info(
      fmt::format("installing {} locked wheel(s) into {}", packages.size(), venv.string()));
  proc::Command pip;
  pip.argv = {vpython.string(),
              "-m",
              "pip",
              "install",
              "--require-hashes",
              "--no-deps",
              "--no-index",
              "--only-binary",
              ":all:",
              "--quiet",
              "-r",
              req.string()};
  pip.timeout = std::chrono::minutes(30);
  SD35_TRY_STATUS(run_tool(pip, "pip install --require-hashes --no-deps"));

  // The doctor's Python checks, on the venv's interpreter and this host's GPUs.
  SD35_TRY(HostFacts host, host_facts_for(global, options.host_file, {}));
  host.python = {probe_python(vpython.string(), std::chrono::seconds(120))};
  checks::CheckContext ctx{manifest, host};
  nlohmann::json jchecks = nlohmann::json::array();
  int failed = 0;
  for (const char* id :
       {"python.version", "torch.float8", "torch.cuda-arch", "xformers.torch-pin"}) {
    const checks::CheckDef* def = checks::find_check(id);
    if (!def) continue;
    Finding f = def->run(def->info, ctx);
    reporter.finding(f);
    jchecks.push_back(f.to_json());
    if (f.verdict == Verdict::fail && f.required) ++failed;
  }
  const PythonFacts& py = host.python.front();
  std::vector<std::string> summary = {
      fmt::format("installed {} wheel(s) into {} (Python {})", packages.size(), venv.string(),
                  py.version),
      py.torch ? fmt::format("venv torch {} (CUDA {})", py.torch->version,
                             py.torch->cuda.value_or("none"))
               : std::string("venv has no importable torch")};
  if (failed) summary.push_back(fmt::format("{} required check(s) failed on the new venv", failed));
  nlohmann::json jpk = nlohmann::json::array();
  for (const auto& p : packages)
    jpk.push_back({{"name", p.name}, {"version", p.version}, {"sha256", p.sha256}});
  reporter.result("install", {{"ok", failed == 0},
                              {"venv", venv.string()},
                              {"python", py.version},
                              {"packages", jpk},
                              {"checks", jchecks},
                              {"summary", summary}});
  return failed ? Outcome::not_ready : Outcome::ok;
}

}  // namespace sd35::app
