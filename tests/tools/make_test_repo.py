#!/usr/bin/env python3
"""Builds a bare git repo with LFS files inside an lfs_hub.py root; prints a JSON description.

  make_test_repo.py --root HUBROOT [--spec FILE|-] [--org O --name N]

Uses git plumbing (hash-object, update-index, write-tree, commit-tree) in the bare repo, so no
working tree and no LFS filter run; LFS objects go to HUBROOT/lfs/objects/<oid[0:2]>/<oid[2:4]>/<oid>.
Never touches the user's git config (GIT_CONFIG_NOSYSTEM=1, temporary HOME). See docs/testing-hub.md.
"""

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
BLOCK = 16 << 20

DEFAULT_SPEC = {
    "commits": [{
        "message": "initial",
        "tag": "v1.0",
        "files": [
            {"path": "README.md", "content": "# test model\n\nA tiny repo served by lfs_hub.py.\n"},
            {"path": "config.json", "content": '{"_class_name": "StableDiffusion3Pipeline"}\n'},
            {"path": "transformer/config.json", "content": '{"num_layers": 2, "patch_size": 2}\n'},
            {"path": "model.safetensors", "lfs": True, "size": 1 << 20, "seed": 1},
            {"path": "transformer/diffusion_pytorch_model.safetensors", "lfs": True, "size": 300000,
             "seed": 2},
        ],
    }],
}


def fail(msg):
    sys.stderr.write("make_test_repo: %s\n" % msg)
    sys.exit(2)


def content_blocks(size, seed):
    """Incompressible, deterministic for (size, seed); AES-CTR via openssl when big (fast)."""
    if size >= BLOCK and shutil.which("openssl"):
        key = hashlib.sha256(b"lfs-hub-seed-%d" % seed).hexdigest()[:32]
        p = subprocess.Popen(["openssl", "enc", "-aes-128-ctr", "-K", key, "-iv", "0" * 32, "-nosalt",
                              "-in", "/dev/zero"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            left = size
            while left:
                b = p.stdout.read(min(BLOCK, left))
                if not b:
                    fail("openssl stopped early")
                left -= len(b)
                yield b
        finally:
            p.kill()
            p.wait()
        return
    rng = random.Random(seed)
    left = size
    while left:
        n = min(BLOCK, left)
        left -= n
        yield rng.randbytes(n)


def file_blocks(spec):
    if "content" in spec:
        yield spec["content"].encode()
    elif "content_b64" in spec:
        yield base64.b64decode(spec["content_b64"])
    elif "from_file" in spec:
        with open(spec["from_file"], "rb") as f:
            while True:
                b = f.read(BLOCK)
                if not b:
                    break
                yield b
    elif "size" in spec:
        yield from content_blocks(int(spec["size"]), int(spec.get("seed", 0)))
    else:
        fail("file %s needs content, content_b64, from_file or size" % spec.get("path"))


class Builder:
    def __init__(self, root, org, name, branch):
        self.root = os.path.abspath(root)
        self.repo = os.path.join(self.root, "repos", org, name + ".git")
        self.objects = os.path.join(self.root, "lfs", "objects")
        self.home = tempfile.mkdtemp(prefix="mkrepo-home-")
        self.index = os.path.join(self.home, "index")
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.home,
                    "GIT_CONFIG_NOSYSTEM": "1", "GIT_DIR": self.repo, "GIT_INDEX_FILE": self.index,
                    "GIT_AUTHOR_NAME": "Hub Test", "GIT_AUTHOR_EMAIL": "hub@test.invalid",
                    "GIT_COMMITTER_NAME": "Hub Test", "GIT_COMMITTER_EMAIL": "hub@test.invalid",
                    "LC_ALL": "C"}
        if os.path.exists(self.repo):
            fail("repo already exists: %s" % self.repo)
        os.makedirs(os.path.dirname(self.repo), exist_ok=True)
        self.git("init", "--bare", "-q", "-b", branch, self.repo)
        self.branch = branch

    def git(self, *args, stdin=None):
        r = subprocess.run(["git", *args], input=stdin, capture_output=True, env=self.env, timeout=120)
        if r.returncode:
            fail("git %s: %s" % (" ".join(args[:2]), r.stderr.decode(errors="replace").strip()))
        return r.stdout.decode().strip()

    def blob(self, data):
        return self.git("hash-object", "-w", "--stdin", stdin=data)

    def lfs_object(self, spec):
        """Streams the content into the store; returns (oid, size)."""
        os.makedirs(self.objects, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.objects, prefix=".incoming-")
        h, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as f:
            for b in file_blocks(spec):
                h.update(b)
                f.write(b)
                size += len(b)
        oid = h.hexdigest()
        if spec.get("place_object", True) and size:
            dst = os.path.join(self.objects, oid[0:2], oid[2:4], oid)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.replace(tmp, dst)
        else:
            os.unlink(tmp)
        return oid, size

    def add_file(self, tree, spec):
        path = spec["path"].strip("/")
        if spec.get("delete"):
            tree.pop(path, None)
            return
        if spec.get("lfs"):
            oid, size = self.lfs_object(spec)
            pointer = (POINTER % (oid, size)).encode() if size else b""
            tree[path] = {"path": path, "lfs": True, "size": size, "sha256": oid, "oid": oid,
                          "blob_sha1": self.blob(pointer), "pointer": pointer.decode(),
                          "object_placed": bool(spec.get("place_object", True) and size)}
        else:
            data = b"".join(file_blocks(spec))
            tree[path] = {"path": path, "lfs": False, "size": len(data),
                          "sha256": hashlib.sha256(data).hexdigest(), "blob_sha1": self.blob(data)}

    def commit(self, tree, message, parent, n):
        if os.path.exists(self.index):
            os.unlink(self.index)
        lines = "".join("100644 %s\t%s\n" % (f["blob_sha1"], p) for p, f in sorted(tree.items()))
        self.git("update-index", "--add", "--index-info", stdin=lines.encode())
        tid = self.git("write-tree")
        date = "%d +0000" % (1735689600 + 60 * n)  # fixed dates: same spec -> same commit ids
        self.env["GIT_AUTHOR_DATE"] = self.env["GIT_COMMITTER_DATE"] = date
        args = ["commit-tree", tid, "-m", message] + (["-p", parent] if parent else [])
        return self.git(*args)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", required=True, help="lfs_hub.py root directory")
    ap.add_argument("--spec", help="JSON spec file, '-' for stdin; default: a small SD3-like repo")
    ap.add_argument("--org", help="overrides spec.org (default acme)")
    ap.add_argument("--name", help="overrides spec.name (default tiny)")
    a = ap.parse_args()
    spec = DEFAULT_SPEC
    if a.spec:
        spec = json.load(sys.stdin if a.spec == "-" else open(a.spec, encoding="utf-8"))
    org, name = a.org or spec.get("org", "acme"), a.name or spec.get("name", "tiny")
    commits = spec.get("commits")
    if commits is None:
        base = DEFAULT_SPEC["commits"][0]
        commits = [{"message": spec.get("message", "initial"), "tag": spec.get("tag", "v1.0"),
                    "files": spec.get("files", base["files"])}]
    b = Builder(a.root, org, name, spec.get("branch", "main"))
    try:
        tree, parent, out_commits, tags = {}, None, [], {}
        for n, c in enumerate(commits):
            for fspec in c.get("files", []):
                b.add_file(tree, fspec)
            lfs_paths = sorted(p for p, f in tree.items() if f["lfs"])
            extra = []
            if lfs_paths:
                attrs = spec.get("gitattributes") or "".join(
                    "%s filter=lfs diff=lfs merge=lfs -text\n" % p.replace(" ", "[[:space:]]")
                    for p in lfs_paths)
                extra.append({"path": ".gitattributes", "content": attrs})
            if spec.get("lfsconfig_url"):
                extra.append({"path": ".lfsconfig", "content": "[lfs]\n\turl = %s\n" % spec["lfsconfig_url"]})
            for e in extra:
                b.add_file(tree, e)
            sha = b.commit(tree, c.get("message", "commit %d" % n), parent, n)
            parent = sha
            out_commits.append({"sha": sha, "message": c.get("message", "commit %d" % n),
                                "files": sorted(tree)})
            if c.get("tag"):
                if c.get("tag_annotated"):
                    b.git("tag", "-a", c["tag"], "-m", "tag " + c["tag"], sha)
                else:
                    b.git("update-ref", "refs/tags/" + c["tag"], sha)
                tags[c["tag"]] = sha
        b.git("update-ref", "refs/heads/" + b.branch, parent)
        b.git("update-server-info")
    finally:
        shutil.rmtree(b.home, ignore_errors=True)
    json.dump({"repo": "%s/%s" % (org, name), "path": b.repo, "branch": b.branch, "head": parent,
               "commits": out_commits, "tags": tags, "files": [tree[p] for p in sorted(tree)]},
              sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
