/* The smoke plugin's boundary: plain C, JSON text in and out.
 *
 * Why C and not C++ types: the plugin is built on the user's machine against the libtorch of the
 * environment being set up (smoke --python/--venv), whose C++ ABI flag (_GLIBCXX_USE_CXX11_ABI)
 * and compiler may differ from sd35-setup's own. std::string, nlohmann::json or Result laid out
 * under one ABI are garbage under the other; C structs, ints and NUL-terminated UTF-8 are not.
 * Every string the plugin returns is freed with its own free_string (its allocator).
 */
#ifndef SD35_SMOKE_PLUGIN_ABI_H
#define SD35_SMOKE_PLUGIN_ABI_H

#ifdef __cplusplus
extern "C" {
#endif

#define SD35_SMOKE_PLUGIN_ABI_VERSION 3
#define SD35_SMOKE_PLUGIN_ENTRY "sd35_smoke_plugin_v3"

/* The host's reporter as callbacks; every argument is JSON text except `message`. */
typedef struct Sd35SmokeReporter {
  void* context;
  void (*event)(void* context, int level, const char* message, const char* fields_json);
  void (*progress)(void* context, const char* update_json);
  void (*finding)(void* context, const char* finding_json);
} Sd35SmokeReporter;

typedef struct Sd35SmokePlugin {
  int abi_version; /* SD35_SMOKE_PLUGIN_ABI_VERSION */
  /* {"torch_version", "cuda", "cxx11_abi", "fused_kernels": "nvcc"|"nvrtc"|"none", ...} */
  const char* build_info_json;
  /* 1 when libtorch sees a usable CUDA device. */
  int (*cuda_available)(void);
  /* Runs the smoke; returns {"ok":true,"result":{...}} or {"ok":false,"error":{"code":N,
   * "message","where","hint"}} (code: sd35::Errc as int). Never throws. */
  char* (*run_smoke)(const char* request_json, const Sd35SmokeReporter* reporter);
  /* Device facts when CUDA is available: {"name","cc":[major,minor],"total_memory"}; else {}. */
  char* (*device_info)(void);
  void (*free_string)(char* text);
} Sd35SmokePlugin;

typedef const Sd35SmokePlugin* (*Sd35SmokePluginEntry)(void);

#ifdef __cplusplus
}
#endif

#endif
