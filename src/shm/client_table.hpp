// Who each client and server connection is and what it is doing, for the
// admin console's SHOW CLIENTS and SHOW SERVERS: one record per client slot
// (the same index as its cancel slot) and per server slot, written by the
// owning worker only under a sequence lock and read by any worker. Text is kept in relaxed atomic words, so a reader racing a writer
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
    std::string local_addr;        // the address it connected to ("unix" for the Unix socket)
    std::string tls;               // "TLSv1.3/TLS_AES_256_GCM_SHA384"; empty: plain
    std::int32_t port = -1;        // -1: none (Unix socket)
    std::int32_t local_port = -1;  // -1: none (Unix socket)
    std::int32_t remote_pid = 0;   // the peer's pid on the Unix socket; 0: unknown (TCP)
    std::int64_t connected_at = 0;  // unix seconds
    std::int64_t since_ms = 0;      // unix milliseconds the current activity began
    std::uint32_t node = 0xFFFFFFFF;  // the node of its server, if it has one
};

// The sequence counter of a record: odd while its owner writes it.
struct SeqCount {
    std::atomic<std::uint32_t> seq;
    void begin_write();
    void end_write();
    // Runs `read` until it saw no write (bounded: a writer that died
    // mid-write leaves the record unreadable, not the reader stuck).
    template <typename Read>
    bool read_stable(Read read) const {
        for (int attempt = 0; attempt < 100000; ++attempt) {
            const std::uint32_t before = seq.load(std::memory_order_acquire);
            if (before % 2 != 0) continue;
            read();
            std::atomic_thread_fence(std::memory_order_acquire);
            if (seq.load(std::memory_order_relaxed) == before) return true;
        }
        return false;
    }
    // The master, for a dead owner: no write is in progress any more.
    void settle() {
        const std::uint32_t s = seq.load(std::memory_order_relaxed);
        seq.store(s + (s & 1), std::memory_order_relaxed);
    }
};

enum class ServerActivity : std::uint32_t { Free = 0, Login, Idle, Active, Resetting, Testing, Shadow };

struct ServerInfo {
    ServerActivity activity = ServerActivity::Free;
    std::string user, database;
    std::uint32_t node = 0;
    std::uint32_t backend_pid = 0;   // 0 until the server sent its key
    std::uint32_t client = 0;        // the linked client's id (key pid); 0: none
    std::string local_addr, tls;     // once connected: pggate's end, and TLS as for clients
    std::int32_t local_port = -1;    // -1: not connected yet, or a Unix socket
    std::int64_t connected_at = 0;   // unix seconds
    std::int64_t since_ms = 0;       // unix milliseconds the current activity began
};

struct alignas(64) ServerRecord {
    SeqCount lock;
    std::atomic<std::uint32_t> activity;
    std::atomic<std::uint32_t> node;
    std::atomic<std::uint32_t> backend_pid;
    std::atomic<std::uint32_t> client;
    std::atomic<std::int64_t> connected_at;
    std::atomic<std::int64_t> since_ms;
    std::atomic<std::int32_t> local_port;
    AtomicText<8> user, database;
    AtomicText<6> local_addr, tls;

    void publish(const ServerInfo& info);
    void publish_activity(ServerActivity activity, std::int64_t since_ms, std::uint32_t client, std::uint32_t backend_pid);
    // Once the connection (and TLS, if any) is up.
    void publish_connection(std::string_view local_addr, std::int32_t local_port, std::string_view tls);
    // A reload moved or removed its node.
    void publish_node(std::uint32_t node);
    void clear() { publish_activity(ServerActivity::Free, 0, 0, 0); }
    std::optional<ServerInfo> read() const;
};

struct alignas(64) ClientRecord {
    SeqCount lock;
    std::atomic<std::uint32_t> activity;
    std::atomic<std::int32_t> port, local_port, remote_pid;
    std::atomic<std::uint32_t> node;
    std::atomic<std::int64_t> connected_at;
    std::atomic<std::int64_t> since_ms;
    AtomicText<8> user, database, application_name;
    AtomicText<6> addr, pinned, local_addr, tls;
    // Outside the sequence lock: set by any worker (KILL_CLIENT), acted on
    // by the owner at its next timeout sweep, cleared when the slot is reused.
    std::atomic<std::uint32_t> kill_requested;

    // The owner: every field, or (cheaper, per transaction) what changes then.
    void publish(const ClientInfo& info);
    void publish_activity(ClientActivity activity, std::int64_t since_ms, std::uint32_t node);
    void clear() { publish_activity(ClientActivity::Free, 0, 0xFFFFFFFF); }
    // Any process; nullopt for a free slot.
    std::optional<ClientInfo> read() const;
};

}  // namespace pggate::shm
