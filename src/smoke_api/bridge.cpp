#include "smoke_api/bridge.hpp"

#include <fmt/format.h>

namespace sd35::smoke {
namespace {

// Text from tensors or paths may hold invalid UTF-8: replace it rather than throw.
std::string safe_dump(const nlohmann::json& doc) {
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json parse_or_empty(const char* text) {
  if (text == nullptr) return nlohmann::json::object();
  auto doc = nlohmann::json::parse(text, nullptr, false);
  return doc.is_discarded() ? nlohmann::json::object() : doc;
}

void host_event(void* context, int level, const char* message, const char* fields_json) {
  auto& reporter = *static_cast<Reporter*>(context);
  const int clamped = level < 0 ? 0 : (level > 3 ? 3 : level);
  reporter.event(static_cast<Level>(clamped), message ? message : "", parse_or_empty(fields_json));
}

void host_progress(void* context, const char* update_json) {
  const auto doc = parse_or_empty(update_json);
  ProgressUpdate u;
  u.task = doc.value("task", "smoke");
  u.item = doc.value("item", "");
  u.done = doc.value("done", std::uint64_t{0});
  u.total = doc.value("total", std::uint64_t{0});
  u.rate_per_s = doc.value("rate_per_s", 0.0);
  u.finished = doc.value("finished", false);
  static_cast<Reporter*>(context)->progress(u);
}

Verdict verdict_from(const std::string& text) {
  if (text == "fail") return Verdict::fail;
  if (text == "warn") return Verdict::warn;
  if (text == "skip") return Verdict::skip;
  return Verdict::pass;
}

void host_finding(void* context, const char* finding_json) {
  const auto doc = parse_or_empty(finding_json);
  Finding f;
  f.id = doc.value("id", "smoke");
  f.verdict = verdict_from(doc.value("verdict", "pass"));
  f.title = doc.value("title", "");
  f.detail = doc.value("detail", "");
  f.fix = doc.value("fix", "");
  f.required = doc.value("required", true);
  if (doc.contains("data")) f.data = doc["data"];
  static_cast<Reporter*>(context)->finding(f);
}

}  // namespace

Sd35SmokeReporter c_reporter_for(Reporter& reporter) {
  return Sd35SmokeReporter{&reporter, &host_event, &host_progress, &host_finding};
}

void CallbackReporter::event(Level level, std::string_view message, const nlohmann::json& fields) {
  if (host_.event == nullptr) return;
  const std::string text(message);
  host_.event(host_.context, static_cast<int>(level), text.c_str(), safe_dump(fields).c_str());
}

void CallbackReporter::progress(const ProgressUpdate& u) {
  if (host_.progress == nullptr) return;
  const nlohmann::json doc{{"task", u.task},
                           {"item", u.item},
                           {"done", u.done},
                           {"total", u.total},
                           {"rate_per_s", u.rate_per_s},
                           {"finished", u.finished}};
  host_.progress(host_.context, safe_dump(doc).c_str());
}

void CallbackReporter::finding(const Finding& f) {
  if (host_.finding != nullptr) host_.finding(host_.context, safe_dump(f.to_json()).c_str());
}

std::string encode_result(const Result<nlohmann::json>& result) {
  if (result) return safe_dump(nlohmann::json{{"ok", true}, {"result", *result}});
  const Error& e = result.error();
  return safe_dump({{"ok", false},
                    {"error",
                     {{"code", static_cast<int>(e.code)},
                      {"message", e.message},
                      {"where", e.where},
                      {"hint", e.hint}}}});
}

Result<nlohmann::json> decode_result(const char* text) {
  const auto doc = nlohmann::json::parse(text ? text : "", nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("ok"))
    return make_error(Errc::internal, "the smoke plugin returned no readable result",
                      "smoke plugin", "rebuild the plugin: it may come from another version");
  if (doc.value("ok", false)) return doc.value("result", nlohmann::json::object());
  const auto& e = doc.at("error");
  const int code = e.value("code", 0);
  const bool known = code >= 0 && code <= static_cast<int>(Errc::missing_file);
  return Error{known ? static_cast<Errc>(code) : Errc::internal, e.value("message", "?"),
               e.value("where", ""), e.value("hint", "")};
}

}  // namespace sd35::smoke
