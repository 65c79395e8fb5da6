// The Python environment being proven: its interpreter, its torch (where a C++ plugin finds the
// headers and libraries, which C++ ABI and CUDA it was built with, whether it sees the GPU) and
// its Python side (pinned companions import, float8 dtypes, CUDA initialises, torch._scaled_mm
// agrees with bf16). Everything comes from the environment's own interpreter running
// torch_env_probe.py, because only that interpreter knows which torch it imports.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace sd35::pyenv {

struct CudaDevice {
  std::string name;
  int cc_major = 0, cc_minor = 0;
  std::uint64_t total_memory = 0;
};

// One check of the Python side, as the interpreter answered it.
struct PyCheck {
  std::string id;  // "torch.import", "torch.float8", "torch.cuda.init", "import.diffusers"
  bool ok = false;
  std::string detail;  // what passed
  std::string error;   // the message the user would otherwise meet
  bool required = true;
  double seconds = 0;  // how long the interpreter took for it
};

struct TorchBuild {
  std::string version;       // "2.11.0" (no local part)
  std::string full_version;  // "2.11.0+cu130"
  std::string cuda;          // "13.0"; empty for a CPU build
  bool cxx11_abi = true;
  bool float8 = false;
  std::string dir;                        // the torch package
  std::vector<std::string> include_dirs;  // torch/include, torch/include/torch/csrc/api/include
  std::string lib_dir;                    // torch/lib
  std::vector<std::string> cuda_include_dirs, cuda_lib_dirs;  // pip's nvidia-* packages
  std::vector<std::string> nvrtc;                             // libnvrtc.so.* found there
  std::vector<std::string> arch_list;                         // sm_80, sm_90, ...
  bool cuda_available = false;
  std::optional<CudaDevice> device;
  std::optional<double> scaled_mm_rel_l2;
};

struct TorchEnv {
  std::string interpreter;  // as given (--python) or found in the venv
  std::string executable;   // sys.executable
  std::string python_version;
  std::string prefix;
  bool is_venv = false;
  std::optional<TorchBuild> torch;                // nullopt: torch does not import
  std::map<std::string, std::string> companions;  // name -> installed version ("" = absent)
  std::vector<PyCheck> checks;

  [[nodiscard]] bool python_side_ok() const;
  [[nodiscard]] const PyCheck* first_failure() const;
};

struct InspectOptions {
  std::map<std::string, std::string> companions;  // name -> PEP 440 specifier (pinned ones)
  bool host_has_gpu = false;  // FP8 dtypes and CUDA are then required, not informative
  std::chrono::milliseconds timeout{120000};
};

// The interpreter of a virtual environment (DIR/bin/python3, else DIR/bin/python).
Result<std::string> venv_interpreter(const std::string& venv_dir);

// Runs the interpreter's probe and returns its JSON answer as printed. Errors: as below.
Result<nlohmann::json> run_probe(const std::string& interpreter, const InspectOptions& options);

// Runs the interpreter's probe. Errors: usage (no such interpreter), host_not_ready (it does not
// run, or answers nothing readable).
Result<TorchEnv> inspect_torch_env(const std::string& interpreter, const InspectOptions& options);

// Parses the probe's JSON (exposed for tests).
Result<TorchEnv> parse_probe(const nlohmann::json& doc, const std::string& interpreter,
                             const InspectOptions& options);

nlohmann::json to_json(const TorchEnv& env);

}  // namespace sd35::pyenv
