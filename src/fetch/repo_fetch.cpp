#include "fetch/repo_fetch.hpp"

#include <fmt/format.h>

#include <thread>

#include "git/socket_stream.hpp"
#include "net/credentials.hpp"
#include "net/status_policy.hpp"
#include "store/file_lock.hpp"

namespace sd35::fetch {
namespace {

Error enrich_git_error(Error e, const net::Credentials& cred, const RepoPlan& p) {
  if (e.code == Errc::auth)
    e.message += cred.token.empty()
                     ? fmt::format("; {}", net::describe_token_source(cred))
                     : fmt::format("; {} was rejected", net::describe_token_source(cred));
  if (e.code == Errc::gated)
    e.hint = fmt::format("accept the license at {} with the account of {}", p.repo_page,
                         net::describe_token_source(cred));
  if (e.code == Errc::not_found && e.message.find("revision") == std::string::npos)
    e.hint = fmt::format(
        "check that {} exists (HF_ENDPOINT, spelling) and that the token can see it", p.repo_page);
  return e;
}

bool transient(const Result<git::FetchedRevision>& r) {
  return !r && r.error().code == Errc::network && !r.error().permanent;
}

}  // namespace

void find_repo_credentials(RepoFetch& r, const store::HubEnv& env, bool bearer,
                           const net::Transport& transport, Reporter& rep) {
  net::TokenLookup lookup = env.token_lookup(r.plan.repo_url);
  lookup.url_username = r.plan.url_username;
  lookup.url_password = r.plan.url_password;
  lookup.bearer = bearer;
  r.cred = net::find_credentials(lookup);
  if (auto proxy = transport.proxy_for(r.plan.repo_url); !proxy.empty())
    rep.event(Level::debug, fmt::format("connecting through the proxy {}", net::redact_url(proxy)));
  if (!r.cred.token.empty())
    rep.event(Level::debug, fmt::format("using {} for {} only", net::describe_token_source(r.cred),
                                        r.cred.origin));
}

Status fetch_tree(RepoFetch& r, const std::filesystem::path& cache_dir,
                  const net::Transport& transport, std::chrono::seconds stall_timeout,
                  Reporter& rep) {
  git::set_network_timeout(stall_timeout);
  const RepoPlan& p = r.plan;
  const auto bare_path = cache_dir / ".sd35-git" / (store::repo_folder_name(p.repo_id) + ".git");
  // One process at a time updates the bare repository (libgit2 ref and pack locks would fail).
  SD35_TRY(auto git_lock, store::FileLock::acquire(r.lock_dir / "git.lock"));
  SD35_TRY(git::BareRepo bare, git::BareRepo::open_or_init(bare_path));
  rep.event(Level::info, fmt::format("resolving {} at {}", p.repo_id, p.revision));
  auto fetched = bare.fetch(p.repo_url, p.revision, &r.cred, &transport);
  // libgit2 does not retry: a transient server or network failure gets two more tries.
  for (int attempt = 1; attempt < 3 && transient(fetched); ++attempt) {
    rep.event(Level::warn, fmt::format("git fetch failed ({}); retrying", fetched.error().message));
    std::this_thread::sleep_for(net::backoff_delay(attempt) * 4);
    fetched = bare.fetch(p.repo_url, p.revision, &r.cred, &transport);
  }
  if (!fetched) return enrich_git_error(std::move(fetched).error(), r.cred, p);
  r.fetched = std::move(*fetched);
  r.bare.emplace(std::move(bare));
  return ok();  // the lock goes: reading objects needs none
}

Status select_repo_files(RepoFetch& r) {
  SD35_TRY(auto entries, r.bare->list_tree(r.fetched.commit));
  const git::BareRepo& bare = *r.bare;
  SD35_TRY(r.selection,
           select_files(r.plan, r.fetched.commit, entries,
                        [&bare](const std::string& id) { return bare.read_blob(id); }));
  return ok();
}

}  // namespace sd35::fetch
