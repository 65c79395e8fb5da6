// Small filesystem helpers that return Result instead of throwing, with the path in every error.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace sd35::fs {

namespace stdfs = std::filesystem;

Result<std::string> read_file(const stdfs::path& path, std::size_t max_bytes = 64u << 20);
enum class Flush { yes, no };
// Writes to "<path>.tmp.<pid>" then renames: readers never see a half-written file. With
// Flush::yes (the default) the data is fsynced before the rename, so it survives a power cut.
Status write_file_atomic(const stdfs::path& path, std::string_view contents,
                         Flush flush = Flush::yes);
// Reads the first line (without newline) of a small file; nullopt when absent or unreadable.
std::optional<std::string> read_first_line(const stdfs::path& path);

struct SpaceInfo {
  std::uint64_t free_bytes = 0;  // available to an unprivileged user
  std::uint64_t total_bytes = 0;
};
Result<SpaceInfo> space(const stdfs::path& path);
// The nearest existing ancestor: space and writability are asked of a cache dir that may not exist
// yet.
stdfs::path nearest_existing(const stdfs::path& path);

// Error for a failed syscall on `path` (errno-based), mapped onto the closed Errc set.
Error errno_error(int err, std::string_view what, const stdfs::path& path);

}  // namespace sd35::fs
