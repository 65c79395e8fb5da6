// The one channel from library code to the user. Library code never prints: it reports events,
// progress, findings and a final result document; the CLI picks a renderer (TTY, plain, JSON).
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sd35 {

enum class Level { debug, info, warn, error };
enum class Verdict { pass, warn, fail, skip };

std::string_view to_string(Level level) noexcept;
std::string_view to_string(Verdict verdict) noexcept;

// One conclusion about the system: a doctor check, a verify rule, a gate comparison.
struct Finding {
  std::string id;  // stable identifier, e.g. "gpu.fp8-compute" or "safetensors.offsets"
  Verdict verdict = Verdict::pass;
  std::string title;     // short human title
  std::string detail;    // what was observed, with exact numbers
  std::string fix;       // what to do (empty when passing)
  std::string file;      // optional: the file it is about
  std::string tensor;    // optional: the tensor it is about
  std::string rule;      // optional: the rule that decided it
  bool required = true;  // a failed required finding makes the command fail
  nlohmann::json data = nlohmann::json::object();  // machine-readable facts behind the verdict

  [[nodiscard]] nlohmann::json to_json() const;
};

// One progress report: of one item (a file) or, with an empty `item`, of the whole task. Producers
// send item and total updates alike; renderers throttle and lay them out.
struct ProgressUpdate {
  std::string task;         // "fetch", "verify", ...
  std::string item;         // file name or object id; empty for the total
  std::uint64_t done = 0;   // bytes or units done (bytes resumed from an earlier run included)
  std::uint64_t total = 0;  // 0 when unknown
  // Bytes (or units) per second, smoothed by the producer over the last few seconds and counting
  // only what this run moved (resumed bytes are not speed); 0 when unknown. On a finished update:
  // the item's average over this run.
  double rate_per_s = 0.0;
  bool finished = false;

  // Seconds left at `rate_per_s`: 0 when finished, nullopt when the total or the rate is unknown.
  [[nodiscard]] std::optional<double> eta_s() const;
};

class Reporter {
 public:
  Reporter() = default;
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;
  virtual ~Reporter() = default;

  // Must be safe to call from several threads (verify hashes in parallel).
  virtual void event(Level level, std::string_view message,
                     const nlohmann::json& fields = nlohmann::json::object()) = 0;
  virtual void progress(const ProgressUpdate& update) = 0;
  virtual void finding(const Finding& finding) = 0;
  // The command's machine-readable result; `kind` names its schema ("doctor", "probe", ...).
  virtual void result(std::string_view kind, const nlohmann::json& document) = 0;
  // Called once at the end: renderers that draw tables or bars flush here.
  virtual void finish() {}

  void debug(std::string_view m) { event(Level::debug, m); }
  void info(std::string_view m) { event(Level::info, m); }
  void warn(std::string_view m) { event(Level::warn, m); }
};

// Passes everything on to another reporter; derive and override what a stage changes
// (counting findings, capturing the result document).
class ForwardingReporter : public Reporter {
 public:
  explicit ForwardingReporter(Reporter& inner) : inner_(inner) {}
  using Reporter::event;
  void event(Level level, std::string_view message, const nlohmann::json& fields) override {
    inner_.event(level, message, fields);
  }
  void progress(const ProgressUpdate& update) override { inner_.progress(update); }
  void finding(const Finding& finding) override { inner_.finding(finding); }
  void result(std::string_view kind, const nlohmann::json& document) override {
    inner_.result(kind, document);
  }

 protected:
  Reporter& inner_;
};

// Drops everything; for callers that do not care.
class NullReporter final : public Reporter {
 public:
  void event(Level, std::string_view, const nlohmann::json&) override {}
  void progress(const ProgressUpdate&) override {}
  void finding(const Finding&) override {}
  void result(std::string_view, const nlohmann::json&) override {}
};

// Keeps everything; for tests and for callers that post-process (the lock stage).
class CollectingReporter final : public Reporter {
 public:
  struct Event {
    Level level;
    std::string message;
    nlohmann::json fields;
  };
  void event(Level level, std::string_view m, const nlohmann::json& fields) override {
    std::lock_guard lock(mu_);
    events.push_back({level, std::string(m), fields});
  }
  void progress(const ProgressUpdate& u) override {
    std::lock_guard lock(mu_);
    progress_updates.push_back(u);
  }
  void finding(const Finding& f) override {
    std::lock_guard lock(mu_);
    findings.push_back(f);
  }
  void result(std::string_view kind, const nlohmann::json& doc) override {
    std::lock_guard lock(mu_);
    results.emplace_back(std::string(kind), doc);
  }

  std::vector<Event> events;
  std::vector<ProgressUpdate> progress_updates;
  std::vector<Finding> findings;
  std::vector<std::pair<std::string, nlohmann::json>> results;

 private:
  std::mutex mu_;
};

}  // namespace sd35
