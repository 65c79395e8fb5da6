#include "app/smoke_env.hpp"

#include <fmt/format.h>

#include <chrono>

#include "host/probe.hpp"

namespace sd35::app {
namespace {

Result<std::optional<NvidiaFacts>> host_gpu_facts(const std::string& host_file) {
  if (!host_file.empty()) {
    SD35_TRY(HostFacts host, load_host_facts(host_file));
    return host.nvidia;
  }
  std::vector<std::string> notes;
  return probe_nvidia(ProbeOptions{}, notes);
}

Result<pyenv::TorchEnv> inspect(const SmokeEnvOptions& o, bool host_has_gpu, Reporter& reporter) {
  std::string interpreter = o.python;
  if (interpreter.empty()) {
    SD35_TRY(interpreter, pyenv::venv_interpreter(o.venv));
  }
  reporter.info("inspecting the environment's torch with " + interpreter);
  pyenv::InspectOptions io;
  io.companions = o.companions;
  io.host_has_gpu = host_has_gpu;
  SD35_TRY(pyenv::TorchEnv env, pyenv::inspect_torch_env(interpreter, io));
  if (!env.torch) {
    const pyenv::PyCheck* failed = env.first_failure();
    return make_error(Errc::host_not_ready,
                      "torch does not import in this environment" +
                          (failed ? ": " + failed->error : std::string()),
                      interpreter,
                      "install torch there (`sd35-setup resolve && sd35-setup install --venv "
                      "DIR`), or pass the interpreter that has it");
  }
  return env;
}

std::string string_or(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

}  // namespace

std::map<std::string, std::string> pinned_companions(const Manifest& manifest) {
  std::map<std::string, std::string> out(manifest.environment.packages.begin(),
                                         manifest.environment.packages.end());
  return out;
}

Result<PreparedSmoke> prepare_smoke(const SmokeEnvOptions& o, Reporter& reporter) {
  PreparedSmoke p;
  SD35_TRY(p.host_gpu, host_gpu_facts(o.host_file));
  const bool host_has_gpu = p.host_gpu && !p.host_gpu->gpus.empty();
  const NvidiaFacts* gpu = p.host_gpu ? &*p.host_gpu : nullptr;
  if (o.python.empty() && o.venv.empty()) {
    SD35_TRY(p.plugin, plugin::load_builtin_plugin());
    p.gpu_problem = pyenv::builtin_gpu_use_problem(
        string_or(p.plugin->build_info(), "torch_version"), p.plugin->cuda_available(), gpu);
    return p;
  }
  const auto t0 = std::chrono::steady_clock::now();
  SD35_TRY(p.env, inspect(o, host_has_gpu, reporter));
  const auto t1 = std::chrono::steady_clock::now();
  p.inspect_seconds = std::chrono::duration<double>(t1 - t0).count();
  p.gpu_problem = pyenv::gpu_use_problem(*p.env, gpu);
  if (p.gpu_problem) return p;  // no plugin build for an environment that cannot prove anything
  SD35_TRY(plugin::BuildRequest request, plugin::plan_build(*p.env));
  if (request.kernels.mode == "none" && !request.kernels.why.empty())
    reporter.info("fused FP8 kernels: not built (" + request.kernels.why + ")");
  SD35_TRY(p.built, plugin::ensure_plugin(request, reporter));
  reporter.info(p.built->cached ? "smoke plugin: cached " + p.built->library.string()
                                : fmt::format("smoke plugin: built in {:.1f} s ({})",
                                              p.built->build_seconds, p.built->library.string()));
  SD35_TRY(p.plugin, plugin::load_plugin(p.built->library.string()));
  // cuda_available() initialises libtorch's CUDA: counted here, not in the smoke's own seconds.
  (void)p.plugin->cuda_available();
  p.plugin_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  return p;
}

nlohmann::json environment_record(const PreparedSmoke& p, const nlohmann::json& doc) {
  nlohmann::json rec{
      {"kind", p.env ? "python" : "builtin"},
      {"libtorch", string_or(p.plugin->build_info(), "torch_version")},
      {"fused_kernels_built", p.plugin->build_info().value("fused_kernels", "none")}};
  if (p.env) {
    rec["interpreter"] = p.env->interpreter;
    rec["python"] = p.env->python_version;
    rec["torch"] = p.env->torch ? p.env->torch->full_version : "";
    rec["cuda"] = p.env->torch ? p.env->torch->cuda : "";
  }
  const nlohmann::json dev = doc.value("cuda_device", nlohmann::json::object());
  rec["device"] = dev.empty() ? "cpu" : string_or(dev, "name");
  rec["cc"] = dev.contains("cc")
                  ? fmt::format("{}.{}", dev["cc"][0].get<int>(), dev["cc"][1].get<int>())
                  : "";
  rec["driver"] = p.host_gpu ? p.host_gpu->driver_version : "";
  rec["native_fp8"] = doc.value("native_fp8", false);
  rec["fused_kernels"] = doc.value("fused_kernels_used", false);
  if (doc.contains("fingerprint")) rec["fingerprint"] = doc["fingerprint"];
  return rec;
}

}  // namespace sd35::app
