// Fuzzes the strict JSON reader every user file goes through (util/json_reader): parse errors
// name source:line:column; a parsed document dumps and re-parses to the same value; the
// ObjectReader accessors never throw whatever the types are.
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "util/json_reader.hpp"

using sd35::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto doc = sd35::jsonio::parse(sd35::fuzz::text_of(data, size), "fuzz.json");
  if (!doc) {
    sd35::fuzz::check_error(doc.error());
    check(doc.error().where.rfind("fuzz.json", 0) == 0);  // syntax errors add :line:col
    return 0;
  }
  const std::string dumped = doc->dump();
  auto again = sd35::jsonio::parse(dumped, "again.json");
  check(again.has_value() && *again == *doc);
  (void)sd35::jsonio::type_name(*doc);

  std::vector<std::string> warnings;
  auto root = sd35::jsonio::root_object(*doc, "fuzz.json", &warnings);
  if (!root) return 0;
  // Every accessor on every key, whatever its type: results or errors, never exceptions.
  for (const auto& [key, value] : doc->items()) {
    (void)root->str(key);
    (void)root->opt_str(key);
    (void)root->u64(key);
    (void)root->opt_u64(key);
    (void)root->i64(key);
    (void)root->number(key);
    (void)root->boolean(key);
    (void)root->array(key);
    (void)root->str_array(key);
    if (auto child = root->opt_object(key); child && *child) {
      for (const auto& [k2, v2] : value.items()) (void)(*child)->str(k2);
      (*child)->finish();
    }
    (void)root->object(key);
    (void)value;
  }
  (void)root->str("absent");
  root->finish();
  return 0;
}
