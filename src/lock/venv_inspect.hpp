// What is installed in a virtual environment, read from files (no Python run): each
// <site-packages>/<name>-<ver>.dist-info gives METADATA (Name, Version) and, for packages pip
// installed from a URL, direct_url.json (PEP 610) whose archive_info carries the sha256 of the
// wheel that was installed. `install` installs locked wheels by URL so that record exists.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "util/result.hpp"

namespace sd35::lock {

struct InstalledDist {
  std::string name;  // normalised
  std::string version;
  std::string url;     // direct_url.json "url", "" when installed from an index by name
  std::string sha256;  // direct_url.json archive_info hash, "" when absent
  std::filesystem::path dist_info;
};

// The venv's site-packages directory (lib/python3.X/site-packages); not_found when none.
Result<std::filesystem::path> site_packages(const std::filesystem::path& venv);
// Every distribution installed there, keyed by normalised name.
Result<std::map<std::string, InstalledDist>> installed_dists(const std::filesystem::path& venv);

}  // namespace sd35::lock
