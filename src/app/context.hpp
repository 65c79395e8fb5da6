// What every command shares: the global options, the reporter, and how results become exit codes.
// Only this layer (and the CLI above it) knows about process exit codes.
#pragma once

#include <filesystem>
#include <string>

#include "manifest/manifest.hpp"
#include "store/hub_env.hpp"
#include "util/reporter.hpp"
#include "util/result.hpp"

namespace sd35::app {

struct GlobalOptions {
  std::string manifest_path;  // empty: the embedded default
  std::string cache_dir;      // empty: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub
  bool json = false;
  int verbosity = 0;  // -1 quiet, 0 normal, 1+ verbose
  bool color = true;
};

// How a command that ran to completion ended.
enum class Outcome {
  ok = 0,
  not_ready = 3,            // host not ready / nothing resolvable
  verification_failed = 4,  // verify or gate found a difference
};

// Documented in docs/cli.md.
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int internal = 1;
inline constexpr int usage = 2;
inline constexpr int not_ready = 3;
inline constexpr int verification_failed = 4;
inline constexpr int network = 5;
inline constexpr int interrupted = 130;
}  // namespace exit_code

int exit_code_for(Errc code) noexcept;
int exit_code_for(const Result<Outcome>& result) noexcept;

// The manifest named by --manifest, or the embedded default.
Result<Manifest> load_manifest_for(const GlobalOptions& global);

// The Hugging Face hub environment (store/hub_env.hpp) with --cache: read once per command and
// given to fetch, verify, smoke and lock.
store::HubEnv hub_env_for(const GlobalOptions& global);
// Hugging Face hub cache directory: --cache, HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub.
std::filesystem::path resolve_cache_dir(const GlobalOptions& global);
// Where temp files go: TMPDIR or /tmp.
std::filesystem::path temp_dir();

}  // namespace sd35::app
