// Who each client is and what it is doing, for the admin console's SHOW
// CLIENTS: one record per client slot (the same index as its cancel slot),
// written by the owning worker only under a sequence lock and read by any
// worker. Text is kept in relaxed atomic words, so a reader racing a writer
// reads a torn value it then throws away, never undefined behaviour.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pggate::shm {

// Up to Words * 8 bytes of text (longer text is cut).
template <std::size_t Words>
struct AtomicText {
    std::array<std::atomic<std::uint64_t>, Words> words;
    void store(std::string_view text);
    std::string load() const;
};

enum class ClientActivity : std::uint32_t { Free = 0, Login, Idle, Waiting, Active, Admin };

struct ClientInfo {
    ClientActivity activity = ClientActivity::Free;
    std::string user, database, addr, application_name;
    std::string pinned;            // why it is pinned to its server; empty: not pinned
    std::int32_t port = -1;        // -1: none (Unix socket)
    std::int64_t connected_at = 0;  // unix seconds
    std::int64_t since_ms = 0;      // unix milliseconds the current activity began
    std::uint32_t node = 0xFFFFFFFF;  // the node of its server, if it has one
};

struct alignas(64) ClientRecord {
    std::atomic<std::uint32_t> seq;
    std::atomic<std::uint32_t> activity;
    std::atomic<std::int32_t> port;
    std::atomic<std::uint32_t> node;
    std::atomic<std::int64_t> connected_at;
    std::atomic<std::int64_t> since_ms;
    AtomicText<8> user, database, application_name;
    AtomicText<6> addr, pinned;
    // Outside the sequence lock: set by any worker (KILL_CLIENT), acted on
    // by the owner at its next timeout sweep, cleared when the slot is reused.
    std::atomic<std::uint32_t> kill_requested;

    // The owner: every field, or (cheaper, per transaction) what changes then.
    void publish(const ClientInfo& info);
    void publish_activity(ClientActivity activity, std::int64_t since_ms, std::uint32_t node);
    void clear() { publish_activity(ClientActivity::Free, 0, 0xFFFFFFFF); }
    // Any process; nullopt for a free slot.
    std::optional<ClientInfo> read() const;

private:
    void begin_write();
    void end_write();
};

}  // namespace pggate::shm
