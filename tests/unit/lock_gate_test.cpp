// Lockfile determinism and self-digest, exports and diff, and the `verify --lock` gate passing
// and failing for each reason, on a fake HF cache and a fake venv.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "app/lock.hpp"
#include "app/verify_lock.hpp"
#include "lock/lockfile.hpp"
#include "support/write_file.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

using namespace sd35;
namespace stdfs = std::filesystem;

namespace {

const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

using test::write_file;

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
    write_file(repo / "blobs" / model_sha, content);
    write_file(repo / "refs" / "main", kCommit);
    stdfs::create_directories(repo / "snapshots" / kCommit);
    stdfs::create_symlink("../../blobs/" + model_sha,
                          repo / "snapshots" / kCommit / "model.safetensors");
    write_file(dir / "manifest.json",
               R"({"schema_version":1,"name":"tiny","model":{"repo":"org/tiny","revision":"main",
      "format":"sai-single-file","architecture":"sd35-large","files":[{"path":"model.safetensors","size":4096,"sha256":")" +
                   model_sha + R"("}]},
      "environment":{"python":">=3.10,<3.14","candidates":[{"torch":"2.9.1","cuda":["cu128"]}]},
      "requirements":{},"smoke":{}})");
    torch_sha = std::string(64, 'a');
    write_file(
        dir / "resolve.json",
        R"({"selected":{"torch":"2.9.1","cuda":"cu128","index_url":"http://127.0.0.1:9/whl/cu128",
      "python":"3.11.7","packages":[{"name":"torch","specifier":"==2.9.1+cu128","version":"2.9.1+cu128",
      "file":"torch-2.9.1+cu128-cp311-cp311-manylinux_2_28_x86_64.whl","url":"http://127.0.0.1:9/whl/cu128/torch-2.9.1%2Bcu128-cp311-cp311-manylinux_2_28_x86_64.whl",
      "sha256":")" +
            torch_sha + R"(","index_url":"http://127.0.0.1:9/whl/cu128"}]}})");
    auto sp = dir / "venv" / "lib" / "python3.11" / "site-packages" / "torch-2.9.1+cu128.dist-info";
    write_file(dir / "venv" / "pyvenv.cfg", "home = /usr/bin\nversion = 3.11.7\n");
    write_file(sp / "METADATA",
               "Metadata-Version: 2.1\nName: torch\nVersion: 2.9.1+cu128\n\nbody\n");
    write_file(sp / "direct_url.json",
               R"({"url":"http://127.0.0.1:9/x.whl","archive_info":{"hashes":{"sha256":")" +
                   torch_sha + R"("}}})");
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
  write_file(dir / "cache" / "models--org--tiny" / "blobs" / model_sha,
             std::string(4096, 'x'));  // same size
  EXPECT_EQ(*gate(), app::Outcome::verification_failed);
  EXPECT_NE(fs::read_file(dir / "junit.xml")->find("<failure"), std::string::npos);
  stdfs::remove(dir / "cache" / "models--org--tiny" / "blobs" / model_sha);
  EXPECT_EQ(*gate(), app::Outcome::verification_failed);
}

TEST_F(LockGate, ChangedWheelFails) {
  make_lock();
  auto sp = dir / "venv" / "lib" / "python3.11" / "site-packages" / "torch-2.9.1+cu128.dist-info";
  write_file(sp / "direct_url.json", R"({"url":"http://x/y.whl","archive_info":{"hash":"sha256=)" +
                                         std::string(64, 'b') + R"("}})");
  EXPECT_EQ(*gate(), app::Outcome::verification_failed);
  write_file(sp / "METADATA", "Name: torch\nVersion: 2.9.0+cu128\n\n");
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

namespace {

// lock --from with the fixture's resolution changed by `edit`; the error when it is refused.
Result<app::Outcome> lock_from(const stdfs::path& dir, const app::GlobalOptions& global,
                               const std::function<void(nlohmann::json&)>& edit,
                               const std::string& host = "h100-driver535",
                               const std::string& venv = "") {
  auto doc = nlohmann::json::parse(*fs::read_file(dir / "resolve.json"));
  edit(doc);
  write_file(dir / "edited-resolve.json", doc.dump());
  app::LockOptions o;
  o.out = (dir / "from.lock.json").string();
  o.from = (dir / "edited-resolve.json").string();
  o.venv = venv;
  o.host_file = hosts(host);
  CollectingReporter r;
  return app::lock(global, o, r);
}

}  // namespace

TEST_F(LockGate, LockFromRefusesAResolutionForAnotherManifest) {
  auto manifest = app::load_manifest_for(global);
  ASSERT_TRUE(manifest.has_value());
  const nlohmann::json same{{"name", manifest->name}, {"digest", manifest->digest}};
  auto ok = lock_from(dir, global, [&](nlohmann::json& d) { d["manifest"] = same; });
  ASSERT_TRUE(ok.has_value()) << ok.error().describe();

  auto other = lock_from(dir, global, [&](nlohmann::json& d) {
    d["manifest"] = {{"name", "sd35-medium-fp8"}, {"digest", std::string(64, 'c')}};
  });
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(app::exit_code_for(other), 2);
  EXPECT_NE(other.error().message.find("sd35-medium-fp8"), std::string::npos);
  EXPECT_NE(other.error().message.find("tiny"), std::string::npos);
  EXPECT_NE(other.error().where.find("edited-resolve.json"), std::string::npos);
  EXPECT_NE(other.error().hint.find("--manifest"), std::string::npos);
  auto digest_only = lock_from(dir, global, [&](nlohmann::json& d) {
    d["manifest"] = {{"name", manifest->name}, {"digest", std::string(64, 'c')}};
  });
  EXPECT_EQ(app::exit_code_for(digest_only), 2);
}

TEST_F(LockGate, LockFromRefusesAResolutionForAnotherHost) {
  // The resolved cu128 build cannot run on driver 470.
  auto old = lock_from(
      dir, global, [](nlohmann::json&) {}, "a100-driver470");
  ASSERT_FALSE(old.has_value());
  EXPECT_EQ(app::exit_code_for(old), 3);
  EXPECT_NE(old.error().message.find("470.256.02"), std::string::npos) << old.error().message;

  // Resolved for an A100 (cc 8.0), locked on an H100 (cc 9.0).
  auto arch = lock_from(dir, global, [](nlohmann::json& d) {
    d["host"] = {{"nvidia", {{"gpus", {{{"compute_capability", "8.0"}}}}}}};
  });
  ASSERT_FALSE(arch.has_value());
  EXPECT_EQ(app::exit_code_for(arch), 3);
  EXPECT_NE(arch.error().message.find("8.0"), std::string::npos) << arch.error().message;
  EXPECT_NE(arch.error().message.find("9.0"), std::string::npos);

  // Wheels for Python 3.12, a venv of Python 3.11.
  auto py = lock_from(
      dir, global, [](nlohmann::json& d) { d["selected"]["python"] = "3.12.1"; }, "h100-driver535",
      (dir / "venv").string());
  ASSERT_FALSE(py.has_value());
  EXPECT_EQ(app::exit_code_for(py), 3);
  EXPECT_NE(py.error().message.find("3.12"), std::string::npos) << py.error().message;
  EXPECT_NE(py.error().message.find("3.11.7"), std::string::npos);

  // The host the resolution was made for, recorded by `resolve --out`: accepted.
  auto same = lock_from(dir, global, [](nlohmann::json& d) {
    d["host"] = {{"nvidia", {{"gpus", {{{"compute_capability", "9.0"}}}}}}};
  });
  EXPECT_TRUE(same.has_value()) << same.error().describe();
}

TEST_F(LockGate, LockVenvWithoutARecordedWheelHashIsRefused) {
  // The same rule as the gate (lock::compare_wheel): no recorded hash is not the locked wheel.
  stdfs::remove(dir / "venv" / "lib" / "python3.11" / "site-packages" /
                "torch-2.9.1+cu128.dist-info" / "direct_url.json");
  auto r = lock_from(
      dir, global, [](nlohmann::json&) {}, "h100-driver535", (dir / "venv").string());
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, Errc::integrity);
  EXPECT_NE(r.error().message.find("no recorded wheel hash"), std::string::npos)
      << r.error().message;
}

TEST_F(LockGate, TheSmokeDocumentPassesInProcess) {
  app::LockOptions o;
  o.out = (dir / "in-process.lock.json").string();
  o.from = (dir / "resolve.json").string();
  o.host_file = hosts("h100-driver535");
  o.smoke_document = nlohmann::json{
      {"ok", true}, {"proven", true}, {"fingerprint", {{"x", 1}}}, {"summary", {"line"}}};
  CollectingReporter r;
  ASSERT_TRUE(app::lock(global, o, r).has_value());
  auto l = lock::load(o.out);
  ASSERT_TRUE(l.has_value());
  ASSERT_TRUE(l->smoke.has_value());
  EXPECT_EQ((*l->smoke)["fingerprint"]["x"], 1);
  EXPECT_FALSE(l->smoke->contains("summary"));
  o.smoke_document = nlohmann::json{{"ok", false}, {"proven", false}};
  auto refused = app::lock(global, o, r);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(app::exit_code_for(refused), 3);
}
