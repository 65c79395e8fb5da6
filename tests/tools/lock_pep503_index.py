#!/usr/bin/env python3
"""Test-only PEP 503 package index on 127.0.0.1 with fixture wheels built here (real wheel format).

Usage: lock_pep503_index.py ROOT [--lifetime SECONDS] [--json]
Builds wheels into ROOT/files, writes ROOT/simple/<project>/index.html with #sha256= fragments
(as on download.pytorch.org), serves ROOT on 127.0.0.1 on a free port, prints "PORT <n>" and
serves until killed or the lifetime (default 300 s) ends. Fixture "torch" imports without CUDA and
answers the probe: __version__, version.cuda, float8 dtypes, _scaled_mm schema, _C._cuda_getArchFlags.
With --json, project pages are PEP 691 JSON when the client asks for
application/vnd.pypi.simple.v1+json (as PyPI does), HTML otherwise.
"""
import base64, hashlib, http.server, json, os, sys, threading, zipfile

TORCH_INIT = '''
from . import version
from .version import __version__
import types as _types
float8_e4m3fn = "float8_e4m3fn"
float8_e5m2 = "float8_e5m2"
class _C:
    _GLIBCXX_USE_CXX11_ABI = True
    @staticmethod
    def _cuda_getArchFlags():
        return "sm_80 sm_86 sm_90"
def _scaled_mm(*args, **kwargs):
    raise RuntimeError("fixture torch")
_schema = "aten::_scaled_mm(Tensor self, Tensor mat2, Tensor scale_a, Tensor scale_b, Tensor? bias=None, Tensor? scale_result=None, ScalarType? out_dtype=None, bool use_fast_accum=False) -> Tensor"
ops = _types.SimpleNamespace(aten=_types.SimpleNamespace(_scaled_mm=_types.SimpleNamespace(default=_types.SimpleNamespace(_schema=_schema))))
class cuda:
    @staticmethod
    def get_arch_list():
        return _C._cuda_getArchFlags().split()
    @staticmethod
    def is_available():
        return False
'''


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(out_dir, name, version, files, requires=()):
    dist = name.replace("-", "_")
    filename = f"{dist}-{version}-py3-none-any.whl"
    info = f"{dist}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    entries = dict(files)
    entries[f"{info}/METADATA"] = meta
    entries[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: sd35-setup-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = ""
    for path, text in sorted(entries.items()):
        data = text.encode()
        record += f"{path},{record_hash(data)},{len(data)}\n"
    record += f"{info}/RECORD,,\n"
    entries[f"{info}/RECORD"] = record
    path = os.path.join(out_dir, filename)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for p, text in sorted(entries.items()):
            zi = zipfile.ZipInfo(p, date_time=(2020, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            z.writestr(zi, text)
    return filename


def build(root):
    files = os.path.join(root, "files")
    os.makedirs(files, exist_ok=True)
    wheels = {
        "torch": [build_wheel(files, "torch", "2.9.1+cu128", {
            "torch/__init__.py": TORCH_INIT,
            "torch/version.py": "__version__ = '2.9.1+cu128'\ncuda = '12.8'\ngit_version = 'fixture'\n",
        }, ["fixture-dep>=1.0"]), build_wheel(files, "torch", "2.9.1+cpu", {
            "torch/__init__.py": TORCH_INIT,
            "torch/version.py": "__version__ = '2.9.1+cpu'\ncuda = None\ngit_version = 'fixture'\n",
        }, ["fixture-dep>=1.0"])],
        "torchvision": [build_wheel(files, "torchvision", "0.24.1+cu128", {"torchvision/__init__.py": "__version__ = '0.24.1+cu128'\n"})],
        "fixture-dep": [build_wheel(files, "fixture-dep", "1.0", {"fixture_dep/__init__.py": "VALUE = 1\n"})],
    }
    for project, names in wheels.items():
        d = os.path.join(root, "simple", project)
        os.makedirs(d, exist_ok=True)
        links, entries = [], []
        for n in names:
            with open(os.path.join(files, n), "rb") as f:
                sha = hashlib.sha256(f.read()).hexdigest()
            href = "../../files/" + n.replace("+", "%2B")
            links.append(f'<a href="{href}#sha256={sha}" data-requires-python="&gt;=3.8">{n}</a><br/>')
            entries.append({"filename": n, "url": href + "?via=pep691", "hashes": {"sha256": sha}, "requires-python": ">=3.8", "yanked": False})
        with open(os.path.join(d, "index.html"), "w") as f:
            f.write("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")
        with open(os.path.join(d, "index.json"), "w") as f:
            json.dump({"meta": {"api-version": "1.1"}, "name": project, "files": entries}, f)


def main():
    root = sys.argv[1]
    lifetime = float(sys.argv[sys.argv.index("--lifetime") + 1]) if "--lifetime" in sys.argv else 300.0
    serve_json = "--json" in sys.argv
    build(root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def do_GET(self):
            wants_json = "application/vnd.pypi.simple.v1+json" in self.headers.get("Accept", "")
            page = os.path.join(root, self.path.lstrip("/").split("?")[0], "index.json")
            if serve_json and wants_json and self.path.startswith("/simple/") and os.path.isfile(page):
                with open(page, "rb") as f:
                    body = f.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    threading.Timer(lifetime, server.shutdown).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
