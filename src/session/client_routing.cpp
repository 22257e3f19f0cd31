// Read/write splitting of a client's transactions: before a client that has
// no server gets one, its buffered input (one Query, or an extended-protocol
// segment up to Sync) is classified, and a segment that only reads goes to a
// fit replica's pool; everything else goes to the primary's. After a client's
// writing transaction ends, its reads wait for a replica that has replayed
// the primary's position sampled after that (read_your_writes).
#include <event2/buffer.h>

#include <algorithm>

#include "core/bytes.hpp"
#include "core/ascii.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "net/frame_scan.hpp"
#include "pool/pool.hpp"
#include "protocol/codec.hpp"
#include "protocol/messages.hpp"
#include "route/sql_lexer.hpp"
#include "session/client_conn.hpp"
#include "session/server_conn.hpp"
#include "session/shadow_read.hpp"
#include "session/worker.hpp"

namespace pggate::session {

namespace {

// A segment longer than this is not read ahead: it goes to the primary.
constexpr std::size_t kMaxLookahead = 64 * 1024;

}  // namespace

bool ClientConn::splits_reads() const {
    if (!transaction_pooling() || pinned_ != nullptr || route_mode_ == RouteMode::Primary || !worker_.has_replicas())
        return false;
    // pggate.route = replica is the client's own word, like a hint.
    return route_mode_ == RouteMode::Replica || pool_->settings().read_write_split;
}

bool ClientConn::parse_route_mode(std::string_view value, RouteMode& mode) {
    const std::string v = ascii_lowered(value);
    if (v == "auto") mode = RouteMode::Auto;
    else if (v == "primary") mode = RouteMode::Primary;
    else if (v == "replica") mode = RouteMode::Replica;
    else return false;
    return true;
}

bool ClientConn::answer_route_setting(std::string_view sql, char status) {
    if (!route::mentions(sql, "pggate")) return false;
    route::LexResult lexed = route::lex_sql(sql, 8);
    if (!lexed.complete || lexed.statements.size() != 1) return false;
    const route::Statement& st = lexed.statements[0];
    std::size_t i = 1;
    const bool reset = route::is_word(st, 0, "reset");
    if (!reset && !route::is_word(st, 0, "set")) return false;
    if (!reset && route::is_word(st, i, "session")) ++i;
    if (!route::is_word(st, i, "pggate") || !route::is_punct(st, i + 1, ".") || !route::is_word(st, i + 2, "route"))
        return false;
    i += 3;
    std::string value = "default";
    if (!reset) {
        if (i >= st.size() || !(st[i].text == "=" || route::is_word(st, i, "to")) || i + 2 != st.size()) return false;
        const route::Token& v = st[i + 1];
        value = v.text;
        if (v.kind == route::TokenKind::String && value.size() >= 2 && value.front() == '\'' && value.back() == '\'')
            value = value.substr(1, value.size() - 2);
    } else if (i != st.size()) {
        return false;
    }
    Bytes out;
    if (value == "default") {
        route_mode_ = startup_route_mode_;
    } else if (!parse_route_mode(value, route_mode_)) {
        worker_.count_error("22023");
        protocol::build_error(out, "ERROR", "22023",
                              "invalid value for parameter \"pggate.route\": \"" + value + "\" (use primary, replica or auto)");
    }
    if (out.empty()) protocol::build_message(out, 'C', {reset ? "RESET" : "SET", std::string_view("\0", 1)});
    protocol::build_ready_for_query(out, status);
    bufferevent_write(bev_.get(), out.data(), out.size());
    return true;
}

pool::Pool* ClientConn::route_next(bool may_refuse, std::uint32_t avoid, bool* partial) {
    retry_segment_.clear();
    read_length_ = 0;
    read_completions_ = 0;
    Segment segment;
    if (!splits_reads()) return writer_pool();
    switch (scan_next_segment(segment)) {
        case SegmentScan::Reads: break;
        case SegmentScan::Writes: return writer_pool();
        case SegmentScan::Partial:
            if (partial == nullptr) return writer_pool();
            *partial = true;
            return nullptr;
    }
    std::uint64_t min_lsn = 0;
    if (ryw_since_ns_ != 0 && route_mode_ != RouteMode::Replica) {
        route::PrimaryChoice primary = worker_.primary();
        if (ryw_lsn_ == 0 && primary.outcome == route::PrimaryChoice::Outcome::Node) {
            // The first position the primary was seen at after the commit.
            shm::NodeSample sample = worker_.node_sample(primary.node);
            if (sample.sampled_at_ns <= ryw_since_ns_) return writer_pool();
            ryw_lsn_ = sample.lsn;
        }
        // With no primary to tell the commit's position, reads go on
        // without the guarantee rather than wait for one.
        if (primary.outcome == route::PrimaryChoice::Outcome::Node) min_lsn = ryw_lsn_;
    }
    bool none_fit = false;
    if (pool::Pool* replica = worker_.replica_pool(database_, user_, min_lsn, none_fit, avoid)) {
        // A shadow server has none of the client's named statements.
        if (may_refuse && !segment.uses_named && worker_.shadows_next_read())
            plan_shadow(segment.length, segment.statement);
        // Kept for a retry elsewhere, unless running it again would prepare
        // a statement twice.
        if (!segment.parses_named) {
            retry_segment_.resize(segment.length);
            evbuffer_copyout(bufferevent_get_input(bev_.get()), retry_segment_.data(), segment.length);
        }
        read_length_ = segment.length;
        read_completions_ = segment.completions;
        return replica;
    }
    if (!none_fit || !may_refuse || worker_.config().replica_fallback != config::ReplicaFallback::Error)
        return writer_pool();
    refuse_segment("57P03", "no replica can serve this read now (down or lagging) and replica_fallback is error");
    return nullptr;
}

pool::Pool* ClientConn::primary_pool(const char*& sqlstate, std::string& refusal) {
    route::PrimaryChoice choice = worker_.primary();
    if (choice.outcome != route::PrimaryChoice::Outcome::Node) {
        if (choice.outcome != route::PrimaryChoice::Outcome::None) {
            sqlstate = "57P03";
            refusal = worker_.primary_refusal(choice);
        }
        return nullptr;
    }
    if (pool_ != nullptr && pool_->node() == choice.node) return pool_;
    pool::Pool* p = worker_.pool_for(database_, user_, choice.node);
    if (p == nullptr) {
        sqlstate = "53300";
        refusal = "no more pools can be created (the pool table is full)";
        return nullptr;
    }
    set_home_pool(p);
    return p;
}

pool::Pool* ClientConn::writer_pool() {
    const char* sqlstate = "57P03";
    std::string refusal;
    if (pool::Pool* p = primary_pool(sqlstate, refusal)) return p;
    // A segment not wholly here yet waits with the others; its refusal, if
    // it is one, comes when there is a primary or the wait times out.
    if (refusal.empty() || !refuse_segment(sqlstate, refusal)) await_primary();
    return nullptr;
}

std::size_t ClientConn::buffered_segment_length() {
    evbuffer* in = bufferevent_get_input(bev_.get());
    const std::size_t len = evbuffer_get_length(in);
    for (std::size_t pos = 0;;) {
        protocol::MessageHeader h;
        protocol::DecodeError err;
        if (net::peek_message(in, pos, protocol::Direction::Frontend, worker_.config().max_packet_size, h, err) !=
                protocol::Decode::Ok ||
            len - pos < h.frame_len())
            return 0;
        pos += h.frame_len();
        if (h.type == 'Q' || h.type == 'S') return pos;
    }
}

bool ClientConn::refuse_segment(const char* sqlstate, const std::string& message) {
    const std::size_t length = buffered_segment_length();
    if (length == 0) return false;
    log_info("C-%u %s/%s@%s: %s", id_, database_.c_str(), user_.c_str(), peer_.c_str(), message.c_str());
    worker_.count_error(sqlstate);
    Bytes out;
    protocol::build_error(out, "ERROR", sqlstate, message);
    protocol::build_ready_for_query(out, 'I');
    evbuffer_drain(bufferevent_get_input(bev_.get()), length);
    bufferevent_write(bev_.get(), out.data(), out.size());
    if (state_ == ClientState::Waiting) {
        set_state(ClientState::Idle);
        bufferevent_enable(bev_.get(), EV_READ);
    }
    return true;
}

bool ClientConn::retry_read(std::uint32_t failed_node, const std::string& failed_name) {
    constexpr std::uint32_t kMaxRetries = 2;
    if (retry_segment_.empty() || answered_ || consumed_ > retry_segment_.size() || retries_ >= kMaxRetries)
        return false;
    ++retries_;
    log_info("C-%u %s/%s@%s: node %s failed before answering a read; it runs elsewhere", id_, database_.c_str(),
             user_.c_str(), peer_.c_str(), failed_name.c_str());
    // What the server was given goes back in front of what it was not.
    evbuffer_prepend(bufferevent_get_input(bev_.get()), retry_segment_.data(), consumed_);
    scan_ = net::ScanState{};
    swallow_ = 0;
    paused_[0] = paused_[1] = false;
    set_state(ClientState::Idle);
    bufferevent_enable(bev_.get(), EV_READ);
    pool::Pool* target = route_next(false, failed_node);
    if (target != nullptr)
        wait_in(target);
    else if (state_ == ClientState::Idle && evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0)
        read_idle();
    return true;
}

void ClientConn::note_transaction_end() {
    if (!write_pending_) return;
    write_pending_ = false;
    ryw_since_ns_ = steady_now_ns();
    ryw_lsn_ = 0;
}

bool ClientConn::reroute_from(pool::Pool* failed) {
    if (state_ != ClientState::Waiting || wait_pool_ != failed) return false;
    // Writes stay with the failure while its node is still the primary.
    route::PrimaryChoice primary = worker_.primary();
    if (primary.outcome == route::PrimaryChoice::Outcome::Node && primary.node == failed->node()) return false;
    wait_pool_ = nullptr;
    pool::Pool* target = route_next(false, failed->node());
    if (target != nullptr) {
        wait_pool_ = target;
        target->acquire(this);
    } else if (state_ == ClientState::Idle && evbuffer_get_length(bufferevent_get_input(bev_.get())) > 0) {
        read_idle();
    }
    return true;
}

bool ClientConn::reads_only(std::string_view sql) {
    const route::Classification& c = worker_.classify(sql);
    route::RouteHint hint = c.hint == route::RouteHint::None && route_mode_ == RouteMode::Replica
                                ? route::RouteHint::Replica
                                : c.hint;
    switch (hint) {
        case route::RouteHint::Primary: return false;
        // The user vouches for a statement pggate cannot see into.
        case route::RouteHint::Replica:
            return c.kind == route::StatementKind::Read || c.kind == route::StatementKind::Write ||
                   c.kind == route::StatementKind::Unknown;
        case route::RouteHint::None: break;
    }
    return c.kind == route::StatementKind::Read || c.kind == route::StatementKind::BeginReadOnly;
}

// Whether the client's buffered input up to the end of its next segment (a
// Query, or extended-protocol messages through Sync) only reads, and if so
// what `segment` it is. A segment not wholly buffered yet is Partial while
// what came of it only reads, fits the lookahead and has no Flush (whose
// answers the client may wait for before it sends the rest).
ClientConn::SegmentScan ClientConn::scan_next_segment(Segment& segment) {
    evbuffer* in = bufferevent_get_input(bev_.get());
    const std::size_t len = evbuffer_get_length(in);
    std::size_t pos = 0;
    bool parsed = false;  // a Parse in this segment (an unnamed Bind needs one)
    bool runs = false;    // a statement to run: a Parse, or a Bind of an earlier one
    bool flushed = false;
    while (pos < kMaxLookahead) {
        protocol::MessageHeader h;
        protocol::DecodeError err;
        const protocol::Decode d =
            net::peek_message(in, pos, protocol::Direction::Frontend, worker_.config().max_packet_size, h, err);
        if (d == protocol::Decode::Error) return SegmentScan::Writes;
        if (d == protocol::Decode::NeedMore || len - pos < h.frame_len()) {
            const bool fits = d == protocol::Decode::NeedMore || pos + h.frame_len() <= kMaxLookahead;
            return fits && !flushed ? SegmentScan::Partial : SegmentScan::Writes;
        }
        if (pos + h.frame_len() > kMaxLookahead) return SegmentScan::Writes;
        const std::uint8_t* p = evbuffer_pullup(in, static_cast<ev_ssize_t>(pos + h.frame_len())) + pos;
        ByteReader r(p + protocol::kHeaderSize, h.body_len());
        switch (h.type) {
            case 'Q': {
                std::string_view sql = r.cstring();
                segment.length = h.frame_len();
                segment.statement = sql;
                if (pos != 0 || r.failed() || !reads_only(sql)) return SegmentScan::Writes;
                segment.completions = std::max<std::uint32_t>(worker_.classify(sql).statements, 1);
                return SegmentScan::Reads;
            }
            case 'P': {
                if (!r.cstring().empty()) segment.uses_named = segment.parses_named = true;
                std::string_view sql = r.cstring();
                if (r.failed() || !reads_only(sql)) return SegmentScan::Writes;
                if (segment.statement.empty()) segment.statement = sql;
                parsed = runs = true;
                break;
            }
            case 'B': {
                r.cstring();  // the portal
                std::string name(r.cstring());
                if (r.failed()) return SegmentScan::Writes;
                // A statement parsed earlier: its text decides. One parsed in
                // this segment was read above.
                if (auto it = stmts_.find(name); it != stmts_.end()) {
                    if (!reads_only(it->second->sql())) return SegmentScan::Writes;
                    segment.uses_named = true;
                } else if (!parsed) {
                    return SegmentScan::Writes;
                }
                runs = true;
                break;
            }
            case 'E':
                ++segment.completions;
                break;
            case 'D': case 'C':
                break;
            case 'H':
                flushed = true;
                break;
            case 'S':
                segment.length = pos + h.frame_len();
                return runs ? SegmentScan::Reads : SegmentScan::Writes;
            default:
                return SegmentScan::Writes;
        }
        pos += h.frame_len();
    }
    return SegmentScan::Writes;
}

void ClientConn::note_write(std::string_view sql) {
    // Only read_your_writes asks; without replicas nothing would read it.
    if (write_pending_ || !worker_.config().read_your_writes || !splits_reads()) return;
    route::StatementKind kind = worker_.classify(sql).kind;
    if (kind == route::StatementKind::Write || kind == route::StatementKind::Unknown) write_pending_ = true;
}

void ClientConn::plan_shadow(std::size_t length, std::string_view statement) {
    shadow_statement_ = statement;  // copied before the buffer changes
    shadow_segment_.resize(length);
    evbuffer_copyout(bufferevent_get_input(bev_.get()), shadow_segment_.data(), length);
}

// The shadow runs only on an idle server of its target, next to a read that
// got its own server at once: shadows never make a client wait nor open
// servers.
void ClientConn::start_shadow(pool::Pool* served) {
    Bytes segment = std::exchange(shadow_segment_, {});
    std::string statement = std::exchange(shadow_statement_, {});
    if (server_ == nullptr || server_->pool() != served || shadow_ != nullptr) return;
    pool::Pool* target = shadow_target(served);
    ServerConn* server = target != nullptr ? target->take_idle() : nullptr;
    if (server == nullptr) return;
    ShadowRead& run = worker_.add_shadow(std::make_unique<ShadowRead>(
        worker_, std::move(statement), served->node_name(), target->node_name()));
    run.start(server, session_state_query(*server), segment);
    shadow_ = &run;
}

pool::Pool* ClientConn::shadow_target(pool::Pool* served) {
    if (worker_.config().shadow_target == config::ShadowTarget::Primary) return pool_;
    // Another replica fit to read from: each is offered once in turn.
    for (std::size_t i = 0; i < worker_.config().nodes.size(); ++i) {
        bool none_fit = false;
        pool::Pool* other = worker_.replica_pool(database_, user_, 0, none_fit);
        if (other == nullptr) return nullptr;
        if (other != served) return other;
    }
    return nullptr;
}

}  // namespace pggate::session
