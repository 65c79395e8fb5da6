// The smoke plugin's switches read from the environment (SD35_FUSED=0, SD35_CUDA_GRAPH=0, ...:
// docs/cli.md lists them), one way for every file. Torch-free.
#pragma once

#include <cstdlib>
#include <string_view>

namespace sd35::smoke {

// Whether the variable `name` is set to exactly `value`.
inline bool env_is(const char* name, std::string_view value) {
  const char* v = std::getenv(name);
  return v != nullptr && value == v;
}

// A switch that is on unless set to "0".
inline bool env_switched_off(const char* name) {
  return env_is(name, "0");
}

}  // namespace sd35::smoke
