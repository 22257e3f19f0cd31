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
#include <vector>

#include "config/config.hpp"
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
    // server_tls_*: libpq's sslmode, sslrootcert, sslcert and sslkey.
    config::TlsSettings tls;

    bool operator==(const PqTarget&) const = default;
};

// Why a login or a query failed; the session is closed by then.
struct PqError {
    std::string message;     // empty: no failure
    bool timed_out = false;  // the time limit passed; `message` then says so in general words
};

class PqSession {
public:
    // Logged in, unless error.message says why not.
    using Connected = std::function<void(const PqError& error)>;
    // The query's first result (others are dropped), unless error.message
    // says why there is none: `result` is then nullptr or, when the server
    // answered and then ended the session (an administrator's command, a
    // shutdown), that answer, which says why.
    using Answered = std::function<void(PGresult* result, const PqError& error)>;
    // What the server says on its own (a notice, a warning), newline trimmed.
    // Called from inside libpq: it must not use the session.
    using Notice = std::function<void(const std::string& message)>;
    // The server closed an idle session (a restart, pg_terminate_backend);
    // `why` is libpq's message. The session is closed by then.
    using Lost = std::function<void(const std::string& why)>;

    explicit PqSession(event_base* base);
    ~PqSession();
    PqSession(const PqSession&) = delete;
    PqSession& operator=(const PqSession&) = delete;

    // Without these, notices are dropped and a lost idle session just closes.
    void set_notice_handler(Notice notice) { notice_ = std::move(notice); }
    void set_lost_handler(Lost lost) { lost_ = std::move(lost); }

    // Starts logging in; `timeout` seconds (0: none) for all of it.
    void connect(const PqTarget& target, double timeout, Connected done);
    // Runs `sql` on a logged-in, idle session; `timeout` seconds for the answer.
    void query(const std::string& sql, double timeout, Answered done) { query(sql, {}, timeout, std::move(done)); }
    // The same with `params` as the text values of $1, $2, …; any params
    // mean the extended protocol, which takes one statement only.
    void query(const std::string& sql, const std::vector<std::string>& params, double timeout, Answered done);
    void close();

    bool logged_in() const { return state_ == State::Idle || state_ == State::Busy; }
    bool idle() const { return state_ == State::Idle; }
    bool closed() const { return state_ == State::Closed; }

private:
    enum class State { Closed, Connecting, Idle, Busy };

    static void on_socket(evutil_socket_t, short what, void* arg);
    static void on_timer(evutil_socket_t, short, void* arg);
    static void on_notice(void* arg, const char* message);
    void poll_connect();
    void flush();
    void read_answer();
    void read_idle();
    void watch(short what);
    void arm(double seconds);
    void fail(const PqError& error, PgResultPtr answer = nullptr);
    void fail_soon(std::string why);

    event_base* base_;
    State state_ = State::Closed;
    PgConnPtr conn_;
    EventPtr socket_ev_;
    EventPtr timer_;
    Connected connected_;
    Answered answered_;
    Notice notice_;
    Lost lost_;
    PgResultPtr answer_;
    std::string deferred_error_;
};

}  // namespace pggate::net
