// SD3's three tokenizers together: where their files are, loading them, and a batch of prompts
// -> the token ids of smoke_api's TokenIds (CLIP-L and CLIP-G [77], T5-XXL [256]).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "smoke_api/request.hpp"
#include "text/clip_bpe.hpp"
#include "text/t5_tokenizer.hpp"
#include "util/result.hpp"

namespace sd35::text {

// A folder laid out as a diffusers SD3 repository: tokenizer/{vocab.json,merges.txt} (CLIP-L),
// optional tokenizer_2/ (CLIP-G; tokenizer/ when absent, the files are the same in SD3) and
// tokenizer_3/spiece.model (T5).
struct TokenizerFiles {
  std::filesystem::path clip_l;  // folder with vocab.json + merges.txt
  std::filesystem::path clip_g;
  std::filesystem::path t5;  // spiece.model
};

// Where to look for the tokenizers, in order: the folder the user named (--tokenizers), the
// checkpoint's own diffusers folder (the folder itself, the parent of a transformer/ folder or
// the folder holding a checkpoint file), then any further candidates (e.g. the manifest's
// fetched tokenizer files, once the manifest lists them).
struct TokenizerSearch {
  std::filesystem::path explicit_dir;
  std::filesystem::path checkpoint;
  std::vector<std::filesystem::path> candidates;
};

// The one place that decides where the tokenizer files come from. Errc::bad_input naming what a
// named folder lacks; Errc::usage saying what is needed when nothing was found.
Result<TokenizerFiles> find_tokenizers(const TokenizerSearch& search);

class Tokenizers {
 public:
  static Result<Tokenizers> load(const TokenizerFiles& files);

  // One row per prompt in each of the three lists.
  [[nodiscard]] smoke::TokenIds encode(const std::vector<std::string>& prompts) const;

  [[nodiscard]] const ClipBpe& clip_l() const { return *clip_l_; }
  [[nodiscard]] const ClipBpe& clip_g() const { return *clip_g_; }
  [[nodiscard]] const T5Tokenizer& t5() const { return *t5_; }

 private:
  std::optional<ClipBpe> clip_l_;
  std::optional<ClipBpe> clip_g_;
  std::optional<T5Tokenizer> t5_;
};

}  // namespace sd35::text
