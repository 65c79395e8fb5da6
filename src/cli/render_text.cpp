#include <fmt/format.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "cli/render_impl.hpp"
#include "util/strings.hpp"

namespace sd35::cli {
namespace {

using Clock = RenderClock;

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
  auto eta = u.eta_s();
  if (u.finished || !eta || *eta <= 0) return "";
  auto secs = static_cast<std::uint64_t>(std::llround(*eta));
  return secs >= 3600 ? fmt::format("ETA {}h{:02}m", secs / 3600, (secs % 3600) / 60)
                      : fmt::format("ETA {}m{:02}s", secs / 60, secs % 60);
}

std::string label_of(const ProgressUpdate& u) {
  return u.item.empty() ? u.task : fmt::format("{} {}", u.task, u.item);
}

std::string amount_of(const ProgressUpdate& u) {
  return u.total ? fmt::format("{} / {}", str::human_bytes(u.done), str::human_bytes(u.total))
                 : str::human_bytes(u.done);
}

// One bar of at most `width` columns; a long label is shortened from the left (the file name at
// the end of a path is what tells files apart).
std::string bar_line(const ProgressUpdate& u, std::size_t width) {
  const double frac =
      u.total ? std::min(1.0, static_cast<double>(u.done) / static_cast<double>(u.total)) : 0.0;
  const int pct = static_cast<int>(100.0 * frac);
  const auto filled = static_cast<std::size_t>(pct / 5);
  std::string eta = format_eta(u);
  std::string rest =
      fmt::format(" [{}{}] {:3}% {}  {}{}", std::string(filled, '#'), std::string(20 - filled, '.'),
                  pct, amount_of(u), format_rate(u.rate_per_s), eta.empty() ? "" : "  " + eta);
  std::string label = label_of(u);
  if (label.size() + rest.size() > width) {
    std::size_t room = width > rest.size() + 8 ? width - rest.size() : 8;
    if (label.size() > room) label = "..." + label.substr(label.size() - (room - 3));
  }
  std::string line = label + rest;
  if (line.size() > width) line.resize(width);
  return line;
}

std::string plain_line(const ProgressUpdate& u) {
  std::string eta = format_eta(u);
  return fmt::format("{}: {} {} {}{}", label_of(u), u.finished ? "done" : "at", amount_of(u),
                     format_rate(u.rate_per_s), eta.empty() ? "" : " " + eta);
}

double seconds_since(Clock::time_point t0, Clock::time_point now) {
  return std::chrono::duration<double>(now - t0).count();
}

std::size_t terminal_width(std::FILE* f) {
  winsize ws{};
  if (f && ::ioctl(::fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) return ws.ws_col;
  return 120;
}

// TTY: colour; progress as a block of redrawn bars (one per file being transferred, then the
// task's total) at most 10 redraws a second, a permanent line per finished file; findings as a
// table at the end. Plain: no escapes, a progress line per file and per total at most every 5 s
// plus one when each finishes; findings as lines.
class TextRenderer final : public Reporter {
 public:
  explicit TextRenderer(const RenderOptions& o)
      : o_(o), tty_(o.mode == RenderMode::tty), width_(terminal_width(o.err) - 1) {}

  void event(Level level, std::string_view message, const nlohmann::json& fields) override {
    if (o_.verbosity < 0 && level < Level::warn) return;
    if (o_.verbosity < 1 && level == Level::debug) return;
    std::lock_guard lock(mu_);
    clear_block();
    const char* color = level == Level::error ? kRed : level == Level::warn ? kYellow : kDim;
    std::string prefix = level == Level::info ? "" : std::string(to_string(level)) + ": ";
    // -vv: when it happened, and the event's fields.
    if (o_.verbosity >= 2)
      prefix = fmt::format("[{:8.3f}s] {}", seconds_since(start_, o_.now()), prefix);
    std::string tail =
        o_.verbosity >= 2 && fields.is_object() && !fields.empty()
            ? fmt::format(" {}",
                          fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
            : "";
    std::fputs(
        fmt::format("{}{}{}{}{}\n", paint(color, ""), prefix, message, tail, paint(kReset, ""))
            .c_str(),
        o_.err);
    if (tty_) draw_block(o_.now());
  }

  void progress(const ProgressUpdate& u) override {
    if (o_.verbosity < 0) return;
    std::lock_guard lock(mu_);
    const auto now = o_.now();
    const std::string key = u.task + '\x1f' + u.item;
    if (!tty_) {
      // The first update of an item always prints; then one line per 5 s, and the completion.
      auto last = last_plain_.find(key);
      if (!u.finished && last != last_plain_.end() && now - last->second < std::chrono::seconds(5))
        return;
      last_plain_[key] = now;
      std::fputs((plain_line(u) + "\n").c_str(), o_.err);
      std::fflush(o_.err);
      return;
    }
    if (u.finished) {
      // The finished file (or the task) leaves the block and stays on screen as a line.
      std::erase_if(bars_, [&](const auto& kv) {
        return kv.first == key || (u.item.empty() && kv.second.update.task == u.task);
      });
      clear_block();
      std::fputs((bar_line(u, width_) + "\n").c_str(), o_.err);
      draw_block(now);
      return;
    }
    bars_[key] = {u, now};
    if (last_draw_ && now - *last_draw_ < std::chrono::milliseconds(100)) return;
    clear_block();
    draw_block(now);
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
    clear_block();
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
  // Erases the drawn block; the cursor ends at the start of its first line.
  void clear_block() {
    if (block_lines_ == 0) return;
    std::string seq = "\r\x1b[2K";
    for (std::size_t i = 1; i < block_lines_; ++i) seq += "\x1b[1A\x1b[2K";
    std::fputs(seq.c_str(), o_.err);
    block_lines_ = 0;
  }
  // Bars of the files in transfer (a file without an update for 3 s is waiting for a retry, or
  // failed: it is left out), then the totals. No newline after the last line, so the next
  // clear_block() finds the cursor on it.
  void draw_block(Clock::time_point now) {
    last_draw_ = now;
    std::erase_if(bars_, [&](const auto& kv) {
      return !kv.second.update.item.empty() && now - kv.second.seen > std::chrono::seconds(3);
    });
    std::vector<std::string> lines;
    std::size_t hidden = 0;
    for (const auto& [key, bar] : bars_) {
      if (bar.update.item.empty()) continue;
      if (lines.size() < kMaxFileBars)
        lines.push_back(bar_line(bar.update, width_));
      else
        ++hidden;
    }
    if (hidden > 0) lines.push_back(fmt::format("  ... and {} more", hidden));
    for (const auto& [key, bar] : bars_)
      if (bar.update.item.empty()) lines.push_back(bar_line(bar.update, width_));
    if (lines.empty()) return;
    std::string text;
    for (const auto& l : lines) text += (text.empty() ? "" : "\n") + l;
    std::fputs(text.c_str(), o_.err);
    std::fflush(o_.err);
    block_lines_ = lines.size();
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

  struct Bar {
    ProgressUpdate update;
    Clock::time_point seen;
  };
  static constexpr std::size_t kMaxFileBars = 8;

  RenderOptions o_;
  bool tty_;
  std::size_t width_;
  std::mutex mu_;
  std::map<std::string, Bar> bars_;             // task '\x1f' item -> latest update (TTY)
  std::size_t block_lines_ = 0;                 // lines of the drawn block (TTY)
  std::optional<Clock::time_point> last_draw_;  // none yet: the first update draws
  const Clock::time_point start_ = o_.now();
  std::map<std::string, Clock::time_point> last_plain_;  // task '\x1f' item -> last line (plain)
  std::vector<Finding> findings_;
  std::vector<nlohmann::json> pending_results_;
};

}  // namespace

std::unique_ptr<Reporter> make_text_renderer(const RenderOptions& options) {
  return std::make_unique<TextRenderer>(options);
}

}  // namespace sd35::cli
