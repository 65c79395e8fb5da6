// lock/venv_inspect: the venv reader (pyvenv.cfg's Python, dist-infos) and the one wheel
// comparison the gate and `lock --venv` share, with its rule for a missing wheel hash.
#include <gtest/gtest.h>

#include <fstream>

#include "lock/venv_inspect.hpp"
#include "support/fake_venv.hpp"
#include "support/test_env.hpp"
#include "support/write_file.hpp"

namespace sd35::lock {
namespace {

namespace stdfs = std::filesystem;

using test::write_file;

// A venv with torch's dist-info; direct_url.json only when a hash is given.
std::map<std::string, InstalledDist> venv_with_torch(const stdfs::path& root,
                                                     const std::string& version,
                                                     const std::string& sha256) {
  write_file(root / "pyvenv.cfg", "home = /usr/bin\nversion_info = 3.11.7.final.0\n");
  test::write_torch_dist_info(root, version, sha256);
  auto have = installed_dists(root);
  EXPECT_TRUE(have.has_value());
  return have ? *have : std::map<std::string, InstalledDist>{};
}

TEST(LockVenv, OneWheelComparisonWithOneRuleForAMissingHash) {
  sd35::test::TempDir dir;
  resolve::Package torch;
  torch.name = "torch";
  torch.version = "2.9.1+cu128";
  torch.sha256 = std::string(64, 'a');
  const std::string sha(64, 'a');
  const auto installed = venv_with_torch(dir.path() / "a", torch.version, sha);
  const auto same = compare_wheel(torch, installed);
  EXPECT_TRUE(same.same());
  ASSERT_NE(same.installed, nullptr);
  EXPECT_EQ(same.installed->version, "2.9.1+cu128");
  // Installed by name from an index: nothing proves which wheel it was.
  const auto no_hash = compare_wheel(torch, venv_with_torch(dir.path() / "b", torch.version, ""));
  EXPECT_EQ(no_hash.match, WheelMatch::no_recorded_hash);
  EXPECT_FALSE(no_hash.same());
  EXPECT_NE(no_hash.detail.find("no recorded wheel hash"), std::string::npos);
  EXPECT_EQ(
      compare_wheel(torch, venv_with_torch(dir.path() / "c", torch.version, std::string(64, 'b')))
          .match,
      WheelMatch::other_hash);
  EXPECT_EQ(compare_wheel(torch, venv_with_torch(dir.path() / "d", "2.9.0+cu128", sha)).match,
            WheelMatch::other_version);
  const auto missing = compare_wheel(torch, {});
  EXPECT_EQ(missing.match, WheelMatch::missing);
  EXPECT_EQ(missing.installed, nullptr);
}

TEST(LockVenv, PythonVersionFromPyvenvCfg) {
  sd35::test::TempDir dir;
  venv_with_torch(dir.path(), "2.9.1", "");
  EXPECT_EQ(venv_python_version(dir.path()), "3.11.7");
  write_file(dir.path() / "pyvenv.cfg", "home = /usr/bin\n");
  EXPECT_EQ(venv_python_version(dir.path()), "");
  EXPECT_EQ(venv_python_version(dir.path() / "nope"), "");
}

}  // namespace
}  // namespace sd35::lock
