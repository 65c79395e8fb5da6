// Finishes verified downloads off the transfer thread: fdatasync (1–3 s for a 1 GiB file on a
// plain disk), close and rename into blobs/. The transfer loop hands over an ObjectFile whose hash
// matched and picks up the outcome later; while a file is being placed, its lock stays held.
// Write-back requests have their own thread: they must not wait behind another file's flush
// (while object 1 is flushed, object 2's pages would pile up dirty for the final flush).
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
    Status status;
  };

  // `wake` is called (from the worker thread) after each file is placed.
  explicit Placer(std::function<void()> wake);
  Placer(const Placer&) = delete;
  Placer& operator=(const Placer&) = delete;
  ~Placer();  // places what was handed over, then joins

  void submit(const void* tag, ObjectFile file);
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

  std::function<void()> wake_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<const void*, ObjectFile>> queue_;
  struct Writeback {
    int fd;
    std::uint64_t offset, length;
  };
  std::deque<Writeback> writebacks_;
  std::vector<Done> done_;
  int busy_ = 0;
  bool stop_ = false;
  std::thread place_thread_, writeback_thread_;
};

}  // namespace sd35::lfs
