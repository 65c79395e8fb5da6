// String helpers used across modules (kept tiny: no general-purpose string library).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sd35::str {

std::string_view trim(std::string_view s) noexcept;
std::vector<std::string_view> split(std::string_view s, char sep);
bool starts_with(std::string_view s, std::string_view prefix) noexcept;
bool ends_with(std::string_view s, std::string_view suffix) noexcept;
std::string to_lower(std::string_view s);
std::optional<std::uint64_t> parse_u64(std::string_view s) noexcept;
// "12.3 GiB" style, base 1024, for humans; exact byte counts are always given alongside.
std::string human_bytes(std::uint64_t bytes);
bool is_hex(std::string_view s) noexcept;

// Dotted numeric versions ("550.54.14", "8.9", "2.36"): component-wise comparison, missing = 0.
// Returns <0, 0, >0. Non-numeric components compare as 0.
int compare_dotted(std::string_view a, std::string_view b) noexcept;

}  // namespace sd35::str
