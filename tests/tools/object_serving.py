"""Object listener (127.0.0.2) of lfs_hub.py: signed, expiring hrefs with Range support and faults."""

import hmac
import os
import re
import socket
import time

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 << 10


def parse_range(value, size):
    """(start, end_inclusive) | None (no usable range: serve all) | "416"."""
    if not value:
        return None
    m = RANGE_RE.match(value.strip())
    if not m or (not m[1] and not m[2]):
        return None  # multi-range or junk: RFC 9110 lets a server ignore it
    if not m[1]:  # suffix: last N bytes
        n = int(m[2])
        if n == 0 or size == 0:
            return "416"
        return max(0, size - n), size - 1
    start = int(m[1])
    end = int(m[2]) if m[2] else size - 1
    if start >= size or end < start:
        return "416"
    return start, min(end, size - 1)


def serve_object(h, oid):
    hub = h.hub
    h._extra.update({"oid": oid, "range": "Range" in h.headers})
    if "Authorization" in h.headers:
        hub.stats.bump("authorization_on_object_listener")
    nonce, exp = (h.query.get("n") or [""])[0], (h.query.get("exp") or [""])[0]
    try:
        expiry = float(exp)
    except ValueError:
        return h._json(403, {"message": "malformed href; ask the batch API again"})
    sent = h.headers.get(hub.cfg["object_header"]) or ""
    if not hmac.compare_digest(sent, hub.sign(nonce, exp)):
        return h._json(403, {"message": "missing or wrong %s header (send the action's header map), or "
                             "a revoked href" % hub.cfg["object_header"]})
    if time.time() >= expiry:
        return h._json(403, {"message": "expired: this href expired; ask the batch API again"})
    f = h._fault("rate_limit_429", oid, "object")
    if f:
        return h._retry_later(f)
    path = hub.object_path(oid)
    try:
        fobj = open(path, "rb")
    except OSError:
        return h._json(404, {"message": "object missing from the store"})
    with fobj:
        size = os.fstat(fobj.fileno()).st_size
        rng = parse_range(h.headers.get("Range"), size)
        if rng is not None and h._fault("ignore_range", oid):
            rng = None
        if rng == "416":
            return h._send(416, b"", "application/octet-stream", {"Content-Range": "bytes */%d" % size})
        start, end = rng if rng else (0, size - 1)
        length = end - start + 1 if size else 0
        h.send_response(206 if rng else 200)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(length))
        h.send_header("Accept-Ranges", "bytes")
        h.send_header("ETag", '"%s"' % oid)
        if rng:
            h.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        h.end_headers()
        if h.command == "HEAD" or length == 0:
            return None
        hub.stats.object_begin(oid, rng is not None)
        try:
            _send_body(h, fobj, oid, start, length, size)
        finally:
            hub.stats.object_end(oid, start, h._sent)
    return None


def _send_body(h, fobj, oid, start, length, size):
    reset = h._fault("reset_mid_object", oid)
    flip = h._fault("flip_byte", oid)
    stall = h._fault("stall", oid)
    slow = h._fault("slow_bytes_per_s", oid)
    limit = min(length, int(reset.get("after_bytes") or length // 2)) if reset else length
    if not (reset or flip or stall or slow):
        h._sent += h.connection.sendfile(fobj, start, length)
        return
    flip_at = None
    if flip:
        off = flip.get("offset")
        off = size // 2 if off is None else int(off)
        flip_at = off if start <= off <= start + length - 1 else start
    stall_at = int(stall["after_bytes"]) if stall else None
    rate = float(slow["bytes_per_s"]) if slow else None
    step = min(CHUNK, max(1024, int(rate / 10))) if rate else CHUNK
    fobj.seek(start)
    t0 = time.monotonic()
    while h._sent < limit:
        n = min(step, limit - h._sent)
        if stall_at is not None and h._sent < stall_at:
            n = min(n, stall_at - h._sent)
        data = bytearray(fobj.read(n))
        if not data:
            break
        pos = start + h._sent
        if flip_at is not None and pos <= flip_at < pos + len(data):
            data[flip_at - pos] ^= 0xFF
        h.wfile.write(data)
        h._sent += len(data)
        if stall_at is not None and h._sent >= stall_at:
            stall_at = None
            h.hub.stop.wait(float(stall["seconds"]))
        if rate:
            ahead = h._sent / rate - (time.monotonic() - t0)
            if ahead > 0 and h.hub.stop.wait(ahead):
                break
    if reset:
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
