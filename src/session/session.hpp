// One client and, once it has logged in, its own server connection on the
// primary (session mode): startup, pass-through authentication, then a
// streaming relay of every message in both directions with backpressure.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/bytes.hpp"
#include "net/event_ptr.hpp"
#include "net/frame_scan.hpp"

namespace pggate::session {

class Worker;

enum class SessionState {
    Startup,     // reading SSLRequest / StartupMessage / CancelRequest
    Connecting,  // connecting to the server
    Login,       // server is authenticating the client; messages pass through
    Relay,       // logged in: everything streams both ways
    Flushing,    // sending last bytes (an error, a Terminate) before closing
    Closed,      // retired; freed after the current callback
};

enum class Side { Client, Server };

class Session {
public:
    Session(Worker& worker, evutil_socket_t fd, std::string peer);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    SessionState state() const { return state_; }

    // Ends the session at once: the one path every failure and normal end takes.
    void disconnect(const char* reason);

private:
    static void on_client_read(bufferevent*, void* arg);
    static void on_client_write(bufferevent*, void* arg);
    static void on_client_event(bufferevent*, short events, void* arg);
    static void on_server_read(bufferevent*, void* arg);
    static void on_server_write(bufferevent*, void* arg);
    static void on_server_event(bufferevent*, short events, void* arg);
    static void on_flush_deadline(evutil_socket_t, short, void* arg);

    void set_state(SessionState next);
    void read_startup();
    void start_server_connect();
    void on_server_connected();
    void pump(Side from);
    // Handles a message pggate reads whole; returns true if it goes on to the peer unchanged.
    bool handle_message(Side from, char type, std::span<const std::uint8_t> body);
    void protocol_error(Side from, const protocol::DecodeError& err);
    void server_lost(const char* why);
    // Sends a FATAL ErrorResponse to the client, then closes.
    void fail_client(const char* sqlstate, const std::string& message);
    // Stops reading and closes once `side`'s pending output is written.
    void close_after_flush(Side side);
    void resume_paused(Side toward);

    // Stops all traffic with the server; its socket closes with the session.
    void detach_server();
    bufferevent* bev(Side s) const {
        return s == Side::Client ? client_.get() : server_detached_ ? nullptr : server_.get();
    }

    Worker& worker_;
    std::uint32_t id_;
    std::string peer_;
    SessionState state_ = SessionState::Startup;
    net::BuffereventPtr client_;
    net::BuffereventPtr server_;
    bool server_detached_ = false;
    net::EventPtr flush_timer_;
    net::ScanState from_client_;
    net::ScanState from_server_;
    bool paused_[2] = {false, false};  // reading from that side stopped for backpressure
    Side flushing_side_ = Side::Client;

    Bytes startup_packet_;
    std::string user_;
    std::string database_;
    std::uint32_t node_ = 0;
    bool admitted_ = false;
    std::optional<std::uint32_t> slot_;
    std::uint32_t client_secret_ = 0;
};

}  // namespace pggate::session
