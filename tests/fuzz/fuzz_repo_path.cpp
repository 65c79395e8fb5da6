// Fuzzes the checks on repository paths that come from a git tree or a listing (store/snapshot's
// is_safe_repo_path, the gate before any file is written under a snapshot) and the `--include`
// glob matcher over them. Input: "<pattern>\n<path>". A safe path joined under a root stays
// under it; glob matching terminates on any pattern.
#include <filesystem>
#include <string>

#include "fuzz_check.hpp"
#include "store/path_glob.hpp"
#include "store/snapshot.hpp"

using sd35::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = sd35::fuzz::text_of(data, size);
  const auto nl = text.find('\n');
  const auto pattern = text.substr(0, nl);
  const auto path = nl == std::string_view::npos ? text : text.substr(nl + 1);

  if (sd35::store::is_safe_repo_path(path)) {
    const std::filesystem::path root("/cache/snapshots/0123abcd");
    const auto joined = (root / std::string(path)).lexically_normal();
    const auto rel = joined.lexically_relative(root);
    check(!rel.empty() && *rel.begin() != "..");
    // A NUL byte would cut the name short at the system call: never a safe path.
    check(path.find('\0') == std::string_view::npos);
  }
  (void)sd35::store::glob_match(pattern, path);
  (void)sd35::store::glob_match(path, pattern);
  return 0;
}
