#include "lock/model_state.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <fstream>

#include "net/http.hpp"
#include "store/hf_cache_layout.hpp"
#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

namespace sd35::lock {
namespace {

namespace stdfs = std::filesystem;

struct StatKey {
  std::uint64_t size = 0, inode = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const StatKey&) const = default;
};

std::optional<StatKey> stat_key(const stdfs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return std::nullopt;
  return StatKey{static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino),
                 st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                 st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec};
}

// git's object id of a regular (non-LFS) file: sha1("blob <size>\0" + content).
Result<std::string> git_blob_sha1(const stdfs::path& p, std::uint64_t size) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return fs::errno_error(errno, "open", p);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr);
  std::string header = fmt::format("blob {}", size);
  EVP_DigestUpdate(ctx, header.data(), header.size() + 1);  // with the NUL
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return to_hex(md, len);
}

stdfs::path state_file(const stdfs::path& cache_dir) {
  return cache_dir / ".sd35-lock-state.json";
}

}  // namespace

std::string repo_url(std::string_view repo) {
  if (str::starts_with(repo, "http://") || str::starts_with(repo, "https://"))
    return net::redact_url(repo);
  return "https://huggingface.co/" + std::string(repo);
}

LockedModel model_from_cache(const Manifest& manifest, const stdfs::path& cache_dir) {
  LockedModel m;
  m.repo = repo_url(manifest.model.repo);
  m.revision = manifest.model.revision;
  auto fallback = [&] {
    m.commit.clear();
    m.verified = false;
    m.files.clear();
    for (const auto& f : manifest.model.files)
      m.files.push_back({f.path, f.size.value_or(0), f.sha256.value_or("")});
    return m;
  };
  auto repo_id = store::repo_id_from(manifest.model.repo);
  if (!repo_id) return fallback();
  auto rc = store::repo_cache(cache_dir, *repo_id);
  auto commit = rc.commit_for(manifest.model.revision);
  if (!commit) return fallback();
  m.commit = *commit;
  m.verified = true;
  std::error_code ec;
  for (const auto& f : manifest.model.files) {
    stdfs::path link = rc.snapshot(*commit) / f.path;
    auto size = stdfs::file_size(link, ec);
    if (ec) return fallback();
    // The snapshot entry links to blobs/<oid>; fetch names a blob after its verified content.
    std::string oid =
        stdfs::is_symlink(link, ec) ? stdfs::read_symlink(link, ec).filename().string() : "";
    if (f.sha256 && oid != *f.sha256) m.verified = false;
    if (f.size && *f.size != size) m.verified = false;
    m.files.push_back({f.path, size, oid.empty() ? f.sha256.value_or("") : oid});
  }
  return m;
}

Result<std::vector<FileCheck>> check_model_files(const LockedModel& model,
                                                 const stdfs::path& cache_dir) {
  SD35_TRY(auto repo_id, store::repo_id_from(model.repo));
  auto rc = store::repo_cache(cache_dir, repo_id);
  std::string commit =
      model.commit.empty() ? rc.commit_for(model.revision).value_or("") : model.commit;
  nlohmann::json state = nlohmann::json::object();
  if (auto text = fs::read_file(state_file(cache_dir), 16u << 20))
    if (auto j = jsonio::parse(*text, state_file(cache_dir).string()); j && j->is_object())
      state = *j;
  bool state_changed = false;
  std::vector<FileCheck> out;
  for (const auto& f : model.files) {
    FileCheck c;
    c.path = f.path;
    stdfs::path p = rc.snapshot(commit) / f.path;
    std::error_code ec;
    stdfs::path real = commit.empty() ? p : stdfs::canonical(p, ec);
    auto key = commit.empty() || ec ? std::nullopt : stat_key(real);
    if (!key) {
      c.detail = commit.empty() ? fmt::format("revision {} of {} is not in the cache {}",
                                              model.revision, repo_id, cache_dir.string())
                                : fmt::format("missing: {}", p.string());
      out.push_back(std::move(c));
      continue;
    }
    if (key->size != f.size) {
      c.detail = fmt::format("{} is {} bytes, the lock says {}", p.string(), key->size, f.size);
      out.push_back(std::move(c));
      continue;
    }
    const std::string id = real.string();
    if (state.contains(id) && state[id].is_object() && state[id].value("oid", "") == f.oid &&
        StatKey{state[id].value("size", 0ULL), state[id].value("inode", 0ULL),
                state[id].value("mtime_ns", 0LL), state[id].value("ctime_ns", 0LL)} == *key) {
      c.ok = c.fast = true;
      c.detail = "unchanged since last verified (size, mtime, ctime, inode)";
      out.push_back(std::move(c));
      continue;
    }
    Result<std::string> got =
        f.oid.size() == 40 ? git_blob_sha1(real, key->size) : sha256_file(real);
    if (!got) return got.error();
    c.ok = !f.oid.empty() && *got == f.oid;
    c.detail = c.ok ? "content hash matches"
                    : fmt::format("content hash {} != locked oid {}", *got, f.oid);
    if (c.ok) {
      state[id] = {{"size", key->size},
                   {"inode", key->inode},
                   {"mtime_ns", key->mtime_ns},
                   {"ctime_ns", key->ctime_ns},
                   {"oid", f.oid}};
      state_changed = true;
    } else {
      state.erase(id);
    }
    out.push_back(std::move(c));
  }
  // Best effort: a read-only cache just loses the fast path.
  if (state_changed) (void)fs::write_file_atomic(state_file(cache_dir), state.dump());
  return out;
}

}  // namespace sd35::lock
