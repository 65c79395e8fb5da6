#include "app/context.hpp"

#include <cstdlib>

namespace sd35::app {

// The one mapping of failure kinds to exit codes; docs/cli.md#exit-codes is its prose.
int exit_code_for(Errc code) noexcept {
  switch (code) {
    case Errc::usage:
    case Errc::bad_input:
    case Errc::unsupported_version:
    case Errc::missing_file:
      return exit_code::usage;
    case Errc::host_not_ready:
    case Errc::unavailable:
    case Errc::io:
    case Errc::permission:
      return exit_code::not_ready;  // this environment cannot run the command
    case Errc::verification_failed:
    case Errc::integrity:
    case Errc::disk_full:
      return exit_code::verification_failed;
    case Errc::network:
    case Errc::timeout:
    case Errc::auth:
    case Errc::gated:
    case Errc::rate_limited:
    case Errc::not_found:
      return exit_code::network;  // a 404 repo, revision or file
    case Errc::interrupted:
      return exit_code::interrupted;
    case Errc::internal:
      return exit_code::internal;
  }
  return exit_code::internal;
}

int exit_code_for(const Result<Outcome>& result) noexcept {
  if (!result) return exit_code_for(result.error().code);
  return static_cast<int>(*result);
}

Result<Manifest> load_manifest_for(const GlobalOptions& global) {
  if (global.manifest_path.empty()) return default_manifest();
  return load_manifest(global.manifest_path);
}

namespace {
std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}
}  // namespace

store::HubEnv hub_env_for(const GlobalOptions& global) {
  return store::read_hub_env(global.cache_dir);
}

std::filesystem::path resolve_cache_dir(const GlobalOptions& global) {
  return hub_env_for(global).cache_dir;
}

std::filesystem::path temp_dir() {
  if (auto v = env_or_empty("TMPDIR"); !v.empty()) return v;
  return "/tmp";
}

}  // namespace sd35::app
