// Git LFS pointer files (spec v1): what a blob must look like to be treated as an LFS object.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace sd35::lfs {

inline constexpr std::size_t kMaxPointerSize =
    1024;  // git-lfs never treats a larger blob as a pointer

struct Pointer {
  std::string oid;         // 64 lowercase hex (sha256)
  std::uint64_t size = 0;  // bytes of the real object
};

// Parses a pointer per https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md: "version" line
// first (https://git-lfs.github.com/spec/v1, or the pre-release hawser URL), then keys sorted
// alphabetically, each "key value\n"; "oid sha256:<64 hex>" and "size <decimal>" required.
// Errors name the line and say what is wrong (Errc::bad_input).
Result<Pointer> parse_pointer(std::string_view text);

// Cheap check used when scanning trees: could this blob be a pointer at all?
bool looks_like_pointer(std::string_view text) noexcept;

// Canonical pointer text for an oid/size (what git-lfs writes).
std::string format_pointer(const Pointer& p);

}  // namespace sd35::lfs
