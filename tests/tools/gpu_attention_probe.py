#!/usr/bin/env python3
"""GPU box: what attention the environment's torch offers at SD3.5 Large's joint-attention shape.

  python3 tests/tools/gpu_attention_probe.py

Batch 2 (CFG), 38 heads x 64, 4096 image + 333 text tokens (1024^2). Prints torch/CUDA/cuDNN
versions, every aten op whose name mentions attention, the time of one call per SDPA backend
(bf16; CUDA events, median of 20 after 3 warm-ups) as ms and TFLOP/s (4*B*H*L^2*Dh FLOP), each
backend's relative L2 against a float32 reference, and whether an FP8 (float8_e4m3fn) attention is
reachable: aten::_scaled_dot_product_attention_quantized (pytorch#182571, cuDNN per-tensor
descale) or SDPA on FP8 inputs. Read by docs/smoke.md ("FP8 attention").
"""
import statistics
import sys

import torch
import torch.nn.functional as F

B, H, L, D = 2, 38, 4096 + 333, 64
FLOP = 4 * B * H * L * L * D


def time_ms(fn, reps=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def rel_l2(x, ref):
    x, ref = x.double(), ref.double()
    return ((x - ref).norm() / ref.norm()).item()


def main():
    if not torch.cuda.is_available():
        print("no CUDA device")
        return 1
    print(f"torch {torch.__version__} cuda {torch.version.cuda} cudnn {torch.backends.cudnn.version()} "
          f"{torch.cuda.get_device_name()} cc {torch.cuda.get_device_capability()}")
    print("aten attention ops:", sorted(n for n in dir(torch.ops.aten) if "attention" in n))
    print("torch.nn.attention:", sorted(n for n in dir(torch.nn.attention) if not n.startswith("__")))
    g = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(B, H, L, D, device="cuda", dtype=torch.bfloat16, generator=g) for _ in range(3))
    ref = F.scaled_dot_product_attention(q[:1].float(), k[:1].float(), v[:1].float())
    from torch.nn.attention import SDPBackend, sdpa_kernel
    for name in ("CUDNN_ATTENTION", "FLASH_ATTENTION", "EFFICIENT_ATTENTION"):
        be = getattr(SDPBackend, name)
        try:
            with sdpa_kernel(be):
                out = F.scaled_dot_product_attention(q, k, v)
                ms = time_ms(lambda: F.scaled_dot_product_attention(q, k, v))
            print(f"sdpa bf16 {name:20} {ms:7.2f} ms {FLOP / ms / 1e9:7.1f} TFLOP/s  rel L2 {rel_l2(out[:1], ref):.2e}"
                  f"  x38 blocks = {38 * ms:.1f} ms/step")
        except Exception as ex:  # noqa: BLE001 (report and go on)
            print(f"sdpa bf16 {name:20} unavailable: {str(ex).splitlines()[0][:200]}")
    fp8 = torch.float8_e4m3fn
    amax = [t.abs().amax().float() for t in (q, k, v)]
    scales = [a / 448.0 for a in amax]
    q8, k8, v8 = ((t.float() / s).to(fp8) for t, s in zip((q, k, v), scales))
    op = getattr(torch.ops.aten, "_scaled_dot_product_attention_quantized", None)
    if op is None:
        print("aten::_scaled_dot_product_attention_quantized: not in this torch")
    else:
        print("aten::_scaled_dot_product_attention_quantized:",
              [str(o._schema) for o in (getattr(op, n) for n in op.overloads())])
    try:
        out = F.scaled_dot_product_attention(q8, k8, v8)
        print(f"sdpa on float8_e4m3fn inputs: ran, dtype {out.dtype}")
    except Exception as ex:  # noqa: BLE001
        print(f"sdpa on float8_e4m3fn inputs: {str(ex).splitlines()[0][:200]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
