// The CLIP byte-level BPE tokenizer, OpenAI format (vocab.json + merges.txt), as the reference
// pipeline's CLIPTokenizer runs it: special tokens split out of the raw text, then NFC, runs of
// whitespace -> one space, strip, lower-case, the CLIP pre-tokenizer regex
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// (matched by hand over code points, leftmost alternative first), each piece's UTF-8 bytes mapped
// to GPT-2's printable byte alphabet, "</w>" on the last symbol, merges by rank, then
// <|startoftext|> ids <|endoftext|>, truncated to 77 keeping the end token, padded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "util/result.hpp"

namespace sd35::text {

// How one CLIP encoder's tokenizer differs: SD3's CLIP-L pads with <|endoftext|>; CLIP-G
// (tokenizer_2) pads with "!", which is registered as a special token, so a "!" in the prompt is
// that token (id of "!") there and "!</w>" for CLIP-L.
enum class ClipPad { end_token, exclamation };

class ClipBpe {
 public:
  static constexpr std::size_t kLength = 77;

  // Reads <dir>/vocab.json and <dir>/merges.txt.
  static Result<ClipBpe> load(const std::filesystem::path& dir);
  static Result<ClipBpe> from_text(std::string_view vocab_json, std::string_view merges_txt,
                                   const std::string& source);

  // The ids between the start and end tokens (no truncation, no padding).
  [[nodiscard]] std::vector<std::int64_t> encode(std::string_view text, ClipPad pad) const;
  // The 77 ids the text encoder sees.
  [[nodiscard]] std::vector<std::int64_t> encode_padded(std::string_view text, ClipPad pad) const;

  [[nodiscard]] std::int64_t start_id() const { return start_; }
  [[nodiscard]] std::int64_t end_id() const { return end_; }
  [[nodiscard]] std::int64_t pad_id(ClipPad pad) const {
    return pad == ClipPad::end_token ? end_ : exclamation_;
  }

 private:
  void bpe(const std::string& piece, std::vector<std::int64_t>& out) const;
  std::int64_t id_of(const std::string& symbol) const;

  std::unordered_map<std::string, std::int64_t> vocab_;
  std::unordered_map<std::string, int> ranks_;  // "left right" -> merge rank
  std::int64_t start_ = 0;
  std::int64_t end_ = 0;
  std::int64_t exclamation_ = 0;
};

// The CLIP pre-tokenizer over normalised text: exposed for the tests.
std::u32string clip_normalize(std::string_view text);
std::vector<std::u32string> clip_pretokenize(std::u32string_view normalized);

}  // namespace sd35::text
