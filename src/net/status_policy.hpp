// One table for what an HTTP status means to the fetch engine (git-lfs lfshttp/errors.go and
// huggingface_hub's hf_raise_for_status): which errors are fatal, which are retried and when.
// Retry is data here, not control flow: the transfer loop only reads `retry` and `wait`.
#pragma once

#include <chrono>
#include <optional>

#include "util/error.hpp"

namespace sd35::net {

enum class Endpoint { api, object };  // LFS batch API / an object href

struct StatusPolicy {
  bool ok = false;
  Errc code = Errc::internal;         // when !ok
  bool retry = false;                 // try again later
  bool refresh_action = false;        // object href refused: ask the batch API for a new one
  std::chrono::milliseconds wait{0};  // how long to wait before the retry
};

struct BackoffParams {
  std::chrono::milliseconds base{250};
  std::chrono::milliseconds max_delay{10000};
  std::chrono::seconds max_retry_after{300};
};

// `attempt` counts from 1 (the first retry). Retry-After wins over the backoff, capped.
StatusPolicy classify_status(long status, Endpoint endpoint,
                             int attempt,  // NOLINT(google-runtime-int)
                             std::optional<std::chrono::seconds> retry_after,
                             const BackoffParams& p = {});

// 250 ms * 2^(attempt-1), capped.
std::chrono::milliseconds backoff_delay(int attempt, const BackoffParams& p = {});

}  // namespace sd35::net
