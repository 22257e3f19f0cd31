// The libpq session state machine: PQconnectPoll while connecting, then
// PQsendQuery(Params) / PQflush / PQconsumeInput as libevent reports the socket ready.
#include "net/pq_session.hpp"

#include <utility>
#include <vector>

#include "core/clock.hpp"

namespace pggate::net {

std::string pq_message(const char* message) {
    std::string s = message != nullptr ? message : "";
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s.empty() ? "unknown error" : s;
}

namespace {

// Without params the simple protocol, so that `sql` may hold several statements.
int send_query(PGconn* conn, const std::string& sql, const std::vector<std::string>& params) {
    if (params.empty()) return PQsendQuery(conn, sql.c_str());
    std::vector<const char*> values;
    for (const std::string& p : params) values.push_back(p.c_str());
    return PQsendQueryParams(conn, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                             nullptr, 0);
}

}  // namespace

PqSession::PqSession(event_base* base) : base_(base) {
    socket_ev_.reset(event_new(base_, -1, 0, on_socket, this));
    timer_.reset(evtimer_new(base_, on_timer, this));
}

PqSession::~PqSession() = default;

void PqSession::connect(const PqTarget& t, double timeout, Connected done) {
    close();
    connected_ = std::move(done);
    state_ = State::Connecting;
    std::string port = std::to_string(t.port);
    std::vector<const char*> keys{"host", "port", "dbname", "application_name", "gssencmode"};
    std::vector<const char*> values{t.host.c_str(), port.c_str(), t.dbname.c_str(), t.application_name.c_str(),
                                    "disable"};
    if (!t.user.empty()) {
        keys.push_back("user");
        values.push_back(t.user.c_str());
    }
    if (!t.hostaddr.empty()) {
        keys.push_back("hostaddr");
        values.push_back(t.hostaddr.c_str());
    }
    if (t.password) {
        keys.push_back("password");
        values.push_back(t.password->c_str());
    }
    static constexpr const char* kSslModes[] = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
    static constexpr const char* kVersions[] = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
    keys.push_back("sslmode");
    values.push_back(kSslModes[static_cast<int>(t.tls.sslmode)]);
    keys.push_back("ssl_min_protocol_version");
    values.push_back(kVersions[t.tls.min_version - 10]);
    keys.push_back("ssl_max_protocol_version");
    values.push_back(kVersions[t.tls.max_version - 10]);
    for (const auto& [key, file] : {std::pair{"sslrootcert", &t.tls.ca_file}, std::pair{"sslcert", &t.tls.cert_file},
                                    std::pair{"sslkey", &t.tls.key_file}}) {
        if (file->empty()) continue;
        keys.push_back(key);
        values.push_back(file->c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    conn_.reset(PQconnectStartParams(keys.data(), values.data(), 0));
    if (!conn_ || PQstatus(conn_.get()) == CONNECTION_BAD) {
        fail_soon(conn_ ? pq_message(PQerrorMessage(conn_.get())) : "out of memory");
        return;
    }
    PQsetNoticeProcessor(conn_.get(), on_notice, this);
    arm(timeout);
    watch(EV_WRITE);  // as libpq says to begin: as if PQconnectPoll had asked for writing
}

void PqSession::query(const std::string& sql, const std::vector<std::string>& params, double timeout,
                      Answered done) {
    answered_ = std::move(done);
    if (state_ != State::Idle) {
        fail_soon("the session is not ready for a query");
        return;
    }
    if (send_query(conn_.get(), sql, params) == 0) {
        fail_soon(pq_message(PQerrorMessage(conn_.get())));
        return;
    }
    state_ = State::Busy;
    arm(timeout);
    watch(EV_READ | EV_WRITE);  // flushed from the loop, so a failure never calls back the caller
}

void PqSession::close() {
    event_del(socket_ev_.get());
    evtimer_del(timer_.get());
    conn_.reset();
    answer_.reset();
    deferred_error_.clear();
    state_ = State::Closed;
}

void PqSession::on_socket(evutil_socket_t, short what, void* arg) {
    auto* s = static_cast<PqSession*>(arg);
    switch (s->state_) {
        case State::Connecting: s->poll_connect(); break;
        case State::Busy:
            if (what & EV_WRITE) s->flush();
            if ((what & EV_READ) && s->state_ == State::Busy) s->read_answer();
            break;
        case State::Idle: s->read_idle(); break;
        case State::Closed: break;
    }
}

void PqSession::on_timer(evutil_socket_t, short, void* arg) {
    auto* s = static_cast<PqSession*>(arg);
    if (!s->deferred_error_.empty()) {
        s->fail({std::exchange(s->deferred_error_, {})});
        return;
    }
    if (s->state_ == State::Connecting) s->fail({"could not connect and log in in time", true});
    else if (s->state_ == State::Busy) s->fail({"no answer in time", true});
}

void PqSession::on_notice(void* arg, const char* message) {
    auto* s = static_cast<PqSession*>(arg);
    if (s->notice_) s->notice_(pq_message(message));
}

void PqSession::poll_connect() {
    switch (PQconnectPoll(conn_.get())) {
        case PGRES_POLLING_READING: watch(EV_READ); return;
        case PGRES_POLLING_WRITING: watch(EV_WRITE); return;
        case PGRES_POLLING_OK:
            if (PQsetnonblocking(conn_.get(), 1) != 0) {
                fail({"PQsetnonblocking() failed: " + pq_message(PQerrorMessage(conn_.get()))});
                return;
            }
            state_ = State::Idle;
            evtimer_del(timer_.get());
            watch(EV_READ);
            std::exchange(connected_, {})(PqError{});
            return;
        default:
            fail({pq_message(PQerrorMessage(conn_.get()))});
            return;
    }
}

void PqSession::flush() {
    int r = PQflush(conn_.get());
    if (r < 0) {
        fail({pq_message(PQerrorMessage(conn_.get()))});
        return;
    }
    watch(r == 1 ? EV_READ | EV_WRITE : EV_READ);
}

void PqSession::read_answer() {
    if (PQconsumeInput(conn_.get()) == 0) {
        fail({pq_message(PQerrorMessage(conn_.get()))});
        return;
    }
    while (PQisBusy(conn_.get()) == 0) {
        PGresult* r = PQgetResult(conn_.get());
        if (r == nullptr) {
            if (PQstatus(conn_.get()) != CONNECTION_OK) {
                // The server ended the session, and said why in the answer it sent.
                std::string why = answer_ ? pq_message(PQresultErrorMessage(answer_.get()))
                                          : pq_message(PQerrorMessage(conn_.get()));
                fail({why}, std::move(answer_));
                return;
            }
            state_ = State::Idle;
            evtimer_del(timer_.get());
            watch(EV_READ);
            PgResultPtr answer = std::move(answer_);
            std::exchange(answered_, {})(answer.get(), PqError{});
            return;
        }
        if (!answer_) answer_.reset(r); else PQclear(r);
    }
    flush();
}

void PqSession::read_idle() {
    // Only the server closing the session or a notice wakes an idle one.
    if (PQconsumeInput(conn_.get()) == 0 || PQstatus(conn_.get()) != CONNECTION_OK) {
        std::string why = pq_message(PQerrorMessage(conn_.get()));
        close();
        if (lost_) lost_(why);
        return;
    }
    while (PQisBusy(conn_.get()) == 0) {
        PgResultPtr stray(PQgetResult(conn_.get()));
        if (!stray) break;
    }
    watch(EV_READ);
}

void PqSession::watch(short what) {
    event_del(socket_ev_.get());
    evutil_socket_t fd = PQsocket(conn_.get());
    if (fd < 0) {
        fail_soon("the connection has no socket");
        return;
    }
    event_assign(socket_ev_.get(), base_, fd, what, on_socket, this);
    event_add(socket_ev_.get(), nullptr);
}

void PqSession::arm(double seconds) {
    if (seconds <= 0) {
        evtimer_del(timer_.get());
        return;
    }
    timeval tv = to_timeval(seconds);
    evtimer_add(timer_.get(), &tv);
}

void PqSession::fail(const PqError& error, PgResultPtr answer) {
    const bool connecting = state_ == State::Connecting;
    Connected connected = std::exchange(connected_, {});
    Answered answered = std::exchange(answered_, {});
    close();
    if (connecting && connected) connected(error);
    else if (answered) answered(answer.get(), error);
}

void PqSession::fail_soon(std::string why) {
    deferred_error_ = std::move(why);
    event_del(socket_ev_.get());
    timeval now{0, 0};
    evtimer_add(timer_.get(), &now);
}

}  // namespace pggate::net
