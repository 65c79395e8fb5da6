// Does a download's disk and hash work off the transfer thread, each on its own thread:
// - hash: advances each object's prefix SHA-256 right behind the writes (hash_behind);
// - place: a complete object is verified (the rest of its hash, compared with the oid), flushed
//   (fdatasync: 1–3 s for a 1 GiB file on a plain disk), closed and renamed into blobs/;
// - write-back: starts the kernel's write-back of what was written, so the final flush finds
//   little left (it must not wait behind another file's flush, or object 2's pages would pile up
//   dirty while object 1 is flushed).
// The transfer loop hands over an ObjectFile whose bytes are all present and picks up the outcome
// later; while a file is being placed, its lock stays held.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "lfs/object_file.hpp"

namespace sd35::lfs {

class Placer {
 public:
  struct Done {
    const void* tag = nullptr;
    Status status;             // Errc::integrity: the content did not match (already discarded)
    std::uint64_t reread = 0;  // bytes read back to hash the object
  };

  // `wake` is called (from the worker thread) after each file is placed.
  explicit Placer(std::function<void()> wake);
  Placer(const Placer&) = delete;
  Placer& operator=(const Placer&) = delete;
  ~Placer();  // places what was handed over, then joins

  // Verifies and places a complete object.
  void submit(const void* tag, ObjectFile file);
  // Advances `hash` up to what its writer has published, soon, on the hash thread.
  void hash_behind(const std::shared_ptr<PrefixHash>& hash);
  // Starts the kernel's write-back of [offset, offset+length) of `fd` (dup'ed here, so the caller
  // may close its own) without waiting for it: the final flush then finds little left to write.
  void start_writeback(int fd, std::uint64_t offset, std::uint64_t length);
  // Outcomes since the last call.
  std::vector<Done> take_done();
  // Waits until every file handed over is placed.
  void drain();

 private:
  void place_loop();
  void writeback_loop();
  void hash_loop();

  std::function<void()> wake_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<const void*, ObjectFile>> queue_;
  struct Writeback {
    int fd;
    std::uint64_t offset, length;
  };
  std::deque<Writeback> writebacks_;
  std::deque<std::shared_ptr<PrefixHash>> hashes_;
  std::vector<Done> done_;
  int busy_ = 0;
  bool stop_ = false;
  std::thread place_thread_, writeback_thread_, hash_thread_;
};

}  // namespace sd35::lfs
