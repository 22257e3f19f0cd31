// Session-level SETs under pooling: the statements a client sends are read
// for SET/RESET/savepoints, changes join the client's state only when their
// transaction commits (a savepoint rolled back drops what came after it), and
// a server lent to the client is brought to that state by replaying the
// difference.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pggate::session {

// name (lower case, as PostgreSQL folds it) -> value as the client wrote it.
using SetMap = std::map<std::string, std::string>;

struct SetOp {
    enum class Kind { Set, Reset, ResetAll, Savepoint, Release, RollbackTo, DiscardAll };
    Kind kind;
    std::string name;   // Set/Reset: the parameter; savepoints: the savepoint
    std::string value;  // Set: the value text
};

// The session-state operations of `sql`, in order. Parameters pggate already
// carries by ParameterStatus (application_name, TimeZone, …) are left out.
std::vector<SetOp> session_ops(std::string_view sql);

class SessionSets {
public:
    // Operations the client sent, not yet known to have committed.
    void add(const std::vector<SetOp>& ops);
    bool has_pending() const { return !pending_.empty(); }
    // The client's transaction ended: committed ones become its state (and
    // `server`'s, which ran them); rolled back ones are dropped. Returns
    // whether a DISCARD ALL committed.
    bool end_transaction(bool committed, SetMap& server);

    const SetMap& values() const { return values_; }
    void clear() {
        values_.clear();
        pending_.clear();
    }

private:
    SetMap values_;
    std::vector<SetOp> pending_;
};

// SET/RESET statements that take a server from `server` to `client`; empty if equal.
std::string replay_sets(const SetMap& server, const SetMap& client);

}  // namespace pggate::session
