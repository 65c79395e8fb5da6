// Content verification: every expected file exists with the expected size and digest.
// The fast path other stages call (the lockfile stage passes its recorded expectations):
//   verify::verify_files(root, expectations, options, reporter)
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/reporter.hpp"
#include "util/result.hpp"

namespace sd35::verify {

struct Expectation {
  std::string path;                     // relative to the root, '/'-separated
  std::optional<std::uint64_t> size;    // bytes
  std::optional<std::string> sha256;    // LFS oid (lowercase hex)
  std::optional<std::string> git_sha1;  // git blob id of a regular (non-LFS) file
  std::string source;                   // who expects it: "manifest", "cache blob name", "lockfile"
};

struct ContentOptions {
  bool full = false;     // ignore remembered digests and rehash every file
  unsigned threads = 0;  // 0: one per core
  std::optional<std::filesystem::path> state_file;  // remembered digests (read, then updated)
};

struct FileOutcome {
  std::string path;
  bool present = false;
  bool pointer = false;  // the file is a Git LFS pointer, not the content
  bool ok = false;       // every expectation held
  bool reused = false;   // digest taken from the state file (file unchanged since)
  std::uint64_t size = 0;
  std::string sha256;
  std::string git_sha1;
};

struct ContentReport {
  std::vector<FileOutcome> files;  // in expectation order
  std::size_t failed = 0;
  std::size_t hashed = 0;
  std::size_t reused = 0;
  std::uint64_t bytes_hashed = 0;
  std::uint64_t bytes_present_ok = 0;  // bytes of files that passed (for the disk-space check)
  double seconds = 0;
};

// Reports one finding per file (content.<rule>) in expectation order. Errors only for things
// that stop the run (SIGINT); a missing or corrupt file is a failed finding, not an error.
Result<ContentReport> verify_files(const std::filesystem::path& root,
                                   const std::vector<Expectation>& expectations,
                                   const ContentOptions& options, Reporter& reporter);

}  // namespace sd35::verify
