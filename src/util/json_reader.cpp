#include "util/json_reader.hpp"

#include <fmt/format.h>

#include "util/fs.hpp"

namespace sd35::jsonio {
namespace {

// The deepest nesting parse() accepts (objects and arrays): our files need fewer than 10.
constexpr int kMaxDepth = 256;

// JSON pointer escaping (RFC 6901).
std::string escape_token(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out += c;
  }
  return out;
}

}  // namespace

std::string_view type_name(const json& v) noexcept {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    default:
      return "value";
  }
}

Result<json> parse(std::string_view text, std::string_view source) {
  // Deeper documents are refused while parsing: dumping or walking one recurses per level, and a
  // hostile file 64 KiB deep would overflow the stack.
  bool too_deep = false;
  json::parser_callback_t limit = [&too_deep](int depth, json::parse_event_t, json&) {
    if (depth <= kMaxDepth) return true;
    too_deep = true;
    return false;  // discard the value: nothing deeper is kept
  };
  try {
    json doc = json::parse(text.begin(), text.end(), limit);
    if (too_deep)
      return make_error(Errc::bad_input,
                        fmt::format("JSON nested deeper than {} levels", kMaxDepth),
                        std::string(source), "this is not a file sd35-setup reads or writes");
    return doc;
  } catch (const json::parse_error& e) {
    // e.byte is 1-based and points just past the offending character.
    std::size_t byte = e.byte == 0 ? 0 : e.byte - 1;
    if (byte > text.size()) byte = text.size();
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < byte; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    if (auto pos = what.find("syntax error"); pos != std::string::npos) what = what.substr(pos);
    return make_error(Errc::bad_input, fmt::format("invalid JSON: {}", what),
                      fmt::format("{}:{}:{}", source, line, col),
                      "fix the JSON syntax at that place");
  } catch (const json::exception& e) {
    // Not a syntax error but a value nlohmann cannot hold (a number beyond double, 1e400).
    std::string what = e.what();
    if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    return make_error(Errc::bad_input, fmt::format("invalid JSON: {}", what), std::string(source),
                      "fix the value; numbers must fit a double");
  }
}

Result<json> parse_file(const std::string& path) {
  auto text = fs::read_file(path);
  if (!text) return text.error();  // a missing file is Errc::missing_file (exit 2)
  return parse(*text, path);
}

ObjectReader::ObjectReader(const json& object, std::string pointer, std::string source,
                           std::vector<std::string>* warnings)
    : obj_(object), ptr_(std::move(pointer)), source_(std::move(source)), warnings_(warnings) {}

std::string ObjectReader::child_pointer(std::string_view key) const {
  return ptr_ + "/" + escape_token(key);
}

Error ObjectReader::error_at(std::string_view key, std::string message, std::string hint) const {
  return make_error(Errc::bad_input, std::move(message),
                    fmt::format("{}: {}", source_, child_pointer(key)), std::move(hint));
}

bool ObjectReader::has(std::string_view key) const {
  return obj_.contains(std::string(key));
}

Result<const json*> ObjectReader::get(std::string_view key, bool required) {
  read_.emplace(key);
  auto it = obj_.find(std::string(key));
  if (it == obj_.end()) {
    if (required) return error_at(key, "missing required field", "add it (see docs/manifest.md)");
    return static_cast<const json*>(nullptr);
  }
  return &*it;
}

#define SD35_EXPECT_TYPE(cond, what)                                                        \
  if (!(cond))                                                                              \
  return error_at(key, fmt::format("wrong type: expected {}, got {}", what, type_name(*v)), \
                  "correct the value's type")

Result<std::string> ObjectReader::str(std::string_view key) {
  SD35_TRY(const json* v, get(key, true));
  SD35_EXPECT_TYPE(v->is_string(), "string");
  return v->get<std::string>();
}

Result<std::optional<std::string>> ObjectReader::opt_str(std::string_view key) {
  SD35_TRY(const json* v, get(key, false));
  if (!v || v->is_null()) return std::optional<std::string>{};
  SD35_EXPECT_TYPE(v->is_string(), "string or null");
  return std::optional<std::string>(v->get<std::string>());
}

Result<std::string> ObjectReader::str_or_empty(std::string_view key) {
  SD35_TRY(auto v, opt_str(key));
  return std::move(v).value_or("");
}

Result<std::uint64_t> ObjectReader::u64(std::string_view key) {
  SD35_TRY(const json* v, get(key, true));
  SD35_EXPECT_TYPE(
      v->is_number_unsigned() || (v->is_number_integer() && v->get<std::int64_t>() >= 0),
      "non-negative integer");
  return v->get<std::uint64_t>();
}

Result<std::optional<std::uint64_t>> ObjectReader::opt_u64(std::string_view key) {
  if (!has(key) || obj_.at(std::string(key)).is_null()) {
    read_.emplace(key);
    return std::optional<std::uint64_t>{};
  }
  SD35_TRY(std::uint64_t v, u64(key));
  return std::optional<std::uint64_t>(v);
}

Result<std::int64_t> ObjectReader::i64(std::string_view key) {
  SD35_TRY(const json* v, get(key, true));
  SD35_EXPECT_TYPE(v->is_number_integer(), "integer");
  return v->get<std::int64_t>();
}

Result<double> ObjectReader::number(std::string_view key) {
  SD35_TRY(const json* v, get(key, true));
  SD35_EXPECT_TYPE(v->is_number(), "number");
  return v->get<double>();
}

Result<bool> ObjectReader::boolean(std::string_view key, std::optional<bool> fallback) {
  SD35_TRY(const json* v, get(key, !fallback.has_value()));
  if (!v) return *fallback;
  SD35_EXPECT_TYPE(v->is_boolean(), "boolean");
  return v->get<bool>();
}

Result<ObjectReader> ObjectReader::object(std::string_view key) {
  SD35_TRY(const json* v, get(key, true));
  SD35_EXPECT_TYPE(v->is_object(), "object");
  return ObjectReader(*v, child_pointer(key), source_, warnings_);
}

Result<std::optional<ObjectReader>> ObjectReader::opt_object(std::string_view key) {
  SD35_TRY(const json* v, get(key, false));
  if (!v || v->is_null()) return std::optional<ObjectReader>{};
  SD35_EXPECT_TYPE(v->is_object(), "object or null");
  return std::optional<ObjectReader>(ObjectReader(*v, child_pointer(key), source_, warnings_));
}

Result<std::vector<json>> ObjectReader::array(std::string_view key) {
  SD35_TRY(const json* v, get(key, true));
  SD35_EXPECT_TYPE(v->is_array(), "array");
  return v->get<std::vector<json>>();
}

Result<std::vector<std::string>> ObjectReader::str_array(std::string_view key) {
  SD35_TRY(const json* v, get(key, true));
  SD35_EXPECT_TYPE(v->is_array(), "array of strings");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    if (!item.is_string())
      return make_error(
          Errc::bad_input, fmt::format("wrong type: expected string, got {}", type_name(item)),
          fmt::format("{}: {}/{}", source_, child_pointer(key), i), "correct the value's type");
    out.push_back(item.get<std::string>());
  }
  return out;
}

#undef SD35_EXPECT_TYPE

void ObjectReader::finish() {
  if (!warnings_) return;
  for (const auto& [k, v] : obj_.items()) {
    if (!read_.count(k))
      warnings_->push_back(
          fmt::format("{}: {}: unknown field (ignored)", source_, child_pointer(k)));
  }
}

Result<ObjectReader> root_object(const json& root, std::string source,
                                 std::vector<std::string>* warnings) {
  if (!root.is_object())
    return make_error(
        Errc::bad_input,
        fmt::format("wrong type: expected an object at the top, got {}", type_name(root)),
        source + ": (root)", "the file must be a JSON object");
  return ObjectReader(root, "", std::move(source), warnings);
}

}  // namespace sd35::jsonio
