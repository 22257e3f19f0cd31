// Sums the per-worker counter slots and pool occupancy of shared memory.
#include "metrics/snapshot.hpp"

#include <optional>
#include <string_view>

namespace pggate::metrics {

namespace {

std::uint64_t load(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }
std::uint64_t load(const std::atomic<std::uint32_t>& a) { return a.load(std::memory_order_relaxed); }

void add(HistogramSnapshot& to, const shm::Histogram& from) {
    for (std::size_t i = 0; i < shm::kBuckets; ++i) to.buckets[i] += load(from.buckets[i]);
    to.sum_ns += load(from.sum_ns);
}

}  // namespace

std::vector<shm::NodeSample> node_samples(const config::Config& config, const shm::Segment& shm) {
    std::vector<shm::NodeSample> samples;
    for (std::uint32_t i = 0; i < config.nodes.size() && i < shm::kMaxNodes; ++i) {
        shm::NodeSample s = shm.node(i).read();
        const config::Node& n = config.nodes[i];
        samples.push_back(s.ident == shm::node_ident(n.host, n.port) ? s : shm::NodeSample{});
    }
    return samples;
}

Snapshot take_snapshot(const config::Config& config, const shm::Segment& shm) {
    Snapshot s;
    std::vector<shm::NodeSample> samples = node_samples(config, shm);
    s.nodes.resize(samples.size());
    for (std::size_t i = 0; i < samples.size(); ++i) {
        NodeSnapshot& n = s.nodes[i];
        n.name = config.nodes[i].name;
        n.health = samples[i].health;
        n.role = samples[i].role;
        n.lag_bytes = samples[i].lag_bytes;
        n.lag_us = samples[i].lag_us;
    }

    for (std::uint32_t w = 0; w < shm.workers(); ++w) {
        const shm::WorkerSlot& slot = shm.worker(w);
        s.worker_restarts.push_back(load(slot.restarts));
        s.shadow_reads += load(slot.shadow_reads);
        s.shadow_mismatches += load(slot.shadow_mismatches);
        const shm::WorkerStats& st = shm.stats(w);
        s.clients_accepted += load(st.clients_accepted);
        s.clients_rejected += load(st.clients_rejected);
        add(s.pool_wait, st.pool_wait);
        s.client_parses += load(st.prepared.client_parses);
        s.server_parses += load(st.prepared.server_parses);
        s.parses_answered_here += load(st.prepared.answered_here);
        s.prepared_evictions += load(st.prepared.evictions);
        for (std::size_t i = 0; i < s.errors.size(); ++i) s.errors[i] += load(st.errors[i]);
        for (std::size_t i = 0; i < s.nodes.size(); ++i) {
            const shm::NodeStats& from = st.nodes[i];
            NodeSnapshot& to = s.nodes[i];
            for (std::size_t r = 0; r < 2; ++r) {
                to.queries[r] += load(from.queries[r]);
                to.transactions[r] += load(from.transactions[r]);
            }
            add(to.query_duration, from.query_duration);
        }
    }

    for (std::uint32_t p = 0; p < shm::kMaxPools; ++p) {
        const shm::PoolEntry& e = shm.pool(p);
        if (e.state.load(std::memory_order_acquire) != 2) continue;
        const std::optional<shm::PoolKey> key = shm::parse_pool_key(e);
        if (!key || !key->is_pool()) continue;
        // A pool of a node a reload removed counts no more toward any node.
        const std::optional<std::uint32_t> node = config.node_index(key->node);
        for (std::uint32_t w = 0; w < shm.workers(); ++w) {
            const shm::PoolOccupancy& o = shm.occupancy(p, w);
            s.cl_active += load(o.cl_active);
            s.cl_waiting += load(o.cl_waiting);
            if (!node || *node >= s.nodes.size()) continue;
            NodeSnapshot& n = s.nodes[*node];
            const std::uint64_t idle = load(o.sv_idle), active = load(o.sv_active), servers = load(o.servers);
            n.sv_idle += idle;
            n.sv_active += active;
            n.sv_other += servers > idle + active ? servers - idle - active : 0;
        }
    }
    const std::uint64_t clients = shm.header().clients_total.load(std::memory_order_relaxed);
    s.cl_idle = clients > s.cl_active + s.cl_waiting ? clients - s.cl_active - s.cl_waiting : 0;

    const shm::MasterStats& m = shm.master_stats();
    s.reloads_ok = load(m.reloads_ok);
    s.reloads_failed = load(m.reloads_failed);
    return s;
}

}  // namespace pggate::metrics
