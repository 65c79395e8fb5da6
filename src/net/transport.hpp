// How connections are made, from the usual variables, for libcurl and libgit2 alike: which proxy
// a URL goes through and which CA certificates verify TLS. Precedence (docs/fetch.md "Proxies and
// CA certificates"):
// - proxy: `https_proxy`, `HTTPS_PROXY` for https URLs; `http_proxy`, `HTTP_PROXY` for http; then
//   `all_proxy`, `ALL_PROXY`; none for hosts in `no_proxy` / `NO_PROXY` (lower case first).
// - CA file: --ca-file, `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, `GIT_SSL_CAINFO`, `SSL_CERT_FILE`;
//   CA directory: `SSL_CERT_DIR`. None set: the system store.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace sd35::net {

using EnvLookup = std::function<std::optional<std::string>(const char*)>;

struct ProxyConfig {
  std::string https, http, all;  // proxy URLs; empty: none
  std::string no_proxy;          // comma-separated hosts, domain suffixes, IPs, or "*"
  std::string https_source, http_source, all_source;  // the variable each came from
};

struct TlsConfig {
  std::string ca_file;  // empty: the system store
  std::string ca_dir;
  std::string source;  // "--ca-file", "SSL_CERT_FILE", ... (of the file, else of the dir)
  // "the CA file /x/ca.pem (from SSL_CERT_FILE)" / "the system CA store"
  [[nodiscard]] std::string describe() const;
};

struct Transport {
  ProxyConfig proxy;
  TlsConfig tls;
  // The proxy URL for `url`, empty for a direct connection.
  [[nodiscard]] std::string proxy_for(std::string_view url) const;
};

// `ca_file_option` is --ca-file (empty when not given). A named file or directory that does not
// exist is an error naming the variable. `getenv` defaults to std::getenv.
Result<Transport> transport_from_env(std::string_view ca_file_option, const EnvLookup& getenv = {});

// Whether `host` (lowercase, no port) is excluded by a NO_PROXY list.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

}  // namespace sd35::net
