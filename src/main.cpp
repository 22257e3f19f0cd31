// pggate's command line: parse arguments, load and check the configuration,
// lock the pidfile and open the listeners, daemonize, drop privileges, and
// hand over to the master.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/reload.hpp"
#include "config/log_target.hpp"
#include "core/log.hpp"
#include "master/master.hpp"

namespace {

constexpr const char* kDefaultConfig = "/etc/pggate/pggate.ini";

void usage(FILE* out) {
    std::fprintf(out,
                 "pggate %s: a PostgreSQL proxy for a primary and its replicas.\n"
                 "\n"
                 "Usage: pggate [-d] [-t] [-V] [-h] [CONFIG]\n"
                 "\n"
                 "  -d, --daemon     run in the background\n"
                 "  -t, --test       check the configuration and exit (0: valid, 1: invalid)\n"
                 "  -V, --version    print the version and exit\n"
                 "  -h, --help       print this help and exit\n"
                 "\n"
                 "CONFIG defaults to %s. Every setting is described in pggate.ini(5);\n"
                 "signals: SIGHUP reload, SIGTERM graceful shutdown, SIGINT fast shutdown,\n"
                 "SIGUSR1 reopen the log file, SIGUSR2 online upgrade (see pggate(1)).\n",
                 PGGATE_VERSION, kDefaultConfig);
}

// Daemonizes: the caller returns in the grandchild, detached from the terminal.
bool daemonize() {
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid > 0) _exit(0);
    if (setsid() < 0) return false;
    pid = fork();
    if (pid < 0) return false;
    if (pid > 0) _exit(0);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) close(null);
    }
    return chdir("/") == 0;
}

// Exit statuses (pggate(1), EXIT STATUS).
constexpr int kExitConfig = 1;
constexpr int kExitFatal = 2;
constexpr int kExitAlreadyRunning = 3;

// A start-up failure: logged, and on stderr too when the log goes elsewhere,
// so that whoever started pggate by hand sees why.
int start_failed(const pggate::config::Config& config, int code, const std::string& why) {
    log_error("%s", why.c_str());
    if (!config.logfile.empty() || config.syslog) std::fprintf(stderr, "pggate: %s\n", why.c_str());
    return code;
}

bool drop_privileges(const std::string& user) {
    passwd* pw = getpwnam(user.c_str());
    if (pw == nullptr) {
        log_error("getpwnam() failed (user %s): no such user", user.c_str());
        return false;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
        log_error("setuid() failed (user %s): %s", user.c_str(), std::strerror(errno));
        return false;
    }
    return true;
}

// Two descriptors per client: allow as many as the hard limit lets us.
void raise_fd_limit() {
    rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// `path` made absolute, so a daemon (which works in /) still finds it.
std::string absolute(const std::string& path) {
    char resolved[PATH_MAX];
    return realpath(path.c_str(), resolved) != nullptr ? std::string(resolved) : path;
}

// How an online upgrade starts pggate again: the same program path (which a
// package upgrade has pointed at the new binary), mode and configuration.
std::vector<std::string> upgrade_command(const std::string& program, bool daemon, const std::string& config_path) {
    std::vector<std::string> args{program.find('/') != std::string::npos ? absolute(program) : program};
    if (daemon) args.emplace_back("-d");
    args.push_back(config_path);
    return args;
}

}  // namespace

int main(int argc, char** argv) {
    bool daemon = false;
    bool test_only = false;
    std::string config_path = kDefaultConfig;
    bool have_path = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-d" || a == "--daemon") {
            daemon = true;
        } else if (a == "-t" || a == "--test") {
            test_only = true;
        } else if (a == "-V" || a == "--version") {
            std::printf("pggate %s\n", PGGATE_VERSION);
            return 0;
        } else if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        } else if (!a.empty() && a[0] == '-') {
            std::fprintf(stderr, "pggate: unknown option %s\n", a.c_str());
            usage(stderr);
            return kExitConfig;
        } else if (!have_path) {
            config_path = a;
            have_path = true;
        } else {
            std::fprintf(stderr, "pggate: more than one configuration file given\n");
            return kExitConfig;
        }
    }

    config_path = absolute(config_path);
    pggate::config::Config config;
    std::string config_text;
    try {
        pggate::config::Reloadable loaded =
            pggate::config::check_reloadable(pggate::config::read_config_file(config_path), config_path);
        config_text = std::move(loaded.text);
        config = std::move(loaded.config);
    } catch (const pggate::config::ConfigError& e) {
        std::fprintf(stderr, "pggate: %s\n", e.what());
        return kExitConfig;
    }
    if (test_only) {
        std::printf("pggate: configuration file %s is valid\n", config_path.c_str());
        return 0;
    }

    pggate::log_configure(pggate::config::log_target(config, false));
    raise_fd_limit();
    pggate::master::Master master(config_path, config_text, config, upgrade_command(argv[0], daemon, config_path));
    try {
        master.prepare();
    } catch (const pggate::master::AlreadyRunning& e) {
        return start_failed(config, kExitAlreadyRunning, e.what());
    } catch (const std::exception& e) {
        return start_failed(config, kExitFatal, e.what());
    }
    if (daemon) {
        pggate::log_configure(pggate::config::log_target(config, true));
        if (!daemonize()) {
            log_error("daemonize failed: %s", std::strerror(errno));
            return kExitFatal;
        }
    }
    if (!config.user.empty() && geteuid() == 0 && !drop_privileges(config.user)) return kExitFatal;

    try {
        return master.run();
    } catch (const std::exception& e) {
        log_error("%s", e.what());
        return kExitFatal;
    }
}
