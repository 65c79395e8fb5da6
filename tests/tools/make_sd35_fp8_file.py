#!/usr/bin/env python3
"""Writes a synthetic SD3.5-Large-shaped ComfyUI scaled-FP8 all-in-one safetensors file.

  make_sd35_fp8_file.py OUT [--small] [--seed N]

The layout is that of Comfy-Org/stable-diffusion-3.5-fp8 `sd3.5_large_fp8_scaled.safetensors`
(shared/reference/sd3-model-hub-lfs.md §2.2, §2.3; the key set is the one of sai_fp8_mmdit() in
tests/torch/mmdit_resident_test.cpp, which is checked against the tiny scaled-FP8 fixture):

* `model.diffusion_model.*`: SD3.5 Large's MMDiT (38 joint blocks, hidden 2432 = 38 heads x 64,
  patch 2, 16 in/out channels, pos_embed_max_size 192, context 4096 -> 2432, pooled 2048, RMS
  qk-norm, `context_pre_only` last context block). Every Linear of the joint blocks is F8_E4M3 with a
  0-d F32 `.scale_weight` and a BF16 bias; embedders, final layer and pos_embed stay BF16; the
  `model.diffusion_model.scaled_fp8` marker is an empty F8_E4M3 tensor.
* Everything the prompt pipeline loads (src/smoke/text_model_load.cpp), at real sizes, so the file
  is a complete all-in-one checkpoint for `smoke --prompt` (~15.2 GB; the real one: 14,934,922,866
  bytes):
  - `text_encoders.clip_l.transformer.*` (F16): CLIP-L, 768 wide, 12 layers, ff 3072, vocab 49408,
    77 positions, `text_projection.weight` [768, 768];
  - `text_encoders.clip_g.transformer.*` (F16): CLIP-G, 1280 wide, 32 layers, ff 5120, vocab 49408,
    `text_projection.weight` [1280, 1280];
  - `text_encoders.t5xxl.transformer.*`: T5-XXL encoder, 4096 wide, 24 blocks, 64 heads x 64,
    ff 10240, vocab 32128; every Linear F8_E4M3 + F32 `scale_weight`, marker `scaled_fp8`; F16
    embedding, norms and relative_attention_bias [32, 64] (block 0 only);
  - `first_stage_model.decoder.*` (BF16): the LDM VAE decoder (latent 16 channels, ch 128,
    ch_mult 1/2/4/4, 3 resnets per up level, nin_shortcut where the width changes, upsample conv on
    up.1..3, mid block_1 / attn_1 (norm, q, k, v, proj_out as 1x1 convs) / block_2, norm_out,
    conv_out); no post_quant_conv (SD3's VAE has none). The encoder is not written (never read).

Contents are synthetic and deterministic (same --seed, same bytes), generated fast: one random
block per dtype, repeated at a per-tensor offset. FP8 codes are `random & 0xC7` (sign, exponent 0
or 8, any mantissa: |x| <= 3.75, never NaN) with scale_weight 1/2048, BF16 values ~ N(0, 0.02),
qk-norm weights 1.0 — the distributions tests/torch/mmdit_resident_test.cpp runs on CUDA at full
size, which keep the activations finite. Text encoders and VAE: weights and non-norm biases
~ N(0, 0.02) (F16 or BF16), every norm's weight 1.0 and bias 0.0, FP8 as above — random, so the
pipeline's finiteness and image-not-flat checks see real arithmetic.

--small writes the same key set at tiny dimensions for CPU tests: MMDiT hidden 128 = 2 heads x 64,
3 blocks, pos_embed_max_size 64, context 256, pooled 128; CLIP-L and CLIP-G 64 wide (1 head), 2
layers (the full 49408 vocab, so any CLIP tokenizer's ids fit); T5 256 wide, 4 heads, ff 512, 2
blocks, vocab 32128; VAE ch 32, ch_mult 1/2/2/2, 3 resnets per level (~45 MB in all).

The SHA-256 is computed while writing (a second thread). The last stdout line is JSON:
{"path", "size", "sha256", "mmdit_bytes", "tensors", "seconds", "dims"}.
Needs Python 3.8+ and numpy.
"""

import argparse
import hashlib
import json
import os
import queue
import sys
import threading
import time
import zlib

import numpy as np

BLOCK = 64 << 20  # bytes of random FP8 codes, repeated
BF16_BLOCK = 16 << 20  # bytes of random BF16 values, repeated
CHUNK = 32 << 20  # bytes per write

LARGE = dict(d=2432, head_dim=64, layers=38, pos_max=192, joint=4096, pooled=2048, channels=16,
             patch=2)
SMALL = dict(d=128, head_dim=64, layers=3, pos_max=64, joint=256, pooled=128, channels=16, patch=2)

ITEMSIZE = {"F8_E4M3": 1, "BF16": 2, "F16": 2, "F32": 4}


def mmdit(c):
    """(name, dtype, shape) of the scaled-FP8 MMDiT, without the prefix (sai_fp8_mmdit())."""
    d, pp = c["d"], c["patch"] * c["patch"] * c["channels"]
    out = [("context_embedder.weight", "BF16", [d, c["joint"]]),
           ("context_embedder.bias", "BF16", [d]),
           ("final_layer.adaLN_modulation.1.weight", "BF16", [2 * d, d]),
           ("final_layer.adaLN_modulation.1.bias", "BF16", [2 * d]),
           ("final_layer.linear.weight", "BF16", [pp, d]),
           ("final_layer.linear.bias", "BF16", [pp]),
           ("pos_embed", "BF16", [1, c["pos_max"] * c["pos_max"], d]),
           ("scaled_fp8", "F8_E4M3", [0]),
           ("t_embedder.mlp.0.weight", "BF16", [d, 256]),
           ("t_embedder.mlp.0.bias", "BF16", [d]),
           ("t_embedder.mlp.2.weight", "BF16", [d, d]),
           ("t_embedder.mlp.2.bias", "BF16", [d]),
           ("x_embedder.proj.weight", "BF16", [d, c["channels"], c["patch"], c["patch"]]),
           ("x_embedder.proj.bias", "BF16", [d]),
           ("y_embedder.mlp.0.weight", "BF16", [d, c["pooled"]]),
           ("y_embedder.mlp.0.bias", "BF16", [d]),
           ("y_embedder.mlp.2.weight", "BF16", [d, d]),
           ("y_embedder.mlp.2.bias", "BF16", [d])]

    def linear(base, rows, cols):
        out.extend([(base + ".weight", "F8_E4M3", [rows, cols]), (base + ".bias", "BF16", [rows]),
                    (base + ".scale_weight", "F32", [])])

    for i in range(c["layers"]):
        for side in ("x_block", "context_block"):
            pre = "joint_blocks.%d.%s." % (i, side)
            pre_only = i + 1 == c["layers"] and side == "context_block"
            linear(pre + "adaLN_modulation.1", (2 if pre_only else 6) * d, d)
            out.append((pre + "attn.ln_q.weight", "BF16", [c["head_dim"]]))
            out.append((pre + "attn.ln_k.weight", "BF16", [c["head_dim"]]))
            linear(pre + "attn.qkv", 3 * d, d)
            if pre_only:
                continue
            linear(pre + "attn.proj", d, d)
            linear(pre + "mlp.fc1", 4 * d, d)
            linear(pre + "mlp.fc2", d, 4 * d)
    return out


def clip(prefix, layers, d, ff, vocab, dtype):
    p = "text_encoders.%s.transformer." % prefix
    t = p + "text_model."
    out = [(t + "embeddings.token_embedding.weight", dtype, [vocab, d]),
           (t + "embeddings.position_embedding.weight", dtype, [77, d]),
           (t + "final_layer_norm.weight", dtype, [d]), (t + "final_layer_norm.bias", dtype, [d]),
           (p + "text_projection.weight", dtype, [d, d])]
    for i in range(layers):
        lp = "%sencoder.layers.%d." % (t, i)
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out += [(lp + "self_attn.%s.weight" % n, dtype, [d, d]),
                    (lp + "self_attn.%s.bias" % n, dtype, [d])]
        out += [(lp + "mlp.fc1.weight", dtype, [ff, d]), (lp + "mlp.fc1.bias", dtype, [ff]),
                (lp + "mlp.fc2.weight", dtype, [d, ff]), (lp + "mlp.fc2.bias", dtype, [d])]
        for n in ("layer_norm1", "layer_norm2"):
            out += [(lp + n + ".weight", dtype, [d]), (lp + n + ".bias", dtype, [d])]
    return out


def t5(layers, d, heads, ff, vocab):
    """T5-XXL encoder in ComfyUI scaled FP8 (marker text_encoders.t5xxl.transformer.scaled_fp8).
    Inner attention width = heads x 64 (T5-XXL: 64 x 64 = 4096 = d)."""
    p = "text_encoders.t5xxl.transformer."
    inner = heads * 64
    out = [(p + "scaled_fp8", "F8_E4M3", [0]), (p + "shared.weight", "F16", [vocab, d]),
           (p + "encoder.final_layer_norm.weight", "F16", [d])]

    def lin(base, rows, cols):
        out.extend([(base + ".weight", "F8_E4M3", [rows, cols]), (base + ".scale_weight", "F32", [])])

    for i in range(layers):
        b = "%sencoder.block.%d.layer." % (p, i)
        for n in ("q", "k", "v"):
            lin(b + "0.SelfAttention." + n, inner, d)
        lin(b + "0.SelfAttention.o", d, inner)
        out.append((b + "0.layer_norm.weight", "F16", [d]))
        lin(b + "1.DenseReluDense.wi_0", ff, d)
        lin(b + "1.DenseReluDense.wi_1", ff, d)
        lin(b + "1.DenseReluDense.wo", d, ff)
        out.append((b + "1.layer_norm.weight", "F16", [d]))
    out.append((p + "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", "F16",
                [32, heads]))
    return out


def vae_decoder(ch, mult, latent=16, res_blocks=3, dtype="BF16"):
    """LDM Decoder (ldm/modules/diffusionmodules/model.py) under first_stage_model.decoder."""
    p = "first_stage_model.decoder."
    out = []

    def conv(name, cout, cin, k):
        out.extend([(p + name + ".weight", dtype, [cout, cin, k, k]), (p + name + ".bias", dtype, [cout])])

    def norm(name, c):
        out.extend([(p + name + ".weight", dtype, [c]), (p + name + ".bias", dtype, [c])])

    def resnet(name, cin, cout):
        norm(name + ".norm1", cin)
        conv(name + ".conv1", cout, cin, 3)
        norm(name + ".norm2", cout)
        conv(name + ".conv2", cout, cout, 3)
        if cin != cout:
            conv(name + ".nin_shortcut", cout, cin, 1)

    block_in = ch * mult[-1]
    conv("conv_in", block_in, latent, 3)
    resnet("mid.block_1", block_in, block_in)
    norm("mid.attn_1.norm", block_in)
    for n in ("q", "k", "v", "proj_out"):
        conv("mid.attn_1." + n, block_in, block_in, 1)
    resnet("mid.block_2", block_in, block_in)
    for i in reversed(range(len(mult))):  # LDM order: up.N-1 runs first (lowest resolution)
        block_out = ch * mult[i]
        for j in range(res_blocks):
            resnet("up.%d.block.%d" % (i, j), block_in, block_out)
            block_in = block_out
        if i > 0:
            conv("up.%d.upsample.conv" % i, block_in, block_in, 3)
    norm("norm_out", block_in)
    conv("conv_out", 3, block_in, 3)
    return out


def nbytes(spec):
    n = ITEMSIZE[spec[1]]
    for s in spec[2]:
        n *= s
    return n


def layout(small):
    c = SMALL if small else LARGE
    specs = [("model.diffusion_model." + n, dt, sh) for n, dt, sh in mmdit(c)]
    if small:
        # pooled = CLIP-L + CLIP-G widths (64 + 64 = 128); T5's width = the MMDiT context (256)
        specs += clip("clip_l", 2, 64, 256, 49408, "F16") + clip("clip_g", 2, 64, 256, 49408, "F16")
        specs += t5(2, 256, 4, 512, 32128) + vae_decoder(32, (1, 2, 2, 2))
    else:
        specs += clip("clip_l", 12, 768, 3072, 49408, "F16")
        specs += clip("clip_g", 32, 1280, 5120, 49408, "F16")
        specs += t5(24, 4096, 64, 10240, 32128) + vae_decoder(128, (1, 2, 4, 4))
    # The reference writer's order: by dtype alignment (largest first), then by name.
    specs.sort(key=lambda s: (-ITEMSIZE[s[1]], s[0]))
    return c, specs


def blocks(seed):
    """name -> (buffer, period): random blocks are stored twice, so any slice of up to `period`
    bytes from any offset below `period` is contiguous; constant blocks have period len(buffer)."""
    rng = np.random.default_rng(seed)
    fp8 = (rng.integers(0, 256, BLOCK, dtype=np.uint8) & 0xC7).tobytes()
    normal = rng.standard_normal(BF16_BLOCK // 2, dtype=np.float32) * np.float32(0.02)
    bf16 = (normal.view(np.uint32) >> 16).astype("<u2").tobytes()  # truncation: fine for noise
    f16 = normal.astype("<f2").tobytes()
    return {"fp8": (fp8 + fp8, BLOCK), "bf16": (bf16 + bf16, BF16_BLOCK),
            "f16": (f16 + f16, BF16_BLOCK),
            "one_bf16": (np.full(CHUNK // 2, 0x3F80, dtype="<u2").tobytes(), CHUNK),  # BF16 1.0
            "one_f16": (np.full(CHUNK // 2, 0x3C00, dtype="<u2").tobytes(), CHUNK),  # F16 1.0
            "zero": (bytes(CHUNK), CHUNK),
            "scale": (np.array([1.0 / 2048.0], dtype="<f4").tobytes(), 4)}


def is_norm(name):
    """Norm parameters (weight 1, bias 0): LayerNorm / RMSNorm / GroupNorm / qk-norm."""
    if name.startswith("model.diffusion_model."):
        return ".ln_q." in name or ".ln_k." in name
    leaf = name.rsplit(".", 2)[-2]
    return "norm" in leaf  # layer_norm1/2, final_layer_norm, layer_norm, norm1/2, norm, norm_out


def pieces(spec, blk):
    """Yields memoryviews of the tensor's bytes (no copies of the blocks)."""
    name, dtype, _ = spec
    n = nbytes(spec)
    if n == 0:
        return
    if dtype == "F32":  # scale_weight scalars
        yield memoryview(blk["scale"][0] * (n // 4))
        return
    if dtype == "F8_E4M3":
        kind = "fp8"
    elif is_norm(name):
        kind = ("one_" + dtype.lower()) if name.endswith(".weight") else "zero"
    else:
        kind = dtype.lower()
    src, period = blk[kind]
    mv = memoryview(src)
    # random blocks: a per-tensor start, 8-byte aligned, so tensors differ from each other
    off = (zlib.crc32(name.encode()) % period) & ~7 if len(src) > period else 0
    while n:
        k = min(n, CHUNK, len(src) - off)
        yield mv[off:off + k]
        n -= k
        off = (off + k) % period


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--small", action="store_true", help="tiny dimensions (CPU tests)")
    ap.add_argument("--seed", type=int, default=20261123)
    a = ap.parse_args()
    t0 = time.time()
    dims, specs = layout(a.small)
    header, at = {}, 0
    for s in specs:
        n = nbytes(s)
        header[s[0]] = {"dtype": s[1], "shape": s[2], "data_offsets": [at, at + n]}
        at += n
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    prefix = len(hjson).to_bytes(8, "little") + hjson
    total = len(prefix) + at
    mmdit_bytes = sum(nbytes(s) for s in specs if s[0].startswith("model.diffusion_model."))
    blk = blocks(a.seed)

    h = hashlib.sha256()
    q = queue.Queue(maxsize=16)

    def hasher():
        while True:
            b = q.get()
            if b is None:
                return
            h.update(b)  # releases the GIL for large buffers: runs beside the writes

    th = threading.Thread(target=hasher, daemon=True)
    th.start()
    tmp = a.out + ".partial"
    written = 0
    with open(tmp, "wb", buffering=0) as f:
        def put(b):
            nonlocal written
            q.put(b)
            mv = memoryview(b)
            while len(mv):
                k = f.write(mv)
                mv = mv[k:]
            written += len(b)

        put(prefix)
        for s in specs:
            for piece in pieces(s, blk):
                put(piece)
    q.put(None)
    th.join()
    if written != total:
        sys.exit("make_sd35_fp8_file: wrote %d bytes, expected %d" % (written, total))
    os.replace(tmp, a.out)
    doc = {"path": os.path.abspath(a.out), "size": total, "sha256": h.hexdigest(),
           "mmdit_bytes": mmdit_bytes, "tensors": len(specs),
           "seconds": round(time.time() - t0, 2), "dims": dims}
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
