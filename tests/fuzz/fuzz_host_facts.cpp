// Fuzzes the host facts reader behind `--host FILE` (host/host_facts): accepted facts write back
// to JSON that reads to the same facts (to_json is the format the reader reads).
#include "fuzz_check.hpp"
#include "host/host_facts.hpp"
#include "util/json_reader.hpp"

using sd35::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto doc = sd35::jsonio::parse(sd35::fuzz::text_of(data, size), "host.json");
  if (!doc) return 0;
  auto facts = sd35::host_facts_from_json(*doc, "host.json");
  if (!facts) {
    sd35::fuzz::check_error(facts.error());
    return 0;
  }
  const auto written = sd35::to_json(*facts);
  auto again = sd35::host_facts_from_json(written, "written.json");
  check(again.has_value());
  check(sd35::to_json(*again) == written);
  (void)facts->primary_python();
  (void)facts->disk_for("cache");
  return 0;
}
