// Stub smoke plugin: the C boundary of src/smoke_api/plugin_abi.h with a fixed, deterministic
// answer. STUB_DEVICE (compile definition, or the env var at run time) lets a test pretend to
// run on another device.
#include <cstdlib>
#include <cstring>
#include <string>

#include "smoke_api/plugin_abi.h"

namespace {

char* copy_out(const std::string& text) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  std::memcpy(out, text.c_str(), text.size() + 1);
  return out;
}

int cuda_available() {
  return 0;
}

char* run_smoke(const char* request_json, const Sd35SmokeReporter* host) {
  if (host != nullptr && host->event != nullptr)
    host->event(host->context, 1, "stub plugin: running", "{}");
  const bool bad = request_json == nullptr || std::strstr(request_json, "\"precision\"") == nullptr;
  if (bad)
    return copy_out(R"({"ok":false,"error":{"code":2,"message":"no request","where":"stub",)"
                    R"("hint":""}})");
  return copy_out(R"({"ok":true,"result":{"ok":true,"mode":"embedded","device":"cpu",)"
                  R"("native_fp8":false,"fused_kernels_used":false,"cuda_device":{},)"
                  R"("latent":[8,8],"steps":1,"guidance":1.0,"shift":3.0,)"
                  R"("requested_precision":"fp8","fingerprint":{"sha256_grid_1e-2":"stub"},)"
                  R"("summary":["SMOKE OK: stub plugin"]}})");
}

char* device_info() {
  return copy_out("{}");
}
void free_string(char* text) {
  std::free(text);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const Sd35SmokePlugin* sd35_smoke_plugin_v3() {
  static const Sd35SmokePlugin api{SD35_SMOKE_PLUGIN_ABI_VERSION,
                                   R"({"torch_version":"stub","fused_kernels":"none"})",
                                   &cuda_available,
                                   &run_smoke,
                                   &device_info,
                                   &free_string};
  return &api;
}
