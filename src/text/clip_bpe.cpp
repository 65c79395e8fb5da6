#include "text/clip_bpe.hpp"

#include <fmt/format.h>

#include <array>
#include <climits>
#include <nlohmann/json.hpp>

#include "text/unicode.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace sd35::text {
namespace {

constexpr std::u32string_view kStart = U"<|startoftext|>";
constexpr std::u32string_view kEnd = U"<|endoftext|>";
constexpr const char* kStartText = "<|startoftext|>";
constexpr const char* kEndText = "<|endoftext|>";

// GPT-2's reversible byte -> printable character map: the printable Latin-1 bytes stand for
// themselves, the other 68 bytes for U+0100 onwards in byte order. Held as UTF-8 strings.
const std::array<std::string, 256>& byte_symbols() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
      t[static_cast<std::size_t>(b)] = encode_utf8(std::u32string_view(&cp, 1));
    }
    return t;
  }();
  return table;
}

bool starts_with_at(std::u32string_view s, std::size_t i, std::u32string_view what) {
  return s.substr(i, what.size()) == what;
}

// The contraction alternatives 's|'t|'re|'ve|'m|'ll|'d, in the regex's order.
std::size_t contraction_length(std::u32string_view s, std::size_t i) {
  static constexpr std::array<std::u32string_view, 7> kForms{U"'s", U"'t",  U"'re", U"'ve",
                                                             U"'m", U"'ll", U"'d"};
  for (auto form : kForms)
    if (starts_with_at(s, i, form)) return form.size();
  return 0;
}

// Splits raw text on the special tokens (longest first at each position): (text, -1) pieces to
// tokenize and (token, id) pieces that are ids already.
std::vector<std::pair<std::string, std::int64_t>> split_specials(
    std::string_view text, const std::vector<std::pair<std::string, std::int64_t>>& specials) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  std::string pending;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::pair<std::string, std::int64_t>* hit = nullptr;
    for (const auto& s : specials)
      if (text.substr(i, s.first.size()) == s.first && (!hit || s.first.size() > hit->first.size()))
        hit = &s;
    if (hit == nullptr) {
      pending.push_back(text[i++]);
      continue;
    }
    if (!pending.empty()) out.emplace_back(std::move(pending), -1);
    pending.clear();
    out.emplace_back(hit->first, hit->second);
    i += hit->first.size();
  }
  if (!pending.empty()) out.emplace_back(std::move(pending), -1);
  return out;
}

}  // namespace

std::u32string clip_normalize(std::string_view text) {
  const std::u32string composed = nfc(decode_utf8(text));
  std::u32string collapsed;
  collapsed.reserve(composed.size());
  bool in_space = false;
  for (char32_t c : composed) {
    if (is_space(c)) {
      in_space = true;
      continue;
    }
    if (in_space && !collapsed.empty()) collapsed.push_back(U' ');
    in_space = false;
    collapsed.push_back(c);
  }
  return lower(collapsed);
}

std::vector<std::u32string> clip_pretokenize(std::u32string_view s) {
  std::vector<std::u32string> out;
  std::size_t i = 0;
  const auto run = [&](auto&& pred) {
    std::size_t j = i;
    while (j < s.size() && pred(s[j])) ++j;
    return j - i;
  };
  while (i < s.size()) {
    std::size_t len = 0;
    if (starts_with_at(s, i, kStart)) {
      len = kStart.size();
    } else if (starts_with_at(s, i, kEnd)) {
      len = kEnd.size();
    } else if ((len = contraction_length(s, i)) != 0) {
    } else if (is_letter(s[i])) {
      len = run(is_letter);
    } else if (is_number(s[i])) {
      len = 1;
    } else if (!is_space(s[i])) {
      len = run([](char32_t c) { return !is_space(c) && !is_letter(c) && !is_number(c); });
    } else {
      ++i;  // whitespace belongs to no alternative
      continue;
    }
    out.emplace_back(s.substr(i, len));
    i += len;
  }
  return out;
}

Result<ClipBpe> ClipBpe::from_text(std::string_view vocab_json, std::string_view merges_txt,
                                   const std::string& source) {
  ClipBpe t;
  auto vocab = nlohmann::json::parse(vocab_json, nullptr, false);
  if (vocab.is_discarded() || !vocab.is_object())
    return make_error(
        Errc::bad_input, "vocab.json is not a JSON object of token -> id", source,
        "use the vocab.json of a CLIP tokenizer (e.g. a diffusers tokenizer/ folder)");
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer())
      return make_error(Errc::bad_input,
                        fmt::format("vocab.json: id of \"{}\" is not an integer", token), source,
                        "use an unmodified CLIP vocab.json");
    t.vocab_[token] = id.get<std::int64_t>();
  }
  int rank = 0;
  for (auto line : str::split(merges_txt, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (rank == 0 && line.rfind("#version", 0) == 0)) continue;
    const auto space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos)
      return make_error(Errc::bad_input,
                        fmt::format("merges.txt: line \"{}\" is not two symbols", line), source,
                        "use an unmodified CLIP merges.txt");
    t.ranks_.emplace(std::string(line), rank++);
  }
  const auto need = [&](const char* token, std::int64_t& id) -> Status {
    auto it = t.vocab_.find(token);
    if (it == t.vocab_.end())
      return make_error(Errc::bad_input, fmt::format("vocab.json has no \"{}\"", token), source,
                        "use the vocab.json of a CLIP tokenizer");
    id = it->second;
    return {};
  };
  SD35_TRY_STATUS(need(kStartText, t.start_));
  SD35_TRY_STATUS(need(kEndText, t.end_));
  SD35_TRY_STATUS(need("!", t.exclamation_));
  return t;
}

Result<ClipBpe> ClipBpe::load(const std::filesystem::path& dir) {
  SD35_TRY(std::string vocab, fs::read_file(dir / "vocab.json"));
  SD35_TRY(std::string merges, fs::read_file(dir / "merges.txt"));
  return from_text(vocab, merges, dir.string());
}

std::int64_t ClipBpe::id_of(const std::string& symbol) const {
  auto it = vocab_.find(symbol);
  return it == vocab_.end() ? end_ : it->second;  // unk is <|endoftext|>
}

void ClipBpe::bpe(const std::string& piece, std::vector<std::int64_t>& out) const {
  if (piece == kStartText || piece == kEndText) {  // as OpenAI's tokenizer: the token itself
    out.push_back(piece == kStartText ? start_ : end_);
    return;
  }
  std::vector<std::string> word;
  for (unsigned char b : piece) word.push_back(byte_symbols()[b]);
  if (word.empty()) return;
  word.back() += "</w>";
  while (word.size() > 1) {
    int best = INT_MAX;
    std::size_t at = 0;
    for (std::size_t k = 0; k + 1 < word.size(); ++k) {
      auto it = ranks_.find(word[k] + ' ' + word[k + 1]);
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        at = k;
      }
    }
    if (best == INT_MAX) break;
    // Merge every occurrence of the best pair, left to right.
    const std::string left = word[at];
    const std::string right = word[at + 1];
    std::vector<std::string> merged;
    for (std::size_t k = 0; k < word.size(); ++k) {
      if (k + 1 < word.size() && word[k] == left && word[k + 1] == right) {
        merged.push_back(left + right);
        ++k;
      } else {
        merged.push_back(word[k]);
      }
    }
    word = std::move(merged);
  }
  for (const auto& symbol : word) out.push_back(id_of(symbol));
}

std::vector<std::int64_t> ClipBpe::encode(std::string_view text, ClipPad pad) const {
  std::vector<std::pair<std::string, std::int64_t>> specials{{kStartText, start_},
                                                             {kEndText, end_}};
  if (pad == ClipPad::exclamation) specials.emplace_back("!", exclamation_);
  std::vector<std::int64_t> ids;
  for (const auto& [piece, id] : split_specials(text, specials)) {
    if (id >= 0) {
      ids.push_back(id);
      continue;
    }
    for (const auto& word : clip_pretokenize(clip_normalize(piece))) bpe(encode_utf8(word), ids);
  }
  return ids;
}

std::vector<std::int64_t> ClipBpe::encode_padded(std::string_view text, ClipPad pad) const {
  std::vector<std::int64_t> ids = encode(text, pad);
  if (ids.size() > kLength - 2) ids.resize(kLength - 2);
  std::vector<std::int64_t> out;
  out.reserve(kLength);
  out.push_back(start_);
  out.insert(out.end(), ids.begin(), ids.end());
  out.push_back(end_);
  out.resize(kLength, pad_id(pad));
  return out;
}

}  // namespace sd35::text
