// One libpq connection driven by a libevent loop without ever blocking:
// connect and log in, then run one query at a time, each within a time limit.
// Callbacks always run from the loop, never from inside the call that
// started the work; a callback may start the next step on the session.
#pragma once

#include <libpq-fe.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/event_ptr.hpp"

namespace pggate::net {

struct PqFinish {
    void operator()(PGconn* c) const { PQfinish(c); }
};
struct PqClear {
    void operator()(PGresult* r) const { PQclear(r); }
};
using PgConnPtr = std::unique_ptr<PGconn, PqFinish>;
using PgResultPtr = std::unique_ptr<PGresult, PqClear>;

// libpq's message without its trailing newline ("unknown error" if empty).
std::string pq_message(const char* message);

// Where and as whom a session logs in.
struct PqTarget {
    std::string host;      // host name or Unix socket directory
    std::string hostaddr;  // resolved IP address, so libpq resolves nothing; empty: none
    int port = 5432;
    std::string dbname;
    std::string user;                     // empty: libpq's default
    std::optional<std::string> password;  // nullopt: whatever libpq finds (trust, a password file)
    std::string application_name;
};

class PqSession {
public:
    // Empty `error`: logged in.
    using Connected = std::function<void(const std::string& error)>;
    // The query's first result (others are dropped), or nullptr with `error`
    // saying why the connection failed (it is closed by then).
    using Answered = std::function<void(PGresult* result, const std::string& error)>;

    explicit PqSession(event_base* base);
    ~PqSession();
    PqSession(const PqSession&) = delete;
    PqSession& operator=(const PqSession&) = delete;

    // Starts logging in; `timeout` seconds (0: none) for all of it.
    void connect(const PqTarget& target, double timeout, Connected done);
    // Runs `sql` on a logged-in, idle session; `timeout` seconds for the answer.
    void query(const std::string& sql, double timeout, Answered done);
    void close();

    bool logged_in() const { return state_ == State::Idle || state_ == State::Busy; }
    bool idle() const { return state_ == State::Idle; }
    bool closed() const { return state_ == State::Closed; }

private:
    enum class State { Closed, Connecting, Idle, Busy };

    static void on_socket(evutil_socket_t, short what, void* arg);
    static void on_timer(evutil_socket_t, short, void* arg);
    void poll_connect();
    void flush();
    void read_answer();
    void watch(short what);
    void arm(double seconds);
    void fail(const std::string& why);
    void fail_soon(std::string why);

    event_base* base_;
    State state_ = State::Closed;
    PgConnPtr conn_;
    EventPtr socket_ev_;
    EventPtr timer_;
    Connected connected_;
    Answered answered_;
    PgResultPtr answer_;
    std::string deferred_error_;
};

}  // namespace pggate::net
