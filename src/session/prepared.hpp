// Protocol-level named prepared statements under transaction pooling: a
// client's statement names map to server-side names keyed by the statement's
// full text and parameter types, each server keeps an LRU-capped set of the
// statements it has, and the replies of what pggate sent on a client's behalf
// are matched in order (so injected ones never reach the client).
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pggate::session {

struct PreparedStatement {
    std::uint64_t id;
    std::string server_name;  // "pggate_<id>"
    std::string tail;         // the Parse body after the name: query, parameter types
    // The statement's SQL text (the tail starts with it, NUL-terminated).
    std::string_view sql() const { return tail.c_str(); }
    // A server has parsed it without error: an idle client's Parse of it can
    // be answered without a server.
    mutable bool accepted = false;
};

using StatementPtr = std::shared_ptr<const PreparedStatement>;

// One worker's statements, shared by all its clients: the same text and
// types get the same server name, so servers can reuse what others prepared.
class StatementRegistry {
public:
    StatementPtr intern(std::string_view tail);
    // The statement with this text and types, if one is in use; never creates one.
    StatementPtr find(std::string_view tail) const;
    // An id for a statement not shared by text (SQL-level PREPARE); the same
    // numbering, so server names never collide.
    std::uint64_t new_id() { return ++next_id_; }

private:
    std::unordered_map<std::string, std::weak_ptr<const PreparedStatement>> by_tail_;
    std::uint64_t next_id_ = 0;
    std::uint64_t interned_ = 0;
};

// What one server has prepared, and the ParseComplete/CloseComplete replies
// still to come for messages pggate sent it.
class ServerStatements {
public:
    enum class ParseReply { Forward, Confirm, Swallow };
    enum class CloseReply { Forward, AsParseComplete, Swallow };

    bool has(std::uint64_t id);  // also marks it most recently used
    void add(std::uint64_t id);
    // The least recently used statement beyond `cap`, to close; 0 if none.
    std::uint64_t evict_beyond(std::size_t cap);
    void forget(std::uint64_t id);
    void clear();
    bool empty() const { return lru_.empty(); }

    void expect_parse(ParseReply kind, std::uint64_t id, std::uint64_t segment, std::string client_name = {});
    void expect_close(CloseReply kind, std::uint64_t segment);
    struct ParseDone {
        ParseReply kind;
        std::string client_name;  // for Confirm: the client's name of the statement
    };
    ParseDone on_parse_complete();
    CloseReply on_close_complete();

    // After ReadyForQuery ended `completed` segments: replies that never came
    // (the server skipped to Sync after an error) undo what they stood for.
    // Returns the client names whose Parse failed.
    std::deque<std::string> settle(std::uint64_t completed);

private:
    struct PendingParse {
        ParseReply kind;
        std::uint64_t id;
        std::uint64_t segment;
        std::string client_name;
    };
    struct PendingClose {
        CloseReply kind;
        std::uint64_t segment;
    };
    std::list<std::uint64_t> lru_;  // front: most recent
    std::unordered_map<std::uint64_t, std::list<std::uint64_t>::iterator> where_;
    std::deque<PendingParse> parses_;
    std::deque<PendingClose> closes_;
};

}  // namespace pggate::session
