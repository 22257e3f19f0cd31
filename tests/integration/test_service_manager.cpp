// systemd's readiness protocol (Type=notify in the packaged unit): pggate
// says READY with its pid once it serves, RELOADING and READY around a
// reload, and STOPPING when it shuts down.
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/fd.hpp"
#include "harness.hpp"

using namespace pggate::test;

namespace {

// The next datagram on `fd`, or "" after `timeout_s`.
std::string next_state(int fd, double timeout_s) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(timeout_s * 1000)) != 1) return "";
    char buf[512];
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
}

}  // namespace

TEST_CASE("service manager: READY with the master's pid, RELOADING then READY on SIGHUP, STOPPING on SIGTERM") {
    PGGATE_ONLY();
    const std::string path = "/tmp/pggate-notify-" + std::to_string(getpid());
    unlink(path.c_str());
    pggate::UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);

    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    Pggate gate;
    unsetenv("NOTIFY_SOCKET");
    CHECK(next_state(fd.get(), 10) == "READY=1\nMAINPID=" + std::to_string(gate.master_pid()));

    gate.send_signal(SIGHUP);
    CHECK(next_state(fd.get(), 10) == "RELOADING=1");
    CHECK(next_state(fd.get(), 10) == "READY=1");
    {
        PgConn c(gate.conninfo());
        CHECK(c.scalar("select 1") == "1");
    }  // SIGTERM waits for connected clients

    gate.send_signal(SIGTERM);
    CHECK(next_state(fd.get(), 10) == "STOPPING=1");
    CHECK(gate.wait_exit(20) == 0);
    unlink(path.c_str());
}
