#include "store/path_glob.hpp"

namespace sd35::store {
namespace {

// Matches one character class starting at p[0] == '['; advances p past it. nullopt-like result:
// -1 malformed (treat '[' literally), 0 no match, 1 match.
int match_class(std::string_view& p, char c) noexcept {
  std::size_t i = 1;
  bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
  if (negate) ++i;
  bool hit = false, first = true;
  for (; i < p.size() && (first || p[i] != ']'); ++i, first = false) {
    char lo = p[i], hi = lo;
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      hi = p[i + 2];
      i += 2;
    }
    if (lo <= c && c <= hi) hit = true;
  }
  if (i >= p.size()) return -1;
  p.remove_prefix(i + 1);
  return hit != negate ? 1 : 0;
}

bool match(std::string_view p, std::string_view s) noexcept {  // NOLINT(misc-no-recursion)
  while (!p.empty()) {
    if (p.starts_with("**")) {
      std::string_view rest = p.substr(2);
      if (rest.starts_with("/")) {
        rest.remove_prefix(1);
        if (match(rest, s)) return true;
        for (std::size_t i = 0; i < s.size(); ++i)
          if (s[i] == '/' && match(rest, s.substr(i + 1))) return true;
        return false;
      }
      for (std::size_t i = 0; i <= s.size(); ++i)
        if (match(rest, s.substr(i))) return true;
      return false;
    }
    char c = p.front();
    if (c == '*') {
      std::string_view rest = p.substr(1);
      for (std::size_t i = 0; i <= s.size(); ++i) {
        if (match(rest, s.substr(i))) return true;
        if (i < s.size() && s[i] == '/') break;
      }
      return false;
    }
    if (s.empty()) return false;
    if (c == '?') {
      if (s.front() == '/') return false;
      p.remove_prefix(1);
    } else if (c == '[') {
      if (s.front() == '/') return false;
      std::string_view q = p;
      int r = match_class(q, s.front());
      if (r == 0) return false;
      if (r < 0) {
        if (s.front() != '[') return false;
        q = p.substr(1);
      }
      p = q;
    } else {
      if (c == '\\' && p.size() > 1) {
        p.remove_prefix(1);
        c = p.front();
      }
      if (c != s.front()) return false;
      p.remove_prefix(1);
    }
    s.remove_prefix(1);
  }
  return s.empty();
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) noexcept {
  return match(pattern, path);
}

}  // namespace sd35::store
