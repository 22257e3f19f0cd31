// auth_query lookups: each connection is a net::PqSession that runs one
// lookup at a time from its queue. A failed connection fails the lookups it
// holds; a query error fails only its own.
#include "auth/auth_query.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <utility>

#include "auth/auth_file.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "net/pq_session.hpp"

namespace pggate::auth {

namespace {

using Clock = LookupTable::Clock;

std::string seconds_text(double seconds) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g s", seconds);
    return buf;
}

void log_notice(const std::string& message) { log_debug("auth_query connection: server notice: %s", message.c_str()); }

// Everything a connection logs in with; a change means new connections.
std::string login_signature(const AuthQuerySettings& s) {
    std::string sig;
    for (const std::string* part : {&s.user, &s.setup_error, &s.host, &s.hostaddr, &s.tls.ca_file, &s.tls.cert_file,
                                    &s.tls.key_file, &s.tls.ciphers})
        sig.append(*part).push_back('\0');
    for (int n : {s.port, static_cast<int>(s.tls.sslmode), s.tls.min_version, s.tls.max_version})
        sig.append(std::to_string(n)).push_back('\0');
    if (s.password) sig.append("p:").append(*s.password);
    return sig;
}

}  // namespace

AuthQuerySettings auth_query_settings(const config::Config& config, const Credentials* listed,
                                      const std::optional<net::SocketAddress>& primary) {
    AuthQuerySettings s;
    s.user = config.auth_user;
    s.query = config.auth_query;
    s.dbname = config.auth_dbname;
    const config::Node& node = config.primary();
    s.node = node.name;
    s.host = node.host;
    s.port = node.port;
    s.tls = config.server_tls;
    // A client waits for its lookup within its own login time anyway.
    s.timeout = config.server_connect_timeout > 0 ? config.server_connect_timeout : config.client_login_timeout;
    s.idle_timeout = config.server_idle_timeout;
    s.lifetime = config.server_lifetime;
    s.cache_ttl = config.auth_query_cache_ttl;
    if (listed != nullptr && !listed->secret.empty()) {
        // libpq answers a server with a password only: it cannot use a
        // stored MD5 or SCRAM secret the way pggate's own logins do.
        if (secret_kind(listed->secret) == SecretKind::Plain)
            s.password = listed->secret;
        else
            s.setup_error = "the auth_file entry of auth_user \"" + s.user +
                            "\" is an MD5 or SCRAM secret; auth_query connections need its password in plain text";
    }
    if (!primary) {
        if (s.setup_error.empty()) s.setup_error = "the address of node " + node.name + " is unknown";
    } else {
        s.hostaddr = net::numeric_host(*primary);
    }
    return s;
}

LookupResult read_lookup_answer(const PGresult* answer) {
    if (answer == nullptr) return {LookupOutcome::Failed, {}, "no answer to auth_query"};
    if (PQresultStatus(answer) != PGRES_TUPLES_OK) {
        const char* state = PQresultErrorField(answer, PG_DIAG_SQLSTATE);
        const char* primary = PQresultErrorField(answer, PG_DIAG_MESSAGE_PRIMARY);
        std::string why = primary != nullptr ? primary : net::pq_message(PQresultErrorMessage(answer));
        if (why.empty() || why == "unknown error")
            why = std::string("unexpected result ") + PQresStatus(PQresultStatus(answer));
        if (state != nullptr) why += std::string(" (SQLSTATE ") + state + ")";
        return {LookupOutcome::Failed, {}, "auth_query failed: " + why};
    }
    if (PQnfields(answer) != 2)
        return {LookupOutcome::Failed, {},
                "auth_query returned " + std::to_string(PQnfields(answer)) +
                    " columns; it must return two (user name, secret)"};
    if (PQntuples(answer) == 0) return {LookupOutcome::NotFound, {}, {}};
    if (PQntuples(answer) > 1)
        return {LookupOutcome::Failed, {}, "auth_query returned " + std::to_string(PQntuples(answer)) + " rows"};
    if (PQgetisnull(answer, 0, 1) || PQgetlength(answer, 0, 1) == 0) return {LookupOutcome::NotFound, {}, {}};
    return {LookupOutcome::Found, PQgetvalue(answer, 0, 1), {}};
}

// ---- one connection ----------------------------------------------------------

class AuthQuery::Connection {
public:
    Connection(AuthQuery& owner, std::string database, std::uint32_t id)
        : owner_(owner), database_(std::move(database)), id_(id), session_(owner_.base_) {
        timer_.reset(evtimer_new(owner_.base_, on_timer, this));
        session_.set_notice_handler(log_notice);
        session_.set_lost_handler([this](const std::string& why) { close(why); });
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    const std::string& database() const { return database_; }
    // Takes new lookups: not closed, and logs in with the current settings.
    bool usable() const { return state_ != State::Closed && !draining_; }

    // The session calls back from the loop only, so lookup() never hears
    // from here before it returns.
    void enqueue(std::string user) {
        queue_.push_back(std::move(user));
        if (state_ == State::New)
            connect();
        else if (state_ == State::Idle)
            send_next();
    }

    // The login settings changed: lookups queued here still run, then it closes.
    void drain() {
        draining_ = true;
        if (state_ == State::Idle || state_ == State::New) close("auth settings changed");
    }

private:
    enum class State { New, Connecting, Idle, Busy, Closed };

    static void on_timer(evutil_socket_t, short, void* arg) {
        auto* c = static_cast<Connection*>(arg);
        if (!c->deferred_error_.empty())
            c->fail(std::exchange(c->deferred_error_, {}));
        else if (c->state_ == State::Idle)
            c->close("unused for server_idle_timeout or older than server_lifetime");
    }

    void connect() {
        state_ = State::Connecting;
        opened_at_ = Clock::now();
        reused_ = false;
        const AuthQuerySettings& s = owner_.settings_;
        if (!s.setup_error.empty()) {
            fail_soon(s.setup_error);
            return;
        }
        log_debug("A-%u %s/%s: connecting as %s", id_, s.node.c_str(), database_.c_str(), s.user.c_str());
        net::PqTarget target{s.host, s.hostaddr, s.port, database_, s.user, s.password, "pggate auth_query", s.tls};
        session_.connect(target, s.timeout, [this](const net::PqError& error) { connected(error); });
    }

    void connected(const net::PqError& error) {
        if (error.timed_out) {
            fail("could not connect and log in within " + seconds_text(owner_.settings_.timeout));
            return;
        }
        if (!error.message.empty()) {
            fail(error.message);
            return;
        }
        log_debug("A-%u %s/%s: logged in", id_, owner_.settings_.node.c_str(), database_.c_str());
        send_next();
    }

    void send_next() {
        if (queue_.empty()) {
            become_idle();
            return;
        }
        current_ = std::move(queue_.front());
        queue_.pop_front();
        state_ = State::Busy;
        evtimer_del(timer_.get());
        session_.query(owner_.settings_.query, {current_}, owner_.settings_.timeout,
                       [this](PGresult* result, const net::PqError& error) { on_answer(result, error); });
    }

    void on_answer(const PGresult* result, const net::PqError& error) {
        if (error.timed_out) {
            fail("no answer to auth_query within " + seconds_text(owner_.settings_.timeout));
            return;
        }
        if (!error.message.empty()) {
            // An answer with a failure is the server saying why it ended the session.
            broken(result != nullptr ? read_lookup_answer(result).error : error.message);
            return;
        }
        answered(result);
    }

    void answered(const PGresult* answer) {
        LookupResult result = read_lookup_answer(answer);
        LookupKey key{database_, std::move(current_)};
        current_.clear();
        reused_ = true;
        if (result.outcome == LookupOutcome::Failed)
            log_error("A-%u %s/%s: lookup of user \"%s\" as %s: %s", id_, owner_.settings_.node.c_str(),
                      database_.c_str(), key.second.c_str(), owner_.settings_.user.c_str(), result.error.c_str());
        // Settled before the waiters hear of it: their callbacks may start lookups.
        AuthQuery& owner = owner_;
        send_next();
        owner.finish(key, result);
    }

    // The session itself watches for the server closing it meanwhile.
    void become_idle() {
        state_ = State::Idle;
        if (draining_) {
            close("auth settings changed");
            return;
        }
        const AuthQuerySettings& s = owner_.settings_;
        double limit = s.idle_timeout;
        if (s.lifetime > 0) {
            double left = s.lifetime - std::chrono::duration<double>(Clock::now() - opened_at_).count();
            if (left <= 0) {
                close("older than server_lifetime");
                return;
            }
            limit = limit > 0 ? std::min(limit, left) : left;
        }
        if (limit > 0) {
            timeval tv = to_timeval(limit);
            evtimer_add(timer_.get(), &tv);
        }
    }

    // The connection failed after login. One that has answered before may
    // just have gone stale while unused (the server restarted, an
    // administrator ended it): its lookups, read-only, run again once on a
    // fresh connection. Anything else fails them.
    void broken(const std::string& why) {
        if (!reused_) {
            fail(why);
            return;
        }
        log_info("A-%u %s/%s: connection lost (%s); reconnecting", id_, owner_.settings_.node.c_str(),
                 database_.c_str(), why.c_str());
        if (!current_.empty()) queue_.push_front(std::move(current_));
        current_.clear();
        connect();  // no longer reused_: a second failure is final
    }

    // Fails from the loop, so lookup() never calls back its own caller.
    void fail_soon(std::string why) {
        deferred_error_ = std::move(why);
        timeval now{0, 0};
        evtimer_add(timer_.get(), &now);
    }

    // The connection is unusable: every lookup it holds fails with `why`.
    void fail(const std::string& why) {
        const AuthQuerySettings& s = owner_.settings_;
        log_error("A-%u %s/%s: auth_query connection as %s failed: %s", id_, s.node.c_str(), database_.c_str(),
                  s.user.c_str(), why.c_str());
        std::vector<std::string> users(queue_.begin(), queue_.end());
        if (!current_.empty()) users.insert(users.begin(), current_);
        queue_.clear();
        current_.clear();
        close("failed");
        AuthQuery& owner = owner_;
        LookupResult failed{LookupOutcome::Failed, {}, why};
        for (const std::string& user : users) owner.finish({database_, user}, failed);
    }

    void close(const std::string& why) {
        if (state_ == State::Closed) return;
        log_debug("A-%u %s/%s: closing: %s", id_, owner_.settings_.node.c_str(), database_.c_str(), why.c_str());
        state_ = State::Closed;
        session_.close();
        evtimer_del(timer_.get());
        owner_.retire(this);
    }

    AuthQuery& owner_;
    std::string database_;
    std::uint32_t id_;
    State state_ = State::New;
    net::PqSession session_;
    net::EventPtr timer_;            // idle limit, or a failure to report from the loop
    std::deque<std::string> queue_;  // users whose lookup waits for this connection
    std::string current_;            // the user being looked up
    std::string deferred_error_;
    bool reused_ = false;  // has answered before, so a failure may only mean it went stale
    bool draining_ = false;
    Clock::time_point opened_at_ = Clock::now();
};

// ---- the lookups of a worker --------------------------------------------------

AuthQuery::AuthQuery(event_base* base) : base_(base) {
    reaper_.reset(event_new(base_, -1, 0, on_reap, this));
}

AuthQuery::~AuthQuery() = default;

void AuthQuery::configure(AuthQuerySettings settings) {
    const bool relogin = login_signature(settings) != login_signature(settings_);
    settings_ = std::move(settings);
    table_.clear_cache();
    if (enabled() && !settings_.setup_error.empty()) log_error("auth_query lookups cannot work: %s", settings_.setup_error.c_str());
    if (!relogin) return;
    // drain() may retire a connection, which changes live_.
    std::vector<Connection*> all;
    for (auto& c : live_) all.push_back(c.get());
    for (Connection* c : all) c->drain();
}

std::optional<LookupResult> AuthQuery::lookup(const std::string& database, const std::string& user,
                                              LookupTable::WaiterId waiter, LookupTable::Callback done) {
    LookupKey key{settings_.dbname.empty() ? database : settings_.dbname, user};
    if (const LookupResult* hit = table_.cached(key, Clock::now())) return *hit;
    if (table_.wait(key, waiter, std::move(done))) {
        log_debug("auth_query lookup of user \"%s\" in database %s", user.c_str(), key.first.c_str());
        connection_for(key.first).enqueue(user);
    }
    return std::nullopt;
}

AuthQuery::Connection& AuthQuery::connection_for(const std::string& database) {
    for (auto& c : live_)
        if (c->database() == database && c->usable()) return *c;
    live_.push_back(std::make_unique<Connection>(*this, database, ++connection_ids_));
    return *live_.back();
}

void AuthQuery::finish(const LookupKey& key, const LookupResult& result) {
    table_.finish(key, result, Clock::now(), settings_.cache_ttl);
}

void AuthQuery::retire(Connection* connection) {
    for (auto it = live_.begin(); it != live_.end(); ++it) {
        if (it->get() != connection) continue;
        retired_.push_back(std::move(*it));
        live_.erase(it);
        event_active(reaper_.get(), 0, 0);
        return;
    }
}

void AuthQuery::on_reap(evutil_socket_t, short, void* arg) {
    static_cast<AuthQuery*>(arg)->retired_.clear();
}

}  // namespace pggate::auth
