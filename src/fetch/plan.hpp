// Step 1 of a fetch: the plan. What to fetch (docs/fetch.md): one repository entry for the model
// (its repo, revision, the globs that select files, the manifest's sha256 pins) and, when the
// manifest's own model is fetched, one per other repository its extra files come from
// (tokenizers). Then, once a repository's tree is known, which of its entries are selected and
// what each one is: a regular git blob or a Git LFS pointer, checked against its pin.
// Pure: no network and no filesystem beyond what the callers pass in.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "git/git_repo.hpp"
#include "manifest/manifest.hpp"
#include "store/hf_cache_layout.hpp"
#include "store/hub_env.hpp"
#include "util/result.hpp"
#include "util/secret.hpp"

namespace sd35::fetch {

// What the command line asked for; empty fields take the manifest's values.
struct Request {
  std::string repo;                  // org/name or URL (may carry userinfo: a credential source)
  std::string revision;              // branch, tag or commit
  std::vector<std::string> include;  // globs; replace the manifest's file list
};

// One repository to fetch.
struct RepoPlan {
  bool extra = false;  // false: the model's repository; true: one its extra files come from
  std::string repo_id, repo_url, repo_page, revision;  // repo_url never holds userinfo
  std::string url_username;                            // userinfo of --repo: a credential source
  Secret url_password;
  store::RepoCache cache;
  std::vector<std::string> patterns;        // globs over repo paths; literal paths must exist
  std::map<std::string, std::string> pins;  // path -> sha256 the manifest pins
};

struct Plan {
  std::filesystem::path cache_dir;
  std::vector<RepoPlan> repos;  // [0] is the model; extra repositories follow, by first mention
};

// The model's repository from --repo (else the manifest's), resolved against the hub endpoint;
// the extra files' repositories only when the manifest's own model is fetched with its file list
// (no --include, no other --repo).
Result<Plan> make_plan(const Manifest& manifest, const Request& request, const store::HubEnv& env);

// One selected file of a repository's tree.
struct Item {
  std::string path;
  std::uint64_t size = 0;
  std::string blob_id;   // sha256 (LFS) or git blob sha1: its name in blobs/
  std::string git_blob;  // the tree's blob (the pointer, for LFS)
  bool lfs = false;
  bool cached = false;  // blobs/<blob_id> is complete already
};

struct Selection {
  std::vector<Item> items;
  std::string lfs_url;  // .lfsconfig lfs.url of the commit, empty when none
};

// The bytes of a blob of the tree (pointers, .lfsconfig, pinned regular files).
using BlobReader = std::function<Result<std::string>(const std::string& blob_id)>;

// The entries the plan selects, in tree order. Refuses, before anything is downloaded: a path that
// leaves the snapshot, an LFS oid or a regular file's sha256 that differs from its pin, a literal
// pattern naming no file, no file at all. `cached` is set from the repository's blobs/.
Result<Selection> select_files(const RepoPlan& repo, const std::string& commit,
                               const std::vector<git::TreeEntry>& entries,
                               const BlobReader& read_blob);

// Whether a path matches one of the globs (store/path_glob.hpp).
bool selected(const std::vector<std::string>& patterns, const std::string& path);
// A pattern without wildcards: it must name an existing file.
bool is_literal(const std::string& pattern);

}  // namespace sd35::fetch
