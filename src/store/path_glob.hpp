// fnmatch-style patterns over repository paths for `fetch --include`, matched against the whole
// '/'-separated path: `*` and `?` stay within one path part, `[...]`/`[!...]` is a character
// class, `\` escapes, and `**` spans any number of parts (so "**/*.json" also matches "a.json").
// Runs in O(pattern × path) time; a pattern or path over 4096 bytes matches nothing.
#pragma once

#include <string_view>

namespace sd35::store {

bool glob_match(std::string_view pattern, std::string_view path) noexcept;

}  // namespace sd35::store
