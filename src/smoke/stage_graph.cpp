#include "smoke/stage_graph.hpp"

#include <exception>
#include <optional>

#include "smoke/mmdit_model.hpp"

#ifdef SD35_TORCH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace sd35::smoke {

struct StageGraph::Recorded {
#ifdef SD35_TORCH_CUDA
  at::cuda::CUDAGraph graph;
#endif
};

StageGraph::StageGraph() = default;
StageGraph::~StageGraph() = default;
StageGraph::StageGraph(StageGraph&&) noexcept = default;
StageGraph& StageGraph::operator=(StageGraph&&) noexcept = default;

bool StageGraph::ready() const {
  return recorded_ != nullptr;
}

#ifdef SD35_TORCH_CUDA
namespace {

// Leaves capture mode after a throw inside it, so the stream can run eagerly again.
void end_failed_capture(at::cuda::CUDAGraph& graph) {
  try {
    graph.capture_end();
  } catch (...) {  // NOLINT(bugprone-empty-catch): the capture failed already; ending it is all
  }
}

}  // namespace

bool StageGraph::capture(const std::function<void()>& body) {
  recorded_.reset();
  auto rec = std::make_unique<Recorded>();
  const c10::cuda::CUDAStream caller = c10::cuda::getCurrentCUDAStream();
  std::optional<c10::cuda::CUDAStreamGuard> side;
  if (caller == c10::cuda::getDefaultCUDAStream(caller.device_index())) {
    side.emplace(c10::cuda::getStreamFromPool(false, caller.device_index()));
    at::cuda::CUDAEvent written;
    written.record(caller);
    written.block(c10::cuda::getCurrentCUDAStream());
  }
  try {
    rec->graph.capture_begin({0, 0}, cudaStreamCaptureModeThreadLocal);
    try {
      body();
    } catch (...) {
      end_failed_capture(rec->graph);
      throw;
    }
    rec->graph.capture_end();
  } catch (const std::exception& ex) {
    why_ = "capture failed: " + torch_error_text(ex);
    return false;
  }
  recorded_ = std::move(rec);
  why_.clear();
  return true;
}

void StageGraph::replay() {
  recorded_->graph.replay();
}
#else
bool StageGraph::capture(const std::function<void()>& /*body*/) {
  why_ = "this libtorch build has no CUDA graph API";
  return false;
}

void StageGraph::replay() {}
#endif

}  // namespace sd35::smoke
