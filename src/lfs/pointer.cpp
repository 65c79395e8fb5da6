#include "lfs/pointer.hpp"

#include <fmt/format.h>

#include "util/strings.hpp"

namespace sd35::lfs {
namespace {

constexpr std::string_view kSpecV1 = "https://git-lfs.github.com/spec/v1";
constexpr std::string_view kSpecHawser = "https://hawser.github.com/spec/v1";

Error bad(std::size_t line, std::string what) {
  return make_error(Errc::bad_input, fmt::format("not a valid Git LFS pointer: {}", what),
                    fmt::format("pointer line {}", line),
                    "the file should be the real object; re-fetch it with `sd35-setup fetch`");
}

bool valid_key(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  return true;
}

}  // namespace

bool looks_like_pointer(std::string_view text) noexcept {
  return text.size() < kMaxPointerSize && text.starts_with("version https://");
}

Result<Pointer> parse_pointer(std::string_view text) {
  if (text.size() >= kMaxPointerSize)
    return bad(0, fmt::format("{} bytes (pointers are < 1024)", text.size()));
  if (text.empty() || text.back() != '\n') return bad(0, "missing final newline");
  auto lines = str::split(text.substr(0, text.size() - 1), '\n');
  Pointer p;
  bool have_oid = false, have_size = false;
  std::string_view prev_key;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    auto sp = line.find(' ');
    if (sp == std::string_view::npos) return bad(i + 1, fmt::format("'{}' has no value", line));
    std::string_view key = line.substr(0, sp), value = line.substr(sp + 1);
    if (i == 0) {
      if (key != "version") return bad(1, "the first line must be 'version ...'");
      if (value != kSpecV1 && value != kSpecHawser)
        return bad(1, fmt::format("unknown spec '{}'", value));
      continue;
    }
    if (!valid_key(key)) return bad(i + 1, fmt::format("invalid key '{}'", key));
    if (i > 1 && key <= prev_key)
      return bad(i + 1, fmt::format("key '{}' out of order or repeated", key));
    prev_key = key;
    if (key == "oid") {
      if (!value.starts_with("sha256:")) return bad(i + 1, "only 'oid sha256:<hex>' is supported");
      std::string_view hex = value.substr(7);
      if (hex.size() != 64 || !str::is_hex(hex) || str::to_lower(hex) != hex)
        return bad(i + 1, "oid must be 64 lowercase hex digits");
      p.oid = std::string(hex);
      have_oid = true;
    } else if (key == "size") {
      if (value.empty() || (value.size() > 1 && value[0] == '0'))
        return bad(i + 1, "size must be a decimal number");
      auto n = str::parse_u64(value);
      if (!n || value.find_first_not_of("0123456789") != std::string_view::npos)
        return bad(i + 1, "size must be a decimal number");
      p.size = *n;
      have_size = true;
    }
  }
  if (!have_oid) return bad(lines.size(), "no 'oid' line");
  if (!have_size) return bad(lines.size(), "no 'size' line");
  return p;
}

std::string format_pointer(const Pointer& p) {
  return fmt::format("version {}\noid sha256:{}\nsize {}\n", kSpecV1, p.oid, p.size);
}

}  // namespace sd35::lfs
