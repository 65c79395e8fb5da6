#include "app/verify.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <set>

#include "app/verify_lock.hpp"
#include "checks/check.hpp"
#include "host/probe.hpp"
#include "model/layout.hpp"
#include "store/hf_cache_layout.hpp"
#include "store/snapshot_lookup.hpp"
#include "util/strings.hpp"
#include "verify/content.hpp"
#include "verify/extra_files.hpp"
#include "verify/finding.hpp"
#include "verify/model_audit.hpp"
#include "verify/structure.hpp"
#include "verify/tree.hpp"

namespace sd35::app {

namespace {

namespace stdfs = std::filesystem;

// Forwards everything and counts the failed required findings: the exit code is decided by them.
class CountingReporter final : public ForwardingReporter {
 public:
  using ForwardingReporter::ForwardingReporter;
  void finding(const Finding& f) override {
    if (f.verdict == Verdict::fail && f.required) ++failed;
    if (f.verdict == Verdict::warn) ++warnings;
    inner_.finding(f);
  }
  std::atomic<int> failed{0};
  std::atomic<int> warnings{0};
};

struct Target {
  stdfs::path root;       // the tree to verify
  stdfs::path disk_path;  // where the disk checks look (cache dir or --path)
  stdfs::path state_file;
  bool snapshot = false;
  std::string mode;  // "cache" | "directory"
  std::string commit;
};

Finding simple(std::string id, Verdict v, std::string detail, std::string fix = {},
               bool required = true) {
  Finding f = verify::rule_finding(std::move(id), v, {}, std::move(detail), std::move(fix));
  f.required = required;
  return f;
}

// The manifest's snapshot in the cache, or --path DIR. Nothing to verify -> a failed finding.
Result<std::optional<Target>> find_target(const GlobalOptions& global, const VerifyOptions& options,
                                          const Manifest& manifest, Reporter& reporter) {
  Target t;
  if (!options.path.empty()) {
    std::error_code ec;
    if (!stdfs::is_directory(options.path, ec)) {
      return make_error(Errc::usage, "--path is not a directory", options.path,
                        "pass the folder that holds the model files");
    }
    t.root = stdfs::absolute(options.path, ec);
    t.disk_path = t.root;
    t.state_file = t.root / std::string(verify::kDirStateName);
    t.mode = "directory";
    return std::optional<Target>(t);
  }
  const stdfs::path cache = hub_env_for(global).cache_dir;
  SD35_TRY(const auto snap,
           store::find_snapshot(cache, manifest.model.repo, manifest.model.revision));
  t.disk_path = cache;
  t.mode = "cache";
  t.snapshot = true;
  if (!snap.exists) {
    reporter.finding(
        simple("cache.snapshot", Verdict::fail, snap.problem(),
               "run `sd35-setup fetch` first, or pass --cache / --path to where the model is"));
    return std::optional<Target>();
  }
  t.commit = *snap.commit;
  t.root = snap.path;
  t.state_file = snap.cache.root / ".sd35-verify" / (t.commit + ".json");
  reporter.finding(simple("cache.snapshot", Verdict::pass,
                          fmt::format("{} at {} ({})", snap.repo_id, t.commit, t.root.string())));
  return std::optional<Target>(t);
}

// Whether this filesystem lets us create a symlink (copies in a snapshot can be a policy choice).
bool symlinks_work(const stdfs::path& dir) {
  const auto probe = dir / fmt::format(".sd35-symlink-probe-{}", ::getpid());
  std::error_code ec;
  stdfs::create_symlink("blobs", probe, ec);
  if (ec) return false;
  stdfs::remove(probe, ec);
  return true;
}

void report_links(const Target& t, const verify::TreeScan& scan, Reporter& reporter) {
  if (!t.snapshot) return;
  if (!scan.copies.empty()) {
    const bool can = symlinks_work(t.root.parent_path().parent_path());
    reporter.finding(
        simple("cache.symlinks", Verdict::warn,
               fmt::format("{} of {} snapshot entries are copies, not symlinks into blobs/ (e.g. "
                           "{}); the filesystem {} "
                           "symlinks",
                           scan.copies.size(), scan.files.size(), scan.copies.front(),
                           can ? "supports" : "does not support"),
               can ? "unset HF_HUB_DISABLE_SYMLINKS and re-fetch to share blobs between revisions"
                   : "each revision keeps a full copy: put the cache on a filesystem with symlinks "
                     "(not FAT/exFAT/SMB)",
               false));
  } else if (!scan.foreign_links.empty()) {
    reporter.finding(simple("cache.symlinks", Verdict::warn,
                            fmt::format("{} snapshot entries are symlinks outside blobs/ (e.g. {})",
                                        scan.foreign_links.size(), scan.foreign_links.front()),
                            "re-fetch so entries link into this repo's blobs/", false));
  } else {
    reporter.finding(
        simple("cache.symlinks", Verdict::pass,
               fmt::format("all {} snapshot entries are symlinks into blobs/", scan.files.size())));
  }
}

// Disk space, permissions, filesystem type, env conflicts: the doctor checks, run with what
// verify learnt (bytes already present). They describe the environment, not the content, so
// they inform (required = false) rather than fail the verification.
void run_environment_checks(const Manifest& manifest, const Target& t, std::uint64_t present,
                            Reporter& reporter) {
  HostFacts host;
  host.disk.push_back(probe_disk(t.disk_path, "cache", "/"));
  host.disk.push_back(probe_disk(temp_dir(), "temp", "/"));
  host.env = probe_env();
  checks::CheckContext ctx{manifest, host, present};
  for (const char* id : {"disk.free", "cache.writable", "cache.env", "cache.rotational"}) {
    const auto* def = checks::find_check(id);
    if (def == nullptr) continue;
    Finding f = def->run(def->info, ctx);
    f.required = false;
    reporter.finding(f);
  }
}

std::vector<nlohmann::json> audit_models(const Target& t, const Manifest& manifest,
                                         const verify::StructureReport& structure,
                                         Reporter& reporter) {
  std::vector<nlohmann::json> docs;
  const verify::AuditExpectations expect{manifest.model.architecture, manifest.model.format};
  std::set<std::string> in_index;
  for (const auto& [index, shards] : structure.index_shards) {
    std::vector<verify::ModelPart> parts;
    for (const auto& s : shards) {
      in_index.insert(s);
      if (const auto h = structure.headers.find(s); h != structure.headers.end())
        parts.push_back({s, &h->second});
    }
    bool mmdit = false;
    for (const auto& p : parts) mmdit = mmdit || model::holds_mmdit(*p.header);
    if (mmdit && parts.size() == shards.size()) {
      docs.push_back(verify::audit_model(t.root, index, parts, expect, reporter).document);
    }
  }
  for (const auto& [rel, header] : structure.headers) {
    if (in_index.count(rel) || !model::holds_mmdit(header)) continue;
    docs.push_back(verify::audit_model(t.root, rel, {{rel, &header}}, expect, reporter).document);
  }
  return docs;
}

nlohmann::json files_doc(const verify::ContentReport& content) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : content.files) {
    files.push_back({{"path", f.path},
                     {"present", f.present},
                     {"ok", f.ok},
                     {"size", f.size},
                     {"sha256", f.sha256},
                     {"reused", f.reused},
                     {"pointer", f.pointer}});
    if (!f.git_sha1.empty()) files.back()["git_sha1"] = f.git_sha1;
  }
  return files;
}

}  // namespace

Result<Outcome> verify(const GlobalOptions& global, const VerifyOptions& options, Reporter& outer) {
  if (!options.lock_file.empty())
    return verify_lock(global,
                       {options.lock_file, options.lock_venv, options.lock_smoke, options.junit,
                        options.host_file},
                       outer);
  SD35_TRY(Manifest manifest, load_manifest_for(global));
  CountingReporter reporter(outer);
  for (const auto& w : manifest.warnings) reporter.warn(w);
  SD35_TRY(const auto target, find_target(global, options, manifest, reporter));

  nlohmann::json doc = {{"manifest", {{"name", manifest.name}, {"source", manifest.source}}}};
  std::vector<std::string> summary;
  std::uint64_t present = 0;
  if (target) {
    const auto& t = *target;
    doc["root"] = t.root.string();
    doc["mode"] = t.mode;
    if (!t.commit.empty()) doc["commit"] = t.commit;
    doc["state_file"] = t.state_file.string();
    const auto scan = verify::scan_tree(t.root, t.snapshot);
    report_links(t, scan, reporter);
    const auto expectations = verify::build_expectations(manifest.model, scan);
    verify::ContentOptions copts{options.full, options.threads, t.state_file};
    SD35_TRY(const auto content, verify::verify_files(t.root, expectations, copts, reporter));
    present = content.bytes_present_ok;

    std::vector<std::string> readable;  // structure needs the real content, not pointers
    for (const auto& f : content.files) {
      if (f.present && !f.pointer) readable.push_back(f.path);
    }
    for (const auto& rel : scan.files) {
      if (str::ends_with(rel, ".safetensors.index.json")) readable.push_back(rel);
    }
    const auto structure = verify::audit_structure(t.root, readable, reporter);
    const auto models = audit_models(t, manifest, structure, reporter);

    doc["files"] = files_doc(content);
    doc["models"] = models;
    doc["content"] = {{"files", content.files.size()},
                      {"failed", content.failed},
                      {"hashed", content.hashed},
                      {"reused", content.reused},
                      {"bytes_hashed", content.bytes_hashed},
                      {"seconds", content.seconds}};
    summary.push_back(fmt::format(
        "{} file(s): {} hashed ({}), {} unchanged since the last check, {} failed, {:.2f} s",
        content.files.size(), content.hashed, str::human_bytes(content.bytes_hashed),
        content.reused, content.failed, content.seconds));
    for (const auto& m : models) {
      summary.push_back(fmt::format("{}: {} {}, depth {}", m.value("unit", ""),
                                    m.value("family", ""), m.value("layout", ""),
                                    m["dims"].value("depth", 0)));
    }
    if (t.snapshot && !manifest.model.extra_files.empty()) {
      SD35_TRY(const auto extras,
               verify::verify_extra_files(manifest, t.disk_path, copts, reporter));
      doc["extra_files"] = extras.files_doc;
      summary.push_back(fmt::format("{} extra file(s) (tokenizers): {} failed, {} not pinned",
                                    extras.files, extras.failed, extras.unpinned));
    }
  }
  Target where_disk;
  where_disk.disk_path = resolve_cache_dir(global);
  run_environment_checks(manifest, target.value_or(where_disk), present, reporter);
  const bool ok = reporter.failed == 0;
  summary.insert(
      summary.begin(),
      ok ? fmt::format("VERIFIED {} ({} warning(s))", manifest.name, reporter.warnings.load())
         : fmt::format("VERIFICATION FAILED for {}: {} failed finding(s)", manifest.name,
                       reporter.failed.load()));
  doc["ok"] = ok;
  doc["failed"] = reporter.failed.load();
  doc["warnings"] = reporter.warnings.load();
  doc["summary"] = summary;
  reporter.result("verify", doc);
  return ok ? Outcome::ok : Outcome::verification_failed;
}

}  // namespace sd35::app
