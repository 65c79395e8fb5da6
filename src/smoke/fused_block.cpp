// The fused block's forward over all blocks (mmdit_fused.hpp: blocks_forward). Same maths as
// block_forward in mmdit_forward.cpp; what this file adds is the schedule:
//
// Two lanes. The text tokens (333 rows per image) and the image tokens (4096 at 1024^2) meet only
// in the joint attention; everything else in a block is per stream. The text tokens' GEMMs are a
// fraction of one wave on an H200 (M = 666: 6 row tiles), and their row kernels are short, so on
// one stream they leave most SMs idle while they run. On their own (high-priority) stream they
// fill the image GEMMs' idle SMs and tails instead. The lanes meet twice a block: the attention
// waits for the text qkv, the text lane waits for the attention. Works the same under CUDA graph
// capture (events fork and join the captured streams).
//
// Deferred residuals. Each MLP ends with h += gate * y; the next block's first LayerNorm of h
// applies it in the same pass (gate_residual_ln_modulate_quant), which saves re-reading h.
#include <optional>
#include <stdexcept>
#include <string>

#include "smoke/mmdit_fused.hpp"
#include "smoke/smoke_env.hpp"

#ifdef SD35_FUSED_PATH
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace sd35::smoke::fused {

bool context_stream_enabled() {
  return !env_switched_off("SD35_CONTEXT_STREAM");
}

#ifndef SD35_FUSED_PATH

void blocks_forward(const Model&, at::Tensor&, at::Tensor&, const Modulation&) {
  throw std::runtime_error("the fused CUDA kernels are not built into this sd35torch");
}

#else

namespace {

// The image lane is the caller's stream; the text lane a pool stream, or the same stream when
// SD35_CONTEXT_STREAM=0 (then every wait and record below is skipped).
class Lanes {
 public:
  Lanes()
      : main_(c10::cuda::getCurrentCUDAStream()),
        text_(context_stream_enabled() ? text_stream(main_.device_index()) : main_),
        two_(text_ != main_) {
    text_waits_for_image();  // ctx and the modulation table come from the image lane
  }

  const c10::cuda::CUDAStream& text() const { return text_; }
  void text_waits_for_image() const {
    if (two_) wait(text_, main_);
  }
  void image_waits_for_text() const {
    if (two_) wait(main_, text_);
  }
  // `t`, allocated on one lane, is read on the other: the allocator must not hand its memory out
  // again before that lane is done with it.
  void used_on_text(const at::Tensor& t) const {
    if (two_ && t.defined()) t.record_stream(text_.unwrap());
  }
  void used_on_image(const at::Tensor& t) const {
    if (two_ && t.defined()) t.record_stream(main_.unwrap());
  }

 private:
  // One text stream per device for the process: the eager first step warms the stream (cuBLASLt
  // workspace) that the captured graph then uses. High priority: a separate pool from the
  // caller's (denoise takes a normal-priority pool stream), and the short text chain goes first.
  static c10::cuda::CUDAStream text_stream(c10::DeviceIndex device) {
    static thread_local std::optional<c10::cuda::CUDAStream> stream;
    if (!stream || stream->device_index() != device)
      stream = c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device);
    return *stream;
  }

  static void wait(const c10::cuda::CUDAStream& waiter, const c10::cuda::CUDAStream& producer) {
    at::cuda::CUDAEvent done;
    done.record(producer);
    done.block(waiter);
  }

  c10::cuda::CUDAStream main_, text_;
  bool two_;
};

// h += gate * y, not yet applied.
struct PendingResidual {
  at::Tensor gate, y;
};

// LayerNorm(x) modulated and quantised, applying x's pending residual in the same pass.
Fp8Act norm_quant(at::Tensor& x, std::optional<PendingResidual>& pending, const at::Tensor& shift,
                  const at::Tensor& scale, std::int64_t ld) {
  if (!pending) return ln_modulate_quant(x, shift, scale, ld);
  Fp8Act out = gate_residual_ln_modulate_quant(x, pending->gate, pending->y, shift, scale, ld);
  pending.reset();
  return out;
}

void settle(at::Tensor& x, std::optional<PendingResidual>& pending) {
  if (pending) gate_residual(x, pending->gate, pending->y);
  pending.reset();
}

// Columns [i * D, (i + 1) * D) of an adaLN output [B, n * D].
at::Tensor columns(const at::Tensor& mod, int i, std::int64_t d) {
  return mod.narrow(1, i * d, d);
}

at::Tensor as_rows(const at::Tensor& y, std::int64_t batch) {
  return y.view({batch, -1, y.size(-1)});
}

// One token stream's state carried from block to block.
struct Tokens {
  at::Tensor& x;
  std::optional<PendingResidual> pending;
};

class BlockRunner {
 public:
  BlockRunner(const MmditConfig& c, Tokens& img, Tokens& txt, const Lanes& lanes)
      : c_(c), img_(img), txt_(txt), lanes_(lanes) {}

  void run(const Block& b, const at::Tensor& mod, const at::Tensor& cmod) {
    const std::int64_t d = c_.inner_dim();
    auto m = [&](int i) { return columns(mod, i, d); };
    auto cm = [&](int i) { return columns(cmod, i, d); };
    const std::int64_t bsz = img_.x.size(0), n_img = img_.x.size(1), n_ctx = txt_.x.size(1);

    at::Tensor ctx_qkv;
    {
      const c10::cuda::CUDAStreamGuard on_text(lanes_.text());
      // context_pre_only blocks carry (scale, shift) in diffusers' order.
      Fp8Act cq = b.pre_only ? norm_quant(txt_.x, txt_.pending, cm(1), cm(0), b.add_qkv.k_pad)
                             : norm_quant(txt_.x, txt_.pending, cm(0), cm(1), b.add_qkv.k_pad);
      ctx_qkv = as_rows(scaled_mm_rowwise(cq, b.add_qkv), bsz);
    }
    // Both modulations of the same LayerNorm(h) happen before h changes (dual blocks use it
    // twice); the first applies the previous block's residual.
    Fp8Act hq = norm_quant(img_.x, img_.pending, m(0), m(1), b.qkv.k_pad);
    Fp8Act hq2;
    if (b.dual) hq2 = ln_modulate_quant(img_.x, m(6), m(7), b.qkv2.k_pad);
    const at::Tensor img_qkv = as_rows(scaled_mm_rowwise(hq, b.qkv), bsz);

    lanes_.image_waits_for_text();
    lanes_.used_on_image(ctx_qkv);
    // The joint attention in FP8 where cuDNN runs it, else bf16 SDPA.
    const std::optional<Fp8Attention> fp8 = attention_fp8(b, img_qkv, ctx_qkv, c_.num_heads);
    at::Tensor o;  // [B, H, L + Lc, Dh]
    if (!fp8) {
      auto [q, k, v] = qkv_pack(img_qkv, ctx_qkv, c_.num_heads,
                                {b.norm_f32[0], b.norm_f32[1], b.norm_f32[2], b.norm_f32[3]});
      o = at::scaled_dot_product_attention(q, k, v);
    }
    auto attention_rows = [&](std::int64_t first, std::int64_t count, std::int64_t ld) {
      return fp8 ? gather_fp8(*fp8, first, count, ld) : gather_quant(o, first, count, ld);
    };

    if (!b.pre_only) {
      lanes_.text_waits_for_image();
      if (fp8) {
        lanes_.used_on_text(fp8->o8);
        lanes_.used_on_text(fp8->scales);
      }
      lanes_.used_on_text(o);
      const c10::cuda::CUDAStreamGuard on_text(lanes_.text());
      const at::Tensor y = as_rows(
          scaled_mm_rowwise(attention_rows(n_img, n_ctx, b.to_add_out.k_pad), b.to_add_out), bsz);
      Fp8Act cf = gate_residual_ln_modulate_quant(txt_.x, cm(2), y, cm(3), cm(4), b.ffc1.k_pad);
      Fp8Act cg = gelu_quant(scaled_mm_rowwise(cf, b.ffc1), b.ffc2.k_pad);
      txt_.pending = PendingResidual{cm(5), as_rows(scaled_mm_rowwise(cg, b.ffc2), bsz)};
    }

    at::Tensor y =
        as_rows(scaled_mm_rowwise(attention_rows(0, n_img, b.to_out.k_pad), b.to_out), bsz);
    at::Tensor gate = m(2);
    if (b.dual) {
      gate_residual(img_.x, gate, y);
      auto [q2, k2, v2] = qkv_pack(as_rows(scaled_mm_rowwise(hq2, b.qkv2), bsz), at::Tensor(),
                                   c_.num_heads, {b.norm_f32[4], b.norm_f32[5], {}, {}});
      const at::Tensor o2 = at::scaled_dot_product_attention(q2, k2, v2);
      y = as_rows(scaled_mm_rowwise(gather_quant(o2, 0, n_img, b.to_out2.k_pad), b.to_out2), bsz);
      gate = m(8);
    }
    Fp8Act fq = gate_residual_ln_modulate_quant(img_.x, gate, y, m(3), m(4), b.ff1.k_pad);
    Fp8Act gq = gelu_quant(scaled_mm_rowwise(fq, b.ff1), b.ff2.k_pad);
    img_.pending = PendingResidual{m(5), as_rows(scaled_mm_rowwise(gq, b.ff2), bsz)};
  }

 private:
  const MmditConfig& c_;
  Tokens& img_;
  Tokens& txt_;
  const Lanes& lanes_;
};

}  // namespace

void blocks_forward(const Model& model, at::Tensor& h, at::Tensor& ctx, const Modulation& mod) {
  const Lanes lanes;
  Tokens img{h, std::nullopt}, txt{ctx, std::nullopt};
  BlockRunner runner(model.config, img, txt, lanes);
  for (std::size_t i = 0; i < model.blocks.size(); ++i)
    runner.run(model.blocks[i], mod.img(i), mod.ctx(i));
  settle(img.x, img.pending);
  {
    const c10::cuda::CUDAStreamGuard on_text(lanes.text());
    settle(txt.x, txt.pending);
  }
  lanes.image_waits_for_text();  // joins the text lane (a captured graph needs it joined)
}

#endif

}  // namespace sd35::smoke::fused
