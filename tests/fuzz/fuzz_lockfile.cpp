// Fuzzes the lockfile reader (lock/lockfile). Each input is read twice: as written (the digest
// check must refuse edits) and re-signed with the digest of its body, so the fuzzer reaches the
// structure behind the digest. An accepted lock serializes to a lock that reads back to the
// same bytes, and its exports and diff run.
#include <string>

#include "fuzz_check.hpp"
#include "lock/lockfile.hpp"

using sd35::fuzz::check;
namespace lock = sd35::lock;

namespace {

void accepted(const lock::Lockfile& l) {
  const std::string text = lock::serialize(l);
  auto again = lock::parse(text, "again.json");
  check(again.has_value());
  check(lock::serialize(*again) == text);
  (void)lock::export_requirements(l);
  (void)lock::export_pylock(l);
  check(lock::diff(l, *again).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = sd35::fuzz::text_of(data, size);
  if (auto l = lock::parse(text, "fuzz.lock.json")) {
    accepted(*l);
  } else {
    sd35::fuzz::check_error(l.error());
  }
  // Re-signed: nlohmann without exceptions (a parse failure is a discarded value).
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return 0;
  doc.erase("lock_digest");
  doc["lock_digest"] = lock::digest_of(doc);
  if (auto l = lock::parse(doc.dump(), "signed.lock.json")) {
    accepted(*l);
  } else {
    sd35::fuzz::check_error(l.error());
  }
  return 0;
}
