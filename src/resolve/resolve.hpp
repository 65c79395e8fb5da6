// Picking a (torch, CUDA variant) for a host from the manifest's candidates and the compatibility
// data (src/compat/compat-data.json). Pure: no network, no processes. Format of the result:
// docs/resolve.md.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "host/host_facts.hpp"
#include "manifest/manifest.hpp"
#include "util/result.hpp"

namespace sd35::resolve {

// One package of the environment. Before pinning only `name` + `specifier` + `index_url` are set;
// pinning (index or pip report) fills version, file, url and sha256.
struct Package {
  std::string name;       // normalised (PEP 503): lowercase, runs of -_. become -
  std::string specifier;  // "==2.9.1+cu128", ">=0.31"
  std::string index_url;  // where it is looked up
  std::string version;    // exact, once pinned
  std::string file;       // wheel file name
  std::string url;        // download URL (no credentials)
  std::string sha256;     // lowercase hex; empty = the index published none
  bool requested = true;  // false: pulled in by pip's resolver as a dependency

  [[nodiscard]] bool pinned() const { return !url.empty(); }
};

struct Selection {
  std::string torch;          // candidate's version, "2.9.1"
  std::string torch_version;  // version string of the wheel, "2.9.1+cu128"
  std::string cuda;           // "cu128" | "cpu"
  std::string index_url;      // https://download.pytorch.org/whl/<variant>
  std::string python;         // the Python it was chosen for, "3.11.7"
  std::vector<std::string> arch_list;
  std::vector<Package> packages;
  std::vector<std::string> why;    // the checks it passed, one line each
  std::vector<std::string> notes;  // consequences worth knowing (no FP8 compute, PTX JIT, ...)
};

struct Rejection {
  std::string torch;
  std::string cuda;
  std::vector<std::string> reasons;
  std::vector<std::string> changes;  // what would make it fit ("NVIDIA driver >= 580")
};

struct Resolution {
  std::optional<Selection> selected;
  std::vector<Rejection> rejected;
  std::vector<std::string>
      would_need;  // when nothing fits: the smallest host changes that would help
  std::vector<std::string> hash_notes;  // why some packages have no pinned hash
};

// Walks environment.candidates in order, each candidate's CUDA variants in order; the first pair
// that fits the host wins.
Resolution resolve(const Manifest& manifest, const HostFacts& host);

// PEP 503 normalised project name.
std::string normalize_name(std::string_view name);

nlohmann::json to_json(const Package& p);
nlohmann::json to_json(const Resolution& r);
// Reads the packages of a resolution (`resolve --out`) or of a lockfile: both carry them as
// "packages" arrays (resolution: under /selected). Errors name the file and JSON pointer.
Result<std::vector<Package>> packages_from_json(const nlohmann::json& packages,
                                                const std::string& source,
                                                const std::string& pointer);

}  // namespace sd35::resolve
