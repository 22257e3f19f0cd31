// Cache and waiters of auth_query lookups.
#include "auth/lookup_table.hpp"

#include <algorithm>

namespace pggate::auth {

const LookupResult* LookupTable::cached(const LookupKey& key, Clock::time_point now) {
    auto it = cache_.find(key);
    if (it == cache_.end()) return nullptr;
    if (it->second.expires <= now) {
        cache_.erase(it);
        return nullptr;
    }
    return &it->second.result;
}

bool LookupTable::wait(const LookupKey& key, WaiterId id, Callback done) {
    callbacks_[id] = std::move(done);
    auto [it, first] = pending_.try_emplace(key);
    it->second.push_back(id);
    return first;
}

void LookupTable::cancel(WaiterId id) { callbacks_.erase(id); }

void LookupTable::finish(const LookupKey& key, const LookupResult& result, Clock::time_point now, double ttl) {
    if (result.outcome != LookupOutcome::Failed && ttl > 0) {
        auto life = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(ttl));
        cache_.insert_or_assign(key, Entry{result, now + life});
        if (cache_.size() >= prune_at_) prune(now);
    }
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    // Taken out first: a callback may start the next lookup of the same key.
    std::vector<WaiterId> ids = std::move(it->second);
    pending_.erase(it);
    for (WaiterId id : ids) {
        auto cb = callbacks_.find(id);
        if (cb == callbacks_.end()) continue;  // cancelled, maybe by an earlier callback
        Callback done = std::move(cb->second);
        callbacks_.erase(cb);
        done(result);
    }
}

void LookupTable::prune(Clock::time_point now) {
    std::erase_if(cache_, [&](const auto& entry) { return entry.second.expires <= now; });
    prune_at_ = std::max(kMinPruneSize, 2 * cache_.size());
}

}  // namespace pggate::auth
