#include "store/space.hpp"

#include <fmt/format.h>

#include "util/strings.hpp"

namespace sd35::store {

SpaceJudgement judge_space(std::string_view cache_path, std::uint64_t total_need,
                           std::uint64_t already_present, std::uint64_t free_bytes) {
  SpaceJudgement j;
  j.need = total_need > already_present ? total_need - already_present : 0;
  j.free = free_bytes;
  j.enough = free_bytes >= j.need;
  if (j.enough) {
    j.detail =
        fmt::format("cache {} has {} ({} bytes) free, needs {} ({} bytes)", cache_path,
                    str::human_bytes(free_bytes), free_bytes, str::human_bytes(j.need), j.need);
    return j;
  }
  j.missing = j.need - free_bytes;
  j.detail =
      fmt::format("cache {} has {} ({} bytes) free but needs {} ({} bytes): {} ({} bytes) short",
                  cache_path, str::human_bytes(free_bytes), free_bytes, str::human_bytes(j.need),
                  j.need, str::human_bytes(j.missing), j.missing);
  j.fix = fmt::format(
      "free {} on the filesystem of {}, or point --cache / HF_HUB_CACHE at a larger disk",
      str::human_bytes(j.missing), cache_path);
  return j;
}

Status require_space(const std::filesystem::path& dir, std::uint64_t total_need,
                     std::uint64_t already_present, const SpaceFn& space) {
  const std::filesystem::path probe = fs::nearest_existing(dir);
  auto info = space ? space(probe) : fs::space(probe);
  if (!info) return std::move(info).error();
  const auto j = judge_space(dir.string(), total_need, already_present, info->free_bytes);
  if (j.enough) return ok();
  return make_error(Errc::disk_full, j.detail, dir.string(), j.fix);
}

}  // namespace sd35::store
