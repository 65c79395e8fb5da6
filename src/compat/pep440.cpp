#include "compat/pep440.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>
#include <regex>
#include <tuple>

#include "util/strings.hpp"

namespace sd35::pep440 {
namespace {

constexpr std::size_t kMaxVersionLength = 256;

// The PEP's own canonical regular expression (Appendix B), case-insensitive.
const std::regex& version_re() {
  static const std::regex re(
      R"(^\s*v?(?:(?:([0-9]+)!)?([0-9]+(?:\.[0-9]+)*)([-_\.]?(alpha|a|beta|b|preview|pre|c|rc)[-_\.]?([0-9]+)?)?((?:-([0-9]+))|(?:[-_\.]?(post|rev|r)[-_\.]?([0-9]+)?))?([-_\.]?(dev)[-_\.]?([0-9]+)?)?)(?:\+([a-z0-9]+(?:[-_\.][a-z0-9]+)*))?\s*$)",
      std::regex::icase);
  return re;
}

// A run of ASCII digits as a number; nullopt when it does not fit (std::stoll would throw).
std::optional<long long> to_number(std::string_view digits) {
  long long v = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return v;
}

// Comparison key pieces per packaging.version._cmpkey.
int cmp_release(const std::vector<long long>& a, const std::vector<long long>& b) {
  std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    long long x = i < a.size() ? a[i] : 0, y = i < b.size() ? b[i] : 0;
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

// pre key: dev-only releases sort before any pre-release; no pre sorts after.
std::tuple<int, int, long long> pre_key(const Version& v) {
  if (!v.pre && !v.post && v.dev) return {-1, 0, 0};
  if (!v.pre) return {1, 0, 0};
  return {0, v.pre->first, v.pre->second};
}

int cmp_local(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return a.empty() == b.empty() ? 0 : (a.empty() ? -1 : 1);
  auto pa = str::split(a, '.'), pb = str::split(b, '.');
  for (std::size_t i = 0; i < std::min(pa.size(), pb.size()); ++i) {
    auto na = str::parse_u64(pa[i]), nb = str::parse_u64(pb[i]);
    if (na && nb) {
      if (*na != *nb) return *na < *nb ? -1 : 1;
    } else if (na || nb) {
      return na ? 1 : -1;  // numeric segments sort after alphanumeric ones
    } else if (pa[i] != pb[i]) {
      return pa[i] < pb[i] ? -1 : 1;
    }
  }
  return pa.size() == pb.size() ? 0 : (pa.size() < pb.size() ? -1 : 1);
}

bool prefix_match(const Version& v, const std::string& prefix_text) {
  auto pv = parse_version(prefix_text);
  if (!pv) return false;
  // Compare the release padded to the prefix length, plus any pre/post/dev the prefix names.
  std::vector<long long> rel = v.release;
  rel.resize(std::max(rel.size(), pv->release.size()), 0);
  if (v.epoch != pv->epoch) return false;
  for (std::size_t i = 0; i < pv->release.size(); ++i)
    if (rel[i] != pv->release[i]) return false;
  if (pv->pre && v.pre != pv->pre) return false;
  if (pv->post && v.post != pv->post) return false;
  if (pv->dev && v.dev != pv->dev) return false;
  return true;
}

bool spec_matches(const Specifier& s, const Version& v) {
  bool wildcard = s.version.ends_with(".*");
  if (wildcard) {
    bool m = prefix_match(v, s.version.substr(0, s.version.size() - 2));
    return s.op == "==" ? m : !m;
  }
  if (s.op == "===") return v.str() == s.version;
  auto sv = parse_version(s.version);
  if (!sv) return false;
  Version pub = v;
  if (sv->local.empty()) pub.local.clear();  // a spec without a local label ignores the candidate's
  int c = compare(pub, *sv);
  if (s.op == "==") return c == 0;
  if (s.op == "!=") return c != 0;
  if (s.op == "<=") return c <= 0;
  if (s.op == ">=") return c >= 0;
  if (s.op == "<") {
    // "<V" excludes pre-releases of V unless V is itself one.
    if (c >= 0) return false;
    if (!sv->is_prerelease() && v.is_prerelease() && cmp_release(v.release, sv->release) == 0)
      return false;
    return true;
  }
  if (s.op == ">") {
    // ">V" excludes post-releases of V unless V is one; local versions of V never match.
    if (c <= 0) return false;
    if (!sv->post && v.post && cmp_release(v.release, sv->release) == 0 && !v.pre) return false;
    if (!v.local.empty() &&
        compare(Version{v.epoch, v.release, v.pre, v.post, v.dev, ""}, *sv) == 0)
      return false;
    return true;
  }
  if (s.op == "~=") {
    // ~=X.Y.Z  ==  >=X.Y.Z, ==X.Y.*
    if (sv->release.size() < 2) return false;
    if (c < 0) return false;
    std::vector<long long> prefix(sv->release.begin(), sv->release.end() - 1);
    std::string ptxt;
    for (std::size_t i = 0; i < prefix.size(); ++i)
      ptxt += (i ? "." : "") + std::to_string(prefix[i]);
    if (sv->epoch) ptxt = std::to_string(sv->epoch) + "!" + ptxt;
    return prefix_match(v, ptxt);
  }
  return false;
}

}  // namespace

std::string Version::public_str() const {
  std::string out;
  if (epoch) out += fmt::format("{}!", epoch);
  for (std::size_t i = 0; i < release.size(); ++i)
    out += (i ? "." : "") + std::to_string(release[i]);
  if (pre)
    out += fmt::format("{}{}", pre->first == 'c' ? "rc" : std::string(1, pre->first), pre->second);
  if (post) out += fmt::format(".post{}", *post);
  if (dev) out += fmt::format(".dev{}", *dev);
  return out;
}

std::string Version::str() const {
  return local.empty() ? public_str() : public_str() + "+" + local;
}

Result<Version> parse_version(std::string_view text) {
  // std::regex matches recursively, a frame per character: thousands of characters overflow the
  // stack. Real versions are a few dozen characters.
  if (text.size() > kMaxVersionLength)
    return make_error(Errc::bad_input,
                      fmt::format("'{}...' is not a PEP 440 version (longer than {} characters)",
                                  text.substr(0, 32), kMaxVersionLength));
  std::string s(text);
  std::smatch m;
  if (!std::regex_match(s, m, version_re()))
    return make_error(Errc::bad_input, fmt::format("'{}' is not a PEP 440 version", text), {},
                      "write versions like 2.9.1, 0.0.33.post2 or 2.11.0+cu130");
  // Every number of the version fits a long long (the epoch an int), else it is refused.
  bool fits = true;
  auto num = [&fits](const std::ssub_match& g) -> long long {
    if (!g.matched) return 0;
    auto v = to_number(std::string_view(&*g.first, static_cast<std::size_t>(g.length())));
    fits = fits && v.has_value();
    return v.value_or(0);
  };
  Version v;
  const long long epoch = num(m[1]);
  fits = fits && epoch <= std::numeric_limits<int>::max();
  v.epoch = static_cast<int>(epoch);
  const std::string release = m[2].str();  // split() returns views: keep the string alive
  for (auto part : str::split(release, '.')) {
    auto n = to_number(part);
    fits = fits && n.has_value();
    v.release.push_back(n.value_or(0));
  }
  if (m[4].matched) {
    std::string l = str::to_lower(m[4].str());
    char kind = (l == "a" || l == "alpha") ? 'a' : (l == "b" || l == "beta") ? 'b' : 'c';
    v.pre = std::make_pair(kind, num(m[5]));
  }
  if (m[7].matched)
    v.post = num(m[7]);
  else if (m[8].matched)
    v.post = num(m[9]);
  if (m[11].matched) v.dev = num(m[12]);
  if (!fits)
    return make_error(Errc::bad_input,
                      fmt::format("'{}' has a number too large for a version", text), {},
                      "write versions like 2.9.1, 0.0.33.post2 or 2.11.0+cu130");
  if (m[13].matched) {
    std::string l = str::to_lower(m[13].str());
    std::replace(l.begin(), l.end(), '-', '.');
    std::replace(l.begin(), l.end(), '_', '.');
    v.local = l;
  }
  // Normalising can lengthen a version ("1c" is "1rc0"): one that would outgrow the limit is
  // refused here, so every version this accepts has a normal form that parses back.
  if (v.str().size() > kMaxVersionLength)
    return make_error(Errc::bad_input,
                      fmt::format("'{}...' is not a PEP 440 version (longer than {} characters "
                                  "once normalised)",
                                  text.substr(0, 32), kMaxVersionLength));
  return v;
}

int compare(const Version& a, const Version& b) {
  if (a.epoch != b.epoch) return a.epoch < b.epoch ? -1 : 1;
  if (int c = cmp_release(a.release, b.release)) return c;
  auto pa = pre_key(a), pb = pre_key(b);
  if (pa != pb) return pa < pb ? -1 : 1;
  long long posta = a.post ? *a.post : -1, postb = b.post ? *b.post : -1;
  if (posta != postb) return posta < postb ? -1 : 1;
  // No dev sorts after any dev.
  long long deva = a.dev ? *a.dev : (1LL << 62), devb = b.dev ? *b.dev : (1LL << 62);
  if (deva != devb) return deva < devb ? -1 : 1;
  return cmp_local(a.local, b.local);
}

bool SpecifierSet::contains(const Version& v, bool prereleases) const {
  bool allow_pre = prereleases;
  for (const auto& s : specs) {
    if (auto sv = parse_version(
            s.version.ends_with(".*") ? s.version.substr(0, s.version.size() - 2) : s.version);
        sv && sv->is_prerelease() && s.op != "!=")
      allow_pre = true;
  }
  if (v.is_prerelease() && !allow_pre) return false;
  return std::all_of(specs.begin(), specs.end(),
                     [&](const Specifier& s) { return spec_matches(s, v); });
}

std::string SpecifierSet::str() const {
  std::string out;
  for (std::size_t i = 0; i < specs.size(); ++i)
    out += (i ? "," : "") + specs[i].op + specs[i].version;
  return out;
}

Result<SpecifierSet> parse_specifiers(std::string_view text) {
  SpecifierSet set;
  if (str::trim(text).empty()) return set;
  for (auto part : str::split(text, ',')) {
    std::string p(str::trim(part));
    static const char* ops[] = {"===", "~=", "==", "!=", "<=", ">=", "<", ">"};
    Specifier s;
    for (const char* op : ops) {
      if (p.starts_with(op)) {
        s.op = op;
        s.version = std::string(str::trim(std::string_view(p).substr(std::string_view(op).size())));
        break;
      }
    }
    if (s.op.empty())
      return make_error(Errc::bad_input, fmt::format("'{}' is not a PEP 440 specifier", p), {},
                        "use operators such as >=3.10,<3.14 or ==2.9.*");
    if (s.op != "===") {
      std::string_view ver = s.version;
      bool wildcard = ver.ends_with(".*");
      if (wildcard && s.op != "==" && s.op != "!=")
        return make_error(Errc::bad_input,
                          fmt::format("'{}': '.*' is only allowed with == and !=", p));
      if (wildcard) ver.remove_suffix(2);
      auto parsed = parse_version(ver);
      if (!parsed)
        return make_error(Errc::bad_input, fmt::format("'{}': {}", p, parsed.error().message));
      if (s.op == "~=" && parsed->release.size() < 2)
        return make_error(Errc::bad_input,
                          fmt::format("'{}': ~= needs at least two release segments", p));
    }
    set.specs.push_back(std::move(s));
  }
  return set;
}

}  // namespace sd35::pep440
