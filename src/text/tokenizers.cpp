#include "text/tokenizers.hpp"

#include <fmt/format.h>

#include <system_error>

namespace sd35::text {
namespace {

namespace stdfs = std::filesystem;

bool is_file(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::is_regular_file(p, ec);
}

bool is_dir(const stdfs::path& p) {
  std::error_code ec;
  return stdfs::is_directory(p, ec);
}

// The files of a diffusers-style folder that are missing ("" when it has all).
std::vector<std::string> missing_in(const stdfs::path& dir) {
  std::vector<std::string> missing;
  for (const char* rel :
       {"tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer_3/spiece.model"})
    if (!is_file(dir / rel)) missing.emplace_back(rel);
  return missing;
}

TokenizerFiles files_of(const stdfs::path& dir) {
  TokenizerFiles f;
  f.clip_l = dir / "tokenizer";
  const bool own_g =
      is_file(dir / "tokenizer_2/vocab.json") && is_file(dir / "tokenizer_2/merges.txt");
  f.clip_g = own_g ? dir / "tokenizer_2" : f.clip_l;
  f.t5 = dir / "tokenizer_3/spiece.model";
  return f;
}

// A checkpoint's own folder(s) that could hold the tokenizers.
std::vector<stdfs::path> checkpoint_folders(const stdfs::path& checkpoint) {
  if (checkpoint.empty()) return {};
  std::vector<stdfs::path> out;
  const stdfs::path dir = is_dir(checkpoint) ? checkpoint : checkpoint.parent_path();
  out.push_back(dir);
  if (dir.filename() == "transformer" || dir.filename().empty()) out.push_back(dir.parent_path());
  return out;
}

constexpr const char* kNeeded =
    "tokenizer/vocab.json + tokenizer/merges.txt (CLIP) and tokenizer_3/spiece.model (T5), as in a "
    "diffusers SD3.5 repository (e.g. stabilityai/stable-diffusion-3.5-large)";

}  // namespace

Result<TokenizerFiles> find_tokenizers(const TokenizerSearch& search) {
  if (!search.explicit_dir.empty()) {
    const auto missing = missing_in(search.explicit_dir);
    if (!missing.empty())
      return make_error(Errc::bad_input,
                        fmt::format("--tokenizers folder lacks {}", fmt::join(missing, ", ")),
                        search.explicit_dir.string(), std::string("it must hold ") + kNeeded);
    return files_of(search.explicit_dir);
  }
  std::vector<stdfs::path> folders = checkpoint_folders(search.checkpoint);
  folders.insert(folders.end(), search.candidates.begin(), search.candidates.end());
  for (const auto& dir : folders)
    if (missing_in(dir).empty()) return files_of(dir);
  return make_error(
      Errc::usage, "no tokenizer files for --prompt",
      search.checkpoint.empty() ? std::string("--tokenizers") : search.checkpoint.string(),
      std::string("pass --tokenizers DIR holding ") + kNeeded +
          "; the Comfy-Org FP8 single file carries none");
}

Result<Tokenizers> Tokenizers::load(const TokenizerFiles& files) {
  Tokenizers t;
  SD35_TRY(t.clip_l_, ClipBpe::load(files.clip_l));
  if (files.clip_g == files.clip_l) {
    t.clip_g_ = t.clip_l_;
  } else {
    SD35_TRY(t.clip_g_, ClipBpe::load(files.clip_g));
  }
  SD35_TRY(t.t5_, T5Tokenizer::load(files.t5));
  return t;
}

smoke::TokenIds Tokenizers::encode(const std::vector<std::string>& prompts) const {
  smoke::TokenIds ids;
  for (const auto& p : prompts) {
    ids.clip_l.push_back(clip_l_->encode_padded(p, ClipPad::end_token));
    ids.clip_g.push_back(clip_g_->encode_padded(p, ClipPad::exclamation));
    ids.t5xxl.push_back(t5_->encode_padded(p));
  }
  return ids;
}

}  // namespace sd35::text
