// Result<T>: an expected-style value (T or sd35::Error). C++20 has no std::expected, and the
// surface we need is small: has_value/value/error, operator*, operator->, and the TRY macros.
#pragma once

#include <cassert>
#include <type_traits>
#include <utility>
#include <variant>

#include "util/error.hpp"

namespace sd35 {

template <class T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  Result(T value)
      : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error)
      : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)
  template <class U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, Error> &&
           !std::is_same_v<std::decay_t<U>, Result>) Result(U&& value)
      : v_(std::in_place_index<0>, T(std::forward<U>(value))) {}  // NOLINT

  [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return *std::get_if<0>(&v_); }
  const T& value() const& { return *std::get_if<0>(&v_); }
  T&& value() && { return std::move(*std::get_if<0>(&v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return *std::get_if<1>(&v_); }
  Error&& error() && { return std::move(*std::get_if<1>(&v_)); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error)
      : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const& { return error_; }
  Error&& error() && { return std::move(error_); }

 private:
  Error error_{};
  bool ok_ = true;
};

using Status = Result<void>;
inline Status ok() {
  return {};
}

}  // namespace sd35

// Propagate an error in one line: SD35_TRY(auto x, parse(...)); / SD35_TRY_STATUS(write(...));
#define SD35_CONCAT_INNER(a, b) a##b
#define SD35_CONCAT(a, b) SD35_CONCAT_INNER(a, b)
// NOLINTBEGIN(bugprone-macro-parentheses): `decl` is a declaration and cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses): `decl` is a declaration and cannot be parenthesised.
#define SD35_TRY_IMPL(tmp, decl, expr)     \
  auto tmp = (expr);                       \
  if (!tmp) return std::move(tmp).error(); \
  decl = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
// NOLINTEND(bugprone-macro-parentheses)
#define SD35_TRY(decl, expr) SD35_TRY_IMPL(SD35_CONCAT(sd35_try_, __LINE__), decl, expr)
#define SD35_TRY_STATUS(expr)                                                              \
  do {                                                                                     \
    if (auto sd35_status_ = (expr); !sd35_status_) return std::move(sd35_status_).error(); \
  } while (0)
