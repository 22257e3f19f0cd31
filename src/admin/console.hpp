// One admin console session, sans-IO: the client's messages in (simple and
// extended query protocol), the answers out. What a command does and shows
// is left to the owner's runner, so this holds only protocol state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "admin/command.hpp"
#include "admin/table.hpp"
#include "core/bytes.hpp"

namespace pggate::admin {

// The virtual database a client names to reach the console.
inline constexpr std::string_view kAdminDatabase = "pggate";

// What running a command gave: a table (SHOW), else a command tag, or an error.
struct Outcome {
    std::optional<Table> table;
    std::string tag;
    std::string sqlstate;  // set: an error with `error` as its message
    std::string error;
    // Set: the command is done only once this returns its outcome (PAUSE
    // waits for servers to be released, RELOAD for the master's answer),
    // which may still be an error; the console answers nothing meanwhile.
    std::function<std::optional<Outcome>()> until;

    static Outcome done(std::string tag) { return Outcome{std::nullopt, std::move(tag), {}, {}, {}}; }
    static Outcome fail(std::string sqlstate, std::string message) {
        return Outcome{std::nullopt, {}, std::move(sqlstate), std::move(message), {}};
    }
};

class Console {
public:
    // `describe_only`: the client only asks for the result's columns (a
    // Describe), so the command must have no effect.
    using Runner = std::function<Outcome(const Command&, bool describe_only)>;

    // `may_modify`: an admin_users member (else stats_users: SHOW only).
    Console(bool may_modify, Runner run) : may_modify_(may_modify), run_(std::move(run)) {}

    // One whole message from the client. Appends the answer to `out`; false
    // when the session ends (Terminate, or a protocol violation answered
    // with a FATAL in `out`).
    bool on_message(char type, std::span<const std::uint8_t> body, Bytes& out);

    // A command is waiting for its `until`: the owner feeds no message
    // until it is done, and calls poll() now and then.
    bool busy() const { return deferred_.has_value(); }
    // Finishes the waiting command if it is done (and the rest of its query).
    void poll(Bytes& out);

private:
    Outcome run(const Command& command, bool describe_only);
    // False when a command of it waits (poll() finishes the query).
    bool simple_query(std::string_view text, Bytes& out);
    // Runs statements from `first` on; false when one waits.
    bool run_statements(std::vector<std::string> statements, std::size_t first, Bytes& out);
    void describe(const std::string& query, Bytes& out);
    void execute(const std::string& query, Bytes& out);
    void extended_error(const std::string& sqlstate, const std::string& message, Bytes& out);

    bool may_modify_;
    Runner run_;
    std::map<std::string, std::string> statements_;  // prepared statement name -> query text
    std::map<std::string, std::string> portals_;     // portal name -> query text
    bool skip_to_sync_ = false;  // an extended-protocol error: ignore all up to Sync
    // Appends a finished command's answer: its rows, its tag, or its error.
    // `simple`: in a simple query (rows come with their description); else
    // an Execute's (an error skips all up to Sync). False for an error.
    bool answer(Outcome& o, bool simple, Bytes& out);

    struct Deferred {
        std::function<std::optional<Outcome>()> until;
        // A simple query's statements, and the one to go on from; empty for an Execute.
        std::vector<std::string> statements;
        std::size_t next = 0;
        bool simple = false;
    };
    std::optional<Deferred> deferred_;
};

}  // namespace pggate::admin
