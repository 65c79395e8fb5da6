#include "plugin/loader.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "smoke_api/bridge.hpp"

namespace sd35::plugin {
namespace {

namespace stdfs = std::filesystem;

struct Registry {
  std::mutex mu;
  std::map<std::string, std::unique_ptr<SmokePlugin>> loaded;
};

Registry& registry() {
  static Registry r;
  return r;
}

// Frees a string the plugin allocated, with the plugin's own allocator.
struct PluginString {
  PluginString(const Sd35SmokePlugin* owner, char* owned) : api(owner), text(owned) {}
  const Sd35SmokePlugin* api;
  char* text;
  ~PluginString() {
    if (text != nullptr) api->free_string(text);
  }
  PluginString(const PluginString&) = delete;
  PluginString& operator=(const PluginString&) = delete;
};

Result<const Sd35SmokePlugin*> open_api(const std::string& path) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return make_error(Errc::unavailable,
                      fmt::format("cannot load the smoke plugin: {}", why ? why : "?"), path,
                      "a libtorch library it needs is missing or of another version: rebuild it "
                      "(smoke --python/--venv rebuilds for that environment's torch)");
  }
  auto entry = reinterpret_cast<Sd35SmokePluginEntry>(::dlsym(handle, SD35_SMOKE_PLUGIN_ENTRY));
  const Sd35SmokePlugin* api = entry ? entry() : nullptr;
  if (api == nullptr || api->abi_version != SD35_SMOKE_PLUGIN_ABI_VERSION)
    return make_error(Errc::unavailable, "the smoke plugin is from another sd35-setup version",
                      path, "rebuild sd35-setup, or delete the plugin cache to rebuild the plugin");
  return api;
}

}  // namespace

SmokePlugin::SmokePlugin(const Sd35SmokePlugin* api, std::string path)
    : api_(api), path_(std::move(path)) {
  build_info_ =
      nlohmann::json::parse(api->build_info_json ? api->build_info_json : "{}", nullptr, false);
  if (build_info_.is_discarded()) build_info_ = nlohmann::json::object();
}

bool SmokePlugin::cuda_available() const {
  return api_->cuda_available() != 0;
}

nlohmann::json SmokePlugin::device_info() const {
  PluginString text{api_, api_->device_info()};
  auto doc = nlohmann::json::parse(text.text ? text.text : "{}", nullptr, false);
  return doc.is_discarded() ? nlohmann::json::object() : doc;
}

Result<nlohmann::json> SmokePlugin::run(const smoke::SmokeRequest& request,
                                        Reporter& reporter) const {
  const Sd35SmokeReporter host = smoke::c_reporter_for(reporter);
  const std::string request_json = smoke::to_json(request).dump();
  PluginString text{api_, api_->run_smoke(request_json.c_str(), &host)};
  return smoke::decode_result(text.text);
}

Result<const SmokePlugin*> load_plugin(const std::string& path) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  if (auto it = r.loaded.find(path); it != r.loaded.end()) return it->second.get();
  if (!r.loaded.empty())
    return make_error(Errc::unavailable, "another smoke plugin is already loaded in this process",
                      r.loaded.begin()->first + " and " + path,
                      "two libtorch builds cannot share a process: run them one command each");
  SD35_TRY(const Sd35SmokePlugin* api, open_api(path));
  auto plugin = std::make_unique<SmokePlugin>(api, path);
  const SmokePlugin* raw = plugin.get();
  r.loaded.emplace(path, std::move(plugin));
  return raw;
}

namespace {

std::vector<stdfs::path> builtin_candidates() {
  std::vector<stdfs::path> candidates;
  if (const char* env = std::getenv("SD35_SMOKE_PLUGIN"); env && *env) candidates.emplace_back(env);
  std::error_code ec;
  const stdfs::path exe = stdfs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / "libsd35smoke.so");
    candidates.push_back(exe.parent_path().parent_path() / "lib/sd35-setup/libsd35smoke.so");
  }
  return candidates;
}

}  // namespace

std::optional<std::string> builtin_plugin_path() {
  std::error_code ec;
  for (const auto& path : builtin_candidates())
    if (stdfs::exists(path, ec)) return path.string();
  return std::nullopt;
}

Result<const SmokePlugin*> load_builtin_plugin() {
  if (auto path = builtin_plugin_path()) return load_plugin(*path);
  std::string tried;
  for (const auto& path : builtin_candidates())
    tried += (tried.empty() ? "" : ", ") + path.string();
  return make_error(Errc::unavailable,
                    "this sd35-setup was built without libtorch: no built-in smoke plugin",
                    tried.empty() ? "libsd35smoke.so" : tried,
                    "prove a Python environment instead (smoke --python PY or --venv DIR builds "
                    "the plugin against its torch), or rebuild with libtorch-dev installed");
}

}  // namespace sd35::plugin
