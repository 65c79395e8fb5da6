// What is in the tree being verified, and what each file is expected to be.
// In the Hugging Face cache a snapshot entry is a symlink ../../blobs/<id> where <id> is the
// sha256 of an LFS file or the git blob sha1 of a regular file (§6.1): the name is the expectation.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "manifest/manifest.hpp"
#include "verify/content.hpp"

namespace sd35::verify {

// The state file of `--path DIR` mode lives in DIR under this name and is never verified itself.
inline constexpr std::string_view kDirStateName = ".sd35-verify.json";

struct TreeScan {
  std::vector<std::string> files;               // relative, '/'-separated, sorted
  std::map<std::string, std::string> blob_ids;  // file -> blob name its symlink points at
  std::vector<std::string> copies;              // regular files where a symlink into blobs/ belongs
  std::vector<std::string> foreign_links;       // symlinks that do not point into blobs/
};

// Walks `root` (skipping .git, .cache and our state file). `snapshot` says it is a cache snapshot.
TreeScan scan_tree(const std::filesystem::path& root, bool snapshot);

// Expectations for every manifest file and every file whose blob name is known, plus a
// presence-only one for each other *.safetensors (so pointer files are caught).
std::vector<Expectation> build_expectations(const ModelSpec& model, const TreeScan& scan);

}  // namespace sd35::verify
