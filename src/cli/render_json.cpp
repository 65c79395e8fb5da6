#include <fmt/format.h>

#include <chrono>
#include <map>
#include <mutex>

#include "cli/render_impl.hpp"

namespace sd35::cli {
namespace {

// Result document -> stdout (one JSON value per command); events, progress, findings -> stderr
// as one JSON object per line, so `sd35-setup --json doctor | jq` sees only the document.
class JsonRenderer final : public Reporter {
 public:
  explicit JsonRenderer(const RenderOptions& o) : o_(o) {}

  void event(Level level, std::string_view message, const nlohmann::json& fields) override {
    if (o_.verbosity < 0 && level < Level::warn) return;
    if (o_.verbosity < 1 && level == Level::debug) return;
    nlohmann::json j = {{"type", "event"}, {"level", to_string(level)}, {"message", message}};
    if (!fields.empty()) j["fields"] = fields;
    if (o_.verbosity >= 2)  // -vv: when it happened
      j["elapsed_s"] = std::chrono::duration<double>(o_.now() - start_).count();
    line(j);
  }
  void progress(const ProgressUpdate& u) override {
    if (o_.verbosity < 0) return;
    const auto now = o_.now();
    {
      // The first update of an item always prints; then one line per second, and the completion.
      std::lock_guard lock(mu_);
      const std::string key = u.task + "\x1f" + u.item;
      auto last = last_.find(key);
      if (!u.finished && last != last_.end() && now - last->second < std::chrono::seconds(1))
        return;
      last_[key] = now;
    }
    auto eta = u.eta_s();
    line({{"type", "progress"},
          {"task", u.task},
          {"item", u.item},
          {"done", u.done},
          {"total", u.total},
          {"rate_per_s", u.rate_per_s},
          {"eta_s", eta ? nlohmann::json(*eta) : nlohmann::json()},
          {"finished", u.finished}});
  }
  void finding(const Finding& f) override {
    nlohmann::json j = f.to_json();
    j["type"] = "finding";
    line(j);
  }
  void result(std::string_view, const nlohmann::json& doc) override {
    std::lock_guard lock(mu_);
    std::fputs(doc.dump(2).c_str(), o_.out);
    std::fputc('\n', o_.out);
    std::fflush(o_.out);
  }

 private:
  void line(const nlohmann::json& j) {
    std::lock_guard lock(mu_);
    std::fputs(j.dump().c_str(), o_.err);
    std::fputc('\n', o_.err);
  }
  RenderOptions o_;
  std::mutex mu_;
  std::map<std::string, RenderClock::time_point> last_;
  const RenderClock::time_point start_ = o_.now();
};

}  // namespace

std::unique_ptr<Reporter> make_json_renderer(const RenderOptions& options) {
  return std::make_unique<JsonRenderer>(options);
}

}  // namespace sd35::cli
