// Credentials go only to the repository's origin (scheme, host, port): an .lfsconfig LFS URL or a
// redirect to another port or host is still used, without credentials; userinfo in --repo is a
// credential source that never appears in output, errors or the cache.
#include "net/fetch_fixture.hpp"

namespace sd35::testing {
namespace {

class FetchOrigin : public FetchTest {
 protected:
  // Another hub with the same tokens; its repos are public unless `repos` says otherwise.
  static std::unique_ptr<LocalHub> other_hub(const std::string& host, json repos = json::object()) {
    return std::make_unique<LocalHub>(json{{"tokens", {kGoodToken, kOtherToken}}, {"repos", repos}},
                                      std::vector<std::string>{"--git-host", host});
  }
  // A private repo on hub_ whose .lfsconfig sends LFS to `lfs_hub` (public there, same content).
  json private_repo_with_lfs_on(const LocalHub& lfs_hub, const std::string& name) const {
    hub_->control({{"repos", {{"acme/" + name, {{"access", "private"}}}}}});
    json spec = {{"name", name},
                 {"lfsconfig_url", lfs_hub.git_url() + "/acme/" + name + ".git/info/lfs"}};
    lfs_hub.make_repo(spec);
    return hub_->make_repo(spec);
  }
  static int requests_with_auth(const LocalHub& h, const std::string& listener) {
    int n = 0;
    for (const auto& e : h.requests())
      if (e.at("listener") == listener && e.at("has_authorization").get<bool>()) ++n;
    return n;
  }
  static int batch_requests(const LocalHub& h) { return h.stats().value("batch_requests", 0); }
  void expect_fetched(const Run& run, const json& repo, const std::string& folder) const {
    ASSERT_TRUE(run.result) << run.result.error().describe();
    auto f = file_of(repo, "model.safetensors");
    EXPECT_EQ(*sha256_file(snapshot(folder, repo.at("head")) / "model.safetensors"),
              f.at("oid").get<std::string>());
  }
};

TEST_F(FetchOrigin, LfsUrlOnAnotherPortIsUsedWithoutCredentials) {
  auto other = other_hub("127.0.0.1");
  auto repo = private_repo_with_lfs_on(*other, "lfsport");
  ::setenv("HF_TOKEN", kGoodToken, 1);
  auto run = fetch("acme/lfsport");
  expect_fetched(*run, repo, "models--acme--lfsport");
  EXPECT_GE(requests_with_auth(*hub_, "git"), 1) << "the repo's own origin gets the token";
  EXPECT_GE(batch_requests(*other), 1) << "the .lfsconfig endpoint was used";
  EXPECT_EQ(requests_with_auth(*other, "git"), 0) << "same host, another port: no token";
  EXPECT_EQ(batch_requests(*hub_), 0);
}

TEST_F(FetchOrigin, LfsUrlOnAnotherHostIsUsedWithoutCredentials) {
  auto other = other_hub("127.0.0.3");
  auto repo = private_repo_with_lfs_on(*other, "lfshost");
  ::setenv("HF_TOKEN", kGoodToken, 1);
  app::FetchOptions bearer;
  bearer.bearer = true;  // a custom Authorization header must not travel either
  auto run = fetch("acme/lfshost", bearer);
  expect_fetched(*run, repo, "models--acme--lfshost");
  EXPECT_GE(batch_requests(*other), 1);
  EXPECT_EQ(requests_with_auth(*other, "git"), 0);
}

TEST_F(FetchOrigin, BatchRedirectToAnotherOriginCarriesNoCredentials) {
  auto other = other_hub("127.0.0.1");
  auto repo = other->make_repo({{"name", "tiny"}});
  ::setenv("HF_TOKEN", kGoodToken, 1);
  for (bool bearer : {false, true}) {
    SCOPED_TRACE(bearer ? "bearer" : "basic");
    hub_->control(
        {{"faults", {{{"kind", "redirect"}, {"target", "batch"}, {"location", other->git_url()}}}},
         {"reset_stats", true}});
    other->reset_stats();
    app::FetchOptions opt;
    opt.bearer = bearer;
    cache_ += "-x";
    auto run = fetch("acme/tiny", opt);
    expect_fetched(*run, repo, "models--acme--tiny");
    EXPECT_EQ(hub_->stats().at("faults_fired").value("redirect", 0), 1);
    EXPECT_GE(batch_requests(*other), 1) << "the redirect was followed";
    EXPECT_EQ(requests_with_auth(*other, "git"), 0) << "the token followed the redirect";
  }
}

TEST_F(FetchOrigin, GitRedirectToAnotherOriginGetsNoCredentials) {
  auto other = other_hub("127.0.0.1", {{"acme/gated", {{"access", "gated"}}}});
  other->make_repo({{"name", "gated"}});
  hub_->set_faults({{{"kind", "redirect"}, {"target", "git"}, {"location", other->git_url()}}});
  ::setenv("HF_TOKEN", kGoodToken, 1);
  auto run = fetch("acme/gated");
  ASSERT_FALSE(run->result) << "the other origin wants a token it must not get";
  EXPECT_EQ(run->result.error().code, Errc::auth);
  EXPECT_NE(run->result.error().message.find("only sent to"), std::string::npos)
      << run->result.error().describe();
  EXPECT_EQ(run->result.error().message.find("followRedirects"), std::string::npos);
  EXPECT_GE(other->stats().value("git_requests", 0), 1) << "the redirect was followed";
  EXPECT_EQ(requests_with_auth(*other, "git"), 0);
}

TEST_F(FetchOrigin, WrongTokenSaysSoInOurWords) {
  ::setenv("HF_TOKEN", "hf_tok_WRONG_000000000000000", 1);
  auto run = fetch("acme/gated");
  ASSERT_FALSE(run->result);
  const auto& e = run->result.error();
  EXPECT_EQ(e.code, Errc::auth);
  EXPECT_NE(e.message.find("401 to the token"), std::string::npos) << e.describe();
  EXPECT_NE(e.message.find("was rejected"), std::string::npos) << e.describe();
  EXPECT_NE(e.message.find("HF_TOKEN"), std::string::npos) << e.describe();
  EXPECT_EQ(e.describe().find("followRedirects"), std::string::npos) << e.describe();
  EXPECT_EQ(e.describe().find("WRONG"), std::string::npos) << "never the value";
}

TEST_F(FetchOrigin, UserinfoInRepoUrlIsACredentialAndIsPrintedNowhere) {
  const std::string url = hub_->repo_url("acme", "gated");
  const std::string with_token = "http://hf_user:" + std::string(kGoodToken) + "@" + url.substr(7);
  auto r = run_bin({"--cache", cache_.string(), "--json", "fetch", "--repo", with_token});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(requests_with_auth(*hub_, "git"), 1) << "the URL's token was used";
  EXPECT_EQ(r.out.find(kGoodToken), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find(kGoodToken), std::string::npos) << r.err;
  EXPECT_EQ(grep_tree(cache_, kGoodToken), "") << "the token is in a cache file";

  // A refused one: not in the message, the where, the hint, nor the --json document.
  const std::string bad = "hf_tok_URLSECRET_0000000000000";
  const std::string with_bad = "http://" + bad + "@" + url.substr(7);
  for (const char* mode : {"--json", "--no-color"}) {
    auto f = run_bin({"--cache", cache_.string() + "-b", mode, "fetch", "--repo", with_bad});
    EXPECT_EQ(f.exit_code, 5) << f.err;
    EXPECT_EQ(f.out.find("URLSECRET"), std::string::npos) << f.out;
    EXPECT_EQ(f.err.find("URLSECRET"), std::string::npos) << f.err;
    EXPECT_NE((f.out + f.err).find("userinfo"), std::string::npos) << "names the token's source";
  }
  // And through a gated hint (valid token, not allowed): the licence page is the clean URL.
  const std::string other = "http://u:" + std::string(kOtherToken) + "@" + url.substr(7);
  auto g = run_bin({"--cache", cache_.string() + "-c", "--json", "fetch", "--repo", other});
  EXPECT_EQ(g.exit_code, 5) << g.err;
  EXPECT_EQ((g.out + g.err).find(kOtherToken), std::string::npos) << g.out << g.err;
  EXPECT_NE((g.out + g.err).find(url), std::string::npos) << "the page without userinfo";
}

}  // namespace
}  // namespace sd35::testing
