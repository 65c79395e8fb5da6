#include "lfs/object_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/fs.hpp"
#include "util/strings.hpp"

namespace sd35::lfs {
namespace {

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0 || !str::is_hex(hex)) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  return out;
}

bool tiles(const std::vector<Segment>& segs, std::uint64_t size) {
  std::uint64_t at = 0;
  for (const auto& s : segs) {
    if (s.start != at || s.end < s.start || s.written > s.end - s.start) return false;
    at = s.end;
  }
  return at == size && (!segs.empty() || size == 0);
}

}  // namespace

std::vector<Segment> plan_ranges(std::uint64_t size, int parts, std::uint64_t min_part) {
  std::uint64_t n = std::max(1, parts);
  if (min_part > 0) n = std::min<std::uint64_t>(n, std::max<std::uint64_t>(1, size / min_part));
  std::vector<Segment> out;
  std::uint64_t base = size / n, extra = size % n, at = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t len = base + (i < extra ? 1 : 0);
    out.push_back({at, at + len, 0});
    at += len;
  }
  return out;
}

nlohmann::json to_json(const Sidecar& s) {
  nlohmann::json segs = nlohmann::json::array();
  for (const auto& g : s.segments) segs.push_back({g.start, g.end, g.written});
  return {{"version", 2},
          {"oid", s.oid},
          {"size", s.size},
          {"hashed", s.hashed},
          {"prefix_sha256", s.prefix_sha256},
          {"segments", segs}};
}

namespace {

// The digest of the prefix a sidecar claims as hashed: stored (v2) or derived from the raw
// OpenSSL state (v1).
std::optional<std::string> prefix_digest_of(const nlohmann::json& j, int version) {
  if (version == 2) {
    auto d = j.at("prefix_sha256").get<std::string>();
    return d.size() == 64 && str::is_hex(d) ? std::optional(d) : std::nullopt;
  }
  auto state = from_hex(j.at("hash_state").get<std::string>());
  if (!state) return std::nullopt;
  auto h = Sha256::import_state(*state);
  if (!h) return std::nullopt;
  return h->hex_digest();
}

}  // namespace

Result<Sidecar> sidecar_from_json(const nlohmann::json& j, std::string_view oid,
                                  std::uint64_t size) {
  auto bad = [&](std::string_view why) {
    return make_error(Errc::bad_input, fmt::format("resume state ignored: {}", why),
                      std::string(oid), "the object is downloaded again from the start");
  };
  try {
    Sidecar s;
    const int version = j.value("version", 0);
    if (version != 1 && version != 2) return bad("unknown version");
    s.oid = j.at("oid").get<std::string>();
    s.size = j.at("size").get<std::uint64_t>();
    s.hashed = j.at("hashed").get<std::uint64_t>();
    auto digest = prefix_digest_of(j, version);
    if (!digest) return bad("the digest of the hashed part is malformed");
    s.prefix_sha256 = std::move(*digest);
    for (const auto& g : j.at("segments"))
      s.segments.push_back({g.at(0).get<std::uint64_t>(), g.at(1).get<std::uint64_t>(),
                            g.at(2).get<std::uint64_t>()});
    if (s.oid != oid || s.size != size) return bad("it belongs to another object");
    if (!tiles(s.segments, size)) return bad("its ranges do not cover the object");
    // The hashed prefix must lie within what is on disk.
    std::uint64_t contiguous = 0;
    for (const auto& g : s.segments) {
      contiguous = g.pos();
      if (!g.done()) break;
    }
    if (s.hashed > contiguous) return bad("it claims more hashed bytes than were written");
    return s;
  } catch (const nlohmann::json::exception& e) {
    return bad(e.what());
  }
}

PrefixHash::PrefixHash(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {
  publish_snapshot();
}

// Called with mu_ held, after the hash changed.
void PrefixHash::publish_snapshot() {
  Sha256 copy = hash_;
  std::pair<std::uint64_t, std::string> snap{hashed_.load(std::memory_order_relaxed),
                                             copy.hex_digest()};
  std::lock_guard lock(snapshot_mu_);
  snapshot_ = std::move(snap);
}

PrefixHash::~PrefixHash() {
  if (fd_ >= 0) ::close(fd_);
}

Status PrefixHash::advance() {
  constexpr std::uint64_t kChunk = 1u << 20;
  for (;;) {
    std::lock_guard lock(mu_);
    const std::uint64_t from = hashed_.load(std::memory_order_relaxed);
    const std::uint64_t upto = std::min(available(), from + kChunk);
    if (upto <= from) return ok();
    buf_.resize(static_cast<std::size_t>(upto - from));
    ssize_t r = ::pread(fd_, buf_.data(), buf_.size(), static_cast<off_t>(from));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return fs::errno_error(r < 0 ? errno : EIO, "cannot read back the download", path_);
    hash_.update(buf_.data(), static_cast<std::size_t>(r));
    hashed_.store(from + static_cast<std::uint64_t>(r), std::memory_order_release);
    reread_.fetch_add(static_cast<std::uint64_t>(r), std::memory_order_relaxed);
    publish_snapshot();
  }
}

std::pair<std::uint64_t, std::string> PrefixHash::snapshot() {
  std::lock_guard lock(snapshot_mu_);
  return snapshot_;
}

std::string PrefixHash::digest() {
  std::lock_guard lock(mu_);
  Sha256 copy = hash_;
  return copy.hex_digest();
}

void PrefixHash::reset() {
  std::lock_guard lock(mu_);
  hash_ = Sha256();
  hashed_.store(0, std::memory_order_release);
  available_.store(0, std::memory_order_release);
  publish_snapshot();
}

// The prefix hash reads through its own descriptor: the transfer may close or move the file.
Status ObjectFile::bind_prefix_hash() {
  const int copy = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return fs::errno_error(errno, "cannot open the download file", incomplete_path());
  prefix_ = std::make_shared<PrefixHash>(copy, incomplete_path());
  return ok();
}

Result<ObjectFile> ObjectFile::open(const std::filesystem::path& blob_path, std::string oid,
                                    std::uint64_t size, std::vector<Segment> fresh_segments) {
  ObjectFile f;
  f.blob_ = blob_path;
  f.oid_ = std::move(oid);
  f.size_ = size;
  f.segments_ = std::move(fresh_segments);
  f.fd_ = ::open(f.incomplete_path().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (f.fd_ < 0)
    return fs::errno_error(errno, "cannot open the download file", f.incomplete_path());
  SD35_TRY_STATUS(f.bind_prefix_hash());
  const auto on_disk = static_cast<std::uint64_t>(std::max<off_t>(0, ::lseek(f.fd_, 0, SEEK_END)));
  f.try_resume(on_disk);
  if (f.resumed_bytes_ > 0) return f;
  f.reset(f.segments_);
  if (on_disk > 0) {
    // Stale bytes nobody can vouch for: a new file (a truncate would make ext4 flush at close).
    ::close(f.fd_);
    ::unlink(f.incomplete_path().c_str());
    f.fd_ = ::open(f.incomplete_path().c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f.fd_ < 0)
      return fs::errno_error(errno, "cannot open the download file", f.incomplete_path());
    SD35_TRY_STATUS(f.bind_prefix_hash());
  }
  return f;
}

// Uses the sidecar only when its hashed prefix, read back from the file now, has the digest it
// recorded: saved state never vouches for bytes the disk may have lost.
void ObjectFile::try_resume(std::uint64_t on_disk) {
  auto text = fs::read_file(sidecar_path(), 1 << 20);
  if (!text) return;
  auto s = sidecar_from_json(nlohmann::json::parse(*text, nullptr, false), oid_, size_);
  if (!s) {
    resume_dropped_ = s.error().message;
    return;
  }
  bool fits = std::all_of(s->segments.begin(), s->segments.end(),
                          [&](const Segment& g) { return g.written == 0 || g.pos() <= on_disk; });
  if (!fits) {
    resume_dropped_ = "the partial file is shorter than its resume state says";
    return;
  }
  prefix_->reset();
  prefix_->publish(s->hashed);
  if (!prefix_->advance() || prefix_->hashed() != s->hashed) {
    prefix_->reset();
    resume_dropped_ = "the partial file cannot be read back";
    return;
  }
  if (prefix_->digest() != s->prefix_sha256) {
    prefix_->reset();
    resume_dropped_ = fmt::format(
        "the first {} bytes on disk differ from those downloaded before it stopped (data lost "
        "in a crash or power cut?)",
        s->hashed);
    return;
  }
  segments_ = s->segments;
  prefix_->publish(contiguous_bytes());
  resumed_bytes_ = bytes_present();
  recorded_bytes_ = resumed_bytes_;
}

ObjectFile::ObjectFile(ObjectFile&& o) noexcept {
  *this = std::move(o);
}
ObjectFile& ObjectFile::operator=(ObjectFile&& o) noexcept {
  std::swap(blob_, o.blob_);
  std::swap(oid_, o.oid_);
  std::swap(size_, o.size_);
  std::swap(fd_, o.fd_);
  std::swap(segments_, o.segments_);
  std::swap(prefix_, o.prefix_);
  std::swap(resumed_bytes_, o.resumed_bytes_);
  std::swap(recorded_bytes_, o.recorded_bytes_);
  std::swap(resume_dropped_, o.resume_dropped_);
  std::swap(kicked_, o.kicked_);
  return *this;
}
ObjectFile::~ObjectFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::filesystem::path ObjectFile::incomplete_path() const {
  return blob_.string() + ".incomplete";
}
std::filesystem::path ObjectFile::sidecar_path() const {
  return blob_.string() + ".incomplete.json";
}

bool ObjectFile::complete() const {
  return std::all_of(segments_.begin(), segments_.end(), [](const Segment& s) { return s.done(); });
}

std::uint64_t ObjectFile::bytes_present() const {
  std::uint64_t n = 0;
  for (const auto& s : segments_) n += s.written;
  return n;
}

void ObjectFile::reset(std::vector<Segment> segments) {
  segments_ = std::move(segments);
  for (auto& s : segments_) s.written = 0;
  kicked_.clear();
  prefix_->reset();
  // No truncate: every byte of [0,size) is written again before it counts, and a truncated file
  // makes ext4 flush it at close.
}

Status ObjectFile::write(std::size_t seg, const char* data, std::size_t n) {
  Segment& s = segments_.at(seg);
  n = static_cast<std::size_t>(std::min<std::uint64_t>(n, s.end - s.pos()));
  std::uint64_t off = s.pos();
  for (std::size_t done = 0; done < n;) {
    ssize_t w = ::pwrite(fd_, data + done, n - done, static_cast<off_t>(off + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return fs::errno_error(errno, "cannot write the download", incomplete_path());
    }
    done += static_cast<std::size_t>(w);
  }
  s.written += n;
  const std::uint64_t prefix_end = prefix_->available();
  if (off <= prefix_end && off + n > prefix_end)
    prefix_->publish(contiguous_bytes());  // this write extended the prefix
  return ok();
}

std::uint64_t ObjectFile::contiguous_bytes() const {
  std::uint64_t end = 0;
  for (const auto& s : segments_) {  // in order, tiling [0, size)
    if (s.start > end) break;
    end = s.pos();
    if (!s.done()) break;
  }
  return end;
}

std::pair<std::uint64_t, std::uint64_t> ObjectFile::take_writeback(std::size_t seg) {
  constexpr std::uint64_t kChunk = 16u << 20;
  if (kicked_.size() != segments_.size()) {
    kicked_.resize(segments_.size());
    for (std::size_t i = 0; i < segments_.size(); ++i) kicked_[i] = segments_[i].pos();
  }
  const std::uint64_t upto = segments_.at(seg).pos();
  std::uint64_t& from = kicked_[seg];
  if (upto < from || upto - from < kChunk) return {0, 0};
  std::pair<std::uint64_t, std::uint64_t> out{from, upto - from};
  from = upto;
  return out;
}

Status ObjectFile::catch_up_hash() {
  prefix_->publish(contiguous_bytes());
  return prefix_->advance();
}

Status ObjectFile::save_sidecar() {
  if (fd_ < 0) return ok();  // discarded or placed: nothing to resume
  auto [hashed, digest] = prefix_->snapshot();
  Sidecar s{oid_, size_, hashed, std::move(digest), segments_};
  // Not flushed: a lost or stale sidecar costs a re-download, never wrong bytes (open() checks the
  // prefix against the disk, finish() the whole object).
  SD35_TRY_STATUS(fs::write_file_atomic(sidecar_path(), to_json(s).dump(), fs::Flush::no));
  recorded_bytes_ = bytes_present();
  return ok();
}

Status ObjectFile::verify() {
  SD35_TRY_STATUS(catch_up_hash());
  if (prefix_->hashed() != size_)
    return make_error(Errc::internal,
                      fmt::format("hashed {} of {} bytes at completion", prefix_->hashed(), size_),
                      oid_);
  std::string got = prefix_->digest();
  if (got != oid_) {
    discard();
    return make_error(
        Errc::integrity,
        fmt::format("content does not match its oid: expected sha256 {}, got {} after {} bytes",
                    oid_, got, size_),
        oid_, "the server sent corrupt data; run the command again, and report it if it persists");
  }
  return ok();
}

Status ObjectFile::place() {
  // Flushed before the rename: after a power cut, blobs/<oid> never names bytes the disk lost.
  if (::fdatasync(fd_) != 0)
    return fs::errno_error(errno, "cannot flush the download to disk", incomplete_path());
  ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  std::filesystem::rename(incomplete_path(), blob_, ec);
  if (ec) return fs::errno_error(ec.value(), "cannot move the finished download into place", blob_);
  std::filesystem::remove(sidecar_path(), ec);
  return ok();
}

Status ObjectFile::finish() {
  SD35_TRY_STATUS(verify());
  return place();
}

void ObjectFile::discard() {
  std::error_code ec;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::filesystem::remove(incomplete_path(), ec);
  std::filesystem::remove(sidecar_path(), ec);
}

}  // namespace sd35::lfs
