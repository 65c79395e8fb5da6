#include "net/http.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>
#include <mutex>

#include "net/curl_auth.hpp"
#include "util/strings.hpp"

namespace sd35::net {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::map<std::string, std::string>*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) headers->clear();  // a new response (after a redirect or 100)
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    (*headers)[str::to_lower(str::trim(line.substr(0, colon)))] =
        std::string(str::trim(line.substr(colon + 1)));
  return size * n;
}

// The authority of a URL without userinfo ("host", "host:port", "[v6]:port"); empty when none.
std::string_view authority_part(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  return rest;
}

}  // namespace

std::string host_of(std::string_view url) {
  const std::string_view rest = authority_part(url);
  if (!rest.empty() && rest.front() == '[')
    return str::to_lower(rest.substr(0, rest.find(']') + 1));
  return str::to_lower(rest.substr(0, rest.find(':')));
}

std::string authority_of(std::string_view url) {
  return str::to_lower(authority_part(url));
}

std::string origin_of(std::string_view url) {
  auto scheme_end = url.find("://");
  std::string host = host_of(url);
  if (scheme_end == std::string_view::npos || host.empty()) return {};
  std::string scheme = str::to_lower(url.substr(0, scheme_end));
  std::string_view auth = authority_part(url);
  auto close = auth.rfind(']');
  auto colon = auth.rfind(':');
  std::string port;
  if (colon != std::string_view::npos && (close == std::string_view::npos || colon > close))
    port = std::string(auth.substr(colon + 1));
  if (port.empty()) port = scheme == "https" ? "443" : scheme == "http" ? "80" : "";
  if (port.empty() || !str::parse_u64(port)) return {};
  return fmt::format("{}://{}:{}", scheme, host, *str::parse_u64(port));
}

bool Credentials::allowed_for(std::string_view url) const {
  return !token.empty() && !origin.empty() && origin_of(url) == origin;
}

std::string redact_url(std::string_view url) {
  std::string out(url.substr(0, url.find_first_of("?#")));
  auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    auto at = out.find('@', scheme + 3);
    auto slash = out.find('/', scheme + 3);
    if (at != std::string::npos && (slash == std::string::npos || at < slash))
      out.erase(scheme + 3, at - scheme - 2);
  }
  return out;
}

Result<Response> perform(const Request& req) {
  global_init();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), curl_easy_cleanup);
  if (!h) return make_error(Errc::internal, "curl_easy_init failed");
  Response resp;
  char errbuf[CURL_ERROR_SIZE] = {};
  CURL* c = h.get();
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, req.max_redirects);
  curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);  // never resend credentials to another host
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
                   static_cast<long>(req.connect_timeout.count()));              // NOLINT
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(req.timeout.count()));  // NOLINT
  curl_easy_setopt(c, CURLOPT_USERAGENT, "sd35-setup/" SD35_VERSION);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.headers);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (req.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(req.body.size()));  // NOLINT
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  curl_slist* headers = nullptr;
  for (const auto& [k, v] : req.headers)
    headers = curl_slist_append(headers, fmt::format("{}: {}", k, v).c_str());
  apply_credentials(c, &headers, req.credentials, req.url);
  apply_transport(c, req.transport, req.url);
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_guard(headers,
                                                                           curl_slist_free_all);
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return curl_error(rc, errbuf, req.method, redact_url(req.url), req.transport);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  char* eff = nullptr;
  curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &eff);
  if (eff) resp.effective_url = eff;
  curl_off_t retry_after = 0;
  if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
    resp.retry_after = std::chrono::seconds(retry_after);
  return resp;
}

}  // namespace sd35::net
