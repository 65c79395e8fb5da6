#include "app/smoke_weights.hpp"

#include <fmt/format.h>

#include "lfs/pointer.hpp"
#include "model/layout.hpp"
#include "store/hf_cache_layout.hpp"
#include "store/snapshot.hpp"
#include "store/snapshot_lookup.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"

namespace sd35::app {

namespace {

namespace stdfs = std::filesystem;

// One listed safetensors file of the snapshot: usable (with its header), or why not.
struct Checked {
  CachedFile file;
  std::optional<st::Header> header;
  std::string problem;
};

Checked check_file(const ModelFile& listed, const stdfs::path& snapshot) {
  Checked c;
  c.file.path = listed.path;
  if (!store::is_safe_repo_path(listed.path)) {
    c.problem = fmt::format("the manifest path {} leaves the snapshot", listed.path);
    return c;
  }
  const stdfs::path p = snapshot / listed.path;
  std::error_code ec;
  if (!stdfs::exists(p, ec)) {
    c.problem =
        fmt::format("{} is missing from the snapshot (the fetch did not finish)", p.string());
    return c;
  }
  if (!stdfs::is_regular_file(p, ec)) {
    c.problem = fmt::format("{} is not a regular file", p.string());
    return c;
  }
  c.file.size = stdfs::file_size(p, ec);
  if (c.file.size <= lfs::kMaxPointerSize) {
    auto text = fs::read_file(p, lfs::kMaxPointerSize);
    if (text && lfs::looks_like_pointer(*text)) {
      c.problem = fmt::format(
          "{} is a Git LFS pointer, not the weights (the LFS download did not "
          "happen)",
          p.string());
      return c;
    }
  }
  if (listed.size && *listed.size != c.file.size) {
    c.problem = fmt::format("{} has {} bytes, the manifest says {} (an incomplete download)",
                            p.string(), c.file.size, *listed.size);
    return c;
  }
  // fetch names each LFS blob after its verified sha256 and links the snapshot entry to it.
  if (stdfs::is_symlink(p, ec)) {
    const std::string blob = stdfs::read_symlink(p, ec).filename().string();
    if (blob.size() == 64 && str::is_hex(blob)) c.file.oid = blob;
  }
  if (listed.sha256 && !c.file.oid.empty() && c.file.oid != *listed.sha256) {
    c.problem = fmt::format("{} links to blob {}, the manifest's sha256 is {}", p.string(),
                            c.file.oid, *listed.sha256);
    return c;
  }
  if (c.file.oid.empty()) c.file.oid = listed.sha256.value_or("");
  auto header = st::read_header(p);
  if (!header) {
    c.problem =
        fmt::format("{} is not a valid safetensors file: {}", p.string(), header.error().message);
    return c;
  }
  c.header = std::move(header).value();
  return c;
}

std::string parent_of(const std::string& rel) {
  const auto slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

}  // namespace

CacheLookup find_cached_checkpoint(const Manifest& manifest, const stdfs::path& cache_dir) {
  CacheLookup out;
  auto snap = store::find_snapshot(cache_dir, manifest.model.repo, manifest.model.revision);
  if (!snap) {
    out.problem = snap.error().message;
    return out;
  }
  if (!snap->exists) {
    out.problem = fmt::format("{} (revision {}) is not fetched into {}", snap->repo_id,
                              manifest.model.revision, cache_dir.string());
    return out;
  }
  const stdfs::path snapshot = snap->path;
  const std::string& repo_id = snap->repo_id;
  const std::string& commit = *snap->commit;
  std::error_code ec;
  CachedCheckpoint c;
  c.repo = repo_id;
  c.revision = manifest.model.revision;
  c.commit = commit;
  std::optional<std::string> folder;  // where the MMDiT files are (the first one decides)
  for (const auto& listed : manifest.model.files) {
    if (!str::ends_with(listed.path, ".safetensors")) continue;
    Checked checked = check_file(listed, snapshot);
    if (!checked.problem.empty()) {
      out.problem = checked.problem;
      return out;
    }
    if (!model::holds_mmdit(*checked.header)) continue;  // e.g. a separate text encoder
    const std::string dir = parent_of(listed.path);
    if (!folder) {
      folder = dir;
      c.checkpoint_rel = manifest.model.format == "diffusers" ? dir : listed.path;
    } else if (*folder != dir || manifest.model.format != "diffusers") {
      continue;  // one MMDiT per run: the first the manifest lists
    }
    c.mmdit_bytes += model::mmdit_tensor_bytes(*checked.header);
    c.files.push_back(std::move(checked.file));
  }
  if (!folder) {
    out.problem = fmt::format("none of the safetensors files of {} at {} holds an SD3 MMDiT",
                              repo_id, commit);
    return out;
  }
  // A diffusers folder is read through its config.json and shard index: they must be there too.
  if (manifest.model.format == "diffusers") {
    for (const auto& listed : manifest.model.files) {
      if (parent_of(listed.path) != *folder || !store::is_safe_repo_path(listed.path)) continue;
      if (!stdfs::exists(snapshot / listed.path, ec)) {
        out.problem = fmt::format("{} is missing from the snapshot (the fetch did not finish)",
                                  (snapshot / listed.path).string());
        return out;
      }
    }
  }
  // Absolute: the result (and the lock) must name the same file from any working directory.
  c.checkpoint =
      stdfs::absolute(c.checkpoint_rel.empty() ? snapshot : snapshot / c.checkpoint_rel, ec);
  out.found = std::move(c);
  return out;
}

WeightsChoice choose_weights(const std::string& checkpoint_arg, bool synthetic,
                             const CacheLookup& lookup, const std::function<bool()>& on_cuda) {
  WeightsChoice w;
  if (!checkpoint_arg.empty()) {
    w.source = "argument";
    w.checkpoint = checkpoint_arg;
    return w;
  }
  w.source = "embedded";
  if (synthetic) return w;
  if (!lookup.found) {
    w.note = fmt::format(
        "no fetched checkpoint to run: {}; running the embedded model (`sd35-setup fetch` first, "
        "or pass --checkpoint PATH)",
        lookup.problem);
    return w;
  }
  const CachedCheckpoint& c = *lookup.found;
  if (c.mmdit_bytes <= kCpuMmditLimitBytes || on_cuda()) {
    w.source = "cache";
    w.checkpoint = c.checkpoint.string();
    w.cached = c;
    return w;
  }
  w.note = fmt::format(
      "fetched checkpoint {} found ({} of MMDiT weights) but the device is CPU: running the "
      "embedded model; pass --checkpoint {} to force the real weights",
      c.checkpoint.string(), str::human_bytes(c.mmdit_bytes), c.checkpoint.string());
  return w;
}

void describe_weights(const WeightsChoice& choice, nlohmann::json& doc) {
  doc["source"] = choice.source;
  if (!choice.note.empty()) doc["source_note"] = choice.note;
  if (!choice.cached) return;
  const CachedCheckpoint& c = *choice.cached;
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : c.files)
    files.push_back({{"path", f.path}, {"size", f.size}, {"oid", f.oid}});
  doc["cache"] = {{"repo", c.repo},     {"revision", c.revision},
                  {"commit", c.commit}, {"checkpoint", c.checkpoint_rel},
                  {"files", files},     {"mmdit_bytes", c.mmdit_bytes}};
}

}  // namespace sd35::app
