// Socket addresses of PostgreSQL nodes: a host name or IP resolved once when a
// configuration is applied, or a Unix socket directory.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <string>

#include "config/config.hpp"

namespace pggate::net {

struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
    const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
    int family() const { return storage.ss_family; }
};

// Resolves a node's address (blocking getaddrinfo for names); nullopt and a
// logged reason when it cannot be resolved.
std::optional<SocketAddress> resolve_node(const config::Node& node);

// The IP address of `address` as text, for libpq's hostaddr; empty for a
// Unix socket.
std::string numeric_host(const SocketAddress& address);

// This end of connected socket `fd`, for SHOW CLIENTS and SHOW SERVERS:
// the IP address and port, or "unix" and -1; "" and -1 when unknown.
struct Endpoint {
    std::string addr;
    int port = -1;
};
Endpoint local_endpoint(int fd);

}  // namespace pggate::net
