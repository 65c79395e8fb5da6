// `fetch` against the local hub: cache layout byte-identical to a real git + git-lfs checkout,
// include filters, auth errors users can act on, no token anywhere, offline mode, preflight.
#include "net/fetch_fixture.hpp"
#include "util/strings.hpp"

namespace sd35::testing {
namespace {

// A real `git clone` with git-lfs smudging, isolated from the machine's git config.
sfs::path git_lfs_clone(const std::string& url, const sfs::path& dst, const sfs::path& home) {
  proc::Command c;
  c.env_overrides = {
      {"HOME", home.string()}, {"GIT_CONFIG_NOSYSTEM", "1"}, {"GIT_TERMINAL_PROMPT", "0"}};
  c.timeout = std::chrono::seconds(60);
  c.argv = {"git", "lfs", "install", "--skip-repo"};
  EXPECT_TRUE(proc::run(c).has_value());
  c.argv = {"git", "clone", "-q", url, dst.string()};
  auto r = proc::run(c);
  EXPECT_TRUE(r && r->success()) << (r ? r->err : r.error().describe());
  return dst;
}

TEST_F(FetchTest, CacheLayoutIsByteIdenticalToGitLfsCheckout) {
  auto run = fetch("acme/tiny");
  ASSERT_TRUE(run->result) << run->result.error().describe();
  const std::string commit = tiny_->at("head");
  auto doc = run->doc();
  EXPECT_EQ(doc.at("commit"), commit);
  EXPECT_EQ(doc.at("repo"), "acme/tiny");
  auto snap = snapshot("models--acme--tiny", commit);
  EXPECT_EQ(doc.at("snapshot"), snap.string());
  auto clone = git_lfs_clone(hub_->repo_url("acme", "tiny"), hub_->scratch() / "clone-tiny", home_);
  int compared = 0;
  for (const auto& f : tiny_->at("files")) {
    const std::string path = f.at("path");
    SCOPED_TRACE(path);
    auto link = snap / path;
    ASSERT_TRUE(sfs::is_symlink(link));
    EXPECT_TRUE(sfs::read_symlink(link).is_relative());
    const bool lfs = f.at("lfs");
    auto blob_name = sfs::read_symlink(link).filename().string();
    EXPECT_EQ(blob_name,
              lfs ? f.at("oid").get<std::string>() : f.at("blob_sha1").get<std::string>());
    EXPECT_EQ(*fs::read_file(link, 1u << 30), *fs::read_file(clone / path, 1u << 30));
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(tiny_->at("files").size()));
  EXPECT_EQ(fs::read_first_line(cache_ / "models--acme--tiny" / "refs" / "main"), commit);
  // Nothing but blobs in blobs/: no leftovers of the download.
  for (const auto& e : sfs::directory_iterator(cache_ / "models--acme--tiny" / "blobs"))
    EXPECT_EQ(e.path().extension(), "") << e.path();

  // A second run downloads nothing and needs no LFS request.
  hub_->reset_stats();
  auto again = fetch("acme/tiny");
  ASSERT_TRUE(again->result);
  EXPECT_EQ(again->doc().at("bytes_downloaded"), 0);
  EXPECT_EQ(hub_->stats().value("object_requests", 0), 0);
  for (const auto& f : again->doc().at("files")) EXPECT_EQ(f.at("state"), "cached");
}

TEST_F(FetchTest, IncludeGlobsSelectFiles) {
  app::FetchOptions opt;
  opt.include = {"transformer/**"};
  auto run = fetch("acme/tiny", opt);
  ASSERT_TRUE(run->result) << run->result.error().describe();
  auto snap = snapshot("models--acme--tiny", tiny_->at("head"));
  EXPECT_TRUE(sfs::exists(snap / "transformer" / "config.json"));
  EXPECT_TRUE(sfs::exists(snap / "transformer" / "diffusion_pytorch_model.safetensors"));
  EXPECT_FALSE(sfs::exists(snap / "model.safetensors"));
  EXPECT_FALSE(sfs::exists(snap / "README.md"));
  EXPECT_EQ(run->doc().at("files").size(), 2u);

  opt.include = {"does-not-exist.bin"};
  auto missing = fetch("acme/tiny", opt);
  ASSERT_FALSE(missing->result);
  EXPECT_EQ(missing->result.error().code, Errc::not_found);
  EXPECT_NE(missing->result.error().message.find("does-not-exist.bin"), std::string::npos);
}

TEST_F(FetchTest, RevisionByTagAndCommitAndUnknownRevision) {
  app::FetchOptions opt;
  opt.revision = "v1.0";
  auto tag = fetch("acme/tiny", opt);
  ASSERT_TRUE(tag->result) << tag->result.error().describe();
  EXPECT_EQ(fs::read_first_line(cache_ / "models--acme--tiny" / "refs" / "v1.0"),
            tiny_->at("head").get<std::string>());
  opt.revision = tiny_->at("head");
  EXPECT_TRUE(fetch("acme/tiny", opt)->result);
  opt.revision = "no-such-branch";
  auto bad = fetch("acme/tiny", opt);
  ASSERT_FALSE(bad->result);
  EXPECT_EQ(bad->result.error().code, Errc::not_found);
}

TEST_F(FetchTest, GatedRepoErrorsNameTheTokenSourceAndTheLicencePage) {
  auto anon = fetch("acme/gated");
  ASSERT_FALSE(anon->result);
  EXPECT_EQ(anon->result.error().code, Errc::auth);
  EXPECT_NE(anon->result.error().message.find("no token was found"), std::string::npos)
      << anon->result.error().message;
  EXPECT_EQ(app::exit_code_for(anon->result.error().code), 5);

  ::setenv("HF_TOKEN", "hf_tok_INVALID_000000000000", 1);
  auto invalid = fetch("acme/gated");
  ASSERT_FALSE(invalid->result);
  EXPECT_EQ(invalid->result.error().code, Errc::auth);
  EXPECT_NE(invalid->result.error().describe().find("HF_TOKEN"), std::string::npos);
  EXPECT_EQ(invalid->result.error().describe().find("INVALID"), std::string::npos)
      << "never the value";

  ::setenv("HF_TOKEN", kOtherToken, 1);
  auto denied = fetch("acme/gated");
  ASSERT_FALSE(denied->result);
  EXPECT_EQ(denied->result.error().code, Errc::gated);
  EXPECT_NE(
      denied->result.error().hint.find("accept the license at " + hub_->repo_url("acme", "gated")),
      std::string::npos)
      << denied->result.error().describe();
  EXPECT_FALSE(sfs::exists(cache_ / "models--acme--gated" / "snapshots"));
}

TEST_F(FetchTest, TokenNeverLeavesTheHubHostAndIsStoredNowhere) {
  // Through the real binary, so its output and the files it leaves are what a user gets.
  auto r = run_bin(
      {"--cache", cache_.string(), "--json", "fetch", "--repo", hub_->repo_url("acme", "gated")},
      {{"HF_TOKEN", kGoodToken}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find(kGoodToken), std::string::npos);
  EXPECT_EQ(r.err.find(kGoodToken), std::string::npos);
  EXPECT_EQ(grep_tree(cache_, kGoodToken), "") << "the token is in a cache file";
  auto config = fs::read_file(cache_ / ".sd35-git" / "models--acme--gated.git" / "config");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->find("url"), std::string::npos) << "no remote URL in the bare repo's config";
  bool saw_auth_on_git = false;
  for (const auto& e : hub_->requests()) {
    if (e.at("listener") == "object") {
      EXPECT_FALSE(e.at("has_authorization").get<bool>()) << e.dump();
    }
    if (e.at("listener") == "git" && e.at("has_authorization").get<bool>()) saw_auth_on_git = true;
  }
  EXPECT_TRUE(saw_auth_on_git);
}

TEST_F(FetchTest, TokenFromGitCredentialHelperNeverInArgv) {
  // The helper records its own argv: `git credential fill` gets the host on stdin, never the token.
  auto helper = home_ / "helper.sh";
  std::ofstream(helper) << "#!/bin/sh\necho \"$@\" >> " << (home_ / "helper-argv.log").string()
                        << "\ntest \"$1\" = get || exit 0\necho username=hf_user\necho password="
                        << kGoodToken << "\n";
  sfs::permissions(helper, sfs::perms::owner_all);
  auto gitconfig = home_ / "gitconfig-helper";
  std::ofstream(gitconfig) << "[credential]\n\thelper = " << helper.string() << "\n";
  auto r = run_bin({"--cache", cache_.string(), "fetch", "--repo", hub_->repo_url("acme", "gated")},
                   {{"GIT_CONFIG_GLOBAL", gitconfig.string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto argv_log = fs::read_file(home_ / "helper-argv.log");
  ASSERT_TRUE(argv_log);
  EXPECT_EQ(argv_log->find(kGoodToken), std::string::npos);
  EXPECT_EQ(grep_tree(cache_, kGoodToken), "");
}

TEST_F(FetchTest, OfflineUsesTheCacheOnlyAndFailsClearly) {
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  auto empty = fetch("acme/tiny");
  ASSERT_FALSE(empty->result);
  EXPECT_EQ(empty->result.error().code, Errc::not_found);
  EXPECT_NE(empty->result.error().message.find("HF_HUB_OFFLINE"), std::string::npos);
  ::unsetenv("HF_HUB_OFFLINE");
  ASSERT_TRUE(fetch("acme/tiny")->result);
  const auto before = hub_->requests().size();
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  auto offline = fetch("acme/tiny");
  ::unsetenv("HF_HUB_OFFLINE");
  ASSERT_TRUE(offline->result) << offline->result.error().describe();
  EXPECT_EQ(offline->doc().at("commit"), tiny_->at("head"));
  EXPECT_EQ(offline->doc().at("files").size(), tiny_->at("files").size());
  EXPECT_EQ(hub_->requests().size(), before) << "offline mode made a request";
}

TEST_F(FetchTest, PreflightRefusesWhenSpaceIsShort) {
  app::FetchOptions opt;
  opt.space = [](const sfs::path&) -> Result<fs::SpaceInfo> {
    return fs::SpaceInfo{1000, 1u << 30};
  };
  auto run = fetch("acme/tiny", opt);
  ASSERT_FALSE(run->result);
  EXPECT_EQ(run->result.error().code, Errc::disk_full);
  EXPECT_EQ(app::exit_code_for(run->result.error().code), 4);
  EXPECT_NE(run->result.error().message.find("short"), std::string::npos)
      << run->result.error().describe();
  EXPECT_EQ(hub_->stats().value("object_requests", 0), 0);
  EXPECT_FALSE(sfs::exists(snapshot("models--acme--tiny", tiny_->at("head"))));
}

TEST_F(FetchTest, PerObjectErrorFailsThatFileOnly) {
  const std::string oid = file_of(*tiny_, "model.safetensors").at("oid");
  hub_->set_faults({{{"kind", "batch_object_error"}, {"oid", oid}, {"code", 404}, {"count", -1}}});
  auto run = fetch("acme/tiny");
  ASSERT_FALSE(run->result);
  EXPECT_EQ(run->result.error().code, Errc::not_found);
  EXPECT_NE(run->result.error().message.find("model.safetensors"), std::string::npos);
  auto snap = snapshot("models--acme--tiny", tiny_->at("head"));
  EXPECT_FALSE(sfs::exists(snap / "model.safetensors"));
  EXPECT_TRUE(sfs::exists(snap / "transformer" / "diffusion_pytorch_model.safetensors"));
  EXPECT_FALSE(sfs::exists(cache_ / "models--acme--tiny" / "refs" / "main"))
      << "a failed fetch records no ref";
}

// A tree entry named ".." (git mktree accepts it; a hostile server can serve it) is refused before
// the batch API or any object is asked for.
TEST_F(FetchTest, HostilePathIsRefusedBeforeAnyDownload) {
  auto repo = hub_->make_repo({{"name", "hostile"}});
  const std::string dir = repo.at("path");
  auto git = [&](std::vector<std::string> args, const std::string& in = {}) {
    proc::Command c;
    c.argv = {"git", "-C", dir};
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    c.stdin_data = in;
    c.env_overrides = {{"GIT_AUTHOR_NAME", "t"},
                       {"GIT_AUTHOR_EMAIL", "t@example.invalid"},
                       {"GIT_COMMITTER_NAME", "t"},
                       {"GIT_COMMITTER_EMAIL", "t@example.invalid"}};
    auto r = proc::run(c);
    EXPECT_TRUE(r && r->success()) << (r ? r->err : r.error().message);
    return r ? std::string(str::trim(r->out)) : std::string();
  };
  const std::string pointer = file_of(repo, "model.safetensors").at("blob_sha1");
  std::string sub = git({"mktree"}, "100644 blob " + pointer + "\tevil.safetensors\n");
  std::string top = git({"mktree"}, git({"ls-tree", "main"}) + "\n040000 tree " + sub + "\t..\n");
  std::string commit = git({"commit-tree", top, "-p", "main", "-m", "hostile"});
  git({"update-ref", "refs/heads/main", commit});
  hub_->reset_stats();
  auto run = fetch("acme/hostile");
  ASSERT_FALSE(run->result);
  EXPECT_EQ(run->result.error().code, Errc::bad_input);
  EXPECT_NE(run->result.error().message.find("../evil.safetensors"), std::string::npos)
      << run->result.error().describe();
  EXPECT_EQ(hub_->stats().value("batch_requests", -1), 0);
  EXPECT_EQ(hub_->stats().value("object_requests", -1), 0);
  EXPECT_FALSE(sfs::exists(cache_ / "models--acme--hostile" / "snapshots" / commit));
}

}  // namespace
}  // namespace sd35::testing
