// The whole-pipeline fixture (tests/data/sd3-pipeline/pipe-large, README.md there) for the torch
// tests: its files, reference.json, the token ids it was generated with, and the fixture protocol
// as a SmokeRequest (latents_in from the reference file, fp32 on the CPU).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "smoke/smoke.hpp"
#include "support/pipeline_fixture_dir.hpp"
#include "support/test_env.hpp"

namespace sd35::test {

inline std::string pipe_dir() {
  return pipeline_fixture_dir().string();
}
inline std::string all_in_one() {
  return pipe_dir() + "/pipe-large_all_in_one_fp8.safetensors";
}
inline std::string reference_file() {
  return pipe_dir() + "/reference.safetensors";
}

inline nlohmann::json reference() {
  std::ifstream in(pipe_dir() + "/reference.json");
  return nlohmann::json::parse(in);
}

// reference.json's token_ids rows [first, first + count): prompts first, then negatives.
inline smoke::TokenIds token_ids(const nlohmann::json& ref, std::size_t first, std::size_t count) {
  smoke::TokenIds ids;
  for (std::size_t i = first; i < first + count; ++i) {
    const auto& t = ref["token_ids"];
    ids.clip_l.push_back(t["clip_l/" + std::to_string(i)].get<std::vector<std::int64_t>>());
    ids.clip_g.push_back(t["clip_g/" + std::to_string(i)].get<std::vector<std::int64_t>>());
    ids.t5xxl.push_back(t["t5xxl/" + std::to_string(i)].get<std::vector<std::int64_t>>());
  }
  return ids;
}

// The fixture protocol on `checkpoint`: latents_in from the reference file, fp32 on the CPU, the
// reference's prompts and token ids; `dump` and `pixels` (image 0's pixels) may be empty.
inline smoke::SmokeRequest fixture_request(const std::string& checkpoint, const std::string& dump,
                                           const std::string& pixels = "") {
  const auto ref = reference();
  const std::size_t batch = ref["prompts"].size();
  smoke::SmokeRequest rq;
  rq.checkpoint = checkpoint;
  rq.device = "cpu";
  rq.precision = smoke::Precision::fp32;
  rq.latent_h = ref["height"].get<int>() / 8;
  rq.latent_w = ref["width"].get<int>() / 8;
  rq.sampling = {ref["steps"].get<int>(), ref["guidance"].get<double>(),
                 ref["shift"].get<double>()};
  rq.inputs = reference_file();
  rq.dump = dump;
  rq.gemm_probe = false;
  smoke::TextToImage text;
  text.prompts = ref["prompts"].get<std::vector<std::string>>();
  text.negatives = ref["negative_prompts"].get<std::vector<std::string>>();
  text.prompt_ids = token_ids(ref, 0, batch);
  text.negative_ids = token_ids(ref, batch, batch);
  text.pixels_out = pixels;
  rq.text = text;
  return rq;
}

// The T5 FP8 scale check on `checkpoint` (an all-in-one file or a diffusers folder), fp32 on the
// CPU with the fixture's first T5 ids: it passes as loaded, and fails naming the FP8 scales when
// they are ignored or applied twice.
inline void expect_t5_scale_check_catches_faults(const std::string& checkpoint) {
  const auto ids = reference()["token_ids"]["t5xxl/0"].get<std::vector<std::int64_t>>();
  auto good = smoke::check_t5_fp8_scales(checkpoint, ids, smoke::Precision::fp32, "cpu");
  ASSERT_TRUE(good) << good.error().describe();
  EXPECT_TRUE((*good)["ok"].get<bool>()) << good->dump();
  for (auto fault : {smoke::ScaleFault::ignored, smoke::ScaleFault::applied_twice}) {
    auto bad = smoke::check_t5_fp8_scales(checkpoint, ids, smoke::Precision::fp32, "cpu", fault);
    ASSERT_TRUE(bad) << bad.error().describe();
    EXPECT_FALSE((*bad)["ok"].get<bool>()) << bad->dump();
    EXPECT_EQ((*bad)["id"], "pipeline.t5-fp8-scale");
    EXPECT_NE((*bad)["detail"].get<std::string>().find("FP8 scales"), std::string::npos);
  }
}

}  // namespace sd35::test
