// Strict JSON for safetensors headers: nlohmann keeps the last of duplicate keys and reports
// invalid UTF-8 only as a generic parse error, so both are checked here first, precisely.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace sd35::st::detail {

// Byte offset of the first byte that is not part of a well-formed UTF-8 sequence (overlong forms,
// surrogates and code points above U+10FFFF included), or nullopt when `s` is valid UTF-8.
std::optional<std::size_t> first_invalid_utf8(std::string_view s) noexcept;

struct JsonProblem {
  enum class Kind { syntax, duplicate_key } kind = Kind::syntax;
  std::string message;  // parser message, or the duplicated key
};

// Parses `text` as one JSON value, rejecting duplicate object keys at any depth.
// Returns nullopt and fills `problem` on failure. Never throws.
std::optional<nlohmann::json> parse_strict(std::string_view text, JsonProblem& problem);

}  // namespace sd35::st::detail
