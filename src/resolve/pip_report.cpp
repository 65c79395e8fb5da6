#include "resolve/pip_report.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "net/http.hpp"
#include "resolve/pip_errors.hpp"
#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/process.hpp"
#include "util/strings.hpp"

namespace sd35::resolve {
namespace {

std::string file_of(std::string_view url) {
  auto path = url.substr(0, url.find_first_of("?#"));
  std::string name(path.substr(path.rfind('/') + 1));
  for (std::size_t at = name.find("%2B"); at != std::string::npos; at = name.find("%2B"))
    name.replace(at, 3, "+");
  return name;
}

// The index a URL most likely came from: same host, else the first index.
std::string index_for(std::string_view url, const std::vector<std::string>& indexes) {
  for (const auto& i : indexes)
    if (net::host_of(i) == net::host_of(url)) return i;
  return indexes.empty() ? std::string() : indexes.front();
}

}  // namespace

Result<std::vector<Package>> parse_pip_report(std::string_view text, const std::string& source,
                                              const std::vector<std::string>& indexes) {
  SD35_TRY(auto doc, jsonio::parse(text, source));
  if (!doc.is_object() || doc.value("version", "") != "1" || !doc.contains("install") ||
      !doc["install"].is_array())
    return make_error(Errc::unsupported_version, "not a pip installation report of version \"1\"",
                      source, "use pip >= 22.2 (python -m pip install -U pip)");
  std::vector<Package> out;
  const auto& install = doc["install"];
  for (std::size_t i = 0; i < install.size(); ++i) {
    const auto& e = install[i];
    std::string where = fmt::format("{}: /install/{}", source, i);
    if (!e.contains("metadata") || !e.contains("download_info"))
      return make_error(Errc::bad_input, "report entry lacks metadata or download_info", where);
    const auto& md = e["metadata"];
    const auto& di = e["download_info"];
    Package p;
    p.name = normalize_name(md.value("name", ""));
    p.version = md.value("version", "");
    p.url = di.value("url", "");
    p.file = file_of(p.url);
    p.requested = e.value("requested", false);
    p.specifier = "==" + p.version;
    p.index_url = index_for(p.url, indexes);
    if (di.contains("archive_info")) {
      const auto& ai = di["archive_info"];
      if (ai.contains("hashes") && ai["hashes"].contains("sha256"))
        p.sha256 = ai["hashes"]["sha256"].get<std::string>();
      else if (ai.contains("hash") && str::starts_with(ai["hash"].get<std::string>(), "sha256="))
        p.sha256 = ai["hash"].get<std::string>().substr(7);
    }
    if (p.name.empty() || p.version.empty() || p.url.empty())
      return make_error(Errc::bad_input, "report entry lacks name, version or URL", where);
    if (!str::ends_with(p.file, ".whl"))
      return make_error(
          Errc::host_not_ready,
          fmt::format("{} {} resolves to a source distribution ({})", p.name, p.version, p.file),
          where, "only wheels are locked: pick versions that publish wheels for this Python");
    out.push_back(std::move(p));
  }
  std::sort(out.begin(), out.end(),
            [](const Package& a, const Package& b) { return a.name < b.name; });
  return out;
}

Result<std::vector<Package>> run_pip_report(const PipRunOptions& o) {
  auto report =
      std::filesystem::temp_directory_path() / fmt::format("sd35-pip-report-{}.json", ::getpid());
  proc::Command cmd;
  cmd.argv = {o.python,       "-m",
              "pip",          "install",
              "--dry-run",    "--ignore-installed",
              "--quiet",      "--only-binary",
              ":all:",        "--report",
              report.string()};
  for (std::size_t i = 0; i < o.indexes.size(); ++i) {
    cmd.argv.emplace_back(i == 0 ? "--index-url" : "--extra-index-url");
    cmd.argv.push_back(o.indexes[i]);
  }
  for (const auto& r : o.requirements) cmd.argv.push_back(r);
  cmd.timeout = o.timeout;
  // A dry run installs nothing, so Debian's externally-managed marker (PEP 668) does not apply.
  cmd.env_overrides = {{"PIP_DISABLE_PIP_VERSION_CHECK", "1"},
                       {"PIP_NO_INPUT", "1"},
                       {"PIP_BREAK_SYSTEM_PACKAGES", "1"}};
  SD35_TRY(auto outcome, proc::run(cmd));
  if (!outcome.success()) {
    std::error_code ec;
    std::filesystem::remove(report, ec);
    return pip_failure(outcome,
                       {"pip could not resolve the environment", o.python, Errc::host_not_ready,
                        "read pip's message above; check the index URLs and that the "
                        "pins have wheels for this Python"});
  }
  auto text = fs::read_file(report);
  std::error_code ec;
  std::filesystem::remove(report, ec);
  if (!text) return text.error();
  return parse_pip_report(*text, "pip --report", o.indexes);
}

}  // namespace sd35::resolve
