#include "pyenv/torch_env.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "util/process.hpp"
#include "util/user_dirs.hpp"

namespace sd35::embedded {
extern const std::string_view torch_env_probe;
}

namespace sd35::pyenv {
namespace {

template <class T>
T value_or(const nlohmann::json& doc, const char* key, T fallback) {
  const auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return fallback;
  return it->get<T>();
}

std::vector<std::string> strings(const nlohmann::json& doc, const char* key) {
  return value_or(doc, key, std::vector<std::string>{});
}

TorchBuild parse_torch(const nlohmann::json& t) {
  TorchBuild b;
  b.version = value_or<std::string>(t, "version", "");
  b.full_version = value_or<std::string>(t, "full_version", b.version);
  b.cuda = value_or<std::string>(t, "cuda", "");
  b.cxx11_abi = value_or(t, "cxx11_abi", true);
  b.float8 = value_or(t, "float8", false);
  b.dir = value_or<std::string>(t, "dir", "");
  b.include_dirs = strings(t, "include_dirs");
  b.lib_dir = value_or<std::string>(t, "lib_dir", "");
  b.cuda_include_dirs = strings(t, "cuda_include_dirs");
  b.cuda_lib_dirs = strings(t, "cuda_lib_dirs");
  b.nvrtc = strings(t, "nvrtc");
  b.arch_list = strings(t, "arch_list");
  b.cuda_available = value_or(t, "cuda_available", false);
  if (const auto d = t.find("device"); d != t.end() && d->is_object()) {
    CudaDevice dev;
    dev.name = value_or<std::string>(*d, "name", "");
    dev.cc_major = d->at("cc").at(0).get<int>();
    dev.cc_minor = d->at("cc").at(1).get<int>();
    dev.total_memory = value_or<std::uint64_t>(*d, "total_memory", 0);
    b.device = dev;
  }
  if (t.contains("scaled_mm_rel_l2")) b.scaled_mm_rel_l2 = t["scaled_mm_rel_l2"].get<double>();
  return b;
}

// Which answers decide the smoke: torch must import; on a GPU host the FP8 dtypes and CUDA must
// work too; pinned companions must import. float8 on a GPU-less host is informative only (the C++
// side emulates FP8 storage on the CPU).
bool is_required(const std::string& id, const InspectOptions& options) {
  if (id == "torch.float8") return options.host_has_gpu;
  return true;
}

}  // namespace

bool TorchEnv::python_side_ok() const {
  return torch.has_value() && first_failure() == nullptr;
}

const PyCheck* TorchEnv::first_failure() const {
  for (const auto& c : checks)
    if (!c.ok && c.required) return &c;
  return nullptr;
}

Result<std::string> venv_interpreter(const std::string& venv_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(venv_dir, ec))
    return make_error(Errc::usage, "no such virtual environment", venv_dir,
                      "pass the folder `install --venv DIR` created, or --python PATH");
  for (const char* name : {"bin/python3", "bin/python"}) {
    const fs::path p = fs::path(venv_dir) / name;
    if (fs::exists(p, ec)) return p.string();
  }
  return make_error(Errc::usage, "the folder is not a virtual environment (no bin/python3)",
                    venv_dir, "create it with `sd35-setup install --venv DIR`, or pass --python");
}

Result<TorchEnv> parse_probe(const nlohmann::json& doc, const std::string& interpreter,
                             const InspectOptions& options) {
  try {
    TorchEnv env;
    env.interpreter = interpreter;
    const auto& py = doc.at("python");
    env.executable = value_or<std::string>(py, "executable", interpreter);
    env.python_version = value_or<std::string>(py, "version", "");
    env.prefix = value_or<std::string>(py, "prefix", "");
    env.is_venv = value_or(py, "is_venv", false);
    if (doc.contains("torch") && doc["torch"].is_object()) env.torch = parse_torch(doc["torch"]);
    const auto companions = doc.value("companions", nlohmann::json::object());
    for (const auto& [name, info] : companions.items())
      env.companions[name] = value_or<std::string>(info, "version", "");
    const auto checks = doc.value("checks", nlohmann::json::array());
    for (const auto& c : checks) {
      PyCheck check{c.value("id", ""), c.value("ok", false), c.value("detail", ""),
                    c.value("error", "")};
      check.required = is_required(check.id, options);
      check.seconds = c.value("seconds", 0.0);
      env.checks.push_back(std::move(check));
    }
    return env;
  } catch (const nlohmann::json::exception& ex) {
    return make_error(Errc::host_not_ready,
                      fmt::format("the environment's Python answered unreadably: {}", ex.what()),
                      interpreter, "run the interpreter by hand: it may print to stdout on start");
  }
}

Result<nlohmann::json> run_probe(const std::string& interpreter, const InspectOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (interpreter.find('/') != std::string::npos && !fs::exists(interpreter, ec))
    return make_error(
        Errc::usage, "no such Python interpreter", interpreter,
        "pass the environment's interpreter, e.g. --python /path/to/venv/bin/python3");
  nlohmann::json args{{"companions", options.companions}, {"gpu", options.host_has_gpu}};
  proc::Command cmd;
  cmd.argv = {interpreter, "-c", std::string(embedded::torch_env_probe), args.dump()};
  cmd.timeout = options.timeout;
  // Bytecode goes to sd35-setup's own cache, never into the environment: a venv installed without
  // bytecode (uv's default) under PYTHONDONTWRITEBYTECODE=1 otherwise recompiles torch's ~2,000
  // modules on every run (import torch: 4.0 s instead of 1.8 s on the H200 box).
  cmd.env_remove = {"PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE"};
  cmd.env_overrides = {
      {"PYTHONPYCACHEPREFIX", (user_cache_dir() / "sd35-setup" / "pycache").string()},
      {"PYTHONNOUSERSITE", "1"}};
  auto outcome = proc::run(cmd);
  if (!outcome)
    return make_error(Errc::usage, "cannot run the Python interpreter: " + outcome.error().message,
                      interpreter, "pass an existing interpreter with --python or --venv");
  if (!outcome->success()) {
    const std::string why = outcome->timed_out ? "timed out" : "failed";
    return make_error(Errc::host_not_ready,
                      fmt::format("the environment's Python {} while inspecting torch: {}", why,
                                  outcome->err.substr(0, 400)),
                      interpreter, "run `" + interpreter + " -c 'import torch'` to see why");
  }
  auto doc = nlohmann::json::parse(outcome->out, nullptr, false);
  if (doc.is_discarded() || !doc.is_object())
    return make_error(Errc::host_not_ready, "the environment's Python printed no JSON document",
                      interpreter, "run the interpreter by hand: a sitecustomize may print");
  return doc;
}

Result<TorchEnv> inspect_torch_env(const std::string& interpreter, const InspectOptions& options) {
  SD35_TRY(nlohmann::json doc, run_probe(interpreter, options));
  return parse_probe(doc, interpreter, options);
}

nlohmann::json to_json(const TorchEnv& env) {
  nlohmann::json doc{{"interpreter", env.interpreter}, {"executable", env.executable},
                     {"python", env.python_version},   {"prefix", env.prefix},
                     {"is_venv", env.is_venv},         {"companions", env.companions}};
  if (env.torch) {
    const auto& t = *env.torch;
    doc["torch"] = {{"version", t.full_version},
                    {"cuda", t.cuda},
                    {"cxx11_abi", t.cxx11_abi},
                    {"float8", t.float8},
                    {"cuda_available", t.cuda_available},
                    {"arch_list", t.arch_list},
                    {"dir", t.dir}};
    if (t.device)
      doc["torch"]["device"] = {
          {"name", t.device->name},
          {"cc", fmt::format("{}.{}", t.device->cc_major, t.device->cc_minor)},
          {"total_memory", t.device->total_memory}};
    if (t.scaled_mm_rel_l2) doc["torch"]["scaled_mm_rel_l2"] = *t.scaled_mm_rel_l2;
  }
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : env.checks)
    checks.push_back({{"id", c.id},
                      {"ok", c.ok},
                      {"required", c.required},
                      {"detail", c.detail},
                      {"error", c.error},
                      {"seconds", c.seconds}});
  doc["checks"] = checks;
  doc["ok"] = env.python_side_ok();
  return doc;
}

}  // namespace sd35::pyenv
