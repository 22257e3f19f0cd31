// The sequence lock of client and server records, and their atomic text.
#include "shm/client_table.hpp"

#include <algorithm>
#include <cstring>

namespace pggate::shm {

template <std::size_t Words>
void AtomicText<Words>::store(std::string_view text) {
    for (std::size_t i = 0; i < Words; ++i) {
        std::uint64_t word = 0;
        const std::size_t at = i * 8;
        if (at < text.size()) std::memcpy(&word, text.data() + at, std::min<std::size_t>(8, text.size() - at));
        words[i].store(word, std::memory_order_relaxed);
    }
}

template <std::size_t Words>
std::string AtomicText<Words>::load() const {
    char buf[Words * 8];
    for (std::size_t i = 0; i < Words; ++i) {
        const std::uint64_t word = words[i].load(std::memory_order_relaxed);
        std::memcpy(buf + i * 8, &word, 8);
    }
    return std::string(buf, strnlen(buf, sizeof buf));
}

template struct AtomicText<6>;
template struct AtomicText<8>;

void SeqCount::begin_write() {
    seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
}

void SeqCount::end_write() { seq.store(seq.load(std::memory_order_relaxed) + 1, std::memory_order_release); }

void ClientRecord::publish(const ClientInfo& info) {
    if (info.activity == ClientActivity::Login) kill_requested.store(0, std::memory_order_relaxed);
    lock.begin_write();
    activity.store(static_cast<std::uint32_t>(info.activity), std::memory_order_relaxed);
    port.store(info.port, std::memory_order_relaxed);
    local_port.store(info.local_port, std::memory_order_relaxed);
    remote_pid.store(info.remote_pid, std::memory_order_relaxed);
    node.store(info.node, std::memory_order_relaxed);
    connected_at.store(info.connected_at, std::memory_order_relaxed);
    since_ms.store(info.since_ms, std::memory_order_relaxed);
    user.store(info.user);
    database.store(info.database);
    application_name.store(info.application_name);
    addr.store(info.addr);
    pinned.store(info.pinned);
    local_addr.store(info.local_addr);
    tls.store(info.tls);
    lock.end_write();
}

void ClientRecord::publish_activity(ClientActivity a, std::int64_t since, std::uint32_t n) {
    lock.begin_write();
    activity.store(static_cast<std::uint32_t>(a), std::memory_order_relaxed);
    since_ms.store(since, std::memory_order_relaxed);
    node.store(n, std::memory_order_relaxed);
    lock.end_write();
}

std::optional<ClientInfo> ClientRecord::read() const {
    ClientInfo info;
    const bool stable = lock.read_stable([&] {
        info.activity = static_cast<ClientActivity>(activity.load(std::memory_order_relaxed));
        info.port = port.load(std::memory_order_relaxed);
        info.local_port = local_port.load(std::memory_order_relaxed);
        info.remote_pid = remote_pid.load(std::memory_order_relaxed);
        info.node = node.load(std::memory_order_relaxed);
        info.connected_at = connected_at.load(std::memory_order_relaxed);
        info.since_ms = since_ms.load(std::memory_order_relaxed);
        info.user = user.load();
        info.database = database.load();
        info.application_name = application_name.load();
        info.addr = addr.load();
        info.pinned = pinned.load();
        info.local_addr = local_addr.load();
        info.tls = tls.load();
    });
    if (!stable || info.activity == ClientActivity::Free) return std::nullopt;
    return info;
}

void ServerRecord::publish(const ServerInfo& info) {
    lock.begin_write();
    activity.store(static_cast<std::uint32_t>(info.activity), std::memory_order_relaxed);
    node.store(info.node, std::memory_order_relaxed);
    backend_pid.store(info.backend_pid, std::memory_order_relaxed);
    client.store(info.client, std::memory_order_relaxed);
    connected_at.store(info.connected_at, std::memory_order_relaxed);
    since_ms.store(info.since_ms, std::memory_order_relaxed);
    local_port.store(info.local_port, std::memory_order_relaxed);
    user.store(info.user);
    database.store(info.database);
    local_addr.store(info.local_addr);
    tls.store(info.tls);
    lock.end_write();
}

void ServerRecord::publish_connection(std::string_view local, std::int32_t port, std::string_view tls_text) {
    lock.begin_write();
    local_port.store(port, std::memory_order_relaxed);
    local_addr.store(local);
    tls.store(tls_text);
    lock.end_write();
}

void ServerRecord::publish_node(std::uint32_t n) {
    lock.begin_write();
    node.store(n, std::memory_order_relaxed);
    lock.end_write();
}

void ServerRecord::publish_activity(ServerActivity a, std::int64_t since, std::uint32_t linked, std::uint32_t pid) {
    lock.begin_write();
    activity.store(static_cast<std::uint32_t>(a), std::memory_order_relaxed);
    since_ms.store(since, std::memory_order_relaxed);
    client.store(linked, std::memory_order_relaxed);
    backend_pid.store(pid, std::memory_order_relaxed);
    lock.end_write();
}

std::optional<ServerInfo> ServerRecord::read() const {
    ServerInfo info;
    const bool stable = lock.read_stable([&] {
        info.activity = static_cast<ServerActivity>(activity.load(std::memory_order_relaxed));
        info.node = node.load(std::memory_order_relaxed);
        info.backend_pid = backend_pid.load(std::memory_order_relaxed);
        info.client = client.load(std::memory_order_relaxed);
        info.connected_at = connected_at.load(std::memory_order_relaxed);
        info.since_ms = since_ms.load(std::memory_order_relaxed);
        info.local_port = local_port.load(std::memory_order_relaxed);
        info.user = user.load();
        info.database = database.load();
        info.local_addr = local_addr.load();
        info.tls = tls.load();
    });
    if (!stable || info.activity == ServerActivity::Free) return std::nullopt;
    return info;
}

}  // namespace pggate::shm
