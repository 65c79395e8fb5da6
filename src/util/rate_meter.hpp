// Transfer rate over a sliding window of recent samples, for progress bars and ETAs.
//
// Why a window and not bytes / elapsed: an average since the start hides a stall (the rate stays
// high while nothing arrives) and, after a resume, would either count the bytes found on disk as
// speed or be diluted by the time before them. The window forgets both within a few seconds: a
// stall drives the rate to 0, and only the bytes the caller feeds (network bytes) count.
// Time is passed in by the caller, so the meter is deterministic under test.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>

namespace sd35 {

class RateMeter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateMeter(std::chrono::milliseconds window = std::chrono::seconds(5),
                     std::chrono::milliseconds min_span = std::chrono::milliseconds(250))
      : window_(window), min_span_(min_span) {}

  // `total`: cumulative bytes transferred so far (counted by the caller, never decreasing; a
  // smaller value than before restarts the meter).
  void sample(Clock::time_point now, std::uint64_t total);
  // Bytes per second over the last `window`; 0 until the samples span at least `min_span`.
  [[nodiscard]] double rate() const;
  void clear() { samples_.clear(); }

 private:
  struct Sample {
    Clock::time_point at{};
    std::uint64_t total = 0;
  };
  std::chrono::milliseconds window_;
  std::chrono::milliseconds min_span_;
  std::deque<Sample> samples_;
};

}  // namespace sd35
