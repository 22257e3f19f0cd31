// Log lines to stderr, a file (reopened on SIGUSR1) or syslog; each line
// carries the time, the pid and the process role.
#include "core/log.hpp"

#include <fcntl.h>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "core/fd.hpp"

namespace pggate {

namespace {

struct LogState {
    LogTarget target;
    UniqueFd file;
    std::string role = "master";
    bool syslog_open = false;
};

LogState& state() {
    static LogState s;
    return s;
}

int facility_code(const std::string& name) {
    static const struct {
        const char* name;
        int code;
    } kFacilities[] = {{"daemon", LOG_DAEMON}, {"user", LOG_USER},     {"local0", LOG_LOCAL0},
                       {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
                       {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
                       {"local7", LOG_LOCAL7}};
    for (const auto& f : kFacilities)
        if (name == f.name) return f.code;
    return LOG_DAEMON;
}

const char* level_name(LogLevel level) {
    switch (level) {
        case LogLevel::Error: return "ERROR";
        case LogLevel::Warning: return "WARNING";
        case LogLevel::Info: return "LOG";
        case LogLevel::Debug: return "DEBUG";
        case LogLevel::Noise: return "NOISE";
    }
    return "LOG";
}

int syslog_priority(LogLevel level) {
    switch (level) {
        case LogLevel::Error: return LOG_ERR;
        case LogLevel::Warning: return LOG_WARNING;
        case LogLevel::Info: return LOG_INFO;
        default: return LOG_DEBUG;
    }
}

}  // namespace

void log_configure(const LogTarget& target) {
    LogState& s = state();
    s.target = target;
    if (s.syslog_open) {
        closelog();
        s.syslog_open = false;
    }
    if (target.syslog) {
        openlog(s.target.syslog_ident.c_str(), LOG_PID, facility_code(target.syslog_facility));
        s.syslog_open = true;
    }
    log_reopen();
}

void log_reopen() {
    LogState& s = state();
    if (s.target.logfile.empty()) {
        s.file.reset();
        return;
    }
    int fd = ::open(s.target.logfile.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        int e = errno;
        log_error("open() failed (logfile %s): %s", s.target.logfile.c_str(), std::strerror(e));
        return;
    }
    s.file.reset(fd);
}

void log_set_role(const std::string& role) { state().role = role; }

bool log_quiet() { return state().target.quiet; }

bool log_enabled(LogLevel level) {
    return static_cast<int>(level) <= static_cast<int>(LogLevel::Info) + state().target.verbose;
}

void log_write(LogLevel level, const char* fmt, ...) {
    if (!log_enabled(level)) return;
    LogState& s = state();
    int saved_errno = errno;

    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    if (s.syslog_open) syslog(syslog_priority(level), "%s %s: %s", s.role.c_str(), level_name(level), msg);

    int fd = s.file ? s.file.get() : (s.target.quiet ? -1 : STDERR_FILENO);
    if (fd >= 0) {
        timeval tv;
        gettimeofday(&tv, nullptr);
        tm t;
        localtime_r(&tv.tv_sec, &t);
        char when[64];
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &t);
        char line[2300];
        int n = std::snprintf(line, sizeof line, "%s.%03d [%d] %s %s: %s\n", when,
                              static_cast<int>(tv.tv_usec / 1000), static_cast<int>(getpid()),
                              s.role.c_str(), level_name(level), msg);
        if (n > 0) {
            std::size_t len = static_cast<std::size_t>(n) < sizeof line ? static_cast<std::size_t>(n)
                                                                       : sizeof line - 1;
            // One write per line keeps lines from different processes whole.
            ssize_t ignored = ::write(fd, line, len);
            (void)ignored;
        }
    }
    errno = saved_errno;
}

}  // namespace pggate
