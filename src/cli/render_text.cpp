#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <vector>

#include "cli/render_impl.hpp"
#include "util/strings.hpp"

namespace sd35::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kReset = "\x1b[0m";
constexpr const char* kBold = "\x1b[1m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kDim = "\x1b[2m";

std::string format_rate(double bytes_per_s) {
  return bytes_per_s > 0 ? str::human_bytes(static_cast<std::uint64_t>(bytes_per_s)) + "/s" : "-";
}

std::string format_eta(const ProgressUpdate& u) {
  if (u.total == 0 || u.rate_per_s <= 0 || u.done >= u.total) return "";
  auto secs = static_cast<std::uint64_t>(static_cast<double>(u.total - u.done) / u.rate_per_s);
  return secs >= 3600 ? fmt::format("ETA {}h{:02}m", secs / 3600, (secs % 3600) / 60)
                      : fmt::format("ETA {}m{:02}s", secs / 60, secs % 60);
}

// TTY: colour, one redrawn progress line (at most 10 redraws a second), findings as a table at
// the end. Plain: no escapes, a progress line per item at most every 5 s, findings as lines.
class TextRenderer final : public Reporter {
 public:
  explicit TextRenderer(const RenderOptions& o) : o_(o), tty_(o.mode == RenderMode::tty) {}

  void event(Level level, std::string_view message, const nlohmann::json&) override {
    if (o_.verbosity < 0 && level < Level::warn) return;
    if (o_.verbosity < 1 && level == Level::debug) return;
    std::lock_guard lock(mu_);
    clear_bar();
    const char* color = level == Level::error ? kRed : level == Level::warn ? kYellow : kDim;
    std::string prefix = level == Level::info ? "" : std::string(to_string(level)) + ": ";
    std::fputs(
        fmt::format("{}{}{}{}\n", paint(color, ""), prefix, message, paint(kReset, "")).c_str(),
        o_.err);
  }

  void progress(const ProgressUpdate& u) override {
    if (o_.verbosity < 0) return;
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    auto& last = last_draw_[u.item];
    const auto min_gap = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
    if (!u.finished && now - last < min_gap) return;
    last = now;
    std::string amount =
        u.total ? fmt::format("{} / {}", str::human_bytes(u.done), str::human_bytes(u.total))
                : str::human_bytes(u.done);
    std::string label = u.item.empty() ? u.task : fmt::format("{} {}", u.task, u.item);
    if (tty_) {
      int pct =
          u.total
              ? static_cast<int>(100.0 * static_cast<double>(u.done) / static_cast<double>(u.total))
              : 0;
      int filled = pct / 5;
      std::string bar = std::string(static_cast<std::size_t>(filled), '#') +
                        std::string(static_cast<std::size_t>(20 - filled), '.');
      std::fputs(fmt::format("\r\x1b[2K{} [{}] {:3}% {}  {}  {}", label, bar, pct, amount,
                             format_rate(u.rate_per_s), format_eta(u))
                     .c_str(),
                 o_.err);
      bar_visible_ = true;
      if (u.finished) {
        std::fputc('\n', o_.err);
        bar_visible_ = false;
      }
    } else {
      std::fputs(fmt::format("{}: {} {} {}{}\n", label, u.finished ? "done" : "at", amount,
                             format_rate(u.rate_per_s), u.finished ? "" : " " + format_eta(u))
                     .c_str(),
                 o_.err);
    }
    std::fflush(o_.err);
  }

  void finding(const Finding& f) override {
    std::lock_guard lock(mu_);
    if (tty_) {
      findings_.push_back(f);
      return;
    }
    if (o_.verbosity < 0 && (f.verdict == Verdict::pass || f.verdict == Verdict::skip)) return;
    std::string where =
        f.file.empty() ? ""
                       : fmt::format(" [{}{}]", f.file, f.tensor.empty() ? "" : ":" + f.tensor);
    std::fputs(fmt::format("{} {}{}: {}\n", verdict_word(f.verdict), f.id, where, f.detail).c_str(),
               o_.out);
    if (!f.fix.empty() && f.verdict != Verdict::pass)
      std::fputs(fmt::format("     fix: {}\n", f.fix).c_str(), o_.out);
  }

  void result(std::string_view, const nlohmann::json& doc) override {
    std::lock_guard lock(mu_);
    pending_results_.push_back(doc);
  }

  void finish() override {
    std::lock_guard lock(mu_);
    clear_bar();
    if (tty_ && !findings_.empty()) print_table();
    for (const auto& doc : pending_results_) {
      if (doc.contains("summary") && doc["summary"].is_array()) {
        for (const auto& l : doc["summary"])
          std::fputs((l.get<std::string>() + "\n").c_str(), o_.out);
      } else {
        std::fputs((doc.dump(2) + "\n").c_str(), o_.out);
      }
    }
    std::fflush(o_.out);
  }

 private:
  std::string paint(const char* code, std::string_view text) const {
    return o_.color ? fmt::format("{}{}", code, text) : std::string(text);
  }
  std::string verdict_word(Verdict v) const {
    switch (v) {
      case Verdict::pass:
        return paint(kGreen, "PASS") + paint(kReset, "");
      case Verdict::warn:
        return paint(kYellow, "WARN") + paint(kReset, "");
      case Verdict::fail:
        return paint(kRed, "FAIL") + paint(kReset, "");
      case Verdict::skip:
        return paint(kDim, "SKIP") + paint(kReset, "");
    }
    return "????";
  }
  void clear_bar() {
    if (bar_visible_) {
      std::fputs("\r\x1b[2K", o_.err);
      bar_visible_ = false;
    }
  }
  void print_table() {
    std::size_t id_w = 5;
    for (const auto& f : findings_) id_w = std::max(id_w, f.id.size());
    std::fputs(fmt::format("{}{:<6}{:<{}}  {}{}\n", paint(kBold, ""), "", "check", id_w, "result",
                           paint(kReset, ""))
                   .c_str(),
               o_.out);
    for (const auto& f : findings_) {
      if (o_.verbosity < 0 && (f.verdict == Verdict::pass || f.verdict == Verdict::skip)) continue;
      std::string where = f.file.empty() ? "" : fmt::format(" [{}]", f.file);
      std::fputs(
          fmt::format("{}  {:<{}}  {}{}\n", verdict_word(f.verdict), f.id, id_w, f.detail, where)
              .c_str(),
          o_.out);
      if (!f.fix.empty() && f.verdict != Verdict::pass)
        std::fputs(fmt::format("      {:<{}}  {}fix: {}{}\n", "", id_w, paint(kDim, ""), f.fix,
                               paint(kReset, ""))
                       .c_str(),
                   o_.out);
    }
  }

  RenderOptions o_;
  bool tty_;
  bool bar_visible_ = false;
  std::mutex mu_;
  std::map<std::string, Clock::time_point> last_draw_;
  std::vector<Finding> findings_;
  std::vector<nlohmann::json> pending_results_;
};

}  // namespace

std::unique_ptr<Reporter> make_text_renderer(const RenderOptions& options) {
  return std::make_unique<TextRenderer>(options);
}

}  // namespace sd35::cli
