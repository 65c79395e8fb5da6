#include "text/t5_tokenizer.hpp"

#include <fmt/format.h>
#include <sentencepiece_processor.h>

#include <system_error>

namespace sd35::text {

Result<T5Tokenizer> T5Tokenizer::load(const std::filesystem::path& spiece_model) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(spiece_model, ec))
    return make_error(Errc::not_found, "no SentencePiece model", spiece_model.string(),
                      "the T5 tokenizer is tokenizer_3/spiece.model of a diffusers SD3 repository");
  T5Tokenizer t;
  t.sp_ = std::make_shared<sentencepiece::SentencePieceProcessor>();
  const auto status = t.sp_->Load(spiece_model.string());
  if (!status.ok())
    return make_error(Errc::bad_input,
                      fmt::format("cannot read the SentencePiece model: {}", status.ToString()),
                      spiece_model.string(), "use the spiece.model of a T5 tokenizer");
  if (t.sp_->eos_id() < 0)
    return make_error(Errc::bad_input, "the SentencePiece model has no </s> token",
                      spiece_model.string(), "use the spiece.model of a T5 tokenizer");
  t.eos_ = t.sp_->eos_id();
  t.pad_ = t.sp_->pad_id() >= 0 ? t.sp_->pad_id() : 0;
  return t;
}

std::vector<std::int64_t> T5Tokenizer::encode(std::string_view text) const {
  std::vector<int> ids;
  // Encode fails only on an unloaded model, which load() rules out; then no ids.
  if (!sp_->Encode(std::string(text), &ids).ok()) ids.clear();
  return {ids.begin(), ids.end()};
}

std::vector<std::int64_t> T5Tokenizer::encode_padded(std::string_view text,
                                                     std::size_t length) const {
  std::vector<std::int64_t> ids = encode(text);
  if (length == 0) return {};
  if (ids.size() > length - 1) ids.resize(length - 1);
  ids.push_back(eos_);
  ids.resize(length, pad_);
  return ids;
}

}  // namespace sd35::text
