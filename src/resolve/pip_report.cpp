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

// obj[key] when obj is an object and the value a string, else "" (the report is pip's output:
// a value of another type is a malformed report, never an exception).
std::string string_at(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// archive_info.hashes.sha256, else the legacy archive_info.hash "sha256=<hex>"; "" when neither.
Result<std::string> sha256_of(const nlohmann::json& download_info, const std::string& where) {
  if (!download_info.is_object() || !download_info.contains("archive_info")) return std::string();
  const auto& ai = download_info["archive_info"];
  if (!ai.is_object()) return make_error(Errc::bad_input, "archive_info is not an object", where);
  if (auto hashes = ai.find("hashes");
      hashes != ai.end() && hashes->is_object() && hashes->contains("sha256")) {
    const auto& h = (*hashes)["sha256"];
    if (!h.is_string())
      return make_error(Errc::bad_input, "archive_info.hashes.sha256 is not a string", where);
    return h.get<std::string>();
  }
  const std::string legacy = string_at(ai, "hash");
  return str::starts_with(legacy, "sha256=") ? legacy.substr(7) : std::string();
}

}  // namespace

Result<std::vector<Package>> parse_pip_report(std::string_view text, const std::string& source,
                                              const std::vector<std::string>& indexes) {
  SD35_TRY(auto doc, jsonio::parse(text, source));
  if (!doc.is_object() || string_at(doc, "version") != "1" || !doc.contains("install") ||
      !doc["install"].is_array())
    return make_error(Errc::unsupported_version, "not a pip installation report of version \"1\"",
                      source, "use pip >= 22.2 (python -m pip install -U pip)");
  std::vector<Package> out;
  const auto& install = doc["install"];
  for (std::size_t i = 0; i < install.size(); ++i) {
    const auto& e = install[i];
    std::string where = fmt::format("{}: /install/{}", source, i);
    if (!e.is_object() || !e.contains("metadata") || !e.contains("download_info"))
      return make_error(Errc::bad_input, "report entry lacks metadata or download_info", where);
    const auto& md = e["metadata"];
    const auto& di = e["download_info"];
    Package p;
    p.name = normalize_name(string_at(md, "name"));
    p.version = string_at(md, "version");
    p.url = string_at(di, "url");
    p.file = file_of(p.url);
    p.requested =
        e.contains("requested") && e["requested"].is_boolean() && e["requested"].get<bool>();
    p.specifier = "==" + p.version;
    p.index_url = index_for(p.url, indexes);
    SD35_TRY(p.sha256, sha256_of(di, where));
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
