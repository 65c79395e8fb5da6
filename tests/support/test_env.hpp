// Shared test support: locations from the environment ctest sets, scratch directories, and
// running the built CLI.
#pragma once

#include <ftw.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "util/process.hpp"

namespace sd35::test {

// The environment wins; otherwise the value CMake compiled in as <NAME>_DEFAULT.
inline std::string env_path(const char* name) {
  if (const char* v = std::getenv(name); v && *v) return v;
  static const std::map<std::string, std::string> defaults = {
#ifdef SD35_TEST_DATA_DEFAULT
      {"SD35_TEST_DATA", SD35_TEST_DATA_DEFAULT},
#endif
#ifdef SD35_TEST_TOOLS_DEFAULT
      {"SD35_TEST_TOOLS", SD35_TEST_TOOLS_DEFAULT},
#endif
#ifdef SD35_SOURCE_DIR_DEFAULT
      {"SD35_SOURCE_DIR", SD35_SOURCE_DIR_DEFAULT},
#endif
#ifdef SD35_BIN_DEFAULT
      {"SD35_BIN", SD35_BIN_DEFAULT},
#endif
#ifdef SD35_FAKE_NVML_DEFAULT
      {"SD35_FAKE_NVML", SD35_FAKE_NVML_DEFAULT},
#endif
#ifdef SD35_STUB_PLUGIN_DEFAULT
      {"SD35_STUB_PLUGIN", SD35_STUB_PLUGIN_DEFAULT},
#endif
#ifdef SD35_ENOSPC_SHIM_DEFAULT
      {"SD35_ENOSPC_SHIM", SD35_ENOSPC_SHIM_DEFAULT},
#endif
  };
  auto it = defaults.find(name);
  return it == defaults.end() ? std::string() : it->second;
}
inline std::filesystem::path data_dir() {
  return env_path("SD35_TEST_DATA");
}
inline std::filesystem::path source_dir() {
  return env_path("SD35_SOURCE_DIR");
}
inline std::string cli_binary() {
  return env_path("SD35_BIN");
}

// A fresh directory under TMPDIR, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sd35-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed in " + tmpl);
    path_ = tmpl;
  }
  // nftw rather than std::filesystem::remove_all: pip's libtorch.so exports its own copy of
  // remove_all, which interposes on libstdc++'s in the torch tests and crashes (a null call).
  ~TempDir() { ::nftw(path_.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }
  // Writes a file (creating parents) and returns its path.
  std::filesystem::path write(const std::string& rel, const std::string& contents,
                              bool executable = false) const {
    auto p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << contents;
    if (executable)
      std::filesystem::permissions(p, std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add);
    return p;
  }

 private:
  static int remove_entry(const char* p, const struct stat* /*st*/, int /*type*/,
                          struct FTW* /*ftw*/) {
    return ::remove(p);
  }
  std::filesystem::path path_;
};

// Runs the sd35-setup binary with args; environment overrides on top of ours.
inline proc::Outcome run_cli(std::vector<std::string> args,
                             std::map<std::string, std::string> env = {},
                             std::chrono::milliseconds timeout = std::chrono::milliseconds(60000)) {
  proc::Command cmd;
  cmd.argv = {cli_binary()};
  cmd.argv.insert(cmd.argv.end(), args.begin(), args.end());
  cmd.env_overrides = std::move(env);
  cmd.timeout = timeout;
  auto r = proc::run(cmd);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().describe());
  return r ? *r : proc::Outcome{};
}

}  // namespace sd35::test
