// Logging for every process: one line per event, carrying the time, the pid and
// the process role ("master", "worker 1"); to stderr, a log file or syslog.
#pragma once

#include <string>

namespace pggate {

enum class LogLevel { Error = 0, Warning = 1, Info = 2, Debug = 3, Noise = 4 };

struct LogTarget {
    std::string logfile;  // empty: stderr unless quiet
    bool quiet = false;   // no stderr (daemonized)
    bool syslog = false;
    std::string syslog_ident = "pggate";
    std::string syslog_facility = "daemon";
    int verbose = 0;
};

// (Re)configures where logs go; reopens the log file. Safe to call again on
// reload and on SIGUSR1.
void log_configure(const LogTarget& target);
void log_reopen();
void log_set_role(const std::string& role);
bool log_quiet();
bool log_enabled(LogLevel level);
void log_write(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace pggate

#define log_error(...) ::pggate::log_write(::pggate::LogLevel::Error, __VA_ARGS__)
#define log_warning(...) ::pggate::log_write(::pggate::LogLevel::Warning, __VA_ARGS__)
#define log_info(...) ::pggate::log_write(::pggate::LogLevel::Info, __VA_ARGS__)
#define log_debug(...)                                                                   \
    do {                                                                                 \
        if (::pggate::log_enabled(::pggate::LogLevel::Debug))                            \
            ::pggate::log_write(::pggate::LogLevel::Debug, __VA_ARGS__);                 \
    } while (0)
#define log_noise(...)                                                                   \
    do {                                                                                 \
        if (::pggate::log_enabled(::pggate::LogLevel::Noise))                            \
            ::pggate::log_write(::pggate::LogLevel::Noise, __VA_ARGS__);                 \
    } while (0)
