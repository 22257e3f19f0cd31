// Looking up the secrets of users the auth_file does not list, by running
// auth_query as auth_user on the primary: libpq's non-blocking API driven by
// the worker's libevent loop, one connection per database the query runs in,
// kept open between lookups.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/credentials.hpp"
#include "auth/lookup_table.hpp"
#include "config/config.hpp"
#include "net/address.hpp"
#include "net/event_ptr.hpp"

namespace pggate::auth {

// What a lookup connection needs to know, taken from the configuration when
// it is applied.
struct AuthQuerySettings {
    std::string user;                     // auth_user; empty: no lookups
    std::optional<std::string> password;  // nullopt: none given (trust, or what libpq finds itself)
    // Why no lookup can work with this configuration; empty when they can.
    std::string setup_error;
    std::string query;
    std::string dbname;    // empty: the database the client asked for
    std::string node;      // the primary's name, for messages
    std::string host;      // its host name or Unix socket directory
    std::string hostaddr;  // its resolved IP address, so libpq resolves nothing; empty for a socket
    int port = 5432;
    config::TlsSettings tls;  // server_tls_*
    double timeout = 0;       // connect and log in, then each query; 0: none
    double idle_timeout = 0;  // an unused connection is closed after it; 0: never
    double lifetime = 0;      // an unused connection this old is closed; 0: never
    double cache_ttl = 0;
};

// The settings of `config` for lookups on the primary, whose address is
// `primary`; `listed` is auth_user's auth_file entry (nullptr: none).
AuthQuerySettings auth_query_settings(const config::Config& config, const Credentials* listed,
                                      const std::optional<net::SocketAddress>& primary);

// What one answer of auth_query says about the user (nullptr: no answer):
// one row whose second column is the secret; no row, or a NULL or empty
// secret, is NotFound; an error, or a result of another shape, is Failed.
LookupResult read_lookup_answer(const PGresult* answer);

class AuthQuery {
public:
    explicit AuthQuery(event_base* base);
    ~AuthQuery();
    AuthQuery(const AuthQuery&) = delete;
    AuthQuery& operator=(const AuthQuery&) = delete;

    // New settings (start-up and every reload). Cached answers are
    // forgotten; connections made with other login settings finish the
    // lookups they have and close, and new ones are made as needed.
    void configure(AuthQuerySettings settings);
    bool enabled() const { return !settings_.user.empty(); }

    // The answer for `user` logging in to `database`: a cached one at once,
    // or nullopt, and `done` is called from the event loop once the lookup
    // ends, unless cancel(`waiter`) comes first. `waiter` must be unique
    // among the lookups not yet ended.
    std::optional<LookupResult> lookup(const std::string& database, const std::string& user,
                                       LookupTable::WaiterId waiter, LookupTable::Callback done);
    void cancel(LookupTable::WaiterId waiter) { table_.cancel(waiter); }

private:
    class Connection;

    Connection& connection_for(const std::string& database);
    // From a connection: a lookup ended (with the users it had, if it failed).
    void finish(const LookupKey& key, const LookupResult& result);
    // A closed connection, freed after the current callback.
    void retire(Connection* connection);
    static void on_reap(evutil_socket_t, short, void* arg);

    event_base* base_;
    AuthQuerySettings settings_;
    LookupTable table_;
    std::vector<std::unique_ptr<Connection>> live_;
    std::vector<std::unique_ptr<Connection>> retired_;
    net::EventPtr reaper_;
    std::uint32_t connection_ids_ = 0;
};

}  // namespace pggate::auth
