// The gate on a fleet: files that make a scheduler run `sd35-setup verify --lock` on every node and
// keep a failing node out of the schedule (Slurm health check + prolog, Kubernetes DaemonSet/Job
// with node labels, a Dockerfile from the lock), and the gate's result as a node-exporter textfile.
// Pure text generation from the lock and a few paths: no torch, no network. docs/fleet.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lock/lockfile.hpp"
#include "util/result.hpp"

namespace sd35::fleet {

// One file an export writes, relative to its output folder.
struct GeneratedFile {
  std::string path;
  std::string contents;
  bool executable = false;
};

// Where the gate runs on the nodes and what it checks. Paths are absolute paths on the nodes.
struct GateSpec {
  std::string binary;       // sd35-setup
  std::string lock;         // the lockfile (a copy under the export folder by default)
  std::string lock_digest;  // "sha256:<64 hex>"
  std::string cache_dir;    // Hugging Face hub cache; "" = sd35-setup's default
  std::string venv;         // the locked venv; "" = installed wheels not checked
  std::string manifest;     // --manifest; "" = the embedded manifest
};

// The first 16 hex digits of a "sha256:<hex>" digest: the lock's short name in labels.
std::string short_digest(const std::string& lock_digest);

// ---- Slurm ----------------------------------------------------------------------------------
struct SlurmOptions {
  bool prolog_smoke = false;        // the prolog runs the full gate (with the smoke)
  int health_check_interval = 300;  // seconds, for the slurm.conf snippet
  int fast_timeout_s = 50;          // the health check's budget inside Slurm's 60 s
  int full_timeout_s = 1800;        // the full gate's budget (smoke)
  std::string slurm_conf;           // SLURM_CONF for scontrol; "" = Slurm's default path
};
// sd35-healthcheck.sh, sd35-prolog.sh, slurm.conf.snippet, README.md.
std::vector<GeneratedFile> slurm_files(const GateSpec& gate, const SlurmOptions& options);

// The drain reason for a failing gate: the prefix, then the gate's first failure, on one line of
// printable ASCII without quotes or backslashes, at most kMaxSlurmReason bytes. (The generated
// scripts apply the same rule in shell; this is the reference the tests compare with.)
inline constexpr std::size_t kMaxSlurmReason = 200;
inline constexpr const char* kSlurmReasonPrefix = "sd35-setup:";
std::string slurm_reason(std::string_view gate_line);

// ---- Kubernetes and Docker ----------------------------------------------------------------------
struct K8sOptions {
  std::string image;  // the gate image (export docker); "" = sd35-setup-gate:<16hex>
  std::string namespace_name = "sd35-setup";
  int interval_s = 300;     // how often the DaemonSet re-runs the gate
  int job_completions = 1;  // the Job variant: how many GPU nodes (one pod per node)
};
// rbac.yaml (Namespace, ServiceAccount, ClusterRole get/patch nodes, ClusterRoleBinding),
// lock-configmap.yaml, daemonset.yaml, job.yaml, README.md. A bad option is a usage error.
Result<std::vector<GeneratedFile>> k8s_files(const GateSpec& gate, const std::string& lock_text,
                                             const K8sOptions& options);

// Dockerfile, requirements.txt (direct wheel references with --hash), .dockerignore, README.md.
Result<std::vector<GeneratedFile>> docker_files(const lock::Lockfile& lock,
                                                const std::string& lock_digest);
// "nvidia/cuda:12.8.1-runtime-ubuntu22.04" for cu128 and Python 3.10/3.11, "" for a CPU lock.
std::string cuda_base_image(const std::string& cuda_variant, const std::string& python);

// ---- Prometheus -------------------------------------------------------------------------------
// The node-exporter textfile for a gate result (the `verify-lock` document: ok, lock_digest,
// findings[], seconds; a smoke:fingerprint finding may carry data.paths / data.gemm_probe).
// `error` is set instead when the gate could not run (unreadable lock); `now_unix_s` stamps it.
std::string prometheus_text(const nlohmann::json& gate_document, double now_unix_s);
// Writes it atomically (temporary file + rename) so the collector never reads half a file.
Status write_prometheus_textfile(const std::filesystem::path& file,
                                 const nlohmann::json& gate_document, double now_unix_s);

// YAML (block style) for a JSON value: plain scalars where YAML reads them back as the same
// string, double-quoted otherwise, literal blocks for multi-line strings. Keys keep their order.
std::string to_yaml(const nlohmann::ordered_json& value);

// ---- quoting ------------------------------------------------------------------------------------
// POSIX shell single-quoting: the result is one word whatever the bytes.
std::string shell_quote(std::string_view s);
// A Prometheus label value / HELP text escaped per the exposition format.
std::string prometheus_label_escape(std::string_view s);

}  // namespace sd35::fleet
