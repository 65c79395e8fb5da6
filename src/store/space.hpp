// Whether a filesystem has room for what is still to be written: one judgement, used by the
// `disk.free` check (doctor, verify) and by fetch's preflight, so both say it in the same words.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "util/fs.hpp"
#include "util/result.hpp"

namespace sd35::store {

struct SpaceJudgement {
  bool enough = true;
  std::uint64_t need = 0;     // bytes still to be written (total minus what is present)
  std::uint64_t free = 0;     // bytes free at `where`
  std::uint64_t missing = 0;  // need - free when short, else 0
  std::string detail;  // "cache /c has 1.0 GiB (…) free, needs …" / "…: 3.0 GiB (…) short"
  std::string fix;     // empty when enough
};

// `cache_path` is the cache folder the text names ("cache /path has ...").
SpaceJudgement judge_space(std::string_view cache_path, std::uint64_t total_need,
                           std::uint64_t already_present, std::uint64_t free_bytes);

// Free space at a path (tests inject one); the default is fs::space.
using SpaceFn = std::function<Result<fs::SpaceInfo>(const std::filesystem::path&)>;

// Asks the filesystem of `dir` (its nearest existing ancestor) and judges; short of space is
// Errc::disk_full naming `dir`, with the judgement's words.
Status require_space(const std::filesystem::path& dir, std::uint64_t total_need,
                     std::uint64_t already_present, const SpaceFn& space = {});

}  // namespace sd35::store
