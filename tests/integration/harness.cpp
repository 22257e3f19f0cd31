// The integration-test harness: the shared PostgreSQL cluster, pggate
// processes, libpq wrappers and the raw-socket client (see harness.hpp).
#include "harness.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#ifndef PG_BINDIR
#define PG_BINDIR ""
#endif

namespace fs = std::filesystem;

namespace pggate::test {

namespace {

constexpr const char* kClusterPrefix = "pggate-it-";
constexpr const char* kPggatePrefix = "pggate-gw-";

bool env_flag(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

Clock::time_point deadline_after(double seconds) {
    return Clock::now() + std::chrono::microseconds(static_cast<long long>(seconds * 1e6));
}

std::string trim(std::string s) {
    auto not_space = [](unsigned char c) { return !std::isspace(c); };
    s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
    s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
    return s;
}

// Makes a fresh 0755 directory /tmp/<prefix>XXXXXX holding owner.pid, so a
// later run can remove it if this process dies without cleaning up.
std::string make_temp_dir(const char* prefix) {
    std::string pattern = std::string("/tmp/") + prefix + "XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) {
        FAIL("mkdtemp(" << pattern << ") failed: " << std::strerror(errno));
    }
    std::string dir(buf.data());
    chmod(dir.c_str(), 0755);  // the postgres user must traverse it
    std::ofstream(dir + "/owner.pid") << getpid() << "\n";
    return dir;
}

// Runs argv, capturing stdout and stderr into *output; returns the exit code
// (or 128 + signal, or -1 when it could not run).
int run_command(const std::vector<std::string>& argv, std::string* output) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        if (output) *output = std::string("pipe2() failed: ") + std::strerror(errno);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        if (output) *output = std::string("fork() failed: ") + std::strerror(errno);
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        close_range(3, ~0U, 0);
        if (chdir("/tmp") != 0) _exit(126);  // somewhere the postgres user may be
        if (std::getenv("PG_BINDIR") == nullptr && std::strlen(PG_BINDIR) > 0) {
            setenv("PG_BINDIR", PG_BINDIR, 1);
        }
        signal(SIGPIPE, SIG_DFL);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        dprintf(2, "execvp(%s) failed: %s\n", args[0], std::strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = read(pipefd[0], buf, sizeof buf);
        if (n > 0) {
            out.append(buf, static_cast<std::size_t>(n));
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (output) *output = out;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

std::string pgcluster_script() { return repo_root() + "/tests/harness/pgcluster.sh"; }

// $PG_BINDIR, else the build's PG_BINDIR, else the newest installed version.
std::string pg_bindir() {
    std::string dir = env_or("PG_BINDIR", PG_BINDIR);
    if (!dir.empty()) return dir;
    std::string best;
    int best_version = -1;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
        std::string name = entry.path().filename().string();
        bool numeric = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
        std::string candidate = entry.path().string() + "/bin";
        if (!numeric || name.size() > 6 || access((candidate + "/pg_ctl").c_str(), X_OK) != 0) continue;
        if (std::atoi(name.c_str()) > best_version) {
            best_version = std::atoi(name.c_str());
            best = candidate;
        }
    }
    return best;
}

// Removes directories left in /tmp by test processes that died without
// cleaning up (their owner.pid names a process that is gone), stopping the
// PostgreSQL nodes in them first.
void remove_stale_dirs() {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/tmp", ec)) {
        std::string name = entry.path().filename().string();
        bool is_cluster = name.rfind(kClusterPrefix, 0) == 0;
        if (!is_cluster && name.rfind(kPggatePrefix, 0) != 0) continue;
        std::string pid_text = trim(read_text_file(entry.path().string() + "/owner.pid"));
        if (pid_text.empty()) continue;
        pid_t owner = static_cast<pid_t>(std::atol(pid_text.c_str()));
        if (owner <= 0 || kill(owner, 0) == 0 || errno != ESRCH) continue;
        if (is_cluster && fs::exists(entry.path() / "pg")) {
            std::string out;
            run_command({pgcluster_script(), "destroy", (entry.path() / "pg").string()}, &out);
        }
        fs::remove_all(entry.path(), ec);
    }
}

// Fields of /proc/<pid>/stat after the command name: state is [0], ppid [1].
std::vector<std::string> stat_fields(pid_t pid) {
    std::string stat = read_text_file("/proc/" + std::to_string(pid) + "/stat");
    auto close_paren = stat.rfind(')');
    if (close_paren == std::string::npos) return {};
    std::istringstream in(stat.substr(close_paren + 1));
    std::vector<std::string> fields;
    std::string f;
    while (in >> f) fields.push_back(f);
    return fields;
}

std::vector<pid_t> all_pids() {
    std::vector<pid_t> pids;
    DIR* d = opendir("/proc");
    if (d == nullptr) return pids;
    while (dirent* e = readdir(d)) {
        char* end = nullptr;
        long v = std::strtol(e->d_name, &end, 10);
        if (end != e->d_name && *end == '\0' && v > 0) pids.push_back(static_cast<pid_t>(v));
    }
    closedir(d);
    return pids;
}

// Inodes of the open sockets of a process.
std::set<unsigned long> socket_inodes(pid_t pid) {
    std::set<unsigned long> inodes;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
        std::error_code lec;
        std::string target = fs::read_symlink(entry.path(), lec).string();
        if (!lec && target.rfind("socket:[", 0) == 0) {
            inodes.insert(std::strtoul(target.c_str() + 8, nullptr, 10));
        }
    }
    return inodes;
}

std::string exe_of(pid_t pid) {
    std::error_code ec;
    return fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
}

std::string decode_status_text(int code) {
    if (code < 0) return "still running";
    if (code >= 128) return "killed by signal " + std::to_string(code - 128);
    return "exit code " + std::to_string(code);
}

int decode_wait_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// "key = value" -> {key, value}; {line, ""} when there is no '='.
std::pair<std::string, std::string> split_setting(const std::string& line) {
    auto eq = line.find('=');
    if (eq == std::string::npos) return {trim(line), ""};
    return {trim(line.substr(0, eq)), trim(line.substr(eq + 1))};
}

}  // namespace

// ---- small utilities ----------------------------------------------------------

bool direct_mode() { return env_flag("PGGATE_DIRECT"); }

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

void sleep_for(double seconds) {
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long long>(seconds * 1e6)));
}

bool eventually(const std::function<bool()>& condition, double timeout_s, double interval_s) {
    auto deadline = deadline_after(timeout_s);
    for (;;) {
        if (condition()) return true;
        if (Clock::now() >= deadline) return false;
        sleep_for(interval_s);
    }
}

int free_port() {
    static std::set<int> handed_out;
    for (int tries = 0; tries < 100; ++tries) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE_MESSAGE(fd >= 0, "socket() failed: " << std::strerror(errno));
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = 0;
        socklen_t len = sizeof addr;
        bool bound = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                     getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
        close(fd);
        REQUIRE_MESSAGE(bound, "bind(127.0.0.1:0) failed: " << std::strerror(errno));
        int port = ntohs(addr.sin_port);
        if (handed_out.insert(port).second) return port;
    }
    FAIL("no free port found");
    return 0;
}

std::string read_text_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "";
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

void replace_file(const std::string& path, const std::string& text) {
    const std::string next = path + ".next";
    {
        std::ofstream out(next, std::ios::trunc);
        out << text;
        out.close();
        REQUIRE_MESSAGE(out.good(), "writing " << next << " failed");
    }
    REQUIRE_MESSAGE(std::rename(next.c_str(), path.c_str()) == 0, "rename() over " << path << " failed");
}

std::string last_lines(const std::string& text, int lines) {
    if (lines <= 0) return "";
    std::size_t pos = text.size();
    if (pos > 0 && text[pos - 1] == '\n') --pos;
    int seen = 0;
    while (pos > 0) {
        --pos;
        if (text[pos] == '\n' && ++seen == lines) return text.substr(pos + 1);
    }
    return text;
}

std::string repo_root() {
    std::string src = env_or("PGGATE_SRCDIR", "");
    if (!src.empty()) return src;
    const std::string script = "/tests/harness/pgcluster.sh";
    std::error_code ec;
    std::string cwd = fs::current_path(ec).string();
    if (!ec && fs::exists(cwd + script)) return cwd;
    std::string bin = env_or("PGGATE_BIN", "");
    if (!bin.empty()) {
        fs::path p = fs::absolute(bin, ec).parent_path();
        for (int up = 0; up < 4 && !p.empty(); ++up, p = p.parent_path()) {
            if (fs::exists(p.string() + script)) return p.string();
        }
    }
    return cwd;
}

// ---- processes ------------------------------------------------------------------

bool process_alive(pid_t pid) {
    if (pid <= 0) return false;
    auto fields = stat_fields(pid);
    return !fields.empty() && fields[0] != "Z" && fields[0] != "X";
}

std::string process_comm(pid_t pid) {
    return trim(read_text_file("/proc/" + std::to_string(pid) + "/comm"));
}

std::vector<pid_t> child_pids(pid_t parent) {
    std::vector<pid_t> children;
    if (parent <= 0) return children;
    for (pid_t pid : all_pids()) {
        auto fields = stat_fields(pid);
        if (fields.size() < 2 || fields[0] == "Z" || fields[0] == "X") continue;
        if (std::atol(fields[1].c_str()) == parent) children.push_back(pid);
    }
    std::sort(children.begin(), children.end());
    return children;
}

long process_rss_kb(pid_t pid) {
    std::istringstream in(read_text_file("/proc/" + std::to_string(pid) + "/status"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    }
    return 0;
}

void raise_nofile(unsigned long fds) {
    rlimit lim{};
    REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
    if (lim.rlim_cur >= fds) return;
    if (lim.rlim_max < fds) lim.rlim_max = fds;  // works as root
    lim.rlim_cur = fds;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
        REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
        lim.rlim_cur = lim.rlim_max;
        REQUIRE(setrlimit(RLIMIT_NOFILE, &lim) == 0);
    }
    REQUIRE(getrlimit(RLIMIT_NOFILE, &lim) == 0);
    REQUIRE_MESSAGE(lim.rlim_cur >= fds, "RLIMIT_NOFILE is only " << lim.rlim_cur);
}

int socket_fd_count(pid_t pid) { return static_cast<int>(socket_inodes(pid).size()); }

// ---- libpq ------------------------------------------------------------------------

ExecStatusType PgResult::status() const {
    return result_ ? PQresultStatus(result_.get()) : PGRES_FATAL_ERROR;
}

bool PgResult::ok() const {
    auto s = status();
    return result_ && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK);
}

std::string PgResult::sqlstate() const {
    if (!result_) return "";
    const char* s = PQresultErrorField(result_.get(), PG_DIAG_SQLSTATE);
    return s ? s : "";
}

std::string PgResult::error() const {
    if (!result_) return "no result";
    const char* s = PQresultErrorField(result_.get(), PG_DIAG_MESSAGE_PRIMARY);
    return s ? s : "";
}

int PgResult::rows() const { return result_ ? PQntuples(result_.get()) : 0; }
int PgResult::cols() const { return result_ ? PQnfields(result_.get()) : 0; }

std::string PgResult::value(int row, int col) const {
    if (!result_ || row >= rows() || col >= cols()) return "";
    return std::string(PQgetvalue(result_.get(), row, col),
                       static_cast<std::size_t>(PQgetlength(result_.get(), row, col)));
}

bool PgResult::is_null(int row, int col) const {
    return !result_ || PQgetisnull(result_.get(), row, col) != 0;
}

std::string PgResult::describe() const {
    if (!result_) return "(no result)";
    std::string s = PQresStatus(status());
    std::string state = sqlstate();
    if (!state.empty()) s += " " + state;
    const char* msg = PQresultErrorMessage(result_.get());
    if (msg && *msg) s += ": " + trim(msg);
    return s;
}

std::string sqlstate_in_message(const std::string& message) {
    for (const char* severity : {"FATAL:  ", "ERROR:  ", "PANIC:  "}) {
        for (auto pos = message.find(severity); pos != std::string::npos; pos = message.find(severity, pos + 1)) {
            std::string code = message.substr(pos + std::strlen(severity), 7);
            bool valid = code.size() == 7 && code.compare(5, 2, ": ") == 0 &&
                         std::all_of(code.begin(), code.begin() + 5,
                                     [](char ch) { return (ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z'); });
            if (valid) return code.substr(0, 5);
        }
    }
    return "";
}

PgConn PgConn::start(const std::string& conninfo) {
    PgConn c;
    c.conn_.reset(PQconnectStart(conninfo.c_str()));
    if (!c.conn_ || PQstatus(c.get()) == CONNECTION_BAD) {
        c.polling_ = PGRES_POLLING_FAILED;
    } else {
        // Verbose, so that the message of a refused login carries its SQLSTATE.
        PQsetErrorVerbosity(c.get(), PQERRORS_VERBOSE);
        // Notices go nowhere unless a test installs its own receiver.
        PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
        c.polling_ = PGRES_POLLING_WRITING;
    }
    return c;
}

bool PgConn::connecting() const { return polling_ != PGRES_POLLING_OK && polling_ != PGRES_POLLING_FAILED; }

bool PgConn::poll_connect() {
    if (connecting()) polling_ = PQconnectPoll(get());
    return !connecting();
}

PgConn PgConn::attempt(const std::string& conninfo, double timeout_s) {
    PgConn c = start(conninfo);
    auto deadline = deadline_after(timeout_s);
    while (c.connecting()) {
        int left = remaining_ms(deadline);
        if (left == 0) break;
        pollfd p{PQsocket(c.get()), static_cast<short>(c.wants_read() ? POLLIN : POLLOUT), 0};
        int r = poll(&p, 1, left);
        if (r < 0 && errno != EINTR) break;
        if (r > 0) c.poll_connect();
    }
    return c;
}

PgConn::PgConn(const std::string& conninfo, double timeout_s) {
    PgConn c = attempt(conninfo, timeout_s);
    REQUIRE_MESSAGE(c.ok(), "connecting with '" << conninfo << "' failed: " << c.error_message());
    *this = std::move(c);
}

bool PgConn::ok() const { return conn_ && PQstatus(conn_.get()) == CONNECTION_OK; }

std::string PgConn::error_message() const {
    if (!conn_) return "out of memory in libpq";
    std::string msg = trim(PQerrorMessage(conn_.get()));
    if (msg.empty() && !ok()) msg = "connection attempt timed out";
    return msg;
}

std::string PgConn::error_sqlstate() const {
    return conn_ ? sqlstate_in_message(PQerrorMessage(conn_.get())) : "";
}

int PgConn::local_port() const {
    if (!conn_) return 0;
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(PQsocket(conn_.get()), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    return 0;
}

PgResult get_result(PGconn* conn, double timeout_s) {
    auto deadline = deadline_after(timeout_s);
    while (PQisBusy(conn)) {
        int left = remaining_ms(deadline);
        REQUIRE_MESSAGE(left > 0, "no result within " << timeout_s << " s");
        pollfd p{PQsocket(conn), POLLIN, 0};
        int r = poll(&p, 1, left);
        REQUIRE_MESSAGE((r >= 0 || errno == EINTR), "poll() failed: " << std::strerror(errno));
        if (r > 0 && PQconsumeInput(conn) == 0) break;  // the connection broke: PQgetResult says so
    }
    return PgResult(PQgetResult(conn));
}

PgResult PgConn::exec(const std::string& sql, double timeout_s) {
    REQUIRE_MESSAGE(conn_ != nullptr, "exec on a closed connection");
    PGconn* conn = conn_.get();
    if (PQsendQuery(conn, sql.c_str()) == 0) return PgResult();
    PgResult kept;
    for (;;) {
        PgResult r = get_result(conn, timeout_s);
        if (!r) break;
        ExecStatusType st = r.status();
        bool copy = st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH;
        if (!kept || kept.status() != PGRES_FATAL_ERROR) kept = std::move(r);
        if (copy) break;
    }
    return kept;
}

PgResult PgConn::exec_ok(const std::string& sql) {
    PgResult r = exec(sql);
    REQUIRE_MESSAGE(r.ok(), "'" << sql << "' failed: " << r.describe() << " / " << error_message());
    return r;
}

std::string PgConn::scalar(const std::string& sql) {
    PgResult r = exec(sql);
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, "'" << sql << "' failed: " << r.describe() << " / " << error_message());
    REQUIRE_MESSAGE((r.rows() == 1 && r.cols() == 1),
                    "'" << sql << "' returned " << r.rows() << " rows x " << r.cols() << " columns");
    return r.value(0, 0);
}

std::vector<PgConn> connect_many(const std::string& conninfo, int n, double timeout_s) {
    // A bounded number in flight: enough to make accepts overlap, few enough
    // not to overflow a listen backlog into SYN retransmits.
    constexpr int kInFlight = 64;
    std::vector<PgConn> conns;
    conns.reserve(static_cast<std::size_t>(n));
    auto deadline = deadline_after(timeout_s);
    std::size_t done = 0;  // conns[0, done) have finished
    while (done < static_cast<std::size_t>(n)) {
        while (conns.size() < static_cast<std::size_t>(n) && conns.size() - done < kInFlight) {
            conns.push_back(PgConn::start(conninfo));
        }
        std::vector<pollfd> fds;
        std::vector<std::size_t> which;
        for (std::size_t i = done; i < conns.size(); ++i) {
            auto& c = conns[i];
            if (!c.connecting()) continue;
            fds.push_back({PQsocket(c.get()), static_cast<short>(c.wants_read() ? POLLIN : POLLOUT), 0});
            which.push_back(i);
        }
        if (!fds.empty()) {
            int left = remaining_ms(deadline);
            REQUIRE_MESSAGE(left > 0, "connect_many: " << done << " of " << n << " connected in " << timeout_s << " s");
            int r = poll(fds.data(), fds.size(), std::min(left, 200));
            REQUIRE_MESSAGE((r >= 0 || errno == EINTR), "poll() failed: " << std::strerror(errno));
            for (std::size_t k = 0; k < fds.size(); ++k) {
                if (fds[k].revents != 0) conns[which[k]].poll_connect();
            }
        }
        while (done < conns.size() && !conns[done].connecting()) {
            REQUIRE_MESSAGE(conns[done].ok(),
                            "connection " << done << " of " << n << " failed: " << conns[done].error_message());
            ++done;
        }
    }
    return conns;
}

// ---- the cluster ------------------------------------------------------------------

std::unique_ptr<Cluster> Cluster::create(int replicas) {
    std::unique_ptr<Cluster> c(new Cluster());
    std::string failure = c->start(replicas);
    if (!failure.empty()) {
        c->destroy();
        FAIL("starting a PostgreSQL cluster failed:\n" << failure);
    }
    return c;
}

Cluster& cluster() {
    static std::unique_ptr<Cluster> instance;
    static bool failed = false;
    if (failed) FAIL("the shared test cluster failed to start earlier (see the first failure)");
    if (!instance) {
        failed = true;
        instance = Cluster::create(2);  // FAILs saying why
        failed = false;
    }
    return *instance;
}

std::string Cluster::start(int replicas) {
    remove_stale_dirs();
    owner_ = getpid();
    root_ = make_temp_dir(kClusterPrefix);  // from here on destroy() cleans up
    pg_dir_ = root_ + "/pg";
    int primary = free_port();
    std::vector<int> replica_ports;
    for (int i = 0; i < replicas; ++i) replica_ports.push_back(free_port());
    std::vector<std::string> argv{pgcluster_script(), "start", pg_dir_, std::to_string(primary)};
    for (int p : replica_ports) argv.push_back(std::to_string(p));
    std::string out;
    int rc = run_command(argv, &out);
    if (rc != 0) return "pgcluster.sh start " + pg_dir_ + " (" + decode_status_text(rc) + "):\n" + out;
    // The superuser gets a password so admin connections keep working under
    // any set_hba() method (a SCRAM secret serves password, md5 and scram).
    PgConn admin = PgConn::attempt(admin_conninfo(primary), 10);
    if (!admin.ok()) return "admin connection to the new primary failed: " + admin.error_message();
    PgResult r = admin.exec(std::string("ALTER ROLE postgres PASSWORD '") + kAdminPassword + "'");
    if (!r.ok()) return "setting the admin password failed: " + r.describe();
    primary_port_ = primary;
    replica_ports_ = replica_ports;
    return "";
}

void Cluster::destroy() noexcept {
    if (root_.empty() || getpid() != owner_) return;
    std::string out;
    if (env_flag("PGGATE_KEEP_TMP")) {
        std::fprintf(stderr, "PGGATE_KEEP_TMP: stopping, not removing, the cluster in %s\n", pg_dir_.c_str());
        run_command({pgcluster_script(), "stop", pg_dir_}, &out);
    } else {
        if (fs::exists(pg_dir_)) run_command({pgcluster_script(), "destroy", pg_dir_}, &out);
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    root_.clear();
}

Cluster::~Cluster() { destroy(); }

std::vector<int> Cluster::all_ports() const {
    std::vector<int> ports{primary_port_};
    ports.insert(ports.end(), replica_ports_.begin(), replica_ports_.end());
    return ports;
}

std::string Cluster::admin_conninfo(int port, const std::string& extra) const {
    return "host=127.0.0.1 port=" + std::to_string(port) +
           " dbname=postgres user=postgres gssencmode=disable connect_timeout=10 password=" + kAdminPassword +
           (extra.empty() ? "" : " " + extra);
}

PgConn Cluster::admin(int port) const { return PgConn(admin_conninfo(port == 0 ? primary_port_ : port)); }

PgResult Cluster::admin_exec(const std::string& sql, int port) const {
    PgConn c = admin(port);
    return c.exec_ok(sql);
}

std::string Cluster::admin_scalar(const std::string& sql, int port) const {
    PgConn c = admin(port);
    return c.scalar(sql);
}

void Cluster::set_hba(const std::string& method) {
    static const std::set<std::string> methods{"trust", "password", "md5", "scram-sha-256"};
    REQUIRE_MESSAGE(methods.count(method) == 1, "set_hba: unknown method " << method);
    std::string hba =
        "# pg_hba.conf written by the test harness (set_hba " + method + ")\n"
        "local   all          all                 " + method + "\n"
        "host    all          all   127.0.0.1/32  " + method + "\n"
        "host    all          all   ::1/128       " + method + "\n"
        "local   replication  all                 trust\n"
        "host    replication  all   127.0.0.1/32  trust\n"
        "host    replication  all   ::1/128       trust\n";
    std::vector<std::string> nodes{"primary"};
    for (std::size_t i = 1; i <= replica_ports_.size(); ++i) nodes.push_back("replica" + std::to_string(i));
    for (const auto& node : nodes) {
        std::string path = pg_dir_ + "/" + node + "/pg_hba.conf";
        std::ofstream out(path, std::ios::trunc);  // keeps the file's owner
        out << hba;
        out.close();
        REQUIRE_MESSAGE(out.good(), "writing " << path << " failed");
    }
    for (int port : all_ports()) {
        PgConn c = admin(port);
        c.exec_ok("select pg_reload_conf()");
    }
    // The reload is asynchronous: done once a wrong password is accepted
    // exactly when the method is trust.
    bool want_accept = method == "trust";
    for (int port : all_ports()) {
        std::string probe = "host=127.0.0.1 port=" + std::to_string(port) +
                            " dbname=postgres user=postgres password=wrong-password gssencmode=disable";
        bool took = eventually([&] { return PgConn::attempt(probe, 2).ok() == want_accept; }, 10, 0.05);
        REQUIRE_MESSAGE(took, "pg_hba.conf method " << method << " not in effect on port " << port << " after 10 s");
    }
    hba_method_ = method;
}

std::string Cluster::node_name(int port) const {
    if (port == primary_port_) return "primary";
    for (std::size_t i = 0; i < replica_ports_.size(); ++i) {
        if (replica_ports_[i] == port) return "replica" + std::to_string(i + 1);
    }
    FAIL("no node of this cluster listens on port " << port);
    return "";
}

std::string Cluster::node_dir(int port) const { return pg_dir_ + "/" + node_name(port); }

int Cluster::pg_ctl(int port, const std::string& action, std::string* output) const {
    std::string name = node_name(port);
    std::vector<std::string> argv;
    if (geteuid() == 0) argv = {"runuser", "-u", "postgres", "--"};
    argv.push_back(pg_bindir() + "/pg_ctl");
    argv.insert(argv.end(), {"-D", pg_dir_ + "/" + name, "-l", pg_dir_ + "/" + name + ".log", "-w"});
    std::istringstream words(action);
    for (std::string w; words >> w;) argv.push_back(w);
    return run_command(argv, output);
}

void Cluster::wait_replicas_caught_up(double timeout_s) const {
    // The insert position: with synchronous_commit = off a commit's record
    // may not be written yet, so the write position can be short of it.
    std::string lsn = admin_scalar("select pg_current_wal_insert_lsn()");
    for (int port : replica_ports_) {
        PgConn c = admin(port);
        bool caught_up = eventually(
            [&] { return c.scalar("select pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn") == "t"; }, timeout_s, 0.02);
        REQUIRE_MESSAGE(caught_up, "replica on port " << port << " did not replay up to " << lsn);
    }
}

// ---- pggate -------------------------------------------------------------------------

Pggate::Pggate(std::vector<std::string> settings) : Pggate(PggateOptions{std::move(settings), {}, "", true, nullptr}) {}

Pggate::Pggate(PggateOptions options) {
    const Cluster& c = options.cluster != nullptr ? *options.cluster : cluster();
    options.cluster = &c;
    if (direct_mode()) {
        port_ = c.primary_port();
        socket_dir_ = c.socket_dir();
        return;
    }
    keep_dir_ = env_flag("PGGATE_KEEP_TMP");
    dir_ = make_temp_dir(kPggatePrefix);
    socket_dir_ = dir_;
    logfile_ = dir_ + "/pggate.log";
    ini_path_ = dir_ + "/pggate.ini";
    try {
        write_ini(options);
        spawn();
        if (options.wait_ready) wait_ready();
    } catch (...) {
        // No destructor runs for a half-made object: clean up here.
        stop();
        remove_dir();
        throw;
    }
}

void Pggate::remove_dir() noexcept {
    if (!dir_.empty() && !keep_dir_) {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
}

void Pggate::write_ini(const PggateOptions& options) {
    port_ = free_port();
    std::vector<std::pair<std::string, std::string>> settings{
        {"listen_addr", "127.0.0.1"},
        {"listen_port", std::to_string(port_)},
        {"unix_socket_dir", dir_},
        {"workers", "2"},
        {"logfile", log_path()},
        // Tests of routing turn it on; the others expect one node's view.
        {"read_write_split", "off"},
        // Health checks would show in the servers' pg_stat_activity, which
        // many tests count; the routing tests turn them on.
        {"health_check_period", "0"},
        // Several pggate instances run at once: none takes the default
        // metrics port unless a test gives it one.
        {"metrics_port", "0"},
    };
    for (const auto& line : options.settings) {
        auto [key, value] = split_setting(line);
        auto it = std::find_if(settings.begin(), settings.end(), [&](const auto& kv) { return kv.first == key; });
        if (it != settings.end()) {
            it->second = value;
        } else {
            settings.emplace_back(key, value);
        }
        if (key == "listen_port") port_ = std::atoi(value.c_str());
        if (key == "unix_socket_dir") socket_dir_ = value;
        if (key == "logfile") logfile_ = value;
    }
    std::ostringstream ini;
    ini << "; written by the pggate integration-test harness\n[pggate]\n";
    for (const auto& [key, value] : settings) ini << key << " = " << value << "\n";
    ini << "\n[nodes]\n";
    if (!options.nodes.empty()) {
        for (const auto& line : options.nodes) ini << line << "\n";
    } else {
        const Cluster& c = *options.cluster;
        ini << "pg1 = host=127.0.0.1 port=" << c.primary_port() << " role=primary\n";
        int n = 2;
        for (int port : c.replica_ports()) ini << "pg" << n++ << " = host=127.0.0.1 port=" << port << " role=replica\n";
    }
    if (!options.extra.empty()) ini << "\n" << options.extra << "\n";
    std::ofstream out(ini_path_, std::ios::trunc);
    out << ini.str();
    out.close();
    REQUIRE_MESSAGE(out.good(), "writing " << ini_path_ << " failed");
}

void Pggate::spawn() {
    std::string bin = env_or("PGGATE_BIN", "");
    if (bin.empty() && access((repo_root() + "/pggate").c_str(), X_OK) == 0) bin = repo_root() + "/pggate";
    REQUIRE_MESSAGE(!bin.empty(), "PGGATE_BIN is not set (tests/run.sh sets it), and there is no ./pggate; "
                                  "PGGATE_DIRECT=1 runs the tests against PostgreSQL alone");
    REQUIRE_MESSAGE(access(bin.c_str(), X_OK) == 0, "PGGATE_BIN=" << bin << " is not executable");
    std::string out_path = dir_ + "/pggate.stderr";
    pid_t parent = getpid();
    pid_t pid = fork();
    REQUIRE_MESSAGE(pid >= 0, "fork() failed: " << std::strerror(errno));
    if (pid == 0) {
        // If the test process dies, the master goes too (and its workers
        // follow when their channel to it closes).
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
        close_range(3, ~0U, 0);
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execl(bin.c_str(), bin.c_str(), ini_path_.c_str(), static_cast<char*>(nullptr));
        dprintf(2, "execl(%s) failed: %s\n", bin.c_str(), std::strerror(errno));
        _exit(127);
    }
    pid_ = pid;
}

void Pggate::wait_ready(double timeout_s) {
    if (direct_mode()) return;
    auto start = Clock::now();
    std::string last_error;
    for (;;) {
        if (!running()) {
            FAIL("pggate exited during start-up (" << decode_status_text(decode_wait_status(*exit_status_))
                                                   << "); log:\n" << log_tail());
        }
        PgConn probe = PgConn::attempt(conninfo(std::string("password=") + Cluster::kAdminPassword), 2);
        if (probe.ok()) return;
        last_error = probe.error_message();
        if (seconds_since(start) > timeout_s) break;
        sleep_for(0.05);
    }
    FAIL("pggate not accepting connections after " << timeout_s << " s (" << last_error << "); log:\n" << log_tail());
}

std::string Pggate::conninfo(const std::string& extra) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) +
           " dbname=postgres user=postgres gssencmode=disable connect_timeout=10" + (extra.empty() ? "" : " " + extra);
}

std::string Pggate::unix_conninfo(const std::string& extra) const {
    return "host=" + socket_dir_ + " port=" + std::to_string(port_) +
           " dbname=postgres user=postgres connect_timeout=10" + (extra.empty() ? "" : " " + extra);
}

std::vector<pid_t> Pggate::worker_pids() const {
    std::vector<pid_t> workers;
    if (pid_ == 0 || exit_status_) return workers;
    for (pid_t child : child_pids(pid_)) {
        std::string comm = process_comm(child);
        if (comm.find("health") != std::string::npos || comm.find("admin") != std::string::npos ||
            comm.find("metrics") != std::string::npos) {
            continue;
        }
        workers.push_back(child);
    }
    return workers;
}

long Pggate::total_rss_kb() const {
    if (pid_ == 0) return 0;
    long total = process_rss_kb(pid_);
    for (pid_t child : child_pids(pid_)) total += process_rss_kb(child);
    return total;
}

bool Pggate::sanitized() const {
    if (pid_ == 0) return false;
    std::string maps = read_text_file("/proc/" + std::to_string(pid_) + "/maps");
    if (maps.find("libasan") != std::string::npos) return true;
    // A statically linked runtime (clang's default) leaves its symbols in the binary.
    return read_text_file(exe_of(pid_)).find("__asan_init") != std::string::npos;
}

pid_t Pggate::worker_serving(const PgConn& client) const {
    int client_port = client.local_port();
    if (pid_ == 0 || client_port == 0) return 0;
    // The server side of the connection: local port = ours, remote = the client's.
    std::istringstream tcp(read_text_file("/proc/net/tcp"));
    std::string line;
    std::getline(tcp, line);  // header
    unsigned long inode = 0;
    while (std::getline(tcp, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
        unsigned long ino = 0;
        fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> ino;
        auto port_of = [](const std::string& addr) {
            auto colon = addr.find(':');
            return colon == std::string::npos ? -1 : static_cast<int>(std::strtol(addr.c_str() + colon + 1, nullptr, 16));
        };
        if (port_of(local) == port_ && port_of(remote) == client_port) {
            inode = ino;
            break;
        }
    }
    if (inode == 0) return 0;
    for (pid_t worker : worker_pids()) {
        if (socket_inodes(worker).count(inode) != 0) return worker;
    }
    return 0;
}

void Pggate::send_signal(int sig) const {
    REQUIRE_MESSAGE(pid_ > 0, "send_signal: no pggate process (direct mode?)");
    REQUIRE_MESSAGE(kill(pid_, sig) == 0, "kill(" << pid_ << ", " << sig << ") failed: " << std::strerror(errno));
}

bool Pggate::running() {
    if (pid_ == 0 || exit_status_) return false;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        exit_status_ = status;
        return false;
    }
    return true;
}

int Pggate::wait_exit(double timeout_s) {
    if (pid_ == 0) return -1;
    auto deadline = deadline_after(timeout_s);
    while (running()) {
        if (Clock::now() >= deadline) return -1;
        sleep_for(0.01);
    }
    return decode_wait_status(*exit_status_);
}

std::string Pggate::log_text() const {
    if (dir_.empty()) return "";
    std::string text = read_text_file(log_path());
    std::string err = read_text_file(dir_ + "/pggate.stderr");
    if (!err.empty()) text += "\n---- stderr:\n" + err;
    return text;
}

std::string Pggate::log_tail(int lines) const {
    std::string log = read_text_file(log_path());
    std::string err = read_text_file(dir_ + "/pggate.stderr");
    std::string out = log.empty() ? "(log file " + log_path() + " is empty)\n" : last_lines(log, lines);
    if (!err.empty()) out += "\n---- stderr:\n" + last_lines(err, lines);
    return out;
}

void Pggate::stop() noexcept {
    if (pid_ == 0) return;
    if (running()) {
        std::string exe = exe_of(pid_);
        std::vector<pid_t> children = child_pids(pid_);
        kill(pid_, SIGINT);
        if (wait_exit(5) < 0) {
            kill(pid_, SIGKILL);
            wait_exit(5);
        }
        // Children outliving their master are killed rather than left behind.
        for (pid_t child : children) {
            if (process_alive(child) && exe_of(child) == exe) {
                eventually([&] { return !process_alive(child); }, 2);
                if (process_alive(child) && exe_of(child) == exe) kill(child, SIGKILL);
            }
        }
    }
    pid_ = 0;
}

Pggate::~Pggate() {
    stop();
    // Built with sanitizers, pggate's processes report to their stderr; a
    // report fails the test that ran them.
    std::string err = read_text_file(dir_ + "/pggate.stderr");
    for (const char* marker : {"AddressSanitizer", "LeakSanitizer", "runtime error:"}) {
        auto at = err.find(marker);
        CHECK_MESSAGE(at == std::string::npos, "pggate's sanitizer report:\n" << err.substr(at == std::string::npos ? 0 : at, 4000));
    }
    remove_dir();
}

Pggate transaction_pool(int pool_size, const std::vector<std::string>& extra) {
    std::vector<std::string> settings{"pool_mode = transaction", "auth_type = trust",
                                      "default_pool_size = " + std::to_string(pool_size), "workers = 1"};
    settings.insert(settings.end(), extra.begin(), extra.end());
    return Pggate(std::move(settings));
}

// ---- shell commands ------------------------------------------------------------------

int run_shell(const std::string& command, std::string& output) {
    output.clear();
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    REQUIRE_MESSAGE(pipe != nullptr, "popen(" << command << ") failed");
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
    int status = pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long long number_after(const std::string& output, const std::string& label) {
    auto pos = output.find(label);
    if (pos == std::string::npos) return -1;
    pos += label.size();
    while (pos < output.size() && output[pos] == ' ') ++pos;
    std::size_t end = pos;
    while (end < output.size() && output[end] >= '0' && output[end] <= '9') ++end;
    return end == pos ? -1 : std::stoll(output.substr(pos, end - pos));
}

double decimal_after(const std::string& text, const std::string& label) {
    auto at = text.find(label);
    if (at == std::string::npos) return -1;
    return std::strtod(text.c_str() + at + label.size(), nullptr);
}

int count_matches(const std::string& text, const std::string& pattern) {
    std::regex re(pattern);
    return static_cast<int>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

void Background::run(const std::string& command) {
    FILE* pipe = popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) {
        output_ = std::string("popen() failed: ") + std::strerror(errno);
        return;
    }
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) output_.append(buf, n);
    int status = pclose(pipe);
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// ---- raw wire protocol --------------------------------------------------------------

namespace wire {

std::string be32(std::uint32_t v) {
    std::string s(4, '\0');
    s[0] = static_cast<char>((v >> 24) & 0xff);
    s[1] = static_cast<char>((v >> 16) & 0xff);
    s[2] = static_cast<char>((v >> 8) & 0xff);
    s[3] = static_cast<char>(v & 0xff);
    return s;
}

std::string be16(std::uint16_t v) {
    std::string s(2, '\0');
    s[0] = static_cast<char>((v >> 8) & 0xff);
    s[1] = static_cast<char>(v & 0xff);
    return s;
}

std::uint32_t read_be32(std::string_view bytes, std::size_t offset) {
    if (offset + 4 > bytes.size()) return 0;
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[offset + i]);
    return v;
}

std::string cstr(std::string_view s) {
    std::string out(s);
    out.push_back('\0');
    return out;
}

std::string message(char type, std::string_view body) {
    return std::string(1, type) + be32(static_cast<std::uint32_t>(body.size() + 4)) + std::string(body);
}

std::string startup_message(const std::vector<std::pair<std::string, std::string>>& params, std::uint32_t version) {
    std::string body = be32(version);
    for (const auto& [k, v] : params) body += cstr(k) + cstr(v);
    body.push_back('\0');
    return be32(static_cast<std::uint32_t>(body.size() + 4)) + body;
}

std::string ssl_request() { return be32(8) + be32(kSslRequestCode); }
std::string gssenc_request() { return be32(8) + be32(kGssEncRequestCode); }

std::string cancel_request(std::uint32_t pid, std::uint32_t key) {
    return be32(16) + be32(kCancelRequestCode) + be32(pid) + be32(key);
}

std::map<char, std::string> error_fields(std::string_view body) {
    std::map<char, std::string> fields;
    std::size_t pos = 0;
    while (pos < body.size() && body[pos] != '\0') {
        char type = body[pos++];
        std::size_t end = body.find('\0', pos);
        if (end == std::string_view::npos) end = body.size();
        fields[type] = std::string(body.substr(pos, end - pos));
        pos = end + 1;
    }
    return fields;
}

std::string parse(const std::string& name, const std::string& sql) {
    return message('P', cstr(name) + cstr(sql) + be16(0));
}

std::string bind(const std::string& portal, const std::string& statement) {
    return message('B', cstr(portal) + cstr(statement) + be16(0) + be16(0) + be16(0));
}

std::string describe_portal(const std::string& portal) { return message('D', "P" + cstr(portal)); }

std::string execute(const std::string& portal, std::uint32_t max_rows) {
    return message('E', cstr(portal) + be32(max_rows));
}

std::string close_portal(const std::string& portal) { return message('C', "P" + cstr(portal)); }

std::string flush() { return message('H', ""); }

std::string sync() { return message('S', ""); }

}  // namespace wire

// ---- RawClient ------------------------------------------------------------------------

RawClient::RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE_MESSAGE(fd_ >= 0, "socket() failed: " << std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    REQUIRE_MESSAGE(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
                    "connect(127.0.0.1:" << port << ") failed: " << std::strerror(errno));
    fcntl(fd_, F_SETFL, fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

RawClient::~RawClient() {
    if (fd_ >= 0) close(fd_);
}

bool RawClient::send(std::string_view bytes) {
    auto deadline = deadline_after(10);
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n > 0) {
            bytes.remove_prefix(static_cast<std::size_t>(n));
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            pollfd p{fd_, POLLOUT, 0};
            if (poll(&p, 1, remaining_ms(deadline)) <= 0) return false;
        } else {
            return false;
        }
    }
    return true;
}

bool RawClient::fill(double timeout_s) {
    if (eof_) return false;
    auto deadline = deadline_after(timeout_s);
    for (;;) {
        char buf[65536];
        ssize_t n = recv(fd_, buf, sizeof buf, 0);
        if (n > 0) {
            buffer_.append(buf, static_cast<std::size_t>(n));
            return true;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            eof_ = true;  // orderly close, or reset by the peer
            return false;
        }
        pollfd p{fd_, POLLIN, 0};
        int left = remaining_ms(deadline);
        if (left == 0 || poll(&p, 1, left) == 0) return false;
    }
}

std::string RawClient::read_exact(std::size_t n, double timeout_s) {
    auto deadline = deadline_after(timeout_s);
    while (buffer_.size() < n) {
        if (!fill(static_cast<double>(remaining_ms(deadline)) / 1000.0)) break;
    }
    std::string out = buffer_.substr(0, std::min(n, buffer_.size()));
    buffer_.erase(0, out.size());
    return out;
}

std::optional<BackendMessage> RawClient::read_message(double timeout_s) {
    auto deadline = deadline_after(timeout_s);
    for (;;) {
        if (buffer_.size() >= 5) {
            std::uint32_t len = wire::read_be32(buffer_, 1);
            if (len < 4) {  // not a valid frame: hand back what there is
                BackendMessage m{buffer_[0], buffer_.substr(1)};
                buffer_.clear();
                return m;
            }
            if (buffer_.size() >= 1 + static_cast<std::size_t>(len)) {
                BackendMessage m{buffer_[0], buffer_.substr(5, len - 4)};
                buffer_.erase(0, 1 + static_cast<std::size_t>(len));
                return m;
            }
        }
        if (!fill(static_cast<double>(remaining_ms(deadline)) / 1000.0)) return std::nullopt;
    }
}

bool RawClient::wait_eof(double timeout_s) {
    auto deadline = deadline_after(timeout_s);
    while (!eof_) {
        buffer_.clear();
        if (!fill(static_cast<double>(remaining_ms(deadline)) / 1000.0) && !eof_) return false;
    }
    buffer_.clear();
    return true;
}

std::optional<std::map<char, std::string>> RawClient::read_error(double timeout_s) {
    auto deadline = deadline_after(timeout_s);
    while (auto m = read_message(static_cast<double>(remaining_ms(deadline)) / 1000.0)) {
        if (m->type == 'E') return wire::error_fields(m->body);
    }
    return std::nullopt;
}

std::vector<BackendMessage> RawClient::login(const std::string& user, const std::string& database) {
    REQUIRE(send(wire::startup_message({{"user", user}, {"database", database}})));
    std::vector<BackendMessage> messages;
    bool auth_ok = false;
    for (;;) {
        auto m = read_message(10);
        REQUIRE_MESSAGE(m.has_value(), "login: connection closed or silent before ReadyForQuery");
        if (m->type == 'E') {
            auto f = wire::error_fields(m->body);
            FAIL("login failed: " << f['C'] << " " << f['M']);
        }
        if (m->type == 'R') {
            REQUIRE_MESSAGE(wire::read_be32(m->body, 0) == 0, "login: authentication other than trust requested");
            auth_ok = true;
        }
        messages.push_back(*m);
        if (m->type == 'Z') break;
    }
    REQUIRE_MESSAGE(auth_ok, "login: ReadyForQuery without AuthenticationOk");
    return messages;
}

TrustGuard::~TrustGuard() {
    try {
        cluster().set_hba("trust");
        PgConn admin = cluster().admin();
        for (const auto& role : roles) admin.exec("drop role if exists " + role);
    } catch (...) {
        // Already failing; the next test would report a broken cluster.
    }
}

}  // namespace pggate::test
