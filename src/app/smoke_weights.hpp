// Which weights `smoke` runs: the --checkpoint argument, the manifest's model as `fetch` left it in
// the Hugging Face cache, or the embedded synthetic MMDiT. Torch-free: the choice is made from the
// cache layout and the safetensors headers (a few KB read), before the plugin loads any weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "manifest/manifest.hpp"
#include "safetensors/safetensors.hpp"

namespace sd35::app {

// Above this many bytes of diffusion-model tensors the real weights run only on CUDA unless
// --checkpoint asks for them: the SD3.5 MMDiTs (2.5 GB Medium FP8 .. 16 GB Large bf16) take
// minutes per step on a CPU, while the tiny test checkpoints and distilled toys take seconds.
inline constexpr std::uint64_t kCpuMmditLimitBytes = 256ull << 20;

struct CachedFile {
  std::string path;  // repo-relative
  std::uint64_t size = 0;
  std::string oid;  // sha256 the snapshot links to (blobs/<oid>), else the manifest's; "" unknown
};

// The manifest's MMDiT checkpoint, complete in the cache.
struct CachedCheckpoint {
  std::string repo;  // "org/name"
  std::string revision;
  std::string commit;
  std::filesystem::path checkpoint;  // what the loader gets: the file, or the diffusers folder
  std::string checkpoint_rel;        // the same, relative to the snapshot
  std::vector<CachedFile> files;     // the safetensors files holding the MMDiT
  std::uint64_t mmdit_bytes = 0;     // bytes of diffusion-model tensors (headers' offsets)
};

struct CacheLookup {
  std::optional<CachedCheckpoint> found;
  std::string problem;  // why nothing usable was found (empty when found)
};

// Looks for the manifest's model in the cache the way `verify` does (refs/<revision> -> snapshot),
// and accepts it only when every safetensors file the manifest lists is a real file (not an LFS
// pointer) of the manifest's size, whose blob matches the manifest's sha256, with a valid header.
CacheLookup find_cached_checkpoint(const Manifest& manifest,
                                   const std::filesystem::path& cache_dir);

struct WeightsChoice {
  std::string source;      // "embedded" | "argument" | "cache"
  std::string checkpoint;  // for the plugin; empty = embedded
  std::optional<CachedCheckpoint> cached;
  std::string note;  // why the embedded model runs (or "" when that needs no explanation)
};

// on_cuda: whether the run will be on CUDA (--device cuda, or auto with a CUDA device); asked only
// when the answer matters (a cached checkpoint above kCpuMmditLimitBytes), since it starts CUDA.
WeightsChoice choose_weights(const std::string& checkpoint_arg, bool synthetic,
                             const CacheLookup& lookup, const std::function<bool()>& on_cuda);

// The result document's fields for the choice: "source", and "cache" {repo, revision, commit,
// checkpoint, files[{path, size, oid}], mmdit_bytes} for weights from the cache.
void describe_weights(const WeightsChoice& choice, nlohmann::json& doc);

}  // namespace sd35::app
