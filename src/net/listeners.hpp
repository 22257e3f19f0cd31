// The listening sockets, opened by the master before fork: for TCP one
// SO_REUSEPORT socket per worker and address, so the kernel spreads new
// connections over the workers; one Unix socket shared by all workers.
#pragma once

#include <string>
#include <string_view>
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
// `inherited` (handover_spec() of the pggate being upgraded, or empty)
// names sockets to take over instead of opening them: its Unix socket when
// the path is the same, its TCP sockets when there are as many per worker
// and workers as `config` asks for. Those not taken are closed.
Listeners open_listeners(const config::Config& config, int workers, std::string_view inherited = {});

// Describes `l` for the new process of an online upgrade, which inherits
// the descriptors ("unix=FD:PATH;tcp=W:A:FD,FD,...").
std::string handover_spec(const Listeners& l);

}  // namespace pggate::net
