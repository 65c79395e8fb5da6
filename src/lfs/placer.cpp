#include "lfs/placer.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace sd35::lfs {

Placer::Placer(std::function<void()> wake) : wake_(std::move(wake)) {
  place_thread_ = std::thread([this] { place_loop(); });
  writeback_thread_ = std::thread([this] { writeback_loop(); });
}

Placer::~Placer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  place_thread_.join();
  writeback_thread_.join();
}

void Placer::submit(const void* tag, ObjectFile file) {
  {
    std::lock_guard lock(mu_);
    queue_.emplace_back(tag, std::move(file));
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

void Placer::place_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    auto [tag, file] = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    Status st = file.place();
    lock.lock();
    --busy_;
    done_.push_back({tag, std::move(st)});
    cv_.notify_all();
    if (wake_) wake_();
  }
}

}  // namespace sd35::lfs
