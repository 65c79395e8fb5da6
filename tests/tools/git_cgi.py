"""git smart HTTP for lfs_hub.py: runs the real `git http-backend` as a CGI (RFC 3875)."""

import subprocess
import sys
import threading

CGI_TIMEOUT_S = 300
CHUNK = 256 << 10


def run_cgi(handler, env):
    """Runs `git http-backend` for `handler` and streams its answer (chunked)."""
    h = handler.hub
    p = subprocess.Popen(["git", "http-backend"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, close_fds=True)
    with h.lock:
        h.children.add(p)
    killer = threading.Timer(CGI_TIMEOUT_S, p.kill)
    killer.daemon = True
    killer.start()
    err = []

    def feed():
        try:
            p.stdin.write(handler.body)
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                p.stdin.close()
            except OSError:
                pass

    def drain():
        err.append(p.stderr.read(65536))
        p.stderr.read()

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain, daemon=True)]
    for t in threads:
        t.start()
    try:
        status, headers = 200, []
        while True:
            line = p.stdout.readline(8192)
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            if k.strip().lower() == "status":
                status = int(v.strip().split()[0])
            else:
                headers.append((k.strip(), v.strip()))
        handler.send_response(status)
        for k, v in headers:
            handler.send_header(k, v)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        while True:
            data = p.stdout.read1(CHUNK)
            if not data:
                break
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            handler._sent += len(data)
        handler.wfile.write(b"0\r\n\r\n")
    finally:
        killer.cancel()
        if p.poll() is None:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for t in threads:
            t.join(timeout=5)
        for s in (p.stdout, p.stderr):
            s.close()
        with h.lock:
            h.children.discard(p)
        if p.returncode and handler.server.verbose:
            sys.stderr.write("hub: http-backend exit %s: %r\n" % (p.returncode, b"".join(err)[:500]))
