// Shadow reads (shadow_reads percent): a read a replica serves also runs in
// the background on the shadow target, on an idle server of its pool; when
// both answers are in, their digests (rows, order-free checksum, error) are
// compared, and a difference is counted and logged with the statement.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/bytes.hpp"
#include "protocol/result_digest.hpp"

namespace pggate::session {

class ServerConn;
class Worker;

class ShadowRead {
public:
    // `served` and `shadow`: the names of the replica that serves the client
    // and of the shadow target's node.
    ShadowRead(Worker& worker, std::string statement, std::string served, std::string shadow);

    // Sends `prefix` (a Query carrying the client's session state; may be
    // empty), then the client's `segment`, to the shadow's idle server.
    void start(ServerConn* server, const std::string& prefix, const Bytes& segment);

    // The answer the client gets, as it is relayed.
    protocol::ResultDigest& client_answer() { return client_; }
    // A ReadyForQuery relayed to the client; true at the segment's last,
    // when the client's side is complete.
    bool client_ready_for_query();
    // The client or its server went away before the whole answer: nothing to compare.
    void client_gone();

    // From the shadow's server (ServerState::Shadow).
    void on_server_message(ServerConn& server, char type, std::span<const std::uint8_t> body);
    void on_server_lost();

    // Both sides are done with it: the worker may delete it.
    bool finished() const { return client_side_over_ && server_ == nullptr; }

private:
    void settle();

    Worker& worker_;
    std::string statement_;
    std::string served_;
    std::string shadow_node_;
    protocol::ResultDigest client_;
    protocol::ResultDigest shadow_;
    ServerConn* server_ = nullptr;
    std::uint32_t prefix_ready_ = 0;  // ReadyForQuery of the prefix still to come
    std::uint32_t ready_left_ = 0;    // ReadyForQuery of the segment still to come from the shadow
    std::uint32_t client_ready_left_ = 0;  // and to be relayed to the client
    bool client_side_over_ = false;
    bool client_complete_ = false;
    bool shadow_complete_ = false;
};

}  // namespace pggate::session
