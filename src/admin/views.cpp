// SHOW tables: pools, nodes, workers, databases, users, lists, version, help.
#include "admin/views.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "config/settings.hpp"

namespace pggate::admin {

namespace {

using Row = Table::Row;

std::string num(std::int64_t v) { return std::to_string(v); }

std::string seconds(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", v);
    return buf;
}

const char* mode_name(config::PoolMode m) { return m == config::PoolMode::Session ? "session" : "transaction"; }

const char* role_name(config::NodeRole r) {
    switch (r) {
        case config::NodeRole::Primary: return "primary";
        case config::NodeRole::Replica: return "replica";
        case config::NodeRole::Auto: return "auto";
    }
    return "auto";
}

// The health process's sample of node `index`, if it describes that node.
shm::NodeSample sample_of(const config::Config& config, const shm::Segment& shm, std::uint32_t index) {
    const config::Node& n = config.nodes[index];
    shm::NodeSample s = shm.node(index).read();
    return s.ident == shm::node_ident(n.host, n.port) ? s : shm::NodeSample{};
}

const char* seen_name(shm::NodeRoleSeen r) {
    switch (r) {
        case shm::NodeRoleSeen::Primary: return "primary";
        case shm::NodeRoleSeen::Replica: return "replica";
        case shm::NodeRoleSeen::Unknown: return "unknown";
    }
    return "unknown";
}

const char* health_name(shm::NodeHealth h) {
    switch (h) {
        case shm::NodeHealth::Up: return "up";
        case shm::NodeHealth::Down: return "down";
        case shm::NodeHealth::Unknown: return "unknown";
    }
    return "unknown";
}

// One pool entry in use: its key and its occupancy summed over the workers.
struct PoolView {
    std::string database, user;
    std::string node;  // the node's name; shm::kAllNodes for a database or user total
    std::uint64_t servers = 0, sv_idle = 0, sv_active = 0, sv_login = 0, cl_active = 0, cl_waiting = 0;
    std::int64_t oldest_wait_ns = 0;  // 0: none waits
    // SHOW STATS: see shm::PoolOccupancy.
    std::uint64_t xact_count = 0, query_count = 0, bytes_received = 0, bytes_sent = 0, xact_time_us = 0,
                  query_time_us = 0, wait_time_us = 0;
};

std::vector<PoolView> pools(const shm::Segment& shm) {
    std::vector<PoolView> out;
    for (std::uint32_t i = 0; i < shm::kMaxPools; ++i) {
        const shm::PoolEntry& e = shm.pool(i);
        if (e.state.load(std::memory_order_acquire) != 2) continue;
        const std::optional<shm::PoolKey> key = shm::parse_pool_key(e);
        if (!key) continue;
        PoolView v;
        v.database = std::string(key->database);
        v.user = std::string(key->user);
        v.node = std::string(key->node);
        v.servers = e.servers.load(std::memory_order_relaxed);
        for (std::uint32_t w = 0; w < shm.workers(); ++w) {
            const shm::PoolOccupancy& o = shm.occupancy(i, w);
            v.sv_idle += o.sv_idle.load(std::memory_order_relaxed);
            v.sv_active += o.sv_active.load(std::memory_order_relaxed);
            v.sv_login += o.sv_login.load(std::memory_order_relaxed);
            v.cl_active += o.cl_active.load(std::memory_order_relaxed);
            v.cl_waiting += o.cl_waiting.load(std::memory_order_relaxed);
            v.xact_count += o.xact_count.load(std::memory_order_relaxed);
            v.query_count += o.query_count.load(std::memory_order_relaxed);
            v.bytes_received += o.bytes_received.load(std::memory_order_relaxed);
            v.bytes_sent += o.bytes_sent.load(std::memory_order_relaxed);
            v.xact_time_us += o.xact_time_us.load(std::memory_order_relaxed);
            v.query_time_us += o.query_time_us.load(std::memory_order_relaxed);
            v.wait_time_us += o.wait_time_us.load(std::memory_order_relaxed);
            const std::int64_t since = o.oldest_wait_ns.load(std::memory_order_relaxed);
            if (since != 0 && (v.oldest_wait_ns == 0 || since < v.oldest_wait_ns)) v.oldest_wait_ns = since;
        }
        out.push_back(std::move(v));
    }
    return out;
}

bool is_pool(const PoolView& v) { return v.node != shm::kAllNodes && !v.database.empty() && !v.user.empty(); }

// Servers being reset (PgBouncer's "used") and checked ("tested") per pool,
// from the records SHOW SERVERS reads, so the two views agree.
struct ServersBusy {
    std::int64_t used = 0, tested = 0;
};

std::map<std::tuple<std::string, std::string, std::uint32_t>, ServersBusy> servers_busy(const shm::Segment& shm) {
    std::map<std::tuple<std::string, std::string, std::uint32_t>, ServersBusy> out;
    for (std::uint32_t slot = 0; slot < shm.slots(); ++slot) {
        const std::optional<shm::ServerInfo> s = shm.server(slot).read();
        if (!s) continue;
        if (s->activity == shm::ServerActivity::Resetting) ++out[{s->database, s->user, s->node}].used;
        if (s->activity == shm::ServerActivity::Testing) ++out[{s->database, s->user, s->node}].tested;
    }
    return out;
}

Table show_pools(const config::Config& config, const shm::Segment& shm, Clocks now) {
    Table t({{"database", ColumnType::Text},
             {"user", ColumnType::Text},
             {"cl_active", ColumnType::Int8},
             {"cl_waiting", ColumnType::Int8},
             {"cl_active_cancel_req", ColumnType::Int8},
             {"cl_waiting_cancel_req", ColumnType::Int8},
             {"sv_active", ColumnType::Int8},
             {"sv_active_cancel", ColumnType::Int8},
             {"sv_being_canceled", ColumnType::Int8},
             {"sv_idle", ColumnType::Int8},
             {"sv_used", ColumnType::Int8},
             {"sv_tested", ColumnType::Int8},
             {"sv_login", ColumnType::Int8},
             {"maxwait", ColumnType::Int8},
             {"maxwait_us", ColumnType::Int8},
             {"pool_mode", ColumnType::Text},
             {"node", ColumnType::Text},
             {"role", ColumnType::Text},
             {"sv_total", ColumnType::Int8}});
    const auto busy = servers_busy(shm);
    for (const PoolView& v : pools(shm)) {
        if (!is_pool(v)) continue;
        const std::optional<std::uint32_t> node = config.node_index(v.node);
        // A pool whose node a reload removed keeps its row while its servers
        // close: it has no role then.
        if (!node && v.servers == 0) continue;
        ServersBusy b;
        if (node)
            if (const auto found = busy.find({v.database, v.user, *node}); found != busy.end()) b = found->second;
        // The pool counts servers being reset or checked as logging in;
        // they are shown in sv_used and sv_tested instead.
        const std::int64_t login = std::max<std::int64_t>(0, static_cast<std::int64_t>(v.sv_login) - b.used - b.tested);
        const std::int64_t waited_us = v.oldest_wait_ns == 0 ? 0 : std::max<std::int64_t>(0, (now.steady_ns - v.oldest_wait_ns) / 1000);
        std::optional<std::string> role;
        if (node) {
            const shm::NodeSample s = sample_of(config, shm, *node);
            role = s.role != shm::NodeRoleSeen::Unknown ? seen_name(s.role) : role_name(config.nodes[*node].role);
        }
        // pggate keeps no cancel-request lists: those columns read 0.
        t.add({v.database, v.user, num(static_cast<std::int64_t>(v.cl_active)), num(static_cast<std::int64_t>(v.cl_waiting)),
               "0", "0", num(static_cast<std::int64_t>(v.sv_active)), "0", "0", num(static_cast<std::int64_t>(v.sv_idle)),
               num(b.used), num(b.tested), num(login), num(waited_us / 1000000), num(waited_us % 1000000),
               mode_name(config.pool_settings(v.database, v.user).pool_mode), v.node, role,
               num(static_cast<std::int64_t>(v.servers))});
    }
    return t;
}

Table show_nodes(const config::Config& config, const shm::Segment& shm, Clocks now) {
    Table t({{"name", ColumnType::Text},
             {"host", ColumnType::Text},
             {"port", ColumnType::Int8},
             {"role", ColumnType::Text},
             {"seen_as", ColumnType::Text},
             {"state", ColumnType::Text},
             {"lag_bytes", ColumnType::Int8},
             {"lag_seconds", ColumnType::Numeric},
             {"last_check", ColumnType::Numeric},
             {"failures", ColumnType::Int8},
             {"timeline", ColumnType::Int8},
             {"lsn", ColumnType::Text},
             {"weight", ColumnType::Int8},
             {"servers", ColumnType::Int8},
             {"queries", ColumnType::Int8}});
    std::vector<std::int64_t> servers(config.nodes.size(), 0);
    for (const PoolView& v : pools(shm))
        if (auto node = is_pool(v) ? config.node_index(v.node) : std::nullopt)
            servers[*node] += static_cast<std::int64_t>(v.servers);
    for (std::uint32_t i = 0; i < config.nodes.size(); ++i) {
        const config::Node& n = config.nodes[i];
        const shm::NodeSample s = sample_of(config, shm, i);
        auto optional_num = [](std::int64_t v) { return v < 0 ? std::nullopt : std::optional<std::string>(num(v)); };
        std::optional<std::string> lag_s;
        if (s.lag_us >= 0) lag_s = seconds(static_cast<double>(s.lag_us) / 1e6);
        std::optional<std::string> last_check;  // seconds ago
        if (s.checked_at_ns != 0) last_check = seconds(static_cast<double>(now.steady_ns - s.checked_at_ns) / 1e9);
        std::optional<std::string> lsn;
        if (s.sampled_at_ns != 0) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(s.lsn >> 32), static_cast<unsigned>(s.lsn));
            lsn = buf;
        }
        std::uint64_t queries = 0;  // routed to it, as primary or replica, by every worker
        for (std::uint32_t w = 0; w < shm.workers(); ++w)
            for (const auto& q : shm.stats(w).nodes[i].queries) queries += q.load(std::memory_order_relaxed);
        t.add({n.name, n.host, num(n.port), role_name(n.role), seen_name(s.role), health_name(s.health),
               optional_num(s.lag_bytes), lag_s, last_check, num(s.failures),
               s.timeline == 0 ? std::nullopt : std::optional<std::string>(num(s.timeline)), lsn, num(n.weight),
               num(servers[i]), num(static_cast<std::int64_t>(queries))});
    }
    return t;
}

Table show_workers(const shm::Segment& shm, Clocks now) {
    Table t({{"worker", ColumnType::Int8},
             {"pid", ColumnType::Int8},
             {"clients", ColumnType::Int8},
             {"servers", ColumnType::Int8},
             {"uptime", ColumnType::Int8},
             {"restarts", ColumnType::Int8}});
    for (std::uint32_t w = 0; w < shm.workers(); ++w) {
        const shm::WorkerSlot& slot = shm.worker(w);
        std::int64_t servers = 0;
        for (std::uint32_t p = 0; p < shm::kMaxPools; ++p)
            if (shm.pool(p).state.load(std::memory_order_acquire) == 2)
                servers += shm.occupancy(p, w).servers.load(std::memory_order_relaxed);
        const std::int32_t pid = slot.pid.load(std::memory_order_relaxed);
        const std::int64_t started = slot.started_at.load(std::memory_order_relaxed);
        t.add({num(w), pid == 0 ? std::nullopt : std::optional<std::string>(num(pid)),
               num(slot.clients.load(std::memory_order_relaxed)), num(servers),
               started == 0 || pid == 0 ? std::nullopt : std::optional<std::string>(num(now.unix_s - started)),
               num(slot.restarts.load(std::memory_order_relaxed))});
    }
    return t;
}

// Server connections of the entries that total a database (user "") or a user (database "").
std::map<std::string, std::int64_t> totals(const shm::Segment& shm, bool databases) {
    std::map<std::string, std::int64_t> out;
    for (const PoolView& v : pools(shm)) {
        if (v.node != shm::kAllNodes) continue;
        if (databases && v.user.empty()) out[v.database] += static_cast<std::int64_t>(v.servers);
        if (!databases && v.database.empty()) out[v.user] += static_cast<std::int64_t>(v.servers);
    }
    return out;
}

std::optional<std::string> limit(int v) { return v <= 0 ? std::nullopt : std::optional<std::string>(num(v)); }

// The node a database's writes go to now: the one the health checks see as
// primary, else the first configured as primary; nullptr when none is.
const config::Node* write_node(const config::Config& config, const shm::Segment& shm) {
    for (std::uint32_t i = 0; i < config.nodes.size(); ++i)
        if (sample_of(config, shm, i).role == shm::NodeRoleSeen::Primary) return &config.nodes[i];
    for (const config::Node& n : config.nodes)
        if (n.role == config::NodeRole::Primary) return &n;
    return nullptr;
}

// PgBouncer's columns (1.24's, in its order), then pggate's.
Table show_databases(const config::Config& config, const shm::Segment& shm) {
    Table t({{"name", ColumnType::Text},
             {"host", ColumnType::Text},
             {"port", ColumnType::Int8},
             {"database", ColumnType::Text},
             {"force_user", ColumnType::Text},
             {"pool_size", ColumnType::Int8},
             {"min_pool_size", ColumnType::Int8},
             {"reserve_pool_size", ColumnType::Int8},
             {"server_lifetime", ColumnType::Int8},
             {"pool_mode", ColumnType::Text},
             {"load_balance_hosts", ColumnType::Text},
             {"max_connections", ColumnType::Int8},
             {"current_connections", ColumnType::Int8},
             {"max_client_connections", ColumnType::Int8},
             {"current_client_connections", ColumnType::Int8},
             {"paused", ColumnType::Int8},
             {"disabled", ColumnType::Int8},
             {"read_write_split", ColumnType::Text}});
    const auto current = totals(shm, true);
    std::map<std::string, std::int64_t> clients;
    for (std::uint32_t slot = 0; slot < shm.slots(); ++slot)
        if (const std::optional<shm::ClientInfo> c = shm.client(slot).read()) ++clients[c->database];
    std::set<std::string> names;
    for (const config::Database& d : config.databases) names.insert(d.name);
    for (const auto& [name, n] : current) names.insert(name);
    const config::Node* primary = write_node(config, shm);
    for (const std::string& name : names) {
        const config::PoolSettings s = config.pool_settings(name, "");
        auto it = current.find(name);
        auto connected = clients.find(name);
        // pggate has no forced server user, no host lists to balance over
        // (its nodes are [nodes]) and no per-database client limit (0 as
        // PgBouncer shows an unset one).
        t.add({name, primary != nullptr ? std::optional<std::string>(primary->host) : std::nullopt,
               primary != nullptr ? std::optional<std::string>(num(primary->port)) : std::nullopt,
               name == "*" ? std::nullopt : std::optional<std::string>(s.server_database), std::nullopt,
               num(s.pool_size), num(s.min_pool_size), num(s.reserve_pool_size),
               num(static_cast<std::int64_t>(config.server_lifetime)), mode_name(s.pool_mode), std::nullopt,
               num(s.max_db_connections), num(it == current.end() ? 0 : it->second), "0",
               num(connected == clients.end() ? 0 : connected->second), shm.controls().paused(name) ? "1" : "0",
               shm.controls().disabled(name) ? "1" : "0", s.read_write_split ? "on" : "off"});
    }
    return t;
}

Table show_users(const config::Config& config, const shm::Segment& shm) {
    Table t({{"name", ColumnType::Text},
             {"pool_mode", ColumnType::Text},
             {"pool_size", ColumnType::Int8},
             {"max_user_connections", ColumnType::Int8},
             {"current_connections", ColumnType::Int8}});
    const auto current = totals(shm, false);
    std::set<std::string> names;
    for (const config::User& u : config.users) names.insert(u.name);
    for (const auto& [name, n] : current) names.insert(name);
    for (const std::string& name : names) {
        const config::User* listed = nullptr;
        for (const config::User& u : config.users)
            if (u.name == name) listed = &u;
        std::optional<std::string> mode, size;
        if (listed != nullptr && listed->pool.pool_mode) mode = mode_name(*listed->pool.pool_mode);
        if (listed != nullptr && listed->pool.pool_size) size = num(*listed->pool.pool_size);
        const int max_conn = listed != nullptr && listed->max_user_connections >= 0 ? listed->max_user_connections
                                                                                   : config.max_user_connections;
        auto it = current.find(name);
        t.add({name, mode, size, limit(max_conn), num(it == current.end() ? 0 : it->second)});
    }
    return t;
}

Table show_lists(const config::Config& config, const shm::Segment& shm) {
    Table t({{"list", ColumnType::Text}, {"items", ColumnType::Int8}});
    std::int64_t pool_count = 0, idle = 0, active = 0, login = 0;
    std::set<std::string> databases, users;
    for (const PoolView& v : pools(shm)) {
        if (!is_pool(v)) continue;
        ++pool_count;
        databases.insert(v.database);
        users.insert(v.user);
        idle += static_cast<std::int64_t>(v.sv_idle);
        active += static_cast<std::int64_t>(v.sv_active);
        login += static_cast<std::int64_t>(v.sv_login);
    }
    t.add({"databases", num(static_cast<std::int64_t>(databases.size()))});
    t.add({"users", num(static_cast<std::int64_t>(users.size()))});
    t.add({"pools", num(pool_count)});
    t.add({"nodes", num(static_cast<std::int64_t>(config.nodes.size()))});
    t.add({"workers", num(shm.workers())});
    t.add({"used_clients", num(shm.header().clients_total.load(std::memory_order_relaxed))});
    t.add({"used_servers", num(active)});
    t.add({"idle_servers", num(idle)});
    t.add({"login_servers", num(login)});
    return t;
}

Table show_config(const config::Config& config) {
    Table t({{"key", ColumnType::Text},
             {"value", ColumnType::Text},
             {"default", ColumnType::Text},
             {"changeable", ColumnType::Text},
             {"pending", ColumnType::Text}});
    for (config::SettingRow& row : config::setting_rows(config))
        t.add({std::move(row.key), std::move(row.value), std::move(row.default_value),
               row.needs_restart ? "restart" : "yes", std::move(row.pending)});
    return t;
}

std::string utc_time(std::int64_t unix_s) {
    const auto t = static_cast<std::time_t>(unix_s);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return buf;
}

std::optional<std::string> port_of(std::int32_t port) {
    return port < 0 ? std::nullopt : std::optional<std::string>(num(port));
}

std::optional<std::string> text_of(const std::string& text) {
    return text.empty() ? std::nullopt : std::optional<std::string>(text);
}

const char* activity_name(shm::ClientActivity a) {
    switch (a) {
        case shm::ClientActivity::Login: return "login";
        case shm::ClientActivity::Idle: return "idle";
        case shm::ClientActivity::Waiting: return "waiting";
        case shm::ClientActivity::Active: return "active";
        case shm::ClientActivity::Admin: return "admin";
        case shm::ClientActivity::Free: break;
    }
    return "free";
}

Table show_clients(const config::Config& config, const shm::Segment& shm, Clocks now) {
    Table t({{"type", ColumnType::Text},
             {"user", ColumnType::Text},
             {"database", ColumnType::Text},
             {"state", ColumnType::Text},
             {"addr", ColumnType::Text},
             {"port", ColumnType::Int8},
             {"local_addr", ColumnType::Text},
             {"local_port", ColumnType::Int8},
             {"connect_time", ColumnType::Text},
             {"request_time", ColumnType::Text},
             {"wait", ColumnType::Int8},
             {"wait_us", ColumnType::Int8},
             {"close_needed", ColumnType::Int8},
             {"ptr", ColumnType::Text},
             {"link", ColumnType::Text},
             {"remote_pid", ColumnType::Int8},
             {"tls", ColumnType::Text},
             {"application_name", ColumnType::Text},
             {"id", ColumnType::Int8},
             {"worker", ColumnType::Int8},
             {"activity", ColumnType::Text},
             {"node", ColumnType::Text},
             {"pinned", ColumnType::Text}});
    const std::int64_t now_ms = now.unix_s * 1000;
    for (std::uint32_t slot = 0; slot < shm.slots(); ++slot) {
        const std::optional<shm::ClientInfo> c = shm.client(slot).read();
        if (!c) continue;
        // PgBouncer's states: a logged-in client is active unless it waits for a server.
        const char* state = c->activity == shm::ClientActivity::Waiting ? "waiting"
                            : c->activity == shm::ClientActivity::Login ? "login"
                                                                        : "active";
        const std::int64_t waited_us =
            c->activity == shm::ClientActivity::Waiting ? std::max<std::int64_t>(0, now_ms - c->since_ms) * 1000 : 0;
        char ptr[24];
        std::snprintf(ptr, sizeof ptr, "%x", shm.key_pid(slot));
        const std::optional<std::string> node =
            c->node < config.nodes.size() ? std::optional<std::string>(config.nodes[c->node].name) : std::nullopt;
        t.add({"C", c->user, c->database, state, c->addr, port_of(c->port), text_of(c->local_addr),
               port_of(c->local_port), utc_time(c->connected_at), utc_time(c->since_ms / 1000),
               num(waited_us / 1000000), num(waited_us % 1000000), "0", std::string(ptr), std::nullopt,
               num(c->remote_pid), text_of(c->tls), c->application_name,
               num(shm.key_pid(slot)), num(shm.owner_of_slot(slot)), activity_name(c->activity), node,
               c->pinned.empty() ? std::nullopt : std::optional<std::string>(c->pinned)});
    }
    return t;
}

const char* server_activity_name(shm::ServerActivity a) {
    switch (a) {
        case shm::ServerActivity::Login: return "login";
        case shm::ServerActivity::Idle: return "idle";
        case shm::ServerActivity::Active: return "active";
        case shm::ServerActivity::Resetting: return "resetting";
        case shm::ServerActivity::Testing: return "testing";
        case shm::ServerActivity::Shadow: return "shadow";
        case shm::ServerActivity::Free: break;
    }
    return "free";
}

Table show_servers(const config::Config& config, const shm::Segment& shm) {
    Table t({{"type", ColumnType::Text},
             {"user", ColumnType::Text},
             {"database", ColumnType::Text},
             {"state", ColumnType::Text},
             {"addr", ColumnType::Text},
             {"port", ColumnType::Int8},
             {"local_addr", ColumnType::Text},
             {"local_port", ColumnType::Int8},
             {"connect_time", ColumnType::Text},
             {"request_time", ColumnType::Text},
             {"wait", ColumnType::Int8},
             {"wait_us", ColumnType::Int8},
             {"close_needed", ColumnType::Int8},
             {"ptr", ColumnType::Text},
             {"link", ColumnType::Text},
             {"remote_pid", ColumnType::Int8},
             {"tls", ColumnType::Text},
             {"application_name", ColumnType::Text},
             {"worker", ColumnType::Int8},
             {"node", ColumnType::Text},
             {"activity", ColumnType::Text},
             {"pinned", ColumnType::Text}});
    for (std::uint32_t slot = 0; slot < shm.slots(); ++slot) {
        const std::optional<shm::ServerInfo> s = shm.server(slot).read();
        if (!s) continue;
        // PgBouncer's states: linked (active), idle, being reset (used), being checked (tested), logging in.
        const char* state = s->activity == shm::ServerActivity::Idle        ? "idle"
                            : s->activity == shm::ServerActivity::Resetting ? "used"
                            : s->activity == shm::ServerActivity::Testing   ? "tested"
                            : s->activity == shm::ServerActivity::Login     ? "login"
                                                                            : "active";
        const bool known_node = s->node < config.nodes.size();
        char ptr[24], link[24];
        std::snprintf(ptr, sizeof ptr, "s%x", slot + 1);
        std::snprintf(link, sizeof link, "%x", s->client);
        // Its client's pin reason: what keeps this server from the pool.
        std::optional<std::string> pinned;
        if (const std::optional<std::uint32_t> client_slot = s->client == 0 ? std::nullopt : shm.slot_of_key(s->client))
            if (const std::optional<shm::ClientInfo> c = shm.client(*client_slot).read()) pinned = text_of(c->pinned);
        t.add({"S", s->user, s->database, state,
               known_node ? std::optional<std::string>(config.nodes[s->node].host) : std::nullopt,
               known_node ? std::optional<std::string>(num(config.nodes[s->node].port)) : std::nullopt,
               text_of(s->local_addr), port_of(s->local_port), utc_time(s->connected_at),
               utc_time(s->since_ms / 1000), "0", "0", "0", std::string(ptr),
               s->client == 0 ? std::nullopt : std::optional<std::string>(link), num(s->backend_pid), text_of(s->tls),
               std::nullopt, num(shm.owner_of_slot(slot)),
               known_node ? std::optional<std::string>(config.nodes[s->node].name) : std::nullopt,
               server_activity_name(s->activity), pinned});
    }
    return t;
}

// Each database's traffic over all its pools (users and nodes) and workers.
std::map<std::string, PoolView> database_traffic(const shm::Segment& shm) {
    std::map<std::string, PoolView> out;
    for (const PoolView& v : pools(shm)) {
        if (!is_pool(v)) continue;
        PoolView& d = out[v.database];
        d.xact_count += v.xact_count;
        d.query_count += v.query_count;
        d.bytes_received += v.bytes_received;
        d.bytes_sent += v.bytes_sent;
        d.xact_time_us += v.xact_time_us;
        d.query_time_us += v.query_time_us;
        d.wait_time_us += v.wait_time_us;
    }
    return out;
}

std::string count(std::uint64_t v) { return num(static_cast<std::int64_t>(v)); }

Table show_stats_totals(const shm::Segment& shm) {
    Table t({{"database", ColumnType::Text},
             {"xact_count", ColumnType::Int8},
             {"query_count", ColumnType::Int8},
             {"bytes_received", ColumnType::Int8},
             {"bytes_sent", ColumnType::Int8},
             {"xact_time", ColumnType::Int8},
             {"query_time", ColumnType::Int8},
             {"wait_time", ColumnType::Int8}});
    for (const auto& [database, d] : database_traffic(shm))
        t.add({database, count(d.xact_count), count(d.query_count), count(d.bytes_received), count(d.bytes_sent),
               count(d.xact_time_us), count(d.query_time_us), count(d.wait_time_us)});
    return t;
}

// Totals, then averages since pggate started: counts and bytes per second,
// times per transaction or query (µs).
Table show_stats(const shm::Segment& shm, Clocks now) {
    Table t({{"database", ColumnType::Text},
             {"total_xact_count", ColumnType::Int8},
             {"total_query_count", ColumnType::Int8},
             {"total_received", ColumnType::Int8},
             {"total_sent", ColumnType::Int8},
             {"total_xact_time", ColumnType::Int8},
             {"total_query_time", ColumnType::Int8},
             {"total_wait_time", ColumnType::Int8},
             {"avg_xact_count", ColumnType::Int8},
             {"avg_query_count", ColumnType::Int8},
             {"avg_recv", ColumnType::Int8},
             {"avg_sent", ColumnType::Int8},
             {"avg_xact_time", ColumnType::Int8},
             {"avg_query_time", ColumnType::Int8},
             {"avg_wait_time", ColumnType::Int8}});
    const auto seconds = static_cast<std::uint64_t>(std::max<std::int64_t>(1, now.unix_s - shm.header().started_at));
    auto per = [](std::uint64_t v, std::uint64_t n) { return count(n == 0 ? 0 : v / n); };
    for (const auto& [database, d] : database_traffic(shm))
        t.add({database, count(d.xact_count), count(d.query_count), count(d.bytes_received), count(d.bytes_sent),
               count(d.xact_time_us), count(d.query_time_us), count(d.wait_time_us), per(d.xact_count, seconds),
               per(d.query_count, seconds), per(d.bytes_received, seconds), per(d.bytes_sent, seconds),
               per(d.xact_time_us, d.xact_count), per(d.query_time_us, d.query_count),
               per(d.wait_time_us, d.xact_count)});
    return t;
}

Table show_prepared(const shm::Segment& shm) {
    Table t({{"worker", ColumnType::Int8},
             {"client_parses", ColumnType::Int8},
             {"server_parses", ColumnType::Int8},
             {"answered_here", ColumnType::Int8},
             {"evictions", ColumnType::Int8}});
    auto count = [](const std::atomic<std::uint64_t>& c) {
        return num(static_cast<std::int64_t>(c.load(std::memory_order_relaxed)));
    };
    for (std::uint32_t w = 0; w < shm.workers(); ++w) {
        const shm::PreparedStats& p = shm.stats(w).prepared;
        t.add({num(w), count(p.client_parses), count(p.server_parses), count(p.answered_here), count(p.evictions)});
    }
    return t;
}

Table show_version() {
    Table t({{"version", ColumnType::Text}});
    t.add({std::string("pggate ") + PGGATE_VERSION});
    return t;
}

constexpr const char* kHelp[] = {
    "SHOW HELP|VERSION|CONFIG|POOLS|CLIENTS|SERVERS|NODES|WORKERS|DATABASES|USERS|LISTS|STATS|STATS_TOTALS|PREPARED",
    "SET key = value",
    "KILL_CLIENT id",
    "PAUSE [db]",
    "RESUME [db]",
    "DISABLE db",
    "ENABLE db",
    "RECONNECT [db]",
    "KILL [db]",
    "RELOAD",
    "SHUTDOWN [WAIT_FOR_SERVERS | WAIT_FOR_CLIENTS]",
};

}  // namespace


std::uint64_t servers_in_use(const shm::Segment& shm, std::string_view database) {
    std::uint64_t in_use = 0;
    for (const PoolView& v : pools(shm))
        if (is_pool(v) && (database.empty() || v.database == database)) in_use += v.sv_active;
    return in_use;
}

Outcome show(std::string_view what, const config::Config& config, const shm::Segment& shm, Clocks now) {
    auto table = [](Table t) { return Outcome{std::move(t), {}, {}, {}, {}}; };
    if (what == "pools") return table(show_pools(config, shm, now));
    if (what == "nodes") return table(show_nodes(config, shm, now));
    if (what == "workers") return table(show_workers(shm, now));
    if (what == "databases") return table(show_databases(config, shm));
    if (what == "users") return table(show_users(config, shm));
    if (what == "lists") return table(show_lists(config, shm));
    if (what == "version") return table(show_version());
    if (what == "config") return table(show_config(config));
    if (what == "prepared") return table(show_prepared(shm));
    if (what == "clients") return table(show_clients(config, shm, now));
    if (what == "stats") return table(show_stats(shm, now));
    if (what == "servers") return table(show_servers(config, shm));
    if (what == "stats_totals") return table(show_stats_totals(shm));
    if (what == "help") {
        Table t({{"command", ColumnType::Text}});
        for (const char* line : kHelp) t.add({line});
        return table(std::move(t));
    }
    return Outcome::fail("42601", "unknown SHOW subject \"" + std::string(what) + "\" (SHOW HELP lists them)");
}

}  // namespace pggate::admin
