#include "app/first_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>

#include "app/probe.hpp"
#include "checks/check.hpp"
#include "plugin/loader.hpp"
#include "util/process.hpp"

namespace sd35::app {
namespace {

struct Assessment {
  std::vector<std::string> can, cannot;
  std::vector<const Finding*> failed;  // required checks that failed
  std::string next;                    // the one command to run next
  std::string next_why;
};

const GpuFacts* first_gpu(const HostFacts& host) {
  return host.nvidia && !host.nvidia->gpus.empty() ? &host.nvidia->gpus.front() : nullptr;
}

bool has_compiler() {
  proc::Command cmd;
  cmd.argv = {"c++", "--version"};
  cmd.timeout = std::chrono::milliseconds(5000);
  auto out = proc::run(cmd);
  return out && out->success();
}

// "8.9" -> 89, "10.0" -> 100: compute capabilities compare as numbers, not strings.
int cc_number(const std::string& cc) {
  int major = 0, minor = 0;
  if (std::sscanf(cc.c_str(), "%d.%d", &major, &minor) < 1) return 0;
  return major * 10 + minor;
}

std::string gpu_line(const GpuFacts& gpu, const NvidiaFacts& nv) {
  return fmt::format("GPU: {} (cc {}, {} GiB), driver {}", gpu.name, gpu.compute_capability,
                     gpu.memory_total_mib / 1024, nv.driver_version);
}

void assess_local_smoke(Assessment& a, bool gpu) {
  const bool builtin = plugin::builtin_plugin_path().has_value();
  if (builtin && !gpu)
    a.can.emplace_back("smoke on the CPU with the built-in libtorch (sd35-setup smoke)");
  if (has_compiler())
    a.can.emplace_back(
        "build the smoke against any Python environment's torch (smoke --python PY)");
  else
    a.cannot.emplace_back("build the smoke for a Python torch: no C++ compiler (apt install g++)");
}

// The failing checks that `up` itself cures: they are about the packages of the interpreter that
// was probed, and `up` installs a matching torch (and companions) into a fresh venv.
bool cured_by_up(const Finding& f) {
  return f.id.starts_with("torch.") || f.id.starts_with("xformers.");
}

constexpr const char* kUp =
    "sd35-setup up --venv ~/sd35-venv --index 'https://download.pytorch.org/whl/{variant}'";

void choose_next_on_gpu(Assessment& a) {
  const auto blocking = std::find_if(a.failed.begin(), a.failed.end(),
                                     [](const Finding* f) { return !cured_by_up(*f); });
  if (blocking == a.failed.end()) {
    a.next = kUp;
    a.next_why = a.failed.empty()
                     ? "this host passes every required check: install, fetch, verify, smoke on "
                       "the GPU and lock in one go"
                     : "what fails is the probed Python's packages; up installs a matching torch "
                       "into a fresh venv and proves it on the GPU";
  } else if ((*blocking)->id == "python.version") {
    a.next = std::string(kUp) + " --python /path/to/python3.11";
    a.next_why = (*blocking)->fix;
  } else {
    a.next = "sd35-setup doctor";
    a.next_why = fmt::format("after fixing {}: {}", (*blocking)->id, (*blocking)->fix);
  }
}

void choose_next(Assessment& a, const HostFacts& host, const std::string& host_file) {
  if (first_gpu(host) != nullptr) {
    choose_next_on_gpu(a);
  } else if (host_file.empty()) {
    a.next =
        "sd35-setup probe --out gpu-host.json   # on the GPU box, then here: "
        "sd35-setup doctor --host gpu-host.json && sd35-setup resolve --host gpu-host.json";
    a.next_why =
        "no NVIDIA GPU here: plan the GPU box from here, or fetch + verify the model "
        "here (sd35-setup fetch && sd35-setup verify) and copy the cache";
  } else {
    a.next = "sd35-setup resolve --host " + host_file;
    a.next_why = "the described host has no NVIDIA GPU: only a CPU wheel can be resolved for it";
  }
}

Assessment assess(const HostFacts& host, const std::vector<Finding>& findings,
                  const std::string& host_file) {
  Assessment a;
  for (const auto& f : findings)
    if (f.verdict == Verdict::fail && f.required) a.failed.push_back(&f);
  const GpuFacts* gpu = first_gpu(host);
  a.can.emplace_back(
      "resolve the torch/CUDA wheels and plan for any host (resolve, doctor --host)");
  a.can.emplace_back("fetch, verify and lock the model (fetch, verify, lock)");
  if (gpu) {
    a.can.push_back(gpu_line(*gpu, *host.nvidia));
    const bool fp8 = cc_number(gpu->compute_capability) >= 89;
    (fp8 ? a.can : a.cannot)
        .emplace_back(fp8 ? "native FP8 matmuls (cc >= 8.9)"
                          : "native FP8 matmuls (needs cc >= 8.9; FP8 weights run upcast to bf16)");
  }
  if (host_file.empty()) assess_local_smoke(a, gpu != nullptr);
  for (const Finding* f : a.failed) a.cannot.push_back(fmt::format("{}: {}", f->id, f->detail));
  choose_next(a, host, host_file);
  return a;
}

nlohmann::json summary_of(const Assessment& a, const Manifest& manifest, bool ready) {
  nlohmann::json lines = nlohmann::json::array();
  lines.push_back(fmt::format("sd35-setup works. {} for {} on this machine.",
                              ready ? "READY" : "Not ready", manifest.name));
  for (const auto& c : a.can) lines.push_back("  can:    " + c);
  for (const auto& c : a.cannot) lines.push_back("  cannot: " + c);
  lines.push_back("next: " + a.next);
  lines.push_back("      (" + a.next_why + ")");
  return lines;
}

}  // namespace

Result<Outcome> first_run(const GlobalOptions& global, const FirstRunOptions& options,
                          Reporter& reporter) {
  SD35_TRY(Manifest manifest, load_manifest_for(global));
  SD35_TRY(HostFacts host, host_facts_for(global, options.host_file, {}));
  for (const auto& note : host.notes) reporter.debug(note);
  checks::CheckContext ctx{manifest, host};
  const std::vector<Finding> findings = checks::run_all(ctx);
  const Assessment a = assess(host, findings, options.host_file);
  const bool ready = a.failed.empty();
  nlohmann::json failed = nlohmann::json::array();
  for (const Finding* f : a.failed) failed.push_back(f->to_json());
  reporter.result("first-run", {{"ok", true},
                                {"ready", ready},
                                {"manifest", manifest.name},
                                {"can", a.can},
                                {"cannot", a.cannot},
                                {"failed_required", failed},
                                {"next", a.next},
                                {"summary", summary_of(a, manifest, ready)}});
  return Outcome::ok;
}

}  // namespace sd35::app
