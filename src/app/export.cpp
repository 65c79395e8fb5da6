#include "app/export.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "fleet/fleet.hpp"
#include "lock/lockfile.hpp"
#include "util/fs.hpp"

namespace sd35::app {
namespace {

namespace stdfs = std::filesystem;

std::string absolute_or_empty(const std::string& path) {
  return path.empty() ? std::string() : stdfs::absolute(path).lexically_normal().string();
}

Status write_files(const stdfs::path& dir, const std::vector<fleet::GeneratedFile>& files) {
  for (const auto& f : files) {
    const auto path = dir / f.path;
    SD35_TRY_STATUS(fs::write_file_atomic(path, f.contents));
    if (f.executable && ::chmod(path.c_str(), 0755) != 0)
      return fs::errno_error(errno, "cannot make executable", path);
  }
  return ok();
}

Result<std::vector<fleet::GeneratedFile>> generate(const ExportOptions& o,
                                                   const fleet::GateSpec& gate,
                                                   const lock::Lockfile& l,
                                                   const std::string& lock_text) {
  if (o.target == "slurm") {
    fleet::SlurmOptions so;
    so.prolog_smoke = o.prolog_smoke;
    so.health_check_interval = o.health_check_interval;
    so.slurm_conf = absolute_or_empty(o.slurm_conf);
    return fleet::slurm_files(gate, so);
  }
  if (o.target == "k8s") {
    fleet::K8sOptions ko;
    ko.image = o.image;
    ko.namespace_name = o.namespace_name;
    ko.job_completions = o.nodes;
    ko.interval_s = o.interval;
    return fleet::k8s_files(gate, lock_text, ko);
  }
  if (o.target == "docker") return fleet::docker_files(l, gate.lock_digest);
  return make_error(Errc::usage, fmt::format("unknown export target '{}'", o.target), "export",
                    "sd35-setup export slurm|k8s|docker --lock FILE --out DIR");
}

// Captures the gate's result document on its way to the renderer.
class GateCapture final : public ForwardingReporter {
 public:
  using ForwardingReporter::ForwardingReporter;
  void result(std::string_view kind, const nlohmann::json& document) override {
    if (kind == "verify-lock") document_ = document;
    inner_.result(kind, document);
  }
  std::optional<nlohmann::json> document_;
};

}  // namespace

Result<Outcome> export_fleet(const GlobalOptions& global, const ExportOptions& o,
                             Reporter& reporter) {
  if (o.out.empty()) return make_error(Errc::usage, "no output folder", "export", "pass --out DIR");
  SD35_TRY(std::string lock_text, fs::read_file(o.lock));
  SD35_TRY(lock::Lockfile l, lock::parse(lock_text, o.lock));
  const stdfs::path dir = absolute_or_empty(o.out);
  fleet::GateSpec gate;
  std::error_code ec;
  gate.binary = o.binary.empty() ? stdfs::read_symlink("/proc/self/exe", ec).string()
                                 : absolute_or_empty(o.binary);
  gate.lock = (dir / "sd35.lock.json").string();
  gate.lock_digest = lock::digest_of(lock::to_json_unsigned(l));
  gate.cache_dir = absolute_or_empty(resolve_cache_dir(global).string());
  gate.venv = absolute_or_empty(o.venv);
  gate.manifest = absolute_or_empty(global.manifest_path);
  SD35_TRY(auto files, generate(o, gate, l, lock_text));
  stdfs::create_directories(dir, ec);
  if (ec) return fs::errno_error(ec.value(), "cannot create the output folder", dir);
  files.push_back({"sd35.lock.json", lock_text, false});
  SD35_TRY_STATUS(write_files(dir, files));
  nlohmann::json names = nlohmann::json::array();
  for (const auto& f : files) names.push_back(f.path);
  std::vector<std::string> summary{fmt::format("wrote {} file(s) for {} into {} (lock {})",
                                               files.size(), o.target, dir.string(),
                                               fleet::short_digest(gate.lock_digest))};
  summary.push_back(fmt::format("next: {}/README.md", dir.string()));
  reporter.result("export", {{"ok", true},
                             {"target", o.target},
                             {"out", dir.string()},
                             {"lock", gate.lock},
                             {"lock_digest", gate.lock_digest},
                             {"files", names},
                             {"summary", summary}});
  return Outcome::ok;
}

Result<Outcome> verify_with_prometheus(const GlobalOptions& global, const VerifyOptions& options,
                                       const std::string& prometheus_file, Reporter& reporter) {
  if (options.lock_file.empty())
    return make_error(Errc::usage, "--prometheus needs --lock", "verify",
                      "sd35-setup verify --lock FILE --prometheus FILE");
  GateCapture capture(reporter);
  auto result = verify(global, options, capture);
  nlohmann::json doc = capture.document_.value_or(nlohmann::json{
      {"ok", false},
      {"lock", options.lock_file},
      {"error", result ? std::string("the gate wrote no result") : result.error().message}});
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto written = fleet::write_prometheus_textfile(prometheus_file, doc, now);
  if (!written) {
    // The gate's verdict wins; a failed metrics write fails an otherwise passing gate.
    if (!result || *result != Outcome::ok) {
      reporter.warn(written.error().describe());
      return result;
    }
    return written.error();
  }
  return result;
}

}  // namespace sd35::app
