// The prompt pipeline's text stage: the three encoders loaded onto the device and run on the
// prompts and negatives, joined into SD3's conditioning. TORCH HEADER: include only from
// src/smoke/*.cpp.
#pragma once

#include <utility>
#include <vector>

#include "smoke/pipeline_models.hpp"
#include "smoke/stage_graph.hpp"

namespace sd35::smoke {

// One batch of prompts through the three encoders, joined the SD3 way.
struct Encoded {
  ClipOutput clip_l, clip_g;
  at::Tensor t5, embeds, pooled;
};

struct Encoders {
  ClipText clip_l, clip_g;
  T5Encoder t5;
};

// Token id rows ([B][L]) as an int64 [B, L] array (the dump's form) and as a CPU tensor.
TensorI64 ids64(const std::vector<std::vector<std::int64_t>>& rows);
at::Tensor ids_tensor(const std::vector<std::vector<std::int64_t>>& rows);

// smoke --repeat: the three encoders recorded as one CUDA graph over static token ids on the
// device (CLIP-L and CLIP-G on streams forked from T5's inside it), and the outputs it writes.
struct KeptEncode {
  StageGraph graph;
  at::Tensor clip_l, clip_g, t5;
  Encoded out;
};

// The prompts and the negatives in one batch: each encoder's weights are read (and the FP8 T5's
// dequantised) once instead of twice, and half the kernels are launched. Every row is computed
// on its own (no padding mask joins rows), so the split halves are the separate encodings.
// With `kept` recorded for these shapes: the ids are copied into it and the graph replayed.
std::pair<Encoded, Encoded> encode_with_negatives(const Encoders& m, const TokenIds& prompts,
                                                  const TokenIds& negatives, const Exec& e,
                                                  KeptEncode* kept = nullptr);

// Records `kept` for batches shaped like `prompts` + `negatives`, after an eager encode loaded
// the kernels; false (kept.graph.why() says why) when it could not.
bool capture_encode(const Encoders& m, const TokenIds& prompts, const TokenIds& negatives,
                    const Exec& e, KeptEncode& kept);

// CLIP-L, CLIP-G and T5-XXL from the source, moved to e.device.
Result<Encoders> load_encoders(const PipelineSource& source, const Exec& e);

}  // namespace sd35::smoke
