// Writing fixture files in the tests.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

namespace sd35::test {

// Writes a file, creating its parent directories.
inline void write_file(const std::filesystem::path& p, const std::string& contents) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << contents;
}

}  // namespace sd35::test
