// The books of auth_query lookups (sans-IO): answers cached for a while, and
// the clients waiting for a lookup in flight, so that any number of clients
// logging in as one user at once cost one query.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pggate::auth {

enum class LookupOutcome {
    Found,     // `secret` is the user's
    NotFound,  // no such user, or none that may log in: a wrong password for the client
    Failed,    // the lookup itself went wrong (`error` says how); nothing is known of the user
};

struct LookupResult {
    LookupOutcome outcome = LookupOutcome::Failed;
    std::string secret;
    std::string error;
};

// (database the query runs in, user name)
using LookupKey = std::pair<std::string, std::string>;

class LookupTable {
public:
    using Clock = std::chrono::steady_clock;
    // Chosen by the caller, unique among its waiters (pggate: the client's id).
    using WaiterId = std::uint64_t;
    using Callback = std::function<void(const LookupResult&)>;

    // The answer for `key` if one younger than the TTL is kept.
    const LookupResult* cached(const LookupKey& key, Clock::time_point now);

    // Queues `done` for the answer to `key`. Returns true when no lookup of
    // `key` was in flight: the caller must start one and report its end to
    // finish().
    bool wait(const LookupKey& key, WaiterId id, Callback done);

    // Forgets a waiter; its callback will not be called. Unknown ids are fine.
    void cancel(WaiterId id);

    // The lookup of `key` ended: Found and NotFound are kept for `ttl`
    // seconds (0: not at all), Failed never. Every waiter still queued is
    // called, in the order they came; a callback may call any member,
    // including wait() for the same key, which then starts a new lookup.
    void finish(const LookupKey& key, const LookupResult& result, Clock::time_point now, double ttl);

    // Forgets every cached answer (lookups in flight go on).
    void clear_cache() { cache_.clear(); }

    bool in_flight(const LookupKey& key) const { return pending_.count(key) != 0; }
    std::size_t waiters() const { return callbacks_.size(); }
    std::size_t cached_answers() const { return cache_.size(); }

private:
    struct Entry {
        LookupResult result;
        Clock::time_point expires;
    };
    void prune(Clock::time_point now);

    std::map<LookupKey, Entry> cache_;
    std::map<LookupKey, std::vector<WaiterId>> pending_;
    std::unordered_map<WaiterId, Callback> callbacks_;
    // Expired answers are dropped when the cache has grown past this.
    std::size_t prune_at_ = kMinPruneSize;
    static constexpr std::size_t kMinPruneSize = 1024;
};

}  // namespace pggate::auth
