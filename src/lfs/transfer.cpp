#include "lfs/transfer.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <list>
#include <memory>
#include <mutex>
#include <optional>

#include "lfs/object_file.hpp"
#include "lfs/placer.hpp"
#include "lfs/transfer_conn.hpp"
#include "net/curl_auth.hpp"
#include "store/disk_full.hpp"
#include "store/file_lock.hpp"
#include "util/cancel.hpp"
#include "util/rate_meter.hpp"
#include "util/strings.hpp"

namespace sd35::lfs {
namespace {

using detail::Conn;
using detail::Obj;
using detail::on_data;
using detail::on_header;
using detail::RangeMode;
using detail::Steady;

class Engine {
 public:
  Engine(std::vector<TransferJob> jobs, const TransferOptions& opt, Reporter& r)
      : opt_(opt), rep_(r) {
    std::sort(jobs.begin(), jobs.end(),
              [](const auto& a, const auto& b) { return a.size > b.size; });
    for (auto& j : jobs) {
      Obj o;
      o.outcome.oid = j.oid;
      o.outcome.label = j.label;
      o.job = std::move(j);
      objs_.push_back(std::move(o));
    }
    for (const auto& o : objs_) total_size_ += o.job.size;
    multi_ = curl_multi_init();
    placer_ = std::make_unique<Placer>([this] { curl_multi_wakeup(multi_); });
    // One connection per transfer: ranges multiplexed on one HTTP/2 connection would share one
    // TCP window, which is what splitting is meant to avoid.
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_NOTHING));  // NOLINT
  }
  ~Engine() {
    for (auto& c : conns_) drop(c.get());
    placer_.reset();  // every verified file is in place before its lock goes
    for (auto& o : objs_) release(o);
    curl_multi_cleanup(multi_);
  }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Result<TransferReport> run();

 private:
  void schedule();
  void start(Obj& o, std::size_t seg);
  void on_done(Conn* c, CURLcode rc);
  void retry(Obj& o, std::size_t seg, Error err, std::chrono::milliseconds wait);
  void on_transfer_error(Obj& o, const Conn& c, CURLcode rc, const std::string& where);
  void on_http_error(Obj& o, const Conn& c, long status,  // NOLINT(google-runtime-int)
                     std::optional<std::chrono::seconds> retry_after, const std::string& where);
  void note_restarts();
  void fail(Obj& o, Error err);
  void finalize(Obj& o);
  void on_not_placed(Obj& o, Error e);
  void collect_placed();
  bool refresh(Obj& o);
  bool acquire(Obj& o);
  void release(Obj& o);
  void drop(Conn* c);
  void save_sidecars(bool force);
  void report_progress(bool force);
  Error explain_disk_full(const Obj& o, const Error& cause) const;
  Error abort_all(Error e);

  const TransferOptions& opt_;
  Reporter& rep_;
  std::list<Obj> objs_;
  std::list<std::unique_ptr<Conn>> conns_;
  CURLM* multi_ = nullptr;
  std::unique_ptr<Placer> placer_;
  std::uint64_t received_ = 0, total_size_ = 0, reread_ = 0;
  std::optional<Error> fatal_;
  Steady::time_point started_ = Steady::now(), last_progress_{}, last_byte_ = started_;
  RateMeter meter_;  // network bytes of the whole run (received_)
};

// Bytes per second over [from, to]; 0 for an empty interval.
double average_rate(std::uint64_t bytes, Steady::time_point from, Steady::time_point to) {
  double secs = std::chrono::duration<double>(to - from).count();
  return secs > 0 ? static_cast<double>(bytes) / secs : 0.0;
}

bool Engine::acquire(Obj& o) {
  if (o.lock) return true;
  auto dir = opt_.lock_dir.empty() ? o.job.blob_path.parent_path() : opt_.lock_dir;
  auto lock = store::FileLock::try_acquire(dir / (o.job.blob_path.filename().string() + ".lock"));
  if (!lock)
    return true;  // cannot lock here: go on unlocked; hashes and renames keep the cache correct
  if (!*lock) return false;
  o.lock.emplace(std::move(**lock));
  return true;
}

void Engine::release(Obj& o) {
  o.lock.reset();
}

void Engine::drop(Conn* c) {
  curl_multi_remove_handle(multi_, c->h);
  curl_easy_cleanup(c->h);
  curl_slist_free_all(c->headers);
  auto& v = c->obj->conns;
  v.erase(std::remove(v.begin(), v.end(), c), v.end());
}

void Engine::fail(Obj& o, Error err) {
  // Best effort, also on a full disk: then the previous sidecar (at most sidecar_interval old)
  // stays, which is consistent with the file; losing it only costs re-downloading those bytes.
  if (o.file) (void)o.file->save_sidecar();
  // A full disk stops the whole run: every other object would fail the same way.
  if (err.code == Errc::disk_full) {
    err = explain_disk_full(o, err);
    if (!fatal_) fatal_ = err;
  }
  o.file.reset();
  for (Conn* c : o.conns) c->abandoned = true;
  o.finished = true;
  o.outcome.ok = false;
  o.outcome.error = std::move(err);
  release(o);
}

// The budget is per request (per range), and a request that made progress gives it back: a long
// download over a flaky link never runs out, a range that never gets a byte does.
void Engine::retry(Obj& o, std::size_t seg, Error err, std::chrono::milliseconds wait) {
  if (++o.retries_of(seg) > opt_.max_retries) {
    err.message = fmt::format("{} (gave up after {} retries without progress)", err.message,
                              opt_.max_retries);
    return fail(o, std::move(err));
  }
  rep_.event(Level::debug,
             fmt::format("{}: {}; retrying in {} ms", o.job.label, err.message, wait.count()));
  o.not_before = std::max(o.not_before, Steady::now() + wait);
}

bool Engine::refresh(Obj& o) {
  if (!opt_.refresh || o.refreshes >= opt_.max_refreshes) return false;
  ++o.refreshes;
  auto a = opt_.refresh(o.job.oid, o.job.size);
  if (!a) {
    fail(o, std::move(a).error());
    return true;
  }
  o.job.action = std::move(*a);
  return true;
}

// Verified (the rest of the hash), flushed and renamed by the placer's thread, so the transfer
// loop never waits for the hash or the disk. collect_placed() completes the object.
void Engine::finalize(Obj& o) {
  placer_->submit(&o, std::move(*o.file));
  o.file.reset();
  o.placing = true;
}

// The placer found the content wrong (and discarded it): once, download it again.
void Engine::on_not_placed(Obj& o, Error e) {
  if (e.code == Errc::integrity && o.mismatches++ == 0) {
    rep_.event(Level::warn, fmt::format("{}: {}; downloading it again", o.job.label, e.message));
    o.range_mode = RangeMode::unknown;  // the next schedule() starts from zero
    return;
  }
  if (e.code == Errc::integrity) {
    e.message =
        fmt::format("{} (oid {}) failed verification twice: {}", o.job.label, o.job.oid, e.message);
    e.where = o.job.blob_path.string();
  }
  fail(o, std::move(e));
}

void Engine::collect_placed() {
  for (auto& d : placer_->take_done()) {
    auto it = std::find_if(objs_.begin(), objs_.end(), [&](const Obj& x) { return &x == d.tag; });
    if (it == objs_.end()) continue;
    Obj& o = *it;
    o.placing = false;
    reread_ += d.reread;
    if (!d.status) {
      on_not_placed(o, d.status.error());
      continue;
    }
    o.finished = true;
    o.outcome.ok = true;
    release(o);
    rep_.progress({"fetch", o.job.label, o.job.size, o.job.size,
                   average_rate(o.outcome.downloaded, o.started, Steady::now()), true});
  }
}

void Engine::start(Obj& o, std::size_t seg) {
  auto owned = std::make_unique<Conn>();
  Conn* c = owned.get();
  c->obj = &o;
  c->seg = seg;
  c->total_received = &received_;
  c->placer = placer_.get();
  if (o.started == Steady::time_point{}) o.started = Steady::now();
  const Segment& s = o.file->segments()[seg];
  c->h = curl_easy_init();
  CURL* h = c->h;
  curl_easy_setopt(h, CURLOPT_URL, o.job.action.href.c_str());
  curl_easy_setopt(h, CURLOPT_PRIVATE, c);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT,
                   static_cast<long>(opt_.connect_timeout.count()));  // NOLINT
  // Stall watchdog: fewer than 1 byte/s for stall_timeout seconds aborts; the range resumes.
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(opt_.stall_timeout.count()));  // NOLINT
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "sd35-setup/" SD35_VERSION);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
  bool action_auth = false;
  for (const auto& [k, v] : o.job.action.headers) {
    action_auth = action_auth || str::to_lower(k) == "authorization";
    c->headers = curl_slist_append(c->headers, fmt::format("{}: {}", k, v).c_str());
  }
  if (!action_auth) net::apply_credentials(h, &c->headers, opt_.credentials, o.job.action.href);
  net::apply_transport(h, opt_.transport, o.job.action.href);
  if (c->headers) curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
  if (s.pos() > 0 || s.end < o.job.size) {
    c->ranged = true;
    c->asked_from = s.pos();
    std::string range = fmt::format("{}-{}", s.pos(), s.end - 1);
    curl_easy_setopt(h, CURLOPT_RANGE, range.c_str());
  }
  o.conns.push_back(c);
  conns_.push_back(std::move(owned));
  curl_multi_add_handle(multi_, h);
}

void Engine::schedule() {
  const auto now = Steady::now();
  for (auto& o : objs_) {
    if (conns_.size() >= static_cast<std::size_t>(opt_.jobs)) return;
    if (o.finished || o.placing || now < o.not_before) continue;
    if (!o.file) {
      if (!acquire(o)) {  // another process downloads it: look again shortly
        o.not_before = now + std::chrono::milliseconds(200);
        continue;
      }
      std::error_code ec;
      if (std::filesystem::exists(o.job.blob_path, ec)) {
        o.finished = o.outcome.ok = o.outcome.cached = true;
        release(o);
        continue;
      }
      auto plan = o.job.size >= opt_.range_threshold
                      ? plan_ranges(o.job.size, opt_.jobs, opt_.min_range)
                      : std::vector<Segment>{{0, o.job.size, 0}};
      auto f = ObjectFile::open(o.job.blob_path, o.job.oid, o.job.size, std::move(plan));
      if (!f) {
        fail(o, std::move(f).error());
        continue;
      }
      if (!f->resume_dropped().empty())
        rep_.event(Level::warn, fmt::format("{}: saved progress not used: {}; downloading it again",
                                            o.job.label, f->resume_dropped()));
      o.file.emplace(std::move(*f));
      o.outcome.resumed = std::max(o.outcome.resumed, o.file->resumed_bytes());
      if (o.file->complete()) {
        finalize(o);
        continue;
      }
    }
    if (o.conns.empty() && o.job.action.expired(lfs::Clock::now()) && refresh(o) && o.finished)
      continue;
    for (std::size_t i = 0; i < o.file->segments().size(); ++i) {
      if (conns_.size() >= static_cast<std::size_t>(opt_.jobs)) return;
      const auto& s = o.file->segments()[i];
      bool busy = std::any_of(o.conns.begin(), o.conns.end(),
                              [&](Conn* c) { return c->seg == i && !c->abandoned; });
      if (s.done() || busy) continue;
      // Until a range request proved the server honours Range, one request per object.
      if (o.range_mode != RangeMode::yes && !o.conns.empty()) break;
      start(o, i);
      if (o.range_mode != RangeMode::yes) break;
    }
  }
}

void Engine::on_done(Conn* c, CURLcode rc) {
  Obj& o = *c->obj;
  long status = c->status;  // NOLINT(google-runtime-int)
  curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
  std::optional<std::chrono::seconds> retry_after;
  curl_off_t ra = 0;
  if (curl_easy_getinfo(c->h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
    retry_after = std::chrono::seconds(ra);
  drop(c);
  std::unique_ptr<Conn> keep;  // c stays valid until this function returns
  for (auto it = conns_.begin(); it != conns_.end(); ++it)
    if (it->get() == c) {
      keep = std::move(*it);
      conns_.erase(it);
      break;
    }
  if (c->abandoned || o.finished || !o.file) return;
  const std::string where = net::redact_url(o.job.action.href);
  if (c->received > 0) o.retries_of(c->seg) = 0;  // progress: this range's budget is back
  if (c->write_error) return fail(o, *c->write_error);
  if (c->range_mismatch || status == 416) {
    // The server's ranges cannot be trusted (or the saved offset is past its end): start over.
    o.range_mode = RangeMode::no;
    o.restarted_without_range += o.file->bytes_present();
    o.file->reset({Segment{0, o.job.size, 0}});
    o.retries.clear();
    return retry(
        o, 0,
        make_error(Errc::network,
                   fmt::format("{}: the server did not honour the requested range", o.job.label),
                   where),
        {});
  }
  if (rc != CURLE_OK && !c->error_body) return on_transfer_error(o, *c, rc, where);
  if (status < 200 || status >= 300) return on_http_error(o, *c, status, retry_after, where);
  if (!o.file->segments()[c->seg].done())
    return retry(o, c->seg,
                 make_error(Errc::network,
                            fmt::format("{}: the connection closed early", o.job.label), where),
                 net::backoff_delay(o.retries_of(c->seg) + 1, opt_.backoff));
  if (o.file->complete()) return finalize(o);
  placer_->hash_behind(o.file->prefix_hash());  // the prefix may have grown over a later range
}

void Engine::on_transfer_error(Obj& o, const Conn& c, CURLcode rc, const std::string& where) {
  Error e = net::curl_error(rc, c.errbuf, fmt::format("download of {}", o.job.label), where,
                            opt_.transport);
  if (e.permanent) return fail(o, std::move(e));  // an untrusted certificate stays untrusted
  Errc code = rc == CURLE_OPERATION_TIMEDOUT ? Errc::timeout : Errc::network;
  std::string what = rc == CURLE_OPERATION_TIMEDOUT
                         ? fmt::format("no data for {} s (stalled)", opt_.stall_timeout.count())
                         : std::string(c.errbuf[0] ? c.errbuf : curl_easy_strerror(rc));
  retry(o, c.seg,
        make_error(code, fmt::format("download of {} interrupted: {}", o.job.label, what), where,
                   "check the network; run the command again to resume"),
        net::backoff_delay(o.retries_of(c.seg) + 1, opt_.backoff));
}

void Engine::on_http_error(Obj& o, const Conn& c, long status,  // NOLINT(google-runtime-int)
                           std::optional<std::chrono::seconds> retry_after,
                           const std::string& where) {
  auto policy = net::classify_status(status, net::Endpoint::object, o.retries_of(c.seg) + 1,
                                     retry_after, opt_.backoff);
  Error e = make_error(
      policy.code,
      fmt::format("download of {} (oid {}) failed with HTTP {}", o.job.label, o.job.oid, status),
      where,
      policy.code == Errc::rate_limited
          ? "the server is rate limiting; wait and run again"
          : "run the command again; if it persists the server is failing");
  if (policy.refresh_action && refresh(o)) {
    if (!o.finished) o.not_before = Steady::now();
    return;
  }
  if (policy.retry) return retry(o, c.seg, std::move(e), policy.wait);
  fail(o, std::move(e));
}

// Said once per object: resuming needs Range, and this server ignored it.
void Engine::note_restarts() {
  for (auto& o : objs_) {
    if (o.restarted_without_range == 0) continue;
    rep_.event(Level::warn,
               fmt::format("{}: the server does not support resuming (it ignored a Range request); "
                           "the {} already on disk are downloaded again",
                           o.job.label, str::human_bytes(o.restarted_without_range)));
    o.restarted_without_range = 0;
  }
}

void Engine::save_sidecars(bool force) {
  const auto now = Steady::now();
  for (auto& o : objs_) {
    if (!o.file || !o.dirty || (!force && now - o.last_sidecar < opt_.sidecar_interval)) continue;
    (void)o.file->save_sidecar();  // best effort: losing it costs a re-download, never wrong bytes
    o.dirty = false;
    o.last_sidecar = now;
  }
}

void Engine::report_progress(bool force) {
  const auto now = Steady::now();
  if (!force && now - last_progress_ < std::chrono::milliseconds(100)) return;  // ≤ 10 updates/s
  last_progress_ = now;
  meter_.sample(now, received_);
  std::uint64_t done_all = 0;
  for (auto& o : objs_) {
    std::uint64_t done = (o.finished && o.outcome.ok) || o.placing ? o.job.size
                         : o.file                                  ? o.file->bytes_present()
                                                                   : 0;
    done_all += done;
    if (!o.file) continue;
    // Sampled while waiting for a retry too, so a stalled object's rate falls to 0.
    o.meter.sample(now, o.outcome.downloaded);
    if (!o.conns.empty())
      rep_.progress({"fetch", o.job.label, done, o.job.size, o.meter.rate(), false});
  }
  rep_.progress({"fetch", "", done_all, total_size_, meter_.rate(), false});
}

Error Engine::explain_disk_full(const Obj& o, const Error& cause) const {
  std::uint64_t still_needed = 0;
  for (const auto& x : objs_) {
    if (x.finished) continue;
    std::uint64_t present = x.file ? x.file->bytes_present() : 0;
    still_needed += x.job.size - std::min(present, x.job.size);
  }
  store::DiskFullContext ctx;
  ctx.file = o.job.label;
  ctx.id = o.job.oid;
  ctx.dir = o.job.blob_path.parent_path();
  ctx.present = o.file ? o.file->bytes_present() : 0;
  ctx.resumable = o.file ? o.file->recorded_bytes() : 0;
  ctx.partial = o.file ? o.file->incomplete_path() : std::filesystem::path();
  ctx.size = o.job.size;
  ctx.still_needed = still_needed;
  return store::disk_full_error(cause, ctx);
}

Error Engine::abort_all(Error e) {
  for (auto& c : conns_) drop(c.get());
  conns_.clear();
  placer_->drain();  // verified files are placed (kept), not left half-way
  for (auto& o : objs_) {
    if (o.file) (void)o.file->save_sidecar();
    release(o);
  }
  return e;
}

Result<TransferReport> Engine::run() {
  for (;;) {
    if (cancel_requested()) {
      save_sidecars(true);
      return abort_all(make_error(Errc::interrupted, "interrupted; the partial downloads are kept",
                                  "", "run the same command again to resume where it stopped"));
    }
    schedule();
    if (fatal_) return abort_all(*fatal_);
    collect_placed();
    bool all_done =
        std::all_of(objs_.begin(), objs_.end(), [](const Obj& o) { return o.finished; });
    if (all_done && conns_.empty()) break;
    int running = 0;
    const std::uint64_t before = received_;
    curl_multi_perform(multi_, &running);
    if (received_ != before) last_byte_ = Steady::now();
    // Before the completions (whose in-order hashing may read back a range from the page cache):
    // what a kill -9 can lose is what arrived since this save.
    save_sidecars(false);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      Conn* c = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &c);
      on_done(c, m->data.result);
    }
    note_restarts();
    if (fatal_) return abort_all(*fatal_);
    report_progress(false);
    curl_multi_poll(multi_, nullptr, 0, 100, nullptr);
  }
  report_progress(true);
  // "done X / X" only when it is true: a run with a failed object ends on its last real count.
  if (std::all_of(objs_.begin(), objs_.end(), [](const Obj& o) { return o.outcome.ok; }))
    rep_.progress({"fetch", "", total_size_, total_size_,
                   average_rate(received_, started_, Steady::now()), true});
  TransferReport rep;
  for (auto& o : objs_) rep.objects.push_back(o.outcome);
  rep.bytes_downloaded = received_;
  rep.bytes_reread = reread_;
  const auto now = Steady::now();
  rep.seconds = std::chrono::duration<double>(now - started_).count();
  rep.seconds_after_last_byte = std::chrono::duration<double>(now - last_byte_).count();
  return rep;
}

}  // namespace

Result<TransferReport> run_transfers(std::vector<TransferJob> jobs, const TransferOptions& options,
                                     Reporter& reporter) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  Engine engine(std::move(jobs), options, reporter);
  return engine.run();
}

}  // namespace sd35::lfs
