#include <algorithm>

#include "checks/check.hpp"

namespace sd35::checks {

// Each defined in its own file in this folder.
extern const CheckDef gpu_present;
extern const CheckDef gpu_fp8_compute;
extern const CheckDef gpu_memory;
extern const CheckDef driver_cuda_compat;
extern const CheckDef python_version;
extern const CheckDef torch_float8;
extern const CheckDef torch_cuda_arch;
extern const CheckDef xformers_torch_pin;
extern const CheckDef disk_free;
extern const CheckDef cache_writable;
extern const CheckDef cache_env;
extern const CheckDef cache_rotational;
extern const CheckDef auth_token;

const std::vector<const CheckDef*>& all_checks() {
  static const std::vector<const CheckDef*> list = {
      &gpu_present,  &gpu_fp8_compute,  &gpu_memory,         &driver_cuda_compat, &python_version,
      &torch_float8, &torch_cuda_arch,  &xformers_torch_pin, &disk_free,          &cache_writable,
      &cache_env,    &cache_rotational, &auth_token};
  return list;
}

const CheckDef* find_check(std::string_view id) {
  for (const auto* c : all_checks())
    if (c->info.id == id) return c;
  return nullptr;
}

std::vector<Finding> run_all(const CheckContext& ctx) {
  std::vector<Finding> out;
  for (const auto* c : all_checks()) out.push_back(c->run(c->info, ctx));
  return out;
}

Finding make_finding(const CheckInfo& info, Verdict verdict, std::string detail, std::string fix) {
  Finding f;
  f.id = std::string(info.id);
  f.title = std::string(info.title);
  f.verdict = verdict;
  f.detail = std::move(detail);
  f.fix = fix.empty() && verdict != Verdict::pass && verdict != Verdict::skip
              ? std::string(info.fix)
              : std::move(fix);
  f.required = info.required;
  return f;
}

}  // namespace sd35::checks
