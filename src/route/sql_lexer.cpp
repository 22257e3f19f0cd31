// PostgreSQL lexical rules as documented in "Lexical Structure" (SQL Syntax).
#include "route/sql_lexer.hpp"
#include "core/ascii.hpp"

#include <algorithm>
#include <cstring>

namespace pggate::route {

namespace {

// ASCII character classes, as PostgreSQL's scanner has them (bytes from
// 0x80 up start identifiers); not <cctype>'s, which follow the locale and
// cost a library call per byte.
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool ident_start(char c) { return is_letter(c) || c == '_' || static_cast<unsigned char>(c) >= 0x80; }
bool ident_char(char c) { return ident_start(c) || is_digit(c) || c == '$'; }
bool operator_char(char c) {
    switch (c) {
        case '+': case '-': case '*': case '/': case '<': case '>': case '=': case '~': case '!':
        case '@': case '#': case '%': case '^': case '&': case '|': case '`': case '?':
            return true;
        default:
            return false;
    }
}

class Lexer {
public:
    Lexer(std::string_view s, std::size_t max_tokens) : s_(s), max_(max_tokens) {}

    LexResult run() {
        while (i_ < s_.size() && result_.complete) {
            std::size_t start = i_;
            std::size_t tokens = current_.size();
            step();
            if (current_.size() > tokens) {
                current_.back().begin = start;
                current_.back().end = i_;
            }
        }
        end_statement();
        return std::move(result_);
    }

private:
    void emit(TokenKind kind, std::string text) {
        if (current_.size() >= max_) return;
        if (current_.empty()) current_.reserve(std::min<std::size_t>(max_, 16));
        current_.push_back({kind, std::move(text)});
    }
    void end_statement() {
        if (!current_.empty()) result_.statements.push_back(std::move(current_));
        current_.clear();
    }
    char at(std::size_t k) const { return k < s_.size() ? s_[k] : '\0'; }

    // A quoted run ending at an unescaped `quote`; a doubled quote is one.
    // With `backslash`, a backslash escapes the next character (E'' strings).
    bool skip_quoted(char quote, bool backslash) {
        ++i_;
        while (i_ < s_.size()) {
            char c = s_[i_];
            if (backslash && c == '\\') {
                i_ += 2;
                continue;
            }
            if (c == quote) {
                if (at(i_ + 1) == quote) {
                    i_ += 2;
                    continue;
                }
                ++i_;
                return true;
            }
            ++i_;
        }
        result_.complete = false;
        return false;
    }

    void string_token(std::size_t start, char quote, bool backslash) {
        i_ = start;
        while (s_[i_] != quote) ++i_;
        if (skip_quoted(quote, backslash)) emit(TokenKind::String, std::string(s_.substr(start, i_ - start)));
    }

    // $tag$ … $tag$; returns false if what starts at i_ is no dollar quote.
    bool dollar_quote() {
        std::size_t j = i_ + 1;
        if (at(j) != '$' && !(ident_start(at(j)) && at(j) != '$')) return false;
        while (j < s_.size() && s_[j] != '$') {
            if (!ident_char(s_[j]) || s_[j] == '$') return false;
            ++j;
        }
        if (j >= s_.size()) return false;
        std::string_view tag = s_.substr(i_, j - i_ + 1);
        std::size_t end = s_.find(tag, j + 1);
        if (end == std::string_view::npos) {
            result_.complete = false;
            return true;
        }
        emit(TokenKind::String, std::string(s_.substr(i_, end + tag.size() - i_)));
        i_ = end + tag.size();
        return true;
    }

    void step() {
        char c = s_[i_];
        char n = at(i_ + 1);
        if (is_space(c)) {
            ++i_;
        } else if (c == '-' && n == '-') {
            while (i_ < s_.size() && s_[i_] != '\n') ++i_;
        } else if (c == '/' && n == '*') {
            int depth = 0;
            while (i_ < s_.size()) {
                if (s_[i_] == '/' && at(i_ + 1) == '*') {
                    ++depth;
                    i_ += 2;
                } else if (s_[i_] == '*' && at(i_ + 1) == '/') {
                    i_ += 2;
                    if (--depth == 0) return;
                } else {
                    ++i_;
                }
            }
            result_.complete = false;
        } else if (c == ';') {
            ++i_;
            end_statement();
        } else if (c == '\'') {
            string_token(i_, '\'', false);
        } else if ((c == 'e' || c == 'E') && n == '\'') {
            string_token(i_, '\'', true);
        } else if ((c == 'b' || c == 'B' || c == 'x' || c == 'X' || c == 'n' || c == 'N') && n == '\'') {
            string_token(i_, '\'', false);
        } else if ((c == 'u' || c == 'U') && n == '&' && (at(i_ + 2) == '\'' || at(i_ + 2) == '"')) {
            std::size_t start = i_;
            char q = at(i_ + 2);
            i_ += 2;
            if (skip_quoted(q, false))
                emit(q == '\'' ? TokenKind::String : TokenKind::QuotedIdent, std::string(s_.substr(start, i_ - start)));
        } else if (c == '"') {
            std::size_t start = i_;
            if (skip_quoted('"', false)) {
                std::string text;
                for (std::size_t k = start + 1; k + 1 < i_; ++k) {
                    text += s_[k];
                    if (s_[k] == '"') ++k;
                }
                emit(TokenKind::QuotedIdent, std::move(text));
            }
        } else if (c == '$' && is_digit(n)) {
            std::size_t start = i_++;
            while (is_digit(at(i_))) ++i_;
            emit(TokenKind::Param, std::string(s_.substr(start, i_ - start)));
        } else if (c == '$') {
            if (!dollar_quote()) {
                emit(TokenKind::Punct, "$");
                ++i_;
            }
        } else if (ident_start(c)) {
            std::size_t start = i_;
            while (i_ < s_.size() && ident_char(s_[i_])) ++i_;
            std::string word(s_.substr(start, i_ - start));
            for (char& ch : word) ch = ascii_lower(ch);
            emit(TokenKind::Word, std::move(word));
        } else if (is_digit(c) || (c == '.' && is_digit(n))) {
            std::size_t start = i_;
            while (i_ < s_.size()) {
                char ch = s_[i_];
                bool exponent_sign = (ch == '+' || ch == '-') && (s_[i_ - 1] == 'e' || s_[i_ - 1] == 'E') &&
                                     is_digit(at(i_ + 1));
                if (!is_letter(ch) && !is_digit(ch) && ch != '.' && ch != '_' && !exponent_sign) break;
                ++i_;
            }
            emit(TokenKind::Number, std::string(s_.substr(start, i_ - start)));
        } else if (operator_char(c)) {
            std::size_t start = i_;
            while (i_ < s_.size() && operator_char(s_[i_]) && !(s_[i_] == '-' && at(i_ + 1) == '-') &&
                   !(s_[i_] == '/' && at(i_ + 1) == '*'))
                ++i_;
            if (i_ == start) ++i_;
            // PostgreSQL: a multi-character operator ends in + or - only if it
            // also holds one of ~ ! @ # % ^ & | ` ?, so "*-2" is "*" then "-".
            std::string_view op = s_.substr(start, i_ - start);
            if (op.find_first_of("~!@#%^&|`?") == std::string_view::npos)
                while (op.size() > 1 && (op.back() == '+' || op.back() == '-')) op.remove_suffix(1);
            i_ = start + op.size();
            emit(TokenKind::Operator, std::string(op));
        } else {
            emit(TokenKind::Punct, std::string(1, c));
            ++i_;
        }
    }

    std::string_view s_;
    std::size_t max_;
    std::size_t i_ = 0;
    Statement current_;
    LexResult result_;
};

}  // namespace

bool temp_schema(const Token& t) {
    std::string_view s = t.text;
    if ((t.kind != TokenKind::Word && t.kind != TokenKind::QuotedIdent) || !s.starts_with("pg_temp")) return false;
    s.remove_prefix(std::string_view("pg_temp").size());
    if (s.empty()) return true;
    return s.size() > 1 && s[0] == '_' && std::all_of(s.begin() + 1, s.end(), is_digit);
}

bool names_temp_object(std::span<const Token> st) {
    for (std::size_t i = 0; i + 1 < st.size(); ++i)
        if (temp_schema(st[i]) && is_punct(st, i + 1, ".")) return true;
    return false;
}

bool mentions(std::string_view sql, std::string_view lower_word) {
    if (lower_word.size() > sql.size()) return false;
    if (lower_word.empty()) return true;
    // Candidates are found by memchr, for each case of the first letter.
    const char lower = lower_word.front();
    const char upper = is_letter(lower) ? static_cast<char>(lower - ('a' - 'A')) : lower;
    const char* const text = sql.data();
    const std::size_t starts = sql.size() - lower_word.size() + 1;  // positions a match can start at
    for (std::size_t at = 0; at < starts;) {
        const char* found = static_cast<const char*>(std::memchr(text + at, lower, starts - at));
        const std::size_t before = found != nullptr ? static_cast<std::size_t>(found - text) : starts;
        if (upper != lower)
            if (const void* up = std::memchr(text + at, upper, before - at)) found = static_cast<const char*>(up);
        if (found == nullptr) return false;
        std::size_t k = 1;
        while (k < lower_word.size() && ascii_lower(found[k]) == lower_word[k]) ++k;
        if (k == lower_word.size()) return true;
        at = static_cast<std::size_t>(found - text) + 1;
    }
    return false;
}

LexResult lex_sql(std::string_view sql, std::size_t max_tokens) { return Lexer(sql, max_tokens).run(); }

}  // namespace pggate::route
