#include "net/transport.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>

#include "net/http.hpp"
#include "util/strings.hpp"

namespace sd35::net {
namespace {

std::optional<std::string> env_of(const EnvLookup& getenv, const char* name) {
  std::optional<std::string> v;
  if (getenv)
    v = getenv(name);
  else if (const char* s = std::getenv(name))
    v = std::string(s);
  if (v && str::trim(*v).empty()) v.reset();
  return v;
}

// The first of `names` that is set: {value, name}.
std::pair<std::string, std::string> first_of(const EnvLookup& getenv,
                                             std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (auto v = env_of(getenv, n)) return {std::string(str::trim(*v)), n};
  return {};
}

Error missing_ca(const std::string& path, const std::string& source, bool dir) {
  return make_error(
      Errc::missing_file,
      fmt::format("the CA {} named by {} does not exist", dir ? "directory" : "file", source), path,
      fmt::format("fix or unset {}; it must name a PEM {} of trusted certificates", source,
                  dir ? "directory (with openssl rehash links)" : "file"));
}

}  // namespace

bool no_proxy_matches(std::string_view list, std::string_view host) {
  for (auto raw : str::split(list, ',')) {
    std::string entry = str::to_lower(str::trim(raw));
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry.front() == '.') entry.erase(0, 1);
    // "host:port" entries name the host only (curl's reading); brackets stay for IPv6.
    if (auto colon = entry.rfind(':'); colon != std::string::npos &&
                                       entry.find(']') == std::string::npos &&
                                       entry.find(':') == colon)
      entry.erase(colon);
    if (host == entry) return true;
    if (host.size() > entry.size() && host.ends_with(entry) &&
        host[host.size() - entry.size() - 1] == '.')
      return true;
  }
  return false;
}

std::string TlsConfig::describe() const {
  if (!ca_file.empty())
    return fmt::format("the CA file {} (from {}){}", ca_file, source,
                       ca_dir.empty() ? "" : fmt::format(" and the CA directory {}", ca_dir));
  if (!ca_dir.empty()) return fmt::format("the CA directory {} (from {})", ca_dir, source);
  return "the system CA store";
}

std::string Transport::proxy_for(std::string_view url) const {
  std::string host = host_of(url);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || no_proxy_matches(proxy.no_proxy, host)) return {};
  const std::string& by_scheme = url.starts_with("https:")  ? proxy.https
                                 : url.starts_with("http:") ? proxy.http
                                                            : proxy.all;
  return by_scheme.empty() ? proxy.all : by_scheme;
}

Result<Transport> transport_from_env(std::string_view ca_file_option, const EnvLookup& getenv) {
  Transport t;
  std::tie(t.proxy.https, t.proxy.https_source) = first_of(getenv, {"https_proxy", "HTTPS_PROXY"});
  std::tie(t.proxy.http, t.proxy.http_source) = first_of(getenv, {"http_proxy", "HTTP_PROXY"});
  std::tie(t.proxy.all, t.proxy.all_source) = first_of(getenv, {"all_proxy", "ALL_PROXY"});
  t.proxy.no_proxy = first_of(getenv, {"no_proxy", "NO_PROXY"}).first;
  if (!ca_file_option.empty()) {
    t.tls.ca_file = std::string(ca_file_option);
    t.tls.source = "--ca-file";
  } else {
    std::tie(t.tls.ca_file, t.tls.source) = first_of(
        getenv, {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "SSL_CERT_FILE"});
  }
  auto [dir, dir_source] = first_of(getenv, {"SSL_CERT_DIR"});
  std::error_code ec;
  if (!t.tls.ca_file.empty() && !std::filesystem::is_regular_file(t.tls.ca_file, ec))
    return missing_ca(t.tls.ca_file, t.tls.source, false);
  if (!dir.empty()) {
    // SSL_CERT_DIR may list several directories (OpenSSL); the first one is used.
    dir = std::string(str::trim(dir.substr(0, dir.find(':'))));
    if (!std::filesystem::is_directory(dir, ec)) return missing_ca(dir, dir_source, true);
    t.tls.ca_dir = dir;
    if (t.tls.source.empty()) t.tls.source = dir_source;
  }
  return t;
}

}  // namespace sd35::net
