#!/usr/bin/env python3
"""GPU box: is cuDNN's FP8 attention faster than its bf16 one at SD3.5 Large's shape?

  XLA_PYTHON_CLIENT_PREALLOCATE=false python3 tests/tools/gpu_fp8_attention_probe.py

torch 2.11 offers no FP8 attention (tests/tools/gpu_attention_probe.py), but JAX's cuDNN binding
(jax._src.cudnn.fused_attention_stablehlo) reaches cuDNN's FP8 SDPA forward. This times it and the
bf16 SDPA of the same cuDNN at the joint attention of one CFG step (batch 2, 38 heads of 64,
4096 + 333 tokens, BTNH), mean of 20 after warm-up, and their agreement (rel L2 of the FP8 output
against bf16, unit scales), to decide whether a cuDNN FP8 path is worth building. A measurement
tool, not a dependency: the smoke plugin never loads JAX.
"""
import os
import sys
import time

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

try:
    from jax._src.cudnn import fused_attention_stablehlo as fa
except Exception as e:  # noqa: BLE001
    sys.exit(f"no cuDNN attention binding in this JAX: {e}")

B, T, N, H = 2, 4096 + 333, 38, 64
FLOP = 4 * B * N * T * T * H


def timed(fn, *args, reps=20):
    out = fn(*args)
    jax.block_until_ready(out)
    t0 = time.perf_counter()
    for _ in range(reps):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / reps, out


def main():
    print("jax", jax.__version__, "devices", jax.devices(), "cudnn", fa.check_cudnn_version())
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(0), 3)
    q, k, v = (jax.random.normal(kk, (B, T, N, H), jnp.float32) for kk in (k1, k2, k3))
    scale = 1.0 / H ** 0.5
    qb, kb, vb = (x.astype(jnp.bfloat16) for x in (q, k, v))
    bf16 = jax.jit(lambda a, b, c: fa.dot_product_attention(a, b, c, scale=scale, qkv_layout="BTNH"))
    t_bf16, o_bf16 = timed(bf16, qb, kb, vb)
    print(f"cuDNN bf16 SDPA: {t_bf16 * 1e3:.3f} ms/call, {FLOP / t_bf16 / 1e12:.0f} TFLOP/s")
    one = jnp.ones((1, 1, 1, 1), jnp.float32)
    params = {name: one for name in fa.fp8_params_keys}
    # P = softmax in [0, 1]: scale_s 448 maps it onto E4M3's range; descale_s undoes it.
    params["scale_s"] = one * 448.0
    params["descale_s"] = one / 448.0
    q8, k8, v8 = (x.astype(jnp.float8_e4m3fn) for x in (q, k, v))
    try:
        fp8 = jax.jit(lambda a, b, c: fa.dot_product_attention(
            a, b, c, fp8_params=params, scale=scale, qkv_layout="BTNH", use_fp8=True))
        t_fp8, out = timed(fp8, q8, k8, v8)
    except Exception as e:  # noqa: BLE001
        print(f"cuDNN FP8 SDPA: not available here: {type(e).__name__}: {str(e)[:600]}")
        return 0
    o8 = out[0].astype(jnp.float32)
    ref = o_bf16.astype(jnp.float32)
    rel = float(jnp.linalg.norm(o8 - ref) / jnp.linalg.norm(ref))
    print(f"cuDNN FP8 SDPA:  {t_fp8 * 1e3:.3f} ms/call, {FLOP / t_fp8 / 1e12:.0f} TFLOP/s, "
          f"{t_bf16 / t_fp8:.2f}x bf16; output {out[0].dtype}, rel L2 vs bf16 {rel:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
