#pragma once

#include <string>
#include <vector>

#include "app/context.hpp"
#include "host/host_facts.hpp"

namespace sd35::app {

struct ProbeCommandOptions {
  std::string out;                   // write the facts here (else: result document)
  std::vector<std::string> pythons;  // extra interpreters
};

// Probes this machine (cache and temp disks included); shared by every stage.
Result<HostFacts> probe_this_host(const GlobalOptions& global,
                                  const std::vector<std::string>& pythons);
// Facts from --host FILE when given, else probed.
Result<HostFacts> host_facts_for(const GlobalOptions& global, const std::string& host_file,
                                 const std::vector<std::string>& pythons);

// What the gate compares (driver, GPUs, glibc, machine), from --host FILE or probed without
// Python interpreters, tools or disks: a PATH python3 with torch costs seconds to import, which
// a Slurm health check every few minutes on every node cannot afford (docs/fleet.md).
Result<HostFacts> gate_host_facts(const std::string& host_file);

Result<Outcome> probe(const GlobalOptions& global, const ProbeCommandOptions& options,
                      Reporter& reporter);

}  // namespace sd35::app
