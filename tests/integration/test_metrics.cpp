// The metrics endpoint of a real pggate: /metrics passes `promtool check
// metrics`, its counters move with traffic (reads on the replicas' route,
// errors by SQLSTATE class, reloads), and /healthz follows whether a primary can be
// reached; other paths are 404.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "routing_support.hpp"

using namespace pggate::test;

namespace {

struct HttpReply {
    int status = 0;  // 0: no answer
    std::string body;
};

// One HTTP/1.0 GET on 127.0.0.1:port; the server closes after its answer.
HttpReply http_get(int port, const std::string& path) {
    HttpReply reply;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string response;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
            char buf[65536];
            ssize_t n;
            while ((n = recv(fd, buf, sizeof buf, 0)) > 0) response.append(buf, static_cast<std::size_t>(n));
        }
    }
    close(fd);
    std::size_t head_end = response.find("\r\n\r\n");
    if (!response.starts_with("HTTP/1.") || head_end == std::string::npos || response.size() < 12) return reply;
    reply.status = std::atoi(response.c_str() + 9);
    reply.body = response.substr(head_end + 4);
    return reply;
}

// The value of one series ("name{labels}") in a /metrics body; -1 if absent.
double value_of(const std::string& text, const std::string& series) {
    std::string needle = "\n" + series + " ";
    std::size_t at = text.find(needle);
    if (at == std::string::npos) return -1;
    return std::strtod(text.c_str() + at + needle.size(), nullptr);
}

// Sum of a counter over the given nodes and one route.
double route_total(const std::string& text, const std::string& name, const std::vector<std::string>& nodes,
                   const std::string& route) {
    double sum = 0;
    for (const std::string& node : nodes) sum += value_of(text, name + "{node=\"" + node + "\",route=\"" + route + "\"}");
    return sum;
}

std::string scrape(int port) {
    HttpReply r = http_get(port, "/metrics");
    REQUIRE_MESSAGE(r.status == 200, "GET /metrics answered " << r.status);
    return r.body;
}

void wait_endpoint(const Pggate& gate, int port) {
    REQUIRE_MESSAGE(eventually([&] { return http_get(port, "/metrics").status == 200; }, 10, 0.05),
                    "no metrics endpoint on port " << port << "; log:\n" << gate.log_tail());
}

}  // namespace

TEST_CASE("metrics: /metrics passes promtool; 1000 reads move the replicas' query counters by 1000; errors count by class") {
    PGGATE_ONLY();
    const int port = free_port();
    Pggate gate(routing({"metrics_port = " + std::to_string(port)}));
    wait_endpoint(gate, port);

    // The linter is part of the test: a missing promtool fails it.
    std::string output;
    REQUIRE_MESSAGE(run_shell("command -v promtool", output) == 0,
                    "promtool not found: install the Debian package prometheus (contrib/install-deps.sh)");
    {
        PgConn c(gate.conninfo());
        c.exec_ok("select 1");  // some traffic, so histograms and server gauges have samples
    }
    const std::string file = gate.dir() + "/metrics.txt";
    {
        std::ofstream out(file);
        out << scrape(port);
    }
    CHECK_MESSAGE(run_shell("promtool check metrics < " + file, output) == 0, output);
    MESSAGE("promtool check metrics: " << (output.empty() ? std::string("(no findings)") : output));

    const std::vector<std::string> replicas{"pg2", "pg3"};
    const std::string before = scrape(port);
    {
        PgConn c(gate.conninfo());
        for (int i = 0; i < 1000; ++i) REQUIRE(c.scalar("select 1") == "1");
    }
    std::string after = scrape(port);
    CHECK(route_total(after, "pggate_queries_total", replicas, "replica") -
              route_total(before, "pggate_queries_total", replicas, "replica") ==
          1000);
    CHECK(route_total(after, "pggate_transactions_total", replicas, "replica") -
              route_total(before, "pggate_transactions_total", replicas, "replica") ==
          1000);
    CHECK(route_total(after, "pggate_queries_total", {"pg1"}, "primary") -
              route_total(before, "pggate_queries_total", {"pg1"}, "primary") <
          100);
    double durations = 0;
    for (const std::string& node : replicas)
        durations += value_of(after, "pggate_query_duration_seconds_count{node=\"" + node + "\"}") -
                     value_of(before, "pggate_query_duration_seconds_count{node=\"" + node + "\"}");
    CHECK(durations == 1000);
    CHECK(value_of(after, "pggate_clients_accepted_total") - value_of(before, "pggate_clients_accepted_total") == 1);
    CHECK(value_of(after, "pggate_node_up{node=\"pg1\"}") == 1);
    CHECK(value_of(after, "pggate_node_role{node=\"pg2\",role=\"replica\"}") == 1);

    const std::string errors = "pggate_errors_total{sqlstate_class=\"42\"}";
    {
        PgConn c(gate.conninfo());
        PgResult r = c.exec("selec 1");
        CHECK_FALSE(r.ok());
    }
    const std::string with_error = scrape(port);
    CHECK(value_of(with_error, errors) - value_of(after, errors) == 1);

    CHECK(http_get(port, "/nope").status == 404);

    // The master counts reloads; the metrics process keeps serving across one.
    gate.send_signal(SIGHUP);
    CHECK(eventually([&] { return value_of(scrape(port), "pggate_reloads_total{result=\"ok\"}") == 1; }, 10, 0.05));
}

TEST_CASE("metrics: /healthz is 200 while a primary answers, 503 once it is stopped") {
    PGGATE_ONLY();
    auto cl = Cluster::create(1);
    const int port = free_port();
    PggateOptions options = routing({"metrics_port = " + std::to_string(port), "health_check_period = 1",
                                     "health_check_max_retries = 1", "health_check_retry_delay = 0.2", "workers = 1"});
    options.cluster = cl.get();
    options.nodes = {"pg1 = host=127.0.0.1 port=" + std::to_string(cl->primary_port()) + " role=auto",
                     "pg2 = host=127.0.0.1 port=" + std::to_string(cl->replica_ports()[0]) + " role=auto"};
    Pggate gate(std::move(options));
    wait_endpoint(gate, port);
    CHECK(eventually([&] { return http_get(port, "/healthz").status == 200; }, 10, 0.1));
    HttpReply ok = http_get(port, "/healthz");
    CHECK(ok.status == 200);
    CHECK(ok.body == "ok\n");

    std::string ctl;
    REQUIRE_MESSAGE(cl->pg_ctl(cl->primary_port(), "stop -m immediate", &ctl) == 0, ctl);
    CHECK_MESSAGE(eventually([&] { return http_get(port, "/healthz").status == 503; }, 15, 0.1), gate.log_tail());
    HttpReply down = http_get(port, "/healthz");
    CHECK(down.status == 503);
    MESSAGE("/healthz with the primary stopped: " << down.body);
    CHECK(down.body.find("primary") != std::string::npos);
    const std::string text = scrape(port);
    CHECK(value_of(text, "pggate_node_up{node=\"pg1\"}") == 0);
}

TEST_CASE("metrics: contrib's alert rules pass promtool's tests, and they and the Grafana dashboard use only metrics pggate serves") {
    PGGATE_ONLY();
    const std::string prometheus = repo_root() + "/contrib/prometheus";
    std::string output;
    CHECK_MESSAGE(run_shell("cd " + prometheus + " && promtool check rules pggate-alerts.yml 2>&1", output) == 0, output);
    CHECK_MESSAGE(run_shell("cd " + prometheus + " && promtool test rules pggate-alerts.test.yml 2>&1", output) == 0,
                  output);
    const std::string dashboard = repo_root() + "/contrib/grafana/pggate-dashboard.json";
    CHECK_MESSAGE(run_shell("/usr/bin/python3 -m json.tool " + dashboard + " > /dev/null 2>&1", output) == 0, output);

    const int port = free_port();
    Pggate gate(routing({"metrics_port = " + std::to_string(port)}));
    wait_endpoint(gate, port);
    // Family name -> type, from the "# TYPE" lines.
    std::map<std::string, std::string> families;
    const std::string served = scrape(port);
    std::regex type_line("# TYPE (pggate_[a-z_]+) ([a-z]+)");
    for (std::sregex_iterator it(served.begin(), served.end(), type_line), end; it != end; ++it)
        families[(*it)[1]] = (*it)[2];
    REQUIRE(families.size() > 10);

    std::set<std::string> used;
    for (const std::string& path : {prometheus + "/pggate-alerts.yml", dashboard}) {
        std::ifstream in(path);
        std::stringstream text;
        text << in.rdbuf();
        const std::string s = text.str();
        std::regex name("pggate_[a-z_]+");
        for (std::sregex_iterator it(s.begin(), s.end(), name), end; it != end; ++it) used.insert(it->str());
    }
    CHECK(used.size() >= 15);
    for (const std::string& metric : used) {
        std::string family = metric;
        for (const char* suffix : {"_bucket", "_sum", "_count"})
            if (family.ends_with(suffix) && families.count(family.substr(0, family.size() - std::strlen(suffix))) &&
                families[family.substr(0, family.size() - std::strlen(suffix))] == "histogram")
                family = family.substr(0, family.size() - std::strlen(suffix));
        CHECK_MESSAGE(families.count(family) == 1, metric << " is not served at /metrics");
    }
}

TEST_CASE("metrics: a metrics port in use is logged as an error; once it is freed /metrics answers") {
    PGGATE_ONLY();
    const int port = free_port();
    // Another program holds the port (without SO_REUSEPORT, so pggate cannot share it).
    int holder = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(holder >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(holder, 1) == 0);

    Pggate gate(std::vector<std::string>{"metrics_addr = 127.0.0.1", "metrics_port = " + std::to_string(port)});
    CHECK(eventually([&] { return gate.log_text().find("bind() failed (metrics endpoint 127.0.0.1:" +
                                                       std::to_string(port) + "): Address already in use") !=
                                  std::string::npos; },
                     5));
    PgConn c(gate.conninfo("password=" + std::string(Cluster::kAdminPassword)));
    CHECK(c.scalar("select 1") == "1");  // clients are served meanwhile
    sleep_for(1.5);  // a retry or two fail while the port is held
    CHECK(http_get(port, "/metrics").status == 0);  // the holder never answers HTTP

    close(holder);
    HttpReply reply;
    CHECK(eventually([&] {
        reply = http_get(port, "/metrics");
        return reply.status == 200;
    }, 10, 0.2));
    CHECK(reply.body.find("pggate_") != std::string::npos);
    CHECK(gate.log_text().find("serving /metrics and /healthz on 127.0.0.1:" + std::to_string(port) + " after") !=
          std::string::npos);
}
