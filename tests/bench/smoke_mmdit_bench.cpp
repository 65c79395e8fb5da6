// One CFG step (batch 2) of an SD3.5-Large-size (and Medium-size) MMDiT with random weights at
// 1024^2 (128x128 latent, 333 text tokens): fp8 / fp8-weights / bf16 paths, ms per step and peak
// memory, plus the GEMM probe and the embedded default end to end.
// Peer: diffusers eager (numbers measured on an H100 and given in the issue, not re-measured
// here because the GPU machine has no diffusers): Large bf16 191 ms / 15.7 GiB, Large FP8
// layerwise casting 217 ms / 10.7 GiB, Medium bf16 86 ms.
#include <cstdint>
#include <cstdio>
#include <string>

#include "smoke/smoke.hpp"
#include "util/reporter.hpp"

namespace smoke = sd35::smoke;

// Usage: smoke_mmdit_bench [large|medium [fp8]]; "fp8" times only the fp8 path (for profilers).
int main(int argc, char** argv) {
  const std::string only = argc > 1 ? argv[1] : "";
  const bool fp8_only = argc > 2 && std::string(argv[2]) == "fp8";
  sd35::NullReporter quiet;
  smoke::SmokeRequest embedded;
  embedded.gemm_probe = true;
  embedded.latent_h = 32;  // the CLI's embedded default (sd35-setup smoke without --latent)
  embedded.latent_w = 32;
  auto e2e = fp8_only
                 ? sd35::Result<nlohmann::json>(sd35::Error{sd35::Errc::usage, "skipped", "", ""})
                 : smoke::run_smoke(embedded, quiet);
  if (fp8_only) {
  } else if (e2e) {
    std::printf("embedded default end to end: %.2f s (target <= 3 s GPU, <= 10 s CPU), ok=%d\n",
                (*e2e)["total_seconds"].get<double>(), (*e2e)["ok"].get<bool>() ? 1 : 0);
    if (e2e->contains("gemm_probe"))
      std::printf("gemm_probe: %s\n", (*e2e)["gemm_probe"].dump().c_str());
    for (const auto& line : (*e2e)["summary"])
      std::printf("  %s\n", line.get<std::string>().c_str());
  } else {
    std::printf("embedded default failed: %s\n", e2e.error().describe().c_str());
  }
  // GEMM probe at SD3.5-Large shapes for one CFG step at 1024^2: 2 x (4096 image + 333 text) rows.
  auto probe = fp8_only
                   ? sd35::Result<nlohmann::json>(sd35::Error{sd35::Errc::usage, "skipped", "", ""})
                   : smoke::gemm_probe(smoke::sd35_large_config(), 2 * (4096 + 333));
  if (fp8_only) {
  } else if (probe) {
    for (const auto& row : (*probe)["rows"])
      std::printf(
          "gemm %-12s M=%-6lld N=%-6lld K=%-6lld bf16 %6.0f TFLOP/s  fp8 %6.0f TFLOP/s  fp8/bf16 "
          "%.2fx\n",
          row["shape"].get<std::string>().c_str(),
          static_cast<long long>(row["m"].get<std::int64_t>()),
          static_cast<long long>(row["n"].get<std::int64_t>()),
          static_cast<long long>(row["k"].get<std::int64_t>()), row["bf16_tflops"].get<double>(),
          row["fp8_tflops"].get<double>(), row["fp8_over_bf16"].get<double>());
    std::printf("%s\n", (*probe)["summary"].get<std::string>().c_str());
    std::printf("activation quantisation: %s\n",
                (*probe)["activation_quantisation"].dump().c_str());
  } else {
    std::printf("gemm probe: %s\n", probe.error().describe().c_str());
  }
  struct Peer {
    const char* model;
    double bf16_ms, fp8_ms, bf16_gib, fp8_gib;
  };
  const Peer peers[] = {{"large", 191, 217, 15.7, 10.7}, {"medium", 86, 0, 0, 0}};
  for (const auto& peer : peers) {
    if (!only.empty() && only != peer.model) continue;
    smoke::BenchRequest rq;
    rq.model = peer.model;
    if (fp8_only) {
      rq.precisions = {smoke::Precision::fp8};
      rq.variants = false;
      rq.cuda_graph = false;
    }
    auto r = smoke::run_benchmark(rq);
    if (!r) {
      std::printf("%s: %s\n", peer.model, r.error().describe().c_str());
      continue;
    }
    for (const auto& row : (*r)["rows"]) {
      if (row.contains("error")) {
        std::printf("%s %s: error %s\n", peer.model, row["precision"].get<std::string>().c_str(),
                    row["error"].get<std::string>().c_str());
        continue;
      }
      const double ms = row["ms_per_cfg_step"].get<double>();
      std::printf(
          "%s %-11s native=%d  %7.1f ms/CFG step  weights %.2f GiB  peak %.2f GiB  vs diffusers "
          "bf16 %.0f ms: "
          "%.2fx faster",
          peer.model, row["precision"].get<std::string>().c_str(),
          row["native_fp8"].get<bool>() ? 1 : 0, ms, row["weights_gib"].get<double>(),
          row["peak_gib"].get<double>(), peer.bf16_ms, peer.bf16_ms / ms);
      if (peer.fp8_ms > 0)
        std::printf(", vs diffusers FP8 layerwise %.0f ms: %.2fx", peer.fp8_ms, peer.fp8_ms / ms);
      std::printf("\n");
      std::printf("%s %-11s fused kernels: %s, attention: %s\n", peer.model,
                  row["precision"].get<std::string>().c_str(),
                  row.value("fused_kernels", false)
                      ? "yes"
                      : row.value("fused_note", std::string("no")).c_str(),
                  row.value("attention_backend", std::string("?")).c_str());
      if (row.contains("variants_ms"))
        std::printf("%s %-11s variants (ms/CFG step): %s\n", peer.model,
                    row["precision"].get<std::string>().c_str(), row["variants_ms"].dump().c_str());
      if (row.contains("ms_per_cfg_step_cuda_graph")) {
        const double g = row["ms_per_cfg_step_cuda_graph"].get<double>();
        std::printf(
            "%s %-11s CUDA graph %7.1f ms/CFG step  peak %.2f GiB  vs diffusers bf16 (eager) %.0f "
            "ms: %.2fx faster\n",
            peer.model, row["precision"].get<std::string>().c_str(), g,
            row["peak_gib_cuda_graph"].get<double>(), peer.bf16_ms, peer.bf16_ms / g);
      } else if (row.contains("cuda_graph_error")) {
        std::printf("%s %s CUDA graph: %s\n", peer.model,
                    row["precision"].get<std::string>().c_str(),
                    row["cuda_graph_error"].get<std::string>().c_str());
      }
    }
  }
  return 0;
}
