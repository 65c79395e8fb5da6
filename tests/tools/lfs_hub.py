#!/usr/bin/env python3
"""Local Hugging Face-like hub for tests: git smart HTTP + Git LFS batch API + object host.

Listener A (127.0.0.1): git smart HTTP through `git http-backend` (CGI), the LFS batch API, /_control,
/_stats. Listener B (127.0.0.2): object bytes for the hrefs the batch API hands out (Range support,
per-action header required, no Authorization needed). Python 3 stdlib only. See docs/testing-hub.md.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hub_faults import FaultTable, Stats  # noqa: E402
from git_cgi import run_cgi  # noqa: E402
from object_serving import serve_object  # noqa: E402

SEG = r"[A-Za-z0-9_][A-Za-z0-9._-]*?"
GIT_RE = re.compile(r"^/(?P<org>%s)/(?P<name>%s)(?:\.git)?/(?P<rest>info/refs|git-upload-pack|"
                    r"git-receive-pack|HEAD|objects/.+)$" % (SEG, SEG))
BATCH_RE = re.compile(r"^/(?P<org>%s)/(?P<name>%s)(?:\.git)?/info/lfs/objects/batch$" % (SEG, SEG))
ALT_BATCH_RE = re.compile(r"^/lfs-alt/(?P<org>%s)/(?P<name>%s)/objects/batch$" % (SEG, SEG))
OBJ_RE = re.compile(r"^/objects/(?P<oid>[0-9a-f]{64})$")
OID_RE = re.compile(r"\A[0-9a-f]{64}\Z")
LFS_JSON = "application/vnd.git-lfs+json"
MAX_BODY = 64 << 20
MAX_CONNECTIONS = 128


def rfc3339(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Hub:
    """Shared state of both listeners."""

    def __init__(self, root, config):
        self.root = os.path.abspath(root)
        self.repos_root = os.path.join(self.root, "repos")
        self.objects_root = os.path.join(self.root, "lfs", "objects")
        self.log_path = os.path.join(self.root, "requests.jsonl")
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.faults = FaultTable()
        self.stats = Stats()
        self.secret = b""  # signs hrefs; kept in the root so hrefs survive a restart
        self.children = set()
        self.log_lines = 0
        self.cfg = {"tokens": [], "repos": {}, "href_ttl_s": 3600, "object_header": "X-Hub-Signature",
                    "max_log_lines": 200000}
        os.makedirs(self.root, exist_ok=True)
        self.load_secret()
        self.apply_control(config)
        self.git_url = self.object_url = ""
        os.makedirs(self.repos_root, exist_ok=True)
        os.makedirs(self.objects_root, exist_ok=True)
        os.makedirs(os.path.join(self.root, "home"), exist_ok=True)

    def apply_control(self, doc):
        if not isinstance(doc, dict):
            raise ValueError("control document must be a JSON object")
        known = {"tokens", "repos", "faults", "append_faults", "href_ttl_s", "object_header",
                 "max_log_lines", "reset_stats", "revoke_hrefs"}
        unknown = set(doc) - known
        if unknown:
            raise ValueError("unknown keys: %s (known: %s)" % (sorted(unknown), sorted(known)))
        for k in ("faults", "append_faults"):  # validate before changing anything
            if k in doc:
                FaultTable.validate(doc[k])
        if "tokens" in doc:
            if not all(isinstance(t, str) and t for t in doc["tokens"]):
                raise ValueError("tokens must be non-empty strings")
            self.cfg["tokens"] = list(doc["tokens"])
        if "repos" in doc:
            for rid, r in doc["repos"].items():
                if r.get("access", "public") not in ("public", "private", "gated"):
                    raise ValueError("repos.%s.access must be public|private|gated" % rid)
            self.cfg["repos"].update(doc["repos"])
        for k in ("href_ttl_s", "object_header", "max_log_lines"):
            if k in doc:
                self.cfg[k] = doc[k]
        if "faults" in doc:
            self.faults.replace(doc["faults"])
        if "append_faults" in doc:
            self.faults.append(doc["append_faults"])
        if doc.get("reset_stats"):
            self.stats.reset()
        if doc.get("revoke_hrefs"):
            self.load_secret(rotate=True)

    # --- auth -------------------------------------------------------------------------------
    @staticmethod
    def token_of(auth):
        """(present, token) from an Authorization header value; any Basic username is accepted."""
        if not auth:
            return False, None
        scheme, _, rest = auth.strip().partition(" ")
        if scheme.lower() == "bearer":
            return True, rest.strip() or None
        if scheme.lower() == "basic":
            try:
                user, _, pw = base64.b64decode(rest.strip(), validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return True, None
            return True, (pw or user) or None
        return True, None

    def check_access(self, repo_id, auth):
        """None when allowed, else (status, error code, message)."""
        present, token = self.token_of(auth)
        valid = token is not None and token in self.cfg["tokens"]
        if present and not valid:
            return 401, "InvalidCredentials", "Invalid credentials in Authorization header"
        rc = self.cfg["repos"].get(repo_id, {})
        access = rc.get("access", "public")
        if access == "public":
            return None
        allow = rc.get("allow")
        allowed = valid and (allow is None or token in allow)
        if access == "private":
            if not valid:
                return 401, "RepoNotFound", "Repository not found (or private): %s; authenticate " \
                                            "with a token" % repo_id
            return None if allowed else (404, "RepoNotFound", "Repository not found: %s" % repo_id)
        if not valid:
            return (rc.get("anonymous_status", 401), "GatedRepo",
                    "Access to model %s is restricted. You must have access to it and be "
                    "authenticated to access it. Please log in." % repo_id)
        if not allowed:
            return (403, "GatedRepo", "Access to model %s is restricted and you are not in the authorized "
                    "list. Visit %s/%s to ask for access." % (repo_id, self.git_url, repo_id))
        return None

    def repo_dir(self, org, name):
        d = os.path.join(self.repos_root, org, name + ".git")
        return d if os.path.isdir(d) else None

    def object_path(self, oid):
        return os.path.join(self.objects_root, oid[0:2], oid[2:4], oid)

    # --- hrefs ------------------------------------------------------------------------------
    # Hrefs are stateless: /objects/<oid>?n=<nonce>&exp=<unix>, and the action header carries
    # HMAC(secret, nonce:exp). The nonce is random per batch, so the header differs per batch.
    def load_secret(self, rotate=False):
        path = os.path.join(self.root, ".href_secret")
        with self.lock:
            if not rotate and os.path.exists(path):
                with open(path, "rb") as f:
                    self.secret = f.read()
                return
            self.secret = secrets.token_bytes(32)
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(self.secret)
            os.replace(tmp, path)

    def sign(self, nonce, exp):
        return hmac.new(self.secret, ("%s:%s" % (nonce, exp)).encode(), hashlib.sha256).hexdigest()

    # --- request log --------------------------------------------------------------------------
    def log(self, entry):
        with self.lock:
            if self.log_lines >= self.cfg["max_log_lines"]:
                return
            self.log_lines += 1
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, sort_keys=True) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sd35-test-hub/1"
    timeout = 30  # idle keep-alive and slow clients

    # ---- plumbing --------------------------------------------------------------------------
    @property
    def hub(self):
        return self.server.hub

    def log_message(self, fmt, *args):  # quiet; the JSONL log is the record
        if self.server.verbose:
            sys.stderr.write("hub: " + (fmt % args) + "\n")

    def send_response(self, code, message=None):
        self._status = code
        super().send_response(code, message)

    def _dispatch(self):
        self._status, self._sent, self._extra = 0, 0, {}
        self.body = b""
        url = urllib.parse.urlsplit(self.path)
        self.url_path, self.query = url.path, urllib.parse.parse_qs(url.query)
        try:
            if self.command in ("POST", "PUT"):
                if not self._read_body():
                    return
            if self.server.role == "git":
                self._route_git()
            else:
                self._route_object()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - answer 500 rather than drop the connection silently
            self.close_connection = True
            sys.stderr.write("hub: internal error on %s %s: %r\n" % (self.command, self.url_path, e))
            if not self._status:
                try:
                    self._json(500, {"message": "hub internal error: %s" % type(e).__name__})
                except OSError:
                    pass
        finally:
            self._log()

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _dispatch

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            parts, total = [], 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    self.close_connection = True
                    self._json(413, {"message": "request body too large"})
                    return False
                parts.append(self.rfile.read(size))
                self.rfile.readline(16)
            self.body = b"".join(parts)
            return True
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            self._json(413, {"message": "request body too large"})
            return False
        self.body = self.rfile.read(n) if n else b""
        return True

    def _log(self):
        h = self.hub
        entry = {"ts": round(time.time(), 3), "listener": self.server.role,
                 "addr": "%s:%d" % self.server.server_address[:2], "method": self.command,
                 "path": self.url_path, "status": self._status, "bytes": self._sent,
                 "headers": sorted({k for k in self.headers.keys()}),
                 "has_authorization": "Authorization" in self.headers}
        if self.server.role == "git":
            entry["query"] = urllib.parse.urlencode(self.query, doseq=True)
        entry.update(self._extra)
        h.log(entry)
        h.stats.bump("requests")
        h.stats.bump_map("status_counts", str(self._status))

    def _send(self, code, body, ctype, headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            self._sent += len(body)

    def _json(self, code, doc, headers=None, ctype="application/json"):
        self._send(code, (json.dumps(doc) + "\n").encode(), ctype, headers)

    def _fault(self, kind, oid=None, target=None):
        f = self.hub.faults.take(kind, oid, target)
        if f:
            self.hub.stats.bump_map("faults_fired", kind)
            self._extra.setdefault("faults", []).append(kind)
        return f

    def _deny(self, repo_id, lfs):
        denied = self.hub.check_access(repo_id, self.headers.get("Authorization"))
        if not denied:
            return False
        code, xcode, msg = denied
        headers = {"X-Error-Code": xcode, "X-Error-Message": msg}
        if code == 401:
            headers["WWW-Authenticate"] = 'Basic realm="sd35 test hub"'
            headers["LFS-Authenticate"] = 'Basic realm="Git LFS"'
        self._json(code, {"error": msg, "message": msg}, headers, LFS_JSON if lfs else "application/json")
        return True

    def _redirect(self, target):
        f = self._fault("redirect", None, target)
        if not f:
            return False
        self._send(int(f["status"]), b"", "text/plain", {"Location": f["location"] + self.path})
        return True

    def _retry_later(self, f):
        ra = str(int(f.get("retry_after", 1)))
        self._json(429, {"message": "rate limited, retry after %s s" % ra}, {"Retry-After": ra})

    # ---- listener A ------------------------------------------------------------------------
    def _route_git(self):
        p = self.url_path
        if p == "/_stats" and self.command == "GET":
            doc = self.hub.stats.snapshot()
            doc["faults"] = self.hub.faults.snapshot()
            return self._json(200, doc)
        if p == "/_control":
            if self.command == "POST":
                try:
                    self.hub.apply_control(json.loads(self.body or b"{}"))
                except (ValueError, AttributeError, TypeError) as e:
                    return self._json(400, {"message": "bad control document: %s" % e})
            cfg = {k: v for k, v in self.hub.cfg.items() if k != "tokens"}
            cfg["token_count"] = len(self.hub.cfg["tokens"])
            return self._json(200, {"ok": True, "config": cfg, "faults": self.hub.faults.snapshot()})
        if p == "/_health":
            return self._json(200, {"ok": True})
        m = BATCH_RE.match(p) or ALT_BATCH_RE.match(p)
        if m:
            if self.command != "POST":
                return self._json(405, {"message": "batch API needs POST"}, {"Allow": "POST"})
            return self._batch(m["org"], m["name"])
        m = GIT_RE.match(p)
        if m:
            return self._git(m["org"], m["name"], m["rest"])
        return self._json(404, {"message": "no such route: %s" % p})

    def _batch(self, org, name):
        h, repo_id = self.hub, "%s/%s" % (org, name)
        h.stats.bump("batch_requests")
        h.stats.bump_map("batch_paths", self.url_path)
        if not h.repo_dir(org, name):
            return self._json(404, {"message": "Repository not found: %s" % repo_id}, None, LFS_JSON)
        if self._redirect("batch"):
            return
        if self._deny(repo_id, True):
            return
        f = self._fault("rate_limit_429", None, "batch")
        if f:
            return self._retry_later(f)
        if self._fault("batch_500"):
            return self._json(500, {"message": "injected internal error"}, None, LFS_JSON)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in (LFS_JSON, "application/json"):
            return self._json(422, {"message": "Content-Type must be %s" % LFS_JSON}, None, LFS_JSON)
        try:
            req = json.loads(self.body)
            objects = req["objects"]
            if not isinstance(objects, list):
                raise ValueError("objects must be an array")
        except (ValueError, KeyError, TypeError) as e:
            return self._json(422, {"message": "malformed batch request: %s" % e}, None, LFS_JSON)
        if req.get("operation") != "download":
            return self._json(403, {"message": "this hub is read-only (operation %r)"
                                    % req.get("operation")}, None, LFS_JSON)
        if "basic" not in (req.get("transfers") or ["basic"]):
            return self._json(422, {"message": "only the basic transfer is offered"}, None, LFS_JSON)
        if len(objects) > 1000:
            return self._json(413, {"message": "too many objects in one batch (max 1000)"}, None, LFS_JSON)
        h.stats.bump("batch_objects", len(objects))
        algo_ok = req.get("hash_algo", "sha256") == "sha256"
        nonce, out = secrets.token_hex(12), []
        for o in objects:
            out.append(self._batch_object(o, algo_ok, nonce))
        self._json(200, {"transfer": "basic", "objects": out, "hash_algo": "sha256"}, None, LFS_JSON)

    def _batch_object(self, o, algo_ok, nonce):
        h = self.hub
        oid, size = (o.get("oid"), o.get("size")) if isinstance(o, dict) else (None, None)
        res = {"oid": oid, "size": size}
        if not algo_ok:
            res["error"] = {"code": 409, "message": "hash algorithm mismatch: only sha256"}
            return res
        if not isinstance(oid, str) or not OID_RE.match(oid) or not isinstance(size, int) or size < 0:
            res["error"] = {"code": 422, "message": "invalid oid or size"}
            return res
        f = self._fault("batch_object_error", oid)
        if f:
            res["error"] = {"code": int(f["code"]), "message": f["message"]}
            return res
        try:
            real = os.path.getsize(h.object_path(oid))
        except OSError:
            res["error"] = {"code": 404, "message": "Object does not exist"}
            return res
        if real != size:
            res["error"] = {"code": 422, "message": "size mismatch: object has %d bytes" % real}
            return res
        now = time.time()
        ttl = 0 if self._fault("expired_href", oid) else int(h.cfg["href_ttl_s"])
        exp = "%.3f" % (now + ttl)  # ttl 0: already expired when the client uses it
        res["authenticated"] = True
        res["actions"] = {"download": {
            "href": "%s/objects/%s?n=%s&exp=%s" % (h.object_url, oid, nonce, exp),
            "header": {h.cfg["object_header"]: h.sign(nonce, exp)},
            "expires_in": ttl,
            "expires_at": rfc3339(now + ttl if ttl else now - 1)}}
        return res

    def _git(self, org, name, rest):
        h, repo_id = self.hub, "%s/%s" % (org, name)
        h.stats.bump("git_requests")
        rdir = h.repo_dir(org, name)
        if not rdir:
            return self._json(404, {"message": "Repository not found: %s" % repo_id})
        if self._redirect("git"):
            return
        if self._deny(repo_id, False):
            return
        service = (self.query.get("service") or [""])[0]
        if rest == "git-receive-pack" or service == "git-receive-pack":
            return self._json(403, {"message": "this hub is read-only"})
        if self._fault("git_500"):
            return self._json(500, {"message": "injected git error"})
        qs = urllib.parse.urlencode(self.query, doseq=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.path.join(h.root, "home"),
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_PROJECT_ROOT": h.repos_root, "GIT_HTTP_EXPORT_ALL": "1",
               "PATH_INFO": "/%s/%s.git/%s" % (org, name, rest), "QUERY_STRING": qs,
               "REQUEST_METHOD": self.command, "CONTENT_TYPE": self.headers.get("Content-Type") or "",
               "CONTENT_LENGTH": str(len(self.body)), "REMOTE_ADDR": self.client_address[0],
               "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
               "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "uploadpack.allowFilter",
               "GIT_CONFIG_VALUE_0": "true"}
        for hdr, var in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "GIT_PROTOCOL"),
                         ("Git-Protocol", "HTTP_GIT_PROTOCOL")):
            if self.headers.get(hdr):
                env[var] = self.headers[hdr]
        run_cgi(self, env)

    # ---- listener B ------------------------------------------------------------------------
    def _route_object(self):
        m = OBJ_RE.match(self.url_path)
        if not m or self.command not in ("GET", "HEAD"):
            return self._json(404, {"message": "no such object route"})
        serve_object(self, m["oid"])


class HubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, hub, role, verbose):
        self.hub, self.role, self.verbose = hub, role, verbose
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(addr, Handler)

    def process_request(self, request, client_address):
        if not self.slots.acquire(timeout=10):
            self.shutdown_request(request)
            return
        t = threading.Thread(target=self._serve_one, args=(request, client_address), daemon=True)
        t.start()

    def _serve_one(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except ssl.SSLError:  # the client refused our certificate (or spoke no TLS)
            self.hub.stats.bump("tls_handshake_failures")
        except Exception:  # noqa: BLE001 - one bad connection must not kill the hub
            if self.verbose:
                self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self.slots.release()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", required=True, help="hub root: repos/, lfs/objects/, requests.jsonl")
    ap.add_argument("--config", help="JSON config (tokens, repos, faults, href_ttl_s, object_header)")
    ap.add_argument("--port-file", required=True, help="written (atomically) once both listeners serve")
    ap.add_argument("--git-host", default="127.0.0.1")
    ap.add_argument("--object-host", default="127.0.0.2")
    ap.add_argument("--git-port", type=int, default=0, help="0 = ephemeral; restart() passes the old one")
    ap.add_argument("--object-port", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=3600, help="exit after this long regardless")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--tls-cert", help="serve HTTPS on both listeners with this PEM certificate chain")
    ap.add_argument("--tls-key", help="the certificate's PEM private key")
    a = ap.parse_args()

    config = {}
    if a.config:
        with open(a.config, encoding="utf-8") as f:
            config = json.load(f)
    hub = Hub(a.root, config)
    git = HubServer((a.git_host, a.git_port), hub, "git", a.verbose)
    obj = HubServer((a.object_host, a.object_port), hub, "object", a.verbose)
    scheme = "http"
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        for s in (git, obj):  # the handshake happens in the request's thread, not in accept()
            s.socket = ctx.wrap_socket(s.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    hub.git_url = "%s://%s:%d" % ((scheme,) + git.server_address[:2])
    hub.object_url = "%s://%s:%d" % ((scheme,) + obj.server_address[:2])
    signal.signal(signal.SIGTERM, lambda *_: hub.stop.set())
    signal.signal(signal.SIGINT, lambda *_: hub.stop.set())
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
               for s in (git, obj)]
    for t in threads:
        t.start()
    tmp = a.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"git_url": hub.git_url, "object_url": hub.object_url, "pid": os.getpid(),
                   "root": hub.root}, f)
    os.replace(tmp, a.port_file)

    parent, deadline = os.getppid(), time.monotonic() + a.max_seconds
    while not hub.stop.wait(0.25):
        if os.getppid() != parent or time.monotonic() > deadline:
            break  # orphaned (test runner died) or over its lifetime: do not linger
    hub.stop.set()
    for s in (git, obj):
        s.shutdown()
        s.server_close()
    with hub.lock:
        kids = list(hub.children)
    for p in kids:
        try:
            p.kill()
            p.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
