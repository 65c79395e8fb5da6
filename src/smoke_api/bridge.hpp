// Both sides of the C plugin boundary (smoke_api/plugin_abi.h): a Reporter seen as C callbacks
// and back, and Result<json> as JSON text. Compiled into the host and, separately, into the
// plugin, each under its own C++ ABI; only C types cross.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "smoke_api/plugin_abi.h"
#include "util/reporter.hpp"
#include "util/result.hpp"

namespace sd35::smoke {

// Host side: C callbacks that forward to `reporter` (which must outlive the returned struct).
Sd35SmokeReporter c_reporter_for(Reporter& reporter);

// Plugin side: a Reporter that calls the host's callbacks.
class CallbackReporter final : public Reporter {
 public:
  explicit CallbackReporter(const Sd35SmokeReporter& host) : host_(host) {}
  using Reporter::event;
  void event(Level level, std::string_view message, const nlohmann::json& fields) override;
  void progress(const ProgressUpdate& update) override;
  void finding(const Finding& finding) override;
  void result(std::string_view, const nlohmann::json&) override {}  // returned, not reported

 private:
  Sd35SmokeReporter host_;
};

// {"ok":true,"result":...} / {"ok":false,"error":{...}} and back.
std::string encode_result(const Result<nlohmann::json>& result);
Result<nlohmann::json> decode_result(const char* text);

}  // namespace sd35::smoke
