// GPU box: cuDNN's FP8 attention (src/smoke/cudnn/fp8_attention.cpp) on its own, without torch:
// does the backend graph build, how fast is it at SD3.5 Large's joint attention (batch 2, 38
// heads of 64, 4429 tokens, BSHD), and does it compute attention? Random E4M3 Q, K, V (values
// 1/8 .. 4 in magnitude), unit descales, scale_s 448; checked against a float64 reference on the
// host for 48 (batch, head, query) rows.
//
//   g++ -std=c++20 -O2 -Isrc -I/usr/local/cuda/include tests/tools/cudnn_fp8_attention_probe.cpp \
//       src/smoke/cudnn/fp8_attention.cpp -L/usr/local/cuda/lib64 -lcudnn -lcudart -o probe
//   ./probe [batch heads tokens head_dim reps]
#include <cuda_runtime_api.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "smoke/cudnn/fp8_attention.hpp"

namespace {

float e4m3(unsigned char b) {
  const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
  const float v = e == 0 ? std::ldexp(m / 8.0F, -6) : std::ldexp(1.0F + m / 8.0F, e - 7);
  return s ? -v : v;
}

float bf16(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float f = 0;
  std::memcpy(&f, &bits, 4);
  return f;
}

#define CHECK(x)                                                  \
  do {                                                            \
    if (cudaError_t e_ = (x); e_ != cudaSuccess) {                \
      std::printf("%s failed: %s\n", #x, cudaGetErrorString(e_)); \
      std::exit(2);                                               \
    }                                                             \
  } while (0)

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t b = argc > 1 ? std::atoll(argv[1]) : 2,
                     h = argc > 2 ? std::atoll(argv[2]) : 38,
                     n = argc > 3 ? std::atoll(argv[3]) : 4429,
                     d = argc > 4 ? std::atoll(argv[4]) : 64;
  const int reps = argc > 5 ? std::atoi(argv[5]) : 20;
  const std::int64_t elems = b * n * h * d;
  std::mt19937 rng(7);
  std::vector<unsigned char> host[3];
  for (auto& t : host) {
    t.resize(elems);
    for (auto& x : t)
      x = static_cast<unsigned char>(((rng() & 1U) << 7) | ((4 + rng() % 6) << 3) | (rng() & 7U));
  }
  void* dev[3];
  for (int i = 0; i < 3; ++i) {
    CHECK(cudaMalloc(&dev[i], elems));
    CHECK(cudaMemcpy(dev[i], host[i].data(), elems, cudaMemcpyHostToDevice));
  }
  void* out = nullptr;
  CHECK(cudaMalloc(&out, elems * 2));
  float* scalars = nullptr;  // descale q k v s, scale s o, amax s o
  CHECK(cudaMalloc(reinterpret_cast<void**>(&scalars), 8 * sizeof(float)));
  const float init[8] = {1, 1, 1, 1.0F / 448, 448, 1, 0, 0};
  CHECK(cudaMemcpy(scalars, init, sizeof init, cudaMemcpyHostToDevice));
  cudaStream_t stream;
  CHECK(cudaStreamCreate(&stream));
  const float attn_scale = 1.0F / std::sqrt(static_cast<float>(d));

  for (const bool out_bf16 : {true, false}) {
    sd35::smoke::cudnn::AttentionShape shape{b, h, n, d, n * h * d, d, h * d, out_bf16};
    std::string why;
    const auto t0 = std::chrono::steady_clock::now();
    auto attn = sd35::smoke::cudnn::Fp8Attention::build(shape, why);
    const double build_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!attn) {
      std::printf("O %s: no plan: %s\n", out_bf16 ? "bf16" : "e4m3", why.c_str());
      continue;
    }
    void* ws = nullptr;
    if (attn->workspace_bytes() > 0) CHECK(cudaMalloc(&ws, attn->workspace_bytes()));
    sd35::smoke::cudnn::AttentionArgs a;
    a.q = dev[0];
    a.k = dev[1];
    a.v = dev[2];
    a.o = out;
    a.descale_q = scalars;
    a.descale_k = scalars + 1;
    a.descale_v = scalars + 2;
    a.descale_s = scalars + 3;
    a.scale_s = scalars + 4;
    a.scale_o = scalars + 5;
    a.amax_s = scalars + 6;
    a.amax_o = scalars + 7;
    a.attn_scale = attn_scale;
    a.workspace = ws;
    a.stream = stream;
    if (auto err = attn->run(a); !err.empty()) {
      std::printf("O %s: run failed: %s\n", out_bf16 ? "bf16" : "e4m3", err.c_str());
      continue;
    }
    CHECK(cudaStreamSynchronize(stream));
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    cudaEventRecord(e0, stream);
    for (int r = 0; r < reps; ++r) (void)attn->run(a);
    cudaEventRecord(e1, stream);
    CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    ms /= static_cast<float>(reps);
    const double flop = 4.0 * static_cast<double>(b * h) * static_cast<double>(n * n) * d;
    std::vector<unsigned char> got(elems * (out_bf16 ? 2 : 1));
    CHECK(cudaMemcpy(got.data(), out, got.size(), cudaMemcpyDeviceToHost));
    float amax[2];
    CHECK(cudaMemcpy(amax, scalars + 6, sizeof amax, cudaMemcpyDeviceToHost));
    // The reference for 48 rows spread over batch items, heads and queries.
    double err2 = 0, ref2 = 0, max_abs = 0;
    for (int r = 0; r < 48; ++r) {
      const std::int64_t bi = r % b, hi = (r * 7) % h, qi = (r * 977) % n;
      auto at = [&](std::int64_t tok, std::int64_t k) { return ((bi * n + tok) * h + hi) * d + k; };
      std::vector<double> s(n);
      double mx = -1e300;
      for (std::int64_t j = 0; j < n; ++j) {
        double dot = 0;
        for (std::int64_t k = 0; k < d; ++k)
          dot += static_cast<double>(e4m3(host[0][at(qi, k)])) * e4m3(host[1][at(j, k)]);
        s[j] = dot * attn_scale;
        mx = std::max(mx, s[j]);
      }
      double z = 0;
      for (auto& x : s) z += (x = std::exp(x - mx));
      for (std::int64_t k = 0; k < d; ++k) {
        double o = 0;
        for (std::int64_t j = 0; j < n; ++j) o += s[j] / z * e4m3(host[2][at(j, k)]);
        const std::int64_t i = at(qi, k);
        const double g =
            out_bf16 ? bf16(reinterpret_cast<std::uint16_t*>(got.data())[i]) : e4m3(got[i]);
        err2 += (g - o) * (g - o);
        ref2 += o * o;
        max_abs = std::max(max_abs, std::fabs(g - o));
      }
    }
    std::printf(
        "O %s: %s, workspace %zu B, plan built in %.1f ms: %.3f ms/call, %.0f TFLOP/s; "
        "rel L2 vs float64 reference %.4f (max |err| %.4f); amax_s %.4f amax_o %.4f\n",
        out_bf16 ? "bf16" : "e4m3", attn->engine().c_str(), attn->workspace_bytes(), build_ms, ms,
        flop / (ms * 1e-3) / 1e12, std::sqrt(err2 / ref2), max_abs, amax[0], amax[1]);
    if (ws) cudaFree(ws);
  }
  return 0;
}
