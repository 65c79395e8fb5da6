// The tokenizers (src/text) against the whole-pipeline fixture (tests/data/sd3-pipeline): the ids
// of every prompt and negative prompt exactly as the reference's CLIPTokenizer x2 and
// T5TokenizerFast gave them, and unusual inputs with expectations worked out by hand from the
// fixture's vocab.json / merges.txt.
#include "text/tokenizers.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/pipeline_fixture_dir.hpp"
#include "support/test_env.hpp"
#include "text/unicode.hpp"
#include "util/fs.hpp"

namespace sd35 {
namespace {

namespace stdfs = std::filesystem;
using Ids = std::vector<std::int64_t>;

const text::Tokenizers& tokenizers() {
  static const text::Tokenizers t = [] {
    auto files = text::find_tokenizers({test::pipeline_fixture_dir(), {}, {}});
    EXPECT_TRUE(files) << files.error().describe();
    auto loaded = text::Tokenizers::load(*files);
    EXPECT_TRUE(loaded) << loaded.error().describe();
    return *loaded;
  }();
  return t;
}

const nlohmann::json& vocab() {
  static const nlohmann::json v =
      nlohmann::json::parse(*fs::read_file(test::pipeline_fixture_dir() / "tokenizer/vocab.json"));
  return v;
}

std::int64_t id(const std::string& token) {
  EXPECT_TRUE(vocab().contains(token)) << token;
  return vocab().value(token, std::int64_t{-1});
}

Ids clip_l(const std::string& s) {
  return tokenizers().clip_l().encode(s, text::ClipPad::end_token);
}
Ids clip_g(const std::string& s) {
  return tokenizers().clip_g().encode(s, text::ClipPad::exclamation);
}

TEST(Tokenizers, EveryPromptAndNegativeEqualsTheReference) {
  const auto ref =
      nlohmann::json::parse(*fs::read_file(test::pipeline_fixture_dir() / "reference.json"));
  std::vector<std::string> texts = ref["prompts"].get<std::vector<std::string>>();
  for (const auto& n : ref["negative_prompts"]) texts.push_back(n.get<std::string>());
  ASSERT_EQ(texts.size(), 4u);
  const smoke::TokenIds ids = tokenizers().encode(texts);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const std::string n = std::to_string(i);
    EXPECT_EQ(ids.clip_l[i], ref["token_ids"]["clip_l/" + n].get<Ids>()) << texts[i];
    EXPECT_EQ(ids.clip_g[i], ref["token_ids"]["clip_g/" + n].get<Ids>()) << texts[i];
    EXPECT_EQ(ids.t5xxl[i], ref["token_ids"]["t5xxl/" + n].get<Ids>()) << texts[i];
    EXPECT_EQ(ids.clip_l[i].size(), 77u);
    EXPECT_EQ(ids.t5xxl[i].size(), 256u);
  }
}

TEST(Tokenizers, EmptyPromptIsStartEndThenPad) {
  const auto ids = tokenizers().encode({""});
  const std::int64_t start = id("<|startoftext|>"), end = id("<|endoftext|>"), bang = id("!");
  Ids l(77, end), g(77, bang), t(256, 0);
  l[0] = g[0] = start;
  g[1] = end;
  t[0] = 1;
  EXPECT_EQ(ids.clip_l[0], l);
  EXPECT_EQ(ids.clip_g[0], g);
  EXPECT_EQ(ids.t5xxl[0], t);
}

TEST(Tokenizers, LongPromptsAreTruncatedKeepingTheEndToken) {
  std::string text;
  for (int i = 0; i < 300; ++i) text += "a ";
  const auto ids = tokenizers().encode({text});
  Ids expect(77, id("a</w>"));
  expect.front() = id("<|startoftext|>");
  expect.back() = id("<|endoftext|>");
  EXPECT_EQ(ids.clip_l[0], expect);
  EXPECT_EQ(ids.clip_g[0], expect);  // full: no pad at all
  const Ids one = tokenizers().t5().encode("a");
  ASSERT_EQ(one.size(), 1u);
  Ids t5(256, one[0]);
  t5.back() = 1;
  EXPECT_EQ(ids.t5xxl[0], t5);
}

TEST(Tokenizers, RunsOfWhitespaceAreOneSpaceAndCaseIsFolded) {
  const Ids plain = clip_l("a majestic mountain");
  EXPECT_EQ(plain, (Ids{id("a</w>"), id("majestic</w>"), id("mountain</w>")}));
  EXPECT_EQ(clip_l("  A \t Majestic\n\n  MOUNTAIN  "), plain);
  EXPECT_EQ(clip_l("a\u00a0majestic\u3000mountain"), plain);  // NBSP, ideographic space
  EXPECT_EQ(tokenizers().t5().encode("a    majestic  mountain"),
            tokenizers().t5().encode("a majestic mountain"));
}

TEST(Tokenizers, ApostrophesFollowTheClipRegex) {
  // "cat's" -> "cat" + the contraction "'s"; an apostrophe before no contraction is punctuation.
  EXPECT_EQ(clip_l("cat's"), (Ids{id("cat</w>"), id("'s</w>")}));
  EXPECT_EQ(clip_l("cat 's"), (Ids{id("cat</w>"), id("'s</w>")}));
  EXPECT_EQ(clip_l("''a"), (Ids{id("'"), id("'</w>"), id("a</w>")}));
  const auto pieces = text::clip_pretokenize(text::clip_normalize("A cat's 8k toy!!, don't"));
  const std::vector<std::u32string> expect{U"a",   U"cat", U"'s",  U"8", U"k",
                                           U"toy", U"!!,", U"don", U"'t"};
  EXPECT_EQ(pieces, expect);
}

TEST(Tokenizers, ExclamationIsClipGsPadTokenButPunctuationForClipL) {
  // Fixture README: "!" is a registered special token of CLIP-G (its pad), so it is split out of
  // the text before the regex; for CLIP-L a run "!!" is one piece, BPE'd without a merge.
  EXPECT_EQ(clip_l("bokeh!"), (Ids{id("bokeh</w>"), id("!</w>")}));
  EXPECT_EQ(clip_g("bokeh!"), (Ids{id("bokeh</w>"), id("!")}));
  EXPECT_EQ(clip_l("!!"), (Ids{id("!"), id("!</w>")}));
  EXPECT_EQ(clip_g("!!"), (Ids{id("!"), id("!")}));
  // The special tokens in the text are their ids, not BPE pieces.
  EXPECT_EQ(clip_l("a<|endoftext|>a"), (Ids{id("a</w>"), id("<|endoftext|>"), id("a</w>")}));
}

TEST(Tokenizers, NonAsciiIsNfcLowerCasedAndByteLevel) {
  // é = C3 A9 -> byte symbols "Ã", "©"; merges.txt has "Ã ©</w>", "f Ã©</w>", "ca fÃ©</w>".
  const Ids cafe{id("cafÃ©</w>")};
  EXPECT_EQ(clip_l("café"), cafe);
  EXPECT_EQ(clip_l("cafe\u0301"), cafe);  // decomposed: NFC composes it
  EXPECT_EQ(clip_l("CAFÉ"), cafe);        // non-ASCII upper case
  EXPECT_EQ(clip_l("ÜBER"), (Ids{id("Ã¼ber</w>")}));
  EXPECT_EQ(clip_l("naïve"), (Ids{id("naÃ¯ve</w>")}));
  // Letters of any script form one piece, digits are single pieces.
  EXPECT_EQ(text::clip_pretokenize(text::clip_normalize("日本12")),
            (std::vector<std::u32string>{U"日本", U"1", U"2"}));
  // Ill-formed UTF-8 becomes U+FFFD (EF BF BD), encoded byte by byte, never a crash.
  EXPECT_FALSE(clip_l("bad \xff byte").empty());
}

TEST(Tokenizers, UnicodeHelpers) {
  EXPECT_EQ(text::decode_utf8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
            (std::u32string{U'a', 0xE9, 0x20AC, 0x1F600}));
  EXPECT_EQ(text::encode_utf8(U"a\u00e9\u20ac\U0001F600"), "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_EQ(text::decode_utf8("\xc0\xaf"), (std::u32string{0xFFFD, 0xFFFD}));  // overlong
  EXPECT_EQ(text::nfc(U"e\u0301"), U"\u00e9");
  EXPECT_EQ(text::lower(U"\u0130\u03a3A"), U"i\u0307\u03c3a");  // İ, lone Σ, A
  EXPECT_TRUE(text::is_letter(U'日'));
  EXPECT_TRUE(text::is_number(U'٣'));  // Arabic-Indic three
  EXPECT_TRUE(text::is_space(0x3000));
  EXPECT_FALSE(text::is_letter(U'!'));
}

TEST(Tokenizers, FindTokenizersSaysWhatIsMissing) {
  test::TempDir dir;
  dir.write("tok/tokenizer/vocab.json", "{}");
  auto r = text::find_tokenizers({dir / "tok", {}, {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::bad_input);
  EXPECT_NE(r.error().message.find("tokenizer/merges.txt"), std::string::npos);
  EXPECT_NE(r.error().message.find("tokenizer_3/spiece.model"), std::string::npos);
  auto none = text::find_tokenizers({{}, dir / "model.safetensors", {}});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, Errc::usage);
  EXPECT_NE(none.error().hint.find("--tokenizers"), std::string::npos);
  // A diffusers folder's own tokenizers: from the folder, its transformer/ or a file in it.
  for (const char* rel :
       {"tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer_3/spiece.model"}) {
    stdfs::create_directories((dir / "repo" / rel).parent_path());
    stdfs::copy_file(test::pipeline_fixture_dir() / rel, dir / "repo" / rel);
  }
  stdfs::create_directories(dir / "repo/transformer");
  for (const auto& ckpt :
       {dir / "repo", dir / "repo/transformer", dir / "repo/model.safetensors"}) {
    auto found = text::find_tokenizers({{}, ckpt, {}});
    ASSERT_TRUE(found) << ckpt;
    EXPECT_EQ(found->clip_l, dir / "repo/tokenizer");
    EXPECT_EQ(found->clip_g, dir / "repo/tokenizer");
  }
  dir.write("repo/tokenizer_3/spiece.model", "not a model");
  auto bad = text::Tokenizers::load(*text::find_tokenizers({dir / "repo", {}, {}}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, Errc::bad_input);
}

TEST(Tokenizers, MalformedVocabOrMergesAreBadInput) {
  EXPECT_EQ(text::ClipBpe::from_text("[]", "", "x").error().code, Errc::bad_input);
  EXPECT_EQ(text::ClipBpe::from_text(R"({"!":0})", "", "x").error().code, Errc::bad_input);
  EXPECT_EQ(text::ClipBpe::from_text(R"({"!":0,"<|startoftext|>":1,"<|endoftext|>":2})",
                                     "#version: 0.2\na b c\n", "x")
                .error()
                .code,
            Errc::bad_input);
}

}  // namespace
}  // namespace sd35
