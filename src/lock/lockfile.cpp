#include "lock/lockfile.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "util/fs.hpp"
#include "util/json_reader.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"

namespace sd35::lock {
namespace {

using nlohmann::json;

json or_null(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

Error lock_error(const std::string& source, std::string message) {
  return make_error(Errc::bad_input, std::move(message), source,
                    "regenerate it with `sd35-setup lock`; never edit a lockfile by hand");
}

Result<LockedHost> read_host(jsonio::ObjectReader r) {
  LockedHost h;
  SD35_TRY(h.driver, r.str_or_empty("driver"));
  if (r.has("cuda_driver_version") && !r.raw()["cuda_driver_version"].is_null()) {
    SD35_TRY(auto v, r.i64("cuda_driver_version"));
    h.cuda_driver_version = static_cast<int>(v);
  }
  SD35_TRY(auto gpus, r.array("gpus"));
  std::vector<std::string> w;
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    jsonio::ObjectReader g(gpus[i], fmt::format("{}/gpus/{}", r.pointer(), i), "", &w);
    LockedGpu gpu;
    SD35_TRY(gpu.name, g.str("name"));
    SD35_TRY(gpu.compute_capability, g.str("compute_capability"));
    h.gpus.push_back(std::move(gpu));
  }
  SD35_TRY(h.glibc, r.str_or_empty("glibc"));
  SD35_TRY(h.python, r.str_or_empty("python"));
  SD35_TRY(h.machine, r.str_or_empty("machine"));
  return h;
}

Result<std::vector<LockedExtraFile>> read_extra_files(jsonio::ObjectReader& r,
                                                      const std::string& source) {
  SD35_TRY(auto extras, r.array("extra_files"));
  std::vector<LockedExtraFile> out;
  std::vector<std::string> w;
  for (std::size_t i = 0; i < extras.size(); ++i) {
    jsonio::ObjectReader f(extras[i], fmt::format("/model/extra_files/{}", i), source, &w);
    LockedExtraFile x;
    SD35_TRY(x.repo, f.str("repo"));
    SD35_TRY(x.revision, f.str("revision"));
    SD35_TRY(x.commit, f.str_or_empty("commit"));
    SD35_TRY(x.path, f.str("path"));
    SD35_TRY(x.as, f.str("as"));
    SD35_TRY(x.size, f.u64("size"));
    SD35_TRY(x.oid, f.str_or_empty("oid"));
    out.push_back(std::move(x));
  }
  return out;
}

json extra_files_json(std::vector<LockedExtraFile> extras) {
  std::sort(extras.begin(), extras.end(), [](const auto& a, const auto& b) { return a.as < b.as; });
  json out = json::array();
  for (const auto& x : extras)
    out.push_back({{"repo", x.repo},
                   {"revision", x.revision},
                   {"commit", or_null(x.commit)},
                   {"path", x.path},
                   {"as", x.as},
                   {"size", x.size},
                   {"oid", or_null(x.oid)}});
  return out;
}

Result<LockedModel> read_model(jsonio::ObjectReader r, const std::string& source) {
  LockedModel m;
  SD35_TRY(m.repo, r.str("repo"));
  SD35_TRY(m.revision, r.str("revision"));
  SD35_TRY(m.commit, r.str_or_empty("commit"));
  SD35_TRY(m.verified, r.boolean("verified"));
  SD35_TRY(auto files, r.array("files"));
  std::vector<std::string> w;
  for (std::size_t i = 0; i < files.size(); ++i) {
    jsonio::ObjectReader f(files[i], fmt::format("/model/files/{}", i), source, &w);
    LockedModelFile lf;
    SD35_TRY(lf.path, f.str("path"));
    SD35_TRY(lf.size, f.u64("size"));
    SD35_TRY(lf.oid, f.str_or_empty("oid"));
    m.files.push_back(std::move(lf));
  }
  if (r.has("extra_files")) {
    SD35_TRY(m.extra_files, read_extra_files(r, source));
  }
  return m;
}

}  // namespace

json to_json_unsigned(const Lockfile& l) {
  json gpus = json::array();
  for (const auto& g : l.host.gpus)
    gpus.push_back({{"name", g.name}, {"compute_capability", g.compute_capability}});
  std::vector<resolve::Package> pk = l.packages;
  std::sort(pk.begin(), pk.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  json packages = json::array();
  for (const auto& p : pk) {
    packages.push_back({{"name", p.name},
                        {"version", p.version},
                        {"file", p.file},
                        {"url", p.url},
                        {"sha256", or_null(p.sha256)},
                        {"index_url", p.index_url},
                        {"requested", p.requested}});
  }
  std::vector<LockedModelFile> files = l.model.files;
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.path < b.path; });
  json jfiles = json::array();
  for (const auto& f : files)
    jfiles.push_back({{"path", f.path}, {"size", f.size}, {"oid", or_null(f.oid)}});
  json doc = {
      {"schema_version", l.schema_version},
      {"tool", {{"name", "sd35-setup"}, {"version", l.tool_version}}},
      {"manifest", {{"name", l.manifest_name}, {"digest", l.manifest_digest}}},
      {"host",
       {{"driver", or_null(l.host.driver)},
        {"cuda_driver_version",
         l.host.cuda_driver_version ? json(*l.host.cuda_driver_version) : json(nullptr)},
        {"gpus", gpus},
        {"glibc", or_null(l.host.glibc)},
        {"python", or_null(l.host.python)},
        {"machine", or_null(l.host.machine)}}},
      {"environment", {{"torch", l.torch}, {"cuda", l.cuda}, {"index_url", l.index_url}}},
      {"packages", packages},
      {"model",
       {{"repo", l.model.repo},
        {"revision", l.model.revision},
        {"commit", or_null(l.model.commit)},
        {"verified", l.model.verified},
        {"files", jfiles}}},
  };
  if (!l.model.extra_files.empty())
    doc["model"]["extra_files"] = extra_files_json(l.model.extra_files);
  if (l.smoke) doc["smoke"] = *l.smoke;
  if (l.created) doc["created"] = *l.created;
  return doc;
}

std::string digest_of(const json& unsigned_doc) {
  return "sha256:" + sha256_hex(unsigned_doc.dump());
}

std::string serialize(const Lockfile& lock) {
  json doc = to_json_unsigned(lock);
  doc["lock_digest"] = digest_of(doc);
  return doc.dump(2) + "\n";
}

Result<Lockfile> parse(std::string_view text, const std::string& source) {
  SD35_TRY(json doc, jsonio::parse(text, source));
  if (!doc.is_object()) return lock_error(source, "the lockfile is not a JSON object");
  if (!doc.contains("schema_version") || !doc["schema_version"].is_number_integer())
    return lock_error(source + ": /schema_version", "the lockfile has no integer schema_version");
  int version = doc["schema_version"].get<int>();
  if (version > kLockSchemaVersion || version < 1)
    return make_error(
        Errc::unsupported_version,
        fmt::format("lockfile schema_version {} is not supported (this sd35-setup reads {})",
                    version, kLockSchemaVersion),
        source + ": /schema_version", "upgrade sd35-setup to the version that wrote the lock");
  if (!doc.contains("lock_digest") || !doc["lock_digest"].is_string())
    return lock_error(source + ": /lock_digest",
                      "the lockfile has no lock_digest (truncated or not written by sd35-setup)");
  std::string stated = doc["lock_digest"].get<std::string>();
  json body = doc;
  body.erase("lock_digest");
  std::string actual = digest_of(body);
  if (stated != actual)
    return lock_error(
        source + ": /lock_digest",
        fmt::format(
            "lock_digest {} does not match the content ({}): the file was edited or corrupted",
            stated, actual));

  std::vector<std::string> warnings;
  SD35_TRY(auto root, jsonio::root_object(body, source, &warnings));
  Lockfile l;
  l.schema_version = version;
  SD35_TRY(auto tool, root.object("tool"));
  SD35_TRY(l.tool_version, tool.str("version"));
  SD35_TRY(auto manifest, root.object("manifest"));
  SD35_TRY(l.manifest_name, manifest.str("name"));
  SD35_TRY(l.manifest_digest, manifest.str("digest"));
  SD35_TRY(auto host, root.object("host"));
  SD35_TRY(l.host, read_host(host));
  SD35_TRY(auto env, root.object("environment"));
  SD35_TRY(l.torch, env.str("torch"));
  SD35_TRY(l.cuda, env.str("cuda"));
  SD35_TRY(l.index_url, env.str("index_url"));
  SD35_TRY(l.packages, resolve::packages_from_json(body["packages"], source, "/packages"));
  SD35_TRY(auto model, root.object("model"));
  SD35_TRY(l.model, read_model(model, source));
  if (body.contains("smoke")) l.smoke = body["smoke"];
  SD35_TRY(l.created, root.opt_str("created"));
  return l;
}

Result<Lockfile> load(const std::string& path) {
  auto text = fs::read_file(path);
  if (!text) return text.error();
  return parse(*text, path);
}

std::string export_requirements(const Lockfile& l) {
  std::string out = fmt::format(
      "# Generated by sd35-setup {} from the lock of {} (torch {} {}).\n"
      "# pip install --require-hashes --no-deps -r requirements.txt\n",
      l.tool_version, l.manifest_name, l.torch, l.cuda);
  std::set<std::string> indexes;
  for (const auto& p : l.packages)
    if (!p.index_url.empty()) indexes.insert(p.index_url);
  bool first = true;
  if (!l.index_url.empty()) {
    out += "--index-url " + l.index_url + "\n";
    indexes.erase(l.index_url);
    first = false;
  }
  for (const auto& i : indexes) {
    out += (first ? "--index-url " : "--extra-index-url ") + i + "\n";
    first = false;
  }
  for (const auto& p : l.packages) {
    out += fmt::format("{}=={}", p.name, p.version);
    if (!p.sha256.empty()) out += fmt::format(" \\\n    --hash=sha256:{}", p.sha256);
    out += "\n";
  }
  return out;
}

std::string export_pylock(const Lockfile& l) {
  std::string out = "lock-version = \"1.0\"\n";
  if (!l.host.python.empty()) {
    auto parts = str::split(l.host.python, '.');
    if (parts.size() >= 2)
      out += fmt::format("requires-python = \"=={}.{}.*\"\n", parts[0], parts[1]);
  }
  out += "created-by = \"sd35-setup\"\n";
  for (const auto& p : l.packages) {
    out += fmt::format("\n[[packages]]\nname = {}\nversion = {}\n", toml_string(p.name),
                       toml_string(p.version));
    if (!p.index_url.empty()) out += fmt::format("index = {}\n", toml_string(p.index_url));
    out += fmt::format("\n[[packages.wheels]]\nname = {}\nurl = {}\n", toml_string(p.file),
                       toml_string(p.url));
    if (!p.sha256.empty()) out += fmt::format("hashes = {{sha256 = {}}}\n", toml_string(p.sha256));
  }
  return out;
}

nlohmann::json smoke_record(nlohmann::json smoke_result) {
  smoke_result.erase("summary");
  if (smoke_result.contains("image") && smoke_result["image"].is_object()) {
    nlohmann::json image = nlohmann::json::object();
    for (const char* key : {"fingerprint", "width", "height", "params"})
      if (smoke_result["image"].contains(key)) image[key] = smoke_result["image"][key];
    smoke_result["image"] = image;
  }
  return smoke_result;
}

std::vector<DiffLine> diff(const Lockfile& a, const Lockfile& b) {
  std::vector<DiffLine> out;
  auto cmp = [&](std::string section, std::string key, const std::string& x, const std::string& y) {
    if (x != y) out.push_back({std::move(section), std::move(key), x, y});
  };
  cmp("manifest", "digest", a.manifest_digest, b.manifest_digest);
  cmp("environment", "torch", a.torch, b.torch);
  cmp("environment", "cuda", a.cuda, b.cuda);
  cmp("environment", "index_url", a.index_url, b.index_url);
  cmp("host", "driver", a.host.driver, b.host.driver);
  cmp("host", "glibc", a.host.glibc, b.host.glibc);
  cmp("host", "python", a.host.python, b.host.python);
  auto gpus = [](const LockedHost& h) {
    std::string s;
    for (const auto& g : h.gpus)
      s += (s.empty() ? "" : ", ") + g.name + " (" + g.compute_capability + ")";
    return s;
  };
  cmp("host", "gpus", gpus(a.host), gpus(b.host));
  auto pkg_text = [](const resolve::Package& p) {
    return p.version + " sha256:" + p.sha256.substr(0, 12);
  };
  std::map<std::string, std::pair<std::string, std::string>> pk;
  for (const auto& p : a.packages) pk[p.name].first = pkg_text(p);
  for (const auto& p : b.packages) pk[p.name].second = pkg_text(p);
  for (const auto& [name, v] : pk) cmp("package", name, v.first, v.second);
  cmp("model", "repo", a.model.repo, b.model.repo);
  cmp("model", "commit", a.model.commit, b.model.commit);
  std::map<std::string, std::pair<std::string, std::string>> files;
  for (const auto& f : a.model.files)
    files[f.path].first = fmt::format("{} bytes oid {}", f.size, f.oid);
  for (const auto& f : b.model.files)
    files[f.path].second = fmt::format("{} bytes oid {}", f.size, f.oid);
  for (const auto& [path, v] : files) cmp("model", path, v.first, v.second);
  std::map<std::string, std::pair<std::string, std::string>> extras;  // by `as`
  auto extra_text = [](const LockedExtraFile& x) {
    return fmt::format("{} {} at {} ({} bytes oid {})", x.repo, x.path, x.commit, x.size, x.oid);
  };
  for (const auto& x : a.model.extra_files) extras[x.as].first = extra_text(x);
  for (const auto& x : b.model.extra_files) extras[x.as].second = extra_text(x);
  for (const auto& [as, v] : extras) cmp("model", as, v.first, v.second);
  auto fp = [](const Lockfile& l) {
    return l.smoke && l.smoke->contains("fingerprint") ? l.smoke->at("fingerprint").dump()
                                                       : std::string();
  };
  cmp("smoke", "fingerprint", fp(a), fp(b));
  // The prompt -> PNG run's picture: the same pixels at the same size.
  auto image = [](const Lockfile& l) -> std::string {
    if (!l.smoke || !l.smoke->contains("image") || !l.smoke->at("image").is_object()) return "";
    const nlohmann::json& i = l.smoke->at("image");
    return fmt::format("{}x{} sha256:{}", i.value("width", 0), i.value("height", 0),
                       i.value("fingerprint", std::string()));
  };
  cmp("smoke", "image", image(a), image(b));
  // Where the smoke run's weights came from ("embedded", "argument", "cache" at a commit).
  auto weights = [](const Lockfile& l) -> std::string {
    if (!l.smoke || !l.smoke->is_object()) return "";
    const nlohmann::json& s = *l.smoke;
    std::string out = s.contains("source") && s["source"].is_string()
                          ? s["source"].get<std::string>()
                          : std::string();
    if (s.contains("cache") && s["cache"].is_object() && s["cache"].contains("commit") &&
        s["cache"]["commit"].is_string())
      out += " " + s["cache"]["commit"].get<std::string>();
    return out;
  };
  cmp("smoke", "weights", weights(a), weights(b));
  // The environment the smoke proved: another torch, GPU class or FP8 path is another lock.
  auto env_field = [](const Lockfile& l, const char* key) -> std::string {
    if (!l.smoke || !l.smoke->contains("environment")) return "";
    const nlohmann::json& e = l.smoke->at("environment");
    if (!e.contains(key)) return "";
    return e[key].is_string() ? e[key].get<std::string>() : e[key].dump();
  };
  for (const char* key : {"kind", "interpreter", "torch", "cuda", "libtorch", "device", "cc",
                          "driver", "native_fp8", "fused_kernels"})
    cmp("smoke", std::string("environment.") + key, env_field(a, key), env_field(b, key));
  return out;
}

}  // namespace sd35::lock
