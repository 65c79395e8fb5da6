// Fuzzes the safetensors header rules: the input is a whole file (8-byte length + header + data),
// checked the way read_header/File::open check it. Any crash, sanitizer report or exception is a
// bug.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "safetensors/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  sd35::st::Violation why;
  auto n = sd35::st::header_length(data, size, &why);
  if (!n) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 8, *n);
  auto h = sd35::st::parse_header(text, size - 8 - *n, &why);
  if (h) {
    // Invariants a valid header guarantees to every loader.
    std::uint64_t at = 0;
    for (const auto& t : h->tensors) {
      if (t.begin != at || t.end < t.begin) __builtin_trap();
      if (t.nbytes() != t.numel() * sd35::st::dtype_size(t.dtype) && t.numel() != 0)
        __builtin_trap();
      at = t.end;
    }
    if (at != h->data_size) __builtin_trap();
  } else if (why.rule.empty()) {
    __builtin_trap();  // every rejection names its rule
  }
  return 0;
}
