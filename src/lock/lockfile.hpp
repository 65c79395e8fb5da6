// sd35.lock.json: what was resolved, installed, fetched and proven, with a self-digest so a
// hand-edited or truncated file is refused. Deterministic: same inputs, byte-identical file
// (sorted keys, no timestamps unless one is passed). Format: docs/lockfile.md.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "resolve/resolve.hpp"
#include "util/result.hpp"

namespace sd35::lock {

inline constexpr int kLockSchemaVersion = 1;

struct LockedGpu {
  std::string name;
  std::string compute_capability;
};

struct LockedHost {
  std::string driver;  // "" when no NVIDIA driver
  std::optional<int> cuda_driver_version;
  std::vector<LockedGpu> gpus;
  std::string glibc;
  std::string python;   // "3.11.7"
  std::string machine;  // "x86_64"
};

struct LockedModelFile {
  std::string path;
  std::uint64_t size = 0;
  std::string oid;  // LFS sha256 (or git blob sha1 for small files); "" when unknown
};

// A file of another repository that belongs to the model (manifest model.extra_files).
struct LockedExtraFile {
  std::string repo;  // https URL, no credentials
  std::string revision;
  std::string commit;  // "" when not fetched
  std::string path;    // in that repository
  std::string as;      // in the model's layout (tokenizer/vocab.json)
  std::uint64_t size = 0;
  std::string oid;  // as LockedModelFile::oid
};

struct LockedModel {
  std::string repo;  // https URL, no credentials
  std::string revision;
  std::string commit;  // "" when not fetched
  bool verified =
      false;  // false: values copied from the manifest, not read from a fetched snapshot
  std::vector<LockedModelFile> files;        // sorted by path
  std::vector<LockedExtraFile> extra_files;  // sorted by `as`; absent from the JSON when empty
};

struct Lockfile {
  int schema_version = kLockSchemaVersion;
  std::string tool_version;
  std::string manifest_name;
  std::string manifest_digest;
  LockedHost host;
  std::string torch;  // "2.9.1"
  std::string cuda;   // "cu128"
  std::string index_url;
  std::vector<resolve::Package> packages;  // sorted by name
  LockedModel model;
  std::optional<nlohmann::json> smoke;  // path, device, metrics, fingerprint
  std::optional<std::string> created;   // only when the caller passes a timestamp
};

// What a lock keeps of a `smoke --json` result: all of it but the human `summary`, and of a
// prompt -> PNG run's "image" what identifies the picture: {fingerprint (sha256 of the raw RGB
// pixels), width, height, params} (not its path, which is this machine's).
nlohmann::json smoke_record(nlohmann::json smoke_result);

// The document without lock_digest, then the digest over its compact dump.
nlohmann::json to_json_unsigned(const Lockfile& lock);
std::string digest_of(const nlohmann::json& unsigned_doc);
// Pretty, sorted, with "lock_digest", newline-terminated.
std::string serialize(const Lockfile& lock);

// Strict: a future schema_version is unsupported_version; a missing or wrong lock_digest,
// bad JSON or wrong types are bad_input naming the file and JSON pointer.
Result<Lockfile> parse(std::string_view text, const std::string& source);
Result<Lockfile> load(const std::string& path);

// requirements.txt with --hash lines (pip install --require-hashes -r).
std::string export_requirements(const Lockfile& lock);
// PEP 751 pylock.toml.
std::string export_pylock(const Lockfile& lock);

struct DiffLine {
  std::string section;  // "package", "environment", "host", "model", "smoke", "manifest"
  std::string key;
  std::string a, b;  // "" = absent on that side
};
std::vector<DiffLine> diff(const Lockfile& a, const Lockfile& b);

}  // namespace sd35::lock
