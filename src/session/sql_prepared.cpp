// Name rewriting and completion tracking of SQL-level prepared statements.
#include "session/sql_prepared.hpp"


#include "route/sql_lexer.hpp"

namespace pggate::session {

namespace {

using route::is_word;
using route::Statement;
using route::TokenKind;

bool is_name(const Statement& st, std::size_t i) {
    return i < st.size() && (st[i].kind == TokenKind::Word || st[i].kind == TokenKind::QuotedIdent);
}

struct Replacement {
    std::size_t begin, end;
    std::string text;
};

}  // namespace

std::optional<SqlPrepared::Plan> SqlPrepared::rewrite(std::string_view sql, bool whole_query,
                                                      const std::function<std::uint64_t()>& new_id) {
    std::vector<Pending> pending;
    std::optional<Plan> plan = plan_for(sql, whole_query, new_id, pending);
    if (whole_query && (!pending.empty() || awaiting())) in_flight_.push_back({std::move(pending)});
    return plan;
}

std::optional<SqlPrepared::Plan> SqlPrepared::plan_for(std::string_view sql, bool whole_query,
                                                       const std::function<std::uint64_t()>& new_id,
                                                       std::vector<Pending>& pending) {
    if (by_name_.empty() && !(whole_query && route::mentions(sql, "prepare"))) return std::nullopt;
    route::LexResult lexed = route::lex_sql(sql, route::kAllTokens);
    if (!lexed.complete) return std::nullopt;

    Plan plan;
    std::vector<Replacement> replacements;
    auto known = [&](const Statement& st, std::size_t i) -> SqlStatementPtr {
        if (!is_name(st, i)) return nullptr;
        auto it = by_name_.find(st[i].text);
        return it == by_name_.end() ? nullptr : it->second;
    };
    auto use = [&](const Statement& st, std::size_t i, const SqlStatementPtr& stmt) {
        replacements.push_back({st[i].begin, st[i].end, stmt->server_name()});
        plan.needed.push_back(stmt);
    };

    for (std::size_t k = 0; k < lexed.statements.size(); ++k) {
        const Statement& st = lexed.statements[k];
        if (whole_query && is_word(st, 0, "prepare") && is_name(st, 1) && st.size() > 2) {
            if (SqlStatementPtr existing = known(st, 1)) {
                use(st, 1, existing);  // the server refuses the name in use, as it would the client's
                continue;
            }
            auto stmt = std::make_shared<const SqlStatement>(
                SqlStatement{new_id(), std::string(sql.substr(st[2].begin, st.back().end - st[2].begin))});
            replacements.push_back({st[1].begin, st[1].end, stmt->server_name()});
            plan.created.push_back(stmt->id);
            pending.push_back({k, Action::Prepare, st[1].text, stmt});
            continue;
        }
        if (is_word(st, 0, "deallocate")) {
            std::size_t i = is_word(st, 1, "prepare") ? 2 : 1;
            if (whole_query && is_word(st, i, "all") && i + 1 == st.size()) {
                pending.push_back({k, Action::DeallocateAll, {}, nullptr});
            } else if (SqlStatementPtr stmt = known(st, i)) {
                use(st, i, stmt);
                plan.dropped.push_back(stmt->id);
                if (whole_query)
                    pending.push_back({k, Action::Deallocate, st[i].text, stmt});
                else
                    by_name_.erase(st[i].text);
            }
            continue;
        }
        // EXECUTE, also inside EXPLAIN and CREATE TABLE AS.
        for (std::size_t i = 0; i + 1 < st.size(); ++i)
            if (is_word(st, i, "execute"))
                if (SqlStatementPtr stmt = known(st, i + 1)) use(st, i + 1, stmt);
    }
    if (replacements.empty() && pending.empty()) return std::nullopt;

    std::size_t at = 0;
    for (const Replacement& r : replacements) {
        plan.sql.append(sql.substr(at, r.begin - at));
        plan.sql += r.text;
        at = r.end;
    }
    plan.sql.append(sql.substr(at));
    return plan;
}

void SqlPrepared::apply(const Pending& p) {
    switch (p.action) {
        case Action::Prepare: by_name_[p.name] = p.stmt; break;
        case Action::Deallocate: by_name_.erase(p.name); break;
        case Action::DeallocateAll: by_name_.clear(); break;
    }
}

void SqlPrepared::on_sync() {
    if (awaiting()) in_flight_.push_back({});
}

void SqlPrepared::on_command_complete() {
    if (in_flight_.empty()) return;
    InFlight& q = in_flight_.front();
    ++q.completed;
    for (; q.next < q.pending.size() && q.pending[q.next].statement < q.completed; ++q.next) apply(q.pending[q.next]);
}

void SqlPrepared::on_ready_for_query() {
    if (!in_flight_.empty()) in_flight_.erase(in_flight_.begin());
}

}  // namespace pggate::session
