#include "verify/extra_files.hpp"

#include <fmt/format.h>

#include "store/snapshot_lookup.hpp"
#include "verify/finding.hpp"

namespace sd35::verify {
namespace {

// Findings about a repository path are reported under the file's `as` name, naming its origin.
class ExtraNames final : public ForwardingReporter {
 public:
  ExtraNames(Reporter& inner, const ExtraFile& x, std::string at)
      : ForwardingReporter(inner), x_(x), at_(std::move(at)) {}
  void finding(const Finding& f) override {
    Finding g = f;
    g.file = x_.as;
    g.detail = fmt::format("{} ({} of {} at {}): {}", x_.as, x_.path, x_.repo, at_, f.detail);
    inner_.finding(g);
  }

 private:
  const ExtraFile& x_;
  std::string at_;
};

Finding extra_finding(std::string id, Verdict v, const ExtraFile& x, std::string detail,
                      std::string fix, bool required) {
  Finding f = rule_finding(std::move(id), v, x.as, std::move(detail), std::move(fix));
  f.required = required;
  return f;
}

void report_pin(const ExtraFile& x, Reporter& reporter, ExtraFilesReport& out) {
  if (x.pinned()) return;
  ++out.unpinned;
  std::string what = !x.sha256 && x.revision.size() != 40 ? "neither a commit nor a sha256"
                     : !x.sha256                          ? "no sha256"
                                 : "no commit (revision " + x.revision + ")";
  reporter.finding(extra_finding(
      "model.extra.pins", Verdict::warn, x,
      fmt::format("{} ({} of {} at revision {}) is not pinned: the manifest gives {} "
                  "(a placeholder)",
                  x.as, x.path, x.repo, x.revision, what),
      "pin a 40-hex commit and the sha256 in the manifest (`sd35-setup lock` records the ones "
      "fetched)",
      false));
}

Status verify_one(const ExtraFile& x, const std::filesystem::path& cache_dir,
                  const ContentOptions& options, Reporter& reporter, ExtraFilesReport& out) {
  ++out.files;
  nlohmann::json doc = {{"as", x.as},          {"repo", x.repo},    {"revision", x.revision},
                        {"path", x.path},      {"commit", nullptr}, {"ok", false},
                        {"pinned", x.pinned()}};
  SD35_TRY(auto snap, store::find_snapshot(cache_dir, x.repo, x.revision));
  if (!snap.exists) {
    ++out.failed;
    reporter.finding(
        extra_finding("model.extra", Verdict::fail, x,
                      fmt::format("{} ({} of {}): {}", x.as, x.path, snap.repo_id, snap.problem()),
                      "run `sd35-setup fetch` (it fetches the extra files too)", true));
    out.files_doc.push_back(doc);
    return ok();
  }
  Expectation e{x.path, x.size, x.sha256, std::nullopt, "manifest"};
  ContentOptions o = options;
  o.state_file = snap.cache.root / ".sd35-verify" / (*snap.commit + ".json");
  ExtraNames named(reporter, x, snap.commit->substr(0, 12));
  SD35_TRY(auto report, verify_files(snap.path, {e}, o, named));
  const auto& f = report.files.front();
  if (!f.ok) ++out.failed;
  doc["commit"] = *snap.commit;
  doc["ok"] = f.ok;
  doc["sha256"] = f.sha256;
  out.files_doc.push_back(doc);
  return ok();
}

}  // namespace

Result<ExtraFilesReport> verify_extra_files(const Manifest& manifest,
                                            const std::filesystem::path& cache_dir,
                                            const ContentOptions& options, Reporter& reporter) {
  ExtraFilesReport out;
  for (const auto& x : manifest.model.extra_files) {
    SD35_TRY_STATUS(verify_one(x, cache_dir, options, reporter, out));
    report_pin(x, reporter, out);
  }
  return out;
}

}  // namespace sd35::verify
