// The few Unicode operations the tokenizers need, over UTF-8 text: NFC, the character classes of
// the CLIP pre-tokenizer regex (\s, \p{L}, \p{N}) and a per-character full lower-case mapping.
// ICU (libicu, `icu-uc`) answers them; nothing of ICU leaks out of text/unicode.cpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sd35::text {

// Code points of UTF-8 text; an ill-formed sequence becomes U+FFFD (as Python's "replace").
std::u32string decode_utf8(std::string_view utf8);
std::string encode_utf8(std::u32string_view cps);

// Canonical composition (NFC) of a code point sequence.
std::u32string nfc(std::u32string_view cps);

// Unicode White_Space, General_Category L* (letters) and N* (numbers).
bool is_space(char32_t c);
bool is_letter(char32_t c);
bool is_number(char32_t c);

// Each character's full lower-case mapping, without context (as Rust's char::to_lowercase, which
// the reference tokenizers use): U+0130 -> "i\u0307", final sigma stays σ.
std::u32string lower(std::u32string_view cps);

}  // namespace sd35::text
