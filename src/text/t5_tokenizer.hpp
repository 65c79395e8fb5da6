// The T5 tokenizer: a SentencePiece model (spiece.model) through Debian's libsentencepiece, as
// SD3's T5TokenizerFast runs it: encode, append </s>, truncate to 256 keeping </s>, pad with
// <pad> (0).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace sd35::text {

class T5Tokenizer {
 public:
  static constexpr std::size_t kLength = 256;

  static Result<T5Tokenizer> load(const std::filesystem::path& spiece_model);

  // The pieces' ids, without </s>.
  [[nodiscard]] std::vector<std::int64_t> encode(std::string_view text) const;
  // The `length` ids the encoder sees.
  [[nodiscard]] std::vector<std::int64_t> encode_padded(std::string_view text,
                                                        std::size_t length = kLength) const;

  [[nodiscard]] std::int64_t eos_id() const { return eos_; }
  [[nodiscard]] std::int64_t pad_id() const { return pad_; }

 private:
  // A SentencePieceProcessor inside libsd35spm.so (see src/text_spm/spm_shim.cpp).
  std::shared_ptr<void> model_;
  int (*encode_)(void*, const char*, int*, int) = nullptr;
  std::int64_t eos_ = 1;
  std::int64_t pad_ = 0;
};

}  // namespace sd35::text
