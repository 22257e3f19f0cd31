// Transaction pooling of named prepared statements: a client's Parse, Bind,
// Describe and Close are sent on with server-side statement names, and what a
// server lacks is prepared first. What the client does not see (an injected
// Parse) has its reply swallowed; errors are left for the server to produce,
// so they come in order and with PostgreSQL's own skip-to-Sync behaviour.
#include <event2/buffer.h>

#include <optional>
#include <vector>

#include "core/bytes.hpp"
#include "protocol/codec.hpp"
#include "protocol/messages.hpp"
#include "session/client_conn.hpp"
#include "route/sql_lexer.hpp"
#include "session/pin_rules.hpp"
#include "session/server_conn.hpp"
#include "session/worker.hpp"

namespace pggate::session {

namespace {

// A Close of a statement that exists nowhere: the server answers
// CloseComplete, which then stands in for a ParseComplete.
constexpr std::string_view kNoStatement = "pggate_none";
// The Parse body after the name of a statement that parses on any server,
// in any client_encoding: query, NUL, no parameter types.
constexpr std::string_view kStandIn("SELECT NULL\0\0\0", 14);

std::string_view rest_of(ByteReader& r, std::span<const std::uint8_t> body) {
    std::size_t used = body.size() - r.remaining();
    return {reinterpret_cast<const char*>(body.data()) + used, r.remaining()};
}

std::string as_string(char c) { return std::string(1, c); }

}  // namespace

// Only transaction pooling moves clients between servers; a session's server is its own.
bool ClientConn::rewrites_statements() const {
    return transaction_pooling() && worker_.config().max_prepared_statements > 0;
}

void ClientConn::send_to_server(char type, std::initializer_list<std::string_view> parts) {
    Bytes msg;
    protocol::build_message(msg, type, parts);
    server_->tracker().on_frontend(type);
    bufferevent_write(server_->bev(), msg.data(), msg.size());
}

void ClientConn::ensure_prepared(const StatementPtr& stmt) {
    ServerStatements& on_server = server_->statements();
    if (on_server.has(stmt->id)) return;
    std::uint64_t segment = server_->tracker().current_segment();
    send_to_server('P', {stmt->server_name, std::string_view("\0", 1), stmt->tail});
    shm::bump(worker_.prepared_stats().server_parses);
    on_server.add(stmt->id);
    on_server.expect_parse(ServerStatements::ParseReply::Swallow, stmt->id, segment);
    evict_prepared(segment);
}

void ClientConn::evict_prepared(std::uint64_t segment) {
    ServerStatements& on_server = server_->statements();
    auto cap = static_cast<std::size_t>(worker_.config().max_prepared_statements);
    if (std::uint64_t old = on_server.evict_beyond(cap)) {
        send_to_server('C', {"S", "pggate_" + std::to_string(old), std::string_view("\0", 1)});
        on_server.expect_close(ServerStatements::CloseReply::Swallow, segment);
        shm::bump(worker_.prepared_stats().evictions);
    }
}

void ClientConn::prepare_stand_in(const StatementPtr& stmt) {
    send_to_server('P', {stmt->server_name, std::string_view("\0", 1), kStandIn});
    server_->statements().expect_parse(ServerStatements::ParseReply::Swallow, 0, server_->tracker().current_segment());
}

void ClientConn::note_parse(std::string_view name, std::string_view sql, bool malformed) {
    if (malformed) {
        if (pinned_ == nullptr) pin("a malformed statement");
        return;
    }
    InertTexts& inert = worker_.inert_texts();
    if (!inert.contains(sql)) {
        const route::LexResult lexed = route::lex_sql(sql, route::kAllTokens);
        const char* why = pin_reason(lexed);
        if (why != nullptr && pinned_ == nullptr) pin(why);
        if (!note_session_ops(sql, lexed, name) && why == nullptr) inert.add(sql);
    } else if (!name.empty() && !stmt_effects_.empty()) {
        stmt_effects_.erase(std::string(name));  // as note_session_ops does for a name used again
    }
    // A named statement writes when it runs (see Bind); an unnamed one runs now.
    if (name.empty()) note_write(sql);
}

bool ClientConn::answer_parses_locally(bool unvalidated) {
    // A statement text may name the client's SQL-level statements, which need a server.
    if (!rewrites_statements() || !sql_prepared_.empty()) return false;
    evbuffer* in = bufferevent_get_input(bev_.get());
    const std::size_t len = evbuffer_get_length(in);
    std::vector<std::pair<std::string, StatementPtr>> parsed;
    std::size_t pos = 0;
    while (true) {
        protocol::MessageHeader h;
        protocol::DecodeError err;
        if (net::peek_message(in, pos, protocol::Direction::Frontend, worker_.config().max_packet_size, h, err) !=
                protocol::Decode::Ok ||
            len - pos < h.frame_len())
            return false;
        if (h.type == 'S') {
            if (parsed.empty()) return false;
            pos += h.frame_len();
            break;
        }
        if (h.type != 'P') return false;
        const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(pos + h.frame_len())) + pos;
        std::span<const std::uint8_t> body(p + protocol::kHeaderSize, h.body_len());
        ByteReader r(body.data(), body.size());
        std::string name(r.cstring());
        if (r.failed() || name.empty() || stmts_.count(name) != 0) return false;
        StatementPtr stmt = unvalidated ? worker_.statements().intern(rest_of(r, body))
                                        : worker_.statements().find(rest_of(r, body));
        if (!stmt || (!unvalidated && !stmt->accepted)) return false;
        parsed.emplace_back(std::move(name), std::move(stmt));
        pos += h.frame_len();
    }
    evbuffer_drain(in, pos);
    Bytes out;
    shm::PreparedStats& counted = worker_.prepared_stats();
    shm::bump(counted.client_parses, parsed.size());
    shm::bump(counted.answered_here, parsed.size());
    for (auto& [name, stmt] : parsed) {
        ByteReader q(reinterpret_cast<const std::uint8_t*>(stmt->tail.data()), stmt->tail.size());
        std::string_view sql = q.cstring();
        note_parse(name, sql, q.failed());
        stmts_.emplace(std::move(name), std::move(stmt));
        protocol::build_parse_complete(out);
    }
    protocol::build_ready_for_query(out, 'I');
    bufferevent_write(bev_.get(), out.data(), out.size());
    return true;
}

std::optional<std::string> ClientConn::deallocate(std::string_view sql, bool extended) {
    if (!route::mentions(sql, "deallocate")) return std::nullopt;  // most statements: no tokenizing
    route::LexResult lexed = route::lex_sql(sql, 4);
    if (!lexed.complete || lexed.statements.size() != 1) return std::nullopt;
    const route::Statement& st = lexed.statements[0];
    if (!route::is_word(st, 0, "deallocate")) return std::nullopt;
    std::size_t i = route::is_word(st, 1, "prepare") ? 2 : 1;
    if (i + 1 != st.size()) return std::nullopt;
    const route::Token& name = st[i];
    if (route::is_word(st, i, "all")) {
        // The server drops every statement, the client's SQL ones and pggate's alike.
        stmts_.clear();
        server_->statements().clear();
        return std::nullopt;
    }
    if (name.kind != route::TokenKind::Word && name.kind != route::TokenKind::QuotedIdent) return std::nullopt;
    auto it = stmts_.find(name.text);
    if (it == stmts_.end()) return std::nullopt;  // an SQL-level statement: the server knows it
    StatementPtr stmt = it->second;
    if (!server_->statements().has(stmt->id)) {
        // DEALLOCATE needs a statement of that name on this server. Before an
        // extended query one is prepared in line; before a simple Query, in a
        // segment of its own (a Parse must not stay unsynced before a Query).
        if (!extended && !server_->tracker().synced()) return std::nullopt;
        prepare_stand_in(stmt);
        if (!extended) {
            send_to_server('S', {});
            ++swallow_;
        }
    }
    stmts_.erase(it);
    server_->statements().forget(stmt->id);
    return "DEALLOCATE " + stmt->server_name;
}

std::optional<std::string> ClientConn::rewrite_sql_statements(std::string_view sql, bool whole_query) {
    std::optional<SqlPrepared::Plan> plan =
        sql_prepared_.rewrite(sql, whole_query, [this] { return worker_.statements().new_id(); });
    if (!plan) return std::nullopt;
    ServerStatements& on_server = server_->statements();
    std::vector<SqlStatementPtr> missing;
    for (const SqlStatementPtr& stmt : plan->needed)
        if (!on_server.has(stmt->id)) missing.push_back(stmt);
    // Missing statements are prepared by a Query of their own before the
    // client's, which cannot follow a Parse that is not synced yet.
    if (!missing.empty() && !whole_query && !server_->tracker().accepts_query()) return std::nullopt;
    std::string inject;
    for (const SqlStatementPtr& stmt : missing) {
        inject += stmt->prepare_sql() + ";";
        on_server.add(stmt->id);
    }
    for (std::uint64_t id : plan->dropped) on_server.forget(id);
    auto cap = static_cast<std::size_t>(worker_.config().max_prepared_statements);
    while (std::uint64_t old = on_server.evict_beyond(cap)) inject += "DEALLOCATE pggate_" + std::to_string(old) + ";";
    for (std::uint64_t id : plan->created) on_server.add(id);
    if (!inject.empty()) {
        send_to_server('Q', {inject, std::string_view("\0", 1)});
        ++swallow_;
    }
    return std::move(plan->sql);
}

bool ClientConn::forward_extended(char type, std::span<const std::uint8_t> body) {
    if (type == 'S') sql_prepared_.on_sync();
    ByteReader r(body.data(), body.size());
    ServerStatements& on_server = server_->statements();
    const std::string_view nul("\0", 1);
    switch (type) {
        case 'P': {
            std::string_view name = r.cstring();
            std::string_view tail = rest_of(r, body);
            ByteReader q(reinterpret_cast<const std::uint8_t*>(tail.data()), tail.size());
            std::string_view sql = q.cstring();
            note_parse(name, sql, r.failed() || q.failed());
            if (!r.failed() && !q.failed() && name.empty() && rewrites_statements())
                if (std::optional<std::string> rewritten = rewrite_sql_statements(sql, false);
                    rewritten || (rewritten = deallocate(sql, true))) {
                    on_server.expect_parse(ServerStatements::ParseReply::Forward, 0,
                                           server_->tracker().current_segment());
                    send_to_server('P', {nul, *rewritten, nul, rest_of(q, {reinterpret_cast<const std::uint8_t*>(tail.data()), tail.size()})});
                    return false;
                }
            // A named statement running an SQL-level one depends on it: the
            // client stays on a server that has both.
            std::string rewritten_tail;
            if (!r.failed() && !q.failed() && !name.empty() && rewrites_statements())
                if (std::optional<std::string> rewritten = rewrite_sql_statements(sql, false)) {
                    if (pinned_ == nullptr) pin("an SQL prepared statement run by a named statement");
                    rewritten_tail = *rewritten + std::string(nul) +
                                     std::string(rest_of(q, {reinterpret_cast<const std::uint8_t*>(tail.data()), tail.size()}));
                    tail = rewritten_tail;
                }
            std::uint64_t segment = server_->tracker().current_segment();
            if (r.failed() || name.empty() || !rewrites_statements()) {
                if (r.failed() || !rewrites_statements()) {
                    if (!name.empty()) pin("a named prepared statement");
                } else {
                    on_server.expect_parse(ServerStatements::ParseReply::Forward, 0, segment);
                }
                server_->tracker().on_frontend(type);
                return true;
            }
            shm::bump(worker_.prepared_stats().client_parses);
            auto existing = stmts_.find(std::string(name));
            if (existing != stmts_.end()) {
                // PostgreSQL refuses a name in use: let the server say so, in order.
                ensure_prepared(existing->second);
                send_to_server('P', {existing->second->server_name, nul, tail});
                shm::bump(worker_.prepared_stats().server_parses);
                on_server.expect_parse(ServerStatements::ParseReply::Forward, 0, segment);
                return false;
            }
            StatementPtr stmt = worker_.statements().intern(tail);
            stmts_.emplace(std::string(name), stmt);
            if (on_server.has(stmt->id)) {
                send_to_server('C', {"S", kNoStatement, nul});
                on_server.expect_close(ServerStatements::CloseReply::AsParseComplete, segment);
                return false;
            }
            send_to_server('P', {stmt->server_name, nul, tail});
            shm::bump(worker_.prepared_stats().server_parses);
            on_server.add(stmt->id);
            on_server.expect_parse(ServerStatements::ParseReply::Confirm, stmt->id, segment, std::string(name));
            evict_prepared(segment);
            return false;
        }
        case 'B': {
            std::string_view portal = r.cstring();
            std::string_view name = r.cstring();
            if (!r.failed() && !name.empty()) note_bind(name);
            auto it = r.failed() || name.empty() ? stmts_.end() : stmts_.find(std::string(name));
            if (it == stmts_.end()) break;  // unnamed, or unknown: the server reports it with the client's name
            note_write(it->second->sql());
            ensure_prepared(it->second);
            send_to_server('B', {portal, nul, it->second->server_name, nul, rest_of(r, body)});
            return false;
        }
        case 'D':
        case 'C': {
            char kind = static_cast<char>(r.u8());
            std::string_view name = r.cstring();
            if (type == 'C') {
                // Closing a client name: the server has no such name and answers CloseComplete.
                if (!r.failed() && kind == 'S') stmts_.erase(std::string(name));
                on_server.expect_close(ServerStatements::CloseReply::Forward, server_->tracker().current_segment());
                break;
            }
            auto it = r.failed() || kind != 'S' || name.empty() ? stmts_.end() : stmts_.find(std::string(name));
            if (it == stmts_.end()) break;
            ensure_prepared(it->second);
            send_to_server('D', {as_string('S'), it->second->server_name, nul});
            return false;
        }
        default:
            break;
    }
    server_->tracker().on_frontend(type);
    return true;
}

}  // namespace pggate::session
