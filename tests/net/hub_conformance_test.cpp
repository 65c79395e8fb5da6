// Proves tests/tools/lfs_hub.py behaves like a Git LFS hub: the real git + git-lfs clients clone
// from it, auth answers like Hugging Face, and every injected fault fires as configured. The fetch
// engine's tests rely on this server, so it is checked against the reference clients first.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "net/local_hub.hpp"
#include "util/process.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using sd35::testing::LocalHub;

namespace {

constexpr const char* kGood = "tok_good_0123456789";
constexpr const char* kOther = "tok_other_0123456789";

json hub_config() {
  return {{"tokens", {kGood, kOther}},
          {"repos",
           {{"acme/priv", {{"access", "private"}}},
            {"acme/gated", {{"access", "gated"}, {"allow", {kGood}}}}}}};
}

class HubConformance : public ::testing::Test {
 protected:
  // One hub for the whole suite, started by the first test that runs (ctest runs each test in its
  // own process). Not SetUpTestSuite: a failure there is reported as "skipped", which ctest counts
  // as passing.
  void SetUp() override {
    if (!hub_) {
      hub_ = new LocalHub(hub_config());
      tiny_ = new json(hub_->make_repo({{"name", "tiny"}}));
      home_ = hub_->scratch() / "home";
      fs::create_directories(home_);
      std::ofstream(home_ / "cred.sh") << "#!/bin/sh\ntest \"$1\" = get || exit 0\n"
                                          "echo username=hf_user\necho \"password=$HUB_TOKEN\"\n";
      fs::permissions(home_ / "cred.sh", fs::perms::owner_all);
      ASSERT_TRUE(git({"lfs", "install", "--skip-repo"}).success());
    }
    hub_->control({{"faults", json::array()}, {"reset_stats", true}});
  }
  // Other repos are built on first use, to keep each ctest process short.
  static void need_repo(const std::string& name) {
    if (fs::exists(hub_->root() / "repos" / "acme" / (name + ".git"))) return;
    json spec = {{"name", name}};
    if (name == "alt")
      spec.update({{"lfsconfig_url", hub_->git_url() + "/lfs-alt/acme/alt"},
                   {"files",
                    {{{"path", "weights.bin"}, {"lfs", true}, {"size", 70000}, {"seed", 7}},
                     {{"path", "README.md"}, {"content", "alt\n"}}}}});
    hub_->make_repo(spec);
  }
  static void TearDownTestSuite() {
    delete tiny_;
    delete hub_;
    tiny_ = nullptr;
    hub_ = nullptr;
  }

  // git with an isolated HOME, no prompts, no proxies; the token reaches git only through the
  // credential helper (from the environment), never through the URL or argv.
  static sd35::proc::Outcome git(std::vector<std::string> args, const std::string& token = "",
                                 const std::string& cwd = "") {
    sd35::proc::Command c;
    c.argv = {"git", "-c", "credential.helper=" + (home_ / "cred.sh").string()};
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    c.env_overrides = {
        {"HOME", home_.string()},     {"XDG_CONFIG_HOME", (home_ / ".config").string()},
        {"GIT_CONFIG_NOSYSTEM", "1"}, {"GIT_TERMINAL_PROMPT", "0"},
        {"HUB_TOKEN", token},         {"NO_PROXY", "127.0.0.1,127.0.0.2"}};
    c.env_remove = {"GIT_ASKPASS", "SSH_ASKPASS", "http_proxy", "https_proxy",        "HTTP_PROXY",
                    "HTTPS_PROXY", "ALL_PROXY",   "all_proxy",  "GIT_LFS_SKIP_SMUDGE"};
    c.cwd = cwd;
    c.timeout = std::chrono::seconds(60);
    auto r = sd35::proc::run(c);
    EXPECT_TRUE(r.has_value());
    return r ? *r : sd35::proc::Outcome{};
  }

  // One batch + one GET through tests/tools/hub_probe.py; extra args as given.
  static json probe(const json& file, std::vector<std::string> extra = {},
                    const std::string& token = "", const std::string& repo = "acme/tiny") {
    sd35::proc::Command c;
    c.argv = {sd35::testing::hub_detail::python(),
              (sd35::testing::hub_detail::tools_dir() / "hub_probe.py").string(),
              "--batch-url",
              hub_->git_url() + "/" + repo + ".git/info/lfs/objects/batch",
              "--oid",
              file.at("oid").get<std::string>(),
              "--size",
              std::to_string(file.at("size").get<long>()),
              "--token-env",
              "HUB_TOKEN"};
    c.argv.insert(c.argv.end(), extra.begin(), extra.end());
    c.env_overrides = {{"HUB_TOKEN", token}};
    c.timeout = std::chrono::seconds(30);
    auto r = sd35::proc::run(c);
    EXPECT_TRUE(r && r->success()) << (r ? r->err : r.error().message);
    return r && r->success() ? json::parse(r->out) : json::object();
  }

  static const json& lfs_file(const std::string& path) {
    for (const auto& f : tiny_->at("files"))
      if (f.at("path") == path) return f;
    throw std::runtime_error("no file " + path);
  }

  static std::string file_sha256(const fs::path& p) {
    auto h = sd35::sha256_file(p);
    return h ? *h : std::string("unreadable");
  }

  static LocalHub* hub_;
  static json* tiny_;
  static fs::path home_;
};

LocalHub* HubConformance::hub_ = nullptr;
json* HubConformance::tiny_ = nullptr;
fs::path HubConformance::home_;

TEST_F(HubConformance, GitLfsCloneGetsTheRealBytes) {
  fs::path dst = hub_->scratch() / "clone-tiny";
  auto r = git({"clone", "-q", hub_->repo_url("acme", "tiny"), dst.string()});
  ASSERT_TRUE(r.success()) << r.err;
  int lfs = 0;
  for (const auto& f : tiny_->at("files")) {
    fs::path p = dst / f.at("path").get<std::string>();
    ASSERT_TRUE(fs::is_regular_file(p)) << p;
    EXPECT_EQ(fs::file_size(p), f.at("size").get<std::uintmax_t>()) << p;
    EXPECT_EQ(file_sha256(p), f.at("sha256").get<std::string>()) << p;
    if (f.at("lfs").get<bool>()) {
      ++lfs;
      EXPECT_EQ(f.at("oid"), f.at("sha256"));
    } else {
      auto h = git({"hash-object", p.string()});
      EXPECT_EQ(sd35::str::trim(h.out), f.at("blob_sha1").get<std::string>()) << p;
    }
  }
  EXPECT_EQ(lfs, 2);
  auto head = git({"rev-parse", "HEAD", "v1.0"}, "", dst.string());
  EXPECT_EQ(head.out, tiny_->at("head").get<std::string>() + "\n" +
                          tiny_->at("head").get<std::string>() + "\n");
  auto st = hub_->stats();
  EXPECT_EQ(st.at("batch_requests"), 1);
  EXPECT_EQ(st.at("object_requests"), 2);
}

TEST_F(HubConformance, PrivateRepoClonesWithTokenFromCredentialHelperOnly) {
  need_repo("priv");
  fs::path dst = hub_->scratch() / "clone-priv";
  auto r = git({"clone", "-q", hub_->repo_url("acme", "priv"), dst.string()}, kGood);
  ASSERT_TRUE(r.success()) << r.err;
  EXPECT_EQ(file_sha256(dst / "model.safetensors"),
            lfs_file("model.safetensors").at("oid").get<std::string>());
  bool batch_with_auth = false;
  int object_gets = 0;
  for (const auto& e : hub_->requests()) {
    EXPECT_EQ(e.dump().find(kGood), std::string::npos) << "token value in the request log";
    if (e.at("listener") == "object") {
      ++object_gets;
      EXPECT_FALSE(e.at("has_authorization").get<bool>()) << e.dump();
      EXPECT_NE(e.at("addr").get<std::string>().rfind("127.0.0.2:", 0), std::string::npos);
    }
    if (e.at("path") == "/acme/priv.git/info/lfs/objects/batch" && e.at("status") == 200)
      batch_with_auth = e.at("has_authorization").get<bool>();
  }
  EXPECT_TRUE(batch_with_auth);
  EXPECT_GE(object_gets, 2);
  EXPECT_EQ(hub_->stats().at("authorization_on_object_listener"), 0);
}

TEST_F(HubConformance, PrivateWithoutTokenIs401AndGatedWithoutAccessIs403) {
  need_repo("priv");
  need_repo("gated");
  auto priv = git({"ls-remote", hub_->repo_url("acme", "priv")});
  EXPECT_NE(priv.exit_code, 0);
  auto gated = git({"ls-remote", hub_->repo_url("acme", "gated")}, kOther);
  EXPECT_NE(gated.exit_code, 0);
  EXPECT_NE(gated.err.find("403"), std::string::npos) << gated.err;
  auto bad = git({"ls-remote", hub_->repo_url("acme", "gated")}, "not_a_token");
  EXPECT_NE(bad.err.find("Authentication failed"), std::string::npos) << bad.err;
  auto ok = git({"ls-remote", hub_->repo_url("acme", "gated")}, kGood);
  EXPECT_TRUE(ok.success()) << ok.err;
  bool saw401 = false, saw403 = false;
  for (const auto& e : hub_->requests()) {
    if (e.at("path") == "/acme/priv/info/refs" && e.at("status") == 401) saw401 = true;
    if (e.at("path") == "/acme/gated/info/refs" && e.at("status") == 403) saw403 = true;
  }
  EXPECT_TRUE(saw401);
  EXPECT_TRUE(saw403);

  // The batch API answers the same way, with the LFS-Authenticate challenge and HF's wording.
  const auto& f = lfs_file("model.safetensors");
  auto anon = probe(f, {"--no-get"}, "", "acme/gated");
  EXPECT_EQ(anon.at("batch_status"), 401);
  EXPECT_TRUE(anon.at("batch_headers").contains("LFS-Authenticate"));
  auto denied = probe(f, {"--no-get"}, kOther, "acme/gated");
  EXPECT_EQ(denied.at("batch_status"), 403);
  EXPECT_NE(denied.at("batch").at("message").get<std::string>().find(
                "Access to model acme/gated is restricted"),
            std::string::npos);
  EXPECT_EQ(probe(f, {}, kGood, "acme/gated").at("sha256"), f.at("oid"));
}

TEST_F(HubConformance, LfsConfigUrlIsUsedForEndpointDiscovery) {
  need_repo("alt");
  fs::path dst = hub_->scratch() / "clone-alt";
  auto r = git({"clone", "-q", hub_->repo_url("acme", "alt"), dst.string()});
  ASSERT_TRUE(r.success()) << r.err;
  EXPECT_EQ(fs::file_size(dst / "weights.bin"), 70000u);
  auto paths = hub_->stats().at("batch_paths");
  EXPECT_EQ(paths.value("/lfs-alt/acme/alt/objects/batch", 0), 1) << paths.dump();
}

TEST_F(HubConformance, MakeRepoBuildsHistoryTagsAndMissingObjects) {
  json spec = {{"name", "hist"},
               {"commits",
                {{{"message", "one"},
                  {"tag", "v1"},
                  {"tag_annotated", true},
                  {"files",
                   {{{"path", "a.txt"}, {"content", "a\n"}},
                    {{"path", "w.safetensors"}, {"lfs", true}, {"size", 5000}, {"seed", 3}}}}},
                 {{"message", "two"},
                  {"files",
                   {{{"path", "a.txt"}, {"delete", true}},
                    {{"path", "gone.safetensors"},
                     {"lfs", true},
                     {"size", 10},
                     {"seed", 4},
                     {"place_object", false}}}}}}}};
  json repo = hub_->make_repo(spec);
  ASSERT_EQ(repo.at("commits").size(), 2u);
  EXPECT_EQ(repo.at("tags").at("v1"), repo.at("commits")[0].at("sha"));
  EXPECT_EQ(repo.at("head"), repo.at("commits")[1].at("sha"));
  auto refs = git({"ls-remote", hub_->repo_url("acme", "hist")});
  ASSERT_TRUE(refs.success()) << refs.err;
  // The annotated tag peels to the first commit; main is the second.
  EXPECT_NE(refs.out.find(repo.at("commits")[0].at("sha").get<std::string>() + "\trefs/tags/v1^{}"),
            std::string::npos)
      << refs.out;
  EXPECT_NE(refs.out.find(repo.at("head").get<std::string>() + "\trefs/heads/main"),
            std::string::npos);
  json gone;
  for (const auto& f : repo.at("files")) {
    EXPECT_NE(f.at("path"), "a.txt");
    if (f.at("path") == "gone.safetensors") gone = f;
  }
  ASSERT_FALSE(gone.is_null());
  EXPECT_FALSE(gone.at("object_placed").get<bool>());
  auto r = probe(gone, {"--no-get"}, "", "acme/hist");
  EXPECT_EQ(r.at("batch").at("objects")[0].at("error").at("code"), 404);
}

TEST_F(HubConformance, BatchAnswersPerObjectErrors) {
  json missing = {{"oid", std::string(64, 'a')}, {"size", 5}};
  EXPECT_EQ(probe(missing, {"--no-get"}).at("batch").at("objects")[0].at("error").at("code"), 404);
  json wrong_size = lfs_file("model.safetensors");
  wrong_size["size"] = 12;
  EXPECT_EQ(probe(wrong_size, {"--no-get"}).at("batch").at("objects")[0].at("error").at("code"),
            422);
  hub_->set_faults({{{"kind", "batch_object_error"}, {"code", 410}, {"message", "removed"}}});
  auto gone = probe(lfs_file("model.safetensors"), {"--no-get"});
  EXPECT_EQ(gone.at("batch").at("objects")[0].at("error").at("code"), 410);
  auto ok = probe(lfs_file("model.safetensors"), {"--no-get"});
  const auto& dl = ok.at("batch").at("objects")[0].at("actions").at("download");
  EXPECT_EQ(ok.at("batch").at("hash_algo"), "sha256");
  EXPECT_EQ(dl.at("href").get<std::string>().rfind(hub_->object_url() + "/", 0), 0u);
  EXPECT_TRUE(dl.at("header").contains("X-Hub-Signature"));
  EXPECT_GT(dl.at("expires_in").get<int>(), 0);
}

TEST_F(HubConformance, ObjectHostNeedsActionHeaderAndHonoursRange) {
  const auto& f = lfs_file("model.safetensors");
  EXPECT_EQ(probe(f, {"--no-action-header"}).at("get_status"), 403);
  auto part = probe(f, {"--range", "100-199"});
  EXPECT_EQ(part.at("get_status"), 206);
  EXPECT_EQ(part.at("received"), 100);
  EXPECT_EQ(part.at("get_headers").at("Content-Range"), "bytes 100-199/1048576");
  EXPECT_EQ(probe(f, {"--range", "1048576-"}).at("get_status"), 416);
  auto st = hub_->stats();
  EXPECT_EQ(st.at("range_requests"), 1);  // the 416 is refused before any byte is served
  EXPECT_EQ(st.at("bytes_served_per_oid").at(f.at("oid").get<std::string>()), 100);
}

TEST_F(HubConformance, EachFaultFiresAsConfigured) {
  const auto& f = lfs_file("model.safetensors");
  const std::string oid = f.at("oid");
  hub_->set_faults({{{"kind", "batch_500"}}});
  EXPECT_EQ(probe(f, {"--no-get"}).at("batch_status"), 500);
  EXPECT_EQ(probe(f, {"--no-get"}).at("batch_status"), 200);  // count 1: fired once

  hub_->set_faults({{{"kind", "rate_limit_429"}, {"target", "batch"}, {"retry_after", 3}},
                    {{"kind", "rate_limit_429"}, {"target", "object"}, {"retry_after", 2}}});
  auto rl = probe(f, {"--no-get"});
  EXPECT_EQ(rl.at("batch_status"), 429);
  EXPECT_EQ(rl.at("batch_headers").at("Retry-After"), "3");
  auto rlo = probe(f);
  EXPECT_EQ(rlo.at("get_status"), 429);
  EXPECT_EQ(rlo.at("get_headers").at("Retry-After"), "2");

  hub_->set_faults({{{"kind", "reset_mid_object"}, {"oid", oid}}});
  auto reset = probe(f);
  EXPECT_EQ(reset.at("received"), 524288);
  EXPECT_FALSE(reset.at("error").is_null());

  hub_->set_faults({{{"kind", "flip_byte"}, {"offset", 7}}});
  auto flipped = probe(f);
  EXPECT_EQ(flipped.at("received"), 1048576);
  EXPECT_NE(flipped.at("sha256"), oid);
  EXPECT_EQ(probe(f).at("sha256"), oid);

  hub_->set_faults({{{"kind", "expired_href"}}});
  auto exp = probe(f, {"--get-delay", "0.05"});
  const auto& dl = exp.at("batch").at("objects")[0].at("actions").at("download");
  EXPECT_EQ(dl.at("expires_in"), 0);
  EXPECT_EQ(exp.at("get_status"), 403);

  hub_->set_faults({{{"kind", "ignore_range"}}});
  auto ign = probe(f, {"--range", "10-19"});
  EXPECT_EQ(ign.at("get_status"), 200);
  EXPECT_EQ(ign.at("sha256"), oid);

  hub_->set_faults({{{"kind", "stall"}, {"after_bytes", 1000}, {"seconds", 3}}});
  auto stall = probe(f, {"--timeout", "0.5"});
  EXPECT_EQ(stall.at("received"), 1000);
  EXPECT_FALSE(stall.at("error").is_null());

  hub_->set_faults({{{"kind", "slow_bytes_per_s"}, {"bytes_per_s", 4000000}}});
  EXPECT_EQ(probe(f).at("sha256"), oid);

  hub_->set_faults({{{"kind", "reset_mid_object"}, {"oid", std::string(64, 'b')}}});
  EXPECT_EQ(probe(f).at("sha256"), oid);  // an oid filter keeps other objects clean

  hub_->set_faults({{{"kind", "git_500"}}});
  EXPECT_NE(git({"ls-remote", hub_->repo_url("acme", "tiny")}).exit_code, 0);
  EXPECT_TRUE(git({"ls-remote", hub_->repo_url("acme", "tiny")}).success());

  auto fired = hub_->stats().at("faults_fired");
  for (const char* k : {"batch_500", "rate_limit_429", "reset_mid_object", "flip_byte",
                        "expired_href", "ignore_range", "stall", "slow_bytes_per_s", "git_500"})
    EXPECT_GE(fired.value(k, 0), 1) << k;
  EXPECT_EQ(fired.at("rate_limit_429"), 2);
  EXPECT_EQ(fired.at("reset_mid_object"), 1);
  for (const auto& e : hub_->requests()) {
    if (e.at("listener") == "object") {
      EXPECT_FALSE(e.at("has_authorization").get<bool>());
    }
  }
}

TEST_F(HubConformance, Kill9AndRestartKeepRepoUrlsAndHrefs) {
  const auto& f = lfs_file("model.safetensors");
  auto before = probe(f, {"--no-get"});
  std::string action = before.at("batch").at("objects")[0].at("actions").at("download").dump();
  std::string url = hub_->git_url(), obj = hub_->object_url();
  hub_->kill9();
  EXPECT_FALSE(hub_->running());
  hub_->restart();
  EXPECT_EQ(hub_->git_url(), url);
  EXPECT_EQ(hub_->object_url(), obj);
  // An href issued before the crash still works, like a CDN URL would.
  EXPECT_EQ(probe(f, {"--action-json", action}).at("sha256"), f.at("oid"));
  hub_->control({{"revoke_hrefs", true}});
  EXPECT_EQ(probe(f, {"--action-json", action}).at("get_status"), 403);
  EXPECT_EQ(probe(f).at("sha256"), f.at("oid"));
}

}  // namespace
