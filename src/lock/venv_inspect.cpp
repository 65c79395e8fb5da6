#include "lock/venv_inspect.hpp"

#include <fmt/format.h>

#include "resolve/resolve.hpp"
#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/strings.hpp"

namespace sd35::lock {

namespace stdfs = std::filesystem;

Result<stdfs::path> site_packages(const stdfs::path& venv) {
  std::error_code ec;
  for (const char* lib : {"lib", "lib64"}) {
    stdfs::path dir = venv / lib;
    if (!stdfs::is_directory(dir, ec)) continue;
    for (const auto& e : stdfs::directory_iterator(dir, ec)) {
      auto sp = e.path() / "site-packages";
      if (e.path().filename().string().starts_with("python") && stdfs::is_directory(sp, ec))
        return sp;
    }
  }
  return make_error(Errc::not_found, "no lib/python3.X/site-packages in the virtual environment",
                    venv.string(), "create it with `sd35-setup install --venv DIR`");
}

Result<std::map<std::string, InstalledDist>> installed_dists(const stdfs::path& venv) {
  SD35_TRY(stdfs::path sp, site_packages(venv));
  std::map<std::string, InstalledDist> out;
  std::error_code ec;
  for (const auto& e : stdfs::directory_iterator(sp, ec)) {
    if (!e.path().filename().string().ends_with(".dist-info")) continue;
    auto metadata = fs::read_file(e.path() / "METADATA", 4u << 20);
    if (!metadata) continue;  // a broken dist-info: pip would not list it either
    InstalledDist d;
    d.dist_info = e.path();
    for (auto line : str::split(*metadata, '\n')) {
      if (line.empty() || line == "\r") break;  // headers end at the first blank line
      if (str::starts_with(line, "Name:"))
        d.name = resolve::normalize_name(str::trim(line.substr(5)));
      else if (str::starts_with(line, "Version:"))
        d.version = std::string(str::trim(line.substr(8)));
    }
    if (d.name.empty()) continue;
    if (auto du = fs::read_file(e.path() / "direct_url.json", 1u << 20)) {
      if (auto j = jsonio::parse(*du, (e.path() / "direct_url.json").string());
          j && j->is_object()) {
        d.url = j->value("url", "");
        if (j->contains("archive_info") && (*j)["archive_info"].is_object()) {
          const auto& ai = (*j)["archive_info"];
          if (ai.contains("hashes") && ai["hashes"].is_object() && ai["hashes"].contains("sha256"))
            d.sha256 = ai["hashes"]["sha256"].get<std::string>();
          else if (ai.contains("hash") && ai["hash"].is_string() &&
                   str::starts_with(ai["hash"].get<std::string>(), "sha256="))
            d.sha256 = ai["hash"].get<std::string>().substr(7);
        }
      }
    }
    out[d.name] = std::move(d);
  }
  return out;
}

std::string venv_python_version(const stdfs::path& venv) {
  auto text = fs::read_file(venv / "pyvenv.cfg");
  if (!text) return {};
  for (auto line : str::split(*text, '\n')) {
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    const auto key = str::trim(line.substr(0, eq));
    if (key != "version" && key != "version_info") continue;
    const auto parts = str::split(str::trim(line.substr(eq + 1)), '.');
    if (parts.size() >= 3) return fmt::format("{}.{}.{}", parts[0], parts[1], parts[2]);
  }
  return {};
}

WheelCheck compare_wheel(const resolve::Package& p,
                         const std::map<std::string, InstalledDist>& installed) {
  WheelCheck c;
  const auto it = installed.find(p.name);
  if (it == installed.end()) {
    c.detail = fmt::format("{} {} is not installed", p.name, p.version);
    return c;
  }
  c.installed = &it->second;
  const InstalledDist& d = it->second;
  if (d.version != p.version) {
    c.match = WheelMatch::other_version;
    c.detail = fmt::format("installed {} {}, locked {}", p.name, d.version, p.version);
  } else if (d.sha256.empty()) {
    c.match = WheelMatch::no_recorded_hash;
    c.detail = fmt::format(
        "{} {} has no recorded wheel hash (direct_url.json): it was not installed from the "
        "locked wheel",
        p.name, p.version);
  } else if (d.sha256 != p.sha256) {
    c.match = WheelMatch::other_hash;
    c.detail = fmt::format("{} {} was installed from a wheel with sha256 {}, the lock has {}",
                           p.name, p.version, d.sha256, p.sha256);
  } else {
    c.match = WheelMatch::same;
    c.detail = fmt::format("{} {} from wheel sha256 {}", p.name, p.version, p.sha256.substr(0, 16));
  }
  return c;
}

}  // namespace sd35::lock
