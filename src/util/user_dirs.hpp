// The user's cache folder, the one place its rule lives: the Hugging Face cache default, the smoke
// plugin cache and the NVRTC cubin cache all sit below it.
#pragma once

#include <filesystem>

namespace sd35 {

// $XDG_CACHE_HOME, else $HOME/.cache, else /root/.cache.
std::filesystem::path user_cache_dir();

}  // namespace sd35
