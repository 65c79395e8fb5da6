#include <fmt/format.h>

#include "checks/check.hpp"
#include "store/space.hpp"
#include "util/strings.hpp"

namespace sd35::checks {

static Finding run_disk_free(const CheckInfo& info, const CheckContext& ctx) {
  std::uint64_t total_need = ctx.manifest.requirements.disk_free_bytes;
  if (total_need == 0) total_need = ctx.manifest.model.known_bytes();
  const DiskFacts* cache = ctx.host.disk_for("cache");
  const DiskFacts* temp = ctx.host.disk_for("temp");
  if (!cache) return make_finding(info, Verdict::skip, "the host facts have no cache disk entry");
  std::string temp_text = temp ? fmt::format("; temp {} has {} ({} bytes) free", temp->path,
                                             str::human_bytes(temp->free_bytes), temp->free_bytes)
                               : "";
  const auto j =
      store::judge_space(cache->path, total_need, ctx.bytes_already_present, cache->free_bytes);
  const std::uint64_t need = j.need;
  Finding f =
      make_finding(info, j.enough ? Verdict::pass : Verdict::fail, j.detail + temp_text, j.fix);
  // Downloads are written next to their final place (the cache), so temp only needs room for
  // small files; warn below 1 GiB, which breaks pip's wheel unpacking of torch.
  if (f.verdict == Verdict::pass && temp && temp->free_bytes < (1ull << 30)) {
    f.verdict = Verdict::warn;
    f.fix = fmt::format("free space in {} or set TMPDIR: pip unpacks torch wheels (> 1 GiB) there",
                        temp->path);
  }
  f.data = {
      {"need_bytes", need}, {"cache_free_bytes", cache->free_bytes}, {"cache_path", cache->path}};
  if (temp) f.data["temp_free_bytes"] = temp->free_bytes;
  return f;
}

extern const CheckDef disk_free{
    {"disk.free", "Free disk space",
     "the cache filesystem has room for the model files still to be downloaded",
     "free space or move the cache (--cache, HF_HUB_CACHE)", true},
    run_disk_free};

}  // namespace sd35::checks
