#include "store/path_glob.hpp"

#include <vector>

namespace sd35::store {
namespace {

// The pattern is compiled to tokens and run as an NFA over the path: one pass over the path with
// a set of live pattern positions, O(pattern × path) in the worst case. (A backtracking matcher
// is exponential in the number of stars, which the fuzzer found with a 4 KiB pattern.)
enum class Kind { literal, any_char, char_class, star, any_run, any_parts };

struct Token {
  Kind kind;
  char literal = 0;
  std::string_view set;  // the class between '[' and ']', negation included
};

// Parses a class at p[0] == '['; returns its length including both brackets, 0 when malformed
// (then '[' is a literal). A ']' right after '[' or '[!' belongs to the set.
std::size_t class_length(std::string_view p) noexcept {
  std::size_t i = 1;
  if (i < p.size() && (p[i] == '!' || p[i] == '^')) ++i;
  if (i < p.size() && p[i] == ']') ++i;
  while (i < p.size() && p[i] != ']') ++i;
  return i < p.size() ? i + 1 : 0;
}

bool class_matches(std::string_view set, char c) noexcept {
  bool negate = !set.empty() && (set[0] == '!' || set[0] == '^');
  if (negate) set.remove_prefix(1);
  bool hit = false;
  for (std::size_t i = 0; i < set.size(); ++i) {
    char lo = set[i], hi = lo;
    if (i + 2 < set.size() && set[i + 1] == '-') {
      hi = set[i + 2];
      i += 2;
    }
    if (lo <= c && c <= hi) hit = true;
  }
  return hit != negate;
}

std::vector<Token> compile(std::string_view p) {
  std::vector<Token> tokens;
  while (!p.empty()) {
    if (p.starts_with("**/")) {
      tokens.push_back(Token{Kind::any_parts, 0, {}});
      p.remove_prefix(3);
    } else if (p.starts_with("**")) {
      tokens.push_back(Token{Kind::any_run, 0, {}});
      p.remove_prefix(2);
    } else if (p[0] == '*') {
      tokens.push_back(Token{Kind::star, 0, {}});
      p.remove_prefix(1);
    } else if (p[0] == '?') {
      tokens.push_back(Token{Kind::any_char, 0, {}});
      p.remove_prefix(1);
    } else if (std::size_t n = p[0] == '[' ? class_length(p) : 0; n > 0) {
      tokens.push_back(Token{Kind::char_class, 0, p.substr(1, n - 2)});
      p.remove_prefix(n);
    } else {
      if (p[0] == '\\' && p.size() > 1) p.remove_prefix(1);
      tokens.push_back(Token{Kind::literal, p[0], {}});
      p.remove_prefix(1);
    }
  }
  return tokens;
}

// Live states: 2*i is "at token i"; 2*i+1 is "inside a part skipped by the `**/` at token i"
// (no `/` seen since the last part began, so the pattern may not resume yet).
class Nfa {
 public:
  explicit Nfa(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  bool run(std::string_view path) {
    std::vector<char> live(2 * tokens_.size() + 2, 0), next(live.size(), 0);
    enter(live, 0);
    for (char c : path) {
      std::fill(next.begin(), next.end(), 0);
      bool any = false;
      for (std::size_t state = 0; state < live.size(); ++state)
        if (live[state]) any |= step(next, state, c);
      if (!any) return false;
      live.swap(next);
    }
    return live[2 * tokens_.size()] != 0;
  }

 private:
  // Marks token i live, with the tokens reachable from it without consuming a character.
  void enter(std::vector<char>& live, std::size_t i) const {
    for (; i <= tokens_.size() && !live[2 * i]; ++i) {
      live[2 * i] = 1;
      if (i == tokens_.size()) return;
      Kind k = tokens_[i].kind;
      if (k != Kind::star && k != Kind::any_run && k != Kind::any_parts) return;
    }
  }

  bool step(std::vector<char>& next, std::size_t state, char c) const {
    std::size_t i = state / 2;
    if (i == tokens_.size()) return false;
    const Token& t = tokens_[i];
    bool slash = c == '/';
    if (state % 2 == 1 || t.kind == Kind::any_parts) {  // skipping whole parts
      if (slash)
        enter(next, i);
      else
        next[2 * i + 1] = 1;
      return true;
    }
    switch (t.kind) {
      case Kind::literal:
        return advance(next, i, c == t.literal);
      case Kind::any_char:
        return advance(next, i, !slash);
      case Kind::char_class:
        return advance(next, i, !slash && class_matches(t.set, c));
      case Kind::star:
        if (slash) return false;
        enter(next, i);
        return true;
      default:  // any_run: any character, '/' included
        enter(next, i);
        return true;
    }
  }

  bool advance(std::vector<char>& next, std::size_t i, bool ok) const {
    if (ok) enter(next, i + 1);
    return ok;
  }

  std::vector<Token> tokens_;
};

}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) noexcept {
  // Longer than any path a file system takes (PATH_MAX): nothing to match, and it bounds the work.
  constexpr std::size_t max_length = 4096;
  if (pattern.size() > max_length || path.size() > max_length) return false;
  try {
    return Nfa(compile(pattern)).run(path);
  } catch (...) {  // only allocation can throw; a pattern we cannot hold matches nothing
    return false;
  }
}

}  // namespace sd35::store
