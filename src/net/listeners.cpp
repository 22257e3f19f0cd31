// Creation of the TCP and Unix listening sockets.
#include "net/listeners.hpp"

#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
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

UniqueFd open_unix(const std::string& path, const config::Config& config) {
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
    if (chmod(path.c_str(), static_cast<mode_t>(config.unix_socket_mode)) < 0) fail("chmod", path);
    if (!config.unix_socket_group.empty()) {
        const group* g = getgrnam(config.unix_socket_group.c_str());
        if (g == nullptr) throw std::runtime_error("unix_socket_group: no group named \"" + config.unix_socket_group + "\"");
        if (chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) < 0) fail("chown", path + " to group " + config.unix_socket_group);
    }
    if (listen(fd.get(), config.listen_backlog) < 0) fail("listen", path);
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

std::string handover_spec(const Listeners& l) {
    std::string spec;
    if (l.unix_socket) spec += "unix=" + std::to_string(l.unix_socket.get()) + ":" + l.unix_path + ";";
    const std::size_t per_worker = l.tcp.empty() ? 0 : l.tcp[0].size();
    spec += "tcp=" + std::to_string(l.tcp.size()) + ":" + std::to_string(per_worker) + ":";
    bool first = true;
    for (const auto& worker : l.tcp)
        for (const UniqueFd& fd : worker) {
            spec += (first ? "" : ",") + std::to_string(fd.get());
            first = false;
        }
    return spec;
}

namespace {

// A descriptor named in a handover spec, if it is a listening socket.
UniqueFd adopt(const std::string& text) {
    char* end = nullptr;
    const long fd = std::strtol(text.c_str(), &end, 10);
    int listening = 0;
    socklen_t len = sizeof listening;
    if (text.empty() || *end != '\0' || fd < 0 ||
        getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening)
        return {};
    fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return UniqueFd(static_cast<int>(fd));
}

struct Inherited {
    UniqueFd unix_socket;
    std::string unix_path;
    std::size_t workers = 0, per_worker = 0;
    std::vector<UniqueFd> tcp;
};

Inherited parse_spec(std::string_view spec) {
    Inherited in;
    while (!spec.empty()) {
        const std::size_t semi = spec.find(';');
        std::string part(spec.substr(0, semi));
        spec = semi == std::string_view::npos ? std::string_view{} : spec.substr(semi + 1);
        if (part.rfind("unix=", 0) == 0) {
            const std::size_t colon = part.find(':');
            if (colon == std::string::npos) continue;
            in.unix_socket = adopt(part.substr(5, colon - 5));
            in.unix_path = part.substr(colon + 1);
        } else if (part.rfind("tcp=", 0) == 0) {
            std::size_t a = part.find(':', 4), b = a == std::string::npos ? a : part.find(':', a + 1);
            if (b == std::string::npos) continue;
            in.workers = std::strtoul(part.c_str() + 4, nullptr, 10);
            in.per_worker = std::strtoul(part.c_str() + a + 1, nullptr, 10);
            std::string_view fds = std::string_view(part).substr(b + 1);
            while (!fds.empty()) {
                const std::size_t comma = fds.find(',');
                in.tcp.push_back(adopt(std::string(fds.substr(0, comma))));
                fds = comma == std::string_view::npos ? std::string_view{} : fds.substr(comma + 1);
            }
        }
    }
    return in;
}

}  // namespace

Listeners open_listeners(const config::Config& config, int workers, std::string_view inherited) {
    Listeners l;
    Inherited in = parse_spec(inherited);
    std::vector<sockaddr_storage> addrs;
    for (const std::string& a : config.listen_addr)
        for (const sockaddr_storage& ss : resolve_listen(a, config.listen_port)) addrs.push_back(ss);
    l.tcp.resize(static_cast<std::size_t>(workers));
    // Inherited sockets keep the connections queued on them; new ones
    // would share the port (SO_REUSEPORT) but not those queues.
    const bool same_shape = in.workers == l.tcp.size() && in.per_worker == addrs.size() &&
                            in.tcp.size() == in.workers * in.per_worker &&
                            std::all_of(in.tcp.begin(), in.tcp.end(), [](const UniqueFd& fd) { return bool(fd); });
    std::size_t next = 0;
    for (auto& per_worker : l.tcp)
        for (const sockaddr_storage& ss : addrs)
            per_worker.push_back(same_shape ? std::move(in.tcp[next++])
                                            : open_tcp(ss, config.listen_backlog,
                                                       "listen_addr port " + std::to_string(config.listen_port)));
    if (!config.unix_socket_dir.empty()) {
        l.unix_path = config.unix_socket_dir + "/.s.PGSQL." + std::to_string(config.listen_port);
        l.unix_socket = in.unix_socket && in.unix_path == l.unix_path ? std::move(in.unix_socket)
                                                                       : open_unix(l.unix_path, config);
    }
    if (!inherited.empty())
        log_info("took over the listening sockets of the pggate being upgraded (TCP: %s, Unix: %s)",
                 same_shape ? "yes" : "no, opened anew", l.unix_socket && !in.unix_socket ? "yes" : "no");
    for (const std::string& a : config.listen_addr)
        log_info("listening on %s:%d", a.c_str(), config.listen_port);
    if (l.unix_socket) log_info("listening on unix:%s", l.unix_path.c_str());
    return l;
}

}  // namespace pggate::net
