// Why: the weights are mapped from the page cache, and t.to(cuda) of pageable memory goes through
// the driver's own staging at ~6 GB/s on the H200 box, one copy at a time (two loader threads
// together reach ~7 GB/s). 14 GB of SD3.5 Large was ~2.5 s of the ~6.4 s from process start to
// PNG. Here a few threads each read chunks of the file (pread: the kernel copies out of its page
// cache, where a memcpy out of the mapping faults every 4 KiB page in first) into their own pinned
// buffers, two per thread so one fills while the other goes over PCIe on the thread's stream.
#include "smoke/upload.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#ifdef SD35_TORCH_CUDA
#include <cuda_runtime_api.h>
#include <unistd.h>

#include <cerrno>

#include "safetensors/safetensors.hpp"
#endif

namespace sd35::smoke {

#ifndef SD35_TORCH_CUDA

at::Tensor to_device(const at::Tensor& t, const at::Device& device) {
  return t.to(device);
}

#else

namespace {

constexpr std::size_t kChunk = std::size_t{8} << 20;     // bytes a staging buffer holds
constexpr std::size_t kMinBytes = std::size_t{1} << 20;  // below this, one plain copy
constexpr int kThreads = 4;

bool staged_upload_enabled() {
  const char* v = std::getenv("SD35_STAGED_UPLOAD");
  return v == nullptr || std::string(v) != "0";
}

std::string cuda_text(cudaError_t rc, const char* what) {
  return std::string(what) + ": " + cudaGetErrorString(rc);
}

// One copy: [0, bytes) of src to dst in kChunk pieces, taken by whichever thread is free.
struct Job {
  char* dst = nullptr;
  const char* src = nullptr;
  int fd = -1;  // the mapped file src lies in, read at file_offset + i (else memcpy from src)
  std::uint64_t file_offset = 0;
  std::size_t bytes = 0;
  int device = 0;
  std::atomic<std::size_t> next{0};
};

// A thread's stream and its two pinned buffers, each with the event of its last copy.
class Stager {
 public:
  Stager() = default;
  Stager(const Stager&) = delete;
  Stager& operator=(const Stager&) = delete;

  std::string copy(Job& job) {
    if (std::string e = set_up(job.device); !e.empty()) return e;
    int slot = 0;
    for (std::size_t i = job.next.fetch_add(1); i * kChunk < job.bytes; i = job.next.fetch_add(1)) {
      const std::size_t off = i * kChunk, len = std::min(kChunk, job.bytes - off);
      if (cudaError_t rc = cudaEventSynchronize(done_[slot]); rc != cudaSuccess)
        return cuda_text(rc, "waiting for a staging buffer");
      if (std::string e = fill(job, buf_[slot], off, len); !e.empty()) return e;
      if (cudaError_t rc =
              cudaMemcpyAsync(job.dst + off, buf_[slot], len, cudaMemcpyHostToDevice, stream_);
          rc != cudaSuccess)
        return cuda_text(rc, "copying weights to the GPU");
      if (cudaError_t rc = cudaEventRecord(done_[slot], stream_); rc != cudaSuccess)
        return cuda_text(rc, "recording a staging copy");
      slot ^= 1;
    }
    const cudaError_t rc = cudaStreamSynchronize(stream_);
    return rc == cudaSuccess ? "" : cuda_text(rc, "finishing the weight copies");
  }

 private:
  // The staging buffer from the file (the kernel copies from its page cache: no page faults on
  // the mapping) or from memory.
  static std::string fill(const Job& job, void* buf, std::size_t off, std::size_t len) {
    if (job.fd < 0) {
      std::memcpy(buf, job.src + off, len);
      return "";
    }
    auto* p = static_cast<char*>(buf);
    for (std::size_t done = 0; done < len;) {
      const ssize_t n =
          ::pread(job.fd, p + done, len - done, static_cast<off_t>(job.file_offset + off + done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        return std::string("reading the weights: ") +
               (n < 0 ? std::strerror(errno) : "end of file");
      done += static_cast<std::size_t>(n);
    }
    return "";
  }

  std::string set_up(int device) {
    if (cudaError_t rc = cudaSetDevice(device); rc != cudaSuccess)
      return cuda_text(rc, "selecting the GPU");
    if (ready_) return device == device_ ? "" : "one upload thread serves one GPU";
    device_ = device;
    if (cudaError_t rc = cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking);
        rc != cudaSuccess)
      return cuda_text(rc, "creating an upload stream");
    for (int s = 0; s < 2; ++s) {
      if (cudaError_t rc = cudaHostAlloc(&buf_[s], kChunk, cudaHostAllocDefault); rc != cudaSuccess)
        return cuda_text(rc, "allocating a pinned staging buffer");
      if (cudaError_t rc = cudaEventCreateWithFlags(&done_[s], cudaEventDisableTiming);
          rc != cudaSuccess)
        return cuda_text(rc, "creating a staging event");
    }
    ready_ = true;
    return "";
  }

  cudaStream_t stream_ = nullptr;
  std::array<void*, 2> buf_{};
  std::array<cudaEvent_t, 2> done_{};
  int device_ = 0;
  bool ready_ = false;
};

// kThreads threads that live as long as the process (the buffers are pinned once); one job at a
// time, the caller waiting for it.
class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool();  // never destroyed: its threads run until exit
    return *pool;
  }

  std::string run(Job& job) {
    const std::lock_guard<std::mutex> one_job(job_mu_);
    std::unique_lock<std::mutex> lock(mu_);
    job_ = &job;
    error_.clear();
    busy_ = kThreads;
    ++generation_;
    wake_.notify_all();
    idle_.wait(lock, [&] { return busy_ == 0; });
    job_ = nullptr;
    return error_;
  }

 private:
  Pool() {
    for (int i = 0; i < kThreads; ++i) std::thread([this] { serve(); }).detach();
  }

  void serve() {
    Stager stager;
    std::uint64_t seen = 0;
    for (;;) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        job = job_;
      }
      const std::string e = stager.copy(*job);
      const std::lock_guard<std::mutex> lock(mu_);
      if (!e.empty() && error_.empty()) error_ = e;
      if (--busy_ == 0) idle_.notify_one();
    }
  }

  std::mutex job_mu_, mu_;
  std::condition_variable wake_, idle_;
  Job* job_ = nullptr;
  std::string error_;
  int busy_ = 0;
  std::uint64_t generation_ = 0;
};

}  // namespace

at::Tensor to_device(const at::Tensor& t, const at::Device& device) {
  if (!device.is_cuda() || !t.defined() || !t.device().is_cpu() || !t.is_contiguous() ||
      t.nbytes() < kMinBytes || !staged_upload_enabled())
    return t.to(device);
  at::Tensor out = at::empty(t.sizes(), t.options().device(device));
  Job job;
  job.dst = static_cast<char*>(out.data_ptr());
  job.src = static_cast<const char*>(t.data_ptr());
  job.bytes = t.nbytes();
  job.device = out.device().index();
  if (const auto source = st::mapped_source(t.data_ptr(), t.nbytes())) {
    job.fd = source->fd;
    job.file_offset = source->offset;
  }
  const std::string error = Pool::get().run(job);
  TORCH_CHECK(error.empty(), "copying ", t.nbytes(), " bytes of weights to ", device.str(), ": ",
              error);
  return out;
}

#endif

}  // namespace sd35::smoke
