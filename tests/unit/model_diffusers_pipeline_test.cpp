// The diffusers pipeline folder's VAE names (src/model/diffusers_pipeline): every LDM decoder name
// the smoke's VAE loader reads, spelled as diffusers' AutoencoderKL writes it, with the up blocks
// in reverse order; the pipeline root of a checkpoint path.
#include <gtest/gtest.h>

#include <filesystem>

#include "model/diffusers_pipeline.hpp"
#include "support/test_env.hpp"

namespace sd35::model {
namespace {

TEST(DiffusersVaeNames, LdmDecoderNamesMapToAutoencoderKl) {
  EXPECT_EQ(diffusers_vae_name("decoder.conv_in.weight", 4), "decoder.conv_in.weight");
  EXPECT_EQ(diffusers_vae_name("decoder.conv_out.bias", 4), "decoder.conv_out.bias");
  EXPECT_EQ(diffusers_vae_name("decoder.norm_out.weight", 4), "decoder.conv_norm_out.weight");
  EXPECT_EQ(diffusers_vae_name("post_quant_conv.weight", 4), "post_quant_conv.weight");
  EXPECT_EQ(diffusers_vae_name("decoder.mid.block_1.norm1.weight", 4),
            "decoder.mid_block.resnets.0.norm1.weight");
  EXPECT_EQ(diffusers_vae_name("decoder.mid.block_2.conv2.bias", 4),
            "decoder.mid_block.resnets.1.conv2.bias");
  EXPECT_EQ(diffusers_vae_name("decoder.mid.attn_1.q.weight", 4),
            "decoder.mid_block.attentions.0.to_q.weight");
  EXPECT_EQ(diffusers_vae_name("decoder.mid.attn_1.k.bias", 4),
            "decoder.mid_block.attentions.0.to_k.bias");
  EXPECT_EQ(diffusers_vae_name("decoder.mid.attn_1.v.weight", 4),
            "decoder.mid_block.attentions.0.to_v.weight");
  EXPECT_EQ(diffusers_vae_name("decoder.mid.attn_1.proj_out.weight", 4),
            "decoder.mid_block.attentions.0.to_out.0.weight");
  EXPECT_EQ(diffusers_vae_name("decoder.mid.attn_1.norm.bias", 4),
            "decoder.mid_block.attentions.0.group_norm.bias");
  // LDM's up.0 is the highest resolution, diffusers' up_blocks.0 the lowest.
  EXPECT_EQ(diffusers_vae_name("decoder.up.0.block.2.conv1.weight", 4),
            "decoder.up_blocks.3.resnets.2.conv1.weight");
  EXPECT_EQ(diffusers_vae_name("decoder.up.3.block.0.norm2.bias", 4),
            "decoder.up_blocks.0.resnets.0.norm2.bias");
  EXPECT_EQ(diffusers_vae_name("decoder.up.1.block.0.nin_shortcut.weight", 4),
            "decoder.up_blocks.2.resnets.0.conv_shortcut.weight");
  EXPECT_EQ(diffusers_vae_name("decoder.up.2.upsample.conv.weight", 4),
            "decoder.up_blocks.1.upsamplers.0.conv.weight");
  EXPECT_EQ(diffusers_vae_name("decoder.up.12.block.0.conv1.weight", 13),
            "decoder.up_blocks.0.resnets.0.conv1.weight");
}

TEST(DiffusersVaeNames, NamesOutsideTheDecoderHaveNone) {
  EXPECT_FALSE(diffusers_vae_name("encoder.conv_in.weight", 4));
  EXPECT_FALSE(diffusers_vae_name("decoder.up.4.block.0.conv1.weight", 4));
  EXPECT_FALSE(diffusers_vae_name("decoder.up.x.block.0.conv1.weight", 4));
  EXPECT_FALSE(diffusers_vae_name("decoder.mid.attn_2.q.weight", 4));
  EXPECT_FALSE(diffusers_vae_name("quant_conv.weight", 4));
}

TEST(DiffusersPipeline, TheRootOfACheckpointPath) {
  test::TempDir dir;
  dir.write("pipe/model_index.json", "{}");
  dir.write("pipe/transformer/config.json", "{}");
  dir.write("single.safetensors", "x");
  EXPECT_EQ(diffusers_pipeline_root(dir / "pipe"), dir / "pipe");
  EXPECT_EQ(diffusers_pipeline_root(dir / "pipe/transformer"), dir / "pipe");
  EXPECT_FALSE(diffusers_pipeline_root(dir / "single.safetensors"));
  EXPECT_EQ(diffusers_folder("clip_l"), "text_encoder");
  EXPECT_EQ(diffusers_folder("clip_g"), "text_encoder_2");
  EXPECT_EQ(diffusers_folder("t5xxl"), "text_encoder_3");
  EXPECT_EQ(diffusers_folder("vae"), "vae");
}

}  // namespace
}  // namespace sd35::model
