// Resolution of node addresses, and the local end of a connected socket.
#include "net/address.hpp"

#include <netdb.h>
#include <sys/un.h>

#include <cstdlib>
#include <cstring>

#include "core/log.hpp"

namespace pggate::net {

std::optional<SocketAddress> resolve_node(const config::Node& node) {
    SocketAddress a;
    if (!node.host.empty() && node.host[0] == '/') {
        std::string path = node.host + "/.s.PGSQL." + std::to_string(node.port);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        if (path.size() >= sizeof sun.sun_path) {
            log_error("node %s: unix socket path too long: %s", node.name.c_str(), path.c_str());
            return std::nullopt;
        }
        std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
        std::memcpy(&a.storage, &sun, sizeof sun);
        a.length = sizeof sun;
        return a;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    std::string service = std::to_string(node.port);
    int rc = getaddrinfo(node.host.c_str(), service.c_str(), &hints, &res);
    if (rc != 0 || res == nullptr) {
        log_error("getaddrinfo() failed (node %s host %s): %s", node.name.c_str(), node.host.c_str(),
                  gai_strerror(rc));
        return std::nullopt;
    }
    std::memcpy(&a.storage, res->ai_addr, res->ai_addrlen);
    a.length = res->ai_addrlen;
    freeaddrinfo(res);
    return a;
}

std::string numeric_host(const SocketAddress& address) {
    if (address.family() == AF_UNIX) return {};
    char ip[NI_MAXHOST];
    if (getnameinfo(address.get(), address.length, ip, sizeof ip, nullptr, 0, NI_NUMERICHOST) != 0) return {};
    return ip;
}

Endpoint local_endpoint(int fd) {
    SocketAddress a;
    a.length = sizeof a.storage;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&a.storage), &a.length) != 0) return {};
    if (a.family() == AF_UNIX) return {"unix", -1};
    char port[NI_MAXSERV];
    char ip[NI_MAXHOST];
    if (getnameinfo(a.get(), a.length, ip, sizeof ip, port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) return {};
    return {ip, std::atoi(port)};
}

}  // namespace pggate::net
