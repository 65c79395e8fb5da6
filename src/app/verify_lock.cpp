#include "app/verify_lock.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>

#include "app/probe.hpp"
#include "app/smoke_env.hpp"
#include "compat/compat.hpp"
#include "lock/lockfile.hpp"
#include "lock/model_state.hpp"
#include "lock/venv_inspect.hpp"
#include "store/hf_cache_layout.hpp"
#include "store/snapshot.hpp"
#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/process.hpp"
#include "util/strings.hpp"

namespace sd35::app {
namespace {

Finding finding(std::string id, std::string title, Verdict v, std::string detail,
                std::string fix = {}) {
  Finding f;
  f.id = std::move(id);
  f.title = std::move(title);
  f.verdict = v;
  f.detail = std::move(detail);
  f.fix = std::move(fix);
  f.rule = "lock";
  return f;
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string minor_of(const std::string& python) {
  auto parts = str::split(python, '.');
  return parts.size() >= 2 ? fmt::format("{}.{}", parts[0], parts[1]) : python;
}

void check_host(const lock::Lockfile& l, const HostFacts& host, std::vector<Finding>& out) {
  const bool has_gpu = host.nvidia && !host.nvidia->gpus.empty();
  if (l.cuda == "cpu" || l.cuda.empty()) {
    out.push_back(finding("host:driver", "driver floor", Verdict::skip,
                          "the lock has a CPU build: no driver needed"));
  } else if (const auto* floor = compat::driver_floor_for_variant(l.cuda); !floor) {
    out.push_back(finding("host:driver", "driver floor", Verdict::fail,
                          fmt::format("no driver floor known for {}", l.cuda)));
  } else if (!host.nvidia || host.nvidia->driver_version.empty()) {
    out.push_back(
        finding("host:driver", "driver floor", Verdict::fail,
                fmt::format("no NVIDIA driver on this machine; the lock has a {} build", l.cuda),
                fmt::format("install an NVIDIA driver >= {}", floor->linux_min_driver)));
  } else if (str::compare_dotted(host.nvidia->driver_version, floor->linux_min_driver) < 0) {
    out.push_back(
        finding("host:driver", "driver floor", Verdict::fail,
                fmt::format("driver {} < {} (CUDA {} floor of the locked {} build)",
                            host.nvidia->driver_version, floor->linux_min_driver, floor->cuda_major,
                            l.cuda),
                fmt::format("upgrade the driver to >= {}, or lock a build for an older CUDA",
                            floor->linux_min_driver)));
  } else {
    out.push_back(finding("host:driver", "driver floor", Verdict::pass,
                          fmt::format("driver {} >= {} for {}", host.nvidia->driver_version,
                                      floor->linux_min_driver, l.cuda)));
  }
  std::multiset<std::string> want, have;
  for (const auto& g : l.host.gpus) want.insert(g.compute_capability);
  if (has_gpu)
    for (const auto& g : host.nvidia->gpus) have.insert(g.compute_capability);
  auto text = [](const std::multiset<std::string>& s) {
    std::string t;
    for (const auto& x : s) t += (t.empty() ? "" : ", ") + x;
    return t.empty() ? std::string("none") : t;
  };
  std::set<std::string> uw(want.begin(), want.end()), uh(have.begin(), have.end());
  if (uw == uh)
    out.push_back(finding("host:gpu-arch", "GPU architecture", Verdict::pass,
                          fmt::format("compute capability {} as locked", text(have))));
  else
    out.push_back(finding(
        "host:gpu-arch", "GPU architecture", Verdict::fail,
        fmt::format("this machine's GPUs have compute capability {}, the lock was made on {}",
                    text(have), text(want)),
        "run the gate on the GPU class the lock was proven on, or re-lock on this machine"));
  if (!l.host.glibc.empty() && !host.glibc.empty() &&
      str::compare_dotted(host.glibc, l.host.glibc) < 0)
    out.push_back(finding(
        "host:glibc", "glibc", Verdict::fail,
        fmt::format("glibc {} is older than {} where the lock was made", host.glibc, l.host.glibc),
        "use a newer OS image"));
  else
    out.push_back(finding("host:glibc", "glibc", Verdict::pass,
                          fmt::format("glibc {} (lock: {})", host.glibc, l.host.glibc)));
}

void check_packages(const lock::Lockfile& l, const std::string& venv, std::vector<Finding>& out) {
  if (venv.empty()) {
    out.push_back(finding("package:*", "installed wheels", Verdict::skip,
                          "no --venv given: installed wheels not checked"));
    return;
  }
  auto have = lock::installed_dists(venv);
  if (!have) {
    out.push_back(finding("package:*", "installed wheels", Verdict::fail, have.error().describe(),
                          "sd35-setup install --venv DIR"));
    return;
  }
  if (auto v = fs::read_file(std::filesystem::path(venv) / "pyvenv.cfg");
      v && !l.host.python.empty()) {
    bool same = v->find("version = " + minor_of(l.host.python) + ".") != std::string::npos ||
                v->find("version_info = " + minor_of(l.host.python) + ".") != std::string::npos;
    out.push_back(finding(
        "host:python", "venv Python", same ? Verdict::pass : Verdict::fail,
        same ? fmt::format("venv Python {}.x as locked", minor_of(l.host.python))
             : fmt::format("the venv's Python is not {}.x (the locked wheels are built for it)",
                           minor_of(l.host.python)),
        same ? "" : "recreate the venv with the locked Python"));
  }
  for (const auto& p : l.packages) {
    std::string id = "package:" + p.name;
    auto it = have->find(p.name);
    if (it == have->end()) {
      out.push_back(finding(id, p.name, Verdict::fail,
                            fmt::format("{} {} is not installed", p.name, p.version),
                            "sd35-setup install --venv DIR --from LOCK"));
    } else if (it->second.version != p.version) {
      out.push_back(
          finding(id, p.name, Verdict::fail,
                  fmt::format("installed {} {}, locked {}", p.name, it->second.version, p.version),
                  "sd35-setup install --venv DIR --from LOCK"));
    } else if (it->second.sha256.empty()) {
      out.push_back(finding(id, p.name, Verdict::fail,
                            fmt::format("{} {} has no recorded wheel hash (direct_url.json): it "
                                        "was not installed from the locked wheel",
                                        p.name, p.version),
                            "sd35-setup install --venv DIR --from LOCK"));
    } else if (it->second.sha256 != p.sha256) {
      out.push_back(
          finding(id, p.name, Verdict::fail,
                  fmt::format("{} {} was installed from a wheel with sha256 {}, the lock has {}",
                              p.name, p.version, it->second.sha256, p.sha256),
                  "reinstall from the lock"));
    } else {
      out.push_back(finding(
          id, p.name, Verdict::pass,
          fmt::format("{} {} from wheel sha256 {}", p.name, p.version, p.sha256.substr(0, 16))));
    }
  }
}

// The checkpoint a locked smoke run used. Weights from the cache are found again by the locked
// commit in this machine's cache (which may live elsewhere than where the lock was made); else,
// and for --checkpoint runs, the locked path.
std::string locked_checkpoint(const nlohmann::json& locked, const GlobalOptions& global) {
  const auto string_at = [](const nlohmann::json& j, const char* key) {
    return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
  };
  if (locked.contains("cache") && locked["cache"].is_object()) {
    const nlohmann::json& c = locked["cache"];
    const std::string repo = string_at(c, "repo"), commit = string_at(c, "commit"),
                      rel = string_at(c, "checkpoint");
    if (!repo.empty() && store::is_commit_hash(commit) &&
        (rel.empty() || store::is_safe_repo_path(rel))) {
      const auto snapshot = store::repo_cache(resolve_cache_dir(global), repo).snapshot(commit);
      const auto path = rel.empty() ? snapshot : snapshot / rel;
      std::error_code ec;
      if (std::filesystem::exists(path, ec)) return path.string();
    }
  }
  return string_at(locked, "checkpoint");
}

// The smoke argv that re-runs the locked smoke: its parameters, its weights, its environment
// (the locked interpreter, or the venv the gate is given) and its pinned companions.
std::vector<std::string> smoke_argv(const nlohmann::json& locked, const GlobalOptions& global,
                                    const VerifyLockOptions& options) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  std::vector<std::string> argv{self.string(), "--json"};
  if (!global.manifest_path.empty()) argv.insert(argv.end(), {"--manifest", global.manifest_path});
  if (!global.cache_dir.empty()) argv.insert(argv.end(), {"--cache", global.cache_dir});
  argv.emplace_back("smoke");
  if (locked.contains("steps") && locked["steps"].is_number_integer())
    argv.insert(argv.end(), {"--steps", std::to_string(locked["steps"].get<int>())});
  if (locked.contains("latent") && locked["latent"].is_array() && locked["latent"].size() == 2)
    argv.insert(argv.end(), {"--latent", fmt::format("{}x{}", locked["latent"][0].get<int>(),
                                                     locked["latent"][1].get<int>())});
  if (locked.contains("guidance") && locked["guidance"].is_number())
    argv.insert(argv.end(), {"--guidance", fmt::format("{}", locked["guidance"].get<double>())});
  if (locked.contains("shift") && locked["shift"].is_number())
    argv.insert(argv.end(), {"--shift", fmt::format("{}", locked["shift"].get<double>())});
  if (locked.contains("requested_precision") && locked["requested_precision"].is_string())
    argv.insert(argv.end(), {"--precision", locked["requested_precision"].get<std::string>()});
  // The same weights as the locked run: without --synthetic the embedded run would now pick the
  // fetched model.
  if (locked.value("mode", "") == "embedded") {
    argv.emplace_back("--synthetic");
  } else if (auto checkpoint = locked_checkpoint(locked, global); !checkpoint.empty()) {
    argv.insert(argv.end(), {"--checkpoint", checkpoint});
  }
  const auto env = locked.value("environment", nlohmann::json::object());
  if (!options.venv.empty()) {
    argv.insert(argv.end(), {"--venv", options.venv});
  } else if (env.value("kind", "") == "python" && env.contains("interpreter")) {
    argv.insert(argv.end(), {"--python", env["interpreter"].get<std::string>()});
  }
  const auto side = locked.value("python_side", nlohmann::json::object());
  const auto companions = side.value("companions", nlohmann::json::object());
  for (const auto& [name, version] : companions.items())
    argv.insert(argv.end(), {"--require", version.is_string() && !version.get<std::string>().empty()
                                              ? name + "==" + version.get<std::string>()
                                              : name});
  if (!options.host_file.empty()) argv.insert(argv.end(), {"--host", options.host_file});
  return argv;
}

void compare_environment(const nlohmann::json& locked, const nlohmann::json& doc,
                         std::vector<Finding>& out) {
  if (!locked.contains("environment")) return;  // a lock from before environments were recorded
  const auto now = doc.value("environment", nlohmann::json::object());
  const auto diffs = environment_differences(locked["environment"], now);
  out.push_back(diffs.empty()
                    ? finding("smoke:environment", "smoke environment", Verdict::pass,
                              fmt::format("the same environment as locked: torch {} on {}",
                                          now.value("torch", now.value("libtorch", "")),
                                          now.value("device", "")))
                    : finding("smoke:environment", "smoke environment", Verdict::fail,
                              fmt::format("{}", fmt::join(diffs, "; ")),
                              "this node runs another environment than the lock: reinstall "
                              "from the lock (lock export, pip install --require-hashes) or "
                              "re-lock"));
}

void check_smoke(const lock::Lockfile& l, const GlobalOptions& global,
                 const VerifyLockOptions& options, std::vector<Finding>& out) {
  if (!l.smoke || !l.smoke->contains("fingerprint")) {
    out.push_back(finding("smoke:fingerprint", "smoke fingerprint", Verdict::fail,
                          "the lock has no smoke fingerprint to compare",
                          "lock with --smoke-result FILE from `sd35-setup smoke --json`"));
    return;
  }
  const nlohmann::json& locked = *l.smoke;
  proc::Command cmd;
  cmd.argv = smoke_argv(locked, global, options);
  cmd.timeout = std::chrono::minutes(20);
  auto run = proc::run(cmd);
  nlohmann::json doc;
  if (run) {
    if (auto j = jsonio::parse(run->out, "smoke --json"); j && j->is_object()) doc = *j;
  }
  if (!run || run->exit_code != 0 || !doc.contains("fingerprint")) {
    const std::string why = !run ? run.error().describe()
                            : doc.contains("error")
                                ? doc["error"].value("message", std::string("?"))
                                : fmt::format("exited {} without a fingerprint", run->exit_code);
    out.push_back(finding("smoke:fingerprint", "smoke fingerprint", Verdict::fail,
                          "`sd35-setup smoke` in the locked environment failed: " + why,
                          "run `sd35-setup smoke` by hand to see why"));
    return;
  }
  compare_environment(locked, doc, out);
  if (doc["fingerprint"] == locked.at("fingerprint")) {
    out.push_back(finding("smoke:fingerprint", "smoke fingerprint", Verdict::pass,
                          "the smoke run reproduces the locked fingerprint"));
  } else {
    out.push_back(finding("smoke:fingerprint", "smoke fingerprint", Verdict::fail,
                          fmt::format("fingerprint {} != locked {}", doc["fingerprint"].dump(),
                                      locked.at("fingerprint").dump()),
                          "the model, wheels or GPU behave differently from the locked run"));
  }
  // The run's timings for metrics (fleet::prometheus_text): step time per path, GEMM probe.
  for (const char* key : {"paths", "gemm_probe"})
    if (doc.contains(key)) out.back().data[key] = doc[key];
}

}  // namespace

std::string junit_xml(const std::string& suite, const std::vector<Finding>& findings,
                      double seconds) {
  int failures = 0, skipped = 0;
  for (const auto& f : findings) {
    failures += f.verdict == Verdict::fail;
    skipped += f.verdict == Verdict::skip;
  }
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  out += fmt::format(
      "<testsuites name=\"{0}\" tests=\"{1}\" failures=\"{2}\" skipped=\"{3}\" time=\"{4:.3f}\">\n"
      "  <testsuite name=\"{0}\" tests=\"{1}\" failures=\"{2}\" skipped=\"{3}\" "
      "time=\"{4:.3f}\">\n",
      xml_escape(suite), findings.size(), failures, skipped, seconds);
  for (const auto& f : findings) {
    std::string cls = f.id.substr(0, f.id.find(':'));
    out += fmt::format("    <testcase classname=\"{}\" name=\"{}\"", xml_escape(cls),
                       xml_escape(f.id));
    if (f.verdict == Verdict::fail)
      out += fmt::format(">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                         xml_escape(f.detail),
                         xml_escape(f.fix.empty() ? f.detail : f.detail + "\nfix: " + f.fix));
    else if (f.verdict == Verdict::skip)
      out += fmt::format(">\n      <skipped message=\"{}\"/>\n    </testcase>\n",
                         xml_escape(f.detail));
    else
      out += fmt::format(">\n      <system-out>{}</system-out>\n    </testcase>\n",
                         xml_escape(f.detail));
  }
  return out + "  </testsuite>\n</testsuites>\n";
}

Result<Outcome> verify_lock(const GlobalOptions& global, const VerifyLockOptions& options,
                            Reporter& reporter) {
  const auto started = std::chrono::steady_clock::now();
  SD35_TRY(auto l, lock::load(options.lock));
  std::vector<Finding> findings;
  SD35_TRY(auto files, lock::check_model_files(l.model, resolve_cache_dir(global)));
  int fast = 0;
  for (const auto& c : files) {
    fast += c.fast;
    findings.push_back(
        finding("model:" + c.path, c.path, c.ok ? Verdict::pass : Verdict::fail, c.detail,
                c.ok ? "" : "sd35-setup fetch (then verify) to restore the locked file"));
  }
  check_packages(l, options.venv, findings);
  SD35_TRY(HostFacts host, gate_host_facts(options.host_file));
  check_host(l, host, findings);
  if (options.smoke) check_smoke(l, global, options, findings);

  bool content_failed = false, host_failed = false;
  for (const auto& f : findings) {
    reporter.finding(f);
    if (f.verdict != Verdict::fail) continue;
    (f.id.starts_with("host:") ? host_failed : content_failed) = true;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!options.junit.empty())
    SD35_TRY_STATUS(fs::write_file_atomic(
        options.junit, junit_xml("sd35-setup verify --lock", findings, seconds)));
  Outcome outcome = content_failed ? Outcome::verification_failed
                    : host_failed  ? Outcome::not_ready
                                   : Outcome::ok;
  nlohmann::json jf = nlohmann::json::array();
  int failed = 0;
  for (const auto& f : findings) {
    jf.push_back(f.to_json());
    failed += f.verdict == Verdict::fail;
  }
  std::vector<std::string> summary;
  summary.push_back(outcome == Outcome::ok
                        ? fmt::format("PASS: this machine matches {} ({} checks, {} of {} model "
                                      "file(s) by stat fast path)",
                                      options.lock, findings.size(), fast, files.size())
                        : fmt::format("FAIL: {} of {} checks differ from {}", failed,
                                      findings.size(), options.lock));
  for (const auto& f : findings)
    if (f.verdict == Verdict::fail) summary.push_back(fmt::format("  {}: {}", f.id, f.detail));
  reporter.result("verify-lock", {{"ok", outcome == Outcome::ok},
                                  {"lock", options.lock},
                                  {"lock_digest", lock::digest_of(lock::to_json_unsigned(l))},
                                  {"findings", jf},
                                  {"seconds", seconds},
                                  {"summary", summary}});
  return outcome;
}

}  // namespace sd35::app
