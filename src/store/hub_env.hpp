// The Hugging Face hub environment, read once per command: where the cache is, which endpoint an
// "org/name" resolves against, whether the network may be used, how snapshot entries are linked,
// and the lookup through which the token, proxy and CA variables are read (src/net/ keeps their
// rules: credentials.hpp, transport.hpp). fetch, verify, smoke and lock all take this struct, so
// they agree on every variable (docs/fetch.md "Cache layout", "Offline mode", "Mirrors").
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "net/credentials.hpp"
#include "net/transport.hpp"
#include "util/result.hpp"

namespace sd35::store {

inline constexpr std::string_view kDefaultEndpoint = "https://huggingface.co";

struct HubEnv {
  std::filesystem::path cache_dir;  // --cache, HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub
  std::string cache_source;         // "--cache" | "HF_HUB_CACHE" | "HF_HOME" | "default"
  std::string endpoint{kDefaultEndpoint};  // HF_ENDPOINT, without trailing '/'
  bool offline = false;                    // HF_HUB_OFFLINE
  bool symlinks = true;                    // false when HF_HUB_DISABLE_SYMLINKS is set
  // Token, proxy and CA variables are read through this (empty: the process environment).
  net::EnvLookup getenv;

  // The repository URL: "org/name" against the endpoint; an http(s) URL as given, trailing '/'
  // dropped. Credentials in a URL must have been split off first (net::split_userinfo).
  [[nodiscard]] std::string repo_url(std::string_view repo) const;
  // Proxies and CA certificates (`ca_file_option`: --ca-file, empty when not given).
  [[nodiscard]] Result<net::Transport> transport(std::string_view ca_file_option) const;
  // Where the token for `repo_url` is looked up (only that URL's origin ever gets it).
  [[nodiscard]] net::TokenLookup token_lookup(const std::string& repo_url) const;
};

// `cache_option` is --cache (empty when not given). `getenv` defaults to std::getenv.
HubEnv read_hub_env(std::string_view cache_option, const net::EnvLookup& getenv = {});

// "1", "true", "yes", "on" (any case) are set; anything else, or unset, is not.
bool env_flag_value(const std::optional<std::string>& value);

}  // namespace sd35::store
