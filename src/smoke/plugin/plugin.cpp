// Entry point of libsd35smoke.so (see smoke/plugin_api.hpp).
#include "smoke/plugin_api.hpp"
#include "smoke/torch_info.hpp"

namespace {

sd35::Result<nlohmann::json> run_smoke_entry(const sd35::smoke::SmokeRequest& rq,
                                             sd35::Reporter& r) {
  return sd35::smoke::run_smoke(rq, r);
}

bool cuda_available_entry() {
  static const bool available = sd35::smoke::torch_build_info().cuda_available;
  return available;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const sd35::smoke::PluginApi*
sd35_smoke_plugin_api() {
  static const std::string version = sd35::smoke::torch_build_info().version;
  static const sd35::smoke::PluginApi api{sd35::smoke::kPluginAbiVersion, version.c_str(),
                                          &sd35::smoke::parse_precision, &run_smoke_entry,
                                          &cuda_available_entry};
  return &api;
}
