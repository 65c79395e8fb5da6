// Shared by the libFuzzer targets: the input as text, and a check that traps (so libFuzzer
// records a crash with the input) when an invariant of the parser under test does not hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "util/error.hpp"

namespace sd35::fuzz {

inline std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline void check(bool invariant) {
  if (!invariant) __builtin_trap();
}

// Every rejection says what happened and where (docs/architecture.md, "Errors").
inline void check_error(const Error& e) {
  check(!e.message.empty());
  check(!e.where.empty());
}

}  // namespace sd35::fuzz
