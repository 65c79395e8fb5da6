// Structure audit: every *.safetensors header against the reference reader's rules, and every
// *.safetensors.index.json against the shards it names. Reads headers only, never tensor data.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "safetensors/safetensors.hpp"
#include "util/reporter.hpp"

namespace sd35::verify {

struct StructureReport {
  std::map<std::string, st::Header> headers;  // relative path -> header, valid files only
  std::map<std::string, std::vector<std::string>> index_shards;  // index path -> shard paths
  std::size_t failed = 0;
};

// `files` are paths relative to `root` ('/'-separated); others than the two kinds are ignored.
StructureReport audit_structure(const std::filesystem::path& root,
                                const std::vector<std::string>& files, Reporter& reporter);

}  // namespace sd35::verify
