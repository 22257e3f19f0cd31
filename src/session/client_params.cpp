// Per-client server parameters and the SETs that bring a server to them.
#include "session/client_params.hpp"
#include "core/ascii.hpp"

#include "route/sql_lexer.hpp"
#include "session/session_sets.hpp"

#include <algorithm>

namespace pggate::session {

namespace {

// Reported by PostgreSQL and settable by a session, in their reported spelling.
constexpr std::string_view kTracked[] = {"client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
                                         "application_name", "standard_conforming_strings"};

// The reported spelling of a tracked name, or empty.
std::string_view canonical(std::string_view name) {
    for (std::string_view t : kTracked)
        if (iequals(t, name)) return t;
    return {};
}

const std::string* find(const pool::ParamList& list, std::string_view name) {
    for (const auto& [k, v] : list)
        if (k == name) return &v;
    return nullptr;
}

void set(pool::ParamList& list, std::string_view name, std::string_view value) {
    for (auto& [k, v] : list)
        if (k == name) {
            v = value;
            return;
        }
    list.emplace_back(name, value);
}

// The one copy of `list` in this process: a worker keeps up to kShared
// distinct connect-time lists; one no client holds any more makes room.
std::shared_ptr<const pool::ParamList> shared_copy(pool::ParamList list) {
    constexpr std::size_t kShared = 64;
    static std::vector<std::shared_ptr<const pool::ParamList>> lists;
    for (const auto& l : lists)
        if (*l == list) return l;
    if (lists.size() >= kShared) std::erase_if(lists, [](const auto& l) { return l.use_count() == 1; });
    auto copy = std::make_shared<const pool::ParamList>(std::move(list));
    if (lists.size() < kShared) lists.push_back(copy);
    return copy;
}

}  // namespace

ClientParams::ClientParams() {
    static const auto none = std::make_shared<const pool::ParamList>();
    initial_ = none;
}

bool ClientParams::tracked(std::string_view name) { return !canonical(name).empty(); }

void ClientParams::init(const pool::ParamList& welcome, const pool::ParamList& startup) {
    pool::ParamList initial;
    for (const auto& [name, value] : welcome)
        if (tracked(name)) initial.emplace_back(name, value);
    for (const auto& [name, value] : startup) {
        std::string_view c = canonical(name);
        if (!c.empty()) set(initial, c, value);
    }
    initial_ = shared_copy(std::move(initial));
    changed_ = {};
}

pool::ParamList ClientParams::welcome(const pool::ParamList& welcome) const {
    pool::ParamList all = welcome;
    for (const auto& [name, value] : values()) set(all, name, value);
    return all;
}

std::vector<std::string> ClientParams::resets(const route::LexResult& lexed) {
    std::vector<std::string> names;
    for (const route::Statement& st : lexed.statements) {
        auto word = [&](std::size_t i, std::string_view w) { return route::is_word(st, i, w); };
        if ((word(0, "reset") && word(1, "all")) || (word(0, "discard") && word(1, "all"))) {
            names.assign(1, "all");
            return names;
        }
        std::size_t i = word(1, "session") ? 2 : 1;
        bool reset = word(0, "reset") ||
                     (word(0, "set") && (word(i + 1, "to") || (i + 1 < st.size() && st[i + 1].text == "=")) &&
                      word(i + 2, "default"));
        if (word(0, "set") && word(1, "time") && word(2, "zone") && (word(3, "default") || word(3, "local")))
            names.emplace_back("TimeZone");
        else if (reset && i < st.size() && !canonical(st[i].text).empty())
            names.emplace_back(canonical(st[i].text));
    }
    return names;
}

pool::ParamList ClientParams::restore(const std::vector<std::string>& names) {
    pool::ParamList changed;
    bool all = !names.empty() && names.front() == "all";
    for (const auto& [name, value] : *initial_) {
        if (!all && std::find(names.begin(), names.end(), name) == names.end()) continue;
        const std::string* now = find(values(), name);
        if (now != nullptr && *now == value) continue;
        set(changed_, name, value);
        changed.emplace_back(name, value);
    }
    if (changed_ == *initial_) changed_ = {};
    return changed;
}

void ClientParams::note(std::string_view name, std::string_view value) {
    std::string_view c = canonical(name);
    if (c.empty()) return;
    if (changed_.empty()) {
        const std::string* now = find(*initial_, c);
        if (now != nullptr && *now == value) return;
        changed_ = *initial_;
    }
    set(changed_, c, value);
}

std::string ClientParams::sync_query(const pool::ParamList& server) const {
    std::string q;
    for (const auto& [name, value] : values()) {
        const std::string* have = find(server, name);
        if (have != nullptr && *have == value) continue;
        q += "SET " + name + " = " + sql_literal(value) + ";";
    }
    return q;
}

}  // namespace pggate::session
