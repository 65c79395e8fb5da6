// Where a Hugging Face token comes from: the userinfo of the repository URL when it has one, then
// huggingface_hub's order plus git's credential helpers: HF_TOKEN (or the old
// HUGGING_FACE_HUB_TOKEN), then the token file (HF_TOKEN_PATH, $HF_HOME/token,
// ~/.cache/huggingface/token), then `git credential fill` for the hub's host (no prompt).
// The value stays inside a Secret; only its source is ever printed.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "net/http.hpp"

namespace sd35::net {

// A URL with its userinfo taken out. `user:password@` in a URL is a credential source: it is never
// kept in a URL that could be printed, logged or stored.
struct SplitUrl {
  std::string url;       // without userinfo
  std::string username;  // percent-decoded; empty when absent
  Secret password;       // percent-decoded; empty when absent
  bool had_userinfo = false;
};
SplitUrl split_userinfo(std::string_view url);

struct TokenLookup {
  std::string origin;              // origin_of(repo URL): the only origin the token goes to
  std::string host;                // host[:port] for git credential fill (lowercase)
  std::string protocol = "https";  // for git credential fill
  std::string url_username;        // from the repo URL's userinfo
  Secret url_password;             // from the repo URL's userinfo: wins over every other source
  bool bearer = false;             // --auth bearer
  bool use_git_credential = true;  // ask `git credential fill` when nothing else is set
  // Environment lookup, injectable for tests; default: std::getenv.
  std::function<std::optional<std::string>(const char*)> getenv;
};

// Credentials with an empty token when none was found (anonymous); `source` says where it came
// from.
Credentials find_credentials(const TokenLookup& lookup);

// Text for errors: "the token from HF_TOKEN" / "no token (HF_TOKEN, HF_TOKEN_PATH, ... are unset)".
std::string describe_token_source(const Credentials& c);

}  // namespace sd35::net
