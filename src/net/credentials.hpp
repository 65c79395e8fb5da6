// Where a Hugging Face token comes from, in huggingface_hub's order plus git's credential helpers:
// HF_TOKEN (or the old HUGGING_FACE_HUB_TOKEN), then the token file (HF_TOKEN_PATH, $HF_HOME/token,
// ~/.cache/huggingface/token), then `git credential fill` for the hub's host (no prompt).
// The value stays inside a Secret; only its source is ever printed.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "net/http.hpp"

namespace sd35::net {

struct TokenLookup {
  std::string host;                // the hub host the token is for (lowercase)
  std::string protocol = "https";  // for git credential fill
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
