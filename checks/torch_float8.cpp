#include <fmt/format.h>

#include "checks/check.hpp"

namespace sd35::checks {

// Commands that work as written (tests/net/exit_contract_test.cpp runs them against a local
// index that refuses: they get as far as the network, no usage error).
constexpr const char* kInstallTorch =
    "make a venv with the resolved torch: `sd35-setup resolve --index "
    "'https://download.pytorch.org/whl/{variant}' --closure --out sd35-resolve.json && sd35-setup "
    "install --venv .venv --from sd35-resolve.json`, then check it with `sd35-setup doctor "
    "--python .venv/bin/python3`";

static Finding run_torch_float8(const CheckInfo& info, const CheckContext& ctx) {
  const PythonFacts* py = ctx.host.primary_python();
  if (!py || !py->torch)
    return make_finding(
        info, Verdict::warn,
        "torch is not installed in the probed Python, so float8 support cannot be checked yet",
        kInstallTorch);
  const TorchFacts& t = *py->torch;
  if (!t.float8)
    return make_finding(
        info, Verdict::fail,
        fmt::format("torch {} has no torch.float8_e4m3fn (float8 dtypes arrived in torch 2.1): FP8 "
                    "checkpoints cannot even be loaded",
                    t.version),
        fmt::format("torch >= 2.5 is needed: {}", kInstallTorch));
  if (t.scaled_mm != "tensor")
    return make_finding(
        info, Verdict::warn,
        fmt::format(
            "torch {} has float8 dtypes but _scaled_mm is '{}' (the stable single-tensor form "
            "with required scales arrived in 2.5): FP8 compute paths may break",
            t.version, t.scaled_mm.empty() ? "absent" : t.scaled_mm),
        "install torch >= 2.5");
  return make_finding(
      info, Verdict::pass,
      fmt::format(
          "torch {} has float8_e4m3fn/e5m2 and the stable _scaled_mm(a, b, scale_a, scale_b) form",
          t.version));
}

extern const CheckDef torch_float8{
    {"torch.float8", "torch has float8 and _scaled_mm",
     "the installed torch has float8 dtypes (>= 2.1) and the stable _scaled_mm signature (>= 2.5)",
     "install torch >= 2.5", true},
    run_torch_float8};

}  // namespace sd35::checks
