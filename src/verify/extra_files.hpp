// Verification of a model's extra files (manifest model.extra_files: the tokenizers of a
// single-file checkpoint): each in its own repository's snapshot of the cache
// (store::find_snapshot), present with its size and sha256 (content.* findings under its `as`
// name), and whether the manifest pins it (model.extra.pins: a commit revision and a sha256; a
// warning, not a failure, for the default manifest's placeholders).
#pragma once

#include <cstddef>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "manifest/manifest.hpp"
#include "util/reporter.hpp"
#include "util/result.hpp"
#include "verify/content.hpp"

namespace sd35::verify {

struct ExtraFilesReport {
  std::size_t files = 0;
  std::size_t failed = 0;
  std::size_t unpinned = 0;
  // [{as, repo, revision, path, commit|null, ok, sha256}]
  nlohmann::json files_doc = nlohmann::json::array();
};

// `options`: full and threads are used; each snapshot keeps its own state file.
Result<ExtraFilesReport> verify_extra_files(const Manifest& manifest,
                                            const std::filesystem::path& cache_dir,
                                            const ContentOptions& options, Reporter& reporter);

}  // namespace sd35::verify
