// `sd35-setup verify` end to end on a fake Hugging Face cache built from the tiny fixtures:
// exit 0 when intact, 4 on corruption, a family mismatch or a missing FP8 scale, 2 on bad usage;
// the second run reuses the state file.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "safetensors/safetensors.hpp"
#include "support/safetensors_writer.hpp"
#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"
#include "verify/digest.hpp"

namespace sd35 {
namespace {

using sd35::testing::TempDir;
using sd35::testing::write_bytes;
namespace stdfs = std::filesystem;

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

// ctest passes SD35_TEST_DATA; SD35_BIN and SD35_SOURCE_DIR may be missing (gtest_discover_tests
// keeps only the first ENVIRONMENT entry), so they fall back to the build layout: the test
// binary sits next to sd35-setup in build/<preset>/bin, and the data dir is <source>/tests/data.
std::string env(const char* k) {
  if (const char* v = std::getenv(k); v != nullptr && *v != '\0') return v;
  std::error_code ec;
  const std::string key = k;
  if (key == "SD35_BIN") {
    const auto bin = stdfs::read_symlink("/proc/self/exe", ec).parent_path() / "sd35-setup";
    return stdfs::exists(bin, ec) ? bin.string() : "";
  }
  if (key == "SD35_SOURCE_DIR" && std::getenv("SD35_TEST_DATA") != nullptr) {
    return stdfs::path(std::getenv("SD35_TEST_DATA")).parent_path().parent_path().string();
  }
  return "";
}

class VerifyCli : public ::testing::Test {
 protected:
  TempDir dir;
  stdfs::path cache = dir.path() / "cache";
  stdfs::path repo = cache / "models--Comfy-Org--stable-diffusion-3.5-fp8";
  stdfs::path manifest = dir.path() / "manifest.json";

  void SetUp() override {
    if (env("SD35_BIN").empty() || env("SD35_SOURCE_DIR").empty())
      GTEST_SKIP() << "SD35_BIN not set";
  }

  // Puts `fixture` into the cache as the manifest's file, the way huggingface_hub lays it out.
  void make_cache(const std::string& fixture, const std::string& architecture = "sd35-large") {
    auto bytes = fs::read_file(stdfs::path(env("SD35_TEST_DATA")) / "sd3-reference" / fixture);
    ASSERT_TRUE(bytes.has_value());
    put_in_cache(*bytes, architecture);
  }

  void put_in_cache(const std::string& file, const std::string& architecture) {
    const std::string oid = sha256_hex(file);
    write_bytes(repo / "blobs" / oid, file);
    write_bytes(repo / "refs" / "main", std::string(kCommit) + "\n");
    const std::string config = R"({"_class_name": "SD3Transformer2DModel"})";
    // A regular (non-LFS) file: blob named by its git blob id.
    const std::string cfg_id = verify::git_blob_sha1(config);
    write_bytes(repo / "blobs" / cfg_id, config);
    stdfs::create_directories(repo / "snapshots" / kCommit);
    stdfs::create_symlink("../../blobs/" + cfg_id,
                          repo / "snapshots" / kCommit / "model_index.json");
    stdfs::create_symlink("../../blobs/" + oid,
                          repo / "snapshots" / kCommit / "sd3.5_large_fp8_scaled.safetensors");
    auto m = nlohmann::json::parse(
        *fs::read_file(stdfs::path(env("SD35_SOURCE_DIR")) / "manifests/sd35-large-fp8.json"));
    m["model"]["files"] = {
        {{"path", "sd3.5_large_fp8_scaled.safetensors"}, {"size", file.size()}, {"sha256", oid}}};
    m["model"]["architecture"] = architecture;
    m["model"].erase("extra_files");  // the tokenizers have their own tests (net/fetch_extras)
    m["requirements"]["disk_free_bytes"] = 0;
    write_bytes(manifest, m.dump());
  }

  proc::Outcome run(std::vector<std::string> args) {
    std::vector<std::string> argv = {env("SD35_BIN"),   "--json",  "--manifest",
                                     manifest.string(), "--cache", cache.string(),
                                     "verify"};
    argv.insert(argv.end(), args.begin(), args.end());
    proc::Command cmd;
    cmd.argv = argv;
    cmd.timeout = std::chrono::milliseconds(60000);
    auto out = proc::run(cmd);
    EXPECT_TRUE(out.has_value());
    return out ? *out : proc::Outcome{};
  }

  static nlohmann::json doc(const proc::Outcome& o) {
    auto j = nlohmann::json::parse(o.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << o.out << o.err;
    return j;
  }
};

TEST_F(VerifyCli, IntactCacheVerifiesAndSecondRunReusesState) {
  make_cache("tiny-large/tiny-large_fp8_scaled.safetensors");
  auto first = run({});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  auto d = doc(first);
  EXPECT_EQ(d["ok"], true);
  EXPECT_EQ(d["commit"], kCommit);
  EXPECT_EQ(d["content"]["hashed"], 2);  // the weights (sha256) and model_index.json (git blob id)
  EXPECT_EQ(d["models"][0]["family"], "sd35-large");
  EXPECT_TRUE(stdfs::exists(repo / ".sd35-verify" / (std::string(kCommit) + ".json")));
  auto second = doc(run({}));
  EXPECT_EQ(second["content"]["hashed"], 0);
  EXPECT_EQ(second["content"]["reused"], 2);
  auto full = doc(run({"--full"}));
  EXPECT_EQ(full["content"]["hashed"], 2);
}

TEST_F(VerifyCli, FlippedByteInBlobExits4) {
  make_cache("tiny-large/tiny-large_fp8_scaled.safetensors");
  ASSERT_EQ(run({}).exit_code, 0);
  const auto blob =
      stdfs::read_symlink(repo / "snapshots" / kCommit / "sd3.5_large_fp8_scaled.safetensors");
  const auto path = repo / "snapshots" / kCommit / blob;
  auto bytes = *fs::read_file(path);
  bytes[bytes.size() - 3] ^= 0x40;  // inside tensor data: the header stays valid
  write_bytes(path, bytes);
  auto out = run({});
  EXPECT_EQ(out.exit_code, 4) << out.out;
  EXPECT_EQ(doc(out)["files"][0]["ok"], false);
}

TEST_F(VerifyCli, FamilyMismatchExits4) {
  make_cache("tiny-mmditx/tiny-mmditx_fp8_scaled.safetensors", "sd35-large");
  auto out = run({});
  EXPECT_EQ(out.exit_code, 4);
  auto d = doc(out);
  EXPECT_EQ(d["models"][0]["family"], "sd35-medium");
}

// The fixture with one FP8 weight's scale left out: a verification finding (exit 4) naming the
// weight and the file, never "unexpected exception" (exit 1).
TEST_F(VerifyCli, MissingFp8ScaleIsAFindingNotACrash) {
  auto header = st::read_header(stdfs::path(env("SD35_TEST_DATA")) /
                                "sd3-reference/tiny-large/tiny-large_fp8_scaled.safetensors");
  auto file = fs::read_file(stdfs::path(env("SD35_TEST_DATA")) /
                            "sd3-reference/tiny-large/tiny-large_fp8_scaled.safetensors");
  ASSERT_TRUE(header.has_value() && file.has_value());
  const std::string dropped = "model.diffusion_model.joint_blocks.0.x_block.mlp.fc1.scale_weight";
  std::vector<sd35::testing::StTensor> tensors;
  for (const auto& t : header->tensors) {
    if (t.name == dropped) continue;
    tensors.push_back({t.name, std::string(st::dtype_name(t.dtype)), t.shape,
                       file->substr(header->data_offset + t.begin, t.nbytes())});
  }
  ASSERT_EQ(tensors.size() + 1, header->tensors.size());
  put_in_cache(sd35::testing::st_file(tensors), "sd35-large");
  auto out = run({});
  EXPECT_EQ(out.exit_code, 4) << out.out << out.err;
  // --json: findings are JSON lines on stderr, the result document on stdout.
  bool named = false;
  for (const auto line : str::split(out.err, '\n')) {
    const auto f = nlohmann::json::parse(line, nullptr, false);
    if (!f.is_object()) continue;
    const auto& g = f.contains("finding") ? f["finding"] : f;
    named |=
        g.value("id", "") == "fp8.scale-missing" &&
        g.value("tensor", "") == "model.diffusion_model.joint_blocks.0.x_block.mlp.fc1.weight" &&
        g.value("file", "") == "sd3.5_large_fp8_scaled.safetensors";
  }
  EXPECT_TRUE(named) << out.err;
  EXPECT_EQ(doc(out)["ok"], false);
}

TEST_F(VerifyCli, MissingSnapshotExits4AndBadUsageExits2) {
  make_cache("tiny-large/tiny-large_fp8_scaled.safetensors");
  stdfs::remove_all(repo / "snapshots");
  auto out = run({});
  EXPECT_EQ(out.exit_code, 4);
  EXPECT_EQ(doc(out)["ok"], false);
  EXPECT_FALSE(doc(out).contains("root"));
  EXPECT_EQ(run({"--path", (dir.path() / "nope").string()}).exit_code, 2);
  EXPECT_EQ(run({"--bogus"}).exit_code, 2);
}

TEST_F(VerifyCli, PathModeWithCopiedFiles) {
  make_cache("tiny-large/tiny-large_fp8_scaled.safetensors");
  const auto local = dir.path() / "local";
  stdfs::create_directories(local);
  stdfs::copy_file(repo / "snapshots" / kCommit / "sd3.5_large_fp8_scaled.safetensors",
                   local / "sd3.5_large_fp8_scaled.safetensors");
  auto out = run({"--path", local.string()});
  EXPECT_EQ(out.exit_code, 0) << out.out;
  EXPECT_TRUE(stdfs::exists(local / ".sd35-verify.json"));
  EXPECT_EQ(doc(run({"--path", local.string()}))["content"]["reused"], 1);
}

}  // namespace
}  // namespace sd35
