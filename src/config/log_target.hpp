// Where a configuration says logs go.
#pragma once

#include "config/config.hpp"
#include "core/log.hpp"

namespace pggate::config {

inline LogTarget log_target(const Config& c, bool quiet) {
    LogTarget t;
    t.logfile = c.logfile;
    t.quiet = quiet;
    t.syslog = c.syslog;
    t.syslog_ident = c.syslog_ident;
    t.syslog_facility = c.syslog_facility;
    t.verbose = c.verbose;
    return t;
}

}  // namespace pggate::config
