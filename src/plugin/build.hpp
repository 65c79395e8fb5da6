// Builds libsd35smoke.so against the torch of a Python environment (smoke --python/--venv), so
// the smoke runs the libtorch the user installed rather than the one sd35-setup was built with.
//
// The plugin's sources ship with the tool (share/sd35-setup/plugin-src, found next to the
// executable in a build tree and under share/ when installed) and are compiled with the host
// compiler against the wheel's own include/lib folders: a pip CUDA wheel's find_package(Torch)
// wants a CUDA toolkit the user does not have. Results are cached under the user cache dir, keyed
// by everything that changes the binary, and guarded by a file lock so concurrent runs build once.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pyenv/torch_env.hpp"
#include "util/reporter.hpp"
#include "util/result.hpp"

namespace sd35::plugin {

// plugin-sources.json in the source root, with the paths of the build's own libraries.
struct SourceSet {
  std::filesystem::path root;                    // the folder holding plugin-sources.json
  std::vector<std::string> include_dirs;         // absolute
  std::vector<std::filesystem::path> cxx;        // translation units
  std::vector<std::filesystem::path> cuda;       // .cu files (nvcc mode)
  std::vector<std::filesystem::path> nvrtc_cxx;  // host side of the NVRTC mode
  std::filesystem::path nvrtc_device;            // device source compiled at run time
  std::vector<std::string> link_libraries;       // absolute library files (libcrypto, ...)
  std::vector<std::string> defines;              // NAME=VALUE
  std::string digest;                            // sha256 over every file's path and content
};

// SD35_PLUGIN_SRC, else <exe>/../share/sd35-setup/plugin-src.
Result<SourceSet> find_plugin_sources();
Result<SourceSet> read_plugin_sources(const std::filesystem::path& root);

struct CudaHeaders;

// How the fused FP8 kernels get into the plugin: nvcc at build time, NVRTC at run time (a pip
// CUDA wheel brings libnvrtc but no nvcc), or not at all (CPU torch, no FP8 GPU, neither tool).
struct KernelPlan {
  std::string mode = "none";  // "nvcc" | "nvrtc" | "none"
  std::string why;            // for "none"
  std::string nvcc;           // the nvcc used
  std::string arch;           // "90" (the device's cc) for nvcc and NVRTC
};
KernelPlan plan_kernels(const pyenv::TorchEnv& env, const CudaHeaders& headers);

// The CUDA headers the plugin compiles against. A pip wheel's nvidia-* packages carry
// cuda_runtime_api.h but not always the crt/ headers it includes (cu13 wheels do not); a CUDA
// toolkit (CUDA_HOME, /usr/local/cuda) completes them. Without complete headers the plugin is
// built without them: native FP8 through ATen still runs; the fused kernels and CUDA memory
// statistics are off, and `note` says why.
struct CudaHeaders {
  std::vector<std::string> include_dirs;  // empty: build without CUDA headers
  std::string note;
};
CudaHeaders find_cuda_headers(const pyenv::TorchEnv& env);

struct BuildRequest {
  SourceSet sources;
  pyenv::TorchEnv env;
  CudaHeaders cuda_headers;
  KernelPlan kernels;
  std::string compiler;              // $CXX, else c++
  std::string extra_flags;           // SD35_PLUGIN_CXXFLAGS (part of the key)
  std::filesystem::path cache_root;  // <user cache>/sd35-setup/plugins
  int jobs = 0;                      // 0: hardware threads
};

struct BuiltPlugin {
  std::filesystem::path library;
  std::filesystem::path log;
  std::string key;
  bool cached = false;       // reused, not built by this run
  bool waited = false;       // another process was building it
  double build_seconds = 0;  // this run's build (0 when cached)
  std::string kernels;       // KernelPlan::mode
  nlohmann::json to_json() const;
};

// $SD35_PLUGIN_CACHE, else $XDG_CACHE_HOME/sd35-setup/plugins, else ~/.cache/sd35-setup/plugins.
std::filesystem::path default_plugin_cache();

// Fills the request for this environment from the shipped sources and the environment.
Result<BuildRequest> plan_build(const pyenv::TorchEnv& env);

// The cache key: sha256 of the source digest, torch build, CUDA, ABI, compiler identity, flags
// and kernel mode.
Result<std::string> build_key(const BuildRequest& request);

// The cached plugin for this key, building it first when absent. Errors: host_not_ready (the
// build failed; the log path is in `where`), io/permission for the cache.
Result<BuiltPlugin> ensure_plugin(const BuildRequest& request, Reporter& reporter);

}  // namespace sd35::plugin
