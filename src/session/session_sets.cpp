// Session SET tracking with transactional and savepoint semantics.
#include "session/session_sets.hpp"
#include "core/ascii.hpp"

#include <algorithm>

#include "route/sql_lexer.hpp"
#include "session/client_params.hpp"

namespace pggate::session {

namespace {

using route::Statement;
using route::TokenKind;

using route::is_punct;
using route::is_word;

bool name_part(const Statement& st, std::size_t i) {
    return i < st.size() && (st[i].kind == TokenKind::Word || st[i].kind == TokenKind::QuotedIdent);
}

// A possibly qualified parameter name ("search_path", "myext.level") from
// token `i` on; advances `i` past it. Empty if there is none.
std::string parameter_name(const Statement& st, std::size_t& i) {
    std::string name;
    while (name_part(st, i)) {
        name += st[i].text;
        ++i;
        if (!is_punct(st, i, ".")) break;
        name += '.';
        ++i;
    }
    return name;
}

void set_op(const Statement& st, std::string_view sql, std::vector<SetOp>& ops) {
    std::size_t i = 1;
    if (is_word(st, i, "local") || is_word(st, i, "transaction") || is_word(st, i, "role")) return;
    if (is_word(st, i, "session")) ++i;
    if (is_word(st, i, "authorization") || is_word(st, i, "characteristics") || is_word(st, i, "role") ||
        (is_word(st, i, "time") && is_word(st, i + 1, "zone")))
        return;
    std::string name = parameter_name(st, i);
    if (name.empty() || ClientParams::tracked(name)) return;
    bool assign = (i < st.size() && st[i].text == "=") || is_word(st, i, "to");
    if (!assign || i + 1 >= st.size()) return;
    ++i;
    if (i + 1 == st.size() && is_word(st, i, "default")) {
        ops.push_back({SetOp::Kind::Reset, name, {}});
        return;
    }
    std::string value(sql.substr(st[i].begin, st.back().end - st[i].begin));
    ops.push_back({SetOp::Kind::Set, name, SetValue(std::move(value))});
}

// The name in a plain '...' literal, lower-cased; empty for other forms.
std::string literal_name(const route::Token& t) {
    const std::string& raw = t.text;
    if (t.kind != TokenKind::String || raw.size() < 3 || raw.front() != '\'' || raw.back() != '\'') return {};
    std::string name;
    for (std::size_t i = 1; i + 1 < raw.size(); ++i) {
        char c = raw[i];
        if (c == '\'') ++i;  // '' stands for one quote
        if (c == '\\') return {};
        name += ascii_lower(c);
    }
    return name;
}

// "SELECT [pg_catalog.]set_config('name', <string>, false) [, ...]" and
// nothing else: its SETs in `ops`; false for any other statement.
bool set_config_ops(const Statement& st, std::vector<SetOp>& ops) {
    if (!is_word(st, 0, "select")) return false;
    std::size_t i = 1;
    std::vector<SetOp> found;
    while (true) {
        if (is_word(st, i, "pg_catalog") && is_punct(st, i + 1, ".")) i += 2;
        if (!is_word(st, i, "set_config") || !is_punct(st, i + 1, "(")) return false;
        i += 2;
        std::string name = i < st.size() ? literal_name(st[i]) : std::string();
        if (name.empty() || !is_punct(st, i + 1, ",") || i + 2 >= st.size() ||
            st[i + 2].kind != TokenKind::String || !is_punct(st, i + 3, ",") || !is_word(st, i + 4, "false") ||
            !is_punct(st, i + 5, ")"))
            return false;
        if (!ClientParams::tracked(name)) found.push_back({SetOp::Kind::Set, name, SetValue(st[i + 2].text, true)});
        i += 6;
        if (i == st.size()) break;
        if (!is_punct(st, i, ",")) return false;
        ++i;
    }
    ops.insert(ops.end(), found.begin(), found.end());
    return true;
}

}  // namespace

bool replayable_set_config(const Statement& st) {
    std::vector<SetOp> ops;
    return set_config_ops(st, ops);
}

std::vector<SetOp> session_ops(std::string_view sql) { return session_ops(sql, route::lex_sql(sql, route::kAllTokens)); }

std::vector<SetOp> session_ops(std::string_view sql, const route::LexResult& lexed) {
    std::vector<SetOp> ops;
    for (const Statement& st : lexed.statements) {
        if (st.empty() || st[0].kind != TokenKind::Word) continue;
        const std::string& first = st[0].text;
        if (first == "set") {
            set_op(st, sql, ops);
        } else if (first == "select") {
            set_config_ops(st, ops);
        } else if (first == "reset") {
            std::size_t i = 1;
            if (is_word(st, 1, "all") && st.size() == 2) {
                ops.push_back({SetOp::Kind::ResetAll, {}, {}});
            } else if (std::string name = parameter_name(st, i); !name.empty() && !ClientParams::tracked(name)) {
                ops.push_back({SetOp::Kind::Reset, name, {}});
            }
        } else if (first == "discard" && is_word(st, 1, "all")) {
            ops.push_back({SetOp::Kind::DiscardAll, {}, {}});
        } else if (first == "savepoint" && name_part(st, 1)) {
            ops.push_back({SetOp::Kind::Savepoint, st[1].text, {}});
        } else if (first == "release") {
            std::size_t i = is_word(st, 1, "savepoint") ? 2 : 1;
            if (name_part(st, i)) ops.push_back({SetOp::Kind::Release, st[i].text, {}});
        } else if (first == "rollback" && (is_word(st, 1, "to") || (is_word(st, 1, "work") && is_word(st, 2, "to")) ||
                                          (is_word(st, 1, "transaction") && is_word(st, 2, "to")))) {
            std::size_t i = is_word(st, 1, "to") ? 2 : 3;
            if (is_word(st, i, "savepoint")) ++i;
            if (name_part(st, i)) ops.push_back({SetOp::Kind::RollbackTo, st[i].text, {}});
        }
    }
    return ops;
}

std::vector<std::pair<std::string, std::string>> parse_startup_options(std::string_view options) {
    std::vector<std::string> words;
    std::string current;
    bool in_word = false;
    for (std::size_t i = 0; i < options.size(); ++i) {
        char c = options[i];
        if (c == '\\' && i + 1 < options.size()) {
            current += options[++i];
            in_word = true;
        } else if (c == ' ' || c == '\t' || c == '\n') {
            if (in_word) words.push_back(std::move(current));
            current.clear();
            in_word = false;
        } else {
            current += c;
            in_word = true;
        }
    }
    if (in_word) words.push_back(std::move(current));

    std::vector<std::pair<std::string, std::string>> out;
    for (std::size_t i = 0; i < words.size(); ++i) {
        std::string setting;
        if (words[i] == "-c" && i + 1 < words.size())
            setting = words[++i];
        else if (words[i].rfind("-c", 0) == 0)
            setting = words[i].substr(2);
        else if (words[i].rfind("--", 0) == 0)
            setting = words[i].substr(2);
        auto eq = setting.find('=');
        if (eq == std::string::npos || eq == 0) continue;
        std::string name = setting.substr(0, eq);
        for (char& ch : name) {
            ch = ascii_lower(ch);
            if (ch == '-') ch = '_';  // --work-mem=1MB is work_mem
        }
        out.emplace_back(std::move(name), setting.substr(eq + 1));
    }
    return out;
}

std::string sql_literal(std::string_view value) {
    // E'' reads the same whatever standard_conforming_strings says.
    std::string literal = "E'";
    for (char ch : value) {
        if (ch == '\'' || ch == '\\') literal += ch;
        literal += ch;
    }
    literal += '\'';
    return literal;
}

namespace {

// What a change does to the server: resets go to the server's own defaults.
void apply_to_server(SetMap& m, const SetOp& op) {
    switch (op.kind) {
        case SetOp::Kind::Set: m[op.name] = op.value; break;
        case SetOp::Kind::Reset: m.erase(op.name); break;
        case SetOp::Kind::ResetAll:
        case SetOp::Kind::DiscardAll: m.clear(); break;
        default: break;
    }
}

}  // namespace

void SessionSets::apply(SetMap& m, const SetOp& op) const {
    switch (op.kind) {
        case SetOp::Kind::Set:
            m[op.name] = op.value;
            break;
        case SetOp::Kind::Reset:
            if (auto it = baseline_.find(op.name); it != baseline_.end())
                m[op.name] = it->second;
            else
                m.erase(op.name);
            break;
        case SetOp::Kind::ResetAll:
        case SetOp::Kind::DiscardAll:
            m = baseline_;
            break;
        default:
            break;
    }
}

void SessionSets::add(const std::vector<SetOp>& ops) { pending_.insert(pending_.end(), ops.begin(), ops.end()); }

SessionSets::Outcome SessionSets::end_transaction(bool committed, SetMap& server) {
    std::vector<SetOp> ops = std::move(pending_);
    pending_.clear();
    Outcome outcome;
    if (!committed) return outcome;
    // Savepoint frames: a ROLLBACK TO drops the changes made since its
    // savepoint (and later savepoints); RELEASE keeps them.
    struct Frame {
        std::string savepoint;
        std::vector<SetOp> changes;
    };
    std::vector<Frame> frames(1);
    for (SetOp& op : ops) {
        auto find = [&](const std::string& name) {
            for (std::size_t k = frames.size(); k-- > 1;)
                if (frames[k].savepoint == name) return k;
            return std::size_t{0};
        };
        switch (op.kind) {
            case SetOp::Kind::Savepoint:
                frames.push_back({op.name, {}});
                break;
            case SetOp::Kind::RollbackTo:
                if (std::size_t k = find(op.name); k > 0) {
                    frames.resize(k + 1);
                    frames[k].changes.clear();
                }
                break;
            case SetOp::Kind::Release:
                if (std::size_t k = find(op.name); k > 0) {
                    for (std::size_t j = k; j < frames.size(); ++j)
                        frames[k - 1].changes.insert(frames[k - 1].changes.end(), frames[j].changes.begin(),
                                                     frames[j].changes.end());
                    frames.resize(k);
                }
                break;
            default:
                frames.back().changes.push_back(std::move(op));
                break;
        }
    }
    for (const Frame& f : frames)
        for (const SetOp& op : f.changes) {
            apply(values_, op);
            apply_to_server(server, op);
            outcome.discard_all = outcome.discard_all || op.kind == SetOp::Kind::DiscardAll;
            outcome.reset = outcome.reset || op.kind != SetOp::Kind::Set;
        }
    return outcome;
}

std::string replay_sets(const SetMap& server, const SetMap& client) {
    std::string q;
    for (const auto& [name, value] : client) {
        auto it = server.find(name);
        if (it != server.end() && it->second == value) continue;
        if (value.literal)
            q += "SELECT pg_catalog.set_config(" + sql_literal(name) + ", " + value.sql + ", false);";
        else
            q += "SET " + name + " = " + value.sql + ";";
    }
    for (const auto& [name, value] : server)
        if (client.find(name) == client.end()) q += "RESET " + name + ";";
    return q;
}

}  // namespace pggate::session
