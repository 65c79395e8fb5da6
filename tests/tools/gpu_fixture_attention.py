#!/usr/bin/env python3
"""GPU box: how far the FP8 joint attention moves the fixture pipeline (tests/data/sd3-pipeline).

  python3 tests/tools/gpu_fixture_attention.py PLUGIN.so

Runs the pipe-large fixture (diffusers' StableDiffusion3Pipeline outputs, 4 steps at 128^2, its
starting noise) through the smoke plugin on CUDA: fp8 with the fused kernels and cuDNN's FP8
attention, the same with bf16 attention (SD35_FP8_ATTENTION=0), and bf16 compute, each against
the reference's fp32 run on the same FP8 weights (latents_out_fp8_weights, image_fp8_weights).
"""
import json
import os
import sys
import tempfile

import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gpu_profile_pipeline import Api, run  # noqa: E402

import ctypes  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "sd3-pipeline",
                   "pipe-large")


def request(ref, precision, dump):
    n = len(ref["prompts"])
    ids = ref["token_ids"]
    rows = lambda enc, a, b: [ids[f"{enc}/{i}"] for i in range(a, b)]  # noqa: E731
    text = {"prompts": ref["prompts"], "negatives": ref["negative_prompts"],
            "prompt_ids": {e: rows(e, 0, n) for e in ("clip_l", "clip_g", "t5xxl")},
            "negative_ids": {e: rows(e, n, 2 * n) for e in ("clip_l", "clip_g", "t5xxl")},
            "seed": 0, "pixels_out": ""}
    return {"checkpoint": os.path.join(FIX, "pipe-large_all_in_one_fp8.safetensors"),
            "device": "cuda", "precision": precision,
            "latent": [ref["height"] // 8, ref["width"] // 8], "steps": ref["steps"],
            "guidance": ref["guidance"], "shift": ref["shift"],
            "inputs": os.path.join(FIX, "reference.safetensors"), "dump": dump,
            "gemm_probe": False, "text": text}


def rel(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def main():
    torch.zeros(1, device="cuda")
    lib = ctypes.CDLL(os.path.abspath(sys.argv[1]), mode=os.RTLD_LOCAL | os.RTLD_NOW)
    lib.sd35_smoke_plugin_v3.restype = ctypes.POINTER(Api)
    api = lib.sd35_smoke_plugin_v3().contents
    ref = json.load(open(os.path.join(FIX, "reference.json")))
    want = load_file(os.path.join(FIX, "reference.safetensors"))
    print("diffusers' own fp8-vs-bf16 figures:", json.dumps(ref.get("fp8_vs_bf16_rel_l2")))
    with tempfile.TemporaryDirectory() as tmp:
        # The encoders run on three threads and streams by default; the last row runs them in
        # turn, so prompt_embeds shows both against transformers.
        for i, (name, precision, env, parallel) in enumerate((
                ("fp8 fused, FP8 attention", "fp8", "1", "1"),
                ("fp8 fused, bf16 attention", "fp8", "0", "1"),
                ("bf16", "bf16", "1", "1"),
                ("fp8, encoders in turn", "fp8", "1", "0"))):
            os.environ["SD35_FP8_ATTENTION"] = env
            os.environ["SD35_PARALLEL_ENCODE"] = parallel
            dump = os.path.join(tmp, f"{i}.safetensors")
            res = run(api, request(ref, precision, dump))
            got = load_file(dump)
            print(f"{name:28} attention: {res.get('attention')!s:55.55} latents rel L2 "
                  f"{rel(got['latents_out'], want['latents_out_fp8_weights']):.4f}, image "
                  f"{rel(got['image'], want['image_fp8_weights']):.4f}, prompt_embeds "
                  f"{rel(got['prompt_embeds'], want['prompt_embeds_fp8_weights']):.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
