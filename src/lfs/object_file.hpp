// One LFS object being downloaded: `<blobs>/<oid>.incomplete` written with pwrite at any offset,
// its byte ranges (segments), the SHA-256 of the contiguous prefix, and the sidecar
// `<oid>.incomplete.json` that lets another process resume it.
//
// Hashing off the transfer thread: the writer only publishes how far the file is contiguous from
// byte 0; the prefix hash (PrefixHash) is advanced by another thread (Placer's hash thread) that
// reads the bytes back right behind the writes, from the page cache they were just written to,
// and finally by verify(). SHA-256 cannot be parallelised, so one context runs in order while the
// transfer thread goes on receiving.
//
// Resume never trusts saved hash state: the sidecar records the SHA-256 of the hashed prefix, and
// a later open re-reads that prefix from disk and compares. Bytes lost after a crash (a power cut
// before the kernel wrote them) therefore show as a mismatch, and the object restarts from zero;
// every byte that reaches the final hash was read from the file.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
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

// The SHA-256 of bytes [0, hashed) of one download, advanced from the file by whichever thread
// asks (all under one lock). Shared between the ObjectFile and the hash thread, so the file may be
// moved or placed meanwhile; it reads through its own descriptor.
class PrefixHash {
 public:
  PrefixHash(int fd, std::filesystem::path path);  // owns `fd`
  PrefixHash(const PrefixHash&) = delete;
  PrefixHash& operator=(const PrefixHash&) = delete;
  ~PrefixHash();

  // Bytes [0, n) are on the page cache: the hash may advance up to n.
  void publish(std::uint64_t n) { available_.store(n, std::memory_order_release); }
  [[nodiscard]] std::uint64_t available() const {
    return available_.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::uint64_t hashed() const { return hashed_.load(std::memory_order_acquire); }
  // Reads [hashed, available) back into the hash, 1 MiB per lock hold.
  Status advance();
  // {hashed, hex digest of that prefix} as of the last chunk hashed: what a sidecar records. Never
  // waits for a chunk being hashed (the transfer thread saves sidecars every few MiB).
  std::pair<std::uint64_t, std::string> snapshot();
  // The digest of the whole prefix; call once everything is hashed.
  std::string digest();
  void reset();
  [[nodiscard]] std::uint64_t reread() const { return reread_.load(std::memory_order_acquire); }
  // Whether the hash thread has this in its queue (set and cleared by it).
  std::atomic<bool> queued{false};

 private:
  std::mutex mu_;
  Sha256 hash_;
  std::string buf_;         // under mu_: the chunk being read back, allocated once per download
  std::mutex snapshot_mu_;  // only ever held to copy `snapshot_`
  std::pair<std::uint64_t, std::string> snapshot_;
  int fd_ = -1;
  std::filesystem::path path_;
  std::atomic<std::uint64_t> hashed_{0}, available_{0}, reread_{0};

  void publish_snapshot();
};

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
  // Feeds the hash with every byte now contiguous after the hashed prefix (read back from the
  // file).
  Status catch_up_hash();
  // The prefix hash, for the thread that advances it in the background.
  [[nodiscard]] const std::shared_ptr<PrefixHash>& prefix_hash() const { return prefix_; }
  // Bytes written contiguously from 0 but not hashed yet.
  [[nodiscard]] std::uint64_t hash_lag() const { return prefix_->available() - prefix_->hashed(); }
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
  // Bytes read back to hash them: the resumed prefix, then every byte (right behind the writes).
  [[nodiscard]] std::uint64_t reread_bytes() const { return prefix_->reread(); }
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
  std::shared_ptr<PrefixHash> prefix_;
  std::uint64_t resumed_bytes_ = 0;
  std::uint64_t recorded_bytes_ = 0;
  std::string resume_dropped_;
  std::vector<std::uint64_t> kicked_;  // per range: write-back handed out up to here

  void try_resume(std::uint64_t on_disk);
  [[nodiscard]] std::uint64_t contiguous_bytes() const;
  Status bind_prefix_hash();
};

}  // namespace sd35::lfs
