#include "store/disk_full.hpp"

#include <fmt/format.h>

#include "util/strings.hpp"

namespace sd35::store {

Error disk_full_error(const Error& cause, const DiskFullContext& ctx) {
  auto space = fs::space(fs::nearest_existing(ctx.dir));
  return disk_full_error(cause, ctx, space ? std::optional(*space) : std::nullopt);
}

Error disk_full_error(const Error& cause, const DiskFullContext& ctx,
                      const std::optional<fs::SpaceInfo>& space) {
  const std::string free = space ? str::human_bytes(space->free_bytes) : "an unknown amount";
  std::string message = fmt::format(
      "disk full while writing {} (oid {}) into {}: {}; {} of its {} are on disk, this fetch still "
      "needs {} more and {} is free there",
      ctx.file, ctx.id, ctx.dir.string(), cause.message, str::human_bytes(ctx.present),
      str::human_bytes(ctx.size), str::human_bytes(ctx.still_needed), free);
  std::string todo;
  if (!space)
    todo = fmt::format("free at least {} on that filesystem", str::human_bytes(ctx.still_needed));
  else if (space->free_bytes < ctx.still_needed)
    todo = fmt::format("free at least {} on that filesystem",
                       str::human_bytes(ctx.still_needed - space->free_bytes));
  else
    todo =
        "free space on that filesystem (it reports enough free space but refused the write: check "
        "disk quotas)";
  std::string then;
  if (ctx.partial.empty())
    then = "run the same command again";
  else if (ctx.resumable > 0)
    then = fmt::format("run the same command again: it resumes from the {} recorded in {}.json",
                       str::human_bytes(ctx.resumable), ctx.partial.filename().string());
  else
    then = fmt::format(
        "run the same command again: it starts this file over (no resume state could be saved; "
        "delete {} to free its {} now)",
        ctx.partial.filename().string(), str::human_bytes(ctx.present));
  return make_error(
      Errc::disk_full, std::move(message),
      ctx.partial.empty() ? ctx.dir.string() : ctx.partial.string(),
      fmt::format("{}, or point --cache / HF_HUB_CACHE at a larger disk; then {}", todo, then));
}

}  // namespace sd35::store
