// Stub smoke plugin: the C boundary of src/smoke_api/plugin_abi.h with a fixed, deterministic
// answer. STUB_DEVICE (compile definition, or the env var at run time) lets a test pretend to
// run on another device. A text request (SmokeRequest::text) gets a deterministic picture of the
// request's size, pixel (x, y, c) = (x * 7 + y * 13 + c * 50 + seed) mod 256, written to
// pixels_out, and the request echoed back as "stub_request" (STUB_NO_IMAGE set: no picture, as an
// older plugin; STUB_SHORT_PIXELS: half the bytes, a broken plugin).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

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

// The text-to-image part of a stub answer: "" when the request has no text.
std::string text_answer(const char* request_json) {
  const auto rq = nlohmann::json::parse(request_json, nullptr, false);
  if (rq.is_discarded() || !rq.contains("text") || std::getenv("STUB_NO_IMAGE") != nullptr)
    return "";
  const int h = rq["latent"][0].get<int>() * 8;
  const int w = rq["latent"][1].get<int>() * 8;
  const auto seed = rq["text"]["seed"].get<std::int64_t>();
  std::vector<char> px(static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * 3);
  std::size_t i = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        px[i++] = static_cast<char>((x * 7 + y * 13 + c * 50 + seed) & 0xFF);
  const std::string path = rq["text"]["pixels_out"].get<std::string>();
  if (std::getenv("STUB_SHORT_PIXELS") != nullptr) px.resize(px.size() / 2);
  std::ofstream(path, std::ios::binary).write(px.data(), static_cast<std::streamsize>(px.size()));
  const nlohmann::json image{{"height", h}, {"width", w}, {"pixels", path}};
  return R"("image":)" + image.dump() + R"(,"stub_request":)" + rq.dump() + ",";
}

char* run_smoke(const char* request_json, const Sd35SmokeReporter* host) {
  if (host != nullptr && host->event != nullptr)
    host->event(host->context, 1, "stub plugin: running", "{}");
  const bool bad = request_json == nullptr || std::strstr(request_json, "\"precision\"") == nullptr;
  if (bad)
    return copy_out(R"({"ok":false,"error":{"code":2,"message":"no request","where":"stub",)"
                    R"("hint":""}})");
  return copy_out(R"({"ok":true,"result":{)" + text_answer(request_json) +
                  R"("ok":true,"mode":"embedded","device":"cpu",)"
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
