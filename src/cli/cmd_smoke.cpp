#include "app/smoke.hpp"
#include "app/smoke_text.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_smoke_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::SmokeOptions>();
  auto* cmd = root.add_subcommand(
      "smoke",
      "Run the fetched SD3.5 MMDiT (or --checkpoint, or the embedded one) and report agreement, "
      "speed and memory");
  cmd->add_option("--checkpoint", opts->checkpoint,
                  "diffusers transformer folder, shard index, or SAI/ComfyUI .safetensors (bf16 or "
                  "scaled FP8); default: the manifest's model from the cache when it fits the "
                  "device, else the embedded model")
      ->check(CLI::ExistingPath);
  cmd->add_flag("--synthetic", opts->synthetic,
                "run the embedded synthetic MMDiT even when the model is fetched");
  cmd->add_option("--device", opts->device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  cmd->add_option("--precision", opts->precision,
                  "fp8 (default from the manifest), fp8-weights, bf16 or fp32")
      ->check(CLI::IsMember({"fp8", "fp8-weights", "bf16", "fp32"}));
  cmd->add_option("--latent", opts->latent, "latent size HxW (image = 8x)");
  cmd->add_option("--prompt", opts->prompts,
                  "run the whole pipeline (tokenizers, CLIP-L/G, T5, MMDiT, VAE) to a PNG; "
                  "repeat for a batch (the PNG is the first image)");
  cmd->add_option("--negative", opts->negatives,
                  "negative prompt, one per --prompt (default: empty)");
  cmd->add_option("--image", opts->image,
                  std::string("where the PNG goes (default with --prompt: ") + app::kDefaultImage +
                      " in the current folder)");
  cmd->add_option("--size", opts->size,
                  "image size HxW in pixels, multiples of 16 (the latent is H/8 x W/8)");
  cmd->add_option("--seed", opts->seed, "seed of the starting noise (default 0)");
  cmd->add_option("--tokenizers", opts->tokenizers,
                  "folder with tokenizer/{vocab.json,merges.txt} and tokenizer_3/spiece.model "
                  "(a diffusers SD3.5 repository); default: the checkpoint's diffusers folder")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--repeat", opts->repeat,
                  "with --prompt: run it N times in this process, the weights and the denoising "
                  "step's CUDA graph kept loaded between runs (when the memory plan is resident); "
                  "reports each run's prompt -> PNG time, checks once after the last")
      ->check(CLI::Range(1, 100));
  cmd->add_option("--steps", opts->steps, "sampling steps")->check(CLI::Range(1, 1000));
  cmd->add_option("--guidance", opts->guidance, "CFG scale")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--shift", opts->shift, "flow-matching shift")->check(CLI::Range(0.01, 100.0));
  cmd->add_option("--inputs", opts->inputs,
                  "fixture inputs .safetensors (runs the fixture protocol)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--dump", opts->dump, "write forward and sample (F32 safetensors) here");
  cmd->add_flag("--no-gemm-probe", opts->no_gemm_probe, "skip the FP8/BF16 GEMM probe on CUDA");
  cmd->add_option("--python", opts->python,
                  "prove this interpreter's environment: build the smoke plugin against its torch "
                  "and check its Python side (default: the built-in libtorch)")
      ->check(interpreter_check());
  cmd->add_option("--venv", opts->venv, "prove this virtual environment (its bin/python3)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--host", opts->host_file,
                  "GPU facts from a described host (probe --out FILE) instead of this machine");
  cmd->add_option("--require", opts->requires_,
                  "a Python package that must import, e.g. diffusers>=0.31 (repeatable; default: "
                  "the manifest's environment.packages)");
  cmd->callback([&chosen, &global, opts] {
    chosen = [&global, opts](Reporter& r) { return app::smoke(global, *opts, r); };
  });
}

}  // namespace sd35::cli
