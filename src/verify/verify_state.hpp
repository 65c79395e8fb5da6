// Remembered verification results, so an unchanged tree re-verifies in milliseconds.
// One JSON file per verified tree (docs/verify.md "State file"):
//   cache mode: <cache>/models--org--name/.sd35-verify/<commit>.json
//   --path DIR: <DIR>/.sd35-verify.json
// An entry is reused only when size, mtime_ns, ctime_ns, device and inode all match a fresh
// stat: any write, rename-over or `touch` changes ctime, so a stale digest is never trusted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "util/result.hpp"

namespace sd35::verify {

inline constexpr int kStateSchemaVersion = 1;

struct FileStamp {
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  std::uint64_t dev = 0;
  std::uint64_t inode = 0;
  bool operator==(const FileStamp&) const = default;
};

// stat() following symlinks (the blob behind a snapshot entry).
Result<FileStamp> stamp_of(const std::filesystem::path& path);

struct StateEntry {
  FileStamp stamp;
  std::string sha256;
  std::string git_sha1;  // empty when it was not computed
};

struct VerifyState {
  std::map<std::string, StateEntry> files;  // key: path relative to the verified root
};

// A missing, unreadable or foreign-version state file is an empty state (everything rehashes).
VerifyState load_state(const std::filesystem::path& file);
Status save_state(const std::filesystem::path& file, const VerifyState& state);

}  // namespace sd35::verify
