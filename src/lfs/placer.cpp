#include "lfs/placer.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace sd35::lfs {

Placer::Placer(std::function<void()> wake) : wake_(std::move(wake)) {
  place_thread_ = std::thread([this] { place_loop(); });
  writeback_thread_ = std::thread([this] { writeback_loop(); });
  hash_thread_ = std::thread([this] { hash_loop(); });
}

Placer::~Placer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  place_thread_.join();
  writeback_thread_.join();
  hash_thread_.join();
}

void Placer::submit(const void* tag, ObjectFile file) {
  {
    std::lock_guard lock(mu_);
    queue_.emplace_back(tag, std::move(file));
  }
  cv_.notify_all();
}

void Placer::hash_behind(const std::shared_ptr<PrefixHash>& hash) {
  if (hash->queued.exchange(true)) return;  // already waiting for the hash thread
  {
    std::lock_guard lock(mu_);
    hashes_.push_back(hash);
  }
  cv_.notify_all();
}

void Placer::start_writeback(int fd, std::uint64_t offset, std::uint64_t length) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return;  // only an optimisation
  {
    std::lock_guard lock(mu_);
    writebacks_.push_back({copy, offset, length});
  }
  cv_.notify_all();
}

std::vector<Placer::Done> Placer::take_done() {
  std::lock_guard lock(mu_);
  return std::exchange(done_, {});
}

void Placer::drain() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return queue_.empty() && busy_ == 0; });
}

void Placer::writeback_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !writebacks_.empty(); });
    if (writebacks_.empty()) return;  // stop_ and nothing left
    Writeback w = writebacks_.front();
    writebacks_.pop_front();
    lock.unlock();
    ::sync_file_range(w.fd, static_cast<off_t>(w.offset), static_cast<off_t>(w.length),
                      SYNC_FILE_RANGE_WRITE);
    ::close(w.fd);
    lock.lock();
  }
}

void Placer::hash_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !hashes_.empty(); });
    if (stop_) return;  // what is left is hashed by verify() if it is ever placed
    std::shared_ptr<PrefixHash> hash = std::move(hashes_.front());
    hashes_.pop_front();
    lock.unlock();
    // Cleared first: bytes published while this pass runs queue the hash again.
    hash->queued.store(false);
    (void)hash->advance();  // an unreadable file is reported by verify(), on the place thread
    lock.lock();
  }
}

void Placer::place_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    auto [tag, file] = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    Status st = file.verify();
    if (st) st = file.place();
    const std::uint64_t reread = file.reread_bytes();
    lock.lock();
    --busy_;
    done_.push_back({tag, std::move(st), reread});
    cv_.notify_all();
    if (wake_) wake_();
  }
}

}  // namespace sd35::lfs
