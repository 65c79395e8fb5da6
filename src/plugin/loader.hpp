// Loading libsd35smoke.so: the built-in plugin (built by CMake next to the executable against the
// libtorch sd35-setup was built with) or one built on demand for an environment's torch
// (plugin/build.hpp). One plugin per process: two libtorch builds cannot share an address space.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "smoke_api/plugin_abi.h"
#include "smoke_api/request.hpp"
#include "util/reporter.hpp"
#include "util/result.hpp"

namespace sd35::plugin {

class SmokePlugin {
 public:
  SmokePlugin(const Sd35SmokePlugin* api, std::string path);
  [[nodiscard]] const std::string& path() const { return path_; }
  // {"torch_version", "cuda_compiled", "cxx11_abi", "native_float8", "scaled_mm", "fused_kernels"}
  [[nodiscard]] const nlohmann::json& build_info() const { return build_info_; }
  [[nodiscard]] bool cuda_available() const;
  // {"name", "cc": [major, minor], "total_memory"} when CUDA is available, else {}.
  [[nodiscard]] nlohmann::json device_info() const;
  Result<nlohmann::json> run(const smoke::SmokeRequest& request, Reporter& reporter) const;

 private:
  const Sd35SmokePlugin* api_;
  std::string path_;
  nlohmann::json build_info_;
};

// The plugin at `path`. Errc::unavailable when it cannot be loaded (the dlerror text says why).
Result<const SmokePlugin*> load_plugin(const std::string& path);

// SD35_SMOKE_PLUGIN, else next to the executable, else <prefix>/lib/sd35-setup/.
Result<const SmokePlugin*> load_builtin_plugin();

// Where the built-in plugin is (SD35_SMOKE_PLUGIN, beside the executable, or lib/sd35-setup),
// without loading it; nullopt for a build without libtorch.
std::optional<std::string> builtin_plugin_path();

}  // namespace sd35::plugin
