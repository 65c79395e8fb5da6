#include "app/resolve.hpp"

#include <fmt/format.h>

#include "app/probe.hpp"
#include "compat/compat.hpp"
#include "resolve/index.hpp"
#include "resolve/pip_report.hpp"
#include "resolve/resolve.hpp"
#include "util/fs.hpp"

namespace sd35::app {
namespace {

std::string substitute(std::string url, std::string_view variant) {
  if (auto at = url.find("{variant}"); at != std::string::npos) url.replace(at, 9, variant);
  return url;
}

Status run_closure(const HostFacts& host, const ResolveOptions& options, resolve::Selection& s,
                   std::vector<std::string>& hash_notes, Reporter& reporter) {
  const PythonFacts* py = host.primary_python();
  if (!py || py->path.empty())
    return make_error(Errc::host_not_ready, "--closure needs a Python interpreter on this host", {},
                      "install python3 or pass --python PATH");
  resolve::PipRunOptions pip;
  pip.python = py->path;
  if (options.indexes.empty()) {
    pip.indexes = {s.index_url, compat::data().index.pypi_url};
  } else {
    for (const auto& i : options.indexes) pip.indexes.push_back(substitute(i, s.cuda));
  }
  for (const auto& p : s.packages)
    pip.requirements.push_back(p.pinned() ? fmt::format("{}=={}", p.name, p.version)
                                          : p.name + p.specifier);
  reporter.info(fmt::format("asking pip's resolver ({}) for the closure of {} requirement(s)",
                            py->path, pip.requirements.size()));
  SD35_TRY(auto closure, resolve::run_pip_report(pip));
  hash_notes.clear();
  for (const auto& p : closure)
    if (p.sha256.empty())
      hash_notes.push_back(fmt::format("{}: pip's report has no sha256 for {}", p.name, p.url));
  s.packages = std::move(closure);
  return ok();
}

}  // namespace

Result<Outcome> resolve(const GlobalOptions& global, const ResolveOptions& options,
                        Reporter& reporter) {
  SD35_TRY(Manifest manifest, load_manifest_for(global));
  SD35_TRY(HostFacts host, host_facts_for(global, options.host_file, options.pythons));
  for (const auto& note : host.notes) reporter.event(Level::debug, note);

  resolve::Resolution res = resolve::resolve(manifest, host);
  std::vector<std::string> summary;
  if (res.selected) {
    resolve::Selection& s = *res.selected;
    if (!options.indexes.empty()) {
      // An --index asked for and not reachable is a network error (exit 5); planning offline is
      // resolve without --index.
      auto pinned = resolve::pin_from_indexes(s.packages, options.indexes, s.cuda, host);
      if (!pinned) return pinned.error();
      res.hash_notes = std::move(*pinned);
      for (const auto& p : s.packages)
        if (!p.pinned())
          res.hash_notes.push_back(fmt::format(
              "{}{}: a range, pinned only by --closure (pip's resolver)", p.name, p.specifier));
      for (const auto& p : s.packages)
        if (p.name == "torch" && p.pinned()) s.index_url = p.index_url;
    }
    if (options.closure) SD35_TRY_STATUS(run_closure(host, options, s, res.hash_notes, reporter));
    summary.push_back(fmt::format("selected torch {} {} for Python {} from {}", s.torch, s.cuda,
                                  s.python, s.index_url));
    for (const auto& w : s.why) summary.push_back("  because " + w);
    for (const auto& n : s.notes) summary.push_back("  note: " + n);
  } else {
    summary.push_back(fmt::format("nothing in {}'s {} candidate(s) fits this host", manifest.name,
                                  manifest.environment.candidates.size()));
  }
  for (const auto& r : res.rejected) {
    std::string reasons;
    for (const auto& x : r.reasons) reasons += (reasons.empty() ? "" : "; ") + x;
    summary.push_back(fmt::format("rejected torch {} {}: {}", r.torch, r.cuda, reasons));
  }
  for (const auto& w : res.would_need) summary.push_back("would fit with: " + w);
  for (const auto& h : res.hash_notes) summary.push_back("hashes: " + h);

  nlohmann::json doc = resolve::to_json(res);
  doc["schema_version"] = 1;
  doc["manifest"] = {{"name", manifest.name}, {"digest", manifest.digest}};
  doc["host_source"] = options.host_file.empty() ? "probe" : options.host_file;
  doc["host"] = to_json(host);
  if (!options.out.empty() && res.selected) {
    SD35_TRY_STATUS(fs::write_file_atomic(options.out, doc.dump(2) + "\n"));
    summary.push_back("wrote " + options.out);
  }
  doc["summary"] = summary;
  reporter.result("resolve", doc);
  return res.selected ? Outcome::ok : Outcome::not_ready;
}

}  // namespace sd35::app
