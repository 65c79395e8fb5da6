// Cooperative cancellation: the CLI's SIGINT/SIGTERM handler sets a flag; long loops (transfers,
// hashing, sampling) poll it and return Errc::interrupted, leaving resumable state behind.
#pragma once

#include <atomic>

namespace sd35 {

inline std::atomic<int>& cancel_flag() noexcept {
  static std::atomic<int> flag{0};
  return flag;
}
inline void request_cancel(int signal_number) noexcept {
  cancel_flag().store(signal_number);
}
inline bool cancel_requested() noexcept {
  return cancel_flag().load(std::memory_order_relaxed) != 0;
}

}  // namespace sd35
