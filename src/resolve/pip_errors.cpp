#include "resolve/pip_errors.hpp"

#include <fmt/format.h>

#include <utility>

#include "util/strings.hpp"

namespace sd35::resolve {
namespace {

bool has(std::string_view text, std::string_view needle) {
  return text.find(needle) != std::string_view::npos;
}

// {code, hint} for pip's network failures; code internal when the message is not one.
std::pair<Errc, std::string> network_class(std::string_view err) {
  if (has(err, "CERTIFICATE_VERIFY_FAILED") || has(err, "SSLError"))
    return {Errc::network,
            "the index's TLS certificate is not trusted: if a proxy or mirror re-signs TLS, point "
            "PIP_CERT (or REQUESTS_CA_BUNDLE) at its CA file; otherwise check the clock"};
  if (has(err, "ProxyError") || has(err, "Cannot connect to proxy"))
    return {Errc::network, "pip cannot reach the proxy: check https_proxy / HTTPS_PROXY"};
  if (has(err, "Name or service not known") || has(err, "Temporary failure in name resolution") ||
      has(err, "nodename nor servname") || has(err, "getaddrinfo failed"))
    return {Errc::network,
            "the index host name does not resolve: check the --index URL and DNS (an offline "
            "machine cannot resolve; plan there with --host FILE and no --closure)"};
  if (has(err, "Connection refused"))
    return {Errc::network,
            "the index refused the connection: check the index URL (--index, or the wheel URLs "
            "of the resolution), https_proxy / NO_PROXY and the firewall"};
  if (has(err, "timed out") || has(err, "ConnectTimeoutError") || has(err, "ReadTimeoutError"))
    return {Errc::timeout, "the index did not answer in time: check the network, then retry"};
  if (has(err, "NewConnectionError") || has(err, "Could not fetch URL") ||
      has(err, "Max retries exceeded") || has(err, "HTTP error"))
    return {Errc::network, "pip could not reach the index: check the --index URL and the network"};
  return {Errc::internal, {}};
}

}  // namespace

std::string pip_message(std::string_view err, std::size_t max_bytes) {
  std::string_view text = str::trim(err);
  if (text.size() <= max_bytes) return std::string(text);
  text.remove_prefix(text.size() - max_bytes);
  if (auto nl = text.find('\n'); nl != std::string_view::npos) text.remove_prefix(nl + 1);
  return "[...]\n" + std::string(text);
}

Error pip_failure(const proc::Outcome& outcome, const PipFailureContext& context) {
  const std::string message =
      fmt::format("{} (exit {}{}): {}", context.what, outcome.exit_code,
                  outcome.timed_out ? ", timed out" : "", pip_message(outcome.err));
  if (has(outcome.err, "THESE PACKAGES DO NOT MATCH THE HASHES"))
    return make_error(
        Errc::integrity, message, context.where,
        "a downloaded wheel differs from the lock: the index changed or was tampered with");
  auto [code, hint] = network_class(outcome.err);
  if (code != Errc::internal) return make_error(code, message, context.where, std::move(hint));
  return make_error(context.otherwise, message, context.where, context.hint);
}

}  // namespace sd35::resolve
