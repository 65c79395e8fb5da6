// Shared set-up for the fetch engine's net tests: one LocalHub per suite, an isolated HOME/HF_HOME
// (no token file, no git credential helper of the machine), and helpers to run `fetch` in-process
// or as the real binary (SD35_BIN).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "app/fetch.hpp"
#include "net/local_hub.hpp"
#include "support/test_env.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/reporter.hpp"
#include "util/sha256.hpp"

namespace sd35::testing {

namespace sfs = std::filesystem;
using nlohmann::json;

inline constexpr const char* kGoodToken = "hf_tok_GOOD_0123456789abcdef";
inline constexpr const char* kOtherToken = "hf_tok_OTHER_0123456789abcdef";

class FetchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    hub_ =
        new LocalHub({{"tokens", {kGoodToken, kOtherToken}},
                      {"repos", {{"acme/gated", {{"access", "gated"}, {"allow", {kGoodToken}}}}}}});
    tiny_ = new json(hub_->make_repo({{"name", "tiny"}}));
    hub_->make_repo({{"name", "gated"}});
    home_ = hub_->scratch() / "home";
    sfs::create_directories(home_);
    ::setenv("HOME", home_.c_str(), 1);
    ::setenv("HF_HOME", (home_ / "hf").c_str(), 1);
    ::setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
    ::setenv("NO_PROXY", "127.0.0.1,127.0.0.2,127.0.0.3", 1);
    for (const char* v :
         {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "HF_ENDPOINT",
          "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"})
      ::unsetenv(v);
  }
  static void TearDownTestSuite() {
    delete tiny_;
    delete hub_;
  }
  void SetUp() override {
    hub_->control({{"faults", json::array()}});
    // A throttled response of the previous test (its client killed) counts its bytes when the hub
    // notices the closed socket: wait for it, so this test's stats are its own.
    for (int i = 0; i < 100 && hub_->stats().value("active_object_requests", 0) > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    hub_->reset_stats();
    ::unsetenv("HF_TOKEN");
    ::unsetenv("HF_HUB_OFFLINE");
    cache_ = hub_->scratch() / ("cache-" + std::to_string(++counter_));
  }

  static const json& file_of(const json& repo, const std::string& path) {
    for (const auto& f : repo.at("files"))
      if (f.at("path") == path) return f;
    throw std::runtime_error("no such file in the test repo: " + path);
  }

  struct Run {
    Result<app::Outcome> result = make_error(Errc::internal, "not run");
    CollectingReporter reporter;
    json doc() const { return reporter.results.empty() ? json() : reporter.results.back().second; }
  };

  // In-process fetch of `repo` ("org/name" on the hub) into cache_.
  std::unique_ptr<Run> fetch(const std::string& repo, app::FetchOptions opt = {}) const {
    auto run = std::make_unique<Run>();
    app::GlobalOptions g;
    g.cache_dir = cache_.string();
    auto slash = repo.find('/');
    opt.repo = hub_->repo_url(repo.substr(0, slash), repo.substr(slash + 1));
    if (opt.revision.empty()) opt.revision = "main";
    run->result = app::fetch(g, opt, run->reporter);
    return run;
  }

  sfs::path snapshot(const std::string& folder, const std::string& commit) const {
    return cache_ / folder / "snapshots" / commit;
  }

  // Every regular file under `dir` (following nothing), for secret scans.
  static std::string grep_tree(const sfs::path& dir, const std::string& needle) {
    std::error_code ec;
    for (auto it = sfs::recursive_directory_iterator(dir, ec);
         it != sfs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec || !it->is_regular_file() || it->is_symlink()) continue;
      auto text = fs::read_file(it->path(), 1u << 30);
      if (text && text->find(needle) != std::string::npos) return it->path().string();
    }
    return {};
  }

  static proc::Outcome run_bin(std::vector<std::string> args,
                               std::map<std::string, std::string> env = {}) {
    proc::Command c;
    c.argv = {sd35::test::cli_binary()};
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    c.env_overrides = std::move(env);
    c.timeout = std::chrono::seconds(120);
    auto r = proc::run(c);
    EXPECT_TRUE(r.has_value());
    return r ? *r : proc::Outcome{};
  }

  static inline LocalHub* hub_ = nullptr;
  static inline json* tiny_ = nullptr;
  static inline sfs::path home_;
  static inline int counter_ = 0;
  sfs::path cache_;
};

}  // namespace sd35::testing
