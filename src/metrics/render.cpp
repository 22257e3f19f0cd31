// Writes a Snapshot as Prometheus text: every family with its HELP and TYPE
// lines, names prefixed pggate_, counters ending in _total, base units.
#include "metrics/render.hpp"

#include <charconv>

namespace pggate::metrics {

namespace {

using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

class Writer {
public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_ += "# HELP pggate_";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE pggate_";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }

    void sample(std::string_view name, const Labels& labels, std::string_view value) {
        out_ += "pggate_";
        out_ += name;
        if (!labels.empty()) {
            out_ += '{';
            for (std::size_t i = 0; i < labels.size(); ++i) {
                if (i > 0) out_ += ',';
                out_ += labels[i].first;
                out_ += "=\"";
                out_ += escape_label(labels[i].second);
                out_ += '"';
            }
            out_ += '}';
        }
        out_ += ' ';
        out_ += value;
        out_ += '\n';
    }
    void sample(std::string_view name, const Labels& labels, std::uint64_t value) {
        sample(name, labels, std::to_string(value));
    }
    void sample(std::string_view name, const Labels& labels, double value) {
        char buf[32];
        auto r = std::to_chars(buf, buf + sizeof buf, value);
        sample(name, labels, std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    }

    // The _bucket (cumulative), _sum and _count samples of one histogram.
    void histogram(std::string_view name, const Labels& labels, const HistogramSnapshot& h) {
        const std::string base(name);
        Labels with_le = labels;
        with_le.emplace_back("le", "");
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < shm::kBuckets; ++i) {
            cumulative += h.buckets[i];
            with_le.back().second = i < shm::kBucketBounds.size() ? shm::kBucketBounds[i].text : "+Inf";
            sample(base + "_bucket", with_le, cumulative);
        }
        sample(base + "_sum", labels, static_cast<double>(h.sum_ns) / 1e9);
        sample(base + "_count", labels, cumulative);
    }

    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

constexpr std::string_view kRoutes[] = {"primary", "replica"};

std::string_view role_name(shm::NodeRoleSeen role) {
    switch (role) {
        case shm::NodeRoleSeen::Primary: return "primary";
        case shm::NodeRoleSeen::Replica: return "replica";
        case shm::NodeRoleSeen::Unknown: break;
    }
    return "unknown";
}

}  // namespace

std::string escape_label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

std::string render(const Snapshot& s) {
    Writer w;
    w.family("client_connections", "gauge", "Client connections by state (idle: logging in or between transactions).");
    w.sample("client_connections", {{"state", "active"}}, s.cl_active);
    w.sample("client_connections", {{"state", "waiting"}}, s.cl_waiting);
    w.sample("client_connections", {{"state", "idle"}}, s.cl_idle);

    w.family("clients_accepted_total", "counter", "Client logins that succeeded.");
    w.sample("clients_accepted_total", {}, s.clients_accepted);
    w.family("clients_rejected_total", "counter",
             "Client connections refused before their login completed (max_client_conn, authentication, ...).");
    w.sample("clients_rejected_total", {}, s.clients_rejected);

    w.family("server_connections", "gauge",
             "Server connections by node and state (other: logging in, resetting or being checked).");
    for (const NodeSnapshot& n : s.nodes) {
        w.sample("server_connections", {{"node", n.name}, {"state", "active"}}, n.sv_active);
        w.sample("server_connections", {{"node", n.name}, {"state", "idle"}}, n.sv_idle);
        w.sample("server_connections", {{"node", n.name}, {"state", "other"}}, n.sv_other);
    }

    w.family("queries_total", "counter",
             "Statements answered (ReadyForQuery) by a node, by the role it had then (route).");
    for (const NodeSnapshot& n : s.nodes)
        for (std::size_t r = 0; r < 2; ++r)
            w.sample("queries_total", {{"node", n.name}, {"route", kRoutes[r]}}, n.queries[r]);
    w.family("transactions_total", "counter",
             "Transactions (explicit or single statements) a node finished, by the role it had then (route).");
    for (const NodeSnapshot& n : s.nodes)
        for (std::size_t r = 0; r < 2; ++r)
            w.sample("transactions_total", {{"node", n.name}, {"route", kRoutes[r]}}, n.transactions[r]);

    w.family("query_duration_seconds", "histogram",
             "Time from sending a statement to a node to its ReadyForQuery.");
    for (const NodeSnapshot& n : s.nodes) w.histogram("query_duration_seconds", {{"node", n.name}}, n.query_duration);
    w.family("pool_wait_seconds", "histogram", "Time a client waited for a server connection from its pool.");
    w.histogram("pool_wait_seconds", {}, s.pool_wait);

    w.family("errors_total", "counter", "ErrorResponses sent to clients, by SQLSTATE class.");
    for (std::size_t i = 0; i < s.errors.size(); ++i)
        w.sample("errors_total", {{"sqlstate_class", shm::kErrorClasses[i]}}, s.errors[i]);

    w.family("node_up", "gauge", "Whether the last health checks of the node succeeded.");
    for (const NodeSnapshot& n : s.nodes)
        w.sample("node_up", {{"node", n.name}}, std::uint64_t{n.health == shm::NodeHealth::Up});
    w.family("node_role", "gauge", "The role the health checks last saw the node in (1 for the current one).");
    for (const NodeSnapshot& n : s.nodes)
        for (auto role : {shm::NodeRoleSeen::Primary, shm::NodeRoleSeen::Replica, shm::NodeRoleSeen::Unknown})
            w.sample("node_role", {{"node", n.name}, {"role", role_name(role)}}, std::uint64_t{n.role == role});
    w.family("node_replication_lag_bytes", "gauge", "WAL bytes a replica is behind the primary (absent while unknown).");
    for (const NodeSnapshot& n : s.nodes)
        if (n.lag_bytes >= 0)
            w.sample("node_replication_lag_bytes", {{"node", n.name}}, static_cast<std::uint64_t>(n.lag_bytes));
    w.family("node_replication_lag_seconds", "gauge", "How far a replica's replay is behind the primary (absent while unknown).");
    for (const NodeSnapshot& n : s.nodes)
        if (n.lag_us >= 0) w.sample("node_replication_lag_seconds", {{"node", n.name}}, static_cast<double>(n.lag_us) / 1e6);

    w.family("reloads_total", "counter", "Configuration reloads, by result.");
    w.sample("reloads_total", {{"result", "ok"}}, s.reloads_ok);
    w.sample("reloads_total", {{"result", "failed"}}, s.reloads_failed);
    w.family("worker_restarts_total", "counter", "Times the master respawned a worker that died.");
    for (std::size_t i = 0; i < s.worker_restarts.size(); ++i)
        w.sample("worker_restarts_total", {{"worker", std::to_string(i)}}, s.worker_restarts[i]);
    w.family("shadow_reads_total", "counter", "Reads also run on the primary to compare answers (shadow_reads).");
    w.sample("shadow_reads_total", {}, s.shadow_reads);
    w.family("shadow_read_mismatches_total", "counter", "Shadow reads whose answers differed from the replica's.");
    w.sample("shadow_read_mismatches_total", {}, s.shadow_mismatches);
    w.family("prepared_client_parses_total", "counter", "Named Parse messages from clients (transaction pooling).");
    w.sample("prepared_client_parses_total", {}, s.client_parses);
    w.family("prepared_server_parses_total", "counter", "Parse messages sent to servers for clients' named statements.");
    w.sample("prepared_server_parses_total", {}, s.server_parses);
    w.family("prepared_parses_answered_total", "counter", "Client Parses answered by pggate without a server.");
    w.sample("prepared_parses_answered_total", {}, s.parses_answered_here);
    w.family("prepared_evictions_total", "counter", "Statements closed on a server beyond max_prepared_statements.");
    w.sample("prepared_evictions_total", {}, s.prepared_evictions);
    return w.take();
}

}  // namespace pggate::metrics
