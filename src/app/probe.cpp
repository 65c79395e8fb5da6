#include "app/probe.hpp"

#include <fmt/format.h>

#include "host/probe.hpp"
#include "util/fs.hpp"

namespace sd35::app {

Result<HostFacts> probe_this_host(const GlobalOptions& global,
                                  const std::vector<std::string>& pythons) {
  ProbeOptions o;
  o.pythons = pythons;
  o.disks = {{"cache", resolve_cache_dir(global)}, {"temp", temp_dir()}};
  return probe_host(o);
}

Result<HostFacts> host_facts_for(const GlobalOptions& global, const std::string& host_file,
                                 const std::vector<std::string>& pythons) {
  if (!host_file.empty()) return load_host_facts(host_file);
  return probe_this_host(global, pythons);
}

Result<HostFacts> gate_host_facts(const std::string& host_file) {
  if (!host_file.empty()) return load_host_facts(host_file);
  ProbeOptions o;
  o.probe_path_python = false;
  o.probe_tools = false;
  return probe_host(o);
}

Result<Outcome> probe(const GlobalOptions& global, const ProbeCommandOptions& options,
                      Reporter& reporter) {
  SD35_TRY(HostFacts facts, probe_this_host(global, options.pythons));
  for (const auto& note : facts.notes) reporter.event(Level::warn, note);
  nlohmann::json doc = to_json(facts);
  if (!options.out.empty()) {
    SD35_TRY_STATUS(fs::write_file_atomic(options.out, doc.dump(2) + "\n"));
    reporter.info(fmt::format("host facts written to {}", options.out));
    reporter.result("probe", {{"ok", true},
                              {"out", options.out},
                              {"summary", {fmt::format("host facts written to {}", options.out)}}});
  } else {
    reporter.result("probe", doc);
  }
  return Outcome::ok;
}

}  // namespace sd35::app
