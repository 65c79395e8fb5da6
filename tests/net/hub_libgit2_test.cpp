// The fetch engine reaches the hub through libgit2 (smart HTTP protocol v0), not git's v2: check
// that lfs_hub.py serves libgit2 too, including a 401 challenge answered by a credential callback.
#include <git2.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "net/local_hub.hpp"
#include "util/fs.hpp"

namespace fs = std::filesystem;
using nlohmann::json;
using sd35::testing::LocalHub;

namespace {

constexpr const char* kToken = "tok_libgit2_0123456789";

struct Libgit2 {
  Libgit2() { git_libgit2_init(); }
  ~Libgit2() { git_libgit2_shutdown(); }
};

int token_callback(git_credential** out, const char* /*url*/, const char* /*user*/,
                   unsigned int allowed, void* payload) {
  int* calls = static_cast<int*>(payload);
  if (++*calls > 2 || !(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT)) return GIT_EAUTH;
  return git_credential_userpass_plaintext_new(out, "hf_user", kToken);
}

std::string clone_error(int rc) {
  const git_error* e = git_error_last();
  return "rc " + std::to_string(rc) + ": " + (e && e->message ? e->message : "?");
}

TEST(HubLibgit2, ClonesPrivateRepoWithCredentialCallbackAndSeesPointers) {
  Libgit2 lib;
  LocalHub hub({{"tokens", {kToken}}, {"repos", {{"acme/priv", {{"access", "private"}}}}}});
  json repo = hub.make_repo({{"name", "priv"}});

  git_clone_options opts;
  git_clone_options_init(&opts, GIT_CLONE_OPTIONS_VERSION);
  int calls = 0;
  opts.fetch_opts.callbacks.credentials = token_callback;
  opts.fetch_opts.callbacks.payload = &calls;
  git_repository* r = nullptr;
  fs::path dst = hub.scratch() / "lg2";
  int rc = git_clone(&r, hub.repo_url("acme", "priv").c_str(), dst.c_str(), &opts);
  ASSERT_EQ(rc, 0) << clone_error(rc);
  EXPECT_GE(calls, 1);  // the hub challenged with 401 first

  git_oid head;
  ASSERT_EQ(git_reference_name_to_id(&head, r, "HEAD"), 0);
  EXPECT_EQ(std::string(git_oid_tostr_s(&head)), repo.at("head").get<std::string>());
  git_oid tag;
  ASSERT_EQ(git_reference_name_to_id(&tag, r, "refs/tags/v1.0"), 0);
  git_repository_free(r);

  // libgit2 has no LFS filter: the working tree holds the pointer text the hub committed.
  for (const auto& f : repo.at("files")) {
    auto text = sd35::fs::read_file(dst / f.at("path").get<std::string>());
    ASSERT_TRUE(text.has_value()) << f.at("path");
    if (f.at("lfs").get<bool>())
      EXPECT_EQ(*text, f.at("pointer").get<std::string>());
    else
      EXPECT_EQ(text->size(), f.at("size").get<std::size_t>());
  }
  bool challenged = false, packed = false;
  for (const auto& e : hub.requests()) {
    challenged |= e.at("path") == "/acme/priv/info/refs" && e.at("status") == 401;
    packed |= e.at("path") == "/acme/priv/git-upload-pack" && e.at("status") == 200;
  }
  EXPECT_TRUE(challenged);
  EXPECT_TRUE(packed);
}

TEST(HubLibgit2, PrivateRepoWithoutCredentialsFailsWithAuthError) {
  Libgit2 lib;
  LocalHub hub({{"tokens", {kToken}}, {"repos", {{"acme/priv", {{"access", "private"}}}}}});
  hub.make_repo({{"name", "priv"}});
  git_clone_options opts;
  git_clone_options_init(&opts, GIT_CLONE_OPTIONS_VERSION);
  git_repository* r = nullptr;
  int rc =
      git_clone(&r, hub.repo_url("acme", "priv").c_str(), (hub.scratch() / "x").c_str(), &opts);
  EXPECT_NE(rc, 0);
  if (r) git_repository_free(r);
  auto log = hub.requests();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.front().at("status"), 401);
}

}  // namespace
