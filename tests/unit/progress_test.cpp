// Progress: the sliding-window rate estimator (deterministic: the test supplies the clock), the
// ETA, and how the three renderers show a per-file update.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/render.hpp"
#include "util/rate_meter.hpp"
#include "util/reporter.hpp"

namespace sd35 {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using T = RateMeter::Clock::time_point;

T at_ms(long ms) {  // NOLINT(google-runtime-int)
  return T{} + milliseconds(ms);
}

TEST(RateMeter, SteadyStreamGivesItsRate) {
  RateMeter m(seconds(5));
  EXPECT_EQ(m.rate(), 0.0) << "no samples";
  m.sample(at_ms(0), 0);
  EXPECT_EQ(m.rate(), 0.0) << "one sample spans no time";
  for (int i = 1; i <= 30; ++i) m.sample(at_ms(100L * i), static_cast<std::uint64_t>(i) * 100'000);
  EXPECT_NEAR(m.rate(), 1'000'000.0, 1.0);  // 100 kB per 100 ms
}

TEST(RateMeter, NeedsAMinimumSpanBeforeReporting) {
  RateMeter m(seconds(5), milliseconds(250));
  m.sample(at_ms(0), 0);
  m.sample(at_ms(100), 1'000'000);
  EXPECT_EQ(m.rate(), 0.0) << "100 ms is too short to call it a rate";
  m.sample(at_ms(300), 1'000'000);
  EXPECT_NEAR(m.rate(), 1'000'000.0 / 0.3, 1.0);
}

TEST(RateMeter, StallDrivesTheRateToZeroWithinTheWindow) {
  RateMeter m(seconds(3));
  std::uint64_t bytes = 0;
  for (int i = 0; i <= 50; ++i) m.sample(at_ms(100L * i), bytes += 50'000);  // 500 kB/s for 5 s
  EXPECT_NEAR(m.rate(), 500'000.0, 1.0);
  // Stalled: the same byte count for 2 s, then for 3 s more. bytes / total-elapsed would still
  // claim ~250 kB/s here; the window says what is happening now.
  for (int i = 51; i <= 70; ++i) m.sample(at_ms(100L * i), bytes);
  EXPECT_NEAR(m.rate(), 500'000.0 / 3.0, 1.0) << "1 s of transfer in the last 3 s";
  for (int i = 71; i <= 100; ++i) m.sample(at_ms(100L * i), bytes);
  EXPECT_EQ(m.rate(), 0.0);
  // Bytes flow again: the rate follows within the window.
  for (int i = 101; i <= 140; ++i) m.sample(at_ms(100L * i), bytes += 20'000);
  EXPECT_NEAR(m.rate(), 200'000.0, 1.0);
}

TEST(RateMeter, OnlyFedBytesCountSoResumedBytesAreNotSpeed) {
  // The engine feeds the bytes received in this run. An object resumed at 900 MB of 1 GB that
  // receives 1 MB/s is at 1 MB/s, whatever the file's size on disk.
  RateMeter m(seconds(5));
  for (int i = 0; i <= 20; ++i) m.sample(at_ms(100L * i), static_cast<std::uint64_t>(i) * 100'000);
  EXPECT_NEAR(m.rate(), 1'000'000.0, 1.0);
  ProgressUpdate u{"fetch", "big.bin", 900'000'000 + 2'000'000, 1'000'000'000, m.rate(), false};
  ASSERT_TRUE(u.eta_s());
  EXPECT_NEAR(*u.eta_s(), 98.0, 0.01);
}

TEST(RateMeter, ACounterGoingBackwardsRestartsTheMeter) {
  RateMeter m(seconds(5));
  m.sample(at_ms(0), 0);
  m.sample(at_ms(1000), 5'000'000);
  EXPECT_GT(m.rate(), 0.0);
  m.sample(at_ms(1100), 0);
  EXPECT_EQ(m.rate(), 0.0);
}

TEST(RateMeter, DenseSamplesStayBounded) {
  RateMeter m(seconds(1));
  for (int i = 0; i <= 100'000; ++i) m.sample(at_ms(i), static_cast<std::uint64_t>(i) * 1000);
  EXPECT_NEAR(m.rate(), 1'000'000.0, 20'000.0);  // 1000 bytes per ms
}

TEST(ProgressEta, UnknownFinishedAndKnown) {
  ProgressUpdate u{"fetch", "a", 100, 0, 10.0, false};
  EXPECT_FALSE(u.eta_s()) << "no total";
  u.total = 1100;
  u.rate_per_s = 0;
  EXPECT_FALSE(u.eta_s()) << "no rate (stalled or just started)";
  u.rate_per_s = 100;
  EXPECT_DOUBLE_EQ(*u.eta_s(), 10.0);
  u.finished = true;
  EXPECT_DOUBLE_EQ(*u.eta_s(), 0.0);
}

// Renders through a real renderer into memory, on a fake clock that starts at the clock's epoch
// and moves only when the test says (the throttles never depend on how fast the test runs).
class Captured {
 public:
  explicit Captured(cli::RenderMode mode) {
    out_ = open_memstream(&out_buf_, &out_len_);
    err_ = open_memstream(&err_buf_, &err_len_);
    cli::RenderOptions o;
    o.mode = mode;
    o.out = out_;
    o.err = err_;
    o.now = [this] { return now_; };
    reporter = cli::make_renderer(o);
  }
  void advance(std::chrono::milliseconds by) { now_ += by; }
  ~Captured() {
    reporter.reset();
    std::fclose(out_);
    std::fclose(err_);
    std::free(out_buf_);  // NOLINT(cppcoreguidelines-no-malloc)
    std::free(err_buf_);  // NOLINT(cppcoreguidelines-no-malloc)
  }
  Captured(const Captured&) = delete;
  Captured& operator=(const Captured&) = delete;
  std::string err() {
    std::fflush(err_);
    return {err_buf_, err_len_};
  }
  std::unique_ptr<Reporter> reporter;

 private:
  std::FILE* out_ = nullptr;
  std::FILE* err_ = nullptr;
  cli::RenderClock::time_point now_{};
  char* out_buf_ = nullptr;
  char* err_buf_ = nullptr;
  std::size_t out_len_ = 0, err_len_ = 0;
};

const ProgressUpdate kFileUpdate{
    "fetch", "transformer/model.safetensors", 256u << 20, 1024u << 20, 64.0 * (1 << 20), false};

TEST(ProgressRender, PlainLineHasFileRateAndEta) {
  Captured c(cli::RenderMode::plain);
  c.reporter->progress(kFileUpdate);
  const std::string line =
      "fetch transformer/model.safetensors: at 256.0 MiB / 1.0 GiB 64.0 MiB/s ETA 0m12s\n";
  EXPECT_EQ(c.err(), line) << "the first update prints, even at the clock's epoch";
  // A burst of updates inside the 5 s interval adds no line; the completion always does.
  for (int i = 0; i < 49; ++i) {
    c.advance(std::chrono::milliseconds(100));
    c.reporter->progress(kFileUpdate);
  }
  EXPECT_EQ(c.err(), line) << "4.9 s after the first line: still throttled";
  c.advance(std::chrono::milliseconds(100));
  c.reporter->progress(kFileUpdate);
  EXPECT_EQ(c.err(), line + line) << "5 s after the first line: the next one";
  ProgressUpdate done = kFileUpdate;
  done.done = done.total;
  done.finished = true;
  c.reporter->progress(done);
  EXPECT_EQ(
      c.err(),
      line + line + "fetch transformer/model.safetensors: done 1.0 GiB / 1.0 GiB 64.0 MiB/s\n");
}

TEST(ProgressRender, PlainThrottlesEachItemOnItsOwn) {
  Captured c(cli::RenderMode::plain);
  ProgressUpdate other = kFileUpdate;
  other.item = "vae/model.safetensors";
  c.reporter->progress(kFileUpdate);
  c.advance(std::chrono::seconds(1));
  c.reporter->progress(other);
  c.advance(std::chrono::seconds(1));
  c.reporter->progress(kFileUpdate);
  c.reporter->progress(other);
  const std::string err = c.err();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 2) << err;
  EXPECT_NE(err.find("fetch vae/model.safetensors: at"), std::string::npos) << err;
}

TEST(ProgressRender, TtyDrawsABarPerFileAndTheTotalBelow) {
  Captured c(cli::RenderMode::tty);
  c.reporter->progress(kFileUpdate);
  std::string first = c.err();
  EXPECT_NE(first.find("fetch transformer/model.safetensors [#####...............]  25% 256.0 MiB "
                       "/ 1.0 GiB  64.0 MiB/s  ETA 0m12s"),
            std::string::npos)
      << first;
  EXPECT_EQ(first.find('\n'), std::string::npos) << "the block is redrawn in place";
  // The total arrives inside the 100 ms throttle: kept, drawn with the next redraw (here: the
  // file's completion, which is never throttled and stays on screen as its own line).
  c.advance(std::chrono::milliseconds(99));
  c.reporter->progress({"fetch", "", 300u << 20, 2048u << 20, 80.0 * (1 << 20), false});
  EXPECT_EQ(c.err(), first) << "inside the 100 ms throttle: nothing drawn";
  ProgressUpdate done = kFileUpdate;
  done.done = done.total;
  done.finished = true;
  c.reporter->progress(done);
  std::string all = c.err().substr(first.size());
  EXPECT_EQ(all.find("\r\x1b[2K"), 0u) << "the block is erased first";
  auto finished_line = all.find("100% 1.0 GiB / 1.0 GiB  64.0 MiB/s\n");
  auto total_bar = all.find("fetch [##");
  ASSERT_NE(finished_line, std::string::npos) << all;
  ASSERT_NE(total_bar, std::string::npos) << all;
  EXPECT_LT(finished_line, total_bar);
  EXPECT_NE(all.find("ETA 0m22s", total_bar), std::string::npos) << all;
  c.reporter->finish();
}

TEST(ProgressRender, TtyRedrawsAtMostEvery100Ms) {
  Captured c(cli::RenderMode::tty);
  c.reporter->progress(kFileUpdate);
  const std::string first = c.err();
  ASSERT_FALSE(first.empty());
  ProgressUpdate later = kFileUpdate;
  later.done = 512u << 20;
  c.advance(std::chrono::milliseconds(50));
  c.reporter->progress(later);
  EXPECT_EQ(c.err(), first) << "50 ms after a redraw: throttled";
  c.advance(std::chrono::milliseconds(50));
  c.reporter->progress(later);
  const std::string redrawn = c.err().substr(first.size());
  EXPECT_EQ(redrawn.find("\r\x1b[2K"), 0u) << redrawn;
  EXPECT_NE(redrawn.find(" 50% 512.0 MiB / 1.0 GiB"), std::string::npos) << redrawn;
  // A file without an update for more than 3 s leaves the block (waiting for a retry).
  ProgressUpdate other = kFileUpdate;
  other.item = "vae/model.safetensors";
  c.advance(std::chrono::milliseconds(3100));
  c.reporter->progress(other);
  const std::string block = c.err().substr(first.size() + redrawn.size());
  EXPECT_NE(block.find("vae/model.safetensors ["), std::string::npos) << block;
  EXPECT_EQ(block.find("transformer/model.safetensors"), std::string::npos) << block;
  c.reporter->finish();
}

TEST(ProgressRender, TtyShortensLongNamesFromTheLeft) {
  Captured c(cli::RenderMode::tty);
  ProgressUpdate u = kFileUpdate;
  u.item = std::string(300, 'd') + "/weights.safetensors";
  c.reporter->progress(u);
  std::string line = c.err();
  EXPECT_LE(line.size(), 120u) << line;
  EXPECT_NE(line.find("...d"), std::string::npos) << line;
  EXPECT_NE(line.find("weights.safetensors ["), std::string::npos) << line;
}

TEST(ProgressRender, JsonEventCarriesRateAndEtaPerFile) {
  Captured c(cli::RenderMode::json);
  c.reporter->progress(kFileUpdate);
  c.reporter->progress({"fetch", "", 0, 0, 0.0, false});
  std::istringstream lines(c.err());
  std::string l;
  ASSERT_TRUE(std::getline(lines, l));
  auto j = nlohmann::json::parse(l);
  EXPECT_EQ(j.at("type"), "progress");
  EXPECT_EQ(j.at("task"), "fetch");
  EXPECT_EQ(j.at("item"), "transformer/model.safetensors");
  EXPECT_EQ(j.at("done"), 256u << 20);
  EXPECT_EQ(j.at("total"), 1024u << 20);
  EXPECT_DOUBLE_EQ(j.at("rate_per_s").get<double>(), 64.0 * (1 << 20));
  EXPECT_DOUBLE_EQ(j.at("eta_s").get<double>(), 12.0);
  EXPECT_EQ(j.at("finished"), false);
  ASSERT_TRUE(std::getline(lines, l));
  auto total = nlohmann::json::parse(l);
  EXPECT_EQ(total.at("item"), "");
  EXPECT_TRUE(total.at("eta_s").is_null()) << "unknown total: no ETA";
}

TEST(ProgressRender, JsonLinesAtMostOncePerSecondPerItem) {
  Captured c(cli::RenderMode::json);
  c.reporter->progress(kFileUpdate);
  c.advance(std::chrono::milliseconds(999));
  c.reporter->progress(kFileUpdate);
  c.advance(std::chrono::milliseconds(1));
  c.reporter->progress(kFileUpdate);
  ProgressUpdate done = kFileUpdate;
  done.finished = true;
  c.reporter->progress(done);
  const std::string err = c.err();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 3) << err;
}

}  // namespace
}  // namespace sd35
