// Weights from the mapped checkpoint to the device. TORCH HEADER: include only from
// src/smoke/*.cpp.
#pragma once

#include <ATen/ATen.h>

namespace sd35::smoke {

// `t` on `device`. A large CPU tensor going to CUDA is copied by a few threads through pinned
// staging buffers (see upload.cpp); anything else, or SD35_STAGED_UPLOAD=0, is t.to(device).
// Returns when the copy is complete, so any stream may use the result.
at::Tensor to_device(const at::Tensor& t, const at::Device& device);

}  // namespace sd35::smoke
