// The gate's result as a node-exporter textfile (Prometheus text exposition format 0.0.4).
// The textfile collector refuses samples with timestamps, so the run's time is a gauge.
#include <fmt/format.h>

#include <cmath>
#include <string_view>

#include "fleet/fleet.hpp"
#include "util/fs.hpp"

namespace sd35::fleet {
namespace {

class Exposition {
 public:
  // HELP and TYPE once per metric family, then its samples.
  void family(std::string_view name, std::string_view help) {
    out_ += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, help_escape(help), name);
  }
  void sample(std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels,
              double value) {
    std::string l;
    for (const auto& [k, v] : labels)
      l += fmt::format("{}{}=\"{}\"", l.empty() ? "" : ",", k, prometheus_label_escape(v));
    out_ += fmt::format("{}{{{}}} {}\n", name, l, number(value));
  }
  std::string text() const { return out_; }

 private:
  static std::string help_escape(std::string_view s) {
    std::string out;
    for (char c : s) out += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
    return out;
  }
  static std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    return fmt::format("{}", v);
  }
  std::string out_;
};

const nlohmann::json* smoke_data(const nlohmann::json& doc) {
  if (!doc.contains("findings") || !doc["findings"].is_array()) return nullptr;
  for (const auto& f : doc["findings"])
    if (f.value("id", "") == "smoke:fingerprint" && f.contains("data") && f["data"].is_object())
      return &f["data"];
  return nullptr;
}

// Seconds per sampler step of each smoke path, and the FP8 GEMM TFLOP/s of the probe.
void smoke_metrics(const nlohmann::json& data, const std::string& lock, Exposition& e) {
  if (data.contains("paths") && data["paths"].is_array() && !data["paths"].empty()) {
    e.family("sd35_gate_smoke_step_seconds",
             "Wall time per CFG sampler step of the gate's smoke run, per precision path.");
    for (const auto& p : data["paths"])
      if (p.contains("ms_per_step") && p["ms_per_step"].is_number())
        e.sample("sd35_gate_smoke_step_seconds",
                 {{"lock", lock}, {"precision", p.value("precision", "")}},
                 p["ms_per_step"].get<double>() / 1000.0);
  }
  const auto probe = data.value("gemm_probe", nlohmann::json::object());
  if (!probe.contains("rows") || !probe["rows"].is_array()) return;
  e.family("sd35_gate_smoke_fp8_tflops",
           "FP8 GEMM TFLOP/s measured by the smoke's GEMM probe, per shape.");
  for (const auto& r : probe["rows"])
    if (r.contains("fp8_tflops") && r["fp8_tflops"].is_number() &&
        r["fp8_tflops"].get<double>() > 0)
      e.sample("sd35_gate_smoke_fp8_tflops", {{"lock", lock}, {"shape", r.value("shape", "")}},
               r["fp8_tflops"].get<double>());
}

}  // namespace

std::string prometheus_text(const nlohmann::json& doc, double now_unix_s) {
  const std::string digest = doc.value("lock_digest", "");
  const std::string lock = digest.empty() ? "unknown" : short_digest(digest);
  const bool ready = doc.value("ok", false);
  Exposition e;
  e.family("sd35_gate_ready", "1 when this node passed the sd35-setup gate for the lock.");
  e.sample("sd35_gate_ready", {{"lock", lock}}, ready ? 1 : 0);
  e.family("sd35_gate_lock_info", "The lock the gate checked (digest label), always 1.");
  e.sample("sd35_gate_lock_info",
           {{"lock", lock}, {"digest", digest}, {"file", doc.value("lock", "")}}, 1);
  e.family("sd35_gate_check_ok", "1 when the gate's check passed, 0 when it failed.");
  int skipped = 0;
  if (doc.contains("findings") && doc["findings"].is_array()) {
    for (const auto& f : doc["findings"]) {
      const std::string verdict = f.value("verdict", "");
      if (verdict == "skip") {
        ++skipped;
        continue;
      }
      e.sample("sd35_gate_check_ok", {{"check", f.value("id", "")}, {"lock", lock}},
               verdict == "fail" ? 0 : 1);
    }
  }
  e.family("sd35_gate_checks_skipped", "Checks the gate skipped (no --venv, no --smoke).");
  e.sample("sd35_gate_checks_skipped", {{"lock", lock}}, skipped);
  e.family("sd35_gate_error", "1 when the gate could not run (unreadable or hand-edited lock).");
  e.sample("sd35_gate_error", {{"lock", lock}}, doc.contains("error") ? 1 : 0);
  if (doc.contains("seconds") && doc["seconds"].is_number()) {
    e.family("sd35_gate_duration_seconds", "How long the gate took.");
    e.sample("sd35_gate_duration_seconds", {{"lock", lock}}, doc["seconds"].get<double>());
  }
  if (const auto* data = smoke_data(doc)) smoke_metrics(*data, lock, e);
  e.family("sd35_gate_last_run_timestamp_seconds", "Unix time the gate finished.");
  e.sample("sd35_gate_last_run_timestamp_seconds", {{"lock", lock}}, std::floor(now_unix_s));
  return e.text();
}

Status write_prometheus_textfile(const std::filesystem::path& file,
                                 const nlohmann::json& gate_document, double now_unix_s) {
  // No fsync: the next run rewrites it; the rename alone keeps readers from half a file.
  return fs::write_file_atomic(file, prometheus_text(gate_document, now_unix_s), fs::Flush::no);
}

}  // namespace sd35::fleet
