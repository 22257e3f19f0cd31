// Per-client server parameters and the SETs that bring a server to them.
#include "session/client_params.hpp"

#include <algorithm>
#include <cctype>

namespace pggate::session {

namespace {

// Reported by PostgreSQL and settable by a session, in their reported spelling.
constexpr std::string_view kTracked[] = {"client_encoding", "DateStyle", "IntervalStyle", "TimeZone",
                                         "application_name", "standard_conforming_strings"};

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

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

}  // namespace

bool ClientParams::tracked(std::string_view name) { return !canonical(name).empty(); }

void ClientParams::init(const pool::ParamList& welcome, const pool::ParamList& startup) {
    values_ = welcome;
    for (const auto& [name, value] : startup) {
        std::string_view c = canonical(name);
        if (!c.empty()) set(values_, c, value);
    }
}

void ClientParams::note(std::string_view name, std::string_view value) {
    std::string_view c = canonical(name);
    if (!c.empty()) set(values_, c, value);
}

std::string ClientParams::sync_query(const pool::ParamList& server) const {
    std::string q;
    for (const auto& [name, value] : values_) {
        if (!tracked(name)) continue;
        const std::string* have = find(server, name);
        if (have != nullptr && *have == value) continue;
        // E'' reads the same whatever standard_conforming_strings says.
        std::string literal = "E'";
        for (char ch : value) {
            if (ch == '\'' || ch == '\\') literal += ch;
            literal += ch;
        }
        literal += '\'';
        q += "SET " + name + " = " + literal + ";";
    }
    return q;
}

}  // namespace pggate::session
