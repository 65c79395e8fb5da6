// Linked into every test binary: exports the locations CMake compiled in (<NAME>_DEFAULT) as
// environment variables before any test runs, unless the environment already sets them. This
// keeps tests independent of how a CMake version escapes ctest ENVIRONMENT lists, and lets the
// binaries run by hand outside ctest.
#include <cstdlib>

namespace {

struct EnvDefaults {
  EnvDefaults() {
#ifdef SD35_TEST_DATA_DEFAULT
    ::setenv("SD35_TEST_DATA", SD35_TEST_DATA_DEFAULT, 0);
#endif
#ifdef SD35_TEST_TOOLS_DEFAULT
    ::setenv("SD35_TEST_TOOLS", SD35_TEST_TOOLS_DEFAULT, 0);
#endif
#ifdef SD35_SOURCE_DIR_DEFAULT
    ::setenv("SD35_SOURCE_DIR", SD35_SOURCE_DIR_DEFAULT, 0);
#endif
#ifdef SD35_BIN_DEFAULT
    ::setenv("SD35_BIN", SD35_BIN_DEFAULT, 0);
#endif
#ifdef SD35_FAKE_NVML_DEFAULT
    ::setenv("SD35_FAKE_NVML", SD35_FAKE_NVML_DEFAULT, 0);
#endif
#ifdef SD35_STUB_PLUGIN_DEFAULT
    ::setenv("SD35_STUB_PLUGIN", SD35_STUB_PLUGIN_DEFAULT, 0);
#endif
#ifdef SD35_ENOSPC_SHIM_DEFAULT
    ::setenv("SD35_ENOSPC_SHIM", SD35_ENOSPC_SHIM_DEFAULT, 0);
#endif
  }
};

const EnvDefaults env_defaults;

}  // namespace
