#include "smoke/pipeline_memory.hpp"

#include "smoke/smoke_io.hpp"

#ifdef SD35_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#include <torch/cuda.h>
#endif

namespace sd35::smoke {

void sync_device(const at::Device& d) {
#ifdef SD35_TORCH_CUDA
  if (d.is_cuda()) torch::cuda::synchronize();
#endif
  (void)d;
}

#ifdef SD35_TORCH_CUDA
namespace {
int cuda_index(const at::Device& d) {
  return d.index() < 0 ? 0 : d.index();
}
}  // namespace
#endif

void reset_peak_memory(const at::Device& d) {
#ifdef SD35_TORCH_CUDA
  if (d.is_cuda()) {
    // The caching allocator sets itself up on the first allocation; its statistics calls before
    // that fail with "Invalid device argument" (torch 2.11). One tiny allocation initialises it.
    (void)at::empty({1}, at::TensorOptions().device(d));
    c10::cuda::CUDACachingAllocator::resetPeakStats(cuda_index(d));
  }
#endif
  (void)d;
}

// Peak bytes the caching allocator handed out on the GPU; the process's peak RSS on the CPU.
std::uint64_t peak_memory(const at::Device& d) {
#ifdef SD35_TORCH_CUDA
  if (d.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(cuda_index(d));
    return static_cast<std::uint64_t>(stats.allocated_bytes[0].peak);
  }
#endif
  (void)d;
  return peak_rss_bytes();
}

// Free device memory as the driver sees it (other processes included); 0 on the CPU.
std::uint64_t free_memory(const at::Device& d) {
#ifdef SD35_TORCH_CUDA
  std::size_t free = 0, total = 0;
  if (d.is_cuda() && cudaMemGetInfo(&free, &total) == cudaSuccess) return free;
#endif
  (void)d;
  return 0;
}

// Hands the freed stage's blocks back to the driver so the next stage can use them.
void release_cached(const at::Device& d) {
#ifdef SD35_TORCH_CUDA
  if (d.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
  (void)d;
}

// Everything resident when weights + the largest stage's activations fit in 90 % of the free
// memory; otherwise load -> run -> free one stage at a time. The CPU (no free figure) keeps all.
MemoryPlan plan_memory(const PipelineSource& source, const Exec& e, std::int64_t batch,
                       std::int64_t h, std::int64_t w) {
  MemoryPlan p;
  p.free = free_memory(e.device);
  // Bytes each stage's weights take on the device (stored dtypes; FP8 stays one byte).
  p.encoders = source.stored_bytes("text_encoders");
  p.mmdit = source.stored_bytes("mmdit");
  p.vae = source.stored_bytes("vae");
  // The VAE's full-resolution 128-channel float32 tensors dominate: ~10 of them alive at once.
  p.activations = static_cast<std::uint64_t>(batch * h * w * 128 * 4 * 10);
  const std::uint64_t need = p.encoders + p.mmdit + p.vae + p.activations;
  p.resident = p.free == 0 || static_cast<double>(need) < 0.9 * static_cast<double>(p.free);
  return p;
}

}  // namespace sd35::smoke
