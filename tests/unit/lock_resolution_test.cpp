// lock/resolution: what `lock --from` accepts: a resolution for this manifest and this host.
#include <gtest/gtest.h>

#include <cstdlib>

#include "lock/resolution.hpp"

namespace sd35::lock {
namespace {

HostFacts host(const std::string& name) {
  const char* d = std::getenv("SD35_TEST_DATA");
  auto h = load_host_facts(std::string(d ? d : "tests/data") + "/hosts/resolve-" + name + ".json");
  EXPECT_TRUE(h.has_value()) << name;
  return h ? *h : HostFacts{};
}

FromResolution cu128_for_h100() {
  FromResolution r;
  r.path = "sd35-resolve.json";
  r.torch = "2.9.1";
  r.cuda = "cu128";
  r.python = "3.11.7";
  return r;
}

TEST(LockResolution, ManifestByNameAndDigest) {
  Manifest m;
  m.name = "sd35-large-fp8";
  m.digest = std::string(64, 'a');
  auto r = cu128_for_h100();
  EXPECT_TRUE(resolution_fits_manifest(r, m).has_value());  // hand-written: nothing recorded
  r.manifest = {{"name", m.name}, {"digest", m.digest}};
  EXPECT_TRUE(resolution_fits_manifest(r, m).has_value());
  r.manifest["digest"] = std::string(64, 'b');
  const auto other = resolution_fits_manifest(r, m);
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code, Errc::bad_input);
  EXPECT_EQ(other.error().where, "sd35-resolve.json");
}

TEST(LockResolution, HostDriverGpuAndPython) {
  auto r = cu128_for_h100();
  EXPECT_TRUE(resolution_fits_host(r, host("h100-driver535"), "").has_value());
  const auto old = resolution_fits_host(r, host("a100-driver470"), "");
  ASSERT_FALSE(old.has_value());
  EXPECT_EQ(old.error().code, Errc::host_not_ready);
  const auto none = resolution_fits_host(r, host("nogpu"), "");
  ASSERT_FALSE(none.has_value());
  EXPECT_NE(none.error().message.find("no NVIDIA driver"), std::string::npos)
      << none.error().message;
  r.host = {{"nvidia", {{"gpus", {{{"compute_capability", "8.9"}}}}}}};
  EXPECT_EQ(resolution_fits_host(r, host("h100-driver535"), "").error().code, Errc::host_not_ready);
  auto cpu = cu128_for_h100();
  cpu.cuda = "cpu";
  EXPECT_TRUE(resolution_fits_host(cpu, host("nogpu"), "").has_value());
  cpu.python = "3.13.0";
  const auto py = resolution_fits_host(cpu, host("nogpu"), "");
  ASSERT_FALSE(py.has_value());
  EXPECT_NE(py.error().message.find("3.13"), std::string::npos);
}

}  // namespace
}  // namespace sd35::lock
