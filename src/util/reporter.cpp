#include "util/reporter.hpp"

namespace sd35 {

std::string_view to_string(Level level) noexcept {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}

std::string_view to_string(Verdict verdict) noexcept {
  switch (verdict) {
    case Verdict::pass:
      return "pass";
    case Verdict::warn:
      return "warn";
    case Verdict::fail:
      return "fail";
    case Verdict::skip:
      return "skip";
  }
  return "fail";
}

std::optional<double> ProgressUpdate::eta_s() const {
  if (finished || (total > 0 && done >= total)) return 0.0;
  if (total == 0 || rate_per_s <= 0) return std::nullopt;
  return static_cast<double>(total - done) / rate_per_s;
}

nlohmann::json Finding::to_json() const {
  nlohmann::json j = {{"id", id},
                      {"verdict", to_string(verdict)},
                      {"title", title},
                      {"detail", detail},
                      {"required", required}};
  if (!fix.empty()) j["fix"] = fix;
  if (!file.empty()) j["file"] = file;
  if (!tensor.empty()) j["tensor"] = tensor;
  if (!rule.empty()) j["rule"] = rule;
  if (!data.empty()) j["data"] = data;
  return j;
}

}  // namespace sd35
