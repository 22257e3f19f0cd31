// ShadowRead: drives the shadow's server through the prefix and the segment,
// and compares the two digests once both are complete.
#include "session/shadow_read.hpp"

#include "core/log.hpp"
#include "session/server_conn.hpp"
#include "session/worker.hpp"

namespace pggate::session {

namespace {

// Statements are logged up to this many bytes.
constexpr std::size_t kLoggedStatement = 300;

}  // namespace

ShadowRead::ShadowRead(Worker& worker, std::string statement, std::string served, std::string shadow)
    : worker_(worker), statement_(std::move(statement)), served_(std::move(served)), shadow_node_(std::move(shadow)) {}

void ShadowRead::start(ServerConn* server, const std::string& prefix, const Bytes& segment) {
    server_ = server;
    prefix_ready_ = prefix.empty() ? 0 : 1;
    server->run_shadow(this, prefix, segment);
    // The server owed nothing before: what it owes now is the prefix's and
    // the segment's ReadyForQuery messages.
    ready_left_ = server->tracker().outstanding() - prefix_ready_;
    client_ready_left_ = ready_left_;
}

bool ShadowRead::client_ready_for_query() {
    if (--client_ready_left_ > 0) return false;
    client_side_over_ = true;
    client_complete_ = true;
    settle();
    return true;
}

void ShadowRead::client_gone() { client_side_over_ = true; }

void ShadowRead::on_server_message(ServerConn& server, char type, std::span<const std::uint8_t> body) {
    if (prefix_ready_ > 0) {
        if (type == 'Z') --prefix_ready_;
        return;
    }
    switch (type) {
        case 'D': shadow_.add_row(body); return;
        case 'E': shadow_.add_error(body); return;
        case 'Z':
            if (--ready_left_ > 0) return;
            server_ = nullptr;
            shadow_complete_ = true;
            server.end_shadow();
            settle();
            return;
        default: return;
    }
}

void ShadowRead::on_server_lost() { server_ = nullptr; }

void ShadowRead::settle() {
    if (!client_complete_ || !shadow_complete_) return;
    shm::WorkerSlot& slot = worker_.shm().worker(worker_.index());
    slot.shadow_reads.fetch_add(1, std::memory_order_relaxed);
    if (client_ == shadow_) return;
    slot.shadow_mismatches.fetch_add(1, std::memory_order_relaxed);
    std::string shown = statement_.size() > kLoggedStatement ? statement_.substr(0, kLoggedStatement) + "..." : statement_;
    log_warning("shadow read differs: %s answered %s, %s answered %s: %s", served_.c_str(), client_.describe().c_str(),
                shadow_node_.c_str(), shadow_.describe().c_str(), shown.c_str());
}

}  // namespace pggate::session
