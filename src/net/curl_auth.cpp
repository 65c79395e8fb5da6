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

}  // namespace sd35::net
