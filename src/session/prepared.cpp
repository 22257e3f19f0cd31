// Statement registry and per-server prepared statement bookkeeping.
#include "session/prepared.hpp"

namespace pggate::session {

StatementPtr StatementRegistry::intern(std::string_view tail) {
    std::string key(tail);
    auto it = by_tail_.find(key);
    if (it != by_tail_.end())
        if (StatementPtr p = it->second.lock()) return p;
    // Statements no client uses any more are dropped now and then.
    if (++interned_ % 1024 == 0)
        for (auto e = by_tail_.begin(); e != by_tail_.end();) e = e->second.expired() ? by_tail_.erase(e) : std::next(e);
    std::uint64_t id = ++next_id_;
    auto p = std::make_shared<const PreparedStatement>(PreparedStatement{id, "pggate_" + std::to_string(id), std::move(key)});
    by_tail_[p->tail] = p;
    return p;
}

StatementPtr StatementRegistry::find(std::string_view tail) const {
    auto it = by_tail_.find(std::string(tail));
    return it == by_tail_.end() ? nullptr : it->second.lock();
}

bool ServerStatements::has(std::uint64_t id) {
    auto it = where_.find(id);
    if (it == where_.end()) return false;
    lru_.splice(lru_.begin(), lru_, it->second);
    return true;
}

void ServerStatements::add(std::uint64_t id) {
    if (has(id)) return;
    lru_.push_front(id);
    where_[id] = lru_.begin();
}

std::uint64_t ServerStatements::evict_beyond(std::size_t cap) {
    if (lru_.size() <= cap) return 0;
    std::uint64_t id = lru_.back();
    forget(id);
    return id;
}

void ServerStatements::forget(std::uint64_t id) {
    auto it = where_.find(id);
    if (it == where_.end()) return;
    lru_.erase(it->second);
    where_.erase(it);
}

void ServerStatements::clear() {
    lru_.clear();
    where_.clear();
    parses_.clear();
    closes_.clear();
}

void ServerStatements::expect_parse(ParseReply kind, std::uint64_t id, std::uint64_t segment, std::string client_name) {
    parses_.push_back({kind, id, segment, std::move(client_name)});
}

void ServerStatements::expect_close(CloseReply kind, std::uint64_t segment) { closes_.push_back({kind, segment}); }

ServerStatements::ParseDone ServerStatements::on_parse_complete() {
    if (parses_.empty()) return {ParseReply::Forward, {}};
    ParseDone done{parses_.front().kind, std::move(parses_.front().client_name)};
    parses_.pop_front();
    return done;
}

ServerStatements::CloseReply ServerStatements::on_close_complete() {
    if (closes_.empty()) return CloseReply::Forward;
    CloseReply kind = closes_.front().kind;
    closes_.pop_front();
    return kind;
}

std::deque<std::string> ServerStatements::settle(std::uint64_t completed) {
    std::deque<std::string> failed;
    while (!parses_.empty() && parses_.front().segment < completed) {
        PendingParse& p = parses_.front();
        if (p.kind != ParseReply::Forward) forget(p.id);
        if (!p.client_name.empty()) failed.push_back(std::move(p.client_name));
        parses_.pop_front();
    }
    while (!closes_.empty() && closes_.front().segment < completed) closes_.pop_front();
    return failed;
}

}  // namespace pggate::session
