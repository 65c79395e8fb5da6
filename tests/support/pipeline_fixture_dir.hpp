// Where the whole-pipeline fixture lies: tests/data/sd3-pipeline/pipe-large (README.md there):
// tokenizer files, the all-in-one FP8 checkpoint, reference.json and reference.safetensors.
#pragma once

#include <filesystem>

#include "support/test_env.hpp"

namespace sd35::test {

inline std::filesystem::path pipeline_fixture_dir() {
  return data_dir() / "sd3-pipeline" / "pipe-large";
}

}  // namespace sd35::test
