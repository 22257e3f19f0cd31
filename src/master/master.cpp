// Master process: signal loop (signalfd), worker table, respawn with backoff,
// reload, graceful and fast shutdown.
#include "master/master.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

#include "auth/client_auth.hpp"
#include "config/log_target.hpp"
#include "config/reload.hpp"
#include "config/settings.hpp"
#include "core/log.hpp"
#include "health/health.hpp"
#include "master/channel.hpp"
#include "master/notify.hpp"
#include "master/pidfile.hpp"
#include "metrics/metrics.hpp"
#include "session/worker.hpp"

namespace pggate::master {

namespace {

constexpr int kMaxBackoffMs = 5000;
constexpr int kFirstBackoffMs = 100;
constexpr std::int64_t kStableAfterMs = 1000;  // a worker that lived this long restarts at once
constexpr std::int64_t kFastShutdownGraceMs = 5000;
constexpr std::int64_t kGracefulExtraMs = 5000;  // beyond shutdown_timeout before SIGKILL
// How the pggate being upgraded hands its sockets and a readiness pipe to the new one.
constexpr const char* kListenFdsEnv = "PGGATE_LISTEN_FDS";
constexpr const char* kReadyFdEnv = "PGGATE_UPGRADE_READY_FD";

std::int64_t now_ms() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGHUP, SIGTERM, SIGINT, SIGCHLD, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
    return set;
}

}  // namespace

Master::Master(std::string config_path, std::string config_text, config::Config config, std::vector<std::string> argv)
    : argv_(std::move(argv)),
      config_path_(std::move(config_path)),
      config_text_(std::move(config_text)),
      config_(std::move(config)) {}

void Master::prepare() {
    workers_ = static_cast<std::uint32_t>(config::effective_workers(config_));
    // Before any socket: a second pggate must not share the first one's port.
    pidfile_ = Pidfile::acquire(config_.pidfile);
    // Started by the online upgrade of a running pggate: take its sockets.
    const char* inherited = std::getenv(kListenFdsEnv);
    const char* ready = std::getenv(kReadyFdEnv);
    if (ready != nullptr) {
        const int fd = std::atoi(ready);
        if (fd > STDERR_FILENO) {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
            announce_ready_.reset(fd);
        }
    }
    listeners_ = net::open_listeners(config_, static_cast<int>(workers_), inherited != nullptr ? inherited : "");
    unsetenv(kListenFdsEnv);
    unsetenv(kReadyFdEnv);
    shm_ = shm::Segment::create(workers_, static_cast<std::uint32_t>(config_.max_client_conn));
    auth::init_mock_salt_key();
}

int Master::run() {
    sigset_t set = handled_signals();
    if (sigprocmask(SIG_BLOCK, &set, nullptr) < 0) throw std::runtime_error("sigprocmask() failed");
    signal_fd_.reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signal_fd_) throw std::runtime_error(std::string("signalfd() failed: ") + std::strerror(errno));
    signal(SIGPIPE, SIG_IGN);

    // The workers, the health process, then the metrics process unless it is off.
    children_.resize(workers_ + (config_.metrics_port != 0 ? 2 : 1));
    log_info("pggate %s starting %u workers", PGGATE_VERSION, workers_);
    for (std::uint32_t i = 0; i < children_.size(); ++i) spawn(i);
    pidfile_.write_pid();
    if (announce_ready_) {
        // The pggate being upgraded stops accepting once it reads this.
        if (write(announce_ready_.get(), "1", 1) != 1)
            log_warning("write() failed (upgrade readiness pipe): %s", std::strerror(errno));
        announce_ready_.reset();
    }
    // After an upgrade this process is the service's main one from now on.
    notify_service_manager("READY=1\nMAINPID=" + std::to_string(getpid()));

    while (true) {
        std::int64_t now = now_ms();
        if (stopping_ && !any_child_alive()) break;
        if (stopping_ && now >= stop_deadline_ms_) {
            log_warning("workers did not stop in time; killing them");
            signal_children(SIGKILL);
            stop_deadline_ms_ = now + 1000;
        }
        for (std::uint32_t i = 0; i < children_.size(); ++i) {
            Child& c = children_[i];
            if (!stopping_ && c.pid == 0 && !c.fatal && c.respawn_at_ms >= 0 && now >= c.respawn_at_ms)
                spawn(i);
        }

        // Signals, the upgrade's answer, and the workers' requests.
        std::vector<pollfd> pfd{{signal_fd_.get(), POLLIN, 0}, {upgrade_ready_.get(), POLLIN, 0}};
        for (std::uint32_t i = 0; i < workers_; ++i) pfd.push_back({children_[i].channel.get(), POLLIN, 0});
        int rc = poll(pfd.data(), pfd.size(), poll_timeout_ms(now_ms()));
        if (rc < 0 && errno != EINTR) {
            log_error("poll() failed (master signal loop): %s", std::strerror(errno));
            exit_code_ = 2;
            break;
        }
        if (upgrade_ready_ && rc > 0 && pfd[1].revents != 0) upgrade_answered();
        for (std::uint32_t i = 0; rc > 0 && i < workers_; ++i)
            if ((pfd[2 + i].revents & POLLIN) != 0) read_child_requests(i);
        signalfd_siginfo info;
        while (read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            switch (info.ssi_signo) {
                case SIGCHLD: reap(); break;
                case SIGHUP: reload(); break;
                case SIGTERM:
                case SIGINT: start_shutdown(static_cast<int>(info.ssi_signo)); break;
                case SIGUSR2: start_upgrade(); break;
                case SIGUSR1:
                    log_reopen();
                    signal_children(SIGUSR1);
                    break;
                default: break;
            }
        }
    }
    listeners_.close_all();
    pidfile_.remove_unless_handed_over(handed_over_);
    log_info("pggate stopped");
    return exit_code_;
}

int Master::poll_timeout_ms(std::int64_t now) const {
    std::int64_t next = -1;
    auto consider = [&](std::int64_t at) { next = next < 0 ? at : std::min(next, at); };
    if (stopping_) consider(stop_deadline_ms_);
    for (const Child& c : children_)
        if (!stopping_ && c.pid == 0 && !c.fatal && c.respawn_at_ms >= 0) consider(c.respawn_at_ms);
    if (next < 0) return -1;
    return static_cast<int>(std::clamp<std::int64_t>(next - now, 0, 60000));
}

void Master::spawn(std::uint32_t index) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("socketpair() failed (%s channel): %s", child_name(index).c_str(), std::strerror(errno));
        children_[index].respawn_at_ms = now_ms() + kMaxBackoffMs;
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork() failed (%s): %s", child_name(index).c_str(), std::strerror(errno));
        close(sv[0]);
        close(sv[1]);
        children_[index].respawn_at_ms = now_ms() + kMaxBackoffMs;
        return;
    }
    if (pid == 0) {
        close(sv[0]);
        signal_fd_.reset();
        pidfile_.close_in_child();
        for (Child& c : children_) c.channel.reset();
        sigset_t set = handled_signals();
        sigprocmask(SIG_UNBLOCK, &set, nullptr);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGHUP, SIG_IGN);  // reloads reach children through the channel
        fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
        if (index >= workers_) {
            listeners_.tcp.clear();
            listeners_.unix_socket.reset();
            if (index == workers_) health::health_main(health::HealthSetup{config_, shm_, UniqueFd(sv[1])});
            metrics::metrics_main(metrics::MetricsSetup{config_, shm_, UniqueFd(sv[1])});
        }

        session::WorkerSetup setup;
        setup.index = index;
        setup.config = config_;
        setup.config_text = config_text_;
        setup.config_generation = config_generation_;
        setup.shm = shm_;
        for (UniqueFd& fd : listeners_.tcp[index]) setup.listen_fds.push_back(std::move(fd));
        if (listeners_.unix_socket) setup.listen_fds.push_back(std::move(listeners_.unix_socket));
        listeners_.tcp.clear();  // other workers' sockets
        setup.channel.reset(sv[1]);
        session::worker_main(std::move(setup));
    }
    close(sv[1]);
    Child& c = children_[index];
    c.pid = pid;
    c.channel.reset(sv[0]);
    // A request is one small frame written at once: never wait long for its rest.
    const timeval request_timeout{1, 0};
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &request_timeout, sizeof request_timeout);
    c.started_ms = now_ms();
    c.respawn_at_ms = -1;
    log_info("%s started with pid %d", child_name(index).c_str(), static_cast<int>(pid));
}

void Master::reap() {
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        auto it = std::find_if(children_.begin(), children_.end(), [&](const Child& c) { return c.pid == pid; });
        if (it == children_.end()) continue;
        auto index = static_cast<std::uint32_t>(it - children_.begin());
        Child& c = *it;
        c.pid = 0;
        c.channel.reset();
        const bool worker = index < workers_;
        if (worker) shm_.reclaim_worker(index);
        const std::string name = child_name(index);

        bool fatal = WIFEXITED(status) && WEXITSTATUS(status) == 2;
        if (WIFSIGNALED(status))
            log_warning("%s (pid %d) killed by signal %d", name.c_str(), static_cast<int>(pid), WTERMSIG(status));
        else if (!stopping_ || WEXITSTATUS(status) != 0)
            log_warning("%s (pid %d) exited with code %d", name.c_str(), static_cast<int>(pid), WEXITSTATUS(status));
        if (stopping_) continue;
        if (fatal) {
            log_error("%s failed fatally; not respawning it", name.c_str());
            c.fatal = true;
            if (worker && std::all_of(children_.begin(), children_.begin() + workers_, [](const Child& ch) { return ch.fatal; })) {
                log_error("every worker failed fatally; stopping");
                exit_code_ = 2;
                start_shutdown(SIGINT);
            }
            continue;
        }
        std::int64_t now = now_ms();
        c.backoff_ms = now - c.started_ms >= kStableAfterMs ? 0 : std::clamp(c.backoff_ms * 2, kFirstBackoffMs, kMaxBackoffMs);
        c.respawn_at_ms = now + c.backoff_ms;
        ++c.restarts;
        if (worker) shm_.worker(index).restarts.store(c.restarts, std::memory_order_relaxed);
        log_info("%s respawns in %d ms", name.c_str(), c.backoff_ms);
    }
}

std::string Master::reload() {
    notify_service_manager("RELOADING=1");
    config::Reloadable loaded;
    try {
        loaded = config::load_reloadable(config_path_);
    } catch (const config::ConfigError& e) {
        log_error("reload failed, keeping the running configuration: %s", e.what());
        shm::bump(shm_.master_stats().reloads_failed);
        notify_service_manager("READY=1");
        return e.what();
    }
    apply(std::move(loaded), "reload");
    notify_service_manager("READY=1");
    shm::bump(shm_.master_stats().reloads_ok);
    log_info("configuration reloaded from %s", config_path_.c_str());
    return {};
}

void Master::apply(config::Reloadable loaded, const char* what) {
    for (const std::string& key : config::carry_restart_settings(config_, loaded.config))
        log_warning("%s: %s changed but needs a restart; the running value is kept", what, key.c_str());
    config_ = std::move(loaded.config);
    config_text_ = std::move(loaded.text);
    log_configure(config::log_target(config_, log_quiet()));
    const std::string message =
        encode_master_message({MasterMessage::Kind::Config, ++config_generation_, 0, config_text_});
    for (Child& c : children_)
        if (c.pid != 0 && !write_channel_frame(c.channel.get(), message))
            log_warning("%s: could not send the configuration to child pid %d", what, static_cast<int>(c.pid));
}

void Master::set_setting(const std::string& key, const std::string& value) {
    config::Reloadable loaded;
    try {
        loaded = config::check_reloadable(config::with_setting(config_text_, key, value), config_path_);
    } catch (const config::ConfigError& e) {
        log_error("SET %s refused, keeping the running configuration: %s", key.c_str(), e.what());
        return;
    }
    apply(std::move(loaded), "SET");
    log_info("SET %s = %s: applied until the next reload reads %s", key.c_str(), value.c_str(), config_path_.c_str());
}

void Master::read_child_requests(std::uint32_t index) {
    std::string payload;
    if (!read_channel_frame(children_[index].channel.get(), payload)) return;  // gone: reap() will see it
    const std::optional<WorkerRequest> request = decode_worker_request(payload);
    if (!request) {
        log_warning("%s sent an unknown request", child_name(index).c_str());
        return;
    }
    if (request->kind == WorkerRequest::Kind::Set) {
        set_setting(request->key, request->value);
        return;
    }
    // The answer follows the new configuration on the same channel, so the
    // worker runs with it by the time it reads the answer.
    const std::string refusal = reload();
    const std::uint64_t generation = refusal.empty() ? config_generation_ : 0;
    const std::string answer =
        encode_master_message({MasterMessage::Kind::ReloadAnswer, generation, request->request, refusal});
    if (!write_channel_frame(children_[index].channel.get(), answer))
        log_warning("reload: could not answer %s", child_name(index).c_str());
}

void Master::start_upgrade() {
    if (stopping_ || upgrade_ready_) {
        log_warning("upgrade: ignored, %s", stopping_ ? "shutting down" : "one is already under way");
        return;
    }
    // The new pggate reads the same file: refuse here, where the log is.
    try {
        config::load_reloadable(config_path_);
    } catch (const config::ConfigError& e) {
        log_error("upgrade refused, this pggate serves on: %s", e.what());
        return;
    }
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) < 0) {
        log_error("pipe2() failed (upgrade): %s", std::strerror(errno));
        return;
    }
    const std::string spec = net::handover_spec(listeners_);
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork() failed (upgrade): %s", std::strerror(errno));
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return;
    }
    if (pid == 0) {
        // The listening sockets and the write end outlive exec; nothing else does.
        for (auto& worker : listeners_.tcp)
            for (UniqueFd& fd : worker) fcntl(fd.get(), F_SETFD, 0);
        if (listeners_.unix_socket) fcntl(listeners_.unix_socket.get(), F_SETFD, 0);
        fcntl(pipe_fds[1], F_SETFD, 0);
        // The locked pidfile too: the lock passes to the new pggate with it.
        if (pidfile_.fd() >= 0) {
            fcntl(pidfile_.fd(), F_SETFD, 0);
            setenv(Pidfile::kFdEnv, std::to_string(pidfile_.fd()).c_str(), 1);
        }
        setenv(kListenFdsEnv, spec.c_str(), 1);
        setenv(kReadyFdEnv, std::to_string(pipe_fds[1]).c_str(), 1);
        sigset_t set = handled_signals();
        sigprocmask(SIG_UNBLOCK, &set, nullptr);
        std::vector<char*> args;
        for (std::string& a : argv_) args.push_back(a.data());
        args.push_back(nullptr);
        execvp(args[0], args.data());
        log_error("execvp() failed (upgrade to %s): %s", args[0], std::strerror(errno));
        _exit(127);
    }
    close(pipe_fds[1]);
    upgrade_ready_.reset(pipe_fds[0]);
    upgrade_pid_ = pid;
    log_info("upgrade: started %s (pid %d); serving on until it is ready", argv_[0].c_str(), static_cast<int>(pid));
}

void Master::upgrade_answered() {
    char byte = 0;
    const bool ready = read(upgrade_ready_.get(), &byte, 1) == 1;
    upgrade_ready_.reset();
    if (!ready) {
        log_error("upgrade failed: the new pggate (pid %d) exited before it was ready; this one serves on",
                  static_cast<int>(upgrade_pid_));
        return;
    }
    log_info("upgrade: the new pggate is ready; this one stops accepting and lets its clients finish");
    handed_over_ = true;
    listeners_.unix_path.clear();  // the socket's file is the new pggate's now
    start_shutdown(SIGTERM);
}

void Master::start_shutdown(int sig) {
    std::int64_t now = now_ms();
    if (sig == SIGTERM && !stopping_) {
        log_info("graceful shutdown: no new connections, waiting up to %.0f s for clients", config_.shutdown_timeout);
        stop_deadline_ms_ = now + static_cast<std::int64_t>(config_.shutdown_timeout * 1000) + kGracefulExtraMs;
    } else if (sig == SIGINT) {
        log_info("fast shutdown");
        stop_deadline_ms_ = now + kFastShutdownGraceMs;
    } else {
        return;
    }
    stopping_ = true;
    if (!handed_over_) notify_service_manager("STOPPING=1");
    listeners_.close_all();
    signal_children(sig);
}

void Master::signal_children(int sig) {
    for (const Child& c : children_)
        if (c.pid != 0) kill(c.pid, sig);
}

std::string Master::child_name(std::uint32_t index) const {
    if (index == workers_) return "health process";
    if (index > workers_) return "metrics process";
    return "worker " + std::to_string(index);
}

bool Master::any_child_alive() const {
    return std::any_of(children_.begin(), children_.end(), [](const Child& c) { return c.pid != 0; });
}

}  // namespace pggate::master
