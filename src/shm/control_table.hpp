// What the admin console's PAUSE, RESUME, DISABLE, ENABLE, RECONNECT and KILL asked of a
// database, in shared memory so the worker that ran the command and every
// other worker act alike. An entry per database named in a command (the
// entry with the empty name stands for all databases), found by name; any
// worker may write, every worker polls `generation` on its sweep timer and
// looks closer only when it moved.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pggate::shm {

constexpr std::uint32_t kMaxControls = 128;
constexpr std::size_t kControlNameSize = 64;

struct alignas(64) DatabaseControl {
    std::atomic<std::uint32_t> state;  // 0 free, 2 in use
    char name[kControlNameSize];       // set before state = 2; "" = all databases
    std::atomic<std::uint32_t> disabled;
    std::atomic<std::uint32_t> paused;
    // Steady-clock ns of the last RECONNECT and KILL (0: none): servers,
    // and for KILL clients, older than that are closed.
    std::atomic<std::int64_t> reconnect_ns;
    std::atomic<std::int64_t> kill_ns;
};

struct ControlTable {
    std::atomic<std::uint64_t> generation;
    std::atomic<std::uint32_t> creating;  // held while an entry is made
    DatabaseControl entries[kMaxControls];

    // The entry of `database` ("" = all), created if `create`; nullopt when
    // absent (or the name is too long, or the table is full).
    std::optional<std::uint32_t> find(std::string_view database, bool create);
    // What applies to `database`, its own entry and the all-databases one together.
    bool disabled(std::string_view database);
    bool paused(std::string_view database);
    std::int64_t reconnect_since(std::string_view database);
    std::int64_t kill_since(std::string_view database);
};

}  // namespace pggate::shm
