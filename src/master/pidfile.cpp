// Locking and writing the pidfile; see pidfile.hpp.
#include "master/pidfile.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/log.hpp"

namespace pggate::master {

namespace {

std::string failed(const char* call, const std::string& path) {
    return std::string(call) + "() failed (pidfile " + path + "): " + std::strerror(errno);
}

// The pid the holder wrote, for the message ("" when unreadable).
std::string holder_pid(int fd) {
    char buf[32] = {};
    const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    std::string pid(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    return pid;
}

}  // namespace

Pidfile Pidfile::acquire(const std::string& path) {
    Pidfile p;
    p.path_ = path;
    if (const char* inherited = std::getenv(kFdEnv)) {
        const int fd = std::atoi(inherited);
        unsetenv(kFdEnv);
        if (fd > STDERR_FILENO && fcntl(fd, F_SETFD, FD_CLOEXEC) == 0) {
            p.fd_.reset(fd);
            return p;
        }
    }
    if (path.empty()) return p;
    // Opened, locked, then checked to still be the file at `path`: a
    // pggate that stops unlinks it, and whoever opened it just before holds
    // a lock on a file nobody sees any more; such a one tries again.
    for (int attempt = 0; attempt < 10; ++attempt) {
        UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        if (!fd) throw std::runtime_error(failed("open", path));
        if (flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
            if (errno != EWOULDBLOCK) throw std::runtime_error(failed("flock", path));
            const std::string pid = holder_pid(fd.get());
            throw AlreadyRunning("another pggate" + (pid.empty() ? "" : " (pid " + pid + ")") +
                                 " holds the lock on the pidfile " + path + ": it is running, this one stops");
        }
        struct stat held, named;
        if (fstat(fd.get(), &held) == 0 && stat(path.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
            held.st_ino == named.st_ino) {
            p.fd_ = std::move(fd);
            return p;
        }
    }
    throw std::runtime_error("pidfile " + path + " keeps being replaced while pggate locks it");
}

void Pidfile::write_pid() {
    if (!fd_) return;
    const std::string pid = std::to_string(getpid()) + "\n";
    if (ftruncate(fd_.get(), 0) < 0 ||
        pwrite(fd_.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        log_error("%s", failed("write", path_).c_str());
        return;
    }
    written_ = true;
}

void Pidfile::remove_unless_handed_over(bool handed_over) {
    if (written_ && !handed_over && !path_.empty()) unlink(path_.c_str());
    fd_.reset();
}

}  // namespace pggate::master
