// What is installed in a virtual environment, read from files (no Python run): each
// <site-packages>/<name>-<ver>.dist-info gives METADATA (Name, Version) and, for packages pip
// installed from a URL, direct_url.json (PEP 610) whose archive_info carries the sha256 of the
// wheel that was installed. `install` installs locked wheels by URL so that record exists.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "resolve/resolve.hpp"
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

// The venv's Python version from <venv>/pyvenv.cfg ("version" or "version_info" = 3.11.7), as
// "3.11.7"; "" when the file or the key is missing.
std::string venv_python_version(const std::filesystem::path& venv);

// How an installed distribution compares with a locked (or resolved) wheel. One rule for the gate
// and for `lock --venv`: a wheel is the locked one only when pip recorded its sha256
// (direct_url.json, written when it is installed by URL as `sd35-setup install` does) and that
// hash is the locked one; no recorded hash (installed by name from an index) is a mismatch, never
// a pass, since nothing proves which wheel was installed.
enum class WheelMatch { same, missing, other_version, no_recorded_hash, other_hash };

struct WheelCheck {
  WheelMatch match = WheelMatch::missing;
  const InstalledDist* installed = nullptr;  // into the map given; null when missing
  std::string detail;                        // one line, for a finding or an error message
  [[nodiscard]] bool same() const { return match == WheelMatch::same; }
};

WheelCheck compare_wheel(const resolve::Package& locked,
                         const std::map<std::string, InstalledDist>& installed);

}  // namespace sd35::lock
