// Blocking HTTP(S) requests over libcurl for small documents (LFS batch API, package indexes).
// Large transfers go through the curl-multi transfer engine instead. Credentials are sent only
// to their origin (scheme, host and port); redirects never carry them anywhere else.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/result.hpp"
#include "util/secret.hpp"

namespace sd35::net {
struct Transport;
}

namespace sd35::net {

struct Credentials {
  std::string username = "user";  // Hugging Face ignores it; the token is the password
  Secret token;
  bool bearer = false;  // "Authorization: Bearer <token>" instead of Basic
  // The only origin that may receive them: "scheme://host:port" as origin_of() spells it. An
  // http URL never matches an https origin, nor another port or host.
  std::string origin;
  std::string source;  // where the token came from, for messages ("HF_TOKEN", ...); never the value
  [[nodiscard]] bool allowed_for(std::string_view url) const;
};

struct Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  const Credentials* credentials = nullptr;
  const Transport* transport = nullptr;  // proxy and CA; null: curl's defaults
  std::chrono::seconds connect_timeout{15};
  std::chrono::seconds timeout{120};
  long max_redirects = 10;  // NOLINT(google-runtime-int): curl's type
};

struct Response {
  long status = 0;                             // NOLINT(google-runtime-int)
  std::map<std::string, std::string> headers;  // lowercase names; last value wins
  std::string body;
  std::string effective_url;
  std::optional<std::chrono::seconds> retry_after;
};

// Transport failures (DNS, connect, TLS, timeout) are errors (an untrusted certificate is
// `permanent`); any HTTP status is a Response.
Result<Response> perform(const Request& request);

// The host part of a URL, lowercase, without port or userinfo; empty when unparsable.
std::string host_of(std::string_view url);
// "scheme://host:port" (lowercase, the scheme's default port filled in); empty when unparsable.
std::string origin_of(std::string_view url);
// host, or host:port when the URL names a port (what `git credential` calls the host).
std::string authority_of(std::string_view url);
// A URL safe to print: userinfo and query strings removed.
std::string redact_url(std::string_view url);

}  // namespace sd35::net
