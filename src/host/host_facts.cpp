#include "host/host_facts.hpp"

#include <fmt/format.h>

#include "util/json_reader.hpp"

namespace sd35 {
namespace {

using nlohmann::json;
using json_reader = sd35::jsonio::ObjectReader;

template <class T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json();
}

json torch_json(const TorchFacts& t) {
  return {{"version", t.version},     {"cuda", opt(t.cuda)},      {"float8", t.float8},
          {"scaled_mm", t.scaled_mm}, {"arch_list", t.arch_list}, {"cxx11_abi", opt(t.cxx11_abi)}};
}

Result<TorchFacts> read_torch(json_reader r) {
  TorchFacts t;
  SD35_TRY(t.version, r.str("version"));
  SD35_TRY(t.cuda, r.opt_str("cuda"));
  SD35_TRY(t.float8, r.boolean("float8", false));
  SD35_TRY(t.scaled_mm, r.str_or_empty("scaled_mm"));
  if (r.has("arch_list")) {
    SD35_TRY(t.arch_list, r.str_array("arch_list"));
  }
  if (r.has("cxx11_abi") && !r.raw().at("cxx11_abi").is_null()) {
    SD35_TRY(bool abi, r.boolean("cxx11_abi"));
    t.cxx11_abi = abi;
  }
  return t;
}

Result<PythonFacts> read_python(json_reader r) {
  PythonFacts p;
  SD35_TRY(p.path, r.str("path"));
  SD35_TRY(p.version, r.str_or_empty("version"));
  SD35_TRY(auto torch, r.opt_object("torch"));
  if (torch) {
    SD35_TRY(auto t, read_torch(*torch));
    p.torch = t;
  }
  SD35_TRY(auto xf, r.opt_object("xformers"));
  if (xf) {
    XformersFacts x;
    SD35_TRY(x.version, xf->str("version"));
    SD35_TRY(x.built_for_torch, xf->opt_str("built_for_torch"));
    p.xformers = x;
  }
  SD35_TRY(p.diffusers, r.opt_str("diffusers"));
  SD35_TRY(p.transformers, r.opt_str("transformers"));
  SD35_TRY(p.error, r.opt_str("error"));
  return p;
}

Result<NvidiaFacts> read_nvidia(json_reader r, const std::string& source) {
  NvidiaFacts n;
  SD35_TRY(n.driver_version, r.str("driver_version"));
  if (r.has("cuda_driver_version") && !r.raw().at("cuda_driver_version").is_null()) {
    SD35_TRY(auto v, r.i64("cuda_driver_version"));
    n.cuda_driver_version = static_cast<int>(v);
  }
  SD35_TRY(n.source, r.str_or_empty("source"));
  SD35_TRY(auto gpus, r.array("gpus"));
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    std::string ptr = fmt::format("{}/{}", r.child_pointer("gpus"), i);
    if (!gpus[i].is_object())
      return make_error(Errc::bad_input, "wrong type: expected object",
                        fmt::format("{}: {}", source, ptr));
    json_reader g(gpus[i], ptr, source, nullptr);
    GpuFacts gf;
    gf.index = static_cast<int>(i);
    SD35_TRY(gf.name, g.str("name"));
    SD35_TRY(gf.compute_capability, g.str("compute_capability"));
    SD35_TRY(auto total, g.opt_u64("memory_total_mib"));
    gf.memory_total_mib = total.value_or(0);
    SD35_TRY(auto free, g.opt_u64("memory_free_mib"));
    gf.memory_free_mib = free.value_or(0);
    n.gpus.push_back(gf);
  }
  return n;
}

}  // namespace

const PythonFacts* HostFacts::primary_python() const {
  for (const auto& p : python)
    if (p.torch) return &p;
  return python.empty() ? nullptr : &python.front();
}

const DiskFacts* HostFacts::disk_for(std::string_view role) const {
  for (const auto& d : disk)
    if (d.role == role) return &d;
  return nullptr;
}

nlohmann::json to_json(const HostFacts& h) {
  json nvidia;
  if (h.nvidia) {
    json gpus = json::array();
    for (const auto& g : h.nvidia->gpus)
      gpus.push_back({{"index", g.index},
                      {"name", g.name},
                      {"compute_capability", g.compute_capability},
                      {"memory_total_mib", g.memory_total_mib},
                      {"memory_free_mib", g.memory_free_mib}});
    nvidia = {{"driver_version", h.nvidia->driver_version},
              {"cuda_driver_version", opt(h.nvidia->cuda_driver_version)},
              {"gpus", gpus},
              {"source", h.nvidia->source}};
  }
  json python = json::array();
  for (const auto& p : h.python) {
    json jp = {{"path", p.path},
               {"version", p.version},
               {"torch", p.torch ? torch_json(*p.torch) : json()},
               {"xformers", p.xformers ? json{{"version", p.xformers->version},
                                              {"built_for_torch", opt(p.xformers->built_for_torch)}}
                                       : json()},
               {"diffusers", opt(p.diffusers)},
               {"transformers", opt(p.transformers)}};
    if (p.error) jp["error"] = *p.error;
    python.push_back(jp);
  }
  json disk = json::array();
  for (const auto& d : h.disk)
    disk.push_back({{"path", d.path},
                    {"role", d.role},
                    {"free_bytes", d.free_bytes},
                    {"total_bytes", d.total_bytes},
                    {"fs_type", d.fs_type},
                    {"rotational", opt(d.rotational)},
                    {"writable", d.writable}});
  return {
      {"schema_version", h.schema_version},
      {"os",
       {{"id", h.os.id}, {"version", h.os.version}, {"kernel", h.os.kernel}, {"arch", h.os.arch}}},
      {"glibc", h.glibc},
      {"cpu", {{"model", h.cpu.model}, {"cores", h.cpu.cores}, {"flags", h.cpu.flags}}},
      {"memory_bytes", h.memory_bytes},
      {"nvidia", nvidia},
      {"python", python},
      {"disk", disk},
      {"env", h.env},
      {"tools", {{"git", opt(h.tools.git)}, {"git_lfs", opt(h.tools.git_lfs)}}},
      {"embedded_torch", opt(h.embedded_torch)},
      {"notes", h.notes}};
}

Result<HostFacts> host_facts_from_json(const nlohmann::json& j, const std::string& source) {
  HostFacts h;
  std::vector<std::string> ignored;
  SD35_TRY(auto r, sd35::jsonio::root_object(j, source, &ignored));
  SD35_TRY(auto version, r.i64("schema_version"));
  if (version != kHostFactsSchemaVersion)
    return make_error(Errc::unsupported_version,
                      fmt::format("unknown host facts schema_version {} (this sd35-setup reads {})",
                                  version, kHostFactsSchemaVersion),
                      source + ": /schema_version", "re-run `sd35-setup probe` with this version");
  SD35_TRY(auto os, r.object("os"));
  SD35_TRY(h.os.id, os.str("id"));
  SD35_TRY(h.os.version, os.str_or_empty("version"));
  SD35_TRY(h.os.kernel, os.str_or_empty("kernel"));
  SD35_TRY(auto arch, os.opt_str("arch"));
  h.os.arch = arch.value_or("x86_64");
  SD35_TRY(h.glibc, r.str_or_empty("glibc"));
  SD35_TRY(auto cpu, r.opt_object("cpu"));
  if (cpu) {
    SD35_TRY(h.cpu.model, cpu->str_or_empty("model"));
    SD35_TRY(auto cores, cpu->opt_u64("cores"));
    h.cpu.cores = static_cast<int>(cores.value_or(0));
    if (cpu->has("flags")) {
      SD35_TRY(h.cpu.flags, cpu->str_array("flags"));
    }
  }
  SD35_TRY(auto mem, r.opt_u64("memory_bytes"));
  h.memory_bytes = mem.value_or(0);
  SD35_TRY(auto nvidia, r.opt_object("nvidia"));
  if (nvidia) {
    SD35_TRY(auto n, read_nvidia(*nvidia, source));
    h.nvidia = n;
  }
  if (r.has("python")) {
    SD35_TRY(auto pys, r.array("python"));
    for (std::size_t i = 0; i < pys.size(); ++i) {
      std::string ptr = fmt::format("/python/{}", i);
      if (!pys[i].is_object())
        return make_error(Errc::bad_input, "wrong type: expected object",
                          fmt::format("{}: {}", source, ptr));
      SD35_TRY(auto p, read_python(json_reader(pys[i], ptr, source, nullptr)));
      h.python.push_back(std::move(p));
    }
  }
  if (r.has("disk")) {
    SD35_TRY(auto disks, r.array("disk"));
    for (std::size_t i = 0; i < disks.size(); ++i) {
      std::string ptr = fmt::format("/disk/{}", i);
      if (!disks[i].is_object())
        return make_error(Errc::bad_input, "wrong type: expected object",
                          fmt::format("{}: {}", source, ptr));
      json_reader d(disks[i], ptr, source, nullptr);
      DiskFacts df;
      SD35_TRY(df.path, d.str("path"));
      SD35_TRY(auto role, d.opt_str("role"));
      df.role = role.value_or("cache");
      SD35_TRY(df.free_bytes, d.u64("free_bytes"));
      SD35_TRY(auto total, d.opt_u64("total_bytes"));
      df.total_bytes = total.value_or(0);
      SD35_TRY(df.fs_type, d.str_or_empty("fs_type"));
      if (d.has("rotational") && !d.raw().at("rotational").is_null()) {
        SD35_TRY(bool rot, d.boolean("rotational"));
        df.rotational = rot;
      }
      SD35_TRY(df.writable, d.boolean("writable", true));
      h.disk.push_back(df);
    }
  }
  SD35_TRY(auto env, r.opt_object("env"));
  if (env) {
    for (const auto& [k, v] : env->raw().items())
      if (v.is_string()) h.env[k] = v.get<std::string>();
  }
  SD35_TRY(auto tools, r.opt_object("tools"));
  if (tools) {
    SD35_TRY(h.tools.git, tools->opt_str("git"));
    SD35_TRY(h.tools.git_lfs, tools->opt_str("git_lfs"));
  }
  SD35_TRY(h.embedded_torch, r.opt_str("embedded_torch"));
  return h;
}

Result<HostFacts> load_host_facts(const std::string& path) {
  SD35_TRY(auto j, sd35::jsonio::parse_file(path));
  return host_facts_from_json(j, path);
}

}  // namespace sd35
