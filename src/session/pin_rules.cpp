// Pin rules over the SQL tokenizer: SET ROLE /
// SESSION AUTHORIZATION, PREPARE, LISTEN, LOAD, WITH HOLD cursors, temporary
// objects, session advisory locks and session-level set_config() calls that
// are not plain enough to replay.
#include "session/pin_rules.hpp"

#include <cstddef>

#include "route/sql_lexer.hpp"
#include "session/session_sets.hpp"

namespace pggate::session {

namespace {

using route::Statement;
using route::TokenKind;

using route::is_punct;
using route::is_word;

// set_config(name, value, is_local) stays in the transaction only when
// is_local is the literal true; `open` is the index of its "(".
bool local_set_config(const Statement& st, std::size_t open) {
    int depth = 0;
    int arg = 0;
    std::size_t third_start = 0;
    for (std::size_t j = open; j < st.size(); ++j) {
        const std::string& t = st[j].text;
        if (st[j].kind == TokenKind::Punct && (t == "(" || t == "[")) ++depth;
        if (st[j].kind == TokenKind::Punct && (t == ")" || t == "]") && --depth == 0)
            return arg == 2 && j == third_start + 1 && is_word(st, third_start, "true");
        if (depth == 1 && st[j].kind == TokenKind::Punct && t == ",") {
            ++arg;
            third_start = j + 1;
        }
    }
    return false;
}

const char* set_reason(const Statement& st) {
    std::size_t i = 1;
    if (is_word(st, i, "local") || is_word(st, i, "transaction")) return nullptr;
    if (is_word(st, i, "session")) {
        ++i;
        if (is_word(st, i, "characteristics")) return "SET SESSION CHARACTERISTICS";
    }
    if (is_word(st, i, "role")) return "SET ROLE";
    if (is_word(st, i, "session") || is_word(st, i, "authorization")) return "SET SESSION AUTHORIZATION";
    // Other parameters are carried: by ParameterStatus, or replayed (session_sets).
    return nullptr;
}

const char* statement_reason(const Statement& st, bool prepare_replayed) {
    // "(select …) union (…)": the statement proper starts after the parentheses.
    std::size_t open = 0;
    while (is_punct(st, open, "(")) ++open;
    if (open > 0)
        return statement_reason(Statement(st.begin() + static_cast<std::ptrdiff_t>(open), st.end()), prepare_replayed);
    if (st.empty() || st[0].kind != TokenKind::Word) return nullptr;
    const std::string& first = st[0].text;
    if (first == "explain") {
        // Only EXPLAIN ANALYZE runs the statement it explains.
        bool analyze = false;
        std::size_t i = 1;
        if (is_punct(st, i, "(")) {
            for (int depth = 0; i < st.size(); ++i) {
                if (is_punct(st, i, "(")) ++depth;
                if (is_punct(st, i, ")") && --depth == 0) {
                    ++i;
                    break;
                }
                if (is_word(st, i, "analyze") || is_word(st, i, "analyse")) analyze = true;
            }
        } else {
            for (; is_word(st, i, "analyze") || is_word(st, i, "analyse") || is_word(st, i, "verbose"); ++i)
                analyze = analyze || !is_word(st, i, "verbose");
        }
        return analyze ? statement_reason(Statement(st.begin() + static_cast<std::ptrdiff_t>(i), st.end()),
                                          prepare_replayed)
                       : nullptr;
    }
    if (first == "set") return set_reason(st);
    if (first == "prepare") return prepare_replayed ? nullptr : "PREPARE";
    if (first == "listen") return "LISTEN";
    if (first == "load") return "LOAD";
    if (first == "create") {
        // TEMP/TEMPORARY comes before the kind of object: CREATE [OR REPLACE]
        // [GLOBAL|LOCAL] TEMP TABLE/VIEW/SEQUENCE.
        for (std::size_t i = 1; i < st.size() && st[i].kind == TokenKind::Word; ++i) {
            const std::string& w = st[i].text;
            if (w == "temp" || w == "temporary") return "a temporary object";
            if (w != "or" && w != "replace" && w != "global" && w != "local") break;
        }
        // CREATE TABLE pg_temp.t makes a temporary table without the keyword.
        if (route::names_temp_object(st)) return "a temporary object";
    }
    const bool select = first == "select" || first == "with";
    if (first == "select" && replayable_set_config(st)) return nullptr;
    for (std::size_t i = 0; i < st.size(); ++i) {
        if (st[i].kind != TokenKind::Word && st[i].kind != TokenKind::QuotedIdent) continue;
        const std::string& w = st[i].text;
        const bool call = i + 1 < st.size() && st[i + 1].text == "(";
        if (st[i].kind == TokenKind::Word && first == "declare" && w == "with" && is_word(st, i + 1, "hold"))
            return "a cursor WITH HOLD";
        if (select && st[i].kind == TokenKind::Word && w == "into" &&
            (is_word(st, i + 1, "temp") || is_word(st, i + 1, "temporary") ||
             (i + 1 < st.size() && route::temp_schema(st[i + 1]) && is_punct(st, i + 2, "."))))
            return "a temporary table";
        if (call && (w == "pg_advisory_lock" || w == "pg_advisory_lock_shared" || w == "pg_try_advisory_lock" ||
                     w == "pg_try_advisory_lock_shared"))
            return "a session advisory lock";
        if (call && w == "set_config" && !local_set_config(st, i + 1)) return "set_config() at session level";
    }
    return nullptr;
}

}  // namespace

const char* pin_reason(std::string_view sql, bool prepare_replayed) {
    return pin_reason(route::lex_sql(sql, route::kAllTokens), prepare_replayed);
}

const char* pin_reason(const route::LexResult& lexed, bool prepare_replayed) {
    if (!lexed.complete) return "a statement pggate could not read to its end";
    for (const Statement& st : lexed.statements)
        if (const char* why = statement_reason(st, prepare_replayed)) return why;
    return nullptr;
}

}  // namespace pggate::session
