// Parsing of admin console statements.
#include "admin/command.hpp"
#include "core/ascii.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

namespace pggate::admin {

namespace {

struct Token {
    enum Kind { Word, Quoted, Equals } kind;
    std::string text;  // Word: as written; Quoted: the unquoted content
};

std::string lower(std::string_view s) { return ascii_lowered(s); }

bool word_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '$' ||
           static_cast<unsigned char>(c) >= 0x80;
}

// nullopt with `error` set when the text cannot be split into tokens.
std::optional<std::vector<Token>> tokenize(std::string_view s, std::string& error) {
    std::vector<Token> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const char c = s[i];
        if (std::isspace(static_cast<unsigned char>(c)) || c == ';') {
            ++i;
        } else if (c == '=') {
            out.push_back({Token::Equals, "="});
            ++i;
        } else if (c == '\'' || c == '"') {
            std::string text;
            std::size_t j = i + 1;
            for (;; ++j) {
                if (j >= s.size()) {
                    error = "unterminated quoted string";
                    return std::nullopt;
                }
                if (s[j] == c) {
                    if (j + 1 < s.size() && s[j + 1] == c) {  // doubled quote
                        text += c;
                        ++j;
                        continue;
                    }
                    break;
                }
                text += s[j];
            }
            out.push_back({c == '\'' ? Token::Quoted : Token::Word, std::move(text)});
            i = j + 1;
        } else if (word_char(c)) {
            std::size_t j = i;
            while (j < s.size() && word_char(s[j])) ++j;
            out.push_back({Token::Word, std::string(s.substr(i, j - i))});
            i = j;
        } else {
            error = std::string("syntax error at or near \"") + c + "\"";
            return std::nullopt;
        }
    }
    return out;
}

Command invalid(std::string error) {
    Command c;
    c.verb = Verb::Invalid;
    c.error = std::move(error);
    return c;
}

}  // namespace

std::vector<std::string_view> split_statements(std::string_view text) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    char quote = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quote != 0) {
            if (c == quote) quote = 0;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == ';') {
            out.push_back(text.substr(start, i + 1 - start));
            start = i + 1;
        }
    }
    std::string_view rest = text.substr(start);
    if (rest.find_first_not_of(" \t\r\n") != std::string_view::npos || out.empty()) out.push_back(rest);
    return out;
}

Command parse_command(std::string_view text) {
    std::string error;
    auto tokens = tokenize(text, error);
    if (!tokens) return invalid(error);
    std::vector<Token>& t = *tokens;
    if (t.empty()) return {};
    if (t[0].kind != Token::Word) return invalid("syntax error at or near \"" + t[0].text + "\"");
    const std::string verb = lower(t[0].text);
    auto word_at = [&](std::size_t i) { return i < t.size() && t[i].kind == Token::Word; };

    Command c;
    // Verbs that take no argument, at most one, or exactly one.
    struct Shape {
        const char* name;
        Verb verb;
        int min_args;
        int max_args;
    };
    static constexpr Shape kShapes[] = {
        {"reload", Verb::Reload, 0, 0},       {"suspend", Verb::Suspend, 0, 0},   {"pause", Verb::Pause, 0, 1},
        {"resume", Verb::Resume, 0, 1},       {"reconnect", Verb::Reconnect, 0, 1}, {"kill", Verb::Kill, 0, 1},
        {"disable", Verb::Disable, 1, 1},     {"enable", Verb::Enable, 1, 1},     {"kill_client", Verb::KillClient, 1, 1},
        {"shutdown", Verb::Shutdown, 0, 1},   {"show", Verb::Show, 1, 1},
    };
    for (const Shape& shape : kShapes) {
        if (verb != shape.name) continue;
        const auto args = static_cast<int>(t.size()) - 1;
        if (args < shape.min_args || args > shape.max_args || (args == 1 && !word_at(1)))
            return invalid(args < shape.min_args ? verb + " needs an argument"
                                                 : "syntax error: " + verb + " takes " +
                                                       (shape.max_args == 0 ? "no argument" : "one name"));
        c.verb = shape.verb;
        if (args == 1) c.what = t[1].text;
        if (c.verb == Verb::Show) c.what = lower(c.what);
        if (c.verb == Verb::Shutdown && args == 1) {
            c.what = lower(c.what);
            if (c.what != "wait_for_servers" && c.what != "wait_for_clients")
                return invalid("SHUTDOWN takes WAIT_FOR_SERVERS or WAIT_FOR_CLIENTS, not \"" + t[1].text + "\"");
        }
        if (c.verb == Verb::KillClient && c.what.find_first_not_of("0123456789") != std::string::npos)
            return invalid("KILL_CLIENT takes a client id (a number), not \"" + t[1].text + "\"");
        return c;
    }
    // The console has no transactions; drivers that open one on their own
    // are answered as if it had.
    static constexpr std::pair<const char*, const char*> kTransaction[] = {
        {"begin", "BEGIN"}, {"start", "START TRANSACTION"}, {"commit", "COMMIT"},
        {"end", "COMMIT"},  {"rollback", "ROLLBACK"},       {"abort", "ROLLBACK"},
    };
    for (const auto& [word, tag] : kTransaction) {
        if (verb != word) continue;
        c.verb = Verb::Transaction;
        c.what = tag;
        return c;
    }
    if (verb == "set") {
        // SET key = value | SET key TO value
        if (!word_at(1) || t.size() != 4 || !(t[2].kind == Token::Equals || (word_at(2) && lower(t[2].text) == "to")) ||
            t[3].kind == Token::Equals)
            return invalid("syntax error: SET key = value");
        c.verb = Verb::Set;
        c.what = lower(t[1].text);
        c.value = t[3].text;
        return c;
    }
    return invalid("unknown command \"" + t[0].text + "\" (SHOW HELP lists them)");
}

}  // namespace pggate::admin
