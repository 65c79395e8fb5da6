// Fuzzes the manifest reader (manifest/manifest): any text is a manifest or an error naming the
// file and JSON pointer; an accepted manifest converts to its JSON form and digests its text.
#include "fuzz_check.hpp"
#include "manifest/manifest.hpp"
#include "util/sha256.hpp"

using sd35::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = sd35::fuzz::text_of(data, size);
  auto m = sd35::parse_manifest(text, "fuzz.json");
  if (!m) {
    sd35::fuzz::check_error(m.error());
    return 0;
  }
  check(m->digest == sd35::sha256_hex(text));
  check(m->source == "fuzz.json");
  (void)sd35::to_json(*m).dump();
  (void)m->model.known_bytes();
  return 0;
}
