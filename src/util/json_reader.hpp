// Strict reading of user-supplied JSON (manifest, host facts, lockfile): parse errors name
// file:line:column, type errors name the JSON pointer and what was expected, unknown keys warn.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace sd35::jsonio {

using nlohmann::json;

// Parses text; on failure the error's `where` is "<source>:<line>:<column>".
Result<json> parse(std::string_view text, std::string_view source);
// Reads and parses a file (missing file -> not_found naming the path).
Result<json> parse_file(const std::string& path);

std::string_view type_name(const json& v) noexcept;

// A view of one JSON object that records which keys were read, so the rest can be reported as
// unknown. Every accessor's error names "<source>: <pointer>" and the expected type.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string pointer, std::string source,
               std::vector<std::string>* warnings);

  Result<std::string> str(std::string_view key);
  Result<std::optional<std::string>> opt_str(std::string_view key);  // absent or null -> nullopt
  Result<std::string> str_or_empty(std::string_view key);            // absent or null -> ""
  Result<std::uint64_t> u64(std::string_view key);
  Result<std::optional<std::uint64_t>> opt_u64(std::string_view key);
  Result<std::int64_t> i64(std::string_view key);
  Result<double> number(std::string_view key);
  Result<bool> boolean(std::string_view key, std::optional<bool> fallback = std::nullopt);
  Result<ObjectReader> object(std::string_view key);
  Result<std::optional<ObjectReader>> opt_object(
      std::string_view key);  // absent or null -> nullopt
  Result<std::vector<json>> array(std::string_view key);
  Result<std::vector<std::string>> str_array(std::string_view key);
  bool has(std::string_view key) const;
  const json& raw() const { return obj_; }
  const std::string& pointer() const { return ptr_; }
  std::string child_pointer(std::string_view key) const;
  // Reports keys never read as "unknown field" warnings.
  void finish();
  // An error about `key` of this object.
  Error error_at(std::string_view key, std::string message, std::string hint = {}) const;

 private:
  Result<const json*> get(std::string_view key, bool required);
  const json& obj_;
  std::string ptr_;
  std::string source_;
  std::vector<std::string>* warnings_;
  std::set<std::string, std::less<>> read_;
};

// An ObjectReader over the root, failing if the root is not an object.
Result<ObjectReader> root_object(const json& root, std::string source,
                                 std::vector<std::string>* warnings);

}  // namespace sd35::jsonio
