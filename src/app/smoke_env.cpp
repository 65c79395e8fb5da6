#include "app/smoke_env.hpp"

#include <fmt/format.h>

#include <chrono>

#include "host/probe.hpp"
#include "pyenv/probe_cache.hpp"

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

Result<std::string> interpreter_of(const SmokeEnvOptions& o) {
  if (!o.python.empty()) return o.python;
  return pyenv::venv_interpreter(o.venv);
}

Result<pyenv::TorchEnv> torch_required(pyenv::TorchEnv env) {
  if (!env.torch) {
    const pyenv::PyCheck* failed = env.first_failure();
    return make_error(Errc::host_not_ready,
                      "torch does not import in this environment" +
                          (failed ? ": " + failed->error : std::string()),
                      env.interpreter,
                      "install torch there (`sd35-setup resolve && sd35-setup install --venv "
                      "DIR`), or pass the interpreter that has it");
  }
  return env;
}

// The interpreter's whole answer (facts and Python side), remembered for the next run.
Result<pyenv::TorchEnv> inspect(const std::string& interpreter, const pyenv::InspectOptions& io) {
  SD35_TRY(nlohmann::json doc, pyenv::run_probe(interpreter, io));
  SD35_TRY(pyenv::TorchEnv env, pyenv::parse_probe(doc, interpreter, io));
  if (env.torch) pyenv::remember_probe(interpreter, doc);
  return torch_required(std::move(env));
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
  SD35_TRY(const std::string interpreter, interpreter_of(o));
  pyenv::InspectOptions io;
  io.companions = o.companions;
  io.host_has_gpu = host_has_gpu;
  const auto t0 = std::chrono::steady_clock::now();
  if (auto remembered = pyenv::remembered_probe(interpreter)) {
    // Known torch: choose the plugin from its facts now and let the interpreter answer meanwhile.
    reporter.info("checking the environment's Python side (" + interpreter + ") beside the smoke");
    SD35_TRY(p.env, pyenv::parse_probe(*remembered, interpreter, io));
    p.python_side = std::async(std::launch::async, [interpreter, io, t0] {
      auto env = inspect(interpreter, io);
      const auto t = std::chrono::steady_clock::now();
      return std::pair{std::move(env), std::chrono::duration<double>(t - t0).count()};
    });
    p.python_side_concurrent = true;
  } else {
    reporter.info("inspecting the environment's torch with " + interpreter);
    SD35_TRY(p.env, inspect(interpreter, io));
    p.inspect_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const auto t1 = std::chrono::steady_clock::now();
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

Status finish_python_side(PreparedSmoke& p) {
  if (!p.python_side) return {};
  const auto t0 = std::chrono::steady_clock::now();
  auto [fresh, seconds] = p.python_side->get();
  p.python_side.reset();
  p.inspect_seconds = seconds;
  p.python_side_wait_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!fresh) return fresh.error();
  const auto& was = *p.env->torch;
  const auto& now = *fresh->torch;
  if (was.full_version != now.full_version || was.dir != now.dir || was.cuda != now.cuda ||
      was.cxx11_abi != now.cxx11_abi) {
    pyenv::forget_probe(p.env->interpreter);
    return make_error(
        Errc::host_not_ready,
        fmt::format("the environment answered with torch {} ({}) but torch {} ({}) "
                    "was remembered for it and smoked: nothing is proven for {}",
                    now.full_version, now.dir, was.full_version, was.dir, now.full_version),
        p.env->interpreter,
        "run the smoke again: the record is forgotten, so the next run asks the "
        "interpreter first and builds for the torch it imports now");
  }
  p.env = std::move(*fresh);
  return {};
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
  nlohmann::json dev = doc.value("cuda_device", nlohmann::json::object());
  const auto* py_dev =
      p.env && p.env->torch && p.env->torch->device ? &*p.env->torch->device : nullptr;
  const std::string device_type = doc.value("device_type", "");
  const bool on_cuda = device_type == "cuda" || doc.value("device", "").rfind("cuda", 0) == 0;
  if (dev.empty() && on_cuda && py_dev != nullptr)
    // A plugin built without CUDA headers cannot ask the device; the interpreter did.
    dev = {{"name", py_dev->name}, {"cc", {py_dev->cc_major, py_dev->cc_minor}}};
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
