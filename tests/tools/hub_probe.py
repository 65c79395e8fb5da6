#!/usr/bin/env python3
"""Tiny LFS client for hub conformance tests: one batch request, then (optionally) one object GET.

  hub_probe.py --batch-url URL --oid OID --size N [--range S-E] [--no-get] [--no-action-header]
               [--token-env VAR] [--get-delay S] [--timeout S]

Prints one JSON document: batch_status, batch_headers, batch (parsed body), get_status, get_headers,
received, sha256 (of the bytes received), error (string or null). The token is read from the
environment variable named by --token-env, never from argv. Stdlib only.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import sys
import time
import urllib.parse


def request(url, method, headers, body=None, timeout=10.0):
    u = urllib.parse.urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    path = u.path + ("?" + u.query if u.query else "")
    c.request(method, path, body=body, headers=headers)
    return c, c.getresponse()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-url", required=True)
    ap.add_argument("--oid", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--range")
    ap.add_argument("--no-get", action="store_true")
    ap.add_argument("--no-action-header", action="store_true")
    ap.add_argument("--token-env")
    ap.add_argument("--get-delay", type=float, default=0)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--action-json", help="skip the batch: GET with this download action {href, header}")
    a = ap.parse_args()
    out = {"batch_status": None, "get_status": None, "received": 0, "sha256": None, "error": None}
    hdrs = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
    if a.token_env and os.environ.get(a.token_env):
        cred = base64.b64encode(("hf_user:" + os.environ[a.token_env]).encode()).decode()
        hdrs["Authorization"] = "Basic " + cred
    if a.action_json:
        action = json.loads(a.action_json)
        out["batch_status"] = 0
    else:
        action = batch(a, out, hdrs)
    if action and not a.no_get:
        get(a, out, action)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


def batch(a, out, hdrs):
    body = json.dumps({"operation": "download", "transfers": ["basic"], "ref": {"name": "refs/heads/main"},
                       "objects": [{"oid": a.oid, "size": a.size}], "hash_algo": "sha256"})
    c, r = request(a.batch_url, "POST", hdrs, body.encode(), a.timeout)
    out["batch_status"], out["batch_headers"] = r.status, dict(r.getheaders())
    raw = r.read()
    c.close()
    try:
        out["batch"] = json.loads(raw)
    except ValueError:
        out["batch"] = raw.decode(errors="replace")
    action = None
    if r.status == 200:
        obj = out["batch"]["objects"][0]
        action = obj.get("actions", {}).get("download")
    return action


def get(a, out, action):
    time.sleep(a.get_delay)
    gh = {} if a.no_action_header else dict(action.get("header") or {})
    if a.range:
        gh["Range"] = "bytes=" + a.range
    h, n = hashlib.sha256(), 0
    try:
        c, g = request(action["href"], "GET", gh, None, a.timeout)
        out["get_status"], out["get_headers"] = g.status, dict(g.getheaders())
        while True:
            b = g.read1(1 << 16)
            if not b:
                break
            h.update(b)
            n += len(b)
            out["received"] = n
        if g.length:  # http.client leaves the announced-but-missing count here
            out["error"] = "incomplete body: %d bytes missing" % g.length
        c.close()
    except (OSError, http.client.HTTPException) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    out["sha256"] = h.hexdigest()


if __name__ == "__main__":
    sys.exit(main())
