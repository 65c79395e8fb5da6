#include "verify/content.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>

#include "lfs/pointer.hpp"
#include "util/cancel.hpp"
#include "util/fs.hpp"
#include "util/rate_meter.hpp"
#include "util/strings.hpp"
#include "verify/digest.hpp"
#include "verify/finding.hpp"
#include "verify/verify_state.hpp"

namespace sd35::verify {

namespace {

constexpr std::string_view kFetchFix =
    "run `sd35-setup fetch` to download it again (in a plain git checkout: `git lfs pull`)";

Finding file_finding(std::string id, Verdict verdict, const Expectation& e, std::string detail,
                     std::string fix = {}) {
  return rule_finding(std::move(id), verdict, e.path, std::move(detail), std::move(fix));
}

// A small file that reads like a Git LFS pointer: the weights were never downloaded.
std::optional<Finding> pointer_finding(const std::filesystem::path& full, const Expectation& e) {
  auto text = fs::read_file(full, lfs::kMaxPointerSize);
  if (!text || !lfs::looks_like_pointer(*text)) return std::nullopt;
  auto p = lfs::parse_pointer(*text);
  std::string detail;
  if (p) {
    detail = fmt::format(
        "the file is a Git LFS pointer (oid sha256:{}, size {}): the weights were "
        "never downloaded",
        p->oid, p->size);
    if (e.sha256 && *e.sha256 != p->oid) {
      detail += fmt::format("; its oid also differs from the expected sha256 {} ({})", *e.sha256,
                            e.source);
    }
  } else {
    detail = fmt::format(
        "the file is a malformed Git LFS pointer ({}): the weights were never "
        "downloaded",
        p.error().message);
  }
  auto f = file_finding("content.pointer-file", Verdict::fail, e, std::move(detail),
                        std::string(kFetchFix));
  if (p) f.data = {{"oid", p->oid}, {"size", p->size}};
  return f;
}

struct Slot {
  FileOutcome outcome;
  Finding finding;
  std::optional<StateEntry> remember;
  std::optional<Error> stop;  // interrupted
};

void check_one(const std::filesystem::path& root, const Expectation& e,
               const ContentOptions& options, const VerifyState& state,
               const std::function<void(std::uint64_t)>& add_progress, Slot& slot) {
  FileOutcome& out = slot.outcome;
  out.path = e.path;
  const auto full = root / e.path;
  auto stamp = stamp_of(full);
  if (!stamp) {
    std::error_code ec;
    const bool dangling = std::filesystem::is_symlink(full, ec);
    slot.finding =
        file_finding("content.missing", Verdict::fail, e,
                     dangling ? fmt::format("{} is a symlink to {}, which does not exist", e.path,
                                            std::filesystem::read_symlink(full, ec).string())
                              : fmt::format("{} is missing ({})", e.path, stamp.error().message),
                     std::string(kFetchFix));
    return;
  }
  out.present = true;
  out.size = stamp->size;
  const bool small = stamp->size < lfs::kMaxPointerSize;
  if (small && (!e.size || *e.size != stamp->size || e.sha256)) {
    if (auto f = pointer_finding(full, e)) {
      out.pointer = true;
      slot.finding = std::move(*f);
      return;
    }
  }
  if (e.size && *e.size != stamp->size) {
    slot.finding = file_finding(
        "content.size", Verdict::fail, e,
        fmt::format("{} has {} bytes, expected {} ({}){}", e.path, stamp->size, *e.size, e.source,
                    stamp->size < *e.size ? ": the download is incomplete" : ""),
        std::string(kFetchFix));
    slot.finding.data = {{"size", stamp->size}, {"expected_size", *e.size}};
    return;
  }
  if (!e.sha256 && !e.git_sha1) {
    out.ok = true;
    slot.finding = file_finding(
        "content.size", Verdict::pass, e,
        e.size ? fmt::format("{} bytes as expected; no digest known to check", stamp->size)
               : "present; no size or digest known to check");
    return;
  }
  const auto prev = state.files.find(e.path);
  const bool reusable = !options.full && prev != state.files.end() &&
                        prev->second.stamp == *stamp &&
                        (!e.git_sha1 || !prev->second.git_sha1.empty());
  if (reusable) {
    out.reused = true;
    out.sha256 = prev->second.sha256;
    out.git_sha1 = prev->second.git_sha1;
  } else {
    std::uint64_t reported = 0;
    auto digests = hash_file(full, e.git_sha1.has_value(), [&](std::uint64_t done) {
      add_progress(done - reported);
      reported = done;
    });
    if (!digests) {
      if (digests.error().code == Errc::interrupted) {
        slot.stop = digests.error();
        return;
      }
      slot.finding = file_finding("content.read", Verdict::fail, e, digests.error().describe(),
                                  "check the disk (dmesg) and permissions, then run verify again");
      return;
    }
    out.sha256 = digests->sha256;
    out.git_sha1 = digests->git_sha1;
    // Remember the digest only when nothing touched the file while it was read.
    if (auto after = stamp_of(full); after && *after == *stamp) {
      slot.remember = StateEntry{*stamp, out.sha256, out.git_sha1};
    }
  }
  const char* how = out.reused ? " (unchanged since the last full check)" : "";
  if (e.sha256 && *e.sha256 != out.sha256) {
    slot.finding = file_finding(
        "content.sha256", Verdict::fail, e,
        fmt::format("sha256 {} differs from the expected {} ({}): the content is corrupt{}",
                    out.sha256, *e.sha256, e.source, how),
        std::string(kFetchFix));
    slot.finding.data = {{"sha256", out.sha256}, {"expected_sha256", *e.sha256}};
    return;
  }
  if (e.git_sha1 && *e.git_sha1 != out.git_sha1) {
    slot.finding = file_finding("content.git-sha1", Verdict::fail, e,
                                fmt::format("git blob id {} differs from the expected {} ({}){}",
                                            out.git_sha1, *e.git_sha1, e.source, how),
                                std::string(kFetchFix));
    slot.finding.data = {{"git_sha1", out.git_sha1}, {"expected_git_sha1", *e.git_sha1}};
    return;
  }
  out.ok = true;
  const std::string id = e.sha256 ? "content.sha256" : "content.git-sha1";
  slot.finding = file_finding(
      id, Verdict::pass, e,
      fmt::format("{} bytes, {} {} matches{}", stamp->size, e.sha256 ? "sha256" : "git blob id",
                  e.sha256 ? out.sha256 : out.git_sha1, how));
}

}  // namespace

Result<ContentReport> verify_files(const std::filesystem::path& root,
                                   const std::vector<Expectation>& expectations,
                                   const ContentOptions& options, Reporter& reporter) {
  const auto t0 = std::chrono::steady_clock::now();
  const VerifyState state = options.state_file ? load_state(*options.state_file) : VerifyState{};
  std::vector<Slot> slots(expectations.size());

  // Largest files first so one big file does not start last and run alone at the end.
  std::vector<std::size_t> order(expectations.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return expectations[a].size.value_or(0) > expectations[b].size.value_or(0);
  });
  std::uint64_t total = 0;
  for (const auto& e : expectations) total += e.size.value_or(0);
  std::atomic<std::uint64_t> done{0};
  std::mutex progress_mu;
  auto last = std::chrono::steady_clock::now();
  RateMeter meter;  // hashing speed over the last seconds (what the ETA needs)
  meter.sample(last, 0);
  auto add_progress = [&](std::uint64_t bytes) {
    done += bytes;
    std::lock_guard lock(progress_mu);
    const auto now = std::chrono::steady_clock::now();
    if (now - last < std::chrono::milliseconds(100)) return;
    last = now;
    const auto now_done = done.load();  // read under the lock: never smaller than the last sample
    meter.sample(now, now_done);
    reporter.progress({"verify", "", now_done, total, meter.rate(), false});
  };
  parallel_for(order.size(), options.threads, [&](std::size_t k) {
    const std::size_t i = order[k];
    if (cancel_requested()) {
      slots[i].stop = make_error(Errc::interrupted, "verification interrupted");
      return;
    }
    check_one(root, expectations[i], options, state, add_progress, slots[i]);
  });

  ContentReport report;
  VerifyState next;
  for (auto& slot : slots) {
    if (slot.stop) return *slot.stop;
  }
  for (auto& slot : slots) {
    reporter.finding(slot.finding);
    const auto& o = slot.outcome;
    if (!o.ok) ++report.failed;
    if (o.ok) report.bytes_present_ok += o.size;
    if (o.reused) ++report.reused;
    if (slot.remember) {
      ++report.hashed;
      report.bytes_hashed += o.size;
      next.files[o.path] = *slot.remember;
    } else if (o.reused) {
      next.files[o.path] = state.files.at(o.path);
    }
    report.files.push_back(std::move(slot.outcome));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  reporter.progress({"verify", "", done.load(), total,
                     report.seconds > 0 ? static_cast<double>(done.load()) / report.seconds : 0,
                     true});
  if (options.state_file && report.hashed > 0) {
    if (auto s = save_state(*options.state_file, next); !s) {
      reporter.event(Level::warn, "could not save the verify state: " + s.error().describe());
    }
  }
  return report;
}

}  // namespace sd35::verify
