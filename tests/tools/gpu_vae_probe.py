#!/usr/bin/env python3
"""GPU box: the SD3 VAE decoder at 1024^2 (random weights of SD3.5's shapes), timed in the ways
src/smoke/vae_decoder.cpp could run it, so a change there is chosen by measurement:

  python3 tests/tools/gpu_vae_probe.py [--size 1024]

Variants: memory format (NCHW / channels_last) x GroupNorm (float32 copy, as the plugin does
today / on bf16 with ATen's float accumulation) x cudnn.benchmark; each the median of 5 after a
warm-up, and its rel L2 against the float32 GroupNorm NCHW result.
"""
import argparse
import time

import torch
import torch.nn.functional as F

LAT, CH = 16, [128, 256, 512, 512]


def conv_w(cout, cin, k, dev):
    return (torch.randn(cout, cin, k, k, device=dev) / (cin * k * k) ** 0.5).bfloat16(), \
        torch.randn(cout, device=dev).bfloat16() * 0.01


def make(dev):
    def resnet(cin, cout):
        r = {"n1": (torch.ones(cin, device=dev), torch.zeros(cin, device=dev)), "c1": conv_w(cout, cin, 3, dev),
             "n2": (torch.ones(cout, device=dev), torch.zeros(cout, device=dev)), "c2": conv_w(cout, cout, 3, dev)}
        if cin != cout:
            r["sc"] = conv_w(cout, cin, 1, dev)
        return r
    m = {"conv_in": conv_w(512, LAT, 3, dev), "mid1": resnet(512, 512), "mid2": resnet(512, 512),
         "attn_n": (torch.ones(512, device=dev), torch.zeros(512, device=dev)),
         "q": conv_w(512, 512, 1, dev), "k": conv_w(512, 512, 1, dev), "v": conv_w(512, 512, 1, dev),
         "o": conv_w(512, 512, 1, dev), "levels": [],
         "norm_out": (torch.ones(128, device=dev), torch.zeros(128, device=dev)), "conv_out": conv_w(3, 128, 3, dev)}
    rev = list(reversed(CH))
    cin = 512
    for i, c in enumerate(rev):
        blocks = []
        for _ in range(3):
            blocks.append(resnet(cin, c))
            cin = c
        up = conv_w(c, c, 3, dev) if i < len(rev) - 1 else None
        m["levels"].append((blocks, up))
    return m


def run(m, z, cl, gn_bf16):
    fmt = torch.channels_last if cl else torch.contiguous_format

    def conv(w, x):
        return F.conv2d(x, w[0], w[1], padding=w[0].shape[-1] // 2)

    def gn(x, n):
        if gn_bf16:
            return F.group_norm(x, 32, n[0].bfloat16(), n[1].bfloat16(), 1e-6)
        return F.group_norm(x.float(), 32, n[0], n[1], 1e-6).bfloat16()

    def resnet(r, x):
        h = conv(r["c1"], F.silu(gn(x, r["n1"])))
        h = conv(r["c2"], F.silu(gn(h, r["n2"])))
        return (conv(r["sc"], x) if "sc" in r else x) + h

    def attn(x):
        h = gn(x, m["attn_n"])
        b, c, hh, ww = x.shape
        q, k, v = (conv(m[n], h).reshape(b, 1, c, hh * ww).transpose(-1, -2) for n in "qkv")
        o = F.scaled_dot_product_attention(q, k, v).transpose(-1, -2).reshape(b, c, hh, ww)
        return x + conv(m["o"], o.contiguous(memory_format=fmt))

    x = conv(m["conv_in"], z.contiguous(memory_format=fmt))
    x = resnet(m["mid2"], attn(resnet(m["mid1"], x)))
    for blocks, up in m["levels"]:
        for r in blocks:
            x = resnet(r, x)
        if up is not None:
            x = conv(up, F.interpolate(x, scale_factor=2.0, mode="nearest"))
    x = F.silu(gn(x, m["norm_out"]))
    return conv(m["conv_out"], x).float()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024)
    a = ap.parse_args()
    dev = "cuda"
    torch.manual_seed(0)
    m = make(dev)
    z = torch.randn(1, LAT, a.size // 8, a.size // 8, device=dev).bfloat16()
    ref = None
    with torch.inference_mode():
        for bench in (False, True):
            torch.backends.cudnn.benchmark = bench
            for cl in (False, True):
                fmt = torch.channels_last if cl else torch.contiguous_format
                mm = {k: v for k, v in m.items()}
                # weights in the same memory format as the activations
                def fmtw(w):
                    return (w[0].contiguous(memory_format=fmt) if w[0].dim() == 4 else w[0], w[1])
                conv_keys = ["conv_in", "q", "k", "v", "o", "conv_out"]
                for k in conv_keys:
                    mm[k] = fmtw(m[k])
                def fres(r):
                    return {k: (fmtw(v) if k in ("c1", "c2", "sc") else v) for k, v in r.items()}
                mm["mid1"], mm["mid2"] = fres(m["mid1"]), fres(m["mid2"])
                mm["levels"] = [([fres(r) for r in bl], fmtw(up) if up is not None else None)
                                for bl, up in m["levels"]]
                for gbf in (False, True):
                    out = run(mm, z, cl, gbf)
                    torch.cuda.synchronize()
                    ts = []
                    for _ in range(5):
                        t0 = time.perf_counter()
                        out = run(mm, z, cl, gbf)
                        torch.cuda.synchronize()
                        ts.append((time.perf_counter() - t0) * 1000)
                    if ref is None:
                        ref = out
                    err = ((out - ref).norm() / ref.norm()).item()
                    print(f"vae {a.size}^2 cudnn.benchmark={int(bench)} {'channels_last' if cl else 'NCHW         '} "
                          f"GroupNorm {'bf16' if gbf else 'f32 '}: median {sorted(ts)[2]:7.1f} ms "
                          f"(min {min(ts):6.1f}) rel L2 vs first {err:.2e}", flush=True)
    print(f"peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
