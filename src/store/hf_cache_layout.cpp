#include "store/hf_cache_layout.hpp"

#include <fmt/format.h>

#include "util/fs.hpp"
#include "util/strings.hpp"

namespace sd35::store {

bool is_commit_hash(std::string_view s) noexcept {
  return s.size() == 40 && str::is_hex(s) && str::to_lower(s) == s;
}

Result<std::string> repo_id_from(std::string_view repo) {
  std::string_view s = repo;
  if (s.starts_with("http://") || s.starts_with("https://")) {
    s.remove_prefix(s.find("//") + 2);
    auto slash = s.find('/');
    s = slash == std::string_view::npos ? std::string_view{} : s.substr(slash + 1);
    if (auto q = s.find_first_of("?#"); q != std::string_view::npos) s = s.substr(0, q);
  }
  while (s.ends_with("/")) s.remove_suffix(1);
  if (s.ends_with(".git")) s.remove_suffix(4);
  auto parts = str::split(s, '/');
  std::vector<std::string_view> nonempty;
  for (auto p : parts)
    if (!p.empty()) nonempty.push_back(p);
  if (nonempty.size() < 2)
    return make_error(
        Errc::bad_input, fmt::format("'{}' does not name a repository as org/name", repo), "--repo",
        "use org/name (e.g. Comfy-Org/stable-diffusion-3.5-fp8) or a URL ending in /org/name");
  return fmt::format("{}/{}", nonempty[nonempty.size() - 2], nonempty.back());
}

std::string repo_folder_name(std::string_view repo_id) {
  std::string out = "models--";
  for (char c : repo_id) {
    if (c == '/')
      out += "--";
    else
      out += c;
  }
  return out;
}

RepoCache repo_cache(const stdfs::path& cache_dir, std::string_view repo_id) {
  return RepoCache{cache_dir / repo_folder_name(repo_id)};
}

std::optional<std::string> RepoCache::commit_for(std::string_view revision) const {
  if (is_commit_hash(revision)) return std::string(revision);
  auto line = fs::read_first_line(ref(revision));
  if (!line || !is_commit_hash(str::trim(*line))) return std::nullopt;
  return std::string(str::trim(*line));
}

}  // namespace sd35::store
