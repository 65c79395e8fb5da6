#!/usr/bin/env python3
"""GPU box: where one denoise step of the prompt pipeline spends its GPU time, kernel by kernel.

  python3 tests/tools/gpu_profile_pipeline.py PLUGIN.so CHECKPOINT [--steps N] [--size HxW]

Loads the smoke plugin (libsd35smoke.so, built against this Python's torch by `smoke --python`)
into this process through its C entry (src/smoke_api/plugin_abi.h), runs the whole pipeline once
to warm up and once under torch.profiler (CUPTI), and reads the trace: every denoise step of the
requested path runs inside a `sd35.denoise_step.<path>` range (src/smoke/denoise.cpp) that ends
with a device synchronisation (SD35_STEP_SYNC=1, set here for the profiled run only), so the kernels inside a range's time window are that step's. Prints
per step: the window, the GPU-busy time (union of kernel intervals) and the idle gaps, the time by
kernel family (FP8 GEMM, attention, sd35 fused kernels, other elementwise, copies) and the top
kernels. No NVIDIA profiler needed. Token ids are fixed (a short prompt, an empty negative).
"""
import argparse
import ctypes
import json
import os
import re
import sys
import tempfile
from collections import defaultdict

import torch


class Api(ctypes.Structure):
    _fields_ = [("abi_version", ctypes.c_int), ("build_info_json", ctypes.c_char_p),
                ("cuda_available", ctypes.CFUNCTYPE(ctypes.c_int)),
                ("run_smoke", ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)),
                ("device_info", ctypes.CFUNCTYPE(ctypes.c_void_p)),
                ("free_string", ctypes.CFUNCTYPE(None, ctypes.c_void_p))]


def ids(first, pad, n):
    return [first + [pad] * (n - len(first))]


def request(checkpoint, steps, h, w, pixels, repeat=1):
    clip = [49406, 320, 1125, 539, 320, 2368, 49407]
    t5 = [3, 9, 1202, 13, 3, 9, 1712, 1]
    return {"checkpoint": checkpoint, "device": "auto", "precision": "fp8", "latent": [h // 8, w // 8],
            "steps": steps, "guidance": 4.5, "shift": 3.0, "inputs": "", "dump": "", "gemm_probe": False,
            "repeat": repeat,
            "text": {"prompts": ["a photo of a cat"], "negatives": [""],
                     "prompt_ids": {"clip_l": ids(clip, 49407, 77), "clip_g": ids(clip, 0, 77),
                                    "t5xxl": ids(t5, 0, 256)},
                     "negative_ids": {"clip_l": ids([49406, 49407], 49407, 77),
                                      "clip_g": ids([49406, 49407], 0, 77), "t5xxl": ids([1], 0, 256)},
                     "seed": 42, "pixels_out": pixels}}


def run(api, rq):
    ptr = api.run_smoke(json.dumps(rq).encode(), None)
    text = ctypes.cast(ptr, ctypes.c_char_p).value.decode()
    api.free_string(ptr)
    doc = json.loads(text)
    if not doc.get("ok"):
        sys.exit(f"pipeline failed: {json.dumps(doc)[:600]}")
    return doc["result"]


FAMILIES = [("attention", r"fmha|flash|attention|attn|sdpa"),
            ("sd35 fused", r"ln_modulate|gelu_quant|gather_quant|qkv_pack|gate_residual|sd35"),
            ("gemm", r"gemm|nvjet|cutlass|xmma|cublas"),
            ("copy/cat", r"copy|catarray|memcpy|memset|fill"),
            ("elementwise/reduce", r"elementwise|vectorized|reduce|unrolled")]


def family(name):
    low = name.lower()
    for fam, pat in FAMILIES:
        if re.search(pat, low):
            if fam == "gemm":  # FP8 cuBLASLt kernels carry e4m3 / f8 in their names
                return "gemm fp8" if re.search(r"e4m3|f8|fp8|qq", low) else "gemm bf16/other"
            return fam
    return "other"


def busy_ms(intervals):
    total, end = 0.0, -1.0
    for s, e in sorted(intervals):
        if e <= end:
            continue
        total += e - max(s, end)
        end = e
    return total / 1000.0


def analyse(trace, path, range_name=None, top=22):
    """Kernels inside every `range_name` window (default: the denoise steps of `path`, the first
    one left out as the warm-up; a stage range such as sd35.encode counts whole)."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    name = range_name or f"sd35.denoise_step.{path}"
    steps = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                   if e.get("cat") in (None, "user_annotation") and e.get("name") == name)
    gpu = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and "dur" in e]
    if not steps:
        print(f"no {name} ranges in the trace; names seen:",
              sorted({e.get('name') for e in events if e.get('cat') in (None, 'user_annotation')})[:20])
        return
    if range_name:
        steps = [(0, 0)] + steps  # nothing to leave out
    fam = defaultdict(float)
    by_name = defaultdict(lambda: [0.0, 0])
    win_total = busy_total = 0.0
    launches = 0
    for s, e in steps[1:] if len(steps) > 1 else steps:  # the first step warms caches
        inside = [k for k in gpu if k["ts"] >= s and k["ts"] + k["dur"] <= e]
        win_total += (e - s) / 1000.0
        busy_total += busy_ms([(k["ts"], k["ts"] + k["dur"]) for k in inside])
        launches += len(inside)
        for k in inside:
            fam[family(k["name"])] += k["dur"] / 1000.0
            by_name[k["name"]][0] += k["dur"] / 1000.0
            by_name[k["name"]][1] += 1
    n = max(1, len(steps) - 1)
    print(f"== {range_name or path}: {n} profiled {'runs' if range_name else 'steps'}: window {win_total / n:.1f} ms/step, GPU busy {busy_total / n:.1f} ms "
          f"({100 * busy_total / max(win_total, 1e-9):.0f} %), idle {(win_total - busy_total) / n:.1f} ms, "
          f"{launches / n:.0f} kernels/step")
    for f, ms in sorted(fam.items(), key=lambda x: -x[1]):
        print(f"   {f:20} {ms / n:7.2f} ms/step  {100 * ms / max(busy_total, 1e-9):5.1f} %")
    print("   top kernels (ms/step, calls/step):")
    for kname, (ms, calls) in sorted(by_name.items(), key=lambda x: -x[1][0])[:top]:
        print(f"   {ms / n:7.2f} {calls / n:5.0f}  [{family(kname)}] {kname[:150]}")


def print_resident(t):
    """Prompt -> image with the weights on the GPU, in a process that has run the pipeline before
    (cuDNN and cuBLASLt plans cached, kernels loaded), as a resident service runs it."""
    steps = t.get("denoise_steps") or []
    s = sorted(steps)
    stages = {k: t.get(k, 0.0) for k in ("encode", "denoise", "decode")}
    print("resident timings_ms:", json.dumps({k: v for k, v in t.items() if not isinstance(v, list)}))
    print(f"resident prompt -> image (encode + denoise + decode): {sum(stages.values()) / 1000:.3f} s = "
          + " + ".join(f"{k} {v / 1000:.3f}" for k, v in stages.items())
          + (f"; {len(steps)} steps, first {steps[0]:.1f} ms, median {s[len(s) // 2]:.1f} ms, "
             f"min {s[0]:.1f} ms" if steps else ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("plugin")
    ap.add_argument("checkpoint")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--size", default="1024x1024")
    ap.add_argument("--resident-steps", type=int, default=28,
                    help="steps of the un-profiled run in the warmed process (0: skip it)")
    ap.add_argument("--resident-runs", type=int, default=3,
                    help="how many resident runs, one after another in the warmed process")
    ap.add_argument("--kept-runs", type=int, default=3,
                    help="then one call with repeat=N: the weights and the step graph kept loaded")
    args = ap.parse_args()
    h, w = (int(x) for x in args.size.split("x"))
    torch.zeros(1, device="cuda")  # CUDA initialised by torch first, as the CLI's plugin finds it
    # RTLD_LOCAL, as the CLI loads it: the plugin's own symbols must not interpose on torch's.
    lib = ctypes.CDLL(os.path.abspath(args.plugin), mode=os.RTLD_LOCAL | os.RTLD_NOW)
    lib.sd35_smoke_plugin_v3.restype = ctypes.POINTER(Api)
    api = lib.sd35_smoke_plugin_v3().contents
    print("plugin:", api.build_info_json.decode())
    with tempfile.TemporaryDirectory() as tmp:
        pixels = os.path.join(tmp, "pixels")
        warm = run(api, request(args.checkpoint, 2, h, w, pixels))
        print("warm-up timings_ms:", json.dumps({k: v for k, v in warm.get("timings_ms", {}).items()
                                                  if not isinstance(v, list)}))
        for _ in range(args.resident_runs if args.resident_steps > 0 else 0):
            res = run(api, request(args.checkpoint, args.resident_steps, h, w, pixels))
            print_resident(res.get("timings_ms", {}))
            print("resident denoise:", res.get("denoise_mode"), "| steps ms:",
                  [round(x, 1) for x in res.get("timings_ms", {}).get("denoise_steps", [])[:4]])
        if args.kept_runs > 1 and args.resident_steps > 0:
            # One call, the pipeline run kept_runs times: runs 2.. find the weights and the step
            # graph loaded (request "repeat", as `smoke --repeat` sends it).
            res = run(api, request(args.checkpoint, args.resident_steps, h, w, pixels, args.kept_runs))
            for r in res.get("runs", []):
                print(f"kept run {r['run']}: prompt -> pixels {r['prompt_to_png_ms'] / 1000:.3f} s = load "
                      f"{r['load_ms']:.0f} + encode {r['encode_ms']:.1f} + denoise {r['denoise_ms']:.1f} + decode "
                      f"{r['decode_ms']:.1f} + pixels {r['publish_pixels_ms']:.1f} ms (+ the rest); first step "
                      f"{r['first_step_ms']:.1f}, median {r['median_step_ms']:.1f} ms; {r['denoise_mode']}; "
                      f"image {r['fingerprint'][:12]}")
        # Each profiled step ends with a device synchronisation, so its kernels lie inside its range
        # (without it the loop queues the steps back to back: src/smoke/denoise.cpp StepClock).
        os.environ["SD35_STEP_SYNC"] = "1"
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            res = run(api, request(args.checkpoint, args.steps, h, w, pixels))
        t = res.get("timings_ms", {})
        print("profiled timings_ms:", json.dumps({k: (v if not isinstance(v, list) else [round(x, 1) for x in v])
                                                   for k, v in t.items()}))
        print("mmdit path:", res.get("mmdit_path"), "| denoise:", res.get("denoise_mode"))
        trace_path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(trace_path)
        with open(trace_path) as f:
            trace = json.load(f)
    analyse(trace, "fp8")
    analyse(trace, "bf16")
    analyse(trace, "", "sd35.encode", top=12)
    analyse(trace, "", "sd35.decode", top=16)
    return 0


if __name__ == "__main__":
    sys.exit(main())
