// `export slurm|k8s|docker` and `verify --lock --prometheus`: the gate handed to a scheduler
// (fleet/fleet.hpp does the text; this layer reads the lock, picks paths, writes the folder).
#pragma once

#include <string>

#include "app/context.hpp"
#include "app/verify.hpp"

namespace sd35::app {

struct ExportOptions {
  std::string target;  // slurm | k8s | docker
  std::string lock = "sd35.lock.json";
  std::string out;     // output folder (created)
  std::string venv;    // the locked venv on the nodes ("" = wheels not checked)
  std::string binary;  // sd35-setup on the nodes (default: this executable)
  // slurm
  bool prolog_smoke = false;  // the prolog runs the full gate (smoke)
  int health_check_interval = 300;
  std::string slurm_conf;  // slurm.conf for scontrol in the scripts ("" = Slurm's default)
  // k8s
  std::string image;
  std::string namespace_name = "sd35-setup";
  int nodes = 1;  // the Job variant's completions
  int interval = 300;
};

// Writes the target's files into `out` (and a copy of the lock that the files name). ok, or a
// usage/bad_input error for a missing folder argument or an unreadable lock.
Result<Outcome> export_fleet(const GlobalOptions& global, const ExportOptions& options,
                             Reporter& reporter);

// `verify` with `--prometheus FILE`: runs the gate as `verify` does and writes its result as a
// node-exporter textfile (also when the gate fails or cannot read the lock).
Result<Outcome> verify_with_prometheus(const GlobalOptions& global, const VerifyOptions& options,
                                       const std::string& prometheus_file, Reporter& reporter);

}  // namespace sd35::app
