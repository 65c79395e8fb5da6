// Git LFS batch API client (docs/api/batch.md): download actions for up to 100 objects per POST.
// Request building and response parsing are pure functions (unit-tested); `request_actions`
// does the HTTP with credentials restricted to the API host, retrying 429/5xx per status_policy.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lfs/pointer.hpp"
#include "net/http.hpp"
#include "net/transport.hpp"
#include "util/result.hpp"

namespace sd35::lfs {

inline constexpr std::size_t kMaxBatchObjects = 100;     // git-lfs lfs.transfer.batchSize
inline constexpr std::chrono::seconds kExpiryMargin{5};  // tq objectExpirationToTransfer

using Clock = std::chrono::system_clock;

struct Action {
  std::string href;
  std::vector<std::pair<std::string, std::string>> headers;  // sent exactly as given
  std::optional<Clock::time_point> expires_at;
  // True when the action is unusable at `now` (expires within the 5 s margin).
  [[nodiscard]] bool expired(Clock::time_point now) const {
    return expires_at && *expires_at - kExpiryMargin <= now;
  }
};

struct ObjectResult {
  Pointer object;
  std::optional<Action> download;  // set on success
  int error_code = 0;              // per-object error (404, 410, 422, ...)
  std::string error_message;
};

// "<repo>.git/info/lfs" for a repo URL; `lfs_url` (from .lfsconfig) wins when set.
std::string lfs_endpoint(std::string_view repo_url, std::string_view lfs_url = {});
// The `lfs.url` value of a .lfsconfig text (git config syntax), empty when absent.
std::string lfs_url_from_config(std::string_view lfsconfig_text);

nlohmann::json build_download_request(const std::vector<Pointer>& objects,
                                      std::string_view ref_name);
// `sent_at` is when the request left: `expires_in` counts from there.
Result<std::vector<ObjectResult>> parse_batch_response(std::string_view body,
                                                       Clock::time_point sent_at,
                                                       std::string_view where);

struct BatchClient {
  std::string endpoint;  // ".../info/lfs"
  const net::Credentials* credentials = nullptr;
  const net::Transport* transport = nullptr;  // proxy and CA certificates
  std::string ref_name;                       // "refs/heads/main"; empty: omitted
  std::string repo_page;                      // for 403 messages
  int max_attempts = 5;
  std::chrono::milliseconds backoff_base{250};

  // Splits into POSTs of ≤ 100 objects; whole-request errors (401/403/404/429 after retries) fail.
  [[nodiscard]] Result<std::vector<ObjectResult>> request_actions(
      const std::vector<Pointer>& objects) const;
};

}  // namespace sd35::lfs
