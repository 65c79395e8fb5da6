// The MMDiT configuration and the checkpoint-name mapping are torch-free and live in the model
// module (model/mmdit_config.hpp, with the layout/family/dims inference of model/layout.hpp and
// model/architecture.hpp). Nothing here needs torch: the smoke's code names them in its own
// namespace.
#pragma once

#include "model/mmdit_config.hpp"

namespace sd35::smoke {

using model::embedded_config;
using model::infer_config;
using model::map_diffusers_name;
using model::map_sai_name;
using model::MappedName;
using model::MmditConfig;
using model::parse_diffusers_config;
using model::scale_role;
using model::sd35_large_config;
using model::sd35_medium_config;
using model::to_json;

}  // namespace sd35::smoke
