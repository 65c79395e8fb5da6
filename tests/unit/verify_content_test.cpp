// verify_files: sizes, digests (sha256 and git blob ids), pointer files, and the state file that
// makes an unchanged tree re-verify without hashing.
#include <gtest/gtest.h>

#include "lfs/pointer.hpp"
#include "support/safetensors_writer.hpp"
#include "util/sha256.hpp"
#include "verify/content.hpp"
#include "verify/digest.hpp"
#include "verify/verify_state.hpp"

namespace sd35::verify {
namespace {

using sd35::testing::TempDir;
using sd35::testing::write_bytes;

const Finding* find_id(const CollectingReporter& r, std::string_view id,
                       std::string_view file = {}) {
  for (const auto& f : r.findings) {
    if (f.id == id && (file.empty() || f.file == file)) return &f;
  }
  return nullptr;
}

class ContentTest : public ::testing::Test {
 protected:
  TempDir dir;
  std::string payload = std::string(3 << 20, 'x') + "tail";  // spans more than one read
  Expectation expect(const std::string& name, const std::string& bytes) {
    return {name, bytes.size(), sha256_hex(bytes), std::nullopt, "test"};
  }
  ContentReport run(const std::vector<Expectation>& ex, const ContentOptions& o,
                    CollectingReporter& r) {
    auto rep = verify_files(dir.path(), ex, o, r);
    EXPECT_TRUE(rep.has_value());
    return rep ? *rep : ContentReport{};
  }
};

TEST(Digest, GitBlobIdMatchesGit) {
  // `printf hello | git hash-object --stdin`
  EXPECT_EQ(git_blob_sha1("hello"), "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0");
  EXPECT_EQ(git_blob_sha1(""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

TEST(Digest, ParallelForVisitsEveryIndexOnce) {
  std::vector<std::atomic<int>> seen(100);
  parallel_for(seen.size(), 4, [&](std::size_t i) { seen[i]++; });
  for (const auto& s : seen) EXPECT_EQ(s.load(), 1);
  parallel_for(0, 4, [](std::size_t) { FAIL(); });
}

TEST_F(ContentTest, MatchingFilePasses) {
  write_bytes(dir.path() / "a.bin", payload);
  write_bytes(dir.path() / "sub/config.json", "hello");
  CollectingReporter r;
  auto rep = run(
      {expect("a.bin", payload),
       {"sub/config.json", 5, std::nullopt, "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0", "test"}},
      {}, r);
  EXPECT_EQ(rep.failed, 0u);
  EXPECT_EQ(rep.hashed, 2u);
  EXPECT_EQ(rep.reused, 0u);
  ASSERT_NE(find_id(r, "content.sha256", "a.bin"), nullptr);
  EXPECT_EQ(find_id(r, "content.sha256", "a.bin")->verdict, Verdict::pass);
  ASSERT_NE(find_id(r, "content.git-sha1", "sub/config.json"), nullptr);
  EXPECT_EQ(find_id(r, "content.git-sha1", "sub/config.json")->verdict, Verdict::pass);
}

TEST_F(ContentTest, OneFlippedByteFailsSha256) {
  std::string bad = payload;
  bad[bad.size() / 2] ^= 0x01;
  write_bytes(dir.path() / "a.bin", bad);
  CollectingReporter r;
  auto rep = run({expect("a.bin", payload)}, {}, r);
  EXPECT_EQ(rep.failed, 1u);
  const auto* f = find_id(r, "content.sha256");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->verdict, Verdict::fail);
  EXPECT_EQ(f->file, "a.bin");
  EXPECT_NE(f->fix.find("sd35-setup fetch"), std::string::npos);
}

TEST_F(ContentTest, WrongGitBlobFails) {
  write_bytes(dir.path() / "c.json", "hellO");
  CollectingReporter r;
  auto rep =
      run({{"c.json", std::nullopt, std::nullopt, "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0", "t"}},
          {}, r);
  EXPECT_EQ(rep.failed, 1u);
  ASSERT_NE(find_id(r, "content.git-sha1"), nullptr);
  EXPECT_EQ(find_id(r, "content.git-sha1")->verdict, Verdict::fail);
}

TEST_F(ContentTest, TruncatedFileFailsSize) {
  write_bytes(dir.path() / "a.bin", payload.substr(0, payload.size() - 10));
  CollectingReporter r;
  auto rep = run({expect("a.bin", payload)}, {}, r);
  EXPECT_EQ(rep.failed, 1u);
  const auto* f = find_id(r, "content.size");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->verdict, Verdict::fail);
  EXPECT_NE(f->detail.find("incomplete"), std::string::npos);
}

TEST_F(ContentTest, MissingFileAndDanglingSymlink) {
  std::filesystem::create_symlink("../blobs/" + std::string(64, 'a'),
                                  dir.path() / "link.safetensors");
  CollectingReporter r;
  auto rep = run({expect("gone.bin", payload), expect("link.safetensors", payload)}, {}, r);
  EXPECT_EQ(rep.failed, 2u);
  ASSERT_NE(find_id(r, "content.missing", "gone.bin"), nullptr);
  const auto* link = find_id(r, "content.missing", "link.safetensors");
  ASSERT_NE(link, nullptr);
  EXPECT_NE(link->detail.find("symlink"), std::string::npos);
}

TEST_F(ContentTest, PointerFileMeansNeverDownloaded) {
  const lfs::Pointer p{sha256_hex(payload), payload.size()};
  write_bytes(dir.path() / "w.safetensors", lfs::format_pointer(p));
  CollectingReporter r;
  auto rep = run({expect("w.safetensors", payload)}, {}, r);
  EXPECT_EQ(rep.failed, 1u);
  ASSERT_TRUE(rep.files[0].pointer);
  const auto* f = find_id(r, "content.pointer-file");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->detail.find("never downloaded"), std::string::npos);
  EXPECT_NE(f->fix.find("git lfs pull"), std::string::npos);
}

TEST_F(ContentTest, PointerFileWithBadOid) {
  write_bytes(dir.path() / "w.safetensors",
              "version https://git-lfs.github.com/spec/v1\noid sha256:XYZ\nsize 12\n");
  CollectingReporter r;
  auto rep = run({{"w.safetensors", std::nullopt, std::nullopt, std::nullopt, "tree"}}, {}, r);
  EXPECT_EQ(rep.failed, 1u);
  const auto* f = find_id(r, "content.pointer-file");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->detail.find("malformed"), std::string::npos);
}

TEST_F(ContentTest, StateFileSkipsUnchangedFilesAndFullRehashes) {
  write_bytes(dir.path() / "a.bin", payload);
  const auto state = dir.path() / "state" / "s.json";
  ContentOptions o;
  o.state_file = state;
  {
    CollectingReporter r;
    auto rep = run({expect("a.bin", payload)}, o, r);
    EXPECT_EQ(rep.hashed, 1u);
    EXPECT_EQ(rep.reused, 0u);
  }
  ASSERT_TRUE(std::filesystem::exists(state));
  EXPECT_EQ(load_state(state).files.at("a.bin").sha256, sha256_hex(payload));
  {
    CollectingReporter r;
    auto rep = run({expect("a.bin", payload)}, o, r);
    EXPECT_EQ(rep.hashed, 0u);
    EXPECT_EQ(rep.reused, 1u);
    EXPECT_EQ(rep.failed, 0u);
  }
  {
    o.full = true;
    CollectingReporter r;
    auto rep = run({expect("a.bin", payload)}, o, r);
    EXPECT_EQ(rep.hashed, 1u);
    o.full = false;
  }
  // Same size, new content: the stamp changes (ctime/mtime), so it is rehashed and caught.
  std::string bad = payload;
  bad[0] = 'y';
  write_bytes(dir.path() / "a.bin", bad);
  {
    CollectingReporter r;
    auto rep = run({expect("a.bin", payload)}, o, r);
    EXPECT_EQ(rep.reused, 0u);
    EXPECT_EQ(rep.failed, 1u);
  }
}

TEST(VerifyState, DamagedStateFileIsEmpty) {
  TempDir dir;
  write_bytes(dir.path() / "s.json", "{not json");
  EXPECT_TRUE(load_state(dir.path() / "s.json").files.empty());
  write_bytes(dir.path() / "s.json", R"({"schema_version":1,"files":{"a":{"size":"x"}}})");
  EXPECT_TRUE(load_state(dir.path() / "s.json").files.empty());
  EXPECT_TRUE(load_state(dir.path() / "absent.json").files.empty());
}

}  // namespace
}  // namespace sd35::verify
