// PEP 440 versions and specifier sets (https://peps.python.org/pep-0440/).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace sd35::pep440 {

struct Version {
  int epoch = 0;
  std::vector<long long> release;                 // 1.2.3 -> {1,2,3}
  std::optional<std::pair<char, long long>> pre;  // 'a', 'b', 'c' (rc) + number
  std::optional<long long> post;
  std::optional<long long> dev;
  std::string local;  // after '+', normalised lowercase, '.'-separated

  [[nodiscard]] std::string str() const;         // normalised form
  [[nodiscard]] std::string public_str() const;  // without the local part
  [[nodiscard]] bool is_prerelease() const { return pre.has_value() || dev.has_value(); }
};

// Accepts the PEP's permitted spellings (case, 'v' prefix, '-'/'_' separators,
// alpha/beta/pre/preview/rc, implicit post "1.0-1", implicit numbers "1.0a"); rejects anything
// else.
Result<Version> parse_version(std::string_view text);
// Total order of PEP 440 (local versions sort after the public one).
int compare(const Version& a, const Version& b);

struct Specifier {
  std::string op;       // ~= == != <= >= < > ===
  std::string version;  // as written, may end with ".*" for == and !=
};

struct SpecifierSet {
  std::vector<Specifier> specs;
  // PEP 440 semantics; pre-releases match only when `prereleases` or when a spec names one.
  [[nodiscard]] bool contains(const Version& v, bool prereleases = false) const;
  [[nodiscard]] std::string str() const;
};

Result<SpecifierSet> parse_specifiers(std::string_view text);

}  // namespace sd35::pep440
