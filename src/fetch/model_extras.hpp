// Where a fetched model's extra files are seen together at their `as` paths (tokenizer/vocab.json,
// tokenizer/merges.txt, tokenizer_3/spiece.model), as a diffusers repository holds them: the
// folder smoke's --tokenizers defaults to.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "manifest/manifest.hpp"
#include "store/hub_env.hpp"
#include "util/result.hpp"

namespace sd35::fetch {

struct ExtraLocation {
  const ExtraFile* file = nullptr;
  std::string commit;          // the snapshot's commit
  std::filesystem::path path;  // snapshots/<commit>/<path> of its own repository
};

// Each extra file in its repository's snapshot (store::find_snapshot); not_found naming the
// first one missing, with "run `sd35-setup fetch`".
Result<std::vector<ExtraLocation>> locate_extra_files(const Manifest& manifest,
                                                      const store::HubEnv& env);

// The folder holding tokenizer/ and tokenizer_3/ for the manifest's fetched model:
// - with extra files: <cache>/.sd35-extras/<manifest name>/, whose <as> entries are relative
//   symlinks into the repositories' snapshots (copies where symlinks are off or unavailable),
//   (re)made on every call so they follow the revisions the cache holds now;
// - without: the model's snapshot (a diffusers repository carries its tokenizers).
// not_found when a file is not fetched yet.
Result<std::filesystem::path> tokenizers_dir(const Manifest& manifest, const store::HubEnv& env);

}  // namespace sd35::fetch
