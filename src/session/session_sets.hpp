// Session-level SETs under pooling: the statements a client sends are read
// for SET/RESET/savepoints, changes join the client's state only when their
// transaction commits (a savepoint rolled back drops what came after it), and
// a server lent to the client is brought to that state by replaying the
// difference.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "route/sql_lexer.hpp"

namespace pggate::session {

// A parameter's value as the client gave it, and so as pggate replays it:
// SQL text for "SET name = <sql>", or (literal) a string literal for
// "set_config(name, <sql>, false)", which takes the string as the whole value
// where SET would read it as one element of a list (search_path = 'a,b').
struct SetValue {
    std::string sql;
    bool literal = false;

    SetValue() = default;
    SetValue(std::string text, bool is_literal = false) : sql(std::move(text)), literal(is_literal) {}
    SetValue(const char* text) : sql(text) {}
    bool operator==(const SetValue&) const = default;
};

// name (lower case, as PostgreSQL folds it) -> value.
using SetMap = std::map<std::string, SetValue>;

struct SetOp {
    enum class Kind { Set, Reset, ResetAll, Savepoint, Release, RollbackTo, DiscardAll };
    Kind kind;
    std::string name;  // Set/Reset: the parameter; savepoints: the savepoint
    SetValue value;    // Set only
};

// The session-state operations of `sql`, in order. Parameters pggate already
// carries by ParameterStatus (application_name, TimeZone, …) are left out.
// Besides SET, RESET, DISCARD ALL and savepoints, "SELECT set_config('name',
// '<value>', false)" (several calls in one select list too) counts as a SET.
std::vector<SetOp> session_ops(std::string_view sql);
// The same for `sql` already lexed (with route::kAllTokens, as the relay does).
std::vector<SetOp> session_ops(std::string_view sql, const route::LexResult& lexed);

// Whether a statement is such a select of session-level set_config() calls,
// which pggate replays (so it does not pin the client).
bool replayable_set_config(const route::Statement& st);

// The settings in a startup packet's `options` parameter ("-c name=value",
// "--name=value"; a backslash escapes the next character), in order.
std::vector<std::pair<std::string, std::string>> parse_startup_options(std::string_view options);

// A value as a SQL string literal, whatever it contains.
std::string sql_literal(std::string_view value);

class SessionSets {
public:
    // The client's connect-time settings: where RESET, RESET ALL and DISCARD
    // ALL take it back to, as on a connection of its own.
    void set_baseline(SetMap baseline) {
        baseline_ = std::move(baseline);
        values_ = baseline_;
    }

    // Operations the client sent, not yet known to have committed.
    void add(const std::vector<SetOp>& ops);
    bool has_pending() const { return !pending_.empty(); }
    struct Outcome {
        bool discard_all = false;  // a DISCARD ALL committed
        bool reset = false;        // a RESET committed: the server went to its own defaults
    };
    // The client's transaction ended: committed ones become its state (and
    // `server`'s, which ran them); rolled back ones are dropped.
    Outcome end_transaction(bool committed, SetMap& server);

    const SetMap& values() const { return values_; }

private:
    // Folds one change into the client's state: resets go back to its baseline.
    void apply(SetMap& m, const SetOp& op) const;

    SetMap baseline_;
    SetMap values_;
    std::vector<SetOp> pending_;
};

// SET/RESET statements that take a server from `server` to `client`; empty if equal.
std::string replay_sets(const SetMap& server, const SetMap& client);

}  // namespace pggate::session
