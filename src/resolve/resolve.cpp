#include "resolve/resolve.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "compat/compat.hpp"
#include "compat/gpu_arch.hpp"
#include "compat/pep440.hpp"
#include "util/json_reader.hpp"
#include "util/strings.hpp"

namespace sd35::resolve {
namespace {

std::string join(const std::vector<std::string>& v, std::string_view sep = " ") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

bool has_gpu(const HostFacts& host) {
  return host.nvidia && !host.nvidia->gpus.empty();
}

bool version_in(std::string_view version, std::string_view specifiers) {
  auto v = pep440::parse_version(version);
  auto s = pep440::parse_specifiers(specifiers);
  return v && s && s->contains(*v, true);
}

// Everything one (candidate, variant) pair is judged on; fills reasons/changes or why/notes.
struct Judgement {
  std::vector<std::string> reasons, changes, why, notes;
  std::vector<std::string> arch_list;
};

void judge_python(const Manifest& m, const compat::TorchRelease& rel, const TorchCandidate& c,
                  const PythonFacts* py, Judgement& j) {
  if (!py || py->version.empty()) {
    j.reasons.emplace_back("no Python interpreter was found or probed on this host");
    j.changes.push_back(fmt::format("install Python {} (torch {} wheels: {})", m.environment.python,
                                    c.torch, rel.python));
    return;
  }
  bool wheels = version_in(py->version, rel.python);
  bool manifest_ok = m.environment.python.empty() || version_in(py->version, m.environment.python);
  if (!wheels) {
    j.reasons.push_back(fmt::format("Python {} has no torch {} wheels (published for Python {})",
                                    py->version, c.torch, rel.python));
    j.changes.push_back(m.environment.python.empty()
                            ? fmt::format("Python {}", rel.python)
                            : fmt::format("Python {} (torch {} wheels) and {} (manifest)",
                                          rel.python, c.torch, m.environment.python));
  } else if (!manifest_ok) {
    j.reasons.push_back(fmt::format("Python {} is outside the manifest's environment.python {}",
                                    py->version, m.environment.python));
    j.changes.push_back(fmt::format("Python {}", m.environment.python));
  } else {
    j.why.push_back(fmt::format("Python {} within {} (torch {} wheels) and {} (manifest)",
                                py->version, rel.python, rel.torch, m.environment.python));
  }
}

void judge_glibc(const HostFacts& host, const compat::TorchRelease& rel, Judgement& j) {
  if (host.glibc.empty()) {
    j.notes.push_back(fmt::format("glibc version unknown; torch {} wheels need glibc >= {}",
                                  rel.torch, rel.manylinux_glibc));
    return;
  }
  if (str::compare_dotted(host.glibc, rel.manylinux_glibc) < 0) {
    j.reasons.push_back(fmt::format(
        "glibc {} < {} required by torch {}'s manylinux wheels (\"version 'GLIBC_{}' not "
        "found\")",
        host.glibc, rel.manylinux_glibc, rel.torch, rel.manylinux_glibc));
    j.changes.push_back(fmt::format("glibc >= {} (a newer OS)", rel.manylinux_glibc));
  } else {
    j.why.push_back(fmt::format("glibc {} >= {} (manylinux tag of torch {})", host.glibc,
                                rel.manylinux_glibc, rel.torch));
  }
}

void judge_cuda(const HostFacts& host, const compat::TorchRelease& rel, const std::string& variant,
                Judgement& j) {
  const compat::TorchVariant* tv = rel.find_variant(variant);
  if (!tv) {
    std::vector<std::string> known;
    for (const auto& v : rel.variants) known.push_back(v.variant);
    j.reasons.push_back(
        fmt::format("torch {} has no {} build on the PyTorch index (variants: {} cpu)", rel.torch,
                    variant, join(known)));
    return;
  }
  j.arch_list = tv->arch_list;
  if (!has_gpu(host)) {
    j.reasons.push_back(
        fmt::format("no NVIDIA GPU/driver on this host: a {} build cannot run", variant));
    j.changes.emplace_back("an NVIDIA GPU with its driver (or a cpu variant in the manifest)");
    return;
  }
  const compat::DriverFloor* floor = compat::driver_floor_for_variant(variant);
  const std::string& driver = host.nvidia->driver_version;
  if (!floor) {
    j.reasons.push_back(fmt::format("no driver floor is known for {} (compat data)", variant));
  } else if (driver.empty()) {
    j.reasons.emplace_back(
        "the NVIDIA driver version is unknown (no /sys/module/nvidia/version, NVML or nvidia-smi)");
    j.changes.push_back(fmt::format("NVIDIA driver >= {}", floor->linux_min_driver));
  } else if (str::compare_dotted(driver, floor->linux_min_driver) < 0) {
    j.reasons.push_back(
        fmt::format("driver {} < {} (CUDA {} minimum under minor-version compatibility)", driver,
                    floor->linux_min_driver, floor->cuda_major));
    j.changes.push_back(fmt::format("NVIDIA driver >= {}", floor->linux_min_driver));
  } else {
    j.why.push_back(fmt::format("driver {} >= {} (CUDA {} floor)", driver, floor->linux_min_driver,
                                floor->cuda_major));
  }
  for (const auto& g : host.nvidia->gpus) {
    auto cov = compat::gpu_covered(g.compute_capability, tv->arch_list);
    std::string sm = "sm_" + g.compute_capability;
    sm.erase(std::remove(sm.begin(), sm.end(), '.'), sm.end());
    if (!cov.runs) {
      j.reasons.push_back(fmt::format("{} (cc {}, {}) is not in torch {} {}'s arch list [{}]: {}",
                                      g.name, g.compute_capability, sm, rel.torch, variant,
                                      join(tv->arch_list), cov.via));
      // Not a host change: another candidate or variant is the fix, so no "would_need" entry.
    } else {
      j.why.push_back(fmt::format("{} (cc {}) runs via {}", g.name, g.compute_capability, cov.via));
      if (cov.via.find("PTX") != std::string::npos)
        j.notes.push_back(fmt::format(
            "{} runs only through PTX JIT of {}: first use compiles kernels, and a driver older "
            "than the toolkit fails with 'unsupported toolchain'",
            g.name, cov.via));
    }
  }
}

void judge_xformers(const TorchCandidate& c, const std::string& variant, Judgement& j) {
  if (!c.xformers) return;
  if (variant == "cpu") {
    j.notes.push_back(fmt::format("xformers {} left out: it has no CPU build", *c.xformers));
    return;
  }
  const compat::XformersPin* pin = compat::find_xformers_pin(*c.xformers);
  if (!pin) {
    j.reasons.push_back(fmt::format(
        "xformers {} is not in the compat data: cannot tell which torch it was built for",
        *c.xformers));
    return;
  }
  if (!version_in(c.torch, pin->torch)) {
    j.reasons.push_back(fmt::format(
        "xformers {} requires torch {}, the candidate has {} (\"xFormers can't load C++/CUDA "
        "extensions\")",
        pin->xformers, pin->torch, c.torch));
    j.changes.push_back(fmt::format("the manifest's xformers pinned to torch {}", c.torch));
    return;
  }
  if (std::find(pin->variants.begin(), pin->variants.end(), variant) == pin->variants.end()) {
    j.reasons.push_back(
        fmt::format("xformers {} has no {} wheel on the PyTorch index (built for {})",
                    pin->xformers, variant, join(pin->variants, ", ")));
    return;
  }
  j.why.push_back(fmt::format("xformers {} requires torch {} and has a {} wheel", pin->xformers,
                              pin->torch, variant));
}

void fp8_notes(const Manifest& m, const HostFacts& host, const TorchCandidate& c,
               const std::string& variant, Judgement& j) {
  const auto& fp8 = compat::data().fp8;
  if (variant == "cpu") {
    j.notes.emplace_back("CPU build: no FP8 GPU compute; the smoke test runs on CPU");
    return;
  }
  if (!version_in(c.torch, ">=" + fp8.scaled_mm_stable_from_torch))
    j.notes.push_back(fmt::format(
        "torch {} < {}: _scaled_mm has the unstable (out, amax) form; FP8 compute unavailable",
        c.torch, fp8.scaled_mm_stable_from_torch));
  const std::string& min_cc = m.requirements.gpu.fp8_compute_min_cc.empty()
                                  ? fp8.min_compute_capability
                                  : m.requirements.gpu.fp8_compute_min_cc;
  for (const auto& g : host.nvidia->gpus) {
    if (str::compare_dotted(g.compute_capability, min_cc) < 0)
      j.notes.push_back(
          fmt::format("FP8 compute unavailable on {} (cc {} < {}): FP8 weights are stored, math "
                      "runs in BF16/FP32",
                      g.name, g.compute_capability, min_cc));
    else if (variant == "cu118" && g.compute_capability == "8.9")
      j.notes.push_back(
          fmt::format("{} with a cu118 build: cuBLASLt FP8 needs CUDA >= 12.1 Update 1 "
                      "(CUBLAS_STATUS_NOT_SUPPORTED)",
                      g.name));
  }
}

Package requirement(std::string name, std::string specifier, std::string index_url) {
  Package p;
  p.name = std::move(name);
  p.specifier = std::move(specifier);
  p.index_url = std::move(index_url);
  return p;
}

std::vector<Package> packages_for(const Manifest& m, const TorchCandidate& c,
                                  const compat::TorchRelease& rel, const std::string& variant) {
  const std::string torch_index = compat::pytorch_index_url(variant);
  std::vector<Package> out;
  out.push_back(requirement("torch", fmt::format("=={}+{}", c.torch, variant), torch_index));
  if (c.torchvision)
    out.push_back(
        requirement("torchvision", fmt::format("=={}+{}", *c.torchvision, variant), torch_index));
  else
    out.push_back(requirement("torchvision", fmt::format("=={}.*", rel.torchvision), torch_index));
  if (c.xformers && variant != "cpu")
    out.push_back(requirement("xformers", "==" + *c.xformers, torch_index));
  for (const auto& [name, spec] : m.environment.packages)
    out.push_back(requirement(normalize_name(name), spec, compat::data().index.pypi_url));
  return out;
}

// The host changes that would unblock a candidate, fewest first: only rejections whose every
// reason comes with a change count, and all of a rejection's changes are needed together.
std::vector<std::string> summarise_changes(const std::vector<Rejection>& rejected) {
  struct Option {
    std::size_t count;
    std::size_t order;
    std::string text;
  };
  std::vector<Option> options;
  std::set<std::string> seen;
  for (const auto& r : rejected) {
    if (r.changes.empty() || r.changes.size() != r.reasons.size()) continue;
    std::set<std::string> unique(r.changes.begin(), r.changes.end());
    std::string all;
    for (const auto& ch : unique) all += (all.empty() ? "" : " and ") + ch;
    if (!seen.insert(all).second) continue;
    options.push_back({unique.size(), options.size(),
                       fmt::format("{} (would allow torch {} {})", all, r.torch, r.cuda)});
  }
  std::stable_sort(options.begin(), options.end(),
                   [](const Option& a, const Option& b) { return a.count < b.count; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < options.size() && i < 5; ++i) out.push_back(options[i].text);
  return out;
}

}  // namespace

std::string normalize_name(std::string_view name) {
  std::string out;
  bool sep = false;
  for (char ch : name) {
    if (ch == '-' || ch == '_' || ch == '.') {
      sep = true;
      continue;
    }
    if (sep && !out.empty()) out += '-';
    sep = false;
    out += static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  }
  return out;
}

Resolution resolve(const Manifest& manifest, const HostFacts& host) {
  Resolution res;
  const PythonFacts* py = host.primary_python();
  for (const auto& c : manifest.environment.candidates) {
    const compat::TorchRelease* rel = compat::find_torch_release(c.torch);
    for (const auto& variant : c.cuda) {
      Judgement j;
      if (!rel) {
        j.reasons.push_back(
            fmt::format("torch {} is not in the compat data's release matrix", c.torch));
      } else {
        judge_python(manifest, *rel, c, py, j);
        judge_glibc(host, *rel, j);
        if (variant == "cpu") {
          if (has_gpu(host))
            j.reasons.push_back(
                fmt::format("this host has {} NVIDIA GPU(s): a CPU build would leave them unused",
                            host.nvidia->gpus.size()));
          else
            j.why.emplace_back("no NVIDIA GPU: the cpu build is the one that runs");
        } else {
          judge_cuda(host, *rel, variant, j);
        }
        judge_xformers(c, variant, j);
      }
      if (!j.reasons.empty()) {
        res.rejected.push_back({c.torch, variant, std::move(j.reasons), std::move(j.changes)});
        continue;
      }
      fp8_notes(manifest, host, c, variant, j);
      Selection s;
      s.torch = c.torch;
      s.torch_version = fmt::format("{}+{}", c.torch, variant);
      s.cuda = variant;
      s.index_url = compat::pytorch_index_url(variant);
      s.python = py ? py->version : "";
      s.arch_list = std::move(j.arch_list);
      s.packages = packages_for(manifest, c, *rel, variant);
      s.why = std::move(j.why);
      s.notes = std::move(j.notes);
      res.selected = std::move(s);
      res.hash_notes.emplace_back(
          "no index was read: versions come from the compat data and the manifest, wheel files and "
          "sha256 are missing (run with --index URL, or --closure to ask pip)");
      return res;
    }
  }
  res.would_need = summarise_changes(res.rejected);
  return res;
}

nlohmann::json to_json(const Package& p) {
  nlohmann::json j = {{"name", p.name},
                      {"specifier", p.specifier},
                      {"index_url", p.index_url},
                      {"requested", p.requested}};
  if (!p.version.empty()) j["version"] = p.version;
  if (!p.file.empty()) j["file"] = p.file;
  if (!p.url.empty()) j["url"] = p.url;
  if (!p.sha256.empty()) j["sha256"] = p.sha256;
  return j;
}

nlohmann::json to_json(const Resolution& r) {
  nlohmann::json j = nlohmann::json::object();
  j["ok"] = r.selected.has_value();
  if (r.selected) {
    const Selection& s = *r.selected;
    nlohmann::json pk = nlohmann::json::array();
    for (const auto& p : s.packages) pk.push_back(to_json(p));
    j["selected"] = {{"torch", s.torch},   {"torch_version", s.torch_version},
                     {"cuda", s.cuda},     {"index_url", s.index_url},
                     {"python", s.python}, {"arch_list", s.arch_list},
                     {"packages", pk},     {"why", s.why},
                     {"notes", s.notes}};
  } else {
    j["selected"] = nullptr;
  }
  nlohmann::json rej = nlohmann::json::array();
  for (const auto& x : r.rejected)
    rej.push_back(
        {{"torch", x.torch}, {"cuda", x.cuda}, {"reasons", x.reasons}, {"changes", x.changes}});
  j["rejected"] = rej;
  j["would_need"] = r.would_need;
  j["hash_notes"] = r.hash_notes;
  return j;
}

Result<std::vector<Package>> packages_from_json(const nlohmann::json& packages,
                                                const std::string& source,
                                                const std::string& pointer) {
  if (!packages.is_array())
    return make_error(Errc::bad_input, "packages is not an array", source + ": " + pointer,
                      "regenerate the file with `sd35-setup resolve --out` or `sd35-setup lock`");
  std::vector<Package> out;
  std::vector<std::string> warnings;
  for (std::size_t i = 0; i < packages.size(); ++i) {
    jsonio::ObjectReader r(packages[i], fmt::format("{}/{}", pointer, i), source, &warnings);
    if (!packages[i].is_object())
      return make_error(Errc::bad_input, "package entry is not an object",
                        fmt::format("{}: {}/{}", source, pointer, i));
    Package p;
    SD35_TRY(p.name, r.str("name"));
    SD35_TRY(p.specifier, r.str_or_empty("specifier"));
    SD35_TRY(p.index_url, r.str_or_empty("index_url"));
    SD35_TRY(p.version, r.str_or_empty("version"));
    SD35_TRY(p.file, r.str_or_empty("file"));
    SD35_TRY(p.url, r.str_or_empty("url"));
    SD35_TRY(p.sha256, r.str_or_empty("sha256"));
    SD35_TRY(p.requested, r.boolean("requested", true));
    if (!p.sha256.empty() && (p.sha256.size() != 64 || !str::is_hex(p.sha256)))
      return r.error_at("sha256", "is not 64 lowercase hex digits", "regenerate the file");
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace sd35::resolve
