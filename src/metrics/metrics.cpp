// The metrics process: one libevent loop with an evhttp server; each request
// reads shared memory afresh. It follows reloaded configurations (node names,
// health checks) from the master's channel, keeps trying to bind its port
// while that fails, and exits when the channel closes.
#include "metrics/metrics.hpp"

#include <event2/buffer.h>
#include <event2/http.h>
#include <netdb.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/log_target.hpp"
#include "config/reload.hpp"
#include "core/log.hpp"
#include "master/channel.hpp"
#include "metrics/render.hpp"
#include "metrics/snapshot.hpp"
#include "net/event_ptr.hpp"
#include "route/primary.hpp"

namespace pggate::metrics {

namespace {

// A listening socket on addr:port that the metrics process of a pggate
// being upgraded may still hold (SO_REUSEPORT, as the client listeners);
// -1 with errno set on failure.
int listen_reusable(const std::string& addr, ev_uint16_t port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (getaddrinfo(addr.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
                    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0 ||
                    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0)) {
        const int saved = errno;
        close(fd);
        errno = saved;
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

struct EvhttpFree {
    void operator()(evhttp* h) const { evhttp_free(h); }
};
using EvhttpPtr = std::unique_ptr<evhttp, EvhttpFree>;

struct EvbufferFree {
    void operator()(evbuffer* b) const { evbuffer_free(b); }
};
using EvbufferPtr = std::unique_ptr<evbuffer, EvbufferFree>;

class Metrics {
public:
    explicit Metrics(MetricsSetup setup)
        : config_(std::move(setup.config)), shm_(setup.shm), channel_fd_(std::move(setup.channel)) {}
    int run();

private:
    // Binds metrics_addr:metrics_port; on failure logs why and tries again
    // later (the port may be freed: an old process lingering, another
    // program that stops), so /metrics comes back without a restart.
    void try_listen();
    static void on_retry(evutil_socket_t, short, void* arg);
    // Why no primary can be reached now; empty when one can.
    std::string unhealthy_reason() const;
    void reply(evhttp_request* req, int code, const char* reason, std::string_view content_type, std::string_view body);
    static void on_request(evhttp_request* req, void* arg);
    static void on_signal(evutil_socket_t sig, short, void* arg);
    static void on_channel_read(bufferevent* bev, void* arg);
    static void on_channel_event(bufferevent*, short, void* arg);

    config::Config config_;
    shm::Segment shm_;
    UniqueFd channel_fd_;
    net::EventBasePtr base_;
    net::BuffereventPtr channel_;
    std::vector<net::EventPtr> signal_events_;
    EvhttpPtr http_;
    net::EventPtr retry_;
    int failed_binds_ = 0;
};

// Retries of a failed bind: from half a second, doubling up to this.
constexpr double kMaxBindRetry = 5.0;

int Metrics::run() {
    base_.reset(event_base_new());
    if (!base_) {
        log_error("event_base_new() failed");
        return 2;
    }
    for (int sig : {SIGTERM, SIGINT, SIGUSR1}) {
        signal_events_.emplace_back(evsignal_new(base_.get(), sig, on_signal, this));
        event_add(signal_events_.back().get(), nullptr);
    }
    channel_.reset(bufferevent_socket_new(base_.get(), channel_fd_.release(), BEV_OPT_CLOSE_ON_FREE));
    bufferevent_setcb(channel_.get(), on_channel_read, nullptr, on_channel_event, this);
    bufferevent_enable(channel_.get(), EV_READ);

    http_.reset(evhttp_new(base_.get()));
    if (!http_) {
        log_error("evhttp_new() failed");
        return 2;
    }
    evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(http_.get(), on_request, this);
    retry_.reset(evtimer_new(base_.get(), on_retry, this));
    try_listen();
    event_base_dispatch(base_.get());
    http_.reset();
    return 0;
}

void Metrics::try_listen() {
    const int fd = listen_reusable(config_.metrics_addr, static_cast<ev_uint16_t>(config_.metrics_port));
    if (fd >= 0 && evhttp_accept_socket(http_.get(), fd) == 0) {
        if (failed_binds_ > 0)
            log_info("serving /metrics and /healthz on %s:%d after %d failed attempts", config_.metrics_addr.c_str(),
                     config_.metrics_port, failed_binds_);
        else
            log_info("serving /metrics and /healthz on %s:%d", config_.metrics_addr.c_str(), config_.metrics_port);
        return;
    }
    const int saved = errno;
    if (fd >= 0) close(fd);
    ++failed_binds_;
    const double delay = std::min(kMaxBindRetry, 0.5 * (1 << std::min(failed_binds_ - 1, 4)));
    // Loud at first and then at every power of two, so a lasting failure
    // stays in the log without filling it.
    if ((failed_binds_ & (failed_binds_ - 1)) == 0)
        log_error("bind() failed (metrics endpoint %s:%d): %s; no /metrics until it succeeds, trying again every %.1f s "
                  "(attempt %d)",
                  config_.metrics_addr.c_str(), config_.metrics_port, std::strerror(saved), delay, failed_binds_);
    const timeval tv{static_cast<time_t>(delay), static_cast<suseconds_t>((delay - static_cast<int>(delay)) * 1e6)};
    evtimer_add(retry_.get(), &tv);
}

void Metrics::on_retry(evutil_socket_t, short, void* arg) { static_cast<Metrics*>(arg)->try_listen(); }

std::string Metrics::unhealthy_reason() const {
    const bool checks = config_.health_check_period > 0;
    std::vector<shm::NodeSample> samples;
    if (checks) samples = node_samples(config_, shm_);
    route::PrimaryChoice choice = route::choose_primary(config_, samples, checks);
    if (choice.outcome != route::PrimaryChoice::Outcome::Node) return route::primary_refusal(config_, choice);
    // A node pinned with role=primary is chosen even while it is down.
    if (checks && samples[choice.node].health == shm::NodeHealth::Down)
        return "the primary " + config_.nodes[choice.node].name + " is down (its health checks fail)";
    return {};
}

void Metrics::reply(evhttp_request* req, int code, const char* reason, std::string_view content_type,
                    std::string_view body) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", std::string(content_type).c_str());
    EvbufferPtr buf(evbuffer_new());
    if (buf) evbuffer_add(buf.get(), body.data(), body.size());
    evhttp_send_reply(req, code, reason, buf.get());
}

void Metrics::on_request(evhttp_request* req, void* arg) {
    auto* m = static_cast<Metrics*>(arg);
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
    const char* raw_path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
    std::string_view path = raw_path != nullptr ? raw_path : "";
    constexpr std::string_view kText = "text/plain; charset=utf-8";
    if (path == "/metrics") {
        m->reply(req, HTTP_OK, "OK", "text/plain; version=0.0.4; charset=utf-8",
                 render(take_snapshot(m->config_, m->shm_)));
    } else if (path == "/healthz") {
        std::string why = m->unhealthy_reason();
        if (why.empty()) m->reply(req, HTTP_OK, "OK", kText, "ok\n");
        else m->reply(req, HTTP_SERVUNAVAIL, "Service Unavailable", kText, why + "\n");
    } else {
        m->reply(req, HTTP_NOTFOUND, "Not Found", kText, "not found: use /metrics or /healthz\n");
    }
}

void Metrics::on_signal(evutil_socket_t sig, short, void* arg) {
    auto* m = static_cast<Metrics*>(arg);
    if (sig == SIGUSR1) log_reopen();
    else event_base_loopbreak(m->base_.get());
}

void Metrics::on_channel_read(bufferevent* bev, void* arg) {
    auto* m = static_cast<Metrics*>(arg);
    std::string payload;
    while (master::read_channel_frame(bufferevent_get_input(bev), payload)) {
        // Only a worker asks for reloads, so all this process is sent are configurations.
        const std::optional<master::MasterMessage> message = master::decode_master_message(payload);
        if (!message || message->kind != master::MasterMessage::Kind::Config) {
            log_error("malformed message from master ignored");
            continue;
        }
        try {
            config::Config c = config::parse_config(message->text, m->config_.source);
            config::carry_restart_settings(m->config_, c);
            log_configure(config::log_target(c, log_quiet()));
            m->config_ = std::move(c);
        } catch (const config::ConfigError& e) {
            log_error("configuration from master rejected: %s", e.what());
        }
    }
}

void Metrics::on_channel_event(bufferevent*, short, void* arg) {
    auto* m = static_cast<Metrics*>(arg);
    log_warning("master is gone, exiting");
    event_base_loopbreak(m->base_.get());
}

}  // namespace

[[noreturn]] void metrics_main(MetricsSetup setup) {
    log_set_role("metrics");
    prctl(PR_SET_NAME, "pggate: metrics", 0, 0, 0);
    int code;
    {
        Metrics m(std::move(setup));
        code = m.run();
    }
    _exit(code);
}

}  // namespace pggate::metrics
