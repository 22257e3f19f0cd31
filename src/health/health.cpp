// The health process: one probe per node keeps a libpq session open and
// samples the node's role and WAL position every lag_check_period (or every
// health_check_period without lag sampling); failed checks are retried
// health_check_retry_delay apart and, past health_check_max_retries, mark the
// node down. The primary's positions over time give each replica's lag.
#include "health/health.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <optional>
#include <vector>

#include "auth/auth_file.hpp"
#include "config/log_target.hpp"
#include "config/reload.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "health/function_learner.hpp"
#include "health/lag.hpp"
#include "master/channel.hpp"
#include "net/address.hpp"
#include "net/pq_session.hpp"
#include "route/primary.hpp"

namespace pggate::health {

static_assert(config::kMaxNodes == shm::kMaxNodes);

namespace {

// One round trip: role, WAL position (a primary's insert position, which
// covers every commit that has returned; a replica's replay position), what
// a replica has received, the timeline (a primary's from its WAL file name,
// a replica's from its WAL receiver, else its last restartpoint: the
// receiver's is hidden from roles without pg_read_all_stats) and when the
// last commit a replica replayed was made (µs since 1970).
constexpr const char* kSampleQuery =
    "SELECT pg_catalog.pg_is_in_recovery(), CASE WHEN pg_catalog.pg_is_in_recovery() "
    "THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_insert_lsn() END, "
    "pg_catalog.pg_last_wal_receive_lsn(), "
    "CASE WHEN pg_catalog.pg_is_in_recovery() THEN coalesce((SELECT received_tli FROM pg_catalog.pg_stat_wal_receiver), "
    "(SELECT timeline_id FROM pg_catalog.pg_control_checkpoint())) "
    "ELSE ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int "
    "END, (extract(epoch FROM pg_catalog.pg_last_xact_replay_timestamp()) * 1000000)::int8";

// health_check_user's password from the auth_file; nullopt when it lists
// none (libpq may still find one in a password file).
std::optional<std::string> health_check_password(const config::Config& c) {
    if (c.auth_file.empty() || c.health_check_user.empty()) return std::nullopt;
    std::string error;
    auto entries = auth::load_auth_file(c.auth_file, error);
    if (!entries) return std::nullopt;
    auto it = entries->find(c.health_check_user);
    if (it == entries->end()) return std::nullopt;
    if (auth::secret_kind(it->second) != auth::SecretKind::Plain) {
        log_error("the auth_file entry of health_check_user \"%s\" is an MD5 or SCRAM secret; "
                  "health checks need its password in plain text",
                  c.health_check_user.c_str());
        return std::nullopt;
    }
    return it->second;
}

class Health;

class Probe {
public:
    Probe(Health& owner, std::uint32_t index);
    // A reload moved its node to another place in [nodes]; the owner
    // publishes the sample there once every probe has its place.
    void move_to(std::uint32_t index) { index_ = index; }
    std::uint64_t ident() const { return sample_.ident; }
    void configure(const config::Node& node, net::PqTarget target);
    // A worker saw a connection to the node fail: check now rather than at
    // the next period (a node already failing keeps its retry pace).
    void check_soon();
    const shm::NodeSample& sample() const { return sample_; }
    const net::PqTarget& target() const { return target_; }

private:
    static void on_timer(evutil_socket_t, short, void* arg);
    void check();
    void answered(PGresult* result, const net::PqError& error);
    void failed(const std::string& why);
    void schedule(double seconds);

    Health& owner_;
    std::uint32_t index_;
    std::string name_;
    net::PqTarget target_;
    net::PqSession session_;
    net::EventPtr timer_;
    shm::NodeSample sample_;
    std::int64_t sent_at_ns_ = 0;
};

class Health {
public:
    explicit Health(HealthSetup setup) : config_(std::move(setup.config)), shm_(setup.shm), channel_fd_(std::move(setup.channel)) {}
    int run();

    event_base* base() const { return base_.get(); }
    const config::Config& config() const { return config_; }
    // Seconds between checks of a node that answered the last one.
    double period() const {
        return config_.lag_check_period > 0 ? std::min(config_.lag_check_period, config_.health_check_period)
                                            : config_.health_check_period;
    }
    // Fills in a replica's lag, or feeds the history with a primary's position.
    void account(std::uint32_t index, shm::NodeSample& sample);
    void publish(std::uint32_t index, const shm::NodeSample& sample) {
        shm_.node(index).publish(sample);
        review_primary();
    }

private:
    void apply_config(config::Config config);
    // Logs when which node takes writes changes, loudly when none can.
    void review_primary();
    // Points the function learner at the primary and the databases.
    void learn_functions();
    static void on_requests(evutil_socket_t, short, void* arg);
    static void on_signal(evutil_socket_t sig, short, void* arg);
    static void on_channel_read(bufferevent* bev, void* arg);
    static void on_channel_event(bufferevent*, short, void* arg);

    config::Config config_;
    shm::Segment shm_;
    UniqueFd channel_fd_;
    net::EventBasePtr base_;
    net::BuffereventPtr channel_;
    std::vector<net::EventPtr> signal_events_;
    std::vector<std::unique_ptr<Probe>> probes_;
    net::EventPtr requests_timer_;
    std::vector<std::uint32_t> requests_seen_;  // check_requests of each node, as last seen
    route::PrimaryChoice primary_;
    bool primary_known_ = false;
    std::unique_ptr<FunctionLearner> learner_;
    LsnHistory history_;
    std::uint32_t history_node_ = shm::kMaxNodes;  // whose positions history_ holds
};

Probe::Probe(Health& owner, std::uint32_t index) : owner_(owner), index_(index), session_(owner.base()) {
    timer_.reset(evtimer_new(owner_.base(), on_timer, this));
}

void Probe::configure(const config::Node& node, net::PqTarget target) {
    const std::uint64_t ident = shm::node_ident(node.host, node.port);
    const bool relogin = target != target_;
    name_ = node.name;
    target_ = std::move(target);
    if (ident != sample_.ident) {
        sample_ = shm::NodeSample{};
        sample_.ident = ident;
        owner_.publish(index_, sample_);
    }
    if (relogin) session_.close();
    // A new login, or checks that were off (health_check_period = 0) and may now run.
    if (relogin || (!evtimer_pending(timer_.get(), nullptr) && (session_.idle() || session_.closed()))) schedule(0);
}

void Probe::on_timer(evutil_socket_t, short, void* arg) { static_cast<Probe*>(arg)->check(); }

void Probe::check_soon() {
    if (sample_.failures > 0 || !evtimer_pending(timer_.get(), nullptr)) return;
    evtimer_del(timer_.get());
    check();
}

void Probe::check() {
    if (owner_.config().health_check_period <= 0) return;
    if (!session_.logged_in()) {
        session_.connect(target_, owner_.config().health_check_timeout, [this](const net::PqError& error) {
            if (!error.message.empty()) failed(error.message);
            else check();
        });
        return;
    }
    sent_at_ns_ = steady_now_ns();
    session_.query(kSampleQuery, owner_.config().health_check_timeout,
                   [this](PGresult* result, const net::PqError& error) { answered(result, error); });
}

void Probe::answered(PGresult* result, const net::PqError& error) {
    if (!error.message.empty()) {
        failed(error.message);
        return;
    }
    if (PQresultStatus(result) != PGRES_TUPLES_OK || PQntuples(result) != 1 || PQnfields(result) != 5) {
        failed("the check query failed: " + net::pq_message(PQresultErrorMessage(result)));
        return;
    }
    const bool replica = PQgetvalue(result, 0, 0)[0] == 't';
    auto lsn = parse_lsn(PQgetvalue(result, 0, 1));
    if (!lsn) {
        failed(std::string("the check query returned no WAL position: ") + PQgetvalue(result, 0, 1));
        return;
    }
    const shm::NodeRoleSeen role = replica ? shm::NodeRoleSeen::Replica : shm::NodeRoleSeen::Primary;
    if (sample_.health != shm::NodeHealth::Up)
        log_info("node %s is up (%s)", name_.c_str(), replica ? "in recovery" : "primary");
    else if (role != sample_.role)
        log_warning("node %s is now %s", name_.c_str(), replica ? "in recovery" : "a primary");
    sample_.health = shm::NodeHealth::Up;
    sample_.role = role;
    sample_.failures = 0;
    sample_.lsn = *lsn;
    sample_.receive_lsn = parse_lsn(PQgetvalue(result, 0, 2)).value_or(0);
    sample_.timeline = static_cast<std::uint32_t>(std::strtoul(PQgetvalue(result, 0, 3), nullptr, 10));
    sample_.replayed_at_us = std::strtoll(PQgetvalue(result, 0, 4), nullptr, 10);
    sample_.sampled_at_ns = sent_at_ns_;
    sample_.checked_at_ns = steady_now_ns();
    owner_.account(index_, sample_);
    owner_.publish(index_, sample_);
    schedule(owner_.period());
}

void Probe::failed(const std::string& why) {
    session_.close();
    const config::Config& c = owner_.config();
    ++sample_.failures;
    const bool down = sample_.failures > static_cast<std::uint32_t>(c.health_check_max_retries);
    if (down && sample_.health != shm::NodeHealth::Down)
        log_warning("node %s is down after %u failed checks: %s", name_.c_str(), sample_.failures, why.c_str());
    else if (!down)
        log_info("check %u of node %s failed: %s", sample_.failures, name_.c_str(), why.c_str());
    if (down) {
        sample_.health = shm::NodeHealth::Down;
        sample_.lag_bytes = sample_.lag_us = -1;
    }
    owner_.publish(index_, sample_);
    schedule(down ? c.health_check_period : c.health_check_retry_delay);
}

void Probe::schedule(double seconds) {
    timeval tv = to_timeval(seconds);
    evtimer_add(timer_.get(), &tv);
}

void Health::account(std::uint32_t index, shm::NodeSample& sample) {
    if (sample.role == shm::NodeRoleSeen::Primary) {
        // The history follows one primary: the configured one while it is,
        // else whichever node says it is.
        const std::uint32_t configured = static_cast<std::uint32_t>(&config_.primary() - config_.nodes.data());
        const bool take = history_node_ == index || history_node_ >= config_.nodes.size() ||
                          (index == configured && history_node_ != configured) ||
                          shm_.node(history_node_).read().role != shm::NodeRoleSeen::Primary;
        if (take) {
            if (history_node_ != index) history_.clear();
            history_node_ = index;
            history_.add(sample.sampled_at_ns, sample.lsn);
        }
        sample.lag_bytes = sample.lag_us = 0;
        return;
    }
    auto bytes = history_.lag_bytes(sample.lsn);
    auto ns = history_.lag_ns(sample.lsn, sample.sampled_at_ns);
    sample.lag_bytes = bytes.value_or(-1);
    sample.lag_us = ns ? *ns / 1000 : -1;
}

void Health::review_primary() {
    if (config_.health_check_period <= 0) return;
    std::vector<shm::NodeSample> samples;
    for (const auto& probe : probes_) samples.push_back(probe->sample());
    route::PrimaryChoice now = route::choose_primary(config_, samples, true);
    if (primary_known_ && now.outcome == primary_.outcome && now.node == primary_.node && now.other == primary_.other)
        return;
    const bool first = !primary_known_;
    primary_ = now;
    primary_known_ = true;
    learn_functions();
    using Outcome = route::PrimaryChoice::Outcome;
    switch (now.outcome) {
        case Outcome::Node:
            log_info("writes go to node %s", config_.nodes[now.node].name.c_str());
            break;
        case Outcome::None:
            if (!first) log_warning("no node is the primary now: writes wait for one");
            break;
        case Outcome::SplitBrain:
            log_error("split brain: nodes %s and %s both claim to be the primary; writes are refused until only one "
                      "does (or one is pinned with role=primary)",
                      config_.nodes[now.node].name.c_str(), config_.nodes[now.other].name.c_str());
            break;
        case Outcome::InRecovery:
            log_error("node %s is configured as the primary (role=primary) but is in recovery: writes are refused",
                      config_.nodes[now.node].name.c_str());
            break;
    }
}

void Health::learn_functions() {
    if (!learner_) return;
    std::optional<net::PqTarget> target;
    if (primary_known_ && primary_.outcome == route::PrimaryChoice::Outcome::Node && primary_.node < probes_.size())
        target = probes_[primary_.node]->target();
    std::vector<std::string> databases{config_.health_check_dbname};
    for (const config::Database& d : config_.databases) {
        if (d.name == "*") continue;
        std::string name = d.dbname.empty() ? d.name : d.dbname;
        if (std::find(databases.begin(), databases.end(), name) == databases.end()) databases.push_back(name);
    }
    constexpr double kLearnPeriod = 60;
    learner_->configure(std::move(target), std::move(databases), kLearnPeriod, config_.health_check_timeout);
}

void Health::on_requests(evutil_socket_t, short, void* arg) {
    auto* h = static_cast<Health*>(arg);
    h->requests_seen_.resize(h->probes_.size());
    for (std::uint32_t i = 0; i < h->probes_.size(); ++i) {
        std::uint32_t n = h->shm_.node(i).check_requests.load(std::memory_order_relaxed);
        if (n == h->requests_seen_[i]) continue;
        h->requests_seen_[i] = n;
        h->probes_[i]->check_soon();
    }
}

void Health::apply_config(config::Config config) {
    config_ = std::move(config);
    std::optional<std::string> password = health_check_password(config_);
    // A probe follows its node's address to the node's new place in [nodes],
    // with its session and its last sample; so does the primary's history.
    std::vector<std::unique_ptr<Probe>> running = std::exchange(probes_, {});
    const std::uint32_t history_was = history_node_;
    history_node_ = shm::kMaxNodes;
    for (std::uint32_t i = 0; i < config_.nodes.size(); ++i) {
        const std::uint64_t ident = shm::node_ident(config_.nodes[i].host, config_.nodes[i].port);
        auto same = std::find_if(running.begin(), running.end(),
                                 [&](const std::unique_ptr<Probe>& p) { return p && p->ident() == ident; });
        if (same == running.end()) {
            probes_.push_back(std::make_unique<Probe>(*this, i));
            continue;
        }
        if (static_cast<std::uint32_t>(same - running.begin()) == history_was) history_node_ = i;
        probes_.push_back(std::move(*same));
        probes_.back()->move_to(i);
    }
    for (std::uint32_t i = 0; i < probes_.size(); ++i)
        if (probes_[i]->ident() != 0) shm_.node(i).publish(probes_[i]->sample());
    if (history_node_ == shm::kMaxNodes) history_.clear();
    running.clear();
    // Places no node has now: no stale sample for a node added there later.
    for (std::uint32_t i = static_cast<std::uint32_t>(probes_.size()); i < shm::kMaxNodes; ++i)
        if (shm_.node(i).read().ident != 0) shm_.node(i).publish(shm::NodeSample{});
    // Requests made for the node that had a place before belong to it.
    requests_seen_.clear();
    for (std::uint32_t i = 0; i < probes_.size(); ++i)
        requests_seen_.push_back(shm_.node(i).check_requests.load(std::memory_order_relaxed));
    for (std::uint32_t i = 0; i < config_.nodes.size(); ++i) {
        const config::Node& node = config_.nodes[i];
        net::PqTarget t;
        t.host = node.host;
        t.port = node.port;
        if (auto address = net::resolve_node(node)) t.hostaddr = net::numeric_host(*address);
        t.dbname = config_.health_check_dbname;
        t.user = config_.health_check_user;
        t.password = password;
        t.application_name = "pggate health";
        t.tls = config_.server_tls;
        probes_[i]->configure(node, std::move(t));
    }
    learn_functions();
}

int Health::run() {
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
    learner_ = std::make_unique<FunctionLearner>(base_.get(), shm_.functions());
    apply_config(std::move(config_));
    requests_timer_.reset(event_new(base_.get(), -1, EV_PERSIST, on_requests, this));
    static constexpr timeval kRequestPoll{0, 50000};
    event_add(requests_timer_.get(), &kRequestPoll);
    event_base_dispatch(base_.get());
    probes_.clear();
    learner_.reset();
    return 0;
}

void Health::on_signal(evutil_socket_t sig, short, void* arg) {
    auto* h = static_cast<Health*>(arg);
    if (sig == SIGUSR1) log_reopen();
    else event_base_loopbreak(h->base_.get());
}

void Health::on_channel_read(bufferevent* bev, void* arg) {
    auto* h = static_cast<Health*>(arg);
    std::string payload;
    while (master::read_channel_frame(bufferevent_get_input(bev), payload)) {
        // Only a worker asks for reloads, so all this process is sent are configurations.
        const std::optional<master::MasterMessage> message = master::decode_master_message(payload);
        if (!message || message->kind != master::MasterMessage::Kind::Config) {
            log_error("malformed message from master ignored");
            continue;
        }
        try {
            config::Config c = config::parse_config(message->text, h->config_.source);
            config::carry_restart_settings(h->config_, c);
            log_configure(config::log_target(c, log_quiet()));
            h->apply_config(std::move(c));
        } catch (const config::ConfigError& e) {
            log_error("configuration from master rejected: %s", e.what());
        }
    }
}

void Health::on_channel_event(bufferevent*, short, void* arg) {
    auto* h = static_cast<Health*>(arg);
    log_warning("master is gone, exiting");
    event_base_loopbreak(h->base_.get());
}

}  // namespace

[[noreturn]] void health_main(HealthSetup setup) {
    log_set_role("health");
    prctl(PR_SET_NAME, "pggate: health", 0, 0, 0);
    int code;
    {
        Health h(std::move(setup));
        code = h.run();
    }
    _exit(code);
}

}  // namespace pggate::health
