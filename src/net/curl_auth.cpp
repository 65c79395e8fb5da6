#include "net/curl_auth.hpp"

#include <fmt/format.h>

namespace sd35::net {

bool apply_credentials(CURL* h, curl_slist** headers, const Credentials* c, std::string_view url) {
  if (!c || !c->allowed_for(url)) return false;
  curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
  if (c->bearer) {
    std::string header = fmt::format("Authorization: Bearer {}", c->token.reveal_for_transport());
    *headers = curl_slist_append(*headers, header.c_str());  // copies
    for (char& ch : header) ch = 0;
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH,
                     static_cast<long>(CURLAUTH_BASIC));  // NOLINT(google-runtime-int)
    curl_easy_setopt(h, CURLOPT_USERNAME, c->username.c_str());
    std::string password(c->token.reveal_for_transport());
    curl_easy_setopt(h, CURLOPT_PASSWORD, password.c_str());  // copies
    for (char& ch : password) ch = 0;
  }
  return true;
}

void apply_transport(CURL* h, const Transport* t, std::string_view url) {
  if (!t) return;
  curl_easy_setopt(h, CURLOPT_PROXY, t->proxy_for(url).c_str());  // "" = direct
  curl_easy_setopt(h, CURLOPT_NOPROXY, t->proxy.no_proxy.c_str());
  if (!t->tls.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, t->tls.ca_file.c_str());
  if (!t->tls.ca_dir.empty()) curl_easy_setopt(h, CURLOPT_CAPATH, t->tls.ca_dir.c_str());
}

namespace {

bool tls_verification_failed(CURLcode rc) {
  return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
         rc == CURLE_SSL_CERTPROBLEM || rc == CURLE_SSL_ISSUER_ERROR;
}

Errc errc_for(CURLcode c) {
  switch (c) {
    case CURLE_OPERATION_TIMEDOUT:
      return Errc::timeout;
    case CURLE_ABORTED_BY_CALLBACK:
      return Errc::interrupted;
    default:
      return Errc::network;
  }
}

std::string hint_for(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST:
      return "check the host name, DNS and HF_ENDPOINT; set HF_HUB_OFFLINE=1 to use the cache only";
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "check the proxy host in https_proxy / HTTPS_PROXY / http_proxy / ALL_PROXY";
    case CURLE_COULDNT_CONNECT:
      return "the server (or proxy) refused the connection: check the URL, https_proxy / "
             "NO_PROXY and the firewall";
    case CURLE_SSL_CONNECT_ERROR:
      return "the TLS handshake failed: check the clock, the proxy and the server";
    case CURLE_OPERATION_TIMEDOUT:
      return "the network is slow or the server stalled; retry";
    default:
      return "retry; if it persists, check connectivity to the server";
  }
}

}  // namespace

Error curl_error(CURLcode rc, const char* errbuf, std::string_view what, std::string where,
                 const Transport* t) {
  std::string detail = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc);
  if (!tls_verification_failed(rc))
    return make_error(errc_for(rc), fmt::format("{} failed: {}", what, detail), std::move(where),
                      hint_for(rc));
  std::string used = t ? t->tls.describe() : std::string("curl's default CA certificates");
  Error e = make_error(
      Errc::network,
      fmt::format("{} failed: the server's TLS certificate is not trusted ({}), checked against {}",
                  what, detail, used),
      std::move(where),
      "if a proxy or a private mirror re-signs TLS, pass its CA certificate with --ca-file (or "
      "SSL_CERT_FILE / REQUESTS_CA_BUNDLE); otherwise check the system clock and the "
      "ca-certificates package");
  e.permanent = true;
  return e;
}

}  // namespace sd35::net
