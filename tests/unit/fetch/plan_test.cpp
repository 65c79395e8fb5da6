// fetch/plan: what a fetch asks for (repositories, revisions, globs, pins) and what a tree's
// entries become (regular blobs, LFS pointers), with no network.
#include "fetch/plan.hpp"

#include <gtest/gtest.h>

#include <map>

#include "lfs/pointer.hpp"
#include "support/test_env.hpp"
#include "util/sha256.hpp"

namespace sd35::fetch {
namespace {

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";
const std::string kOid(64, 'a');

Manifest manifest_with_extras() {
  auto m = parse_manifest(R"({
    "schema_version": 1, "name": "t",
    "model": {"repo": "acme/model", "revision": "main", "format": "sai-single-file",
              "architecture": "sd35-large",
              "files": [{"path": "model.safetensors", "sha256": ")" +
                              kOid + R"("}],
              "extra_files": [
                {"repo": "acme/clip", "revision": "v1", "path": "vocab.json", "as": "tokenizer/vocab.json"},
                {"repo": "acme/clip", "revision": "v1", "path": "merges.txt", "as": "tokenizer/merges.txt",
                 "sha256": ")" +
                              std::string(64, 'b') + R"("},
                {"repo": "https://other.example/acme/t5", "revision": ")" +
                              kCommit + R"(",
                 "path": "spiece.model", "as": "tokenizer_3/spiece.model"}]},
    "environment": {"python": ">=3.10", "candidates": [{"torch": "2.9.1", "cuda": ["cpu"]}]}
  })",
                          "test");
  EXPECT_TRUE(m) << m.error().describe();
  return *m;
}

store::HubEnv hub(const std::string& endpoint = "") {
  return store::read_hub_env("/cache", [endpoint](const char* n) -> std::optional<std::string> {
    if (std::string(n) == "HF_ENDPOINT" && !endpoint.empty()) return endpoint;
    return std::nullopt;
  });
}

TEST(FetchPlan, ManifestModelBringsItsExtraRepositoriesEachWithItsOwnCacheFolder) {
  auto plan = make_plan(manifest_with_extras(), {}, hub("https://mirror.example"));
  ASSERT_TRUE(plan) << plan.error().describe();
  ASSERT_EQ(plan->repos.size(), 3u);
  const auto& model = plan->repos[0];
  EXPECT_FALSE(model.extra);
  EXPECT_EQ(model.repo_url, "https://mirror.example/acme/model");
  EXPECT_EQ(model.patterns, std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(model.pins.at("model.safetensors"), kOid);
  const auto& clip = plan->repos[1];
  EXPECT_TRUE(clip.extra);
  EXPECT_EQ(clip.repo_id, "acme/clip");
  EXPECT_EQ(clip.revision, "v1");
  EXPECT_EQ(clip.repo_url, "https://mirror.example/acme/clip");
  EXPECT_EQ(clip.patterns, (std::vector<std::string>{"vocab.json", "merges.txt"}));
  EXPECT_EQ(clip.pins.size(), 1u);
  EXPECT_EQ(clip.cache.root, std::filesystem::path("/cache/models--acme--clip"));
  const auto& t5 = plan->repos[2];
  EXPECT_EQ(t5.repo_url, "https://other.example/acme/t5");  // a URL bypasses HF_ENDPOINT
  EXPECT_EQ(t5.revision, kCommit);
}

TEST(FetchPlan, AnotherRepoOrIncludeFetchesNoExtras) {
  auto m = manifest_with_extras();
  auto other = make_plan(m, {"https://user:hf_x@hub.example/acme/other", "", {}}, hub());
  ASSERT_TRUE(other);
  ASSERT_EQ(other->repos.size(), 1u);
  EXPECT_EQ(other->repos[0].patterns, std::vector<std::string>{"**"});
  EXPECT_EQ(other->repos[0].repo_url, "https://hub.example/acme/other");  // no userinfo
  EXPECT_EQ(other->repos[0].url_username, "user");
  EXPECT_EQ(other->repos[0].revision, "main");
  auto include = make_plan(m, {"", "", {"*.json"}}, hub());
  ASSERT_TRUE(include);
  ASSERT_EQ(include->repos.size(), 1u);
  EXPECT_EQ(include->repos[0].patterns, std::vector<std::string>{"*.json"});
  // --repo naming the manifest's own model keeps its file list and extras.
  auto same = make_plan(m, {"acme/model", "", {}}, hub());
  ASSERT_TRUE(same);
  EXPECT_EQ(same->repos.size(), 3u);
}

// A tree as a bare repository would list it; blobs served from a map.
struct FakeTree {
  std::vector<git::TreeEntry> entries;
  std::map<std::string, std::string> blobs;
  void add(const std::string& path, const std::string& content, const std::string& id) {
    entries.push_back({path, id, content.size(), false});
    blobs[id] = content;
  }
  BlobReader reader() const {
    return [this](const std::string& id) -> Result<std::string> { return blobs.at(id); };
  }
};

std::string pointer(const std::string& oid, std::uint64_t size) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + oid + "\nsize " +
         std::to_string(size) + "\n";
}

RepoPlan repo(std::vector<std::string> patterns, std::map<std::string, std::string> pins = {}) {
  RepoPlan r;
  r.repo_id = "acme/model";
  r.repo_page = "https://hub.example/acme/model";
  r.cache = store::repo_cache("/nonexistent-cache", r.repo_id);
  r.patterns = std::move(patterns);
  r.pins = std::move(pins);
  return r;
}

TEST(FetchPlan, SelectionTellsPointersFromRegularFiles) {
  FakeTree t;
  t.add("README.md", "# hi\n", std::string(40, '1'));
  t.add("model.safetensors", pointer(kOid, 12345), std::string(40, '2'));
  t.add(".lfsconfig", "[lfs]\n\turl = https://lfs.example/x\n", std::string(40, '3'));
  auto s = select_files(repo({"*.md", "model.safetensors"}, {{"model.safetensors", kOid}}), kCommit,
                        t.entries, t.reader());
  ASSERT_TRUE(s) << s.error().describe();
  ASSERT_EQ(s->items.size(), 2u);
  EXPECT_FALSE(s->items[0].lfs);
  EXPECT_EQ(s->items[0].blob_id, std::string(40, '1'));
  EXPECT_TRUE(s->items[1].lfs);
  EXPECT_EQ(s->items[1].blob_id, kOid);
  EXPECT_EQ(s->items[1].size, 12345u);
  EXPECT_EQ(s->items[1].git_blob, std::string(40, '2'));
  EXPECT_FALSE(s->items[1].cached);
  EXPECT_EQ(s->lfs_url, "https://lfs.example/x");
}

TEST(FetchPlan, PinsHoldForLfsOidsAndForRegularFileContent) {
  FakeTree t;
  t.add("model.safetensors", pointer(std::string(64, 'c'), 10), std::string(40, '2'));
  t.add("vocab.json", "{\"a\": 0}", std::string(40, '4'));
  auto lfs_bad = select_files(repo({"model.safetensors"}, {{"model.safetensors", kOid}}), kCommit,
                              t.entries, t.reader());
  ASSERT_FALSE(lfs_bad);
  EXPECT_EQ(lfs_bad.error().code, Errc::integrity);
  EXPECT_NE(lfs_bad.error().message.find("pins " + kOid), std::string::npos);
  auto text_bad =
      select_files(repo({"vocab.json"}, {{"vocab.json", kOid}}), kCommit, t.entries, t.reader());
  ASSERT_FALSE(text_bad);
  EXPECT_EQ(text_bad.error().code, Errc::integrity);
  auto text_ok = select_files(repo({"vocab.json"}, {{"vocab.json", sha256_hex("{\"a\": 0}")}}),
                              kCommit, t.entries, t.reader());
  EXPECT_TRUE(text_ok) << text_ok.error().describe();
}

TEST(FetchPlan, HostilePathsAndMissingFilesStopBeforeAnyDownload) {
  FakeTree t;
  t.add("../evil.bin", "x", std::string(40, '5'));
  auto hostile = select_files(repo({"**"}), kCommit, t.entries, t.reader());
  ASSERT_FALSE(hostile);
  EXPECT_EQ(hostile.error().code, Errc::bad_input);
  FakeTree ok_tree;
  ok_tree.add("a.json", "{}", std::string(40, '6'));
  auto missing =
      select_files(repo({"a.json", "b.json"}), kCommit, ok_tree.entries, ok_tree.reader());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find("'b.json'"), std::string::npos);
  auto nothing = select_files(repo({"*.bin"}), kCommit, ok_tree.entries, ok_tree.reader());
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code, Errc::not_found);
}

}  // namespace
}  // namespace sd35::fetch
