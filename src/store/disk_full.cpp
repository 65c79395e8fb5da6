#include "store/disk_full.hpp"

#include <fmt/format.h>

#include "util/fs.hpp"
#include "util/strings.hpp"

namespace sd35::store {

Error disk_full_error(const Error& cause, const DiskFullContext& ctx) {
  auto space = fs::space(fs::nearest_existing(ctx.dir));
  const std::string free = space ? str::human_bytes(space->free_bytes) : "an unknown amount";
  std::string message = fmt::format(
      "disk full while writing {} (oid {}) into {}: {}; {} of its {} are on disk, this fetch still "
      "needs {} more and {} is free there",
      ctx.file, ctx.id, ctx.dir.string(), cause.message, str::human_bytes(ctx.present),
      str::human_bytes(ctx.size), str::human_bytes(ctx.still_needed), free);
  std::string todo;
  if (space && space->free_bytes < ctx.still_needed)
    todo = fmt::format("free at least {} on that filesystem",
                       str::human_bytes(ctx.still_needed - space->free_bytes));
  else
    todo = "free space on that filesystem (it reports enough free space but refused the write: "
           "check disk quotas)";
  std::string resume =
      ctx.partial.empty()
          ? std::string("run the same command again")
          : fmt::format("run the same command again: it resumes from the {} kept in {}",
                        str::human_bytes(ctx.present), ctx.partial.filename().string());
  return make_error(Errc::disk_full, std::move(message),
                    ctx.partial.empty() ? ctx.dir.string() : ctx.partial.string(),
                    fmt::format("{}, or point --cache / HF_HUB_CACHE at a larger disk; then {}",
                                todo, resume));
}

}  // namespace sd35::store
