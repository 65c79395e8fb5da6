#include "smoke/pipeline_encode.hpp"

#include <array>
#include <future>
#include <stdexcept>
#include <string>
#include <tuple>

#include "smoke/smoke_env.hpp"

#ifdef SD35_TORCH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace sd35::smoke {

TensorI64 ids64(const std::vector<std::vector<std::int64_t>>& rows) {
  TensorI64 t;
  t.shape = {static_cast<std::int64_t>(rows.size()),
             rows.empty() ? 0 : static_cast<std::int64_t>(rows.front().size())};
  for (const auto& r : rows) t.data.insert(t.data.end(), r.begin(), r.end());
  return t;
}

at::Tensor ids_tensor(const std::vector<std::vector<std::int64_t>>& rows) {
  const TensorI64 t = ids64(rows);
  return torch::tensor(t.data, at::TensorOptions().dtype(at::kLong)).view(t.shape);
}

namespace {

// CLIP-L and CLIP-G on threads of their own while the caller runs T5. Why: the encoders are
// ~2200 small ops whose launches, not the GPU, set the encode's time (SD3.5 Large: ~55 ms for
// ~10 ms of GPU work); on three threads and CUDA streams it is the longest encoder's.
std::pair<ClipOutput, ClipOutput> encode_clips_beside(const Encoders& m, const TokenIds& ids,
                                                      const Exec& e, at::Tensor& t5) {
#ifdef SD35_TORCH_CUDA
  auto on_own_stream = [&e](const ClipText& clip, const at::Tensor& tokens) {
    c10::InferenceMode guard;
    const c10::cuda::CUDAGuard device(e.device);
    const c10::cuda::CUDAStreamGuard stream(c10::cuda::getStreamFromPool());
    ClipOutput out = encode_clip(clip, tokens, e);
    at::cuda::CUDAEvent done;
    done.record(c10::cuda::getCurrentCUDAStream());
    return std::make_pair(std::move(out), std::move(done));
  };
  auto l =
      std::async(std::launch::async, on_own_stream, std::cref(m.clip_l), ids_tensor(ids.clip_l));
  auto g =
      std::async(std::launch::async, on_own_stream, std::cref(m.clip_g), ids_tensor(ids.clip_g));
  t5 = encode_t5(m.t5, ids_tensor(ids.t5xxl), e);
  const auto caller = c10::cuda::getCurrentCUDAStream();
  std::pair<ClipOutput, ClipOutput> out;
  for (auto [future, slot] : {std::make_pair(&l, &out.first), std::make_pair(&g, &out.second)}) {
    auto [clip, done] = future->get();
    done.block(caller);  // the caller's stream reads the outputs only once they are written
    for (const at::Tensor* t : {&clip.penultimate, &clip.pooled}) t->record_stream(caller.unwrap());
    *slot = std::move(clip);
  }
  return out;
#else
  (void)m, (void)ids, (void)e, (void)t5;
  throw std::logic_error("encode_clips_beside runs on CUDA only");
#endif
}

// CLIP-L ⊕ CLIP-G on the feature axis, zero-padded to T5's width, then T5 along the sequence.
void join(Encoded& r) {
  at::Tensor clip = at::cat({r.clip_l.penultimate, r.clip_g.penultimate}, -1);
  clip = at::constant_pad_nd(clip, {0, r.t5.size(-1) - clip.size(-1)});
  r.embeds = at::cat({clip, r.t5}, 1);
  r.pooled = at::cat({r.clip_l.pooled, r.clip_g.pooled}, -1);
}

Encoded encode(const Encoders& m, const TokenIds& ids, const Exec& e) {
  Encoded r;
  if (e.device.is_cuda() && !env_switched_off("SD35_PARALLEL_ENCODE")) {
    std::tie(r.clip_l, r.clip_g) = encode_clips_beside(m, ids, e, r.t5);
  } else {
    r.clip_l = encode_clip(m.clip_l, ids_tensor(ids.clip_l), e);
    r.clip_g = encode_clip(m.clip_g, ids_tensor(ids.clip_g), e);
    r.t5 = encode_t5(m.t5, ids_tensor(ids.t5xxl), e);
  }
  join(r);
  return r;
}

// The encode as one thread records it into a graph: CLIP-L and CLIP-G on streams forked from the
// caller's by events (parallel branches of the graph), T5 on the caller's, joined back.
Encoded encode_forked(const Encoders& m, const KeptEncode& in, const Exec& e) {
#ifdef SD35_TORCH_CUDA
  const auto caller = c10::cuda::getCurrentCUDAStream();
  at::cuda::CUDAEvent fork;
  fork.record(caller);
  Encoded r;
  std::array<at::cuda::CUDAEvent, 2> done;
  const std::array<std::tuple<const ClipText*, const at::Tensor*, ClipOutput*>, 2> clips{
      std::tuple{&m.clip_l, &in.clip_l, &r.clip_l}, std::tuple{&m.clip_g, &in.clip_g, &r.clip_g}};
  for (std::size_t i = 0; i < clips.size(); ++i) {
    const auto [model, ids, out] = clips[i];
    const auto stream = c10::cuda::getStreamFromPool(false, caller.device_index());
    fork.block(stream);
    const c10::cuda::CUDAStreamGuard guard(stream);
    *out = encode_clip(*model, *ids, e);
    done[i].record(stream);
  }
  r.t5 = encode_t5(m.t5, in.t5, e);
  for (auto& d : done) d.block(caller);
  join(r);
  return r;
#else
  (void)m, (void)in, (void)e;
  throw std::logic_error("encode_forked runs on CUDA only");
#endif
}

bool fits(const KeptEncode& kept, const TokenIds& ids) {
  return kept.graph.ready() &&
         kept.clip_l.size(0) == static_cast<std::int64_t>(ids.clip_l.size()) &&
         kept.t5.size(0) == static_cast<std::int64_t>(ids.t5xxl.size());
}

Encoded clone(const Encoded& r) {
  return {{r.clip_l.penultimate.clone(), r.clip_l.pooled.clone()},
          {r.clip_g.penultimate.clone(), r.clip_g.pooled.clone()},
          r.t5.clone(),
          r.embeds.clone(),
          r.pooled.clone()};
}

// Rows [start, start + n) of every output.
Encoded rows(const Encoded& r, std::int64_t start, std::int64_t n) {
  auto take = [&](const at::Tensor& t) { return t.narrow(0, start, n); };
  Encoded o;
  o.clip_l = {take(r.clip_l.penultimate), take(r.clip_l.pooled)};
  o.clip_g = {take(r.clip_g.penultimate), take(r.clip_g.pooled)};
  o.t5 = take(r.t5);
  o.embeds = take(r.embeds);
  o.pooled = take(r.pooled);
  return o;
}

TokenIds one_batch(const TokenIds& prompts, const TokenIds& negatives) {
  auto join = [](std::vector<std::vector<std::int64_t>> a,
                 const std::vector<std::vector<std::int64_t>>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  return {join(prompts.clip_l, negatives.clip_l), join(prompts.clip_g, negatives.clip_g),
          join(prompts.t5xxl, negatives.t5xxl)};
}

}  // namespace

std::pair<Encoded, Encoded> encode_with_negatives(const Encoders& m, const TokenIds& prompts,
                                                  const TokenIds& negatives, const Exec& e,
                                                  KeptEncode* kept) {
  const TokenIds both = one_batch(prompts, negatives);
  Encoded all;
  if (kept != nullptr && fits(*kept, both)) {
    kept->clip_l.copy_(ids_tensor(both.clip_l));
    kept->clip_g.copy_(ids_tensor(both.clip_g));
    kept->t5.copy_(ids_tensor(both.t5xxl));
    kept->graph.replay();
    all = clone(kept->out);  // the next replay writes over the graph's outputs
  } else {
    all = encode(m, both, e);
  }
  const auto n = static_cast<std::int64_t>(prompts.clip_l.size());
  return {rows(all, 0, n), rows(all, n, static_cast<std::int64_t>(negatives.clip_l.size()))};
}

bool capture_encode(const Encoders& m, const TokenIds& prompts, const TokenIds& negatives,
                    const Exec& e, KeptEncode& kept) {
  const TokenIds both = one_batch(prompts, negatives);
  kept.clip_l = ids_tensor(both.clip_l).to(e.device);
  kept.clip_g = ids_tensor(both.clip_g).to(e.device);
  kept.t5 = ids_tensor(both.t5xxl).to(e.device);
  c10::InferenceMode guard;
  return kept.graph.capture([&] { kept.out = encode_forked(m, kept, e); });
}

Result<Encoders> load_encoders(const PipelineSource& source, const Exec& e) {
  Encoders m;
  SD35_TRY(m.clip_l, load_clip(source, "clip_l"));
  SD35_TRY(m.clip_g, load_clip(source, "clip_g"));
  SD35_TRY(m.t5, load_t5(source));
  to_device(m.clip_l, e);
  to_device(m.clip_g, e);
  to_device(m.t5, e);
  return m;
}

}  // namespace sd35::smoke
