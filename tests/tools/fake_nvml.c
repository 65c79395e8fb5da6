/* A stand-in for libnvidia-ml.so.1 / libcuda.so.1 so the host probe's dlopen paths are tested on
 * GPU-less machines. Configured by FAKE_NVML_SPEC, e.g.
 *   "driver=550.54.14;cuda=12040;gpu=NVIDIA H100 80GB HBM3,9,0,85520809984,84000000000"
 * (repeat gpu=...), and FAKE_NVML_INIT_RC (an NVML return code for nvmlInit_v2, e.g. 18). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  unsigned long long total, free, used;
} nvmlMemory_t;
typedef struct {
  char name[96];
  int major, minor;
  unsigned long long total, free;
} FakeGpu;

static FakeGpu gpus[8];
static unsigned gpu_count;
static char driver[96];
static int cuda_version;

static void load(void) {
  const char* spec = getenv("FAKE_NVML_SPEC");
  gpu_count = 0;
  driver[0] = 0;
  cuda_version = 0;
  if (!spec) return;
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", spec);
  for (char *save = NULL, *item = strtok_r(buf, ";", &save); item;
       item = strtok_r(NULL, ";", &save)) {
    if (!strncmp(item, "driver=", 7))
      snprintf(driver, sizeof driver, "%s", item + 7);
    else if (!strncmp(item, "cuda=", 5))
      cuda_version = atoi(item + 5);
    else if (!strncmp(item, "gpu=", 4) && gpu_count < 8) {
      FakeGpu* g = &gpus[gpu_count++];
      char* save2 = NULL;
      char* name = strtok_r(item + 4, ",", &save2);
      snprintf(g->name, sizeof g->name, "%s", name ? name : "");
      char* f = strtok_r(NULL, ",", &save2);
      g->major = f ? atoi(f) : 0;
      f = strtok_r(NULL, ",", &save2);
      g->minor = f ? atoi(f) : 0;
      f = strtok_r(NULL, ",", &save2);
      g->total = f ? strtoull(f, NULL, 10) : 0;
      f = strtok_r(NULL, ",", &save2);
      g->free = f ? strtoull(f, NULL, 10) : 0;
    }
  }
}

int nvmlInit_v2(void) {
  const char* rc = getenv("FAKE_NVML_INIT_RC");
  load();
  return rc ? atoi(rc) : 0;
}
int nvmlShutdown(void) {
  return 0;
}
int nvmlSystemGetDriverVersion(char* out, unsigned len) {
  snprintf(out, len, "%s", driver);
  return 0;
}
int nvmlSystemGetCudaDriverVersion(int* v) {
  *v = cuda_version;
  return cuda_version ? 0 : 3;
}
int nvmlDeviceGetCount_v2(unsigned* n) {
  *n = gpu_count;
  return 0;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void** dev) {
  if (i >= gpu_count) return 2;
  *dev = &gpus[i];
  return 0;
}
int nvmlDeviceGetName(void* dev, char* out, unsigned len) {
  snprintf(out, len, "%s", ((FakeGpu*)dev)->name);
  return 0;
}
int nvmlDeviceGetCudaComputeCapability(void* dev, int* major, int* minor) {
  *major = ((FakeGpu*)dev)->major;
  *minor = ((FakeGpu*)dev)->minor;
  return 0;
}
int nvmlDeviceGetMemoryInfo(void* dev, nvmlMemory_t* m) {
  m->total = ((FakeGpu*)dev)->total;
  m->free = ((FakeGpu*)dev)->free;
  m->used = m->total - m->free;
  return 0;
}
/* libcuda's entry point, so the same library can stand in for libcuda.so.1. */
int cuDriverGetVersion(int* v) {
  load();
  *v = cuda_version;
  return cuda_version ? 0 : 3;
}
