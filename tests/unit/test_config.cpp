// Unit tests of the pggate.ini loader: defaults, every key, [nodes] lines, and
// the exact "<file>:<line>: <key>: ..." text of each class of error.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "config/config.hpp"

using namespace pggate::config;

namespace {

constexpr const char* kNodes = "[nodes]\ndb1 = host=127.0.0.1\n";

Config parse(const std::string& text) {
    return parse_config(text, "t.ini");
}

// The message parse_config throws, or "" when the text is valid.
std::string error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

Config parse_pggate(const std::string& lines) {
    return parse("[pggate]\n" + lines + kNodes);
}

std::string pggate_error(const std::string& line) {
    return error_of("[pggate]\n" + line + "\n" + kNodes);
}

using SectionKeys = std::map<std::string, std::set<std::string>>;

// known_keys() by section: "users.pool_size" is pool_size in [users].
SectionKeys loader_keys() {
    SectionKeys keys;
    for (std::string_view key : known_keys()) {
        const std::size_t dot = key.find('.');
        keys[std::string(key.substr(0, dot))].insert(std::string(key.substr(dot + 1)));
    }
    return keys;
}

// The keys each "SECTION [name]" of pggate.ini(5) documents: the heads of
// its tagged paragraphs (.TP, then .B key), leaving out those of indented
// blocks (.RS ... .RE), which list a key's values.
SectionKeys man_page_keys(const std::string& man) {
    SectionKeys keys;
    std::istringstream in(man);
    std::string line, section;
    int depth = 0;
    bool after_tp = false;
    const std::regex heading(R"(\.SH "SECTION \[([a-z]+)\]")");
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_match(line, m, heading)) {
            section = m[1];
            keys[section];
        } else if (line.rfind(".SH", 0) == 0) {
            section.clear();
        }
        if (line == ".RS") ++depth;
        if (line == ".RE") --depth;
        if (after_tp && !section.empty() && depth == 0 && line.rfind(".B ", 0) == 0) keys[section].insert(line.substr(3));
        after_tp = line == ".TP";
    }
    return keys;
}

// The keys each section of the sample file names, commented out or not: in
// [pggate] the "key =" lines, elsewhere the "field=value" pairs of the
// entries ("name = field=value ..."). Prose comments start with "; ".
SectionKeys sample_keys(const std::string& text) {
    SectionKeys keys;
    std::istringstream in(text);
    std::string line, section;
    const std::regex header(R"(\[([a-z]+)\])");
    const std::regex entry(";?[A-Za-z0-9_.*-]+ =( .*)?");
    const std::regex field("([a-z_]+)=");
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_match(line, m, header)) {
            section = m[1];
            keys[section];
        } else if (!section.empty() && std::regex_match(line, entry)) {
            if (section == "pggate") {
                const std::size_t start = line[0] == ';' ? 1 : 0;
                keys[section].insert(line.substr(start, line.find(' ') - start));
            } else {
                const std::string value = line.substr(line.find(" =") + 2);
                for (std::sregex_iterator it(value.begin(), value.end(), field), end; it != end; ++it)
                    keys[section].insert((*it)[1]);
            }
        }
    }
    return keys;
}

// Whether the loader takes `key` in [section] (the value 1 may still be wrong for it).
bool loader_accepts(const std::string& section, const std::string& key) {
    std::string text;
    if (section == "pggate")
        text = "[pggate]\n" + key + " = 1\n" + kNodes;
    else if (section == "nodes")
        text = "[nodes]\ndb1 = host=127.0.0.1 " + key + "=1\n";
    else
        text = std::string(kNodes) + "[" + section + "]\nx = " + key + "=1\n";
    return error_of(text).find("unknown") == std::string::npos;
}

// Holds documentation to the loader section by section, both ways: every
// key the loader takes is in `documented` under its section, and every key
// there is one the loader takes in that section.
void check_same_keys(const SectionKeys& documented) {
    const SectionKeys loader = loader_keys();
    CHECK(loader.size() == 4);
    for (const auto& [section, keys] : loader) {
        CAPTURE(section);
        REQUIRE(documented.count(section) == 1);
        for (const std::string& key : keys) {
            CAPTURE(key);
            CHECK(documented.at(section).count(key) == 1);
        }
    }
    for (const auto& [section, keys] : documented) {
        CAPTURE(section);
        CHECK(loader.count(section) == 1);
        for (const std::string& key : keys) {
            CAPTURE(key);
            CHECK(loader_accepts(section, key));
        }
    }
}

}  // namespace

TEST_CASE("a file with only a node gets every default") {
    Config c = parse(kNodes);
    Config d;
    CHECK(c.listen_addr == std::vector<std::string>{"127.0.0.1"});
    CHECK(c.listen_port == 6432);
    CHECK(c.listen_backlog == 128);
    CHECK(c.unix_socket_dir == "/tmp");
    CHECK(c.workers == 0);
    CHECK(c.max_client_conn == 100);
    CHECK(c.max_login_clients == 1000);
    CHECK(c.max_packet_size == 2147483647u);
    CHECK(c.shutdown_timeout == doctest::Approx(30.0));
    CHECK(c.logfile.empty());
    CHECK_FALSE(c.syslog);
    CHECK(c.syslog_ident == "pggate");
    CHECK(c.syslog_facility == "daemon");
    CHECK(c.verbose == 0);
    CHECK(c.pidfile.empty());
    CHECK(c.user.empty());
    CHECK(c.pool_mode == PoolMode::Session);
    CHECK(c.default_pool_size == 20);
    CHECK(c.auth_type == AuthType::Passthrough);
    CHECK(c.auth_file.empty());
    CHECK(c.server_reset_query == "DISCARD ALL");
    CHECK(c.query_wait_timeout == doctest::Approx(120.0));
    CHECK(c.auth_user.empty());
    CHECK(c.auth_query == kDefaultAuthQuery);
    CHECK(c.auth_dbname.empty());
    CHECK(c.auth_query_cache_ttl == doctest::Approx(10.0));
    CHECK(c.source == "t.ini");
    // The defaults in the struct and after parsing are the same values.
    CHECK(c.listen_port == d.listen_port);
    CHECK(c.unix_socket_dir == d.unix_socket_dir);
    CHECK(c.pool_mode == d.pool_mode);
    CHECK(c.default_pool_size == d.default_pool_size);
    CHECK(c.auth_type == d.auth_type);
    CHECK(c.server_reset_query == d.server_reset_query);
    CHECK(c.query_wait_timeout == doctest::Approx(d.query_wait_timeout));
    CHECK(c.auth_query == d.auth_query);
    CHECK(c.auth_query_cache_ttl == doctest::Approx(d.auth_query_cache_ttl));

    REQUIRE(c.nodes.size() == 1);
    CHECK(c.nodes[0].name == "db1");
    CHECK(c.nodes[0].host == "127.0.0.1");
    CHECK(c.nodes[0].port == 5432);
    CHECK(c.nodes[0].role == NodeRole::Auto);
    CHECK(c.nodes[0].weight == 1);
}

TEST_CASE("every [pggate] key is parsed into its field") {
    Config c = parse_pggate(
        "listen_addr = 10.0.0.1, ::1\n"
        "listen_port = 7000\n"
        "listen_backlog = 4096\n"
        "unix_socket_dir = /run/pggate\n"
        "workers = 3\n"
        "max_client_conn = 5000\n"
        "max_login_clients = 250\n"
        "max_packet_size = 1048576\n"
        "shutdown_timeout = 2.5\n"
        "logfile = /var/log/pggate/pggate.log\n"
        "syslog = yes\n"
        "syslog_ident = gate1\n"
        "syslog_facility = local3\n"
        "verbose = 2\n"
        "pidfile = /run/pggate/pggate.pid\n"
        "user = postgres\n"
        "pool_mode = transaction\n"
        "default_pool_size = 50\n"
        "auth_type = scram-sha-256\n"
        "auth_file = /etc/pggate/userlist.txt\n"
        "server_reset_query = RESET ALL\n"
        "query_wait_timeout = 7.5\n"
        "auth_user = pggate_auth\n"
        "auth_query = SELECT usename, passwd FROM pggate.lookup($1)\n"
        "auth_dbname = authdb\n"
        "auth_query_cache_ttl = 2.5\n");
    CHECK(c.listen_addr == std::vector<std::string>{"10.0.0.1", "::1"});
    CHECK(c.listen_port == 7000);
    CHECK(c.listen_backlog == 4096);
    CHECK(c.unix_socket_dir == "/run/pggate");
    CHECK(c.workers == 3);
    CHECK(c.max_client_conn == 5000);
    CHECK(c.max_login_clients == 250);
    CHECK(c.max_packet_size == 1048576u);
    CHECK(c.shutdown_timeout == doctest::Approx(2.5));
    CHECK(c.logfile == "/var/log/pggate/pggate.log");
    CHECK(c.syslog);
    CHECK(c.syslog_ident == "gate1");
    CHECK(c.syslog_facility == "local3");
    CHECK(c.verbose == 2);
    CHECK(c.pidfile == "/run/pggate/pggate.pid");
    CHECK(c.user == "postgres");
    CHECK(c.pool_mode == PoolMode::Transaction);
    CHECK(c.default_pool_size == 50);
    CHECK(c.auth_type == AuthType::ScramSha256);
    CHECK(c.auth_file == "/etc/pggate/userlist.txt");
    CHECK(c.server_reset_query == "RESET ALL");
    CHECK(c.query_wait_timeout == doctest::Approx(7.5));
    CHECK(c.auth_user == "pggate_auth");
    CHECK(c.auth_query == "SELECT usename, passwd FROM pggate.lookup($1)");
    CHECK(c.auth_dbname == "authdb");
    CHECK(c.auth_query_cache_ttl == doctest::Approx(2.5));
}

TEST_CASE("the last of two equal [pggate] keys wins") {
    CHECK(parse_pggate("listen_port = 7000\nlisten_port = 7001\n").listen_port == 7001);
}

TEST_CASE("boundary values are accepted") {
    CHECK(parse_pggate("listen_port = 1\n").listen_port == 1);
    CHECK(parse_pggate("listen_port = 65535\n").listen_port == 65535);
    CHECK(parse_pggate("workers = 256\n").workers == 256);
    CHECK(parse_pggate("max_client_conn = 1000000\n").max_client_conn == 1000000);
    CHECK(parse_pggate("max_login_clients = 1\n").max_login_clients == 1);
    CHECK(parse_pggate("max_login_clients = 1000000\n").max_login_clients == 1000000);
    CHECK(parse_pggate("max_packet_size = 1024\n").max_packet_size == 1024u);
    CHECK(parse_pggate("shutdown_timeout = 0\n").shutdown_timeout == doctest::Approx(0.0));
    CHECK(parse_pggate("unix_socket_dir =\n").unix_socket_dir.empty());
    CHECK(parse_pggate("logfile =\n").logfile.empty());
    CHECK(parse_pggate("default_pool_size = 1\n").default_pool_size == 1);
    CHECK(parse_pggate("default_pool_size = 100000\n").default_pool_size == 100000);
    CHECK(parse_pggate("query_wait_timeout = 0\n").query_wait_timeout == doctest::Approx(0.0));
    CHECK(parse_pggate("query_wait_timeout = 31536000\n").query_wait_timeout == doctest::Approx(31536000.0));
    CHECK(parse_pggate("server_reset_query =\n").server_reset_query.empty());
    CHECK(parse_pggate("auth_file =\n").auth_file.empty());
}

TEST_CASE("syslog takes every boolean spelling, in any case") {
    for (const char* yes : {"1", "on", "true", "yes", "ON", "True", "YES"}) {
        CAPTURE(yes);
        CHECK(parse_pggate(std::string("syslog = ") + yes + "\n").syslog);
    }
    for (const char* no : {"0", "off", "false", "no", "OFF", "False", "No"}) {
        CAPTURE(no);
        CHECK_FALSE(parse_pggate(std::string("syslog = 1\nsyslog = ") + no + "\n").syslog);
    }
    CHECK(pggate_error("syslog = maybe") ==
          "t.ini:2: syslog: \"maybe\" is not a boolean (use 1/0, on/off, true/false or yes/no)");
    CHECK(pggate_error("syslog = 2").rfind("t.ini:2: syslog: ", 0) == 0);
}

TEST_CASE("listen_addr is a comma-separated list") {
    CHECK(parse_pggate("listen_addr = 127.0.0.1\n").listen_addr == std::vector<std::string>{"127.0.0.1"});
    CHECK(parse_pggate("listen_addr = 127.0.0.1,::1 , db-1.example.com\n").listen_addr ==
          std::vector<std::string>{"127.0.0.1", "::1", "db-1.example.com"});
    CHECK(parse_pggate("listen_addr = *\n").listen_addr == std::vector<std::string>{"*"});
    CHECK(parse_pggate("listen_addr = localhost\n").listen_addr == std::vector<std::string>{"localhost"});
    CHECK(parse_pggate("listen_addr = fe80::1%eth0\n").listen_addr == std::vector<std::string>{"fe80::1%eth0"});
    // Empty: no TCP listener at all (the Unix socket remains).
    CHECK(parse_pggate("listen_addr =\n").listen_addr.empty());

    CHECK(pggate_error("listen_addr = 127.0.0.1,,::1") == "t.ini:2: listen_addr: empty entry in the address list");
    CHECK(pggate_error("listen_addr = 127.0.0.1,") == "t.ini:2: listen_addr: empty entry in the address list");
    CHECK(pggate_error("listen_addr = *, 127.0.0.1") == "t.ini:2: listen_addr: * cannot be combined with other addresses");
    CHECK(pggate_error("listen_addr = ::1, ::1") == "t.ini:2: listen_addr: \"::1\" is listed twice");
    CHECK(pggate_error("listen_addr = 300.1.2.3") ==
          "t.ini:2: listen_addr: \"300.1.2.3\" is not an IP address, a host name or *");
    CHECK(pggate_error("listen_addr = bad host") ==
          "t.ini:2: listen_addr: \"bad host\" is not an IP address, a host name or *");
    CHECK(pggate_error("listen_addr = -foo").rfind("t.ini:2: listen_addr: ", 0) == 0);
}

TEST_CASE("with neither a TCP address nor a Unix socket nothing would listen") {
    CHECK(error_of(std::string("[pggate]\nlisten_addr =\nunix_socket_dir =\n") + kNodes) ==
          "t.ini: [pggate]: listen_addr and unix_socket_dir are both empty, so nothing would listen");
}

TEST_CASE("numbers that are not numbers or out of range name the line and key") {
    CHECK(pggate_error("listen_port = abc") == "t.ini:2: listen_port: \"abc\" is not an integer");
    CHECK(pggate_error("listen_port = 12ab") == "t.ini:2: listen_port: \"12ab\" is not an integer");
    CHECK(pggate_error("listen_port = +5") == "t.ini:2: listen_port: \"+5\" is not an integer");
    CHECK(pggate_error("listen_port = 5.0") == "t.ini:2: listen_port: \"5.0\" is not an integer");
    CHECK(pggate_error("listen_port =") == "t.ini:2: listen_port: \"\" is not an integer");
    CHECK(pggate_error("listen_port = 0") == "t.ini:2: listen_port: 0 is out of range (1..65535)");
    CHECK(pggate_error("listen_port = 65536") == "t.ini:2: listen_port: 65536 is out of range (1..65535)");
    CHECK(pggate_error("listen_port = 99999999999999999999999") ==
          "t.ini:2: listen_port: 99999999999999999999999 is out of range (1..65535)");
    CHECK(pggate_error("listen_backlog = 0") == "t.ini:2: listen_backlog: 0 is out of range (1..65535)");
    CHECK(pggate_error("workers = -1") == "t.ini:2: workers: -1 is out of range (0..256)");
    CHECK(pggate_error("workers = 257") == "t.ini:2: workers: 257 is out of range (0..256)");
    CHECK(pggate_error("max_client_conn = 0") == "t.ini:2: max_client_conn: 0 is out of range (1..1000000)");
    CHECK(pggate_error("max_login_clients = 0") == "t.ini:2: max_login_clients: 0 is out of range (1..1000000)");
    CHECK(pggate_error("max_login_clients = 1000001") ==
          "t.ini:2: max_login_clients: 1000001 is out of range (1..1000000)");
    CHECK(pggate_error("max_packet_size = 1023") ==
          "t.ini:2: max_packet_size: 1023 is out of range (1024..2147483647)");
    CHECK(pggate_error("max_packet_size = 2147483648") ==
          "t.ini:2: max_packet_size: 2147483648 is out of range (1024..2147483647)");
    CHECK(pggate_error("verbose = 3") == "t.ini:2: verbose: 3 is out of range (0..2)");
    CHECK(pggate_error("shutdown_timeout = -1") == "t.ini:2: shutdown_timeout: -1 is out of range (0..31536000)");
    CHECK(pggate_error("shutdown_timeout = soon") ==
          "t.ini:2: shutdown_timeout: \"soon\" is not a number of seconds");
    CHECK(pggate_error("shutdown_timeout = inf") == "t.ini:2: shutdown_timeout: \"inf\" is not a number of seconds");
    CHECK(pggate_error("shutdown_timeout = nan") == "t.ini:2: shutdown_timeout: \"nan\" is not a number of seconds");
}

TEST_CASE("pool_mode is session or transaction, in any case") {
    CHECK(parse_pggate("pool_mode = session\n").pool_mode == PoolMode::Session);
    CHECK(parse_pggate("pool_mode = SESSION\n").pool_mode == PoolMode::Session);
    CHECK(parse_pggate("pool_mode = transaction\nauth_type = trust\n").pool_mode == PoolMode::Transaction);
    CHECK(parse_pggate("pool_mode = Transaction\nauth_type = trust\n").pool_mode == PoolMode::Transaction);
    CHECK(pggate_error("pool_mode = statement") ==
          "t.ini:2: pool_mode: \"statement\" is not a pool mode (use session or transaction)");
    CHECK(pggate_error("pool_mode =") == "t.ini:2: pool_mode: \"\" is not a pool mode (use session or transaction)");
}

TEST_CASE("auth_type takes its four words, in any case") {
    // trust needs no auth_file; the others are given one.
    CHECK(parse_pggate("auth_type = trust\n").auth_type == AuthType::Trust);
    CHECK(parse_pggate("auth_type = TRUST\n").auth_type == AuthType::Trust);
    const std::string file = "auth_file = /etc/pggate/userlist.txt\n";
    CHECK(parse_pggate("auth_type = plain\n" + file).auth_type == AuthType::Plain);
    CHECK(parse_pggate("auth_type = md5\n" + file).auth_type == AuthType::Md5);
    CHECK(parse_pggate("auth_type = MD5\n" + file).auth_type == AuthType::Md5);
    CHECK(parse_pggate("auth_type = scram-sha-256\n" + file).auth_type == AuthType::ScramSha256);
    CHECK(parse_pggate("auth_type = SCRAM-SHA-256\n" + file).auth_type == AuthType::ScramSha256);
    CHECK(parse_pggate("auth_type = trust\n" + file).auth_type == AuthType::Trust);
    CHECK(pggate_error("auth_type = scram") ==
          "t.ini:2: auth_type: \"scram\" is not an auth type (use trust, plain, md5, scram-sha-256, cert or hba)");
    CHECK(pggate_error("auth_type = password") ==
          "t.ini:2: auth_type: \"password\" is not an auth type (use trust, plain, md5, scram-sha-256, cert or hba)");
    // The spelling of a wrong value is kept as written.
    CHECK(pggate_error("auth_type = Scram-Sha-1") ==
          "t.ini:2: auth_type: \"Scram-Sha-1\" is not an auth type (use trust, plain, md5, scram-sha-256, cert or hba)");
    // A bad value is reported on its own line even when other keys follow.
    CHECK(error_of(std::string("[pggate]\nauth_file = /x\nverbose = 1\nauth_type = pam\n") + kNodes) ==
          "t.ini:4: auth_type: \"pam\" is not an auth type (use trust, plain, md5, scram-sha-256, cert or hba)");
}

TEST_CASE("default_pool_size and query_wait_timeout: numbers in range") {
    CHECK(parse_pggate("default_pool_size = 300\n").default_pool_size == 300);
    CHECK(pggate_error("default_pool_size = 0") == "t.ini:2: default_pool_size: 0 is out of range (1..100000)");
    CHECK(pggate_error("default_pool_size = 100001") ==
          "t.ini:2: default_pool_size: 100001 is out of range (1..100000)");
    CHECK(pggate_error("default_pool_size = -5") == "t.ini:2: default_pool_size: -5 is out of range (1..100000)");
    CHECK(pggate_error("default_pool_size = many") == "t.ini:2: default_pool_size: \"many\" is not an integer");
    CHECK(pggate_error("default_pool_size = 2.5") == "t.ini:2: default_pool_size: \"2.5\" is not an integer");
    CHECK(pggate_error("default_pool_size =") == "t.ini:2: default_pool_size: \"\" is not an integer");

    CHECK(parse_pggate("query_wait_timeout = 0.25\n").query_wait_timeout == doctest::Approx(0.25));
    CHECK(parse_pggate("query_wait_timeout = 3600\n").query_wait_timeout == doctest::Approx(3600.0));
    CHECK(pggate_error("query_wait_timeout = -1") ==
          "t.ini:2: query_wait_timeout: -1 is out of range (0..31536000)");
    CHECK(pggate_error("query_wait_timeout = 31536001") ==
          "t.ini:2: query_wait_timeout: 31536001 is out of range (0..31536000)");
    CHECK(pggate_error("query_wait_timeout = 2m") ==
          "t.ini:2: query_wait_timeout: \"2m\" is not a number of seconds");
    CHECK(pggate_error("query_wait_timeout = inf") ==
          "t.ini:2: query_wait_timeout: \"inf\" is not a number of seconds");
    CHECK(pggate_error("query_wait_timeout =") == "t.ini:2: query_wait_timeout: \"\" is not a number of seconds");
}

TEST_CASE("server_reset_query and auth_file are taken as written") {
    CHECK(parse_pggate("server_reset_query = RESET ALL\n").server_reset_query == "RESET ALL");
    // A ';' right after a word belongs to the value; after a blank it starts a comment.
    CHECK(parse_pggate("server_reset_query = DISCARD ALL; RESET ROLE\n").server_reset_query ==
          "DISCARD ALL; RESET ROLE");
    CHECK(parse_pggate("server_reset_query = DISCARD ALL ; the default\n").server_reset_query == "DISCARD ALL");
    CHECK(parse_pggate("auth_file = /etc/pggate/user list.txt\n").auth_file == "/etc/pggate/user list.txt");
    // The loader does not open the file: the workers read it, and on reload.
    CHECK(parse_pggate("auth_file = /nonexistent/userlist.txt\n").auth_file == "/nonexistent/userlist.txt");
}

TEST_CASE("auth_type and auth_file: what is unset, and what needs what") {
    // Nothing set: the server authenticates each client itself.
    CHECK(parse_pggate("").auth_type == AuthType::Passthrough);
    CHECK(parse(kNodes).auth_type == AuthType::Passthrough);
    // An auth_file without auth_type means md5.
    Config c = parse_pggate("auth_file = /etc/pggate/userlist.txt\n");
    CHECK(c.auth_type == AuthType::Md5);
    CHECK(c.auth_file == "/etc/pggate/userlist.txt");
    // The order of the two keys does not matter.
    CHECK(parse_pggate("auth_file = /f\nauth_type = plain\n").auth_type == AuthType::Plain);
    CHECK(parse_pggate("auth_type = plain\nauth_file = /f\n").auth_type == AuthType::Plain);
    // An auth_file given and then emptied again is no auth_file.
    CHECK(parse_pggate("auth_file = /f\nauth_file =\n").auth_type == AuthType::Passthrough);

    // Checking passwords needs something to check them against.
    const std::string needs_file = "t.ini: [pggate]: auth_type: needs auth_file or auth_user (or auth_type = trust or cert)";
    for (const char* type : {"plain", "md5", "scram-sha-256"}) {
        CAPTURE(type);
        std::string e = pggate_error(std::string("auth_type = ") + type);
        CHECK(e == needs_file);
        CHECK(e.find("auth_file") != std::string::npos);
    }
    CHECK(pggate_error("auth_file = /f\nauth_file =\nauth_type = md5") == needs_file);
    CHECK_NOTHROW(parse_pggate("auth_type = trust\n"));
}

TEST_CASE("transaction pooling needs pggate to authenticate clients") {
    const std::string needs_auth =
        "t.ini: [pggate]: pool_mode: transaction pooling needs auth_file, auth_user or auth_type = trust";
    CHECK(pggate_error("pool_mode = transaction") == needs_auth);
    // Pass-through is fine in session mode.
    CHECK(parse_pggate("pool_mode = session\n").auth_type == AuthType::Passthrough);

    Config c = parse_pggate("pool_mode = transaction\nauth_type = trust\n");
    CHECK(c.pool_mode == PoolMode::Transaction);
    CHECK(c.auth_type == AuthType::Trust);
    CHECK(c.auth_file.empty());

    c = parse_pggate("pool_mode = transaction\nauth_file = /etc/pggate/userlist.txt\n");
    CHECK(c.pool_mode == PoolMode::Transaction);
    CHECK(c.auth_type == AuthType::Md5);

    c = parse_pggate("pool_mode = transaction\nauth_type = scram-sha-256\nauth_file = /f\n");
    CHECK(c.auth_type == AuthType::ScramSha256);
    // A missing auth_file is reported as such, not as a pooling problem.
    CHECK(pggate_error("pool_mode = transaction\nauth_type = md5") ==
          "t.ini: [pggate]: auth_type: needs auth_file or auth_user (or auth_type = trust or cert)");
}

TEST_CASE("auth_user is an auth source of its own, with or without auth_file") {
    // Like auth_file: md5 unless auth_type says otherwise, and transaction pooling is allowed.
    Config c = parse_pggate("auth_user = pggate_auth\n");
    CHECK(c.auth_type == AuthType::Md5);
    CHECK(c.auth_file.empty());
    c = parse_pggate("pool_mode = transaction\nauth_user = pggate_auth\nauth_type = scram-sha-256\n");
    CHECK(c.auth_type == AuthType::ScramSha256);
    CHECK(c.pool_mode == PoolMode::Transaction);
    c = parse_pggate("auth_user = pggate_auth\nauth_file = /f\nauth_type = plain\n");
    CHECK(c.auth_type == AuthType::Plain);
    // Emptied again, it is off.
    CHECK(parse_pggate("auth_user = a\nauth_user =\n").auth_type == AuthType::Passthrough);
    CHECK(pggate_error("auth_user = a\nauth_user =\nauth_type = md5") ==
          "t.ini: [pggate]: auth_type: needs auth_file or auth_user (or auth_type = trust or cert)");
    // The other lookup keys alone are no auth source.
    CHECK(parse_pggate("auth_dbname = authdb\nauth_query_cache_ttl = 1\n").auth_type == AuthType::Passthrough);
}

TEST_CASE("auth_query, auth_dbname and auth_query_cache_ttl values") {
    // Taken as written: a query with ';' needs no blank before it (else a comment starts).
    CHECK(parse_pggate("auth_query = SELECT * FROM f($1)\n").auth_query == "SELECT * FROM f($1)");
    CHECK(parse_pggate("auth_query = SELECT 'a;b', $1\n").auth_query == "SELECT 'a;b', $1");
    CHECK(pggate_error("auth_query =") == "t.ini:2: auth_query: must not be empty");
    CHECK(parse_pggate("auth_dbname =\n").auth_dbname.empty());
    CHECK(parse_pggate("auth_dbname = my db\n").auth_dbname == "my db");
    CHECK(parse_pggate("auth_query_cache_ttl = 0\n").auth_query_cache_ttl == doctest::Approx(0.0));
    CHECK(parse_pggate("auth_query_cache_ttl = 0.25\n").auth_query_cache_ttl == doctest::Approx(0.25));
    CHECK(parse_pggate("auth_query_cache_ttl = 31536000\n").auth_query_cache_ttl == doctest::Approx(31536000.0));
    CHECK(pggate_error("auth_query_cache_ttl = -1") == "t.ini:2: auth_query_cache_ttl: -1 is out of range (0..31536000)");
    CHECK(pggate_error("auth_query_cache_ttl = ten") == "t.ini:2: auth_query_cache_ttl: \"ten\" is not a number of seconds");
    // The default query asks for the one parameter a lookup binds.
    CHECK(kDefaultAuthQuery.find("$1") != std::string_view::npos);
    CHECK(kDefaultAuthQuery.find("pg_catalog.pg_authid") != std::string_view::npos);
}

TEST_CASE("syslog_facility is one of daemon, user, local0..local7") {
    for (const char* f : {"daemon", "user", "local0", "local7"}) {
        CAPTURE(f);
        CHECK(parse_pggate(std::string("syslog_facility = ") + f + "\n").syslog_facility == f);
    }
    CHECK(parse_pggate("syslog_facility = LOCAL5\n").syslog_facility == "local5");
    CHECK(pggate_error("syslog_facility = local8") ==
          "t.ini:2: syslog_facility: \"local8\" is not a facility (use daemon, user or local0..local7)");
    CHECK(pggate_error("syslog_ident =") == "t.ini:2: syslog_ident: must not be empty");
}

TEST_CASE("a Unix socket directory too long for sockaddr_un is rejected") {
    std::string ok = "/" + std::string(91, 'd');  // 92 + "/.s.PGSQL.65535" (15) + NUL = 108
    CHECK(parse_pggate("unix_socket_dir = " + ok + "\n").unix_socket_dir == ok);
    CHECK(pggate_error("unix_socket_dir = " + ok + "d") ==
          "t.ini:2: unix_socket_dir: directory name is too long for a Unix socket (at most 92 characters)");
}

TEST_CASE("an unknown key reports its own line") {
    CHECK(error_of("[pggate]\nlisten_port = 6432\nlisten_prot = 6433\n") ==
          "t.ini:3: listen_prot: unknown key in [pggate]");
    // Comments and blank lines count as lines.
    CHECK(error_of("; comment\n\n[pggate]\n# more\n\nbogus = 1\n") == "t.ini:6: bogus: unknown key in [pggate]");
}

TEST_CASE("unknown sections are errors even when empty") {
    CHECK(error_of("[pggate]\n[pgbouncer]\nlisten_port = 1\n") == "t.ini:2: [pgbouncer]: unknown section");
    CHECK(error_of(std::string(kNodes) + "\n[pools]\n") == "t.ini:4: [pools]: unknown section");
    CHECK(error_of("[Pggate]\n") == "t.ini:1: [Pggate]: unknown section");
}

TEST_CASE("a key before any section is an error") {
    CHECK(error_of(std::string("listen_port = 1\n") + kNodes) ==
          "t.ini:1: listen_port: key before any section (start with [pggate] or [nodes])");
}

TEST_CASE("inih syntax errors name their line") {
    CHECK(error_of("[pggate]\nlisten_port\n") == "t.ini:2: syntax error");
    CHECK(error_of(std::string(kNodes) + "[pggate\n") == "t.ini:3: syntax error");
    // The first error wins, whichever kind it is.
    CHECK(error_of("[pggate]\nnonsense\nbogus = 1\n") == "t.ini:2: syntax error");
    CHECK(error_of("[pggate]\nbogus = 1\nnonsense\n") == "t.ini:2: bogus: unknown key in [pggate]");
}

TEST_CASE("a line longer than inih's buffer is an error, not a silent cut") {
    // 198 characters fit in inih's 200-byte line buffer with "\n\0".
    std::string fits = "logfile = /" + std::string(198 - 11, 'x');
    REQUIRE(fits.size() == 198);
    CHECK(parse("[pggate]\n" + fits + "\n" + kNodes).logfile.size() == 188);
    CHECK(error_of("[pggate]\n" + fits + "x\n" + kNodes) == "t.ini:2: line is too long (199 characters; at most 198)");
    CHECK(error_of("[pggate]\nverbose = 1\nlogfile = /" + std::string(300, 'x') + "\n" + kNodes)
              .rfind("t.ini:3: line is too long (311 characters", 0) == 0);
    // Surrounding blanks are not content, and comments may be as long as they like.
    CHECK_NOTHROW(parse("[pggate]\n    " + fits + "     \n" + kNodes));
    CHECK_NOTHROW(parse("# " + std::string(500, '-') + "\n" + kNodes));
}

TEST_CASE("layout: indentation, inline comments, CRLF, a BOM") {
    // An indented line is an entry of its own, never the continuation of the previous value.
    Config c = parse("[pggate]\nlisten_port = 7000\n    verbose = 1\n[nodes]\n  db1 = host=h1\n  db2 = host=h2\n");
    CHECK(c.listen_port == 7000);
    CHECK(c.verbose == 1);
    CHECK(c.nodes.size() == 2);

    c = parse("[pggate]\nlisten_port = 7000 ; the usual port\n[nodes] ; backends\ndb1 = host=h1 port=5 ; primary\n");
    CHECK(c.listen_port == 7000);
    REQUIRE(c.nodes.size() == 1);
    CHECK(c.nodes[0].port == 5);

    c = parse("\xEF\xBB\xBF[pggate]\r\nlisten_port = 7001\r\n[nodes]\r\ndb1 = host=h1\r\n");
    CHECK(c.listen_port == 7001);
    CHECK(c.nodes[0].host == "h1");

    CHECK(error_of(std::string("[pggate]\nverbose = 1\0\n", 22) + kNodes) == "t.ini:2: line contains a NUL byte");
}

TEST_CASE("node lines") {
    Config c = parse(
        "[nodes]\n"
        "main = host=10.0.0.1 port=5433 role=primary weight=0\n"
        "r1 = role=replica host=db-r1.example.com weight=1000000\n"
        "local_sock.1 = host=/var/run/postgresql\n"
        "v6 = host=::1 port=65535 role=auto\n");
    REQUIRE(c.nodes.size() == 4);
    CHECK(c.nodes[0].name == "main");
    CHECK(c.nodes[0].host == "10.0.0.1");
    CHECK(c.nodes[0].port == 5433);
    CHECK(c.nodes[0].role == NodeRole::Primary);
    CHECK(c.nodes[0].weight == 0);
    CHECK(c.nodes[1].name == "r1");
    CHECK(c.nodes[1].host == "db-r1.example.com");
    CHECK(c.nodes[1].port == 5432);
    CHECK(c.nodes[1].role == NodeRole::Replica);
    CHECK(c.nodes[1].weight == 1000000);
    CHECK(c.nodes[2].name == "local_sock.1");
    CHECK(c.nodes[2].host == "/var/run/postgresql");
    CHECK(c.nodes[2].role == NodeRole::Auto);
    CHECK(c.nodes[2].weight == 1);
    CHECK(c.nodes[3].host == "::1");
    CHECK(c.nodes[3].port == 65535);
    // Blanks between the fields may be tabs and runs of spaces.
    c = parse("[nodes]\ndb1 =\thost=h1 \t  port=7\n");
    CHECK(c.nodes[0].port == 7);
    // Sections may be split; the nodes keep file order.
    c = parse("[nodes]\na = host=h\n[pggate]\nverbose = 1\n[nodes]\nb = host=h\n");
    REQUIRE(c.nodes.size() == 2);
    CHECK(c.nodes[1].name == "b");
}

TEST_CASE("node line errors name the node and the field") {
    CHECK(error_of("[nodes]\ndb0 = host=h\ndb1 = hots=h\n") ==
          "t.ini:3: db1.hots: unknown key (use host, port, role, weight)");
    CHECK(error_of("[nodes]\ndb1 = port=5433\n") == "t.ini:2: db1: host= is required");
    CHECK(error_of("[nodes]\ndb1 =\n") == "t.ini:2: db1: host= is required");
    CHECK(error_of("[nodes]\ndb1 = host=\n") == "t.ini:2: db1.host: must not be empty");
    CHECK(error_of("[nodes]\ndb1 = host=a..b\n") ==
          "t.ini:2: db1.host: \"a..b\" is not an IP address, a host name or a socket directory");
    CHECK(error_of("[nodes]\ndb1 = host=h port=0\n") == "t.ini:2: db1.port: 0 is out of range (1..65535)");
    CHECK(error_of("[nodes]\ndb1 = host=h port=x\n") == "t.ini:2: db1.port: \"x\" is not an integer");
    CHECK(error_of("[nodes]\ndb1 = host=h role=master\n") ==
          "t.ini:2: db1.role: \"master\" is not a role (use auto, primary or replica)");
    CHECK(error_of("[nodes]\ndb1 = host=h weight=-1\n") == "t.ini:2: db1.weight: -1 is out of range (0..1000000)");
    CHECK(error_of("[nodes]\ndb1 = host=h weight=1000001\n") ==
          "t.ini:2: db1.weight: 1000001 is out of range (0..1000000)");
    CHECK(error_of("[nodes]\ndb1 = host=h 5432\n") == "t.ini:2: db1: \"5432\" is not key=value");
    CHECK(error_of("[nodes]\ndb1 = host=h =5\n") == "t.ini:2: db1: \"=5\" is not key=value");
    CHECK(error_of("[nodes]\ndb1 = host=h port=1 port=2\n") == "t.ini:2: db1.port: given twice");
    CHECK(error_of("[nodes]\ndb/1 = host=h\n") == "t.ini:2: db/1: a node name may only contain A-Z a-z 0-9 _ . -");
    CHECK(error_of("[nodes]\nd b = host=h\n") == "t.ini:2: d b: a node name may only contain A-Z a-z 0-9 _ . -");
}

TEST_CASE("a duplicate node name is an error") {
    CHECK(error_of("[nodes]\ndb1 = host=h1\ndb2 = host=h2\ndb1 = host=h3\n") ==
          "t.ini:4: db1: listed twice in [nodes] (first on line 2)");
}

TEST_CASE("at least one node is required") {
    CHECK(error_of("") == "t.ini: [nodes]: at least one node is required");
    CHECK(error_of("[pggate]\nlisten_port = 1\n") == "t.ini: [nodes]: at least one node is required");
    CHECK(error_of("[nodes]\n") == "t.ini: [nodes]: at least one node is required");
}

TEST_CASE("primary(): the node with role=primary, else the first") {
    Config c = parse("[nodes]\nr1 = host=h1 role=replica\np = host=h2 role=primary\nr2 = host=h3\n");
    CHECK(c.primary().name == "p");
    c = parse("[nodes]\nfirst = host=h1\nsecond = host=h2\n");
    CHECK(c.primary().name == "first");
    c = parse("[nodes]\nr1 = host=h1 role=replica\nr2 = host=h2 role=replica\n");
    CHECK(c.primary().name == "r1");
}

TEST_CASE("two primaries are rejected") {
    CHECK(error_of("[nodes]\na = host=h1 role=primary\nb = host=h2\nc = host=h3 role=primary\n") ==
          "t.ini:4: c: role=primary is already given to node a on line 2; there can be only one primary");
}

TEST_CASE("the source name is what errors start with") {
    try {
        parse_config("[pggate]\nnope = 1\n", "/etc/pggate/pggate.ini");
        FAIL("no error");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()) == "/etc/pggate/pggate.ini:2: nope: unknown key in [pggate]");
    }
}

TEST_CASE("read_config_file") {
    std::string text = read_config_file("etc/pggate.ini");
    CHECK(text.find("[nodes]") != std::string::npos);
    CHECK_THROWS_WITH_AS(read_config_file("/nonexistent/pggate.ini"),
                         "/nonexistent/pggate.ini: cannot read: No such file or directory", ConfigError);
    CHECK_THROWS_WITH_AS(read_config_file("etc"), "etc: cannot read: Is a directory", ConfigError);
}

TEST_CASE("the sample etc/pggate.ini parses and mentions every key") {
    std::string text = read_config_file("etc/pggate.ini");
    Config c = parse_config(text, "etc/pggate.ini");
    REQUIRE(c.nodes.size() >= 2);
    CHECK(c.primary().role == NodeRole::Primary);
    CHECK(c.primary().host == "127.0.0.1");
    CHECK(c.primary().port == 5432);
    bool has_replica = std::any_of(c.nodes.begin(), c.nodes.end(), [](const Node& n) {
        return n.role == NodeRole::Replica && n.host == "127.0.0.1" && n.port == 5433;
    });
    CHECK(has_replica);
    // The sample changes no pooling or authentication default.
    CHECK(c.pool_mode == PoolMode::Session);
    CHECK(c.auth_type == AuthType::Passthrough);
    CHECK(c.auth_file.empty());
    check_same_keys(sample_keys(text));
}

TEST_CASE("known_keys(): one entry per accepted key") {
    const auto& keys = known_keys();
    std::set<std::string_view> unique(keys.begin(), keys.end());
    CHECK(unique.size() == keys.size());
    for (const char* k : {"pggate.listen_addr", "pggate.listen_port", "pggate.listen_backlog", "pggate.unix_socket_dir",
                          "pggate.workers", "pggate.max_client_conn", "pggate.max_login_clients", "pggate.max_packet_size",
                          "pggate.shutdown_timeout", "pggate.logfile", "pggate.syslog", "pggate.syslog_ident",
                          "pggate.syslog_facility", "pggate.verbose", "pggate.pidfile", "pggate.user",
                          "pggate.pool_mode", "pggate.default_pool_size", "pggate.auth_type", "pggate.auth_file",
                          "pggate.auth_user", "pggate.auth_query", "pggate.auth_dbname",
                          "pggate.auth_query_cache_ttl", "pggate.server_reset_query", "pggate.query_wait_timeout", "pggate.max_prepared_statements", "pggate.client_login_timeout",
                          "pggate.client_idle_timeout", "pggate.idle_transaction_timeout", "pggate.query_timeout",
                          "pggate.server_connect_timeout", "pggate.server_idle_timeout", "pggate.server_lifetime",
                          "nodes.host", "nodes.port",
                          "nodes.role", "nodes.weight"}) {
        CAPTURE(k);
        CHECK(unique.count(k) == 1);
    }
    CHECK(keys.size() == 94);
    // Every listed [pggate] key is accepted by the loader (with its default's spelling).
    for (std::string_view key : keys) {
        if (key.substr(0, 7) != "pggate.") continue;
        std::string name(key.substr(7));
        CAPTURE(name);
        CHECK(pggate_error(name + " = 1").find("unknown key") == std::string::npos);
    }
}

TEST_CASE("the man page documents every key in its section, and only keys the loader takes there") {
    check_same_keys(man_page_keys(read_config_file("man/pggate.ini.5")));
}

TEST_CASE("the key checks tell sections apart") {
    // A [pggate] key documented under [users] only, or the other way round, is caught.
    CHECK(loader_accepts("users", "pool_size"));
    CHECK_FALSE(loader_accepts("users", "default_pool_size"));
    CHECK_FALSE(loader_accepts("pggate", "pool_size"));
    CHECK_FALSE(loader_accepts("nodes", "pool_mode"));
    CHECK_FALSE(loader_accepts("clusters", "host"));
    const SectionKeys man = man_page_keys(
        ".SH \"SECTION [pggate]\"\n.TP\n.B pool_mode\n.RS\n.TP\n.B session\n.RE\n"
        ".SH \"SECTION [users]\"\n.TP\n.B pool_size\n.SH FILES\n.TP\n.B elsewhere\n");
    CHECK(man == SectionKeys{{"pggate", {"pool_mode"}}, {"users", {"pool_size"}}});
    const SectionKeys sample = sample_keys(
        "[pggate]\n; prose = not a key\n;listen_port = 6432\nlogfile =\n[users]\n;batch = pool_size=4 pool_mode=session\n");
    CHECK(sample == SectionKeys{{"pggate", {"listen_port", "logfile"}}, {"users", {"pool_mode", "pool_size"}}});
}

TEST_CASE("effective_workers") {
    Config c;
    c.workers = 5;
    CHECK(effective_workers(c) == 5);
    c.workers = 0;
    int n = effective_workers(c);
    CHECK(n >= 1);
    CHECK(n <= 256);
    if (std::thread::hardware_concurrency() > 0 && std::thread::hardware_concurrency() <= 256)
        CHECK(n == static_cast<int>(std::thread::hardware_concurrency()));
}

TEST_CASE("mangled files give either a Config or a ConfigError, never anything else") {
    // Random edits of a valid file reach both outcomes; seeded, so a failure repeats.
    const std::string base =
        "[pggate]\nlisten_addr = 127.0.0.1, ::1\nlisten_port = 6432\nsyslog = on\nshutdown_timeout = 1.5\n"
        "[nodes]\np = host=127.0.0.1 port=5432 role=primary\nr = host=/tmp role=replica weight=3\n";
    // A char array, so that the NUL in it counts.
    constexpr char kAlphabet[] = "[]=;#: \t\r\n\0abcdehlnoprstuw_.-/0123456789*,\xEF\xBB\xBF";
    const std::string alphabet(kAlphabet, sizeof kAlphabet - 1);
    std::mt19937 rng(20260101);
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::uniform_int_distribution<int> edits(1, 6);
    int valid = 0, invalid = 0;
    for (int i = 0; i < 5000; ++i) {
        std::string text = base;
        for (int n = edits(rng); n > 0; --n) {
            std::size_t at = std::uniform_int_distribution<std::size_t>(0, text.size())(rng);
            switch (rng() % 4) {
                case 0: text.insert(at, 1, alphabet[pick(rng)]); break;
                case 1: if (at < text.size()) text.erase(at, 1); break;
                case 2: if (at < text.size()) text[at] = alphabet[pick(rng)]; break;
                default: text.insert(at, std::string(rng() % 300, 'x')); break;
            }
        }
        try {
            Config c = parse(text);
            CHECK_FALSE(c.nodes.empty());
            ++valid;
        } catch (const ConfigError& e) {
            CHECK(std::string(e.what()).rfind("t.ini", 0) == 0);
            ++invalid;
        }
    }
    CHECK(valid > 0);
    CHECK(invalid > 0);
}

TEST_CASE("the examples in man/pggate.ini.5 parse") {
    std::string man = read_config_file("man/pggate.ini.5");
    std::string examples;
    for (std::size_t at = 0; (at = man.find("\n.EX\n[", at)) != std::string::npos;) {
        at += 5;
        std::size_t end = man.find("\n.EE\n", at);
        REQUIRE(end != std::string::npos);
        examples += man.substr(at, end - at + 1);
    }
    REQUIRE(examples.find("[pggate]") != std::string::npos);
    REQUIRE(examples.find("[nodes]") != std::string::npos);
    Config c = parse(examples);
    CHECK(c.primary().name == "primary");
    CHECK(c.workers == 4);
    // The transaction pooling example, with an auth_file and so md5.
    CHECK(c.pool_mode == PoolMode::Transaction);
    CHECK(c.default_pool_size == 40);
    CHECK(c.auth_type == AuthType::Md5);
    CHECK(c.auth_file == "/etc/pggate/userlist.txt");
    CHECK(c.query_wait_timeout == doctest::Approx(30.0));
}

TEST_CASE("TLS settings: sslmodes, protocol ranges and the files each mode needs") {
    const std::string files = "client_tls_cert_file = /c.crt\nclient_tls_key_file = /c.key\n";
    Config c = parse_pggate(files + "client_tls_sslmode = Verify-Full\nclient_tls_ca_file = /ca.crt\n"
                                    "client_tls_protocols = tlsv1.3\nserver_tls_sslmode = disable\n");
    CHECK(c.client_tls.sslmode == SslMode::VerifyFull);
    CHECK(c.client_tls.min_version == 13);
    CHECK(c.client_tls.max_version == 13);
    CHECK(c.server_tls.sslmode == SslMode::Disable);
    CHECK(parse_pggate("").server_tls.sslmode == SslMode::Prefer);
    CHECK(parse_pggate("").client_tls.sslmode == SslMode::Disable);

    Config range = parse_pggate("server_tls_protocols = TLSv1.1, tlsv1.2\n");
    CHECK(range.server_tls.min_version == 11);
    CHECK(range.server_tls.max_version == 12);
    CHECK(parse_pggate("server_tls_protocols = all\n").server_tls.min_version == 10);
    CHECK(pggate_error("server_tls_protocols = tlsv1.1, tlsv1.3") ==
          "t.ini:2: server_tls_protocols: the TLS versions must form a range without gaps");
    CHECK(pggate_error("server_tls_protocols = sslv3") ==
          "t.ini:2: server_tls_protocols: \"sslv3\" is not a TLS version (use secure, all, or tlsv1.0, tlsv1.1, "
          "tlsv1.2, tlsv1.3)");
    CHECK(pggate_error("server_tls_protocols = ,") == "t.ini:2: server_tls_protocols: no TLS version given");
    CHECK(pggate_error("client_tls_sslmode = on") ==
          "t.ini:2: client_tls_sslmode: \"on\" is not an sslmode (use disable, allow, prefer, require, verify-ca or "
          "verify-full)");

    CHECK(error_of("[pggate]\nclient_tls_sslmode = require\n" + std::string(kNodes)) ==
          "t.ini: [pggate]: client_tls_sslmode: TLS for clients needs client_tls_cert_file and client_tls_key_file");
    CHECK(error_of("[pggate]\n" + files + "client_tls_sslmode = verify-ca\n" + kNodes) ==
          "t.ini: [pggate]: client_tls_sslmode: verify-ca checks client certificates against client_tls_ca_file, "
          "which is not set");
    CHECK(error_of("[pggate]\nserver_tls_sslmode = verify-full\n" + std::string(kNodes)) ==
          "t.ini: [pggate]: server_tls_sslmode: verify-full checks server certificates against server_tls_ca_file, "
          "which is not set");
    CHECK(error_of("[pggate]\nserver_tls_cert_file = /s.crt\n" + std::string(kNodes)) ==
          "t.ini: [pggate]: server_tls_cert_file and server_tls_key_file go together");
    CHECK(error_of("[pggate]\n" + files + "client_tls_sslmode = require\nauth_type = cert\n" + kNodes) ==
          "t.ini: [pggate]: auth_type: cert needs client_tls_sslmode and client_tls_ca_file");
    Config cert = parse_pggate(files + "client_tls_sslmode = require\nclient_tls_ca_file = /ca.crt\nauth_type = cert\n");
    CHECK(cert.auth_type == AuthType::Cert);
}

TEST_CASE("unix_socket_mode is octal; unix_socket_group is a name") {
    Config c = parse_pggate("unix_socket_mode = 0770\nunix_socket_group = postgres\n");
    CHECK(c.unix_socket_mode == 0770);
    CHECK(c.unix_socket_group == "postgres");
    CHECK(parse_pggate("unix_socket_mode = 600\n").unix_socket_mode == 0600);
    CHECK(parse_pggate("").unix_socket_mode == 0777);
    for (const char* bad : {"unix_socket_mode = 0789", "unix_socket_mode = 01777", "unix_socket_mode = rwx",
                            "unix_socket_mode ="})
        CHECK(pggate_error(bad).find("is not a file mode (octal, 0 to 0777)") != std::string::npos);
}
