// auth_query lookups: each connection runs one lookup at a time from its
// queue, and only ever blocks on nothing (libpq in non-blocking mode, woken
// by libevent). A failed connection fails the lookups it holds; a query error
// fails only its own.
#include "auth/auth_query.hpp"

#include <cstdio>
#include <deque>

#include "auth/auth_file.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"

namespace pggate::auth {

namespace {

struct PqFinish {
    void operator()(PGconn* c) const { PQfinish(c); }
};
struct PqClear {
    void operator()(PGresult* r) const { PQclear(r); }
};
using PgConnPtr = std::unique_ptr<PGconn, PqFinish>;
using PgResultPtr = std::unique_ptr<PGresult, PqClear>;

using Clock = LookupTable::Clock;

std::string seconds_text(double seconds) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g s", seconds);
    return buf;
}

// libpq's messages end with a newline, which log lines and client errors do not want.
std::string trimmed(const char* message) {
    std::string s = message != nullptr ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s.empty() ? "unknown error" : s;
}

void log_notice(void*, const char* message) { log_debug("auth_query connection: server notice: %s", trimmed(message).c_str()); }

// Everything a connection logs in with; a change means new connections.
std::string login_signature(const AuthQuerySettings& s) {
    std::string sig;
    for (const std::string* part : {&s.user, &s.setup_error, &s.host, &s.hostaddr})
        sig.append(*part).push_back('\0');
    sig.append(std::to_string(s.port)).push_back('\0');
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
        std::string why = primary != nullptr ? primary : trimmed(PQresultErrorMessage(answer));
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
        : owner_(owner), database_(std::move(database)), id_(id) {
        socket_ev_.reset(event_new(owner_.base_, -1, 0, on_socket, this));
        timer_.reset(evtimer_new(owner_.base_, on_timer, this));
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    const std::string& database() const { return database_; }
    // Takes new lookups: not closed, and logs in with the current settings.
    bool usable() const { return state_ != State::Closed && !draining_; }

    void enqueue(std::string user) {
        queue_.push_back(std::move(user));
        if (state_ == State::New)
            connect();
        else if (state_ == State::Idle)
            watch(EV_READ | EV_WRITE);  // sent from the loop, never from inside lookup()
    }

    // The login settings changed: lookups queued here still run, then it closes.
    void drain() {
        draining_ = true;
        if (state_ == State::Idle || state_ == State::New) close("auth settings changed");
    }

private:
    enum class State { New, Connecting, Idle, Busy, Closed };

    static void on_socket(evutil_socket_t, short what, void* arg) {
        auto* c = static_cast<Connection*>(arg);
        switch (c->state_) {
            case State::Connecting: c->poll_connect(); break;
            case State::Busy:
                if (what & EV_WRITE) c->flush();
                if ((what & EV_READ) && c->state_ == State::Busy) c->read_answer();
                break;
            case State::Idle: c->on_idle_socket(what); break;
            default: break;
        }
    }

    static void on_timer(evutil_socket_t, short, void* arg) {
        auto* c = static_cast<Connection*>(arg);
        if (!c->deferred_error_.empty()) {
            c->fail(c->deferred_error_);
            return;
        }
        const AuthQuerySettings& s = c->owner_.settings_;
        switch (c->state_) {
            case State::Connecting: c->fail("could not connect and log in within " + seconds_text(s.timeout)); break;
            case State::Busy: c->fail("no answer to auth_query within " + seconds_text(s.timeout)); break;
            case State::Idle: c->close("unused for server_idle_timeout or older than server_lifetime"); break;
            default: break;
        }
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
        std::string port = std::to_string(s.port);
        std::vector<const char*> keys{"host", "port", "dbname", "user", "application_name", "gssencmode"};
        std::vector<const char*> values{s.host.c_str(), port.c_str(), database_.c_str(), s.user.c_str(),
                                        "pggate auth_query", "disable"};
        if (!s.hostaddr.empty()) {
            keys.push_back("hostaddr");
            values.push_back(s.hostaddr.c_str());
        }
        if (s.password) {
            keys.push_back("password");
            values.push_back(s.password->c_str());
        }
        keys.push_back(nullptr);
        values.push_back(nullptr);
        conn_.reset(PQconnectStartParams(keys.data(), values.data(), 0));
        if (!conn_ || PQstatus(conn_.get()) == CONNECTION_BAD) {
            fail_soon(conn_ ? trimmed(PQerrorMessage(conn_.get())) : "out of memory");
            return;
        }
        PQsetNoticeProcessor(conn_.get(), log_notice, nullptr);
        log_debug("A-%u %s/%s: connecting as %s", id_, s.node.c_str(), database_.c_str(), s.user.c_str());
        arm_limit(s.timeout);
        watch(EV_WRITE);  // as libpq says to begin: as if PQconnectPoll had asked for writing
    }

    void poll_connect() {
        switch (PQconnectPoll(conn_.get())) {
            case PGRES_POLLING_READING: watch(EV_READ); return;
            case PGRES_POLLING_WRITING: watch(EV_WRITE); return;
            case PGRES_POLLING_OK:
                if (PQsetnonblocking(conn_.get(), 1) != 0) {
                    fail("PQsetnonblocking() failed: " + trimmed(PQerrorMessage(conn_.get())));
                    return;
                }
                log_debug("A-%u %s/%s: logged in", id_, owner_.settings_.node.c_str(), database_.c_str());
                send_next();
                return;
            default:
                fail(trimmed(PQerrorMessage(conn_.get())));
                return;
        }
    }

    void send_next() {
        if (queue_.empty()) {
            become_idle();
            return;
        }
        current_ = std::move(queue_.front());
        queue_.pop_front();
        const char* params[1] = {current_.c_str()};
        if (PQsendQueryParams(conn_.get(), owner_.settings_.query.c_str(), 1, nullptr, params, nullptr, nullptr, 0) == 0) {
            broken(trimmed(PQerrorMessage(conn_.get())));
            return;
        }
        state_ = State::Busy;
        arm_limit(owner_.settings_.timeout);
        flush();
    }

    void flush() {
        int r = PQflush(conn_.get());
        if (r < 0) {
            broken(trimmed(PQerrorMessage(conn_.get())));
            return;
        }
        watch(r == 1 ? EV_READ | EV_WRITE : EV_READ);
    }

    void read_answer() {
        if (PQconsumeInput(conn_.get()) == 0) {
            broken(trimmed(PQerrorMessage(conn_.get())));
            return;
        }
        while (PQisBusy(conn_.get()) == 0) {
            PGresult* r = PQgetResult(conn_.get());
            if (r == nullptr) {
                answered();
                return;
            }
            // The first result is the answer; anything after it (a second
            // statement in auth_query) is dropped.
            if (!answer_) answer_.reset(r); else PQclear(r);
        }
        flush();
    }

    void answered() {
        if (PQstatus(conn_.get()) != CONNECTION_OK) {
            // Not an answer: the server ended the session (an administrator's
            // command, a restart) and said so before closing.
            broken(answer_ ? read_lookup_answer(answer_.get()).error : trimmed(PQerrorMessage(conn_.get())));
            return;
        }
        LookupResult result = read_lookup_answer(answer_.get());
        answer_.reset();
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
        arm_limit(limit);
        watch(EV_READ);  // the server closing it
    }

    void on_idle_socket(short what) {
        if (what & EV_READ) {
            bool alive = PQconsumeInput(conn_.get()) != 0 && PQstatus(conn_.get()) == CONNECTION_OK;
            while (alive && PQisBusy(conn_.get()) == 0) {
                PgResultPtr stray(PQgetResult(conn_.get()));
                if (!stray) break;
            }
            if (!alive) {
                std::string why = trimmed(PQerrorMessage(conn_.get()));
                if (queue_.empty())
                    close(why.c_str());
                else
                    broken(why);
                return;
            }
        }
        if (!queue_.empty())
            send_next();
        else
            watch(EV_READ);
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
        answer_.reset();
        event_del(socket_ev_.get());
        conn_.reset();
        connect();  // no longer reused_: a second failure is final
    }

    // Arms the socket event for `what` on libpq's socket, which may change
    // while connecting (another address, SSL refused and retried without).
    void watch(short what) {
        event_del(socket_ev_.get());
        evutil_socket_t fd = PQsocket(conn_.get());
        if (fd < 0) {
            fail_soon("connection has no socket");
            return;
        }
        event_assign(socket_ev_.get(), owner_.base_, fd, what, on_socket, this);
        event_add(socket_ev_.get(), nullptr);
    }

    // A timeout of `seconds`; 0 is none.
    void arm_limit(double seconds) {
        if (seconds <= 0) {
            evtimer_del(timer_.get());
            return;
        }
        timeval tv = to_timeval(seconds);
        evtimer_add(timer_.get(), &tv);
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

    void close(const char* why) {
        if (state_ == State::Closed) return;
        log_debug("A-%u %s/%s: closing: %s", id_, owner_.settings_.node.c_str(), database_.c_str(), why);
        state_ = State::Closed;
        event_del(socket_ev_.get());
        evtimer_del(timer_.get());
        owner_.retire(this);
    }

    AuthQuery& owner_;
    std::string database_;
    std::uint32_t id_;
    State state_ = State::New;
    PgConnPtr conn_;
    net::EventPtr socket_ev_;
    net::EventPtr timer_;
    std::deque<std::string> queue_;  // users whose lookup waits for this connection
    std::string current_;            // the user being looked up
    PgResultPtr answer_;
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
