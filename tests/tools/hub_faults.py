"""Fault table and counters for lfs_hub.py (stdlib only).

A fault is a dict {"kind": K, "count": N, "oid": optional, "skip": optional, ...params}. count is how
many times it may still fire (-1 = unlimited); skip lets that many matching requests pass first. Each
live fault applies to the next matching request on its own, so two object faults set together both hit
the same (next) object GET unless skip or oid separates them. Faults are consumed in list order: the first live fault of the asked kind
whose oid filter matches fires and its count drops by one.
"""

import threading

KINDS = {
    # kind: (where it applies, default params)
    "reset_mid_object": ("object", {"after_bytes": None}),  # send half (or after_bytes), close
    "batch_500": ("batch", {}),                    # batch answers 500 {"message": ...}
    "rate_limit_429": ("any", {"retry_after": 1, "target": "any"}),  # target: batch|object|any
    "flip_byte": ("object", {"offset": None}),     # absolute offset; default size//2 (or first byte sent)
    "expired_href": ("batch", {}),                 # batch hands out an already-expired href
    "ignore_range": ("object", {}),                # 200 with the full body even when Range was sent
    "stall": ("object", {"after_bytes": 65536, "seconds": 5}),  # send some bytes, sleep, go on
    "slow_bytes_per_s": ("object", {"bytes_per_s": 1048576}),   # throttle the body
    "batch_object_error": ("batch", {"code": 404, "message": "injected object error"}),
    "git_500": ("git", {}),                        # git smart-HTTP request answers 500
    # target batch|git: answers `status` with Location = location + the request's path and query
    "redirect": ("any", {"target": "batch", "location": "", "status": 307}),
}

MAX_INTERVALS_PER_OID = 4096


class FaultTable:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    @staticmethod
    def validate(faults):
        if not isinstance(faults, list):
            raise ValueError("faults must be a JSON array")
        out = []
        for i, f in enumerate(faults):
            if not isinstance(f, dict) or f.get("kind") not in KINDS:
                raise ValueError("faults[%d]: unknown kind %r (known: %s)"
                                 % (i, f.get("kind") if isinstance(f, dict) else f,
                                    ", ".join(sorted(KINDS))))
            count = f.get("count", 1)
            if not isinstance(count, int) or count < -1:
                raise ValueError("faults[%d].count must be an integer >= -1" % i)
            g = dict(KINDS[f["kind"]][1])
            g.update(f)
            g["count"] = count
            g.setdefault("fired", 0)
            out.append(g)
        return out

    def replace(self, faults):
        v = self.validate(faults)
        with self._lock:
            self._faults = v

    def append(self, faults):
        v = self.validate(faults)
        with self._lock:
            self._faults.extend(v)

    def snapshot(self):
        with self._lock:
            return [dict(f) for f in self._faults]

    def take(self, kind, oid=None, target=None):
        """Returns a copy of the fault that fires now, or None."""
        with self._lock:
            for f in self._faults:
                if f["kind"] != kind or f["count"] == 0:
                    continue
                if f.get("oid") and oid is not None and f["oid"] != oid:
                    continue
                if f.get("oid") and oid is None:
                    continue
                if target and f.get("target", "any") not in ("any", target):
                    continue
                if f.get("skip", 0) > 0:  # let this many matching requests pass first
                    f["skip"] -= 1
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                f["fired"] += 1
                return dict(f)
        return None


class Stats:
    """Counters served by GET /_stats. All updates go through one lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.c = {
                "requests": 0, "git_requests": 0, "batch_requests": 0, "batch_objects": 0,
                "object_requests": 0, "range_requests": 0, "bytes_served": 0,
                "authorization_on_object_listener": 0, "active_object_requests": 0,
                "max_concurrent_object_requests": 0, "status_counts": {}, "faults_fired": {},
                "bytes_served_per_oid": {}, "object_requests_per_oid": {},
                "range_requests_per_oid": {}, "served_intervals": {}, "batch_paths": {},
                "tls_handshake_failures": 0,
            }

    def bump(self, key, n=1):
        with self._lock:
            self.c[key] = self.c.get(key, 0) + n

    def bump_map(self, key, sub, n=1):
        with self._lock:
            m = self.c[key]
            m[sub] = m.get(sub, 0) + n

    def object_begin(self, oid, is_range):
        with self._lock:
            c = self.c
            c["object_requests"] += 1
            c["object_requests_per_oid"][oid] = c["object_requests_per_oid"].get(oid, 0) + 1
            if is_range:
                c["range_requests"] += 1
                c["range_requests_per_oid"][oid] = c["range_requests_per_oid"].get(oid, 0) + 1
            c["active_object_requests"] += 1
            c["max_concurrent_object_requests"] = max(c["max_concurrent_object_requests"],
                                                      c["active_object_requests"])

    def object_end(self, oid, start, sent):
        with self._lock:
            c = self.c
            c["active_object_requests"] -= 1
            c["bytes_served"] += sent
            c["bytes_served_per_oid"][oid] = c["bytes_served_per_oid"].get(oid, 0) + sent
            iv = c["served_intervals"].setdefault(oid, [])
            if len(iv) < MAX_INTERVALS_PER_OID:
                iv.append([start, sent])

    def snapshot(self):
        with self._lock:
            import copy
            return copy.deepcopy(self.c)
