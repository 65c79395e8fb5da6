#include "manifest/manifest.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <regex>

#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

namespace sd35::embedded {
extern const std::string_view default_manifest;
}

namespace sd35 {
namespace {

using jsonio::ObjectReader;

// std::regex matches recursively, a frame per character: a value of tens of kilobytes overflows
// the stack. No valid value comes near this.
constexpr std::size_t kMaxRegexInput = 1024;

bool valid_repo(const std::string& repo) {
  if (repo.size() > kMaxRegexInput) return false;
  static const std::regex id(R"(^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$)");
  static const std::regex url(R"(^https?://[^/\s]+(/[^\s]*)?/[^/\s]+/[^/\s]+/?$)");
  return std::regex_match(repo, id) || std::regex_match(repo, url);
}

bool valid_cuda_variant(const std::string& v) {
  if (v.size() > kMaxRegexInput) return false;
  static const std::regex re(R"(^(cu[0-9]{3}|cpu)$)");
  return std::regex_match(v, re);
}

bool valid_cc(const std::string& v) {
  if (v.size() > kMaxRegexInput) return false;
  static const std::regex re(R"(^[0-9]+\.[0-9]+$)");
  return std::regex_match(v, re);
}

Error value_error(const ObjectReader& r, std::string_view key, std::string what) {
  return r.error_at(key, fmt::format("invalid value: {}", what), "see docs/manifest.md");
}

Result<ObjectReader> element_reader(const nlohmann::json& element, const std::string& array_ptr,
                                    std::size_t i, const std::string& source) {
  std::string ptr = fmt::format("{}/{}", array_ptr, i);
  if (!element.is_object())
    return make_error(
        Errc::bad_input,
        fmt::format("wrong type: expected object, got {}", jsonio::type_name(element)),
        fmt::format("{}: {}", source, ptr), "each file is {\"path\": ..., \"size\": ...}");
  return ObjectReader(element, ptr, source, nullptr);
}

Status check_repo_path(const ObjectReader& f, std::string_view key, const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find("..") != std::string::npos)
    return value_error(f, key, fmt::format("'{}' must be a relative path inside the repo", path));
  return ok();
}

Result<ModelFile> read_file(ObjectReader& f) {
  ModelFile mf;
  SD35_TRY(mf.path, f.str("path"));
  SD35_TRY_STATUS(check_repo_path(f, "path", mf.path));
  SD35_TRY(mf.size, f.opt_u64("size"));
  SD35_TRY(mf.sha256, f.opt_str("sha256"));
  if (mf.sha256 && (mf.sha256->size() != 64 || !str::is_hex(*mf.sha256) ||
                    str::to_lower(*mf.sha256) != *mf.sha256))
    return value_error(f, "sha256", "expected 64 lowercase hex digits (the LFS oid)");
  return mf;
}

Result<ExtraFile> read_extra_file(ObjectReader& f) {
  ExtraFile x;
  SD35_TRY(x.repo, f.str("repo"));
  if (!valid_repo(x.repo))
    return value_error(
        f, "repo",
        fmt::format("'{}' is neither org/name nor an http(s) URL ending in org/name", x.repo));
  SD35_TRY(x.revision, f.str("revision"));
  if (x.revision.empty()) return value_error(f, "revision", "empty revision");
  SD35_TRY(auto file, read_file(f));
  x.path = std::move(file.path);
  x.size = file.size;
  x.sha256 = std::move(file.sha256);
  SD35_TRY(auto as, f.opt_str("as"));
  x.as = as.value_or(x.path);
  SD35_TRY_STATUS(check_repo_path(f, "as", x.as));
  return x;
}

Result<ModelSpec> read_model(ObjectReader r, const std::string& source) {
  ModelSpec m;
  SD35_TRY(m.repo, r.str("repo"));
  if (!valid_repo(m.repo))
    return value_error(
        r, "repo",
        fmt::format("'{}' is neither org/name nor an http(s) URL ending in org/name", m.repo));
  SD35_TRY(m.revision, r.str("revision"));
  if (m.revision.empty()) return value_error(r, "revision", "empty revision");
  SD35_TRY(m.gated, r.boolean("gated", false));
  SD35_TRY(m.format, r.str("format"));
  if (m.format != "sai-single-file" && m.format != "diffusers")
    return value_error(
        r, "format", fmt::format("'{}', expected \"sai-single-file\" or \"diffusers\"", m.format));
  SD35_TRY(m.architecture, r.str("architecture"));
  if (m.architecture != "sd35-large" && m.architecture != "sd35-medium" &&
      m.architecture != "sd3-medium")
    return value_error(
        r, "architecture",
        fmt::format("'{}', expected sd35-large, sd35-medium or sd3-medium", m.architecture));
  SD35_TRY(auto files, r.array("files"));
  if (files.empty()) return value_error(r, "files", "at least one file is required");
  for (std::size_t i = 0; i < files.size(); ++i) {
    SD35_TRY(auto f, element_reader(files[i], r.child_pointer("files"), i, source));
    SD35_TRY(auto mf, read_file(f));
    m.files.push_back(std::move(mf));
  }
  if (r.has("extra_files")) {
    SD35_TRY(auto extras, r.array("extra_files"));
    for (std::size_t i = 0; i < extras.size(); ++i) {
      SD35_TRY(auto f, element_reader(extras[i], r.child_pointer("extra_files"), i, source));
      SD35_TRY(auto x, read_extra_file(f));
      m.extra_files.push_back(std::move(x));
    }
  }
  r.finish();
  return m;
}

Result<EnvironmentSpec> read_environment(ObjectReader r, const std::string& source) {
  EnvironmentSpec e;
  SD35_TRY(e.python, r.str("python"));
  SD35_TRY(auto cands, r.array("candidates"));
  if (cands.empty()) return value_error(r, "candidates", "at least one candidate is required");
  for (std::size_t i = 0; i < cands.size(); ++i) {
    std::string ptr = fmt::format("{}/{}", r.child_pointer("candidates"), i);
    if (!cands[i].is_object())
      return make_error(
          Errc::bad_input,
          fmt::format("wrong type: expected object, got {}", jsonio::type_name(cands[i])),
          fmt::format("{}: {}", source, ptr), "each candidate is an object");
    ObjectReader c(cands[i], ptr, source, nullptr);
    TorchCandidate tc;
    SD35_TRY(tc.torch, c.str("torch"));
    SD35_TRY(tc.cuda, c.str_array("cuda"));
    if (tc.cuda.empty()) return value_error(c, "cuda", "at least one variant (cuXYZ or cpu)");
    for (const auto& v : tc.cuda)
      if (!valid_cuda_variant(v))
        return value_error(c, "cuda", fmt::format("'{}' is not a variant like cu128 or cpu", v));
    SD35_TRY(tc.torchvision, c.opt_str("torchvision"));
    SD35_TRY(tc.xformers, c.opt_str("xformers"));
    e.candidates.push_back(std::move(tc));
  }
  if (r.has("packages")) {
    SD35_TRY(auto pk, r.object("packages"));
    for (const auto& [name, spec] : pk.raw().items()) {
      if (!spec.is_string())
        return pk.error_at(
            name, fmt::format("wrong type: expected string, got {}", jsonio::type_name(spec)),
            "package values are PEP 440 specifiers such as \">=0.31\"");
      e.packages.emplace_back(name, spec.get<std::string>());
    }
    std::sort(e.packages.begin(), e.packages.end());
  }
  r.finish();
  return e;
}

Result<Requirements> read_requirements(ObjectReader r) {
  Requirements q;
  SD35_TRY(auto disk, r.opt_u64("disk_free_bytes"));
  q.disk_free_bytes = disk.value_or(0);
  SD35_TRY(auto gpu, r.opt_object("gpu"));
  if (gpu) {
    SD35_TRY(auto cc, gpu->opt_str("fp8_compute_min_cc"));
    if (cc) {
      if (!valid_cc(*cc))
        return value_error(*gpu, "fp8_compute_min_cc",
                           fmt::format("'{}', expected like \"8.9\"", *cc));
      q.gpu.fp8_compute_min_cc = *cc;
    }
    SD35_TRY(auto mem, gpu->opt_u64("min_memory_mib"));
    q.gpu.min_memory_mib = mem.value_or(0);
    gpu->finish();
  }
  r.finish();
  return q;
}

Result<SmokeSpec> read_smoke(ObjectReader r) {
  SmokeSpec s;
  if (r.has("latent")) {
    SD35_TRY(auto lat, r.array("latent"));
    if (lat.size() != 2 || !lat[0].is_number_integer() || !lat[1].is_number_integer() ||
        lat[0].get<int>() < 2 || lat[1].get<int>() < 2 || lat[0].get<int>() % 2 ||
        lat[1].get<int>() % 2)
      return value_error(r, "latent", "expected [H, W], two even integers >= 2 (latent pixels)");
    s.latent = {lat[0].get<int>(), lat[1].get<int>()};
  }
  if (r.has("steps")) {
    SD35_TRY(auto steps, r.i64("steps"));
    if (steps < 1 || steps > 1000) return value_error(r, "steps", "expected 1..1000");
    s.steps = static_cast<int>(steps);
  }
  if (r.has("guidance")) {
    SD35_TRY(s.guidance, r.number("guidance"));
    if (s.guidance < 0) return value_error(r, "guidance", "must be >= 0");
  }
  if (r.has("shift")) {
    SD35_TRY(s.shift, r.number("shift"));
    if (!(s.shift > 0)) return value_error(r, "shift", "must be > 0");
  }
  if (r.has("precision")) {
    SD35_TRY(s.precision, r.str("precision"));
    if (s.precision != "fp8" && s.precision != "fp8-weights" && s.precision != "bf16" &&
        s.precision != "fp32")
      return value_error(r, "precision",
                         fmt::format("'{}', expected fp8, fp8-weights, bf16 or fp32", s.precision));
  }
  r.finish();
  return s;
}

}  // namespace

std::uint64_t ModelSpec::known_bytes() const {
  std::uint64_t total = 0;
  for (const auto& f : files) total += f.size.value_or(0);
  for (const auto& f : extra_files) total += f.size.value_or(0);
  return total;
}

bool ExtraFile::pinned() const {
  return sha256.has_value() && revision.size() == 40 && str::is_hex(revision);
}

Result<Manifest> parse_manifest(std::string_view text, std::string_view source_view) {
  std::string source(source_view);
  SD35_TRY(auto root, jsonio::parse(text, source));
  Manifest m;
  SD35_TRY(auto r, jsonio::root_object(root, source, &m.warnings));
  SD35_TRY(auto version, r.i64("schema_version"));
  if (version != kManifestSchemaVersion)
    return make_error(Errc::unsupported_version,
                      fmt::format("unknown manifest schema_version {} (this sd35-setup reads {})",
                                  version, kManifestSchemaVersion),
                      fmt::format("{}: /schema_version", source),
                      version > kManifestSchemaVersion
                          ? "upgrade sd35-setup"
                          : "rewrite the manifest for schema_version 1");
  m.schema_version = static_cast<int>(version);
  SD35_TRY(m.name, r.str("name"));
  SD35_TRY(m.description, r.str_or_empty("description"));
  if (r.has("sources")) (void)r.object("sources");  // free-form provenance notes
  SD35_TRY(auto model, r.object("model"));
  SD35_TRY(m.model, read_model(std::move(model), source));
  SD35_TRY(auto env, r.object("environment"));
  SD35_TRY(m.environment, read_environment(std::move(env), source));
  SD35_TRY(auto req, r.opt_object("requirements"));
  if (req) {
    SD35_TRY(m.requirements, read_requirements(std::move(*req)));
  }
  SD35_TRY(auto smoke, r.opt_object("smoke"));
  if (smoke) {
    SD35_TRY(m.smoke, read_smoke(std::move(*smoke)));
  }
  r.finish();
  m.source = source;
  m.digest = sha256_hex(text);
  return m;
}

Result<Manifest> load_manifest(const std::string& path) {
  auto text = fs::read_file(path);
  if (!text) {
    Error e = std::move(text).error();
    return make_error(
        Errc::bad_input, fmt::format("cannot read manifest: {}", e.message), path,
        "pass an existing file with --manifest, or omit it to use the embedded default");
  }
  return parse_manifest(*text, path);
}

Result<Manifest> default_manifest() {
  return parse_manifest(embedded::default_manifest, "<embedded:manifests/sd35-large-fp8.json>");
}

nlohmann::json to_json(const Manifest& m) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : m.model.files) {
    nlohmann::json jf = {{"path", f.path}};
    if (f.size) jf["size"] = *f.size;
    if (f.sha256) jf["sha256"] = *f.sha256;
    files.push_back(jf);
  }
  nlohmann::json extras = nlohmann::json::array();
  for (const auto& x : m.model.extra_files) {
    nlohmann::json jx = {
        {"repo", x.repo}, {"revision", x.revision}, {"path", x.path}, {"as", x.as}};
    if (x.size) jx["size"] = *x.size;
    if (x.sha256) jx["sha256"] = *x.sha256;
    extras.push_back(jx);
  }
  nlohmann::json cands = nlohmann::json::array();
  for (const auto& c : m.environment.candidates) {
    cands.push_back(
        {{"torch", c.torch},
         {"cuda", c.cuda},
         {"torchvision", c.torchvision ? nlohmann::json(*c.torchvision) : nlohmann::json()},
         {"xformers", c.xformers ? nlohmann::json(*c.xformers) : nlohmann::json()}});
  }
  nlohmann::json packages = nlohmann::json::object();
  for (const auto& [k, v] : m.environment.packages) packages[k] = v;
  return {{"schema_version", m.schema_version},
          {"name", m.name},
          {"description", m.description},
          {"source", m.source},
          {"digest", m.digest},
          {"model",
           {{"repo", m.model.repo},
            {"revision", m.model.revision},
            {"gated", m.model.gated},
            {"format", m.model.format},
            {"architecture", m.model.architecture},
            {"files", files},
            {"extra_files", extras}}},
          {"environment",
           {{"python", m.environment.python}, {"candidates", cands}, {"packages", packages}}},
          {"requirements",
           {{"disk_free_bytes", m.requirements.disk_free_bytes},
            {"gpu",
             {{"fp8_compute_min_cc", m.requirements.gpu.fp8_compute_min_cc},
              {"min_memory_mib", m.requirements.gpu.min_memory_mib}}}}},
          {"smoke",
           {{"latent", m.smoke.latent},
            {"steps", m.smoke.steps},
            {"guidance", m.smoke.guidance},
            {"shift", m.smoke.shift},
            {"precision", m.smoke.precision}}}};
}

}  // namespace sd35
