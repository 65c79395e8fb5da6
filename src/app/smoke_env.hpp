// Which libtorch `smoke` runs on, and whether that proves anything on this host: the chosen
// Python environment's torch (--python/--venv; `up` passes the venv `install` made, the gate the
// locked interpreter) through a plugin built for it, else the built-in plugin. A host with an
// NVIDIA GPU that the chosen libtorch cannot use is a failure, never a CPU pass.
#pragma once

#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "host/host_facts.hpp"
#include "manifest/manifest.hpp"
#include "plugin/build.hpp"
#include "plugin/loader.hpp"
#include "pyenv/gpu_use.hpp"
#include "pyenv/torch_env.hpp"
#include "util/reporter.hpp"

namespace sd35::app {

struct SmokeEnvOptions {
  std::string python;     // the environment's interpreter
  std::string venv;       // or its folder
  std::string host_file;  // a described host (GPU facts) instead of probing this one
  std::map<std::string, std::string> companions;  // pinned Python packages to import
};

struct PreparedSmoke {
  const plugin::SmokePlugin* plugin = nullptr;
  std::optional<pyenv::TorchEnv> env;        // with --python/--venv
  std::optional<plugin::BuiltPlugin> built;  // the plugin built (or cached) for env
  std::optional<NvidiaFacts> host_gpu;       // what the host has (probe or --host)
  std::optional<pyenv::GpuUseProblem> gpu_problem;
  double inspect_seconds = 0;  // the environment's interpreter answering (torch import, checks)
  double plugin_seconds = 0;   // building or finding the plugin, and loading it (libtorch)
  // Set when the plugin was chosen from the remembered torch facts (pyenv/probe_cache): the
  // Python side is then running beside the native smoke, and finish_python_side collects it.
  std::optional<std::future<std::pair<Result<pyenv::TorchEnv>, double>>> python_side;
  bool python_side_concurrent = false;
  double python_side_wait_seconds = 0;  // how long the smoke waited for it after its own work
};

// The packages a manifest pins beside torch, for the Python-side import checks.
std::map<std::string, std::string> pinned_companions(const Manifest& manifest);

// Inspects the environment, builds/loads its plugin (or loads the built-in one) and decides
// whether the host's GPU is usable. Errors: usage (no such interpreter/venv), host_not_ready
// (no torch there, the plugin build failed: the log is named).
Result<PreparedSmoke> prepare_smoke(const SmokeEnvOptions& options, Reporter& reporter);

// Waits for a Python side started beside the native smoke and puts its answer in `env`. An
// interpreter that answers with another torch than the remembered one (its files and the
// variables that steer imports unchanged, yet another torch) is host_not_ready: the native part
// ran on the remembered torch's plugin, so nothing was proven. The record is forgotten, so the
// next run asks the interpreter first. (A second plugin cannot be loaded into this process.)
Status finish_python_side(PreparedSmoke& prepared);

// The smoke result's "environment" section, which the lock records and the gate compares: the
// interpreter, torch + CUDA, the device (name, cc, driver), native FP8 and fused kernels used.
nlohmann::json environment_record(const PreparedSmoke& prepared, const nlohmann::json& smoke_doc);

}  // namespace sd35::app
