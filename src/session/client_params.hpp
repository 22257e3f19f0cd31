// The server parameters a client expects (those PostgreSQL reports with
// ParameterStatus and a client can set): from its startup packet, then from
// what its own SETs changed. A server lent to the client is brought to these
// values before the client's traffic.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pool/pool.hpp"
#include "route/sql_lexer.hpp"

namespace pggate::session {

class ClientParams {
public:
    ClientParams();

    // Whether a startup/ParameterStatus name is one pggate keeps per client.
    static bool tracked(std::string_view name);

    // The client's startup parameters, on top of the pool's welcome values;
    // only the tracked ones are kept (the rest are the pool's for every
    // client, and an idle client should cost little memory).
    void init(const pool::ParamList& welcome, const pool::ParamList& startup);
    // The parameters a client is welcomed with: `welcome` with its own values.
    pool::ParamList welcome(const pool::ParamList& welcome) const;
    // A ParameterStatus the client received from its own statements.
    void note(std::string_view name, std::string_view value);
    const pool::ParamList& values() const { return changed_.empty() ? *initial_ : changed_; }

    // A query setting every tracked value that differs on `server`; empty if none.
    std::string sync_query(const pool::ParamList& server) const;

    // The tracked parameters lexed statements reset (RESET, SET … TO
    // DEFAULT, RESET ALL, DISCARD ALL): a pooled server resets them to the
    // pool's values, not the client's, so pggate puts the client's
    // connect-time values back.
    static std::vector<std::string> resets(const route::LexResult& lexed);
    // Back to the connect-time values for `names` ("all": every one); returns
    // the (name, value) pairs that changed.
    pool::ParamList restore(const std::vector<std::string>& names);

private:
    // Shared with the worker's other clients that connected with the same
    // values (most clients of an application do).
    std::shared_ptr<const pool::ParamList> initial_;
    // The values once the client's statements changed one; empty while they
    // are the connect-time ones, as for most clients, which then keep one
    // copy of them, not two.
    pool::ParamList changed_;
};

}  // namespace pggate::session
