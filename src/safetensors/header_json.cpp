#include "safetensors/header_json.hpp"

#include <cstdint>
#include <set>
#include <vector>

namespace sd35::st::detail {

std::optional<std::size_t> first_invalid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1Fu, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0Fu, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07u, min = 0x10000;
    } else {
      return i;  // continuation byte without a lead, or 0xF8..0xFF
    }
    if (n - i < len) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::nullopt;
}

namespace {

// Thrown from the parser callback to stop at the first duplicate key or excessive nesting.
struct StopParse {
  JsonProblem problem;
};

// A safetensors header is two levels deep ({name: {shape: [..]}}); anything far deeper is hostile.
constexpr int kMaxDepth = 64;

}  // namespace

std::optional<nlohmann::json> parse_strict(std::string_view text, JsonProblem& problem) {
  std::vector<std::set<std::string, std::less<>>> keys;  // one set per open object
  auto callback = [&keys](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    switch (event) {
      case E::object_start:
      case E::array_start:
        if (depth >= kMaxDepth) {
          throw StopParse{{JsonProblem::Kind::syntax,
                           "nesting deeper than " + std::to_string(kMaxDepth) + " levels"}};
        }
        if (event == E::object_start) keys.emplace_back();
        break;
      case E::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case E::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!keys.empty() && !keys.back().insert(key).second) {
          throw StopParse{{JsonProblem::Kind::duplicate_key, key}};
        }
        break;
      }
      default:
        break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                                 /*ignore_comments=*/false);
  } catch (const StopParse& stop) {
    problem = stop.problem;
  } catch (const nlohmann::json::exception& e) {
    problem = {JsonProblem::Kind::syntax, e.what()};
  } catch (const std::exception& e) {  // bad_alloc on absurd input: still a finding, not a crash
    problem = {JsonProblem::Kind::syntax, e.what()};
  }
  return std::nullopt;
}

}  // namespace sd35::st::detail
