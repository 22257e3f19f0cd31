// The master process: owns the configuration, the listening sockets and the
// shared memory; spawns, reaps and respawns the workers; turns signals into
// reloads and shutdowns. It does no client I/O.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/reload.hpp"
#include "core/fd.hpp"
#include "master/pidfile.hpp"
#include "net/listeners.hpp"
#include "shm/segment.hpp"

namespace pggate::master {

class Master {
public:
    // `argv` is how this process was started: an online upgrade (SIGUSR2)
    // starts it again that way.
    // `config` was parsed from `config_text`.
    Master(std::string config_path, std::string config_text, config::Config config, std::vector<std::string> argv);

    // Locks the pidfile, opens the listeners and maps shared memory. Throws
    // AlreadyRunning when another pggate holds the pidfile, else
    // std::runtime_error.
    void prepare();

    // Spawns the workers, writes the pidfile, and handles signals until
    // shutdown; returns the exit code. The pidfile is removed at the end
    // unless a new pggate took it over (an online upgrade).
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
    // Reads the file again and applies it; returns why it was refused
    // (empty: applied).
    std::string reload();
    // Applies a checked configuration: children get `text` as the next generation.
    void apply(config::Reloadable loaded, const char* what);
    // A worker's SET of [pggate] `key` (admin console): applied on top of
    // the running text, until the next reload reads the file again.
    void set_setting(const std::string& key, const std::string& value);
    void read_child_requests(std::uint32_t index);
    void start_shutdown(int sig);
    // SIGUSR2: starts the binary again with the listening sockets; once it
    // says it is ready, this one drains as on SIGTERM.
    void start_upgrade();
    void upgrade_answered();
    void signal_children(int sig);
    bool any_child_alive() const;
    std::string child_name(std::uint32_t index) const;
    int poll_timeout_ms(std::int64_t now) const;

    std::vector<std::string> argv_;
    UniqueFd upgrade_ready_;  // read end: one byte when the new pggate is ready, EOF if it failed
    pid_t upgrade_pid_ = 0;
    UniqueFd announce_ready_;  // started by an upgrade: where to say it is ready
    bool handed_over_ = false;  // a new pggate took over: the pidfile and the Unix socket's file are its own
    Pidfile pidfile_;
    std::string config_path_;
    std::string config_text_;  // what config_ was parsed from: the file, and any runtime SETs since it was read
    config::Config config_;
    // Counts the configurations applied: a worker's RELOAD waits until every
    // worker runs with the one its reload made (shm WorkerSlot).
    std::uint64_t config_generation_ = 1;
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
