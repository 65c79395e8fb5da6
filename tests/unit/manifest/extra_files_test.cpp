// manifest model.extra_files: parsed, validated, pinned or placeholder; the default manifest's
// tokenizers are placeholders (no verified commit or sha256 was at hand).
#include <gtest/gtest.h>

#include "manifest/manifest.hpp"

namespace sd35 {
namespace {

std::string manifest_with(const std::string& extra) {
  return R"({"schema_version": 1, "name": "t",
    "model": {"repo": "acme/model", "revision": "main", "format": "sai-single-file",
              "architecture": "sd35-large", "files": [{"path": "m.safetensors", "size": 10}],
              "extra_files": [)" +
         extra + R"(]},
    "environment": {"python": ">=3.10", "candidates": [{"torch": "2.9.1", "cuda": ["cpu"]}]}})";
}

TEST(ManifestExtraFiles, ParsedWithAsDefaultingToPath) {
  auto m = parse_manifest(
      manifest_with(
          R"({"repo": "openai/clip", "revision": "0123456789abcdef0123456789abcdef01234567",
                        "path": "vocab.json", "as": "tokenizer/vocab.json", "size": 5,
                        "sha256": ")" +
          std::string(64, 'a') + R"("},
                       {"repo": "google/t5", "revision": "main", "path": "spiece.model"})"),
      "m.json");
  ASSERT_TRUE(m) << m.error().describe();
  ASSERT_EQ(m->model.extra_files.size(), 2u);
  EXPECT_EQ(m->model.extra_files[0].as, "tokenizer/vocab.json");
  EXPECT_TRUE(m->model.extra_files[0].pinned());
  EXPECT_EQ(m->model.extra_files[1].as, "spiece.model");
  EXPECT_FALSE(m->model.extra_files[1].pinned());
  EXPECT_EQ(m->model.known_bytes(), 15u);
  EXPECT_TRUE(m->warnings.empty());
  EXPECT_EQ(to_json(*m)["model"]["extra_files"].size(), 2u);
}

TEST(ManifestExtraFiles, PathsThatLeaveTheFolderAndBadReposAreRefused) {
  auto up = parse_manifest(
      manifest_with(R"({"repo": "a/b", "revision": "main", "path": "x", "as": "../x"})"), "m.json");
  ASSERT_FALSE(up);
  EXPECT_NE(up.error().where.find("/model/extra_files/0"), std::string::npos)
      << up.error().describe();
  auto repo = parse_manifest(
      manifest_with(R"({"repo": "just-a-name", "revision": "main", "path": "x"})"), "m.json");
  ASSERT_FALSE(repo);
  EXPECT_EQ(repo.error().code, Errc::bad_input);
}

// The default manifest pins each tokenizer file by commit, size and sha256 (what `verify` and the
// lock check), at the commits of the repositories that carry them.
TEST(ManifestExtraFiles, DefaultManifestPinsTheTokenizers) {
  auto m = default_manifest();
  ASSERT_TRUE(m) << m.error().describe();
  std::vector<std::string> as;
  for (const auto& x : m->model.extra_files) {
    as.push_back(x.as);
    EXPECT_TRUE(x.pinned()) << x.as;
    EXPECT_EQ(x.revision.size(), 40u) << x.as;
    ASSERT_TRUE(x.sha256) << x.as;
    EXPECT_EQ(x.sha256->size(), 64u) << x.as;
    EXPECT_TRUE(x.size) << x.as;
  }
  EXPECT_EQ(as, (std::vector<std::string>{"tokenizer/vocab.json", "tokenizer/merges.txt",
                                          "tokenizer_3/spiece.model"}));
  ASSERT_EQ(m->model.extra_files.size(), 3u);
  EXPECT_EQ(m->model.extra_files[0].revision, m->model.extra_files[1].revision)
      << "one CLIP commit";
  EXPECT_EQ(*m->model.extra_files[2].size, 791656u) << "the T5 v1.1 SentencePiece model";
}

}  // namespace
}  // namespace sd35
