#include <fmt/format.h>

#include "checks/check.hpp"

namespace sd35::checks {

static Finding run_cache_writable(const CheckInfo& info, const CheckContext& ctx) {
  const DiskFacts* cache = ctx.host.disk_for("cache");
  if (!cache) return make_finding(info, Verdict::skip, "the host facts have no cache disk entry");
  if (cache->writable)
    return make_finding(info, Verdict::pass,
                        fmt::format("{} is writable ({})", cache->path, cache->fs_type));
  return make_finding(
      info, Verdict::fail,
      fmt::format("{} (or its nearest existing parent) is not writable by this user", cache->path),
      fmt::format("chown the directory to this user, or choose a writable --cache / HF_HUB_CACHE"));
}

extern const CheckDef cache_writable{{"cache.writable", "Cache directory writable",
                                      "this user can create files in the cache directory",
                                      "fix permissions or choose another cache directory", true},
                                     run_cache_writable};

}  // namespace sd35::checks
