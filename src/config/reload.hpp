// What a reload may change: settings that need a restart keep their running
// values in the new configuration, and are named so the operator is told.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"

namespace pggate::config {

// Copies the restart-only settings of `running` into `next`; returns the
// keys whose value in `next` differed (and so were not applied).
std::vector<std::string> carry_restart_settings(const Config& running, Config& next);

}  // namespace pggate::config
