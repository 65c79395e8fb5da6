#!/usr/bin/env python3
"""GPU box: how fast the MMDiT's bytes go from the page cache to the GPU, by each way the loader
could copy them, so the background load (src/smoke/pipeline.cpp: BackgroundLoad) is chosen by
measurement:

  python3 tests/tools/gpu_load_probe.py CHECKPOINT [--prefix model.diffusion_model.]

Ways: (a) one pageable .to("cuda") per tensor from the mapping (what the loader does today);
(b) the same into one preallocated device slab (no per-tensor cudaMalloc); (c) N threads copying
the mapping into pinned staging buffers, each with its own stream, async copies into the slab;
(d) like (c) with preadv from the file instead of the mapping; (e) allocation alone. Run (a) last
as well, to see the page cache's state did not favour the first.
"""
import argparse
import json
import mmap
import os
import struct
import threading
import time

import torch


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    return 8 + n, h


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--prefix", default="model.diffusion_model.")
    a = ap.parse_args()
    base, h = header(a.checkpoint)
    spans = sorted((base + v["data_offsets"][0], v["data_offsets"][1] - v["data_offsets"][0])
                   for k, v in h.items() if k.startswith(a.prefix))
    total = sum(n for _, n in spans)
    print(f"{len(spans)} tensors, {total / 1e9:.2f} GB under {a.prefix}", flush=True)
    fd = os.open(a.checkpoint, os.O_RDONLY)
    mm = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    whole = torch.frombuffer(mm, dtype=torch.uint8)
    torch.zeros(1, device="cuda")

    def timed(name, fn):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        keep = fn()
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        print(f"{name:58} {dt:6.3f} s  {total / dt / 1e9:6.2f} GB/s", flush=True)
        del keep
        torch.cuda.empty_cache()

    def pageable():
        return [whole[o:o + n].to("cuda") for o, n in spans]

    def alloc_only():
        return [torch.empty(n, dtype=torch.uint8, device="cuda") for _, n in spans]

    def slab_pageable():
        slab = torch.empty(total, dtype=torch.uint8, device="cuda")
        at = 0
        for o, n in spans:
            slab[at:at + n].copy_(whole[o:o + n])
            at += n
        return slab

    def staged(threads, chunk, use_pread):
        slab = torch.empty(total, dtype=torch.uint8, device="cuda")
        # the work: (file offset, slab offset, bytes) in chunk-sized pieces
        work, at = [], 0
        for o, n in spans:
            for s in range(0, n, chunk):
                work.append((o + s, at + s, min(chunk, n - s)))
            at += n
        lock = threading.Lock()
        it = iter(work)

        def worker():
            stream = torch.cuda.Stream()
            bufs = [torch.empty(chunk, dtype=torch.uint8).pin_memory() for _ in range(2)]
            evs = [None, None]
            k = 0
            while True:
                with lock:
                    item = next(it, None)
                if item is None:
                    break
                fo, so, n = item
                b = bufs[k % 2]
                if evs[k % 2] is not None:
                    evs[k % 2].synchronize()
                if use_pread:
                    os.preadv(fd, [memoryview(b.numpy())[:n]], fo)
                else:
                    b[:n].copy_(whole[fo:fo + n])
                with torch.cuda.stream(stream):
                    slab[so:so + n].copy_(b[:n], non_blocking=True)
                    ev = torch.cuda.Event()
                    ev.record(stream)
                evs[k % 2] = ev
                k += 1
            stream.synchronize()

        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return slab

    timed("(a) pageable .to(cuda) per tensor", pageable)
    timed("(e) torch.empty per tensor (allocation alone)", alloc_only)
    timed("(b) pageable copies into one slab", slab_pageable)
    for th in (2, 4, 8):
        timed(f"(c) {th} threads, memcpy -> pinned 16 MiB x2 -> async", lambda: staged(th, 16 << 20, False))
    for th in (4, 8):
        timed(f"(d) {th} threads, preadv -> pinned 16 MiB x2 -> async", lambda: staged(th, 16 << 20, True))
    timed("(c) 8 threads, memcpy -> pinned 64 MiB x2 -> async", lambda: staged(8, 64 << 20, False))
    timed("(a) again: pageable .to(cuda) per tensor", pageable)
    t0 = time.perf_counter()
    p = torch.empty(256 << 20, dtype=torch.uint8).pin_memory()
    print(f"pinning 256 MiB: {time.perf_counter() - t0:.3f} s; cores {os.cpu_count()}")


if __name__ == "__main__":
    main()
