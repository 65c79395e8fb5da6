#include "store/hub_env.hpp"

#include <cstdlib>

#include "store/hf_cache_layout.hpp"
#include "util/strings.hpp"
#include "util/user_dirs.hpp"

namespace sd35::store {

namespace {

std::optional<std::string> lookup(const net::EnvLookup& getenv, const char* name) {
  if (getenv) return getenv(name);
  const char* v = std::getenv(name);
  return v == nullptr ? std::nullopt : std::optional<std::string>(v);
}

std::string nonempty(const net::EnvLookup& getenv, const char* name) {
  return lookup(getenv, name).value_or("");
}

std::string without_trailing_slash(std::string s) {
  while (s.ends_with("/")) s.pop_back();
  return s;
}

}  // namespace

bool env_flag_value(const std::optional<std::string>& value) {
  if (!value) return false;
  const std::string v = str::to_lower(str::trim(*value));
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

HubEnv read_hub_env(std::string_view cache_option, const net::EnvLookup& getenv) {
  HubEnv env;
  env.getenv = getenv;
  if (!cache_option.empty()) {
    env.cache_dir = std::string(cache_option);
    env.cache_source = "--cache";
  } else if (auto v = nonempty(getenv, "HF_HUB_CACHE"); !v.empty()) {
    env.cache_dir = v;
    env.cache_source = "HF_HUB_CACHE";
  } else if (auto h = nonempty(getenv, "HF_HOME"); !h.empty()) {
    env.cache_dir = std::filesystem::path(h) / "hub";
    env.cache_source = "HF_HOME";
  } else {
    env.cache_dir = user_cache_dir() / "huggingface" / "hub";
    env.cache_source = "default";
  }
  if (auto e = without_trailing_slash(std::string(str::trim(nonempty(getenv, "HF_ENDPOINT"))));
      !e.empty())
    env.endpoint = e;
  env.offline = env_flag_value(lookup(getenv, "HF_HUB_OFFLINE"));
  env.symlinks = !env_flag_value(lookup(getenv, "HF_HUB_DISABLE_SYMLINKS"));
  return env;
}

std::string HubEnv::repo_url(std::string_view repo) const {
  if (repo.starts_with("http://") || repo.starts_with("https://"))
    return without_trailing_slash(std::string(repo));
  auto id = repo_id_from(repo);  // "org/name" as the cache names it
  return endpoint + "/" + (id ? *id : without_trailing_slash(std::string(repo)));
}

Result<net::Transport> HubEnv::transport(std::string_view ca_file_option) const {
  return net::transport_from_env(ca_file_option, getenv);
}

net::TokenLookup HubEnv::token_lookup(const std::string& url) const {
  net::TokenLookup l;
  l.origin = net::origin_of(url);
  l.host = net::authority_of(url);
  l.protocol = url.substr(0, url.find(':'));
  l.getenv = getenv;
  return l;
}

}  // namespace sd35::store
