// The pidfile, locked (flock) for as long as a pggate master serves from it,
// so that a second pggate with the same configuration refuses to start
// instead of sharing the listening port (SO_REUSEPORT) with the first.
#pragma once

#include <sys/types.h>

#include <stdexcept>
#include <string>

#include "core/fd.hpp"

namespace pggate::master {

// Another pggate holds the lock: it is running.
class AlreadyRunning : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Pidfile {
public:
    Pidfile() = default;

    // Opens and locks `path` ("" : no pidfile, nothing is locked). Started by
    // an online upgrade, the process takes the locked file the pggate it
    // replaces handed over instead ($PGGATE_PIDFILE_FD), so the lock never
    // lapses. Throws AlreadyRunning, or std::runtime_error when the file
    // cannot be opened.
    static Pidfile acquire(const std::string& path);

    // Puts this process's pid in the file: the lock holder's from now on.
    // The lock survives fork and exec, so this works after daemonizing and
    // dropping privileges.
    void write_pid();
    // The file's descriptor to hand an online upgrade's new process (-1: none),
    // and the environment variable that names it there.
    int fd() const { return fd_.get(); }
    static constexpr const char* kFdEnv = "PGGATE_PIDFILE_FD";
    // A child (worker, helper) keeps no copy: the lock is the master's.
    void close_in_child() { fd_.reset(); }
    // At exit: the file goes, unless a new pggate took it over (it wrote its
    // pid there) or this process never wrote its own.
    void remove_unless_handed_over(bool handed_over);

private:
    std::string path_;
    UniqueFd fd_;
    bool written_ = false;
};

}  // namespace pggate::master
