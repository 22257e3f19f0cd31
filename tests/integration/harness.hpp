// The integration-test harness: one throwaway PostgreSQL cluster per test
// process, a real pggate process per test, and libpq and raw-socket clients.
#pragma once

#include <libpq-fe.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace pggate::test {

// PGGATE_DIRECT=1: Pggate starts nothing and every client talks to the
// primary directly, to check that the tests themselves expect what
// PostgreSQL does.
bool direct_mode();

// Ends the current test case (with a message) in direct mode; for tests of
// pggate's own behaviour (processes, signals, memory, its limits).
#define PGGATE_ONLY()                                                                   \
    do {                                                                                \
        if (::pggate::test::direct_mode()) {                                            \
            MESSAGE("skipped: tests pggate itself, not run with PGGATE_DIRECT=1");      \
            return;                                                                     \
        }                                                                               \
    } while (false)

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point start);
void sleep_for(double seconds);

// Polls `condition` every `interval_s` until it holds (true) or `timeout_s`
// passes (false).
bool eventually(const std::function<bool()>& condition, double timeout_s, double interval_s = 0.02);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0), and
// not handed out before by this process.
int free_port();

std::string read_text_file(const std::string& path);  // "" when missing
// Replaces `path` with `text` at once (a rename), so a pggate reading it
// never sees half a file; REQUIREs that it worked.
void replace_file(const std::string& path, const std::string& text);
std::string last_lines(const std::string& text, int lines);

// ---- processes (from /proc) ----------------------------------------------

bool process_alive(pid_t pid);  // exists and is not a zombie
std::string process_comm(pid_t pid);
std::vector<pid_t> child_pids(pid_t parent);  // living children, sorted
long process_rss_kb(pid_t pid);               // VmRSS, 0 when unknown
int socket_fd_count(pid_t pid);               // open fds that are sockets
// Makes room for `fds` open files in this process and in the pggate it
// starts afterwards (the limit is inherited); REQUIREs that it worked.
void raise_nofile(unsigned long fds);

// ---- libpq ------------------------------------------------------------------

// How long a query may go unanswered before a test fails instead of hanging.
constexpr double kQueryTimeout = 60;

// Owns a PGresult; a missing result reads as PGRES_FATAL_ERROR.
class PgResult {
public:
    PgResult() = default;
    explicit PgResult(PGresult* result) : result_(result) {}

    PGresult* get() const { return result_.get(); }
    explicit operator bool() const { return result_ != nullptr; }
    ExecStatusType status() const;
    bool ok() const;                  // PGRES_COMMAND_OK or PGRES_TUPLES_OK
    std::string sqlstate() const;     // "" when there is none
    std::string error() const;        // primary message, "" when none
    int rows() const;
    int cols() const;
    std::string value(int row, int col) const;
    bool is_null(int row, int col) const;
    std::string describe() const;     // status, SQLSTATE and message, for failure output

private:
    struct Clear {
        void operator()(PGresult* r) const { PQclear(r); }
    };
    std::unique_ptr<PGresult, Clear> result_;
};

// Owns a PGconn. Connection errors are reported verbosely, so the SQLSTATE of
// a refused connection (28P01, 53300, ...) can be read back.
class PgConn {
public:
    // Connects or fails the test (REQUIRE) with libpq's message.
    explicit PgConn(const std::string& conninfo, double timeout_s = 10);
    // Tries to connect; ok() says whether it worked. Never fails the test.
    static PgConn attempt(const std::string& conninfo, double timeout_s = 10);
    // Starts a non-blocking connection; drive it with poll_connect().
    static PgConn start(const std::string& conninfo);

    PgConn(PgConn&&) noexcept = default;
    PgConn& operator=(PgConn&&) noexcept = default;

    bool ok() const;
    PGconn* get() const { return conn_.get(); }
    void close() { conn_.reset(); }
    std::string error_message() const;
    // The SQLSTATE of the error that ended the connection attempt, or "".
    std::string error_sqlstate() const;
    // The client-side TCP port of this connection (0 for a Unix socket).
    int local_port() const;

    // Like PQexec (the first error, else the last result, whatever its
    // outcome) but FAILs instead of hanging when no answer comes in time.
    PgResult exec(const std::string& sql, double timeout_s = kQueryTimeout);
    // PQexec that REQUIREs PGRES_COMMAND_OK or PGRES_TUPLES_OK.
    PgResult exec_ok(const std::string& sql);
    // The single value of a one-row, one-column query (REQUIREd).
    std::string scalar(const std::string& sql);

    // Advances a connection begun with start(); true once it is no longer
    // in progress (ok() then tells how it ended).
    bool poll_connect();
    // A start()ed connection not finished yet; wants_read() tells whether
    // to wait for the socket to become readable (else writable).
    bool connecting() const;
    bool wants_read() const { return polling_ == PGRES_POLLING_READING; }

private:
    PgConn() = default;
    struct Finish {
        void operator()(PGconn* c) const { PQfinish(c); }
    };
    std::unique_ptr<PGconn, Finish> conn_;
    PostgresPollingStatusType polling_ = PGRES_POLLING_WRITING;
};

// The next result of an asynchronous query (nullptr when there is none), or
// FAIL when none is ready within timeout_s.
PgResult get_result(PGconn* conn, double timeout_s = kQueryTimeout);

// Opens `n` connections at once (non-blocking libpq), REQUIREing all of them.
std::vector<PgConn> connect_many(const std::string& conninfo, int n, double timeout_s = 60);

// The SQLSTATE in a verbose libpq message ("FATAL:  28P01: ..."), or "".
std::string sqlstate_in_message(const std::string& message);

// ---- the PostgreSQL cluster -------------------------------------------------

// A primary and streaming replicas on loopback, made by
// tests/harness/pgcluster.sh in a fresh /tmp directory and destroyed with the
// object. The superuser is "postgres"; the harness gives it kAdminPassword
// so its admin connections work whatever set_hba() chose.
class Cluster {
public:
    static constexpr const char* kAdminPassword = "pggate-admin";

    // A private cluster, for tests that stop, promote or otherwise change
    // nodes; everyone else shares cluster(). REQUIREs that it started.
    static std::unique_ptr<Cluster> create(int replicas = 2);

    ~Cluster();
    Cluster(const Cluster&) = delete;
    Cluster& operator=(const Cluster&) = delete;

    int primary_port() const { return primary_port_; }
    const std::vector<int>& replica_ports() const { return replica_ports_; }
    std::vector<int> all_ports() const;  // primary first
    // Where the nodes' Unix sockets are (DIR/.s.PGSQL.<port>).
    const std::string& socket_dir() const { return pg_dir_; }
    const std::string& dir() const { return pg_dir_; }

    // conninfo for a superuser connection straight to the node on `port`.
    std::string admin_conninfo(int port, const std::string& extra = "") const;
    PgConn admin(int port = 0) const;  // 0: the primary
    PgResult admin_exec(const std::string& sql, int port = 0) const;  // REQUIREs success
    std::string admin_scalar(const std::string& sql, int port = 0) const;

    // Rewrites pg_hba.conf on every node so local and loopback (127.0.0.1/32,
    // ::1/128) connections to any database as any user use `method` (trust,
    // password, md5, scram-sha-256); replication stays trust. Reloads and
    // returns once the nodes enforce it.
    void set_hba(const std::string& method);
    const std::string& hba_method() const { return hba_method_; }

    // Waits until every replica has replayed all WAL the primary has written.
    void wait_replicas_caught_up(double timeout_s = 30) const;

    // The node listening on `port`: "primary" or "replicaN", its data
    // directory, and pg_ctl run on it as the postgres user, e.g.
    // pg_ctl(port, "stop -m fast"), "start", "promote", "restart"
    // (-D, -l and -w are added). Returns pg_ctl's exit code.
    std::string node_name(int port) const;
    std::string node_dir(int port) const;
    int pg_ctl(int port, const std::string& action, std::string* output = nullptr) const;

private:
    Cluster() = default;
    std::string start(int replicas);  // "" or what went wrong
    void destroy() noexcept;

    std::string root_;    // /tmp/pggate-it-XXXXXX, holding owner.pid and pg/
    std::string pg_dir_;  // root_/pg, pgcluster.sh's DIR
    int primary_port_ = 0;
    std::vector<int> replica_ports_;
    std::string hba_method_ = "trust";
    pid_t owner_ = 0;
};

// The cluster shared by the tests of this process (a primary and two
// replicas), started on first call (REQUIREd) and destroyed at exit.
Cluster& cluster();

// Puts trust back on the servers (and drops the test roles) however the test ends.
struct TrustGuard {
    std::vector<std::string> roles;
    ~TrustGuard();
};

// The repository root: $PGGATE_SRCDIR, else the working directory, else found
// from $PGGATE_BIN; where tests/harness/pgcluster.sh is.
std::string repo_root();

// ---- pggate -----------------------------------------------------------------

struct PggateOptions {
    // "key = value" lines for [pggate]; a key the harness sets by default
    // (listen_addr, listen_port, unix_socket_dir, workers, logfile,
    // read_write_split = off, health_check_period = 0) is replaced.
    std::vector<std::string> settings;
    // Lines for [nodes]; empty: the cluster's primary (pg1, role=primary) and
    // replicas (pg2.., role=replica).
    std::vector<std::string> nodes;
    // Appended verbatim after [nodes] (further sections).
    std::string extra;
    // Wait until a client gets through before returning from the constructor.
    bool wait_ready = true;
    // The nodes behind it; nullptr: the shared cluster().
    const Cluster* cluster = nullptr;
};

// A pggate process started from $PGGATE_BIN in the foreground with an ini
// file of its own, in a temporary directory that also holds its log and Unix
// socket. The destructor SIGINTs it (SIGKILL after 5 s) and reaps it.
// In direct mode nothing is started and port()/conninfo() lead to the primary.
class Pggate {
public:
    explicit Pggate(std::vector<std::string> settings = {});
    explicit Pggate(PggateOptions options);
    ~Pggate();
    Pggate(const Pggate&) = delete;
    Pggate& operator=(const Pggate&) = delete;

    int port() const { return port_; }
    const std::string& unix_socket_dir() const { return socket_dir_; }
    const std::string& dir() const { return dir_; }
    const std::string& ini_path() const { return ini_path_; }
    const std::string& log_path() const { return logfile_; }

    // "host=127.0.0.1 port=<port> dbname=postgres user=postgres <extra>";
    // keys in `extra` win over the defaults.
    std::string conninfo(const std::string& extra = "") const;
    // Same over the Unix socket.
    std::string unix_conninfo(const std::string& extra = "") const;

    pid_t master_pid() const { return pid_; }
    // Living children of the master that are workers (helper processes whose
    // name says health/admin/metrics are left out), sorted.
    std::vector<pid_t> worker_pids() const;
    // VmRSS of the master plus all its children, in kB.
    long total_rss_kb() const;
    // Built with AddressSanitizer: its quarantine keeps freed memory
    // resident, so RSS says nothing about pggate's own memory use.
    bool sanitized() const;
    // The worker holding the server side of this client's TCP connection, or 0.
    pid_t worker_serving(const PgConn& client) const;

    void send_signal(int sig) const;
    // Waits for the master to exit: its exit code, 128 + signal when killed,
    // or -1 if it is still running after `timeout_s`.
    int wait_exit(double timeout_s);
    bool running();

    std::string log_text() const;  // the log file (and anything on its stderr)
    std::string log_tail(int lines = 40) const;

    // Waits until a client gets through (FAILs with the log after timeout_s).
    void wait_ready(double timeout_s = 10);

private:
    void write_ini(const PggateOptions& options);
    void spawn();
    void stop() noexcept;
    void remove_dir() noexcept;

    std::string dir_;
    std::string ini_path_;
    std::string socket_dir_;
    std::string logfile_;
    int port_ = 0;
    pid_t pid_ = 0;
    std::optional<int> exit_status_;  // raw waitpid status once reaped
    bool keep_dir_ = false;
};

// Transaction pooling with trust, `pool_size` servers per pool and one
// worker, so that clients share servers as a test arranges; `extra` adds
// [pggate] lines.
Pggate transaction_pool(int pool_size, const std::vector<std::string>& extra = {});

// ---- shell commands -----------------------------------------------------------

// Runs `command` with sh, stderr joined to stdout: its exit status (-1 if it
// did not exit) and all it printed in `output`.
int run_shell(const std::string& command, std::string& output);
// The number after `label` in a tool's output (pgbench's summary), or -1.
long long number_after(const std::string& output, const std::string& label);
// The decimal number after `label` in `text` (pgbench's "tps = "), or -1.
double decimal_after(const std::string& text, const std::string& label);
// How many times the regular expression `pattern` matches in `text`.
int count_matches(const std::string& text, const std::string& pattern);

// A shell command (stderr joined to stdout) run on a thread of its own, for
// a pgbench run the test acts on meanwhile; the destructor waits for it, so
// a failing test never leaves the thread behind. No doctest assertions run
// on the thread.
class Background {
public:
    explicit Background(std::string command) : thread_([this, command = std::move(command)] { run(command); }) {}
    ~Background() { wait(); }
    Background(const Background&) = delete;
    Background& operator=(const Background&) = delete;

    // Waits for the command: its exit status (-1 when it did not exit).
    int wait() {
        if (thread_.joinable()) thread_.join();
        return status_;
    }
    const std::string& output() const { return output_; }  // after wait()

private:
    void run(const std::string& command);

    std::string output_;
    int status_ = -1;
    std::thread thread_;  // last: starts once the members it writes exist
};

// ---- raw wire protocol ------------------------------------------------------

namespace wire {

constexpr std::uint32_t kProtocol3 = 196608;  // 3.0
constexpr std::uint32_t kSslRequestCode = 80877103;
constexpr std::uint32_t kGssEncRequestCode = 80877104;
constexpr std::uint32_t kCancelRequestCode = 80877102;

std::string be32(std::uint32_t v);
std::string be16(std::uint16_t v);
std::uint32_t read_be32(std::string_view bytes, std::size_t offset);
std::string cstr(std::string_view s);  // s followed by a NUL
// A typed message: type byte, int32 length (counting itself), body.
std::string message(char type, std::string_view body);
// A StartupMessage with the given parameters (in order) and protocol version.
std::string startup_message(const std::vector<std::pair<std::string, std::string>>& params,
                            std::uint32_t version = kProtocol3);
std::string ssl_request();
std::string gssenc_request();
std::string cancel_request(std::uint32_t pid, std::uint32_t key);
// The fields of an ErrorResponse/NoticeResponse body, by field type ('C', 'M', ...).
std::map<char, std::string> error_fields(std::string_view body);

// Extended-protocol messages: text parameters and results, no parameter types.
std::string parse(const std::string& name, const std::string& sql);
std::string bind(const std::string& portal, const std::string& statement);
std::string describe_portal(const std::string& portal);
std::string execute(const std::string& portal, std::uint32_t max_rows);
std::string close_portal(const std::string& portal);
std::string flush();
std::string sync();

}  // namespace wire

struct BackendMessage {
    char type = 0;
    std::string body;
};

// A plain TCP client for sending exactly the bytes a test wants.
class RawClient {
public:
    explicit RawClient(int port);  // 127.0.0.1:port, REQUIREd
    ~RawClient();
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    int fd() const { return fd_; }
    // Sends all bytes; false when the peer has closed (EPIPE, ECONNRESET).
    bool send(std::string_view bytes);
    // Up to `n` bytes, fewer on timeout or EOF.
    std::string read_exact(std::size_t n, double timeout_s);
    // One typed backend message, or nullopt on timeout or EOF.
    std::optional<BackendMessage> read_message(double timeout_s);
    // Reads (and drops) until the peer closes; false if it did not in time.
    bool wait_eof(double timeout_s);
    bool eof() const { return eof_; }
    // Reads messages until an ErrorResponse, returning its fields; nullopt
    // when the connection ends or goes quiet first.
    std::optional<std::map<char, std::string>> read_error(double timeout_s);
    // StartupMessage as `user` (trust auth), read through ReadyForQuery;
    // REQUIREs that it worked. Returns the messages read.
    std::vector<BackendMessage> login(const std::string& user = "postgres",
                                      const std::string& database = "postgres");

private:
    bool fill(double timeout_s);  // reads more into buffer_; false on timeout/EOF
    int fd_ = -1;
    std::string buffer_;
    bool eof_ = false;
};

}  // namespace pggate::test
