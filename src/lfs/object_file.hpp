// One LFS object being downloaded: `<blobs>/<oid>.incomplete` written with pwrite at any offset,
// its byte ranges (segments), the SHA-256 of the contiguous prefix, and the sidecar
// `<oid>.incomplete.json` that lets another process resume it.
//
// Hashing in order: bytes that arrive exactly at the hashed prefix's end are hashed from memory as
// they arrive; bytes of later ranges go to disk only, and are read back (once) when the prefix
// grows up to them. With one stream, nothing is ever read back.
//
// Resume never trusts saved hash state: the sidecar records the SHA-256 of the hashed prefix, and
// a later open re-reads that prefix from disk and compares. Bytes lost after a crash (a power cut
// before the kernel wrote them) therefore show as a mismatch, and the object restarts from zero;
// every byte that reaches the final hash was either read from the file or hashed as it was written
// in this run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/result.hpp"
#include "util/sha256.hpp"

namespace sd35::lfs {

struct Segment {
  std::uint64_t start = 0;
  std::uint64_t end = 0;      // exclusive
  std::uint64_t written = 0;  // contiguous bytes from start that are on disk
  [[nodiscard]] std::uint64_t pos() const { return start + written; }
  [[nodiscard]] bool done() const { return start + written >= end; }
  bool operator==(const Segment&) const = default;
};

// Splits [0,size) into `parts` nearly equal ranges, none smaller than `min_part` (at least one).
std::vector<Segment> plan_ranges(std::uint64_t size, int parts, std::uint64_t min_part);

struct Sidecar {
  std::string oid;
  std::uint64_t size = 0;
  std::uint64_t hashed = 0;   // bytes fed to the hash
  std::string prefix_sha256;  // hex SHA-256 of the first `hashed` bytes
  std::vector<Segment> segments;
};
nlohmann::json to_json(const Sidecar& s);
// Rejects anything inconsistent (oid/size differ, segments do not tile [0,size), hashed beyond
// the contiguous prefix): the caller then restarts the object from zero. Version 1 sidecars (raw
// hash state) are read too: the prefix digest is derived from the state.
Result<Sidecar> sidecar_from_json(const nlohmann::json& j, std::string_view oid,
                                  std::uint64_t size);

class ObjectFile {
 public:
  // Opens (creating) `<blob>.incomplete`; resumes from the sidecar when it is valid and the hashed
  // prefix re-read from disk matches its digest, else starts with `fresh_segments`.
  static Result<ObjectFile> open(const std::filesystem::path& blob_path, std::string oid,
                                 std::uint64_t size, std::vector<Segment> fresh_segments);
  ObjectFile(ObjectFile&&) noexcept;
  ObjectFile& operator=(ObjectFile&&) noexcept;
  ObjectFile(const ObjectFile&) = delete;
  ObjectFile& operator=(const ObjectFile&) = delete;
  ~ObjectFile();

  // Writes bytes of segment `seg` at its current position.
  Status write(std::size_t seg, const char* data, std::size_t n);
  // Feeds the hash with every byte now contiguous after the hashed prefix (reading back from disk).
  Status catch_up_hash();
  // Replaces the plan (e.g. single stream after the server ignored Range); drops progress.
  void reset(std::vector<Segment> segments);
  Status save_sidecar();
  // All bytes present: hashes what is left and compares with the oid. An integrity error leaves
  // nothing behind (the caller may retry from zero).
  Status verify();
  // After verify(): flushes the data, closes the file and renames it to the blob (then drops the
  // sidecar). Touches nothing but this object's files: may run on another thread.
  Status place();
  // verify() then place().
  Status finish();
  // Removes the incomplete file and its sidecar.
  void discard();
  // A region of at least 16 MiB written since the last call whose write-back can start, as
  // {offset, length}; {0, 0} when none. The caller hands it to another thread (sync_file_range).
  std::pair<std::uint64_t, std::uint64_t> take_writeback(std::size_t seg);
  [[nodiscard]] int fd() const { return fd_; }

  [[nodiscard]] std::vector<Segment>& segments() { return segments_; }
  [[nodiscard]] const std::vector<Segment>& segments() const { return segments_; }
  [[nodiscard]] bool complete() const;
  [[nodiscard]] std::uint64_t bytes_present() const;
  [[nodiscard]] std::uint64_t resumed_bytes() const { return resumed_bytes_; }
  // Bytes a later run can resume from: those recorded by the last sidecar saved (or loaded).
  [[nodiscard]] std::uint64_t recorded_bytes() const { return recorded_bytes_; }
  [[nodiscard]] std::uint64_t reread_bytes() const { return reread_bytes_; }
  // Why saved progress was dropped at open (empty when it was used or there was none).
  [[nodiscard]] const std::string& resume_dropped() const { return resume_dropped_; }
  [[nodiscard]] std::uint64_t size() const { return size_; }
  [[nodiscard]] const std::string& oid() const { return oid_; }
  [[nodiscard]] std::filesystem::path incomplete_path() const;
  [[nodiscard]] std::filesystem::path sidecar_path() const;

 private:
  ObjectFile() = default;
  std::filesystem::path blob_;
  std::string oid_;
  std::uint64_t size_ = 0;
  int fd_ = -1;
  std::vector<Segment> segments_;
  Sha256 hash_;
  std::uint64_t hashed_ = 0;
  std::uint64_t resumed_bytes_ = 0;
  std::uint64_t recorded_bytes_ = 0;
  std::uint64_t reread_bytes_ = 0;
  std::string resume_dropped_;
  std::vector<std::uint64_t> kicked_;  // per range: write-back handed out up to here

  void try_resume(std::uint64_t on_disk);
  Status hash_from_disk(std::uint64_t upto);
};

}  // namespace sd35::lfs
