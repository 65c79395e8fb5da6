#include "verify/tree.hpp"

#include <algorithm>
#include <set>

#include "util/strings.hpp"

namespace sd35::verify {

TreeScan scan_tree(const std::filesystem::path& root, bool snapshot) {
  TreeScan scan;
  std::error_code ec;
  auto it = std::filesystem::recursive_directory_iterator(
      root, std::filesystem::directory_options::none, ec);
  for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto& entry = *it;
    const auto name = entry.path().filename().string();
    std::error_code sec;
    if (entry.is_directory(sec) && !entry.is_symlink(sec)) {
      if (name == ".git" || name == ".cache") it.disable_recursion_pending();
      continue;
    }
    const std::string rel = entry.path().lexically_relative(root).generic_string();
    if (rel == kDirStateName) continue;
    scan.files.push_back(rel);
    if (!snapshot) continue;
    if (entry.is_symlink(sec)) {
      const auto target = std::filesystem::read_symlink(entry.path(), sec);
      const auto parent = target.parent_path().filename().string();
      const auto id = target.filename().string();
      if (parent == "blobs" && (id.size() == 64 || id.size() == 40) && str::is_hex(id)) {
        scan.blob_ids.emplace(rel, id);
      } else {
        scan.foreign_links.push_back(rel);
      }
    } else {
      scan.copies.push_back(rel);
    }
  }
  std::sort(scan.files.begin(), scan.files.end());
  return scan;
}

std::vector<Expectation> build_expectations(const ModelSpec& model, const TreeScan& scan) {
  std::vector<Expectation> out;
  std::set<std::string> seen;
  auto from_blob = [&](Expectation& e) {
    const auto b = scan.blob_ids.find(e.path);
    if (b == scan.blob_ids.end()) return;
    if (b->second.size() == 64 && !e.sha256) {
      e.sha256 = b->second;
      if (e.source.empty()) e.source = "cache blob name";
    } else if (b->second.size() == 40 && !e.git_sha1 && !e.sha256) {
      e.git_sha1 = b->second;
      if (e.source.empty()) e.source = "cache blob name";
    }
  };
  for (const auto& f : model.files) {
    Expectation e{f.path, f.size, f.sha256, std::nullopt, "manifest"};
    from_blob(e);
    seen.insert(f.path);
    out.push_back(std::move(e));
  }
  for (const auto& rel : scan.files) {
    if (seen.count(rel)) continue;
    Expectation e{rel, std::nullopt, std::nullopt, std::nullopt, ""};
    from_blob(e);
    if (e.sha256 || e.git_sha1 || str::ends_with(rel, ".safetensors")) {
      if (e.source.empty()) e.source = "present in the tree";
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace sd35::verify
