// Fuzzes PEP 440 (compat/pep440). Input: "<version>\n<specifiers>". A parsed version's
// normalised form parses to an equal version; a parsed specifier set's string form parses to
// the same set; containment is decided without throwing.
#include <string_view>

#include "compat/pep440.hpp"
#include "fuzz_check.hpp"

using sd35::fuzz::check;
namespace pep440 = sd35::pep440;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = sd35::fuzz::text_of(data, size);
  const auto nl = text.find('\n');
  const auto version_text = text.substr(0, nl);
  const auto spec_text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);

  auto v = pep440::parse_version(version_text);
  if (v) {
    auto again = pep440::parse_version(v->str());
    check(again.has_value() && pep440::compare(*v, *again) == 0 && again->str() == v->str());
    check(pep440::compare(*v, *v) == 0);
    (void)v->public_str();
  }
  auto specs = pep440::parse_specifiers(spec_text);
  if (!specs) return 0;
  auto again = pep440::parse_specifiers(specs->str());
  check(again.has_value() && again->str() == specs->str());
  if (v) {
    const bool in = specs->contains(*v);
    check(again->contains(*v) == in);
    (void)specs->contains(*v, true);
  }
  return 0;
}
