#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "app/context.hpp"

namespace sd35::app {

struct LockOptions {
  std::string out = "sd35.lock.json";
  std::string from;  // resolution from `resolve --out` (default sd35-resolve.json when it exists)
  std::string venv;  // cross-check (or, without a resolution, read) the installed wheels
  std::string smoke_result;                      // `sd35-setup smoke --json` output file
  std::optional<nlohmann::json> smoke_document;  // the smoke result in process (`up`); wins
  std::string host_file;
  std::string created;  // timestamp to record; empty = none (keeps the file reproducible)
};

struct LockExportOptions {
  std::string lock = "sd35.lock.json";
  std::string format = "requirements";  // requirements | pylock
  std::string out;                      // empty: print
};

struct LockDiffOptions {
  std::string a, b;
};

// Writes the lockfile. A resolution (--from) must have been made for this manifest (name and
// digest; else bad_input, exit 2) and fit this host: its CUDA build runs on the driver, its GPUs'
// compute capabilities and its Python are this host's (else host_not_ready, exit 3). A venv must
// hold exactly the resolved wheels, each with pip's recorded hash (lock::compare_wheel; else
// integrity, exit 4).
Result<Outcome> lock(const GlobalOptions& global, const LockOptions& options, Reporter& reporter);
Result<Outcome> lock_export(const GlobalOptions& global, const LockExportOptions& options,
                            Reporter& reporter);
// ok when equal, verification_failed (4) when they differ.
Result<Outcome> lock_diff(const GlobalOptions& global, const LockDiffOptions& options,
                          Reporter& reporter);

}  // namespace sd35::app
