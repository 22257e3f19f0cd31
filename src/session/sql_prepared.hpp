// SQL-level PREPARE / EXECUTE / DEALLOCATE under transaction pooling (pure):
// a client's statement names become server names ("pggate_<id>", the
// namespace protocol-level statements use too), so its statements follow it
// to any server, where a server that lacks one gets it prepared first. A
// PREPARE or DEALLOCATE takes effect for the client only once the server
// has completed it (counted by CommandComplete, in statement order).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pggate::session {

struct SqlStatement {
    std::uint64_t id;
    std::string definition;  // what follows the name in PREPARE: "[(types)] AS statement"

    std::string server_name() const { return "pggate_" + std::to_string(id); }
    // The PREPARE that creates it on a server that lacks it.
    std::string prepare_sql() const { return "PREPARE " + server_name() + " " + definition; }
};

using SqlStatementPtr = std::shared_ptr<const SqlStatement>;

class SqlPrepared {
public:
    struct Plan {
        std::string sql;                      // the text to send, names replaced
        std::vector<SqlStatementPtr> needed;  // statements the server must have first
        std::vector<std::uint64_t> created;   // PREPAREd on the server by `sql` (if it succeeds)
        std::vector<std::uint64_t> dropped;   // DEALLOCATEd on the server by `sql`
    };
    // Rewrites a simple Query (`whole_query`: PREPARE and DEALLOCATE are
    // tracked) or the text of an extended-protocol Parse (only EXECUTE and
    // DEALLOCATE names are replaced; a DEALLOCATE applies at once). nullopt:
    // nothing to replace. `new_id` numbers new statements.
    std::optional<Plan> rewrite(std::string_view sql, bool whole_query, const std::function<std::uint64_t()>& new_id);

    // A Sync the client sent: its ReadyForQuery must not end a Query's tracking.
    void on_sync();
    // A CommandComplete from the server.
    void on_command_complete();
    // ReadyForQuery: statements of the oldest Query that did not complete took no effect.
    void on_ready_for_query();
    // PREPAREs or DEALLOCATEs wait for their CommandComplete.
    bool awaiting() const { return !in_flight_.empty(); }
    // DEALLOCATE ALL or DISCARD ALL ran.
    void clear() { by_name_.clear(); }
    bool empty() const { return by_name_.empty(); }

private:
    enum class Action { Prepare, Deallocate, DeallocateAll };
    struct Pending {
        std::size_t statement;  // its place in the Query: completes with CommandComplete number statement + 1
        Action action;
        std::string name;
        SqlStatementPtr stmt;
    };
    // A Query or Sync in flight, while any of them has something to track.
    struct InFlight {
        std::vector<Pending> pending;
        std::size_t next = 0;       // the first pending not applied
        std::size_t completed = 0;  // CommandCompletes seen
    };
    std::optional<Plan> plan_for(std::string_view sql, bool whole_query, const std::function<std::uint64_t()>& new_id,
                                 std::vector<Pending>& pending);
    void apply(const Pending& p);

    std::unordered_map<std::string, SqlStatementPtr> by_name_;  // client name (as PostgreSQL folds it)
    // Oldest first; a vector, which costs a client nothing while empty (a
    // deque allocates half a kilobyte at once).
    std::vector<InFlight> in_flight_;
};

}  // namespace pggate::session
