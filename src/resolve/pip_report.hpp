// The transitive closure of the environment comes from pip's own resolver, run on the host:
// `python -m pip install --dry-run --ignore-installed --report FILE` with the chosen index URLs and
// the exact pins (https://pip.pypa.io/en/stable/reference/installation-report/). We only read its
// report: every wheel with its URL and sha256.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "resolve/resolve.hpp"
#include "util/result.hpp"

namespace sd35::resolve {

// Parses pip's installation report (version "1"). Every entry must carry a URL; sha256 comes
// from archive_info.hashes.sha256 or the legacy archive_info.hash "sha256=<hex>".
Result<std::vector<Package>> parse_pip_report(std::string_view text, const std::string& source,
                                              const std::vector<std::string>& indexes);

struct PipRunOptions {
  std::string python;                     // interpreter whose pip resolves (the host's)
  std::vector<std::string> indexes;       // first = --index-url, rest = --extra-index-url
  std::vector<std::string> requirements;  // "torch==2.9.1+cu128", "diffusers>=0.31"
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

// Runs pip's resolver (dry run, wheels only) and parses its report.
Result<std::vector<Package>> run_pip_report(const PipRunOptions& options);

}  // namespace sd35::resolve
