// One repository of a fetch, online: its credentials (only for its origin), its tree from a bare
// repository outside the snapshot (libgit2, two retries on transient failures), the selection of
// its files (plan.hpp), then the transfer (transfer.hpp) and the snapshot (link.hpp). Every
// repository of a plan goes through the same steps with its own bare repository, LFS batch
// endpoint and cache folder.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "fetch/plan.hpp"
#include "git/git_repo.hpp"
#include "lfs/transfer.hpp"
#include "net/http.hpp"
#include "net/transport.hpp"
#include "util/reporter.hpp"

namespace sd35::fetch {

struct RepoFetch {
  explicit RepoFetch(RepoPlan p) : plan(std::move(p)) {}
  RepoPlan plan;
  std::filesystem::path lock_dir;  // <cache>/.locks/models--org--name
  net::Credentials cred;
  std::optional<git::BareRepo> bare;
  git::FetchedRevision fetched;
  Selection selection;
  lfs::TransferReport report;
  std::map<std::string, Error> object_errors;  // by oid
};

// Finds the credentials for the repository's origin (env: where the token variables are read).
void find_repo_credentials(RepoFetch& r, const store::HubEnv& env, bool bearer,
                           const net::Transport& transport, Reporter& rep);

// The commit of the revision, fetched into <cache>/.sd35-git/models--org--name.git under its
// git.lock; errors say which token was used and where the licence is accepted. Connecting and
// every read give up after `stall_timeout` without data (git/socket_stream.hpp).
Status fetch_tree(RepoFetch& r, const std::filesystem::path& cache_dir,
                  const net::Transport& transport, std::chrono::seconds stall_timeout,
                  Reporter& rep);

// The commit's tree through select_files (plan.hpp).
Status select_repo_files(RepoFetch& r);

}  // namespace sd35::fetch
