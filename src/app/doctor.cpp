#include "app/doctor.hpp"

#include <fmt/format.h>

#include "app/probe.hpp"
#include "checks/check.hpp"

namespace sd35::app {

Result<Outcome> doctor(const GlobalOptions& global, const DoctorOptions& options,
                       Reporter& reporter) {
  SD35_TRY(Manifest manifest, load_manifest_for(global));
  for (const auto& w : manifest.warnings) reporter.event(Level::warn, w);
  SD35_TRY(HostFacts host, host_facts_for(global, options.host_file, options.pythons));
  for (const auto& note : host.notes) reporter.event(Level::warn, note);

  checks::CheckContext ctx{manifest, host};
  std::vector<Finding> findings = checks::run_all(ctx);
  int failed_required = 0, failed_optional = 0, warnings = 0;
  nlohmann::json jfindings = nlohmann::json::array();
  for (const auto& f : findings) {
    reporter.finding(f);
    jfindings.push_back(f.to_json());
    if (f.verdict == Verdict::fail) (f.required ? failed_required : failed_optional)++;
    if (f.verdict == Verdict::warn) ++warnings;
  }
  const bool ready = failed_required == 0;
  std::string verdict =
      ready ? fmt::format("READY for {} ({} warning(s))", manifest.name, warnings)
            : fmt::format("NOT READY for {}: {} required check(s) failed, {} warning(s)",
                          manifest.name, failed_required, warnings);
  reporter.result(
      "doctor",
      {{"ok", ready},
       {"ready", ready},
       {"manifest",
        {{"name", manifest.name}, {"source", manifest.source}, {"digest", manifest.digest}}},
       {"host_source", options.host_file.empty() ? "probe" : options.host_file},
       {"checks", jfindings},
       {"failed_required", failed_required},
       {"warnings", warnings},
       {"summary", {verdict}}});
  return ready ? Outcome::ok : Outcome::not_ready;
}

}  // namespace sd35::app
