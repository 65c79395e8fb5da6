// One stage of the prompt pipeline recorded as a CUDA graph and replayed (the denoising step;
// for smoke --repeat also the text encoders and the VAE decode). TORCH HEADER: include only from
// src/smoke/*.cpp.
//
// Why: a stage of ~2000 small kernels spends its time launching them from the CPU; a replay
// launches them all at once. The stage reads only static input tensors (the caller copies each
// run's inputs into them) and writes tensors the graph's private memory pool keeps, so a replay
// computes exactly what the recorded launches would.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace sd35::smoke {

class StageGraph {
 public:
  StageGraph();
  ~StageGraph();
  StageGraph(StageGraph&&) noexcept;
  StageGraph& operator=(StageGraph&&) noexcept;
  StageGraph(const StageGraph&) = delete;
  StageGraph& operator=(const StageGraph&) = delete;

  // Records `body` (nothing runs). On the caller's stream unless that is the legacy default
  // stream, which cannot be captured: then on a side stream that first waits for the caller's
  // work. Thread-local capture mode, so another thread's CUDA calls (the MMDiT loading beside the
  // encoders) are not disturbed. False, and why() says it, when this libtorch cannot capture or
  // the capture fails; the stream is usable again either way.
  bool capture(const std::function<void()>& body);
  bool ready() const;
  // Launches the recorded stage on the caller's current stream.
  void replay();
  const std::string& why() const { return why_; }

 private:
  struct Recorded;
  std::unique_ptr<Recorded> recorded_;
  std::string why_;
};

}  // namespace sd35::smoke
