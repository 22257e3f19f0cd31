// The admin console's protocol: simple queries, and Parse/Bind/Describe/
// Execute/Sync for drivers that always use the extended protocol.
#include "admin/console.hpp"

#include "protocol/messages.hpp"

namespace pggate::admin {

namespace {

constexpr std::string_view kNul("\0", 1);

void error(Bytes& out, const std::string& sqlstate, const std::string& message) {
    protocol::build_error(out, "ERROR", sqlstate, message);
}

void command_complete(Bytes& out, std::string_view tag) { protocol::build_message(out, 'C', {tag, kNul}); }

}  // namespace

Outcome Console::run(const Command& command, bool describe_only) {
    if (command.verb == Verb::Invalid) return Outcome::fail("42601", command.error);
    if (!may_modify_ && !command.read_only())
        return Outcome::fail("42501", "permission denied: stats_users may only use SHOW (admin_users may do all)");
    return run_(command, describe_only);
}

bool Console::on_message(char type, std::span<const std::uint8_t> body, Bytes& out) {
    if (type == 'X') return false;
    if (skip_to_sync_ && type != 'S') return true;
    ByteReader r(body.data(), body.size());
    auto malformed = [&] {
        protocol::build_error(out, "FATAL", "08P01", std::string("invalid message format (type '") + type + "')");
        return false;
    };
    switch (type) {
        case 'Q': {
            std::string_view text = r.cstring();
            if (r.failed()) return malformed();
            if (simple_query(text, out)) protocol::build_ready_for_query(out, 'I');
            return true;
        }
        case 'P': {
            std::string name(r.cstring());
            std::string query(r.cstring());
            if (r.failed()) return malformed();
            if (!name.empty() && statements_.count(name)) {
                extended_error("42P05", "prepared statement \"" + name + "\" already exists", out);
                return true;
            }
            statements_[name] = std::move(query);
            protocol::build_parse_complete(out);
            return true;
        }
        case 'B': {
            std::string portal(r.cstring());
            std::string statement(r.cstring());
            const std::uint16_t formats = r.u16();
            for (std::uint16_t i = 0; i < formats; ++i) r.u16();
            const std::uint16_t params = r.u16();
            if (r.failed()) return malformed();
            auto it = statements_.find(statement);
            if (it == statements_.end()) {
                extended_error("26000", "prepared statement \"" + statement + "\" does not exist", out);
                return true;
            }
            if (params != 0) {
                extended_error("08P01", "admin console commands take no parameters", out);
                return true;
            }
            portals_[portal] = it->second;
            protocol::build_message(out, '2', {});
            return true;
        }
        case 'D': {
            const char kind = static_cast<char>(r.u8());
            std::string name(r.cstring());
            if (r.failed() || (kind != 'S' && kind != 'P')) return malformed();
            auto& names = kind == 'S' ? statements_ : portals_;
            auto it = names.find(name);
            if (it == names.end()) {
                extended_error(kind == 'S' ? "26000" : "34000",
                               std::string(kind == 'S' ? "prepared statement" : "portal") + " \"" + name +
                                   "\" does not exist",
                               out);
                return true;
            }
            if (kind == 'S') protocol::build_message(out, 't', {std::string_view("\0\0", 2)});  // no parameters
            describe(it->second, out);
            return true;
        }
        case 'E': {
            std::string portal(r.cstring());
            r.u32();  // row limit: results are small, always sent whole
            if (r.failed()) return malformed();
            auto it = portals_.find(portal);
            if (it == portals_.end()) {
                extended_error("34000", "portal \"" + portal + "\" does not exist", out);
                return true;
            }
            execute(it->second, out);
            return true;
        }
        case 'C': {
            const char kind = static_cast<char>(r.u8());
            std::string name(r.cstring());
            if (r.failed() || (kind != 'S' && kind != 'P')) return malformed();
            (kind == 'S' ? statements_ : portals_).erase(name);
            protocol::build_message(out, '3', {});
            return true;
        }
        case 'S':
            skip_to_sync_ = false;
            portals_.erase("");
            protocol::build_ready_for_query(out, 'I');
            return true;
        case 'H':
            return true;
        default:
            error(out, "0A000", std::string("the admin console does not support message type '") + type + "'");
            if (type != 'F') skip_to_sync_ = true;
            else protocol::build_ready_for_query(out, 'I');
            return true;
    }
}

bool Console::simple_query(std::string_view text, Bytes& out) {
    std::vector<std::string> statements;
    for (std::string_view s : split_statements(text))
        if (parse_command(s).verb != Verb::Empty) statements.emplace_back(s);
    if (statements.empty()) {
        protocol::build_message(out, 'I', {});  // EmptyQueryResponse
        return true;
    }
    return run_statements(std::move(statements), 0, out);
}

bool Console::answer(Outcome& o, bool simple, Bytes& out) {
    if (!o.sqlstate.empty()) {
        if (simple)
            error(out, o.sqlstate, o.error);
        else
            extended_error(o.sqlstate, o.error, out);
        return false;
    }
    if (o.table) {
        if (simple) o.table->encode_description(out);
        o.table->encode_rows(out);
    } else {
        command_complete(out, o.tag);
    }
    return true;
}

bool Console::run_statements(std::vector<std::string> statements, std::size_t first, Bytes& out) {
    for (std::size_t i = first; i < statements.size(); ++i) {
        Outcome o = run(parse_command(statements[i]), false);
        if (o.sqlstate.empty() && o.until) {
            std::optional<Outcome> finished = o.until();
            if (!finished) {
                deferred_ = Deferred{std::move(o.until), std::move(statements), i + 1, true};
                return false;
            }
            o = std::move(*finished);
        }
        if (!answer(o, true, out)) return true;
    }
    return true;
}

void Console::poll(Bytes& out) {
    if (!deferred_) return;
    std::optional<Outcome> finished = deferred_->until();
    if (!finished) return;
    Deferred done = std::move(*deferred_);
    deferred_.reset();
    if (!answer(*finished, done.simple, out)) {
        if (done.simple) protocol::build_ready_for_query(out, 'I');
        return;
    }
    if (done.simple && run_statements(std::move(done.statements), done.next, out))
        protocol::build_ready_for_query(out, 'I');
}

void Console::describe(const std::string& query, Bytes& out) {
    Command command = parse_command(query);
    if (command.verb != Verb::Show) {
        if (command.verb == Verb::Invalid) {
            extended_error("42601", command.error, out);
            return;
        }
        protocol::build_message(out, 'n', {});  // NoData
        return;
    }
    Outcome o = run(command, true);
    if (!o.sqlstate.empty()) {
        extended_error(o.sqlstate, o.error, out);
        return;
    }
    if (o.table)
        o.table->encode_description(out);
    else
        protocol::build_message(out, 'n', {});
}

void Console::execute(const std::string& query, Bytes& out) {
    Command command = parse_command(query);
    if (command.verb == Verb::Empty) {
        protocol::build_message(out, 'I', {});
        return;
    }
    Outcome o = run(command, false);
    if (o.sqlstate.empty() && o.until) {
        std::optional<Outcome> finished = o.until();
        if (!finished) {
            deferred_ = Deferred{std::move(o.until), {}, 0, false};
            return;
        }
        o = std::move(*finished);
    }
    answer(o, false, out);
}

void Console::extended_error(const std::string& sqlstate, const std::string& message, Bytes& out) {
    error(out, sqlstate, message);
    skip_to_sync_ = true;
}

}  // namespace pggate::admin
