// A lock this machine passes: the tiny scaled-FP8 checkpoint in a local Hugging Face cache
// (support/tiny_model_cache.hpp), a CPU resolution without wheels, and `sd35-setup lock` on the
// probed host. The fleet tests gate on it, break the model and fix it again.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_env.hpp"
#include "support/tiny_model_cache.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace sd35::testing {

struct GateFixture {
  std::filesystem::path manifest, cache, lock, blob;
  std::string model;  // the blob's good bytes
  std::vector<std::string> with_globals(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--manifest", manifest.string(), "--cache", cache.string()});
    return args;
  }
  // Flips one byte in the middle of the model (a new file: size, ctime and inode change).
  void break_model() const {
    std::string bad = model;
    bad[bad.size() / 2] ^= 0x01;
    std::filesystem::remove(blob);
    EXPECT_TRUE(static_cast<bool>(fs::write_file_atomic(blob, bad)));
  }
  void fix_model() const {
    std::filesystem::remove(blob);
    EXPECT_TRUE(static_cast<bool>(fs::write_file_atomic(blob, model)));
  }
};

inline constexpr const char* kGateCommit = "0123456789abcdef0123456789abcdef01234567";

inline GateFixture make_gate_fixture(const test::TempDir& dir) {
  GateFixture fx;
  fx.model = *fs::read_file(test::data_dir() /
                            "sd3-reference/tiny-large/tiny-large_fp8_scaled.safetensors");
  const std::string oid = sha256_hex(fx.model);
  place_in_cache(dir, kGateCommit, "model.safetensors", oid, fx.model);
  fx.blob = dir / (std::string(kTinyRepo) + "/blobs/" + oid);
  fx.cache = dir / "cache";
  fx.manifest = dir.write(
      "manifest.json",
      tiny_manifest(
          {{"path", "model.safetensors"}, {"size", fx.model.size()}, {"sha256", oid}},
          {{"python", ">=3.8"}, {"candidates", {{{"torch", "2.9.1"}, {"cuda", {"cpu"}}}}}},
          {{"steps", 2}})
          .dump());
  const nlohmann::json resolution = {{"ok", true},
                                     {"selected",
                                      {{"torch", "2.9.1"},
                                       {"cuda", "cpu"},
                                       {"index_url", "https://download.pytorch.org/whl/cpu"},
                                       {"python", ""},
                                       {"packages", nlohmann::json::array()}}}};
  const auto from = dir.write("resolve.json", resolution.dump());
  fx.lock = dir / "sd35.lock.json";
  auto r =
      test::run_cli(fx.with_globals({"lock", "--from", from.string(), "--out", fx.lock.string()}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return fx;
}

}  // namespace sd35::testing
