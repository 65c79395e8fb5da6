#include "lfs/placer.hpp"

namespace sd35::lfs {

Placer::Placer(std::function<void()> wake) : wake_(std::move(wake)) {
  thread_ = std::thread([this] { work(); });
}

Placer::~Placer() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Placer::submit(const void* tag, ObjectFile file) {
  {
    std::lock_guard lock(mu_);
    queue_.emplace_back(tag, std::move(file));
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

void Placer::work() {
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
