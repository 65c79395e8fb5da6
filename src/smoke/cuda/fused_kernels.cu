// The nvcc build of the fused FP8 kernels: device code from fused_kernels_device.cuh, launched
// with the shared plans of fused_launch.hpp (the NVRTC build, fused_nvrtc.cpp, uses the same).
#include <cuda_runtime.h>

#include "smoke/cuda/fused_kernels_device.cuh"
#include "smoke/cuda/fused_launch.hpp"

namespace sd35::smoke::cuda {
namespace {

int launch_status() {
  return static_cast<int>(cudaGetLastError());
}

cudaStream_t as_stream(void* stream) {
  return static_cast<cudaStream_t>(stream);
}

}  // namespace

const char* kernels_unavailable() {
  return nullptr;
}
const char* kernels_source() {
  return "nvcc";
}
const char* error_text(int rc) {
  return cudaGetErrorString(static_cast<cudaError_t>(rc));
}

int ln_modulate_quant(const LnModulateQuantArgs& a, void* stream) {
  const auto p = launch::ln_modulate_quant(a);
  if (p.skip || p.status != 0) return p.status;
  const auto s = as_stream(stream);
  switch (p.per_thread) {
    case 2:
      dev::ln_modulate_quant_vec_kernel<2><<<p.grid, p.block, 0, s>>>(a);
      break;
    case 4:
      dev::ln_modulate_quant_vec_kernel<4><<<p.grid, p.block, 0, s>>>(a);
      break;
    case 8:
      dev::ln_modulate_quant_vec_kernel<8><<<p.grid, p.block, 0, s>>>(a);
      break;
    default:
      dev::ln_modulate_quant_scalar_kernel<<<p.grid, p.block, p.smem, s>>>(a);
  }
  return launch_status();
}

int gelu_quant(const void* x, std::int64_t rows, std::int64_t width, Fp8Rows out, void* stream) {
  const auto p = launch::gelu_quant(x, rows, width, out);
  if (p.skip || p.status != 0) return p.status;
  const auto* xb = static_cast<const dev::bf16*>(x);
  const auto s = as_stream(stream);
  switch (p.per_thread) {
    case 2:
      dev::gelu_quant_vec_kernel<2><<<p.grid, p.block, 0, s>>>(xb, width, out);
      break;
    case 4:
      dev::gelu_quant_vec_kernel<4><<<p.grid, p.block, 0, s>>>(xb, width, out);
      break;
    case 8:
      dev::gelu_quant_vec_kernel<8><<<p.grid, p.block, 0, s>>>(xb, width, out);
      break;
    default:
      dev::gelu_quant_scalar_kernel<<<p.grid, p.block, p.smem, s>>>(xb, width, out);
  }
  return launch_status();
}

int gather_quant(const GatherQuantArgs& a, void* stream) {
  const auto p = launch::gather_quant(a);
  if (p.skip || p.status != 0) return p.status;
  const auto s = as_stream(stream);
  switch (p.per_thread) {
    case 2:
      dev::gather_quant_vec_kernel<2><<<p.grid, p.block, 0, s>>>(a);
      break;
    case 4:
      dev::gather_quant_vec_kernel<4><<<p.grid, p.block, 0, s>>>(a);
      break;
    case 8:
      dev::gather_quant_vec_kernel<8><<<p.grid, p.block, 0, s>>>(a);
      break;
    default:
      dev::gather_quant_scalar_kernel<<<p.grid, p.block, p.smem, s>>>(a);
  }
  return launch_status();
}

int gate_residual(void* x, std::int64_t rows, std::int64_t rows_per_batch, std::int64_t width,
                  BatchVector gate, const void* y, void* stream) {
  const auto p = launch::gate_residual(x, rows, rows_per_batch, width, gate, y);
  if (p.skip || p.status != 0) return p.status;
  auto* xb = static_cast<dev::bf16*>(x);
  const auto* gb = static_cast<const dev::bf16*>(gate.data);
  const auto* yb = static_cast<const dev::bf16*>(y);
  if (p.vec)
    dev::gate_residual_kernel<true><<<p.grid, p.block, 0, as_stream(stream)>>>(
        xb, rows, rows_per_batch, width, gb, gate.stride, yb);
  else
    dev::gate_residual_kernel<false><<<p.grid, p.block, 0, as_stream(stream)>>>(
        xb, rows, rows_per_batch, width, gb, gate.stride, yb);
  return launch_status();
}

int qkv_pack(const QkvPackArgs& a, void* stream) {
  const auto p = launch::qkv_pack(a);
  if (p.skip || p.status != 0) return p.status;
  if (p.vec)
    dev::qkv_pack_vec_kernel<<<p.grid, p.block, 0, as_stream(stream)>>>(a);
  else
    dev::qkv_pack_kernel<<<p.grid, p.block, 0, as_stream(stream)>>>(a);
  return launch_status();
}

int v_quant(const void* v, std::int64_t count, const float* v_amax, void* v8, float* scales,
            void* stream) {
  const auto p = launch::v_quant(v, count, v8);
  if (p.skip || p.status != 0) return p.status;
  dev::v_quant_kernel<<<p.grid, p.block, 0, as_stream(stream)>>>(
      static_cast<const dev::bf16*>(v), count / 8, v_amax, static_cast<unsigned char*>(v8), scales);
  return launch_status();
}

int gather_fp8(const GatherFp8Args& a, void* stream) {
  const auto p = launch::gather_fp8(a);
  if (p.skip || p.status != 0) return p.status;
  dev::gather_fp8_kernel<<<p.grid, p.block, 0, as_stream(stream)>>>(a);
  return launch_status();
}

int dequant_e4m3(const void* w, std::int64_t count, float scale, void* out, void* stream) {
  const auto p = launch::dequant_e4m3(w, count, out);
  if (p.skip || p.status != 0) return p.status;
  dev::dequant_e4m3_kernel<<<p.grid, p.block, 0, as_stream(stream)>>>(
      static_cast<const unsigned char*>(w), count / 16, scale, static_cast<dev::bf16*>(out));
  return launch_status();
}

int group_norm(const GroupNormArgs& a, void* stream) {
  const auto p = launch::group_norm(a);
  if (p.skip || p.status != 0) return p.status;
  dev::group_norm_moments_kernel<<<p.grid, p.block, 0, as_stream(stream)>>>(a);
  dev::group_norm_apply_kernel<<<p.grid, p.block, 0, as_stream(stream)>>>(a);
  return launch_status();
}

}  // namespace sd35::smoke::cuda
