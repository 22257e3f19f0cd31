// What a reload may change: settings that need a restart keep their running
// values in the new configuration, and are named so the operator is told.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"

namespace pggate::config {

// A configuration file read and checked as a reload applies it.
struct Reloadable {
    std::string text;  // the bytes the children are sent
    Config config;
};
// Reads `path` and validates it, its auth_file, its auth_hba_file and its
// TLS certificates and keys.
// Throws ConfigError saying why a reload would keep the running configuration.
Reloadable load_reloadable(const std::string& path);
// The same checks of configuration text (a file with a runtime SET added).
Reloadable check_reloadable(std::string text, const std::string& path);

// Copies the restart-only settings of `running` into `next`; returns the
// keys whose value in `next` differed (and so were not applied).
std::vector<std::string> carry_restart_settings(const Config& running, Config& next);

// What became of a node of the running [nodes] in a reloaded one. A node is
// known by its name; one whose host or port changed keeps its name (and its
// counters, its pools) but not its servers, which talk to the old address.
// A new role or weight alone changes nothing of its servers.
struct NodeFate {
    static constexpr std::uint32_t kRemoved = 0xFFFFFFFF;
    std::uint32_t to = kRemoved;  // its place in the new [nodes]
    bool readdressed = false;     // host or port changed
};
// One fate per node of `running`, in its order.
std::vector<NodeFate> node_fates(const std::vector<Node>& running, const std::vector<Node>& next);

}  // namespace pggate::config
