// A fake virtual environment's torch for the venv readers (lock/venv_inspect, the gate).
#pragma once

#include <filesystem>
#include <string>

#include "support/write_file.hpp"

namespace sd35::test {

// torch's dist-info under <venv>/lib/python3.11/site-packages: METADATA, and direct_url.json
// carrying the wheel's hash only when `sha256` is not empty. pyvenv.cfg is the caller's.
inline void write_torch_dist_info(const std::filesystem::path& venv, const std::string& version,
                                  const std::string& sha256) {
  const auto di = venv / "lib/python3.11/site-packages" / ("torch-" + version + ".dist-info");
  write_file(di / "METADATA", "Metadata-Version: 2.1\nName: torch\nVersion: " + version + "\n\n");
  if (!sha256.empty())
    write_file(
        di / "direct_url.json",
        R"({"url":"http://x/t.whl","archive_info":{"hashes":{"sha256":")" + sha256 + R"("}}})");
}

}  // namespace sd35::test
