// The text encoders and the VAE of an SD3 diffusers pipeline folder, torch-free: which folder
// holds which component, and the VAE decoder's diffusers (AutoencoderKL) names for the LDM names
// the smoke's VAE loader reads (`first_stage_model.decoder.*` of an all-in-one file).
//
//   text_encoder/    CLIP-L  (CLIPTextModelWithProjection: text_model.*, text_projection.weight)
//   text_encoder_2/  CLIP-G  (the same naming)
//   text_encoder_3/  T5-XXL  (T5EncoderModel: encoder.*, shared.weight; maybe sharded)
//   vae/             AutoencoderKL (decoder.up_blocks.*, ...; config.json's scaling/shift factor)
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "safetensors/safetensors.hpp"

namespace sd35::model {

// The folder a diffusers component lives in: "text_encoder", "text_encoder_2", "text_encoder_3",
// "vae", for the all-in-one prefixes' names "clip_l", "clip_g", "t5xxl", "vae".
std::string_view diffusers_folder(std::string_view component);

// The root of a diffusers pipeline for a checkpoint path: the folder itself when it holds
// model_index.json or a vae/ or text_encoder/ folder, the parent of a transformer/ folder;
// nullopt for a single file or anything else.
std::optional<std::filesystem::path> diffusers_pipeline_root(
    const std::filesystem::path& checkpoint);

// The diffusers AutoencoderKL name of an LDM VAE name (relative to first_stage_model.), for a
// decoder with `levels` up blocks: diffusers numbers its up_blocks from the lowest resolution,
// LDM's decoder.up.N from the highest, so LDM up.i is diffusers up_blocks.(levels-1-i).
// nullopt for a name with no diffusers spelling (the encoder is not mapped).
std::optional<std::string> diffusers_vae_name(std::string_view ldm, int levels);

// How many up blocks (decoder.up_blocks.N.resnets.0) a diffusers VAE header holds.
int diffusers_vae_levels(const st::Header& header);

}  // namespace sd35::model
