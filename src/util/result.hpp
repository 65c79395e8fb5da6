// Result<T>: an expected-style value (T or sd35::Error). C++20 has no std::expected, and the
// surface we need is small: has_value/value/error, operator*, operator->, and the TRY macros.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>
#include <variant>

#include "util/error.hpp"

namespace sd35 {

namespace detail {
// Misuse of a Result (value() on an error, error() on a value) is a bug in the caller: abort with
// what was called and, when there is one, the error it held, in every build type (no assert, no
// dereference of an empty variant alternative).
[[noreturn]] inline void result_misuse(const char* call, const Error* held) noexcept {
  if (held != nullptr) {
    std::fprintf(stderr, "sd35: Result::%s called on an error: [%.*s] %s\n", call,
                 static_cast<int>(to_string(held->code).size()), to_string(held->code).data(),
                 held->describe().c_str());
  } else {
    std::fprintf(stderr, "sd35: Result::%s called on a value (no error held)\n", call);
  }
  std::fflush(stderr);
  std::abort();
}
}  // namespace detail

template <class T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  Result(T value)
      : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error)
      : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)
  // NOLINTBEGIN(bugprone-forwarding-reference-overload,google-explicit-constructor): implicit
  // like the two above; the requires-clause excludes Result itself, so copies and moves take the
  // copy/move constructors (clang-tidy 14 reads enable_if, not requires).
  template <class U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, Error> &&
           !std::is_same_v<std::decay_t<U>, Result>) Result(U&& value)
      : v_(std::in_place_index<0>, T(std::forward<U>(value))) {}
  // NOLINTEND(bugprone-forwarding-reference-overload,google-explicit-constructor)

  [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return *checked_value(); }
  const T& value() const& { return *checked_value(); }
  T&& value() && { return std::move(*checked_value()); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { return *checked_error(); }
  Error&& error() && { return std::move(*checked_error()); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  T* checked_value() {
    if (auto* v = std::get_if<0>(&v_)) return v;
    detail::result_misuse("value()", std::get_if<1>(&v_));
  }
  const T* checked_value() const {
    if (const auto* v = std::get_if<0>(&v_)) return v;
    detail::result_misuse("value()", std::get_if<1>(&v_));
  }
  Error* checked_error() {
    if (auto* e = std::get_if<1>(&v_)) return e;
    detail::result_misuse("error()", nullptr);
  }
  const Error* checked_error() const {
    if (const auto* e = std::get_if<1>(&v_)) return e;
    detail::result_misuse("error()", nullptr);
  }

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
  // On success this is a default Error (code internal, empty message), as it always was.
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
#define SD35_TRY_IMPL(tmp, decl, expr)     \
  auto tmp = (expr);                       \
  if (!tmp) return std::move(tmp).error(); \
  decl = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)
#define SD35_TRY(decl, expr) SD35_TRY_IMPL(SD35_CONCAT(sd35_try_, __LINE__), decl, expr)
#define SD35_TRY_STATUS(expr)                                                              \
  do {                                                                                     \
    if (auto sd35_status_ = (expr); !sd35_status_) return std::move(sd35_status_).error(); \
  } while (0)
