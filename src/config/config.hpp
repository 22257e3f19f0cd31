// The immutable configuration pggate runs with, and its loader: inih parses
// the bytes of pggate.ini into a validated Config or a ConfigError that names
// the file, the line and the key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pggate::config {

enum class NodeRole { Auto, Primary, Replica };
enum class PoolMode { Session, Transaction };
enum class LoadBalance { RoundRobin, Random, LeastConnections };
// How pggate checks a client's password; Passthrough leaves it to the server
// (session mode only, when no auth source is configured).
// Hba picks one of the others per connection from auth_hba_file.
// Cert takes the user from the client's TLS certificate (its CN).
enum class AuthType { Passthrough, Trust, Plain, Md5, ScramSha256, Cert, Hba };

// TLS on one side of pggate, as libpq's sslmode: for clients what pggate
// accepts and asks of them, for servers what pggate asks of them.
enum class SslMode { Disable, Allow, Prefer, Require, VerifyCa, VerifyFull };

// The client_tls_* or server_tls_* settings. Versions are 10..13 for TLS
// 1.0..1.3; `ciphers` is an OpenSSL cipher list for TLS 1.2 and older.
struct TlsSettings {
    SslMode sslmode = SslMode::Disable;
    std::string cert_file;
    std::string key_file;
    std::string ca_file;
    int min_version = 12;
    int max_version = 13;
    std::string ciphers = "HIGH:MEDIUM:+3DES:!aNULL";

    bool operator==(const TlsSettings&) const = default;
};

// The user's secret from pg_authid: no row for a role that cannot log in, a
// NULL secret once its password has expired (VALID UNTIL in the past).
// Schema-qualified so that no search_path can put other objects in its way.
inline constexpr std::string_view kDefaultAuthQuery =
    "SELECT rolname, CASE WHEN rolvaliduntil IS NULL OR rolvaliduntil > pg_catalog.now() THEN rolpassword END "
    "FROM pg_catalog.pg_authid WHERE rolname = $1 AND rolcanlogin";

// The most [nodes] lines a configuration may have.
constexpr std::size_t kMaxNodes = 64;

enum class ReplicaFallback { Primary, Error };
enum class ShadowTarget { Primary, Replica };

struct Node {
    std::string name;
    std::string host;  // a host name, an IP address, or a Unix socket directory (starts with '/')
    int port = 5432;
    NodeRole role = NodeRole::Auto;
    int weight = 1;

    bool operator==(const Node&) const = default;
};

// Pool settings a [databases] or [users] line may override; unset ones fall
// back to the next level (user, then database, then [pggate]).
struct PoolOverrides {
    std::optional<PoolMode> pool_mode;
    std::optional<int> pool_size;
    std::optional<int> min_pool_size;
    std::optional<int> reserve_pool_size;
    std::optional<bool> read_write_split;

    bool operator==(const PoolOverrides&) const = default;
};

// One [databases] line: the name clients ask for ("*": every other name).
struct Database {
    std::string name;
    std::string dbname;  // the database on the servers; empty: the same name
    PoolOverrides pool;
    int max_db_connections = -1;  // -1: the [pggate] value

    bool operator==(const Database&) const = default;
};

// One [users] line.
struct User {
    std::string name;
    PoolOverrides pool;
    int max_user_connections = -1;  // -1: the [pggate] value

    bool operator==(const User&) const = default;
};

// What one pool runs with, resolved from all the levels.
struct PoolSettings {
    PoolMode pool_mode = PoolMode::Session;
    int pool_size = 20;
    int min_pool_size = 0;
    int reserve_pool_size = 0;
    int max_db_connections = 0;    // 0: no limit
    int max_user_connections = 0;  // 0: no limit
    std::string server_database;   // the database name sent to servers
    bool read_write_split = true;
};

struct Config {
    // [pggate]
    std::vector<std::string> listen_addr{"127.0.0.1"};  // comma-separated in the file; "*" = all IPv4 and IPv6
    int listen_port = 6432;
    int listen_backlog = 128;
    std::string unix_socket_dir = "/tmp";  // empty: no Unix socket
    int unix_socket_mode = 0777;           // the socket file's permissions
    std::string unix_socket_group;         // its group; empty: pggate's own
    int workers = 0;                       // 0: one per CPU
    int max_client_conn = 100;
    int max_login_clients = 1000;  // connections not logged in yet, over all workers (TCP only)
    std::uint32_t max_packet_size = 2147483647;
    double shutdown_timeout = 30.0;  // seconds
    std::string logfile;             // empty: stderr (or nothing when daemonized)
    bool syslog = false;
    std::string syslog_ident = "pggate";
    std::string syslog_facility = "daemon";
    int verbose = 0;  // 0 = info, 1 = debug, 2 = noise
    std::string pidfile;
    std::string user;  // drop privileges to this user after binding
    std::string metrics_addr = "127.0.0.1";  // the Prometheus endpoint's address
    int metrics_port = 8080;                 // 0: no endpoint and no metrics process

    // Pooling and proxy-side authentication.
    PoolMode pool_mode = PoolMode::Session;
    int default_pool_size = 20;
    int min_pool_size = 0;              // servers kept open even when unused
    int reserve_pool_size = 0;          // extra servers for clients waiting reserve_pool_timeout
    double reserve_pool_timeout = 5.0;  // seconds
    int max_db_connections = 0;         // per database over all users and nodes; 0: no limit
    int max_user_connections = 0;       // per user over all databases and nodes; 0: no limit
    // Unset in the file: md5 with an auth_file or auth_user, else Passthrough.
    AuthType auth_type = AuthType::Passthrough;
    std::string auth_file;
    std::string auth_hba_file;  // rules in pg_hba.conf syntax, for auth_type = hba
    // Users the auth_file does not list are looked up by running auth_query
    // as auth_user on the primary (empty: no lookups), in auth_dbname (empty:
    // the database the client asked for); answers are reused for
    // auth_query_cache_ttl seconds (0: every login asks).
    std::string auth_user;
    std::string auth_query = std::string(kDefaultAuthQuery);
    std::string auth_dbname;
    double auth_query_cache_ttl = 10.0;
    std::string server_reset_query = "DISCARD ALL";
    double query_wait_timeout = 120.0;  // seconds; 0 = wait forever
    // Timeouts in seconds; 0 turns one off.
    double client_login_timeout = 60.0;      // startup to logged in
    double client_idle_timeout = 0.0;        // logged-in client with nothing running
    double idle_transaction_timeout = 0.0;   // client idle inside a transaction
    double query_timeout = 0.0;              // one query (up to its ReadyForQuery)
    double server_connect_timeout = 15.0;    // server connect and login
    double server_idle_timeout = 600.0;      // unused server in a pool
    double server_lifetime = 3600.0;         // server age, closed when next unused
    double server_login_retry = 15.0;        // pause after a failed connect or login
    // Further attempts after a connect fails (or the server cannot take
    // connections now), 0.1 s apart and doubling, before the pause.
    int server_connect_retries = 2;
    // Run on a server unused for server_check_delay seconds before it serves
    // a client; empty: never.
    std::string server_check_query = "select 1";
    double server_check_delay = 30.0;
    // Named statements each server keeps for transaction pooling; 0: a client
    // using one is pinned to its server instead.
    int max_prepared_statements = 200;

    // Read/write splitting (transaction pooling): reads go to replicas.
    bool read_write_split = true;
    LoadBalance load_balance = LoadBalance::RoundRobin;
    // After a client's write commits, its reads go only to replicas that have
    // replayed the primary's WAL position sampled after the commit.
    bool read_your_writes = true;
    // A replica further behind the primary than this is not read from
    // (seconds, bytes; 0: no limit).
    double max_replica_lag = 0.0;
    long long max_replica_lag_bytes = 0;
    // With no replica fit to read from: the primary serves the read, or the
    // client gets an error.
    ReplicaFallback replica_fallback = ReplicaFallback::Primary;
    // Percent of the reads served by a replica that also run, in the
    // background, on shadow_target; answers that differ are counted and logged.
    int shadow_reads = 0;
    ShadowTarget shadow_target = ShadowTarget::Primary;

    // The health process: checks of every node as health_check_user in
    // health_check_dbname (empty user: libpq's default, the OS user), every
    // health_check_period seconds (0: no health process), each within
    // health_check_timeout; a node is down after health_check_max_retries
    // further failed checks health_check_retry_delay apart. Role and WAL
    // positions are sampled every lag_check_period seconds (0: with each check).
    double health_check_period = 5.0;
    double health_check_timeout = 5.0;
    std::string health_check_user;
    std::string health_check_dbname = "postgres";
    int health_check_max_retries = 2;
    double health_check_retry_delay = 1.0;
    double lag_check_period = 0.2;
    // Functions besides the built-in read-only ones that write nothing
    // ("name" or "schema.name", lower case).
    std::vector<std::string> read_only_functions;

    // The admin console (database "pggate"): admin_users may run every
    // command, stats_users only SHOW; over TCP only with admin_listen_tcp.
    std::vector<std::string> admin_users;
    std::vector<std::string> stats_users;
    bool admin_listen_tcp = false;

    // TLS toward clients (pggate is the TLS server) and toward the nodes
    // (pggate is the TLS client, also for health checks and auth_query).
    TlsSettings client_tls;
    TlsSettings server_tls = [] {
        TlsSettings prefer;
        prefer.sslmode = SslMode::Prefer;
        return prefer;
    }();

    // [nodes]
    std::vector<Node> nodes;
    // [databases] and [users]
    std::vector<Database> databases;
    std::vector<User> users;

    // Where this configuration was read from (for messages).
    std::string source;
    // The [pggate] values as the file writes them (key without section),
    // the last one where a key is given twice; and the values the file gives
    // settings that only a restart applies, while the running ones are kept.
    std::map<std::string, std::string, std::less<>> written;
    std::map<std::string, std::string, std::less<>> pending_restart;

    bool operator==(const Config&) const = default;

    // The node all traffic goes to until routing lands: the node with
    // role=primary, else the first node.
    const Node& primary() const;
    // The place in `nodes` of the node called `name`; nullopt: none is.
    std::optional<std::uint32_t> node_index(std::string_view name) const;

    // The settings of the pools of (database, user), all levels applied.
    PoolSettings pool_settings(std::string_view database, std::string_view user) const;
};

class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Parses and validates configuration text. `source` names the file in error
// messages, which read "<source>:<line>: <key>: <what is wrong>".
// Throws ConfigError; never returns an invalid Config.
Config parse_config(std::string_view text, const std::string& source);

// Reads a whole file into memory. Throws ConfigError naming the file and errno.
std::string read_config_file(const std::string& path);

// The number of worker processes `workers = 0` stands for.
int effective_workers(const Config& config);

// Every key the loader accepts, as "section.key" ("pggate.listen_port"), in
// the order of its one table. The fields of a [nodes] line appear as
// "nodes.host", "nodes.port", "nodes.role" and "nodes.weight"; so do those
// of [databases] and [users] lines ("databases.pool_size"). Tests compare
// this list with the man page so neither drifts.
const std::vector<std::string_view>& known_keys();

}  // namespace pggate::config
