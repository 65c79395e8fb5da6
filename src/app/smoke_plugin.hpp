#pragma once

#include "smoke/plugin_api.hpp"
#include "util/result.hpp"

namespace sd35::app {

// Loads libsd35smoke.so once: SD35_SMOKE_PLUGIN, else next to the executable, else
// <prefix>/lib/sd35-setup/. Errc::unavailable (with the reason) when absent or incompatible.
Result<const smoke::PluginApi*> load_smoke_plugin();

}  // namespace sd35::app
