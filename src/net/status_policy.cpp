#include "net/status_policy.hpp"

#include <algorithm>

namespace sd35::net {

std::chrono::milliseconds backoff_delay(int attempt, const BackoffParams& p) {
  int shift = std::clamp(attempt - 1, 0, 20);
  auto d = p.base * (1LL << shift);
  return std::min<std::chrono::milliseconds>(d, p.max_delay);
}

StatusPolicy classify_status(long status, Endpoint endpoint,
                             int attempt,  // NOLINT(google-runtime-int)
                             std::optional<std::chrono::seconds> retry_after,
                             const BackoffParams& p) {
  StatusPolicy s;
  if (status >= 200 && status < 300) {
    s.ok = true;
    return s;
  }
  auto later = [&](Errc code) {
    s.code = code;
    s.retry = true;
    s.wait = retry_after ? std::chrono::milliseconds(std::min(*retry_after, p.max_retry_after))
                         : backoff_delay(attempt, p);
  };
  switch (status) {
    case 401:
      s.code = Errc::auth;
      break;
    case 403:
      // On the API: the token is valid but has no access (gated, licence not accepted). On an
      // href: a signed URL that expired or was revoked; a fresh batch gives a new one.
      s.code = endpoint == Endpoint::api ? Errc::gated : Errc::network;
      s.refresh_action = endpoint == Endpoint::object;
      break;
    case 404:
    case 410:
      s.code = Errc::not_found;
      s.refresh_action = endpoint == Endpoint::object;
      break;
    case 416:
      later(Errc::network);
      s.wait = std::chrono::milliseconds(0);
      break;  // restart the range from 0
    case 408:
    case 429:
    case 503:
      later(status == 429 ? Errc::rate_limited : Errc::network);
      break;
    case 501:
    case 507:
    case 509:
      s.code = Errc::network;
      break;
    default:
      if (status >= 500 || endpoint == Endpoint::object)
        later(Errc::network);  // 5xx, and (as git-lfs does) any other error on an object GET
      else
        s.code = status == 422 ? Errc::bad_input : Errc::network;
      break;
  }
  return s;
}

}  // namespace sd35::net
