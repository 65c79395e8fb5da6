#include "app/smoke_plugin.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

namespace sd35::app {

Result<const smoke::PluginApi*> load_smoke_plugin() {
  static std::once_flag once;
  static Result<const smoke::PluginApi*> loaded = make_error(Errc::internal, "not loaded");
  std::call_once(once, [] {
    namespace stdfs = std::filesystem;
    std::vector<stdfs::path> candidates;
    if (const char* env = std::getenv("SD35_SMOKE_PLUGIN"); env && *env)
      candidates.emplace_back(env);
    std::error_code ec;
    stdfs::path exe = stdfs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      candidates.push_back(exe.parent_path() / "libsd35smoke.so");
      candidates.push_back(exe.parent_path().parent_path() / "lib/sd35-setup/libsd35smoke.so");
    }
    std::string tried;
    for (const auto& path : candidates) {
      if (!stdfs::exists(path, ec)) {
        tried += (tried.empty() ? "" : ", ") + path.string();
        continue;
      }
      void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!handle) {
        const char* why = ::dlerror();
        loaded = make_error(
            Errc::unavailable, fmt::format("cannot load the smoke plugin: {}", why ? why : "?"),
            path.string(),
            "a libtorch shared library is missing or of another version: reinstall libtorch "
            "(Debian: libtorch-dev) or rebuild sd35-setup against the installed one");
        return;
      }
      using Entry = const smoke::PluginApi* (*)();
      auto entry = reinterpret_cast<Entry>(::dlsym(handle, smoke::kPluginEntryPoint));
      const smoke::PluginApi* api = entry ? entry() : nullptr;
      if (!api || api->abi_version != smoke::kPluginAbiVersion) {
        loaded = make_error(Errc::unavailable, "the smoke plugin is from another sd35-setup build",
                            path.string(),
                            "rebuild: the plugin and the executable must come from the same build");
        return;
      }
      loaded = api;
      return;
    }
    loaded =
        make_error(Errc::unavailable, "this sd35-setup was built without libtorch: no smoke plugin",
                   tried.empty() ? "libsd35smoke.so" : tried,
                   "rebuild with libtorch installed (Debian: libtorch-dev; -DSD35_WITH_TORCH=ON)");
  });
  return loaded;
}

}  // namespace sd35::app
