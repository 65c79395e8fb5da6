// The one place a token is put on a curl handle (used by the blocking client and the transfer
// engine). Only for `url`s on the credentials' origin (scheme, host, port); curl never resends them
// to another host, port or scheme on a redirect (CURLOPT_UNRESTRICTED_AUTH stays 0, curl >= 7.83),
// and drops a custom Authorization header there too.
#pragma once

#include <curl/curl.h>

#include <string_view>

#include "net/http.hpp"
#include "net/transport.hpp"

namespace sd35::net {

// Returns whether credentials were added. Bearer goes into `headers` (the caller sets
// CURLOPT_HTTPHEADER afterwards and frees the list); Basic uses curl's own user/password options.
bool apply_credentials(CURL* handle, curl_slist** headers, const Credentials* credentials,
                       std::string_view url);

// The proxy for `url` (or explicitly none, so curl never reads the environment differently from
// libgit2) and the CA certificates. Nothing when `transport` is null (curl's defaults).
void apply_transport(CURL* handle, const Transport* transport, std::string_view url);

// A failed transfer as an Error: what, where, what to do. A TLS verification failure is permanent
// (not retried) and names the CA certificates that were used.
Error curl_error(CURLcode rc, const char* errbuf, std::string_view what, std::string where,
                 const Transport* transport);

}  // namespace sd35::net
