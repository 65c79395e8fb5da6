// store/hub_env: every hub variable read once, through an injected environment.
#include "store/hub_env.hpp"

#include <gtest/gtest.h>

#include <map>

namespace sd35::store {
namespace {

net::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

TEST(HubEnv, CacheDirPrecedenceIsCacheOptionThenHfHubCacheThenHfHome) {
  auto all = env_of({{"HF_HUB_CACHE", "/hc"}, {"HF_HOME", "/hh"}, {"HOME", "/home/u"}});
  auto e = read_hub_env("/opt", all);
  EXPECT_EQ(e.cache_dir, "/opt");
  EXPECT_EQ(e.cache_source, "--cache");
  e = read_hub_env("", all);
  EXPECT_EQ(e.cache_dir, "/hc");
  EXPECT_EQ(e.cache_source, "HF_HUB_CACHE");
  e = read_hub_env("", env_of({{"HF_HOME", "/hh"}, {"HF_HUB_CACHE", ""}}));
  EXPECT_EQ(e.cache_dir, std::filesystem::path("/hh/hub"));
  EXPECT_EQ(e.cache_source, "HF_HOME");
  e = read_hub_env("", env_of({}));
  EXPECT_EQ(e.cache_source, "default");
  EXPECT_TRUE(e.cache_dir.string().ends_with("huggingface/hub")) << e.cache_dir;
}

TEST(HubEnv, EndpointDefaultsToHuggingFaceAndLosesTrailingSlashes) {
  EXPECT_EQ(read_hub_env("/c", env_of({})).endpoint, "https://huggingface.co");
  auto e = read_hub_env("/c", env_of({{"HF_ENDPOINT", "https://mirror.example//"}}));
  EXPECT_EQ(e.endpoint, "https://mirror.example");
  EXPECT_EQ(e.repo_url("org/name"), "https://mirror.example/org/name");
  EXPECT_EQ(e.repo_url("org/name/"), "https://mirror.example/org/name");
  // A full URL bypasses the endpoint.
  EXPECT_EQ(e.repo_url("http://127.0.0.1:9/acme/tiny/"), "http://127.0.0.1:9/acme/tiny");
  EXPECT_EQ(read_hub_env("/c", env_of({{"HF_ENDPOINT", ""}})).endpoint, "https://huggingface.co");
}

TEST(HubEnv, OfflineAndSymlinkFlagsAcceptTheUsualSpellings) {
  for (const char* yes : {"1", "true", "YES", "On", " 1 "}) {
    auto e =
        read_hub_env("/c", env_of({{"HF_HUB_OFFLINE", yes}, {"HF_HUB_DISABLE_SYMLINKS", yes}}));
    EXPECT_TRUE(e.offline) << yes;
    EXPECT_FALSE(e.symlinks) << yes;
  }
  for (const char* no : {"0", "false", "", "off", "nope"}) {
    auto e = read_hub_env("/c", env_of({{"HF_HUB_OFFLINE", no}, {"HF_HUB_DISABLE_SYMLINKS", no}}));
    EXPECT_FALSE(e.offline) << no;
    EXPECT_TRUE(e.symlinks) << no;
  }
}

TEST(HubEnv, TransportAndTokenAreReadThroughTheSameLookup) {
  auto e = read_hub_env("/c", env_of({{"https_proxy", "http://proxy:3128"},
                                      {"NO_PROXY", "internal.example"},
                                      {"HF_TOKEN", "hf_secret_value"}}));
  auto t = e.transport("");
  ASSERT_TRUE(t) << t.error().describe();
  EXPECT_EQ(t->proxy_for("https://huggingface.co/x"), "http://proxy:3128");
  EXPECT_EQ(t->proxy_for("https://internal.example/x"), "");
  auto missing = read_hub_env("/c", env_of({{"SSL_CERT_FILE", "/nonexistent/ca.pem"}}));
  auto bad = missing.transport("");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().describe().find("SSL_CERT_FILE"), std::string::npos);

  auto lookup = e.token_lookup("https://mirror.example:8443/org/name");
  EXPECT_EQ(lookup.origin, "https://mirror.example:8443");
  EXPECT_EQ(lookup.protocol, "https");
  lookup.use_git_credential = false;
  auto cred = net::find_credentials(lookup);
  EXPECT_FALSE(cred.token.empty());
  EXPECT_EQ(net::describe_token_source(cred).find("hf_secret_value"), std::string::npos);
}

}  // namespace
}  // namespace sd35::store
