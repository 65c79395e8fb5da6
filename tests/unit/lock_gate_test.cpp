// Lockfile determinism and self-digest, exports and diff, and the `verify --lock` gate passing
// and failing for each reason, on a fake HF cache and a fake venv.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "app/lock.hpp"
#include "app/verify_lock.hpp"
#include "lock/lockfile.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

using namespace sd35;
namespace stdfs = std::filesystem;

namespace {

const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

void write(const stdfs::path& p, const std::string& text) {
  stdfs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string hosts(const std::string& name) {
  const char* d = std::getenv("SD35_TEST_DATA");
  return std::string(d ? d : "tests/data") + "/hosts/resolve-" + name + ".json";
}

class LockGate : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = stdfs::temp_directory_path() /
          ("sd35-lock-gate-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    stdfs::remove_all(dir);
    const std::string content(4096, 'w');
    model_sha = sha256_hex(content);
    auto repo = dir / "cache" / "models--org--tiny";
    write(repo / "blobs" / model_sha, content);
    write(repo / "refs" / "main", kCommit);
    stdfs::create_directories(repo / "snapshots" / kCommit);
    stdfs::create_symlink("../../blobs/" + model_sha,
                          repo / "snapshots" / kCommit / "model.safetensors");
    write(dir / "manifest.json",
          R"({"schema_version":1,"name":"tiny","model":{"repo":"org/tiny","revision":"main",
      "format":"sai-single-file","architecture":"sd35-large","files":[{"path":"model.safetensors","size":4096,"sha256":")" +
              model_sha + R"("}]},
      "environment":{"python":">=3.10,<3.14","candidates":[{"torch":"2.9.1","cuda":["cu128"]}]},
      "requirements":{},"smoke":{}})");
    torch_sha = std::string(64, 'a');
    write(dir / "resolve.json",
          R"({"selected":{"torch":"2.9.1","cuda":"cu128","index_url":"http://127.0.0.1:9/whl/cu128",
      "python":"3.11.7","packages":[{"name":"torch","specifier":"==2.9.1+cu128","version":"2.9.1+cu128",
      "file":"torch-2.9.1+cu128-cp311-cp311-manylinux_2_28_x86_64.whl","url":"http://127.0.0.1:9/whl/cu128/torch-2.9.1%2Bcu128-cp311-cp311-manylinux_2_28_x86_64.whl",
      "sha256":")" +
              torch_sha + R"(","index_url":"http://127.0.0.1:9/whl/cu128"}]}})");
    auto sp = dir / "venv" / "lib" / "python3.11" / "site-packages" / "torch-2.9.1+cu128.dist-info";
    write(dir / "venv" / "pyvenv.cfg", "home = /usr/bin\nversion = 3.11.7\n");
    write(sp / "METADATA", "Metadata-Version: 2.1\nName: torch\nVersion: 2.9.1+cu128\n\nbody\n");
    write(sp / "direct_url.json",
          R"({"url":"http://127.0.0.1:9/x.whl","archive_info":{"hashes":{"sha256":")" + torch_sha +
              R"("}}})");
    global.manifest_path = (dir / "manifest.json").string();
    global.cache_dir = (dir / "cache").string();
  }
  void TearDown() override { stdfs::remove_all(dir); }

  std::string make_lock(const std::string& name = "sd35.lock.json") {
    app::LockOptions o;
    o.out = (dir / name).string();
    o.from = (dir / "resolve.json").string();
    o.venv = (dir / "venv").string();
    o.host_file = hosts("h100-driver535");
    CollectingReporter r;
    auto rc = app::lock(global, o, r);
    EXPECT_TRUE(rc.has_value()) << (rc ? "" : rc.error().describe());
    return *fs::read_file(o.out);
  }

  Result<app::Outcome> gate(const std::string& host = "h100-driver535",
                            CollectingReporter* out = nullptr) {
    app::VerifyLockOptions o;
    o.lock = (dir / "sd35.lock.json").string();
    o.venv = (dir / "venv").string();
    o.host_file = hosts(host);
    o.junit = (dir / "junit.xml").string();
    CollectingReporter local;
    return app::verify_lock(global, o, out ? *out : local);
  }

  stdfs::path dir;
  std::string model_sha, torch_sha;
  app::GlobalOptions global;
};

}  // namespace

TEST_F(LockGate, LockIsDeterministicAndRecordsTheSnapshot) {
  std::string a = make_lock("a.json"), b = make_lock("b.json");
  EXPECT_EQ(a, b);
  auto l = lock::parse(a, "a.json");
  ASSERT_TRUE(l.has_value()) << l.error().describe();
  EXPECT_TRUE(l->model.verified);
  EXPECT_EQ(l->model.commit, kCommit);
  EXPECT_EQ(l->model.repo, "https://huggingface.co/org/tiny");
  ASSERT_EQ(l->model.files.size(), 1u);
  EXPECT_EQ(l->model.files[0].oid, model_sha);
  EXPECT_EQ(l->host.driver, "535.104.05");
  EXPECT_EQ(l->host.python, "3.11.7");
  EXPECT_EQ(l->packages.at(0).sha256, torch_sha);
  EXPECT_EQ(a.find("created"), std::string::npos);
}

TEST_F(LockGate, ModelNotFetchedIsRecordedUnverified) {
  stdfs::remove_all(dir / "cache");
  auto l = lock::parse(make_lock(), "x");
  ASSERT_TRUE(l.has_value());
  EXPECT_FALSE(l->model.verified);
  EXPECT_TRUE(l->model.commit.empty());
  EXPECT_EQ(l->model.files.at(0).oid, model_sha);
}

TEST_F(LockGate, BadLockfilesAreUsageErrors) {
  std::string text = make_lock();
  auto edited = text;
  edited.replace(edited.find("2.9.1+cu128"), 11, "2.9.0+cu128");
  auto e = lock::parse(edited, "edited.json");
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.error().code, Errc::bad_input);
  EXPECT_NE(e.error().message.find("edited or corrupted"), std::string::npos);

  auto truncated = lock::parse(text.substr(0, text.size() / 2), "t.json");
  ASSERT_FALSE(truncated.has_value());
  EXPECT_EQ(truncated.error().code, Errc::bad_input);

  auto future = nlohmann::json::parse(text);
  future["schema_version"] = 99;
  auto f = lock::parse(future.dump(), "future.json");
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.error().code, Errc::unsupported_version);
}

TEST_F(LockGate, GatePassesThenUsesTheFastPath) {
  make_lock();
  CollectingReporter r1, r2;
  auto first = gate("h100-driver535", &r1);
  ASSERT_TRUE(first.has_value()) << first.error().describe();
  EXPECT_EQ(*first, app::Outcome::ok);
  auto second = gate("h100-driver535", &r2);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*second, app::Outcome::ok);
  bool fast = false;
  for (const auto& f : r2.findings)
    if (f.id == "model:model.safetensors") fast = f.detail.find("unchanged") != std::string::npos;
  EXPECT_TRUE(fast);
  auto junit = fs::read_file(dir / "junit.xml");
  ASSERT_TRUE(junit.has_value());
  EXPECT_NE(junit->find("<testcase classname=\"model\" name=\"model:model.safetensors\""),
            std::string::npos);
  EXPECT_NE(junit->find("failures=\"0\""), std::string::npos);
}

TEST_F(LockGate, ChangedModelFileFails) {
  make_lock();
  ASSERT_EQ(*gate(), app::Outcome::ok);
  write(dir / "cache" / "models--org--tiny" / "blobs" / model_sha,
        std::string(4096, 'x'));  // same size
  EXPECT_EQ(*gate(), app::Outcome::verification_failed);
  EXPECT_NE(fs::read_file(dir / "junit.xml")->find("<failure"), std::string::npos);
  stdfs::remove(dir / "cache" / "models--org--tiny" / "blobs" / model_sha);
  EXPECT_EQ(*gate(), app::Outcome::verification_failed);
}

TEST_F(LockGate, ChangedWheelFails) {
  make_lock();
  auto sp = dir / "venv" / "lib" / "python3.11" / "site-packages" / "torch-2.9.1+cu128.dist-info";
  write(sp / "direct_url.json", R"({"url":"http://x/y.whl","archive_info":{"hash":"sha256=)" +
                                    std::string(64, 'b') + R"("}})");
  EXPECT_EQ(*gate(), app::Outcome::verification_failed);
  write(sp / "METADATA", "Name: torch\nVersion: 2.9.0+cu128\n\n");
  EXPECT_EQ(*gate(), app::Outcome::verification_failed);
}

TEST_F(LockGate, IncompatibleHostIsNotReady) {
  make_lock();
  EXPECT_EQ(*gate("a100-driver470"),
            app::Outcome::not_ready);  // driver < 525.60.13 and another GPU
  EXPECT_EQ(*gate("nogpu"), app::Outcome::not_ready);
}

TEST_F(LockGate, ExportAndDiff) {
  make_lock();
  auto l = *lock::load((dir / "sd35.lock.json").string());
  std::string req = lock::export_requirements(l);
  EXPECT_NE(req.find("torch==2.9.1+cu128 \\\n    --hash=sha256:" + torch_sha), std::string::npos)
      << req;
  EXPECT_NE(req.find("--index-url http://127.0.0.1:9/whl/cu128"), std::string::npos);
  std::string pylock = lock::export_pylock(l);
  EXPECT_NE(pylock.find("lock-version = \"1.0\""), std::string::npos);
  EXPECT_NE(pylock.find("[[packages.wheels]]"), std::string::npos);
  EXPECT_NE(pylock.find("hashes = {sha256 = \"" + torch_sha + "\"}"), std::string::npos);
  EXPECT_TRUE(lock::diff(l, l).empty());
  auto other = l;
  other.packages[0].version = "2.9.0+cu128";
  other.host.driver = "580.65.06";
  auto d = lock::diff(l, other);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].section, "host");
  EXPECT_EQ(d[1].section, "package");
  // Same fingerprint, other weights: the embedded model vs the fetched checkpoint at a commit.
  auto embedded = l, cached = l;
  embedded.smoke = nlohmann::json{{"source", "embedded"}, {"fingerprint", {{"x", 1}}}};
  cached.smoke = nlohmann::json{
      {"source", "cache"}, {"cache", {{"commit", kCommit}}}, {"fingerprint", {{"x", 1}}}};
  auto w = lock::diff(embedded, cached);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].key, "weights");
  EXPECT_EQ(w[0].a, "embedded");
  EXPECT_EQ(w[0].b, std::string("cache ") + kCommit);
}
