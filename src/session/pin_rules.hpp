// Which statements leave session state on their server that pggate cannot yet
// recreate on another one: a client that runs one stays on its server (is
// pinned) until it disconnects, in every pool mode.
#pragma once

#include <string_view>

#include "route/sql_lexer.hpp"

namespace pggate::session {

// Why `sql` (one or more statements) pins its client; nullptr if it does not.
// Text that cannot be read to the end pins too. SQL PREPARE pins unless
// `prepare_replayed` (pggate carries the client's SQL statements itself).
const char* pin_reason(std::string_view sql, bool prepare_replayed = false);
// The same for text already lexed without a token limit.
const char* pin_reason(const route::LexResult& lexed, bool prepare_replayed = false);

}  // namespace pggate::session
