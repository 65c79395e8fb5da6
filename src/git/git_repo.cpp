#include "git/git_repo.hpp"

#include <fmt/format.h>
#include <git2.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <tuple>

#include "util/cancel.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace sd35::git {
namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Free(p); }
};
using RemotePtr = std::unique_ptr<git_remote, Deleter<git_remote, git_remote_free>>;
using CommitPtr = std::unique_ptr<git_commit, Deleter<git_commit, git_commit_free>>;
using TreePtr = std::unique_ptr<git_tree, Deleter<git_tree, git_tree_free>>;
using BlobPtr = std::unique_ptr<git_blob, Deleter<git_blob, git_blob_free>>;
using OdbPtr = std::unique_ptr<git_odb, Deleter<git_odb, git_odb_free>>;

// The last libgit2 error on this thread, mapped onto the closed Errc set. libgit2 reports HTTP
// statuses only in its message ("unexpected http status code: 403"), so that text decides.
// An untrusted certificate: permanent, and it names the CA certificates that were used.
Error certificate_error(std::string_view what, const std::string& text, std::string where,
                        const net::Transport* t) {
  Error e = make_error(
      Errc::network,
      fmt::format("{}: the server's TLS certificate is not trusted ({}), checked against {}", what,
                  text, t ? t->tls.describe() : std::string("the system CA store")),
      std::move(where),
      "if a proxy or a private mirror re-signs TLS, pass its CA certificate with --ca-file (or "
      "SSL_CERT_FILE / GIT_SSL_CAINFO); otherwise check the system clock and the "
      "ca-certificates package");
  e.permanent = true;
  return e;
}

// A hint for a failure to reach the server, empty when `text` is not one. libgit2 files a
// refused or timed-out connection under GIT_ERROR_OS ("failed to connect to HOST: Connection
// refused"), a DNS failure under GIT_ERROR_NET.
std::string network_hint(const git_error* e, const std::string& text) {
  const bool connect = text.find("failed to connect") != std::string::npos ||
                       text.find("Connection refused") != std::string::npos ||
                       text.find("timed out") != std::string::npos;
  if (!connect && !(e && (e->klass == GIT_ERROR_NET || e->klass == GIT_ERROR_HTTP ||
                          e->klass == GIT_ERROR_SSL)))
    return {};
  if (text.find("resolve address") != std::string::npos)
    return "the host name does not resolve: check it (--repo, HF_ENDPOINT) and DNS; set "
           "HF_HUB_OFFLINE=1 to use the cache only";
  if (text.find("Connection refused") != std::string::npos)
    return "the server (or proxy) refused the connection: check the URL (--repo, HF_ENDPOINT), "
           "https_proxy / NO_PROXY and the firewall; set HF_HUB_OFFLINE=1 to use the cache only";
  if (text.find("timed out") != std::string::npos)
    return "the server did not answer in time: check the network and the proxy, then retry";
  return "check connectivity to the hub (proxy, DNS, TLS); set HF_HUB_OFFLINE=1 to use the cache "
         "only";
}

Error last_error(int rc, std::string_view what, std::string where,
                 const net::Transport* transport = nullptr) {
  const git_error* e = git_error_last();
  std::string text = e && e->message ? e->message : fmt::format("libgit2 error {}", rc);
  Errc code = Errc::internal;
  std::string hint;
  if (rc == GIT_ECERTIFICATE ||
      (e && e->klass == GIT_ERROR_SSL && text.find("certificate") != std::string::npos))
    return certificate_error(what, text, std::move(where), transport);
  if (rc == GIT_EAUTH || text.find("401") != std::string::npos ||
      text.find("authentication") != std::string::npos) {
    code = Errc::auth;
    hint =
        "the server wants a token: export HF_TOKEN (a read token), or check the one in use is "
        "valid";
  } else if (text.find("403") != std::string::npos) {
    code = Errc::gated;
    hint =
        "the token has no access: accept the licence on the model page, or use a token with read "
        "access";
  } else if (text.find("404") != std::string::npos) {
    code = Errc::not_found;
    hint =
        "check the repository id (org/name), HF_ENDPOINT, and that the repository is not private";
  } else if (text.find(std::strerror(ENOSPC)) != std::string::npos ||
             text.find(std::strerror(EDQUOT)) != std::string::npos) {
    // libgit2 appends strerror() to OS errors, whatever class it files them under.
    code = Errc::disk_full;
    hint =
        "free space on the cache's filesystem, or point --cache / HF_HUB_CACHE at a larger disk; "
        "then run the same command again";
  } else if (auto net_hint = network_hint(e, text); !net_hint.empty()) {
    code = text.find("timed out") != std::string::npos ? Errc::timeout : Errc::network;
    hint = std::move(net_hint);
  } else if (e && e->klass == GIT_ERROR_OS) {
    code = Errc::io;
  }
  if (cancel_requested()) code = Errc::interrupted;
  return make_error(code, fmt::format("{}: {}", what, text), std::move(where), std::move(hint));
}

struct CallbackState {
  const net::Credentials* credentials = nullptr;
  int attempts = 0;
  bool refused = false;
  std::string
      refusal;  // our words for it: libgit2's last error is then unrelated (a config lookup)
};

std::string refusal_of(const CallbackState& st, const char* url, unsigned int allowed) {
  const auto* c = st.credentials;
  if (!c || c->token.empty())
    return "the server asks for credentials (HTTP 401) and none were given";
  if (st.attempts > 0) return "the server answered HTTP 401 to the token";
  if (!c->allowed_for(url))
    return fmt::format(
        "the server at {} asks for credentials (HTTP 401); the token is only sent to {}",
        net::origin_of(url), c->origin);
  if (!(allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT))
    return "the server asks for a kind of credentials other than a token";
  return {};
}

int on_credentials(git_credential** out, const char* url, const char* /*user_from_url*/,
                   unsigned int allowed, void* payload) {
  auto* st = static_cast<CallbackState*>(payload);
  const auto* c = st->credentials;
  // One attempt only, and only for the origin the token belongs to: a second call means the
  // server rejected it, and libgit2 would otherwise loop.
  if (std::string why = refusal_of(*st, url, allowed); !why.empty()) {
    st->refused = true;
    st->refusal = std::move(why);
    return GIT_EAUTH;
  }
  ++st->attempts;
  std::string token(c->token.reveal_for_transport());
  int rc = git_credential_userpass_plaintext_new(out, c->username.c_str(), token.c_str());
  for (char& ch : token) ch = 0;
  return rc;
}

Error refused_error(const CallbackState& st, std::string where) {
  return make_error(Errc::auth, st.refusal, std::move(where),
                    "the server wants a token: export HF_TOKEN (a read token), or check the one in "
                    "use is valid");
}

int on_transfer_progress(const git_indexer_progress*, void*) {
  return cancel_requested() ? -1 : 0;
}

git_remote_callbacks make_callbacks(CallbackState& st) {
  git_remote_callbacks cb = GIT_REMOTE_CALLBACKS_INIT;
  cb.credentials = on_credentials;
  cb.transfer_progress = on_transfer_progress;
  cb.payload = &st;
  return cb;
}

bool has_commit(git_repository* repo, const std::string& hex) {
  git_oid oid;
  if (git_oid_fromstr(&oid, hex.c_str()) != 0) return false;
  git_commit* c = nullptr;
  if (git_commit_lookup(&c, repo, &oid) != 0) return false;
  git_commit_free(c);
  return true;
}

}  // namespace

void ensure_initialized() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

Result<BareRepo> BareRepo::open_or_init(const std::filesystem::path& path) {
  ensure_initialized();
  git_repository* repo = nullptr;
  int rc = git_repository_open_bare(&repo, path.c_str());
  if (rc != 0) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
    rc = git_repository_init(&repo, path.c_str(), /*is_bare=*/1);
  }
  if (rc != 0) return last_error(rc, "cannot open or create the bare repository", path.string());
  return BareRepo(repo, path);
}

BareRepo::BareRepo(BareRepo&& o) noexcept : repo_(o.repo_), path_(std::move(o.path_)) {
  o.repo_ = nullptr;
}
BareRepo& BareRepo::operator=(BareRepo&& o) noexcept {
  std::swap(repo_, o.repo_);
  std::swap(path_, o.path_);
  return *this;
}
BareRepo::~BareRepo() {
  if (repo_) git_repository_free(repo_);
}

namespace {

// `revision` as a branch or tag among the advertised refs: {ref name, commit hex}.
std::optional<std::pair<std::string, std::string>> find_ref(const git_remote_head** heads, size_t n,
                                                            const std::string& revision) {
  const std::string candidates[] = {revision, "refs/heads/" + revision, "refs/tags/" + revision};
  for (const auto& name : candidates)
    for (size_t i = 0; i < n; ++i)
      if (name == heads[i]->name) {
        char hex[GIT_OID_HEXSZ + 1] = {};
        git_oid_tostr(hex, sizeof hex, &heads[i]->oid);
        return std::make_pair(name, std::string(hex));
      }
  return std::nullopt;
}

// The CA certificates are a libgit2 global: set for every fetch that names them.
Status apply_tls(const net::Transport* t, const std::string& where) {
  if (!t || (t->tls.ca_file.empty() && t->tls.ca_dir.empty())) return ok();
  const char* file = t->tls.ca_file.empty() ? nullptr : t->tls.ca_file.c_str();
  const char* dir = t->tls.ca_dir.empty() ? nullptr : t->tls.ca_dir.c_str();
  if (int rc = git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, file, dir); rc != 0)
    return last_error(rc, fmt::format("cannot use {}", t->tls.describe()), where, t);
  return ok();
}

// `storage` keeps the URL alive as long as the options are used.
git_proxy_options proxy_options(const net::Transport* t, const std::string& url,
                                std::string& storage) {
  git_proxy_options po = GIT_PROXY_OPTIONS_INIT;
  storage = t ? t->proxy_for(url) : std::string();
  po.type = storage.empty() ? GIT_PROXY_NONE : GIT_PROXY_SPECIFIED;
  if (!storage.empty()) po.url = storage.c_str();
  return po;
}

}  // namespace

Result<FetchedRevision> BareRepo::fetch(const std::string& url, const std::string& revision,
                                        const net::Credentials* credentials,
                                        const net::Transport* transport) {
  const std::string where = net::redact_url(url);
  FetchedRevision out;
  const bool want_commit = str::is_hex(revision) && revision.size() == 40;
  if (want_commit && has_commit(repo_, str::to_lower(revision))) {
    out.commit = str::to_lower(revision);
    return out;
  }
  git_remote* raw = nullptr;
  // Anonymous: the URL is not written to the repo's config.
  if (int rc = git_remote_create_anonymous(&raw, repo_, url.c_str()); rc != 0)
    return last_error(rc, "cannot create a remote", where);
  RemotePtr remote(raw);
  CallbackState st;
  st.credentials = credentials;
  git_remote_callbacks cb = make_callbacks(st);
  SD35_TRY_STATUS(apply_tls(transport, where));
  std::string proxy;
  git_proxy_options po = proxy_options(transport, url, proxy);
  if (int rc = git_remote_connect(remote.get(), GIT_DIRECTION_FETCH, &cb, &po, nullptr); rc != 0)
    return st.refused ? refused_error(st, where)
                      : last_error(rc, "cannot list the repository's refs", where, transport);
  const git_remote_head** heads = nullptr;
  size_t n = 0;
  if (int rc = git_remote_ls(&heads, &n, remote.get()); rc != 0)
    return last_error(rc, "ls-remote failed", where);
  std::string advertised;  // commit the ref points at
  if (!want_commit) {
    auto ref = find_ref(heads, n, revision);
    if (!ref)
      return make_error(
          Errc::not_found,
          fmt::format("revision '{}' is not a branch or tag of the repository", revision), where,
          "check --revision (a branch, a tag or a 40-hex commit)");
    std::tie(out.ref_name, advertised) = *ref;
  }
  git_remote_disconnect(remote.get());
  if (!advertised.empty() && has_commit(repo_, advertised)) {
    out.commit = advertised;
    return out;
  }
  // Fetch just the wanted ref; for a bare commit, every branch and tag (smart HTTP servers do not
  // serve unadvertised commits). libgit2 1.5 has no shallow fetch: the history is fetched in full,
  // which for model repos is small next to the LFS objects.
  std::string spec = want_commit
                         ? "+refs/heads/*:refs/sd35/heads/*"
                         : fmt::format("+{}:refs/sd35/{}", out.ref_name, out.ref_name.substr(5));
  char* specs_raw[] = {spec.data()};
  git_strarray refspecs{specs_raw, 1};
  git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
  opts.callbacks = cb;
  opts.proxy_opts = po;
  opts.download_tags = want_commit ? GIT_REMOTE_DOWNLOAD_TAGS_ALL : GIT_REMOTE_DOWNLOAD_TAGS_NONE;
  opts.update_fetchhead = 0;
  st.attempts = 0;
  if (int rc = git_remote_fetch(remote.get(), &refspecs, &opts, nullptr); rc != 0)
    return st.refused ? refused_error(st, where)
                      : last_error(rc, "git fetch failed", where, transport);
  out.fetched = true;
  if (want_commit) {
    out.commit = str::to_lower(revision);
    if (!has_commit(repo_, out.commit))
      return make_error(Errc::not_found,
                        fmt::format("commit {} is not reachable from any branch or tag", revision),
                        where, "check --revision; only commits on a branch or tag can be fetched");
  } else {
    out.commit = advertised;
  }
  return out;
}

Result<std::vector<TreeEntry>> BareRepo::list_tree(const std::string& commit) const {
  git_oid oid;
  if (git_oid_fromstr(&oid, commit.c_str()) != 0)
    return make_error(Errc::bad_input, "not a commit id", commit);
  git_commit* c = nullptr;
  if (int rc = git_commit_lookup(&c, repo_, &oid); rc != 0)
    return last_error(rc, "commit not found", commit);
  CommitPtr cp(c);
  git_tree* t = nullptr;
  if (int rc = git_commit_tree(&t, c); rc != 0)
    return last_error(rc, "cannot read the commit's tree", commit);
  TreePtr tp(t);
  git_odb* odb = nullptr;
  if (int rc = git_repository_odb(&odb, repo_); rc != 0)
    return last_error(rc, "cannot open the object database", path_);
  OdbPtr odbp(odb);
  struct Walk {
    git_odb* odb;
    std::vector<TreeEntry> entries;
    int rc = 0;
  } walk{odb, {}};
  auto cb = [](const char* root, const git_tree_entry* e, void* payload) -> int {
    auto* w = static_cast<Walk*>(payload);
    git_filemode_t mode = git_tree_entry_filemode(e);
    if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE)
      return 0;  // trees, links, submodules
    TreeEntry te;
    te.path = std::string(root) + git_tree_entry_name(e);
    char hex[GIT_OID_HEXSZ + 1] = {};
    git_oid_tostr(hex, sizeof hex, git_tree_entry_id(e));
    te.blob_id = hex;
    te.executable = mode == GIT_FILEMODE_BLOB_EXECUTABLE;
    size_t len = 0;
    git_object_t type{};
    if ((w->rc = git_odb_read_header(&len, &type, w->odb, git_tree_entry_id(e))) != 0) return -1;
    te.size = len;
    w->entries.push_back(std::move(te));
    return 0;
  };
  if (int rc = git_tree_walk(t, GIT_TREEWALK_PRE, cb, &walk); rc != 0)
    return last_error(walk.rc ? walk.rc : rc, "cannot walk the commit's tree", commit);
  return std::move(walk.entries);
}

Result<std::string> BareRepo::read_blob(const std::string& blob_id) const {
  git_oid oid;
  if (git_oid_fromstr(&oid, blob_id.c_str()) != 0)
    return make_error(Errc::bad_input, "not a blob id", blob_id);
  git_blob* b = nullptr;
  if (int rc = git_blob_lookup(&b, repo_, &oid); rc != 0)
    return last_error(rc, "blob not found", blob_id);
  BlobPtr bp(b);
  return std::string(static_cast<const char*>(git_blob_rawcontent(b)),
                     static_cast<size_t>(git_blob_rawsize(b)));
}

Status BareRepo::export_blob(const std::string& blob_id, const std::filesystem::path& dest) const {
  SD35_TRY(std::string bytes, read_blob(blob_id));
  return fs::write_file_atomic(dest, bytes);
}

}  // namespace sd35::git
