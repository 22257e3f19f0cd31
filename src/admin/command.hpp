// The admin console's command language: one statement of text (SHOW POOLS,
// RELOAD, PAUSE db, ...) parsed into a verb and its arguments (pure).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pggate::admin {

enum class Verb {
    Empty,     // nothing but blanks and semicolons
    Show,      // SHOW what
    Set,       // SET key = value
    Reload,
    Pause,     // [db]
    Resume,    // [db]
    Disable,   // db
    Enable,    // db
    Reconnect, // [db]
    Kill,      // [db]
    KillClient,// id
    Suspend,
    Shutdown,  // [WAIT_FOR_SERVERS | WAIT_FOR_CLIENTS]
    Transaction,  // BEGIN, COMMIT, ROLLBACK...: drivers' own; `what` is the tag
    Invalid,   // `error` says why
};

struct Command {
    Verb verb = Verb::Empty;
    std::string what;   // SHOW's subject (lower case), SET's key, the db or id argument, SHUTDOWN's mode (lower case)
    std::string value;  // SET's value, unquoted
    std::string error;  // Invalid: the message of a 42601 error
    // Whether a stats_users member may run it (SHOW only).
    bool read_only() const { return verb == Verb::Show || verb == Verb::Empty || verb == Verb::Transaction; }
};

// One statement, case-insensitive, with an optional trailing ';'.
Command parse_command(std::string_view text);

// Splits a simple Query's text into its statements at ';' outside quotes.
std::vector<std::string_view> split_statements(std::string_view text);

}  // namespace pggate::admin
