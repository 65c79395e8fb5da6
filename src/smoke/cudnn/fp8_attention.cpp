// The backend graph of fp8_attention.hpp, spelled the way cuDNN's fused FP8 SDPA engine
// recognises it (the op sequence of cudnn-frontend's SDPA_fp8 node, built here with the backend
// API directly: the frontend is header-only and not part of a torch install).
#include "smoke/cudnn/fp8_attention.hpp"

// Built only where cuDNN's headers are (a pip CUDA torch brings them as nvidia-cudnn); the
// torch glue (smoke/fused_attention.cpp) checks the same.
#if __has_include(<cudnn.h>)

#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <dlfcn.h>

#include <array>
#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sd35::smoke::cudnn {
namespace {

// cuDNN's entry points, resolved from the libcudnn the process already has (libtorch_cuda loads
// it), so the plugin links nothing more; a standalone program gets it from the loader's path.
struct Api {
  decltype(&::cudnnGetVersion) GetVersion = nullptr;
  decltype(&::cudnnGetErrorString) GetErrorString = nullptr;
  decltype(&::cudnnGetLastErrorString) GetLastErrorString = nullptr;
  decltype(&::cudnnCreate) Create = nullptr;
  decltype(&::cudnnDestroy) Destroy = nullptr;
  decltype(&::cudnnSetStream) SetStream = nullptr;
  decltype(&::cudnnBackendCreateDescriptor) BackendCreateDescriptor = nullptr;
  decltype(&::cudnnBackendDestroyDescriptor) BackendDestroyDescriptor = nullptr;
  decltype(&::cudnnBackendSetAttribute) BackendSetAttribute = nullptr;
  decltype(&::cudnnBackendGetAttribute) BackendGetAttribute = nullptr;
  decltype(&::cudnnBackendFinalize) BackendFinalize = nullptr;
  decltype(&::cudnnBackendExecute) BackendExecute = nullptr;
  std::string missing;  // empty when every entry point was found
};

const Api& cudnn() {
  static const Api api = [] {
    Api a;
    void* lib = ::dlopen("libcudnn.so.9", RTLD_NOW | RTLD_NOLOAD);
    if (lib == nullptr) lib = ::dlopen("libcudnn.so.9", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      a.missing = std::string("cannot open libcudnn.so.9: ") + ::dlerror();
      return a;
    }
    auto bind = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
      if (fn == nullptr && a.missing.empty()) a.missing = std::string("libcudnn lacks ") + name;
    };
    bind(a.GetVersion, "cudnnGetVersion");
    bind(a.GetErrorString, "cudnnGetErrorString");
    bind(a.GetLastErrorString, "cudnnGetLastErrorString");
    bind(a.Create, "cudnnCreate");
    bind(a.Destroy, "cudnnDestroy");
    bind(a.SetStream, "cudnnSetStream");
    bind(a.BackendCreateDescriptor, "cudnnBackendCreateDescriptor");
    bind(a.BackendDestroyDescriptor, "cudnnBackendDestroyDescriptor");
    bind(a.BackendSetAttribute, "cudnnBackendSetAttribute");
    bind(a.BackendGetAttribute, "cudnnBackendGetAttribute");
    bind(a.BackendFinalize, "cudnnBackendFinalize");
    bind(a.BackendExecute, "cudnnBackendExecute");
    return a;
  }();
  return api;
}

using Dims = std::array<std::int64_t, 4>;

std::string last_error(cudnnStatus_t s) {
  std::string text = cudnn().GetErrorString(s);
  char detail[1024] = {0};
  cudnn().GetLastErrorString(detail, sizeof detail);
  if (detail[0] != '\0') text += std::string(": ") + detail;
  return text;
}

// The backend descriptors of one graph, destroyed together; the first failure is kept.
class Builder {
 public:
  ~Builder() {
    for (auto it = owned_.rbegin(); it != owned_.rend(); ++it)
      cudnn().BackendDestroyDescriptor(*it);
  }
  const std::string& error() const { return error_; }

  cudnnBackendDescriptor_t make(cudnnBackendDescriptorType_t type, const char* what) {
    cudnnBackendDescriptor_t d = nullptr;
    if (!error_.empty()) return nullptr;
    if (const auto s = cudnn().BackendCreateDescriptor(type, &d); s != CUDNN_STATUS_SUCCESS) {
      fail(what, "create", s);
      return nullptr;
    }
    owned_.push_back(d);
    return d;
  }

  template <class T>
  void set(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
           cudnnBackendAttributeType_t type, std::int64_t count, const T* values,
           const char* what) {
    if (!error_.empty() || d == nullptr) return;
    if (const auto s = cudnn().BackendSetAttribute(d, name, type, count, values);
        s != CUDNN_STATUS_SUCCESS)
      fail(what, "set attribute " + std::to_string(static_cast<int>(name)), s);
  }
  void set_desc(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                cudnnBackendDescriptor_t value, const char* what) {
    set(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &value, what);
  }

  void finalize(cudnnBackendDescriptor_t d, const char* what) {
    if (!error_.empty() || d == nullptr) return;
    if (const auto s = cudnn().BackendFinalize(d); s != CUDNN_STATUS_SUCCESS)
      fail(what, "finalize", s);
  }

  // A tensor; returns its descriptor (uid in `uid` when asked for).
  cudnnBackendDescriptor_t tensor(cudnnDataType_t type, const Dims& dims, const Dims& strides,
                                  bool is_virtual, const char* what, std::int64_t* uid = nullptr,
                                  bool by_value = false) {
    cudnnBackendDescriptor_t t = make(CUDNN_BACKEND_TENSOR_DESCRIPTOR, what);
    const std::int64_t id = next_uid_++;
    const std::int64_t alignment = 16;
    set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, what);
    set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data(), what);
    set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data(), what);
    set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &id, what);
    set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment, what);
    set(t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual, what);
    if (by_value) set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value, what);
    finalize(t, what);
    if (uid != nullptr) *uid = id;
    return t;
  }

  // y = mode(x[, b]), computed in float.
  void pointwise(cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t b,
                 cudnnBackendDescriptor_t y, const char* what) {
    cudnnBackendDescriptor_t pw = make(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, what);
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    set(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode, what);
    set(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec, what);
    finalize(pw, what);
    operation(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR,
              {{CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw},
               {CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x},
               {CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b},
               {CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y}},
              what);
  }

  void reduction(cudnnReduceTensorOp_t mode, cudnnBackendDescriptor_t x, cudnnBackendDescriptor_t y,
                 const char* what) {
    cudnnBackendDescriptor_t r = make(CUDNN_BACKEND_REDUCTION_DESCRIPTOR, what);
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    set(r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &mode, what);
    set(r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &prec, what);
    finalize(r, what);
    operation(CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR,
              {{CUDNN_ATTR_OPERATION_REDUCTION_XDESC, x},
               {CUDNN_ATTR_OPERATION_REDUCTION_YDESC, y},
               {CUDNN_ATTR_OPERATION_REDUCTION_DESC, r}},
              what);
  }

  void matmul(cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t b, cudnnBackendDescriptor_t c,
              const char* what) {
    cudnnBackendDescriptor_t m = make(CUDNN_BACKEND_MATMUL_DESCRIPTOR, what);
    const cudnnDataType_t prec = CUDNN_DATA_FLOAT;
    set(m, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &prec, what);
    finalize(m, what);
    operation(CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR,
              {{CUDNN_ATTR_OPERATION_MATMUL_ADESC, a},
               {CUDNN_ATTR_OPERATION_MATMUL_BDESC, b},
               {CUDNN_ATTR_OPERATION_MATMUL_CDESC, c},
               {CUDNN_ATTR_OPERATION_MATMUL_DESC, m}},
              what);
  }

  // An operation of `type` over these descriptors (null ones left unset), added to the graph.
  void operation(
      cudnnBackendDescriptorType_t type,
      std::initializer_list<std::pair<cudnnBackendAttributeName_t, cudnnBackendDescriptor_t>> descs,
      const char* what) {
    cudnnBackendDescriptor_t op = make(type, what);
    for (const auto& [name, d] : descs)
      if (d != nullptr) set_desc(op, name, d, what);
    finalize(op, what);
    ops_.push_back(op);
  }

  const std::vector<cudnnBackendDescriptor_t>& ops() const { return ops_; }

  // Leaves `d` alive after this builder (the execution plan outlives the graph).
  void release(cudnnBackendDescriptor_t d) {
    for (auto& o : owned_)
      if (o == d) o = nullptr;
    std::erase(owned_, nullptr);
  }

 private:
  void fail(const char* what, const std::string& step, cudnnStatus_t s) {
    error_ = std::string(what) + ": " + step + " failed: " + last_error(s);
  }
  std::vector<cudnnBackendDescriptor_t> owned_, ops_;
  std::string error_;
  std::int64_t next_uid_ = 1;
};

// The uids of the graph's real (non-virtual) tensors, in the order of AttentionArgs.
enum Port {
  kQ,
  kK,
  kV,
  kO,
  kAttnScale,
  kDescaleQ,
  kDescaleK,
  kDescaleV,
  kDescaleS,
  kScaleS,
  kScaleO,
  kAmaxS,
  kAmaxO,
  kPorts
};

struct Built {
  cudnnBackendDescriptor_t plan = nullptr;
  std::int64_t workspace = 0;
  std::string engine;
};

Dims packed(const Dims& d) {
  return {d[1] * d[2] * d[3], d[2] * d[3], d[3], 1};
}

// The op graph of the FP8 SDPA forward; fills uids.
void add_sdpa_ops(Builder& g, const AttentionShape& s, std::array<std::int64_t, kPorts>& uid) {
  const std::int64_t b = s.batch, h = s.heads, n = s.tokens, d = s.head_dim;
  const Dims qkv_dims{b, h, n, d}, layout{s.stride_batch, s.stride_head, s.stride_token, 1};
  const Dims scalar{1, 1, 1, 1};
  const Dims scores{b, h, n, n}, rows{b, h, n, 1}, row_strides{h * n, n, 1, 1};
  constexpr auto f32 = CUDNN_DATA_FLOAT;
  constexpr auto e4m3 = CUDNN_DATA_FP8_E4M3;
  auto q = g.tensor(e4m3, qkv_dims, layout, false, "Q", &uid[kQ]);
  // K enters bmm1 as K^T: [B, H, D, S] over the same memory.
  auto kt = g.tensor(e4m3, {b, h, d, n}, {s.stride_batch, s.stride_head, 1, s.stride_token}, false,
                     "K", &uid[kK]);
  auto v = g.tensor(e4m3, qkv_dims, layout, false, "V", &uid[kV]);
  auto o =
      g.tensor(s.out_bf16 ? CUDNN_DATA_BFLOAT16 : e4m3, qkv_dims, layout, false, "O", &uid[kO]);
  auto attn_scale = g.tensor(f32, scalar, scalar, false, "attn_scale", &uid[kAttnScale], true);
  auto scalar_in = [&](const char* name, Port p) {
    return g.tensor(f32, scalar, scalar, false, name, &uid[p]);
  };
  auto dq = scalar_in("descale_q", kDescaleQ), dk = scalar_in("descale_k", kDescaleK);
  auto dv = scalar_in("descale_v", kDescaleV), ds = scalar_in("descale_s", kDescaleS);
  auto ss = scalar_in("scale_s", kScaleS), so = scalar_in("scale_o", kScaleO);
  auto amax_s = scalar_in("amax_s", kAmaxS), amax_o = scalar_in("amax_o", kAmaxO);
  auto scores_v = [&](const char* name, cudnnDataType_t t = CUDNN_DATA_FLOAT) {
    return g.tensor(t, scores, packed(scores), true, name);
  };
  auto rows_v = [&](const char* name) { return g.tensor(f32, rows, row_strides, true, name); };

  auto s1 = scores_v("bmm1");
  g.matmul(q, kt, s1, "bmm1");
  auto s2 = scores_v("attn_scale out");
  g.pointwise(CUDNN_POINTWISE_MUL, s1, attn_scale, s2, "attn_scale");
  auto s3 = scores_v("descale_q out");
  g.pointwise(CUDNN_POINTWISE_MUL, s2, dq, s3, "descale_q");
  auto s4 = scores_v("descale_k out");
  g.pointwise(CUDNN_POINTWISE_MUL, s3, dk, s4, "descale_k");
  // softmax with its (virtual) stats, as the flash engine expects
  auto m = rows_v("max");
  g.reduction(CUDNN_REDUCE_TENSOR_MAX, s4, m, "softmax max");
  auto sub = scores_v("sub");
  g.pointwise(CUDNN_POINTWISE_SUB, s4, m, sub, "softmax sub");
  auto ex = scores_v("exp");
  g.pointwise(CUDNN_POINTWISE_EXP, sub, nullptr, ex, "softmax exp");
  auto z = rows_v("sum");
  g.reduction(CUDNN_REDUCE_TENSOR_ADD, ex, z, "softmax sum");
  auto logz = rows_v("log");
  g.pointwise(CUDNN_POINTWISE_LOG, z, nullptr, logz, "softmax log");
  auto stats = rows_v("stats");
  g.pointwise(CUDNN_POINTWISE_ADD, m, logz, stats, "softmax stats");
  auto p = scores_v("softmax");
  g.pointwise(CUDNN_POINTWISE_DIV, ex, z, p, "softmax div");
  g.reduction(CUDNN_REDUCE_TENSOR_AMAX, p, amax_s, "amax_s");
  auto p8 = scores_v("scale_s out", e4m3);
  g.pointwise(CUDNN_POINTWISE_MUL, p, ss, p8, "scale_s");
  const Dims out_packed = packed(qkv_dims);
  auto o1 = g.tensor(f32, qkv_dims, out_packed, true, "bmm2");
  g.matmul(p8, v, o1, "bmm2");
  auto o2 = g.tensor(f32, qkv_dims, out_packed, true, "descale_s out");
  g.pointwise(CUDNN_POINTWISE_MUL, o1, ds, o2, "descale_s");
  auto o3 = g.tensor(f32, qkv_dims, out_packed, true, "descale_v out");
  g.pointwise(CUDNN_POINTWISE_MUL, o2, dv, o3, "descale_v");
  g.pointwise(CUDNN_POINTWISE_MUL, o3, so, o, "scale_o");
  g.reduction(CUDNN_REDUCE_TENSOR_AMAX, o3, amax_o, "amax_o");
}

// The first engine configuration heuristics mode A offers that finalizes into a plan.
Built make_plan(Builder& g, cudnnHandle_t handle, std::string& why_not) {
  Built out;
  auto graph = g.make(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, "operation graph");
  g.set(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
        static_cast<std::int64_t>(g.ops().size()), g.ops().data(), "operation graph");
  g.set(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "operation graph");
  g.finalize(graph, "operation graph");
  auto heur = g.make(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, "heuristics");
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  g.set_desc(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph, "heuristics");
  g.set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "heuristics");
  g.finalize(heur, "heuristics");
  if (!g.error().empty()) {
    why_not = g.error();
    return out;
  }
  std::int64_t count = 0;
  cudnn().BackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                              &count, nullptr);
  std::vector<cudnnBackendDescriptor_t> configs;
  for (std::int64_t i = 0; i < count; ++i)
    configs.push_back(g.make(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, "engine config"));
  std::int64_t got = 0;
  if (count > 0)
    cudnn().BackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                count, &got, configs.data());
  std::string tried;
  for (std::int64_t i = 0; i < got; ++i) {
    cudnnBackendDescriptor_t plan = nullptr;
    if (cudnn().BackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) !=
        CUDNN_STATUS_SUCCESS)
      break;
    cudnn().BackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1,
                                &handle);
    cudnn().BackendSetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &configs[i]);
    if (const auto s = cudnn().BackendFinalize(plan); s != CUDNN_STATUS_SUCCESS) {
      tried += " [config " + std::to_string(i) + ": " + last_error(s) + "]";
      cudnn().BackendDestroyDescriptor(plan);
      continue;
    }
    std::int64_t n = 0;
    cudnn().BackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                &n, &out.workspace);
    out.plan = plan;
    out.engine = "heuristics A config " + std::to_string(i) + " of " + std::to_string(got);
    return out;
  }
  why_not = "cuDNN offers no engine for the FP8 attention graph (" + std::to_string(got) +
            " configurations" + (tried.empty() ? "" : ":" + tried) + ")";
  return out;
}

}  // namespace

std::unique_ptr<Fp8Attention> Fp8Attention::build(const AttentionShape& shape,
                                                  std::string& why_not) {
  if (!cudnn().missing.empty()) {
    why_not = cudnn().missing;
    return nullptr;
  }
  if (cudnn().GetVersion() < 90100) {
    why_not = "cuDNN " + std::to_string(cudnn().GetVersion()) + " has no FP8 attention (9.1+)";
    return nullptr;
  }
  std::unique_ptr<Fp8Attention> a(new Fp8Attention());
  cudnnHandle_t handle = nullptr;
  if (const auto s = cudnn().Create(&handle); s != CUDNN_STATUS_SUCCESS) {
    why_not = "cudnnCreate failed: " + last_error(s);
    return nullptr;
  }
  a->handle_ = handle;
  Builder g;
  static_assert(kPorts == kAttentionPorts);
  add_sdpa_ops(g, shape, a->uids_);
  if (!g.error().empty()) {
    why_not = g.error();
    return nullptr;
  }
  Built built = make_plan(g, handle, why_not);
  if (built.plan == nullptr) return nullptr;
  a->plan_ = built.plan;
  a->workspace_ = static_cast<std::size_t>(built.workspace);
  a->engine_ = built.engine;
  return a;
}

Fp8Attention::~Fp8Attention() {
  if (plan_ != nullptr)
    cudnn().BackendDestroyDescriptor(static_cast<cudnnBackendDescriptor_t>(plan_));
  if (handle_ != nullptr) cudnn().Destroy(static_cast<cudnnHandle_t>(handle_));
}

std::string Fp8Attention::run(const AttentionArgs& a) const {
  auto handle = static_cast<cudnnHandle_t>(handle_);
  if (const auto s = cudnn().SetStream(handle, static_cast<cudaStream_t>(a.stream));
      s != CUDNN_STATUS_SUCCESS)
    return "cudnnSetStream failed: " + last_error(s);
  const auto& uid = uids_;
  float attn_scale = a.attn_scale;
  std::array<void*, kPorts> ptrs{};
  ptrs[kQ] = const_cast<void*>(a.q);
  ptrs[kK] = const_cast<void*>(a.k);
  ptrs[kV] = const_cast<void*>(a.v);
  ptrs[kO] = a.o;
  ptrs[kAttnScale] = &attn_scale;
  ptrs[kDescaleQ] = const_cast<float*>(a.descale_q);
  ptrs[kDescaleK] = const_cast<float*>(a.descale_k);
  ptrs[kDescaleV] = const_cast<float*>(a.descale_v);
  ptrs[kDescaleS] = const_cast<float*>(a.descale_s);
  ptrs[kScaleS] = const_cast<float*>(a.scale_s);
  ptrs[kScaleO] = const_cast<float*>(a.scale_o);
  ptrs[kAmaxS] = a.amax_s;
  ptrs[kAmaxO] = a.amax_o;
  cudnnBackendDescriptor_t pack = nullptr;
  cudnn().BackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack);
  void* workspace = a.workspace;
  cudnn().BackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, kPorts,
                              uid.data());
  cudnn().BackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR,
                              kPorts, ptrs.data());
  cudnn().BackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1,
                              &workspace);
  std::string error;
  if (const auto s = cudnn().BackendFinalize(pack); s != CUDNN_STATUS_SUCCESS)
    error = "variant pack: " + last_error(s);
  else if (const auto e =
               cudnn().BackendExecute(handle, static_cast<cudnnBackendDescriptor_t>(plan_), pack);
           e != CUDNN_STATUS_SUCCESS)
    error = "cudnnBackendExecute failed: " + last_error(e);
  cudnn().BackendDestroyDescriptor(pack);
  return error;
}

}  // namespace sd35::smoke::cudnn

#endif  // __has_include(<cudnn.h>)
