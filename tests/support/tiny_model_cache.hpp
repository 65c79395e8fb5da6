// A model as `fetch` leaves it in a Hugging Face cache (docs/fetch.md), and a manifest naming it:
// repo org/tiny at revision main, SAI single file, SD3.5-Large architecture. The end-to-end tests
// of `smoke` and `up` place the tiny scaled-FP8 fixture (or a stand-in) there.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "support/test_env.hpp"

namespace sd35::testing {

inline constexpr const char* kTinyRepo = "cache/models--org--tiny";

// blobs/<blob_id> := bytes (when given), refs/main := commit, and the relative symlink
// snapshots/<commit>/<rel> -> ../../blobs/<blob_id> (one more ../ per folder in rel).
inline void place_in_cache(const test::TempDir& dir, const std::string& commit,
                           const std::string& rel, const std::string& blob_id,
                           const std::optional<std::string>& bytes = std::nullopt) {
  namespace stdfs = std::filesystem;
  const std::string repo = kTinyRepo;
  if (bytes) dir.write(repo + "/blobs/" + blob_id, *bytes);
  dir.write(repo + "/refs/main", commit);
  const auto link = dir / (repo + "/snapshots/" + commit + "/" + rel);
  stdfs::create_directories(link.parent_path());
  stdfs::create_symlink(stdfs::relative(dir / (repo + "/blobs/" + blob_id), link.parent_path()),
                        link);
}

// The manifest of org/tiny with one model file entry and the given sections.
inline nlohmann::json tiny_manifest(const nlohmann::json& file, const nlohmann::json& environment,
                                    const nlohmann::json& smoke) {
  return {{"schema_version", 1},
          {"name", "tiny"},
          {"model",
           {{"repo", "org/tiny"},
            {"revision", "main"},
            {"format", "sai-single-file"},
            {"architecture", "sd35-large"},
            {"files", nlohmann::json::array({file})}}},
          {"environment", environment},
          {"requirements", nlohmann::json::object()},
          {"smoke", smoke}};
}

}  // namespace sd35::testing
