#!/usr/bin/env python3
"""Checks a synthetic all-in-one file's header against what the prompt pipeline's loaders read.

  check_sd35_file_keys.py FILE

Mirrors src/smoke/text_model_load.cpp (load_clip, load_t5, load_vae: the same names, the same
optional tensors, layer counts by probing index 0, 1, ...) and the shape chain the forward passes
need (widths, heads, FP8 scales, GroupNorm(32) divisibility, the VAE's channels level by level,
conditioning widths vs the MMDiT's context / pooled widths). Header only: no tensor is read.
Exit 0 when everything is present and consistent, 1 otherwise (each problem printed).
"""
import json
import struct
import sys


def main(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
    h.pop("__metadata__", None)
    errs = []

    def shape(name):
        if name not in h:
            errs.append("missing: " + name)
            return None
        return h[name]["shape"]

    def linear(base, rows=None, cols=None):
        s = shape(base + ".weight")
        if s is None:
            return None
        if rows is not None and s[0] != rows:
            errs.append("%s.weight rows %s != %s" % (base, s[0], rows))
        if cols is not None and s[1] != cols:
            errs.append("%s.weight cols %s != %s" % (base, s[1], cols))
        if base + ".bias" in h and h[base + ".bias"]["shape"] != [s[0]]:
            errs.append("%s.bias shape %s" % (base, h[base + ".bias"]["shape"]))
        if h[base + ".weight"]["dtype"].startswith("F8_"):
            sc = [k for k in (base + ".scale_weight", base + ".weight_scale") if k in h]
            if not sc:
                errs.append("FP8 %s.weight has no scale" % base)
            elif h[sc[0]]["shape"] not in ([], [1]):
                errs.append("%s is not per-tensor" % sc[0])
        return s

    def vec(name, c):
        s = shape(name)
        if s is not None and s != [c]:
            errs.append("%s shape %s != [%d]" % (name, s, c))

    def count(prefix, suffix):
        i = 0
        while "%s%d%s" % (prefix, i, suffix) in h:
            i += 1
        return i

    # CLIP-L / CLIP-G
    widths = {}
    for name in ("clip_l", "clip_g"):
        p = "text_encoders.%s.transformer." % name
        t = p + "text_model."
        emb = shape(t + "embeddings.token_embedding.weight")
        if emb is None:
            continue
        d = emb[1]
        widths[name] = d
        heads = d // 64 if d % 64 == 0 else {("clip_l", 32): 2, ("clip_g", 48): 4}.get((name, d), 0)
        if heads == 0:
            errs.append("%s width %d has no known head count" % (name, d))
        pos = shape(t + "embeddings.position_embedding.weight")
        if pos is not None and pos != [77, d]:
            errs.append("%s position_embedding %s" % (name, pos))
        vec(t + "final_layer_norm.weight", d)
        vec(t + "final_layer_norm.bias", d)
        if p + "text_projection.weight" in h:
            linear(p + "text_projection", d, d)
        else:
            print("note: %s has no text_projection (identity)" % name)
        layers = count(t + "encoder.layers.", ".layer_norm1.weight")
        if layers < 2:
            errs.append("%s has %d layers" % (name, layers))
        for i in range(layers):
            lp = "%sencoder.layers.%d." % (t, i)
            for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
                linear(lp + "self_attn." + n, d, d)
            ff = linear(lp + "mlp.fc1", None, d)
            linear(lp + "mlp.fc2", d, ff[0] if ff else None)
            for n in ("layer_norm1", "layer_norm2"):
                vec(lp + n + ".weight", d)
                vec(lp + n + ".bias", d)
        print("%s: width %d, %d layers, %d heads, vocab %d" % (name, d, layers, heads, emb[0]))

    # T5
    p = "text_encoders.t5xxl.transformer."
    emb = shape(p + "shared.weight") if p + "shared.weight" in h else shape(p + "encoder.embed_tokens.weight")
    rb = shape(p + "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
    t5d = None
    if emb and rb:
        t5d = emb[1]
        heads = rb[1]
        vec(p + "encoder.final_layer_norm.weight", t5d)
        blocks = count(p + "encoder.block.", ".layer.0.layer_norm.weight")
        if blocks == 0:
            errs.append("T5 has no blocks")
        inner = None
        for i in range(blocks):
            b = "%sencoder.block.%d.layer." % (p, i)
            q = linear(b + "0.SelfAttention.q", None, t5d)
            inner = q[0] if q else inner
            linear(b + "0.SelfAttention.k", inner, t5d)
            linear(b + "0.SelfAttention.v", inner, t5d)
            linear(b + "0.SelfAttention.o", t5d, inner)
            vec(b + "0.layer_norm.weight", t5d)
            wi = linear(b + "1.DenseReluDense.wi_0", None, t5d)
            linear(b + "1.DenseReluDense.wi_1", wi[0] if wi else None, t5d)
            linear(b + "1.DenseReluDense.wo", t5d, wi[0] if wi else None)
            vec(b + "1.layer_norm.weight", t5d)
        if inner and inner % heads:
            errs.append("T5 inner %d not divisible by %d heads" % (inner, heads))
        if rb[0] != 32:
            errs.append("T5 relative bias has %d buckets" % rb[0])
        marker = p + "scaled_fp8" in h
        print("t5xxl: width %d, %d blocks, %d heads, inner %s, vocab %d, scaled_fp8 marker %s" % (
            t5d, blocks, heads, inner, emb[0], marker))

    # VAE decoder: walk the forward pass's channel chain
    d = "first_stage_model.decoder."

    def resnet(pre, cin):
        vec(pre + "norm1.weight", cin)
        vec(pre + "norm1.bias", cin)
        c1 = linear(pre + "conv1", None, cin)
        cout = c1[0] if c1 else cin
        vec(pre + "norm2.weight", cout)
        vec(pre + "norm2.bias", cout)
        linear(pre + "conv2", cout, cout)
        for c in (cin, cout):
            if c % 32:
                errs.append("%s: %d channels, GroupNorm(32)" % (pre, c))
        if pre + "nin_shortcut.weight" in h:
            linear(pre + "nin_shortcut", cout, cin)
        elif cin != cout:
            errs.append("%s changes %d -> %d without nin_shortcut" % (pre, cin, cout))
        return cout

    ci = linear(d + "conv_in")
    if ci:
        if ci[2:] != [3, 3]:
            errs.append("conv_in kernel %s" % ci[2:])
        latent = ci[1]
        c = ci[0]
        c = resnet(d + "mid.block_1.", c)
        vec(d + "mid.attn_1.norm.weight", c)
        vec(d + "mid.attn_1.norm.bias", c)
        for n in ("q", "k", "v", "proj_out"):
            s = linear(d + "mid.attn_1." + n, c, c)
            if s and s[2:] != [1, 1]:
                errs.append("attn %s kernel %s" % (n, s[2:]))
        c = resnet(d + "mid.block_2.", c)
        levels = count(d + "up.", ".block.0.conv1.weight")
        ups = 0
        chain = [c]
        for i in reversed(range(levels)):
            nb = count("%sup.%d.block." % (d, i), ".conv1.weight")
            for j in range(nb):
                c = resnet("%sup.%d.block.%d." % (d, i, j), c)
            if "%sup.%d.upsample.conv.weight" % (d, i) in h:
                linear("%sup.%d.upsample.conv" % (d, i), c, c)
                ups += 1
            chain.append("up.%d x%d -> %d" % (i, nb, c))
        vec(d + "norm_out.weight", c)
        vec(d + "norm_out.bias", c)
        linear(d + "conv_out", 3, c)
        print("vae decoder: latent %d, %d levels, %d upsamples (x%d), chain %s" % (
            latent, levels, ups, 2 ** ups, chain))
        if latent != 16:
            errs.append("VAE latent channels %d (SD3: 16)" % latent)

    # Conditioning vs the MMDiT
    m = "model.diffusion_model."
    ctx = shape(m + "context_embedder.weight")
    y = shape(m + "y_embedder.mlp.0.weight")
    xe = shape(m + "x_embedder.proj.weight")
    if ctx and t5d and ctx[1] != t5d:
        errs.append("MMDiT context %d != T5 width %d" % (ctx[1], t5d))
    if ctx and widths and sum(widths.values()) > ctx[1]:
        errs.append("CLIP-L + CLIP-G %d wider than the context %d" % (sum(widths.values()), ctx[1]))
    if y and widths and y[1] != sum(widths.values()):
        errs.append("MMDiT pooled %d != CLIP-L + CLIP-G %d" % (y[1], sum(widths.values())))
    if xe and ci and xe[1] != ci[1]:
        errs.append("MMDiT in channels %d != VAE latent %d" % (xe[1], ci[1]))
    print("mmdit: context %s, pooled %s, in channels %s, blocks %d" % (
        ctx and ctx[1], y and y[1], xe and xe[1], count(m + "joint_blocks.", ".x_block.attn.qkv.weight")))

    by = {}
    for k, v in h.items():
        top = k.split(".")[0] + ("." + k.split(".")[1] if k.startswith("text_encoders") else "")
        n = v["data_offsets"][1] - v["data_offsets"][0]
        by[top] = by.get(top, 0) + n
    print("bytes:", {k: v for k, v in sorted(by.items())})
    for e in errs:
        print("ERROR", e)
    print("OK" if not errs else "%d problems" % len(errs))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
