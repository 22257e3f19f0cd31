// The master process: owns the configuration, the listening sockets and the
// shared memory; spawns, reaps and respawns the workers; turns signals into
// reloads and shutdowns. It does no client I/O.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/fd.hpp"
#include "net/listeners.hpp"
#include "shm/segment.hpp"

namespace pggate::master {

class Master {
public:
    Master(std::string config_path, config::Config config);

    // Opens the listeners and maps shared memory. Throws std::runtime_error.
    void prepare();

    // Spawns the workers and handles signals until shutdown; returns the exit code.
    int run();

private:
    struct Child {
        pid_t pid = 0;
        UniqueFd channel;
        std::int64_t started_ms = 0;
        std::int64_t respawn_at_ms = -1;  // -1: not waiting to respawn
        int backoff_ms = 0;
        std::uint32_t restarts = 0;
        bool fatal = false;
    };

    void spawn(std::uint32_t index);
    void reap();
    void reload();
    void start_shutdown(int sig);
    void signal_children(int sig);
    bool any_child_alive() const;
    std::string child_name(std::uint32_t index) const;
    int poll_timeout_ms(std::int64_t now) const;

    std::string config_path_;
    config::Config config_;
    std::uint32_t workers_ = 0;
    net::Listeners listeners_;
    shm::Segment shm_;
    UniqueFd signal_fd_;
    std::vector<Child> children_;  // workers_ workers, the health process, the metrics process
    bool stopping_ = false;
    std::int64_t stop_deadline_ms_ = 0;
    int exit_code_ = 0;
};

}  // namespace pggate::master
