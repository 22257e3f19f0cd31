// Creation of the TCP and Unix listening sockets.
#include "net/listeners.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/log.hpp"

namespace pggate::net {

namespace {

[[noreturn]] void fail(const std::string& call, const std::string& context) {
    throw std::runtime_error(call + "() failed (" + context + "): " + std::strerror(errno));
}

std::vector<sockaddr_storage> resolve_listen(const std::string& addr, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    std::string service = std::to_string(port);
    addrinfo* res = nullptr;
    int rc = getaddrinfo(addr == "*" ? nullptr : addr.c_str(), service.c_str(), &hints, &res);
    if (rc != 0)
        throw std::runtime_error("getaddrinfo() failed (listen_addr " + addr + "): " + gai_strerror(rc));
    std::vector<sockaddr_storage> out;
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        sockaddr_storage ss{};
        std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        out.push_back(ss);
    }
    freeaddrinfo(res);
    return out;
}

UniqueFd open_tcp(const sockaddr_storage& ss, int backlog, const std::string& context) {
    UniqueFd fd(socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) fail("socket", context);
    int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0) fail("setsockopt(SO_REUSEPORT)", context);
    if (ss.ss_family == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    socklen_t len = ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) < 0) fail("bind", context);
    if (listen(fd.get(), backlog) < 0) fail("listen", context);
    return fd;
}

UniqueFd open_unix(const std::string& path, int backlog) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    if (path.size() >= sizeof sun.sun_path) throw std::runtime_error("unix socket path too long: " + path);
    std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);

    // A socket file nobody answers on is stale (left by a crash): replace it.
    // One somebody answers on belongs to a running instance: refuse.
    UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe && connect(probe.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0)
        throw std::runtime_error("unix socket " + path + " is in use by a running server");
    unlink(path.c_str());

    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) fail("socket", path);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) < 0) fail("bind", path);
    chmod(path.c_str(), 0777);
    if (listen(fd.get(), backlog) < 0) fail("listen", path);
    return fd;
}

}  // namespace

void Listeners::close_all() {
    tcp.clear();
    if (unix_socket) {
        unix_socket.reset();
        unlink(unix_path.c_str());
    }
}

Listeners open_listeners(const config::Config& config, int workers) {
    Listeners l;
    std::vector<sockaddr_storage> addrs;
    for (const std::string& a : config.listen_addr)
        for (const sockaddr_storage& ss : resolve_listen(a, config.listen_port)) addrs.push_back(ss);
    l.tcp.resize(static_cast<std::size_t>(workers));
    for (auto& per_worker : l.tcp)
        for (const sockaddr_storage& ss : addrs)
            per_worker.push_back(open_tcp(ss, config.listen_backlog,
                                          "listen_addr port " + std::to_string(config.listen_port)));
    if (!config.unix_socket_dir.empty()) {
        l.unix_path = config.unix_socket_dir + "/.s.PGSQL." + std::to_string(config.listen_port);
        l.unix_socket = open_unix(l.unix_path, config.listen_backlog);
    }
    for (const std::string& a : config.listen_addr)
        log_info("listening on %s:%d", a.c_str(), config.listen_port);
    if (l.unix_socket) log_info("listening on unix:%s", l.unix_path.c_str());
    return l;
}

}  // namespace pggate::net
