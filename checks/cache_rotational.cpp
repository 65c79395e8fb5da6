#include <fmt/format.h>

#include "checks/check.hpp"

namespace sd35::checks {

static Finding run_cache_rotational(const CheckInfo& info, const CheckContext& ctx) {
  const DiskFacts* cache = ctx.host.disk_for("cache");
  if (!cache) return make_finding(info, Verdict::skip, "the host facts have no cache disk entry");
  if (cache->fs_type == "nfs" || cache->fs_type == "cifs" || cache->fs_type == "fuse" ||
      cache->fs_type == "lustre")
    return make_finding(
        info, Verdict::warn,
        fmt::format(
            "{} is on a network filesystem ({}): loading a 15 GB checkpoint will be slow and "
            "file locks may not work",
            cache->path, cache->fs_type),
        "put the cache on a local SSD");
  if (!cache->rotational)
    return make_finding(
        info, Verdict::pass,
        fmt::format("{} ({}): rotational status unknown (virtual or network block device)",
                    cache->path, cache->fs_type));
  if (*cache->rotational)
    return make_finding(
        info, Verdict::warn,
        fmt::format(
            "{} is on a spinning disk: reading a 15 GB checkpoint takes minutes (~150 MB/s)",
            cache->path),
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
