// Entry point of libsd35smoke.so: the C boundary of smoke_api/plugin_abi.h over run_smoke. Built
// by CMake against Debian's libtorch (the built-in plugin) or on demand against an environment's
// own torch (toolchain/plugin_build); only C types cross, so the plugin's C++ ABI is its own.
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "smoke/smoke.hpp"
#include "smoke/torch_info.hpp"
#include "smoke_api/bridge.hpp"
#include "smoke_api/plugin_abi.h"

#ifndef SD35_FUSED_KERNELS_SOURCE
#define SD35_FUSED_KERNELS_SOURCE "none"
#endif

namespace {

char* copy_out(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out != nullptr) std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

const sd35::smoke::TorchBuildInfo& info() {
  static const sd35::smoke::TorchBuildInfo built = sd35::smoke::torch_build_info();
  return built;
}

int cuda_available_entry() {
  return info().cuda_available ? 1 : 0;
}

char* run_smoke_entry(const char* request_json, const Sd35SmokeReporter* host) {
  using sd35::Result;
  try {
    const auto doc = nlohmann::json::parse(request_json ? request_json : "", nullptr, false);
    Result<sd35::smoke::SmokeRequest> rq = sd35::smoke::request_from_json(doc);
    if (!rq) return copy_out(sd35::smoke::encode_result(rq.error()));
    sd35::smoke::CallbackReporter reporter(host ? *host : Sd35SmokeReporter{});
    return copy_out(sd35::smoke::encode_result(sd35::smoke::run_smoke(*rq, reporter)));
  } catch (const std::exception& ex) {
    return copy_out(sd35::smoke::encode_result(sd35::make_error(
        sd35::Errc::internal, std::string("the smoke plugin failed: ") + ex.what(), "libtorch",
        "re-run with --device cpu --precision fp32 to isolate the failing path")));
  }
}

char* device_info_entry() {
  try {
    return copy_out(sd35::smoke::cuda_device_facts().dump());
  } catch (const std::exception&) {
    return copy_out("{}");
  }
}

void free_string_entry(char* text) {
  std::free(text);
}

std::string build_info_json() {
  const auto& i = info();
  return nlohmann::json{{"torch_version", i.version}, {"cuda_compiled", i.cuda_compiled},
                        {"cxx11_abi", i.cxx11_abi},   {"native_float8", i.native_float8},
                        {"scaled_mm", i.scaled_mm},   {"fused_kernels", SD35_FUSED_KERNELS_SOURCE}}
      .dump();
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const Sd35SmokePlugin* sd35_smoke_plugin_v3() {
  static const std::string build_info = build_info_json();
  static const Sd35SmokePlugin api{SD35_SMOKE_PLUGIN_ABI_VERSION,
                                   build_info.c_str(),
                                   &cuda_available_entry,
                                   &run_smoke_entry,
                                   &device_info_entry,
                                   &free_string_entry};
  return &api;
}
