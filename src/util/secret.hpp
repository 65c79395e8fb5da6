// A credential that never prints. The only way to the bytes is reveal(), used at the single place
// a header is built; formatting, streaming or JSON-serialising a Secret yields "<redacted>".
#pragma once

#include <fmt/format.h>

#include <ostream>
#include <string>
#include <string_view>

namespace sd35 {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  Secret(const Secret&) = default;
  Secret& operator=(const Secret&) = default;
  Secret(Secret&&) noexcept = default;
  Secret& operator=(Secret&&) noexcept = default;
  ~Secret() { wipe(); }

  [[nodiscard]] bool empty() const noexcept { return value_.empty(); }
  // Deliberately long name: grep for it to audit every use.
  [[nodiscard]] std::string_view reveal_for_transport() const noexcept { return value_; }

  friend std::ostream& operator<<(std::ostream& os, const Secret&) { return os << "<redacted>"; }

 private:
  void wipe() noexcept {
    volatile char* p = value_.data();
    for (std::size_t i = 0; i < value_.size(); ++i) p[i] = 0;
  }
  std::string value_;
};

}  // namespace sd35

template <>
struct fmt::formatter<sd35::Secret> : fmt::formatter<std::string_view> {
  template <class Ctx>
  auto format(const sd35::Secret&, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format("<redacted>", ctx);
  }
};
