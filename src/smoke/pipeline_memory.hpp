// The prompt pipeline's device memory: the plan (everything resident, or one stage at a time),
// peak and free figures, and the device synchronisation the stage timings need. TORCH HEADER:
// include only from src/smoke/*.cpp.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "smoke/pipeline_models.hpp"

namespace sd35::smoke {

// Waits for the device's queued work (nothing on the CPU).
void sync_device(const at::Device& d);
// Starts the peak figure afresh.
void reset_peak_memory(const at::Device& d);
// Peak bytes the caching allocator handed out on the GPU; the process's peak RSS on the CPU.
std::uint64_t peak_memory(const at::Device& d);
// Free device memory as the driver sees it (other processes included); 0 on the CPU.
std::uint64_t free_memory(const at::Device& d);
// Hands the freed stage's blocks back to the driver so the next stage can use them.
void release_cached(const at::Device& d);

struct MemoryPlan {
  bool resident = false;
  std::uint64_t free = 0, encoders = 0, mmdit = 0, vae = 0, activations = 0;
  nlohmann::json to_json() const {
    return {
        {"plan", resident ? "resident" : "sequential"},
        {"free_bytes_at_start", free},
        {"weights_bytes", {{"text_encoders", encoders}, {"mmdit", mmdit}, {"vae_decoder", vae}}},
        {"activation_estimate_bytes", activations}};
  }
};

// Everything resident when weights + the largest stage's activations fit in 90 % of the free
// memory; otherwise load -> run -> free one stage at a time. The CPU (no free figure) keeps all.
MemoryPlan plan_memory(const PipelineSource& source, const Exec& e, std::int64_t batch,
                       std::int64_t h, std::int64_t w);

}  // namespace sd35::smoke
