// The listening sockets, opened by the master before fork: for TCP one
// SO_REUSEPORT socket per worker and address, so the kernel spreads new
// connections over the workers; one Unix socket shared by all workers.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/fd.hpp"

namespace pggate::net {

struct Listeners {
    std::vector<std::vector<UniqueFd>> tcp;  // [worker][address]
    UniqueFd unix_socket;
    std::string unix_path;  // removed again at shutdown

    // Closes every socket; the Unix socket's file is removed.
    void close_all();
};

// Throws std::runtime_error naming the address and errno on failure.
Listeners open_listeners(const config::Config& config, int workers);

}  // namespace pggate::net
