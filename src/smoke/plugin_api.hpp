// The smoke pipeline ships as a plugin (libsd35smoke.so, next to the executable) that sd35-setup
// loads only when `smoke` runs: every other command starts in milliseconds instead of paying
// ~0.5 s to load libtorch's ~290 shared libraries. Torch-free header; both sides are built by
// the same toolchain in the same build, so C++ types cross the boundary.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "smoke/smoke.hpp"
#include "util/reporter.hpp"
#include "util/result.hpp"

namespace sd35::smoke {

inline constexpr int kPluginAbiVersion = 2;
inline constexpr const char* kPluginEntryPoint = "sd35_smoke_plugin_api";

struct PluginApi {
  int abi_version = kPluginAbiVersion;
  const char* torch_version = "";  // the libtorch the plugin was built against
  std::optional<Precision> (*parse_precision)(std::string_view) = nullptr;
  Result<nlohmann::json> (*run_smoke)(const SmokeRequest&, Reporter&) = nullptr;
  // Whether libtorch sees a usable CUDA device: `--device auto` runs there. sd35-setup asks before
  // choosing the weights, because only libtorch knows (a GPU with a CPU-only libtorch, or a
  // driver libtorch cannot use, still runs on the CPU).
  bool (*cuda_available)() = nullptr;
};

}  // namespace sd35::smoke
