// A manifest whose model has extra files from a second repository (the tokenizers of a single-file
// checkpoint): fetched into that repository's own cache folder, gathered at their `as` paths for
// smoke's --tokenizers, verified, and locked with their commit and hashes; the lock names the
// endpoint the files came from (HF_ENDPOINT).
#include "app/verify.hpp"
#include "fetch/model_extras.hpp"
#include "lock/model_state.hpp"
#include "net/fetch_fixture.hpp"

namespace sd35::testing {
namespace {

class FetchExtras : public FetchTest {
 protected:
  static void SetUpTestSuite() {
    FetchTest::SetUpTestSuite();
    tok_ = new json(
        hub_->make_repo({{"name", "tok"},
                         {"files",
                          {{{"path", "vocab.json"}, {"content", "{\"!\": 0, \"a</w>\": 1}\n"}},
                           {{"path", "merges.txt"}, {"content", "#version: 0.2\na b\n"}},
                           {{"path", "spiece.model"}, {"lfs", true}, {"size", 4096}, {"seed", 7}},
                           {{"path", "README.md"}, {"content", "not selected\n"}}}}}));
  }
  static void TearDownTestSuite() {
    delete tok_;
    FetchTest::TearDownTestSuite();
  }

  // model: acme/tiny's config.json; extras from acme/tok (`repo_prefix` "" : org/name against
  // HF_ENDPOINT, else the hub's URL). merges.txt has no sha256: a placeholder verify reports.
  app::GlobalOptions write_manifest(const std::string& repo_prefix) const {
    const std::string head = tok_->at("head");
    json extras = json::array();
    extras.push_back({{"repo", repo_prefix + "acme/tok"},
                      {"revision", head},
                      {"path", "vocab.json"},
                      {"as", "tokenizer/vocab.json"},
                      {"sha256", file_of(*tok_, "vocab.json").at("sha256")}});
    extras.push_back({{"repo", repo_prefix + "acme/tok"},
                      {"revision", head},
                      {"path", "merges.txt"},
                      {"as", "tokenizer/merges.txt"}});
    extras.push_back({{"repo", repo_prefix + "acme/tok"},
                      {"revision", head},
                      {"path", "spiece.model"},
                      {"as", "tokenizer_3/spiece.model"},
                      {"size", 4096},
                      {"sha256", file_of(*tok_, "spiece.model").at("oid")}});
    json m = {{"schema_version", 1},
              {"name", "extras-test"},
              {"model",
               {{"repo", repo_prefix + "acme/tiny"},
                {"revision", "main"},
                {"format", "diffusers"},
                {"architecture", "sd35-large"},
                {"files", {{{"path", "config.json"}}}},
                {"extra_files", extras}}},
              {"environment",
               {{"python", ">=3.10"}, {"candidates", {{{"torch", "2.9.1"}, {"cuda", {"cpu"}}}}}}}};
    sfs::create_directories(cache_);
    const auto path = cache_.parent_path() / (cache_.filename().string() + "-manifest.json");
    std::ofstream(path) << m.dump(1);
    app::GlobalOptions g;
    g.cache_dir = cache_.string();
    g.manifest_path = path.string();
    return g;
  }

  static inline json* tok_ = nullptr;
};

TEST_F(FetchExtras, ExtraFilesAreFetchedVerifiedAndLocked) {
  const auto g = write_manifest(hub_->git_url() + "/");
  CollectingReporter rep;
  auto r = app::fetch(g, {}, rep);
  ASSERT_TRUE(r) << r.error().describe();
  const json doc = rep.results.back().second;
  const std::string head = tok_->at("head");
  ASSERT_EQ(doc.at("extras").size(), 1u) << doc.dump(1);
  EXPECT_EQ(doc["extras"][0].at("repo"), "acme/tok");
  EXPECT_EQ(doc["extras"][0].at("commit"), head);
  EXPECT_EQ(doc["extras"][0].at("files").size(), 3u);
  // Its own cache folder and snapshot; nothing unselected.
  const auto snap = snapshot("models--acme--tok", head);
  EXPECT_TRUE(sfs::is_symlink(snap / "vocab.json"));
  EXPECT_FALSE(sfs::exists(snap / "README.md"));
  // The folder smoke's --tokenizers defaults to.
  const sfs::path tok_dir = doc.at("tokenizers").get<std::string>();
  EXPECT_EQ(*fs::read_file(tok_dir / "tokenizer/vocab.json"), "{\"!\": 0, \"a</w>\": 1}\n");
  EXPECT_EQ(sfs::file_size(tok_dir / "tokenizer_3/spiece.model"), 4096u);
  auto again = fetch::tokenizers_dir(*load_manifest(g.manifest_path), app::hub_env_for(g));
  ASSERT_TRUE(again) << again.error().describe();
  EXPECT_EQ(*again, tok_dir);

  CollectingReporter vrep;
  auto v = app::verify(g, {}, vrep);
  ASSERT_TRUE(v) << v.error().describe();
  EXPECT_EQ(*v, app::Outcome::ok) << vrep.results.back().second.dump(1);
  const json vdoc = vrep.results.back().second;
  ASSERT_EQ(vdoc.at("extra_files").size(), 3u);
  for (const auto& f : vdoc["extra_files"]) EXPECT_TRUE(f.at("ok").get<bool>()) << f.dump();
  int unpinned = 0;
  for (const auto& f : vrep.findings)
    if (f.id == "model.extra.pins") {
      ++unpinned;
      EXPECT_EQ(f.file, "tokenizer/merges.txt");
      EXPECT_EQ(f.verdict, Verdict::warn);
    }
  EXPECT_EQ(unpinned, 1);

  const auto model = lock::model_from_cache(*load_manifest(g.manifest_path), app::hub_env_for(g));
  EXPECT_TRUE(model.verified);
  EXPECT_EQ(model.repo, hub_->repo_url("acme", "tiny"));
  ASSERT_EQ(model.extra_files.size(), 3u);
  for (const auto& x : model.extra_files) {
    EXPECT_EQ(x.commit, head) << x.as;
    EXPECT_EQ(x.repo, hub_->repo_url("acme", "tok"));
  }
  EXPECT_EQ(model.extra_files[2].oid, file_of(*tok_, "spiece.model").at("oid"));
  auto checks = lock::check_model_files(model, cache_);
  ASSERT_TRUE(checks) << checks.error().describe();
  ASSERT_EQ(checks->size(), 4u);
  for (const auto& c : *checks) EXPECT_TRUE(c.ok) << c.path << ": " << c.detail;
  EXPECT_EQ(checks->back().path, "tokenizer_3/spiece.model");

  // Offline: everything from the cache, the extras included.
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  CollectingReporter orep;
  auto offline = app::fetch(g, {}, orep);
  ::unsetenv("HF_HUB_OFFLINE");
  ASSERT_TRUE(offline) << offline.error().describe();
  EXPECT_EQ(orep.results.back().second.at("extras")[0].at("files").size(), 3u);
  // Literal paths (the manifest's file list) are found as the repository names them.
  EXPECT_EQ(orep.results.back().second.at("files")[0].at("path"), "config.json");
}

TEST_F(FetchExtras, VerifyFailsWhenAnExtraFileIsMissingOrWrong) {
  const auto g = write_manifest(hub_->git_url() + "/");
  CollectingReporter rep;
  ASSERT_TRUE(app::fetch(g, {}, rep));
  const auto link = snapshot("models--acme--tok", tok_->at("head")) / "vocab.json";
  sfs::remove(link);
  std::ofstream(link) << "{\"tampered\": 1}\n";
  CollectingReporter vrep;
  auto v = app::verify(g, {}, vrep);
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, app::Outcome::verification_failed);
  bool named = false;
  for (const auto& f : vrep.findings)
    if (f.verdict == Verdict::fail && f.file == "tokenizer/vocab.json") named = true;
  EXPECT_TRUE(named);
  sfs::remove_all(cache_ / "models--acme--tok");
  auto dir = fetch::tokenizers_dir(*load_manifest(g.manifest_path), app::hub_env_for(g));
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code, Errc::not_found);
  EXPECT_NE(dir.error().hint.find("sd35-setup fetch"), std::string::npos);
}

TEST_F(FetchExtras, LockRecordsTheEndpointTheModelCameFrom) {
  ::setenv("HF_ENDPOINT", hub_->git_url().c_str(), 1);
  const auto g = write_manifest("");
  CollectingReporter rep;
  auto r = app::fetch(g, {}, rep);
  ASSERT_TRUE(r) << r.error().describe();
  const auto model = lock::model_from_cache(*load_manifest(g.manifest_path), app::hub_env_for(g));
  ::unsetenv("HF_ENDPOINT");
  EXPECT_EQ(model.repo, hub_->git_url() + "/acme/tiny");
  ASSERT_EQ(model.extra_files.size(), 3u);
  EXPECT_EQ(model.extra_files[0].repo, hub_->git_url() + "/acme/tok");
  EXPECT_EQ(model.repo.find("huggingface.co"), std::string::npos);
}

}  // namespace
}  // namespace sd35::testing
