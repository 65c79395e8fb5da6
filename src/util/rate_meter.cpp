#include "util/rate_meter.hpp"

namespace sd35 {

void RateMeter::sample(Clock::time_point now, std::uint64_t total) {
  if (!samples_.empty() && (total < samples_.back().total || now < samples_.back().at))
    samples_.clear();
  // Samples closer than 1/64 of the window add nothing but memory: the newest one is replaced.
  if (samples_.size() >= 2 && now - samples_[samples_.size() - 2].at < window_ / 64)
    samples_.back() = {now, total};
  else
    samples_.push_back({now, total});
  // Keep one sample at or before the window's start as the base of the difference.
  while (samples_.size() >= 2 && samples_[1].at <= now - window_) samples_.pop_front();
}

double RateMeter::rate() const {
  if (samples_.size() < 2) return 0.0;
  const Sample& base = samples_.front();
  const Sample& last = samples_.back();
  const auto span = last.at - base.at;
  if (span < min_span_) return 0.0;
  return static_cast<double>(last.total - base.total) / std::chrono::duration<double>(span).count();
}

}  // namespace sd35
