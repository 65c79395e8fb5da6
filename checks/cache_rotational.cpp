#include <fmt/format.h>

#include "checks/check.hpp"
#include "util/strings.hpp"

namespace sd35::checks {

// "the 16.5 GB of sd3.5-large-fp8": the size the manifest gives, not a fixed number.
static std::string model_size(const Manifest& manifest) {
  const std::uint64_t bytes = manifest.model.known_bytes();
  return bytes ? fmt::format("the {} of {}", str::human_bytes(bytes), manifest.name)
               : fmt::format("the model files of {}", manifest.name);
}

static Finding run_cache_rotational(const CheckInfo& info, const CheckContext& ctx) {
  const DiskFacts* cache = ctx.host.disk_for("cache");
  if (!cache) return make_finding(info, Verdict::skip, "the host facts have no cache disk entry");
  if (cache->fs_type == "nfs" || cache->fs_type == "cifs" || cache->fs_type == "fuse" ||
      cache->fs_type == "lustre")
    return make_finding(
        info, Verdict::warn,
        fmt::format(
            "{} is on a network filesystem ({}): loading {} will be slow and file locks may "
            "not work",
            cache->path, cache->fs_type, model_size(ctx.manifest)),
        "put the cache on a local SSD");
  if (!cache->rotational)
    return make_finding(
        info, Verdict::pass,
        fmt::format("{} ({}): rotational status unknown (virtual or network block device)",
                    cache->path, cache->fs_type));
  if (*cache->rotational)
    return make_finding(
        info, Verdict::warn,
        fmt::format("{} is on a spinning disk: reading {} takes minutes (~150 MB/s)", cache->path,
                    model_size(ctx.manifest)),
        "put the cache on an SSD/NVMe (--cache or HF_HUB_CACHE)");
  return make_finding(
      info, Verdict::pass,
      fmt::format("{} is on a non-rotational disk ({})", cache->path, cache->fs_type));
}

extern const CheckDef cache_rotational{{"cache.rotational", "Cache on a fast disk",
                                        "the cache is not on a spinning disk or network filesystem",
                                        "move the cache to an SSD", false},
                                       run_cache_rotational};

}  // namespace sd35::checks
