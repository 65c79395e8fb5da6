// Python facts come from running each interpreter with a small script under a timeout.
// torch is imported (only that gives the real arch list and float8 support); the compiled arch
// flags are read without initialising CUDA, so a GPU-less machine answers too.
#include <fmt/format.h>

#include "host/probe.hpp"
#include "util/json_reader.hpp"
#include "util/process.hpp"

namespace sd35 {
namespace {

constexpr const char* kPythonProbeScript = R"PY(
import json, sys, os
out = {"version": "%d.%d.%d" % tuple(sys.version_info[:3]), "executable": sys.executable}
try:
    import importlib.metadata as md
    import importlib.util as iu
except Exception as e:
    print(json.dumps(dict(out, error="no importlib.metadata: %r" % (e,)))); sys.exit(0)
def ver(name):
    try:
        return md.version(name)
    except Exception:
        return None
out["diffusers"] = ver("diffusers")
out["transformers"] = ver("transformers")
tv = ver("torch")
if tv is not None and iu.find_spec("torch") is not None:
    t = {"version": tv, "cuda": None, "float8": False, "scaled_mm": "", "arch_list": [], "cxx11_abi": None}
    try:
        import torch
        t["version"] = torch.__version__
        t["cuda"] = torch.version.cuda
        t["float8"] = hasattr(torch, "float8_e4m3fn")
        if hasattr(torch, "_scaled_mm"):
            try:
                schema = str(torch.ops.aten._scaled_mm.default._schema)
                t["scaled_mm"] = "tuple" if "-> (Tensor, Tensor)" in schema else "tensor"
            except Exception:
                t["scaled_mm"] = "unknown"
        if torch.version.cuda:
            try:
                t["arch_list"] = torch._C._cuda_getArchFlags().split()
            except Exception:
                t["arch_list"] = torch.cuda.get_arch_list()
        t["cxx11_abi"] = bool(torch._C._GLIBCXX_USE_CXX11_ABI)
    except Exception as e:
        t["error"] = "import torch failed: %r" % (e,)
    out["torch"] = t
xv = ver("xformers")
if xv is not None:
    x = {"version": xv, "built_for_torch": None}
    try:
        spec = iu.find_spec("xformers")
        with open(os.path.join(os.path.dirname(spec.origin), "cpp_lib.json")) as f:
            x["built_for_torch"] = json.load(f)["version"]["torch"]
    except Exception:
        for r in (md.requires("xformers") or []):
            r = r.replace(" ", "")
            if r.startswith("torch==") and ";" not in r:
                x["built_for_torch"] = r[len("torch=="):]
    out["xformers"] = x
print(json.dumps(out))
)PY";

}  // namespace

PythonFacts probe_python(const std::string& interpreter, std::chrono::milliseconds timeout) {
  PythonFacts p;
  p.path = interpreter;
  proc::Command cmd;
  cmd.argv = {interpreter, "-c", kPythonProbeScript};
  cmd.timeout = timeout;
  cmd.env_remove = {"PYTHONSTARTUP", "PYTHONINSPECT"};
  cmd.env_overrides = {{"PYTHONDONTWRITEBYTECODE", "1"}, {"CUDA_MODULE_LOADING", "LAZY"}};
  auto outcome = proc::run(cmd);
  if (!outcome) {
    p.error = outcome.error().message;
    return p;
  }
  if (outcome->timed_out) {
    p.error = fmt::format("timed out after {} ms", timeout.count());
    return p;
  }
  if (!outcome->success()) {
    p.error = fmt::format("exited with {}: {}", outcome->exit_code, outcome->err.substr(0, 400));
    return p;
  }
  // The last line is ours; imports may print warnings before it.
  std::string_view text = outcome->out;
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  auto nl = text.rfind('\n');
  std::string_view last = nl == std::string_view::npos ? text : text.substr(nl + 1);
  auto parsed = jsonio::parse(last, interpreter);
  if (!parsed || !parsed->is_object()) {
    p.error = "unexpected probe output: " + std::string(last.substr(0, 200));
    return p;
  }
  nlohmann::json doc = *parsed;
  doc["path"] = interpreter;
  nlohmann::json host = {
      {"schema_version", kHostFactsSchemaVersion}, {"os", {{"id", "x"}}}, {"python", {doc}}};
  auto facts = host_facts_from_json(host, interpreter);
  if (!facts) {
    p.error = "unexpected probe output: " + facts.error().describe();
    return p;
  }
  p = facts->python.front();
  if (doc.contains("torch") && doc["torch"].is_object() && doc["torch"].contains("error") &&
      !p.error)
    p.error = doc["torch"]["error"].get<std::string>();
  return p;
}

}  // namespace sd35
