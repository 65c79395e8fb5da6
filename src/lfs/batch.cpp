#include "lfs/batch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <thread>

#include "net/credentials.hpp"
#include "net/status_policy.hpp"
#include "util/cancel.hpp"
#include "util/json_reader.hpp"
#include "util/strings.hpp"

namespace sd35::lfs {
namespace {

// Expiry times beyond this are "does not expire" (the clock's nanoseconds would overflow near
// 2262); before the epoch they are already past.
constexpr std::time_t kNeverExpires = 4'102'444'800;  // 2100-01-01T00:00:00Z

std::optional<Clock::time_point> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return std::nullopt;
  const std::time_t t = timegm(&tm);
  if (t >= kNeverExpires) return std::nullopt;
  return Clock::from_time_t(std::max<std::time_t>(t, 0));
}

// `expires_in` seconds after `sent_at`, the seconds clamped to what the clock can hold.
Clock::time_point expires_after(Clock::time_point sent_at, std::int64_t seconds) {
  constexpr std::int64_t kTenYears = 10LL * 365 * 24 * 3600;
  return sent_at + std::chrono::seconds(std::clamp(seconds, -kTenYears, kTenYears));
}

Error api_error(long status, const std::string& body,
                const BatchClient& c,  // NOLINT(google-runtime-int)
                const net::StatusPolicy& policy) {
  std::string server_message;
  if (auto j = nlohmann::json::parse(body, nullptr, false);
      j.is_object() && j.contains("message") && j["message"].is_string())
    server_message = j["message"].get<std::string>();
  std::string where = net::redact_url(c.endpoint + "/objects/batch");
  std::string said = server_message.empty() ? "" : fmt::format(" (server: {})", server_message);
  const net::Credentials none;
  const net::Credentials& cred = c.credentials ? *c.credentials : none;
  switch (policy.code) {
    case Errc::auth:
      return make_error(
          Errc::auth,
          fmt::format("LFS batch API refused the request with 401: {} is missing or invalid{}",
                      net::describe_token_source(cred), said),
          where,
          "create a read token at https://huggingface.co/settings/tokens and export HF_TOKEN");
    case Errc::gated:
      return make_error(Errc::gated,
                        fmt::format("LFS batch API refused access with 403 using {}{}",
                                    net::describe_token_source(cred), said),
                        where,
                        fmt::format("accept the license at {} with the account that owns the token",
                                    c.repo_page));
    case Errc::not_found:
      return make_error(
          Errc::not_found, fmt::format("LFS batch API answered 404: repository not found{}", said),
          where, "check the repository id and HF_ENDPOINT; private repositories need a token");
    case Errc::rate_limited:
      return make_error(
          Errc::rate_limited, fmt::format("the hub kept answering 429 (rate limited){}", said),
          where,
          "wait a few minutes and run the command again; a token raises the anonymous limit");
    default:
      return make_error(policy.code == Errc::internal ? Errc::network : policy.code,
                        fmt::format("LFS batch API answered HTTP {}{}", status, said), where,
                        "retry later; if it persists the LFS server is failing");
  }
}

}  // namespace

std::string lfs_endpoint(std::string_view repo_url, std::string_view lfs_url) {
  std::string base(lfs_url.empty() ? repo_url : lfs_url);
  while (base.ends_with("/")) base.pop_back();
  if (!lfs_url.empty()) return base;
  if (!base.ends_with(".git")) base += ".git";
  return base + "/info/lfs";
}

std::string lfs_url_from_config(std::string_view text) {
  bool in_lfs = false;
  for (auto raw : str::split(text, '\n')) {
    auto line = str::trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      in_lfs = str::to_lower(str::trim(line.substr(1, line.find(']') - 1))) == "lfs";
      continue;
    }
    auto eq = line.find('=');
    if (in_lfs && eq != std::string_view::npos &&
        str::to_lower(str::trim(line.substr(0, eq))) == "url") {
      auto v = str::trim(line.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return std::string(v);
    }
  }
  return {};
}

nlohmann::json build_download_request(const std::vector<Pointer>& objects,
                                      std::string_view ref_name) {
  nlohmann::json objs = nlohmann::json::array();
  for (const auto& o : objects) objs.push_back({{"oid", o.oid}, {"size", o.size}});
  nlohmann::json req = {{"operation", "download"},
                        {"transfers", {"basic"}},
                        {"objects", objs},
                        {"hash_algo", "sha256"}};
  if (!ref_name.empty()) req["ref"] = {{"name", ref_name}};
  return req;
}

Result<std::vector<ObjectResult>> parse_batch_response(std::string_view body,
                                                       Clock::time_point sent_at,
                                                       std::string_view where) {
  auto bad = [&](const std::string& what) {
    return make_error(
        Errc::network, "malformed LFS batch response: " + what, std::string(where),
        "the LFS server is misbehaving; retry, or report it to the server's operator");
  };
  // The strict reader: no exceptions, and nesting deep enough to overflow dump() is refused.
  auto parsed = jsonio::parse(body, where);
  if (!parsed) return bad(parsed.error().message);
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) return bad("not a JSON object");
  if (j.contains("transfer") && j["transfer"] != "basic")
    return bad(fmt::format("transfer '{}' was not asked for", j["transfer"].dump()));
  if (j.contains("hash_algo") && j["hash_algo"] != "sha256")
    return bad(fmt::format("hash_algo {} is not sha256", j["hash_algo"].dump()));
  if (!j.contains("objects") || !j["objects"].is_array()) return bad("no 'objects' array");
  std::vector<ObjectResult> out;
  for (const auto& o : j["objects"]) {
    if (!o.is_object() || !o.contains("oid") || !o["oid"].is_string())
      return bad("an object without an oid");
    ObjectResult r;
    r.object.oid = o["oid"].get<std::string>();
    if (o.contains("size") && o["size"].is_number_unsigned())
      r.object.size = o["size"].get<std::uint64_t>();
    if (o.contains("error") && o["error"].is_object()) {
      const auto& e = o["error"];
      // A code or message of another type reads as absent, never as an exception.
      r.error_code = e.contains("code") && e["code"].is_number_integer() ? e["code"].get<int>() : 0;
      r.error_message = e.contains("message") && e["message"].is_string()
                            ? e["message"].get<std::string>()
                            : std::string();
    } else if (o.contains("actions") && o["actions"].is_object() &&
               o["actions"].contains("download")) {
      const auto& d = o["actions"]["download"];
      if (!d.is_object() || !d.contains("href") || !d["href"].is_string())
        return bad("a download action without href");
      Action a;
      a.href = d["href"].get<std::string>();
      if (d.contains("header") && d["header"].is_object())
        for (const auto& [k, v] : d["header"].items())
          if (v.is_string()) a.headers.emplace_back(k, v.get<std::string>());
      if (d.contains("expires_in") && d["expires_in"].is_number_integer())
        a.expires_at = expires_after(sent_at, d["expires_in"].get<std::int64_t>());
      else if (d.contains("expires_at") && d["expires_at"].is_string())
        a.expires_at = parse_rfc3339(d["expires_at"].get<std::string>());
      r.download = std::move(a);
    } else {
      r.error_code = 422;
      r.error_message = "the server gave neither a download action nor an error";
    }
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<ObjectResult>> BatchClient::request_actions(
    const std::vector<Pointer>& objects) const {
  std::vector<ObjectResult> all;
  const std::string url = endpoint + "/objects/batch";
  for (std::size_t first = 0; first < objects.size(); first += kMaxBatchObjects) {
    std::vector<Pointer> chunk(objects.begin() + static_cast<std::ptrdiff_t>(first),
                               objects.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                     objects.size(), first + kMaxBatchObjects)));
    net::Request req;
    req.method = "POST";
    req.url = url;
    req.headers = {{"Accept", "application/vnd.git-lfs+json"},
                   {"Content-Type", "application/vnd.git-lfs+json"}};
    req.body = build_download_request(chunk, ref_name).dump();
    req.credentials = credentials;
    req.transport = transport;
    for (int attempt = 1;; ++attempt) {
      if (cancel_requested())
        return make_error(Errc::interrupted, "interrupted", net::redact_url(url));
      auto sent_at = Clock::now();
      auto resp = net::perform(req);
      if (!resp) {
        if (attempt >= max_attempts || resp.error().permanent) return std::move(resp).error();
        std::this_thread::sleep_for(net::backoff_delay(attempt, {backoff_base}));
        continue;
      }
      auto policy = net::classify_status(resp->status, net::Endpoint::api, attempt,
                                         resp->retry_after, {backoff_base});
      if (policy.ok) {
        SD35_TRY(auto parsed, parse_batch_response(resp->body, sent_at, net::redact_url(url)));
        for (auto& r : parsed) all.push_back(std::move(r));
        break;
      }
      if (!policy.retry || attempt >= max_attempts)
        return api_error(resp->status, resp->body, *this, policy);
      auto deadline = std::chrono::steady_clock::now() + policy.wait;
      while (std::chrono::steady_clock::now() < deadline && !cancel_requested())
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return all;
}

}  // namespace sd35::lfs
