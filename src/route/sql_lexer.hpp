// A tokenizer of PostgreSQL's lexical grammar (no regular expressions): it
// knows comments (nested /* */ and --), every string form ('', E'', U&'',
// B'', X'', dollar quotes with tags), quoted identifiers and parameters, and
// splits multi-statement text at the semicolons that end statements.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pggate::route {

enum class TokenKind { Word, QuotedIdent, String, Number, Param, Punct, Operator };

struct Token {
    TokenKind kind;
    std::string text;  // Word: lower-cased; QuotedIdent: as written, quotes removed; String: raw
    std::size_t begin = 0;  // where it stands in the SQL text: [begin, end)
    std::size_t end = 0;
};

using Statement = std::vector<Token>;

struct LexResult {
    std::vector<Statement> statements;  // empty statements are dropped
    bool complete = true;               // false: an unterminated string, quote or comment
};

// Whether token `i` of `st` (a statement or part of one) is the
// (lower-case) keyword or name `w`.
inline bool is_word(std::span<const Token> st, std::size_t i, std::string_view w) {
    return i < st.size() && st[i].kind == TokenKind::Word && st[i].text == w;
}

// Whether token `i` of `st` is the punctuation `p`.
inline bool is_punct(std::span<const Token> st, std::size_t i, std::string_view p) {
    return i < st.size() && st[i].kind == TokenKind::Punct && st[i].text == p;
}

// Whether `t` names a session's temporary schema: pg_temp, or pg_temp_<n>
// as PostgreSQL names it. Temporary objects exist only in the backend that
// made them.
bool temp_schema(const Token& t);

// Whether `st` names an object in a temporary schema (pg_temp.t).
bool names_temp_object(std::span<const Token> st);

// Whether `lower_word` (lower case) appears anywhere in `sql`, in any case:
// a cheap test before tokenizing text that must name it to matter.
bool mentions(std::string_view sql, std::string_view lower_word);

// A token limit that keeps every token.
inline constexpr std::size_t kAllTokens = static_cast<std::size_t>(-1);

// Tokenizes `sql`, stopping after `max_tokens` tokens per statement (the
// rest of a long statement is skipped, but still split correctly).
LexResult lex_sql(std::string_view sql, std::size_t max_tokens = 64);

}  // namespace pggate::route
