// Weights from the checkpoint's mapping to the GPU at the host's copy bandwidth. TORCH HEADER:
// include only from src/smoke/*.cpp.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace sd35::smoke {

// Moves every defined tensor in `tensors` to `device` (same dtype, shape and values), replacing
// each in place; tensors already there are left alone.
//
// Why not t.to(device) per tensor: from pageable memory (the mapping) the driver copies through
// its own staging buffer on one thread, ~6 GB/s on the H200 box, so SD3.5 Large's 8.3 GB MMDiT
// took 1.4 s. Here SD35_UPLOAD_THREADS threads (default 4; 0 = t.to(device)) each copy 16 MiB
// pieces of the mapping into two pinned buffers of their own and send them with asynchronous
// copies on their own CUDA stream: 0.38 s for the same bytes (tests/tools/gpu_load_probe.py).
// Returns when every copy is complete, so the tensors can be used from any stream.
void upload(const std::vector<at::Tensor*>& tensors, const at::Device& device);

}  // namespace sd35::smoke
