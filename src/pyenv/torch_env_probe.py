# Run by sd35-setup with the interpreter of the environment being proven (smoke --python/--venv).
# Prints one JSON document: the interpreter, where its torch keeps the headers and libraries a
# C++ plugin is built against, what that torch can do on this machine, and the Python side of the
# environment (pinned companions import, float8 dtypes, CUDA initialises, torch._scaled_mm agrees
# with a bf16 product). Argument 1: JSON {"companions": {"name": "specifier", ...}, "gpu": bool}.
# Every failure is reported with the message the user would otherwise meet; nothing raises.
# The companions import in a forked child while this process imports torch and initialises CUDA:
# both are seconds of CPU-bound module loading, and they do not depend on each other.
import glob, importlib, json, os, sys, time

args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
out = {"python": {"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3],
                  "prefix": sys.prefix, "is_venv": sys.prefix != getattr(sys, "base_prefix", sys.prefix)},
       "torch": None, "companions": {}, "checks": []}

def last_line(e):
    text = "%s: %s" % (type(e).__name__, e)
    return text.strip().splitlines()[-1] if text.strip() else type(e).__name__

def check(cid, fn):
    entry = {"id": cid, "ok": False}
    start = time.monotonic()
    try:
        detail = fn()
        entry["ok"] = True
        if detail is not None:
            entry["detail"] = detail
    except Exception as e:
        entry["error"] = last_line(e)
    entry["seconds"] = round(time.monotonic() - start, 3)
    out["checks"].append(entry)
    return entry["ok"]

def version_of(dist):
    try:
        import importlib.metadata as md
        return md.version(dist)
    except Exception:
        return None

IMPORT_NAMES = {"protobuf": "google.protobuf", "pillow": "PIL", "opencv-python": "cv2",
                "scikit-learn": "sklearn", "pyyaml": "yaml"}

def torch_paths(torch):
    tdir = os.path.dirname(torch.__file__)
    inc = os.path.join(tdir, "include")
    site = os.path.dirname(tdir)
    # pip CUDA wheels bring the CUDA headers and libraries as nvidia-* packages beside torch.
    cuda_inc = sorted(p for p in glob.glob(os.path.join(site, "nvidia", "*", "include")) if os.path.isdir(p))
    cuda_lib = sorted(p for p in glob.glob(os.path.join(site, "nvidia", "*", "lib")) if os.path.isdir(p))
    nvrtc = sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib", "libnvrtc.so*")))
    nvrtc = [p for p in nvrtc if "builtins" not in os.path.basename(p) and ".alt." not in p]
    return {"dir": tdir,
            "include_dirs": [p for p in (inc, os.path.join(inc, "torch", "csrc", "api", "include")) if os.path.isdir(p)],
            "lib_dir": os.path.join(tdir, "lib"),
            "cuda_include_dirs": cuda_inc, "cuda_lib_dirs": cuda_lib, "nvrtc": nvrtc}

def probe_torch():
    import torch
    t = {"version": torch.__version__.split("+")[0], "full_version": torch.__version__,
         "cuda": torch.version.cuda, "cxx11_abi": bool(torch._C._GLIBCXX_USE_CXX11_ABI),
         "float8": hasattr(torch, "float8_e4m3fn"), "cuda_available": False, "device": None,
         "arch_list": []}
    t.update(torch_paths(torch))
    if torch.version.cuda:
        try:
            t["arch_list"] = torch.cuda.get_arch_list()
        except Exception:
            pass
    out["torch"] = t
    return torch

def cuda_init(torch):
    t = out["torch"]
    torch.cuda.init()
    x = torch.ones(4, device="cuda")
    torch.cuda.synchronize()
    p = torch.cuda.get_device_properties(0)
    t["cuda_available"] = True
    t["device"] = {"name": p.name, "cc": [p.major, p.minor], "total_memory": p.total_memory,
                   "count": torch.cuda.device_count()}
    return "%s (cc %d.%d), sum %.0f" % (p.name, p.major, p.minor, float(x.sum()))

def scaled_mm(torch):
    cc = out["torch"]["device"]["cc"]
    if (cc[0], cc[1]) < (8, 9):
        return "skipped: cc %d.%d has no FP8 tensor cores" % (cc[0], cc[1])
    g = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(64, 256, device="cuda", generator=g).to(torch.bfloat16)
    b = torch.randn(128, 256, device="cuda", generator=g).to(torch.bfloat16)
    sa = a.abs().amax().float() / 448.0
    sb = b.abs().amax().float() / 448.0
    qa = (a.float() / sa).to(torch.float8_e4m3fn)
    qb = (b.float() / sb).to(torch.float8_e4m3fn)
    got = torch._scaled_mm(qa, qb.t(), scale_a=sa, scale_b=sb, out_dtype=torch.bfloat16)
    if isinstance(got, tuple):
        got = got[0]
    ref = a @ b.t()
    rel = float((got.float() - ref.float()).norm() / ref.float().norm())
    out["torch"]["scaled_mm_rel_l2"] = rel
    if not rel < 0.1:
        raise RuntimeError("torch._scaled_mm disagrees with the bf16 product: rel L2 %.4f" % rel)
    return "rel L2 %.4f vs bf16" % rel

def companion(name, spec):
    info = {"specifier": spec, "version": version_of(name)}
    out["companions"][name] = info
    def load():
        importlib.import_module(IMPORT_NAMES.get(name.lower(), name.replace("-", "_")))
        if name.lower() == "diffusers":
            from diffusers import StableDiffusion3Pipeline  # noqa: F401
            return "%s, StableDiffusion3Pipeline present" % info["version"]
        if name.lower() == "xformers":
            import xformers.ops  # noqa: F401
        return info["version"]
    return load

def start_companions(companions):
    """Forks (before torch is imported, so no threads exist yet) a child that imports the pinned
    companions and writes its part of the answer to a pipe."""
    if not companions or not hasattr(os, "fork"):
        return None
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            for name, spec in sorted(companions.items()):
                check("import." + name, companion(name, spec))
            data = json.dumps({"companions": out["companions"], "checks": out["checks"]})
        except BaseException as e:  # the child must always answer and exit
            data = json.dumps({"error": last_line(e)})
        with os.fdopen(w, "w") as f:
            f.write(data)
        os._exit(0)
    os.close(w)
    return pid, r

def join_companions(handle, companions):
    pid, r = handle
    with os.fdopen(r) as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    try:
        part = json.loads(data)
    except ValueError:
        why = ("the import crashed the interpreter (signal %d)" % os.WTERMSIG(status)
               if os.WIFSIGNALED(status) else "the importing process answered nothing")
        part = {"companions": {n: {"specifier": s, "version": version_of(n)} for n, s in companions.items()},
                "checks": [{"id": "import." + n, "ok": False, "error": why} for n in sorted(companions)]}
    if "error" in part:
        part = {"companions": {}, "checks": [{"id": "import." + n, "ok": False, "error": part["error"]}
                                             for n in sorted(companions)]}
    out["companions"].update(part["companions"])
    out["checks"].extend(part["checks"])

companions = args.get("companions", {})
pending = start_companions(companions)

torch = None
def import_torch():
    global torch
    torch = probe_torch()
    return out["torch"]["full_version"]

if check("torch.import", import_torch):
    check("torch.float8", lambda: "float8_e4m3fn, float8_e5m2" if hasattr(torch, "float8_e5m2") and out["torch"]["float8"]
          else (_ for _ in ()).throw(RuntimeError("module 'torch' has no attribute 'float8_e4m3fn' (torch %s; FP8 needs >= 2.1)" % torch.__version__)))
    if torch.version.cuda and torch.cuda.is_available():
        if check("torch.cuda.init", lambda: cuda_init(torch)) and hasattr(torch, "_scaled_mm"):
            check("torch._scaled_mm", lambda: scaled_mm(torch))
    elif args.get("gpu"):
        why = ("this torch is a CPU build (torch.version.cuda is None)" if not torch.version.cuda
               else "torch.cuda.is_available() is False")
        out["checks"].append({"id": "torch.cuda.init", "ok": False, "error": why})
if pending:
    join_companions(pending, companions)
else:
    for name, spec in sorted(companions.items()):
        check("import." + name, companion(name, spec))
print(json.dumps(out))
