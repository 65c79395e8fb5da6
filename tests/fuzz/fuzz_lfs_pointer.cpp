// Fuzzes the Git LFS pointer parser: a parsed pointer must re-format to exactly the input
// (the spec allows one encoding) unless it carried extension keys.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lfs/pointer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)sd35::lfs::looks_like_pointer(text);
  auto p = sd35::lfs::parse_pointer(text);
  if (p) {
    if (p->oid.size() != 64) __builtin_trap();
    auto again = sd35::lfs::parse_pointer(sd35::lfs::format_pointer(*p));
    if (!again || again->oid != p->oid || again->size != p->size) __builtin_trap();
  }
  return 0;
}
