// Fuzzes the wire codec in both directions: startup-phase packets, typed
// frames fed in arbitrary splits (decode_frame and the relay's evbuffer scan),
// the message parsers and the ReadyForQuery accounting.
//
// Input: byte 0 picks max_length and the messages the relay wants whole,
// bytes 1..6 are the sizes of the chunks the stream arrives in (0: all the
// rest at once), the rest is the byte stream.
#include <event2/buffer.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "fuzz_util.hpp"
#include "net/frame_scan.hpp"
#include "protocol/codec.hpp"
#include "protocol/messages.hpp"
#include "protocol/sync_tracker.hpp"

using namespace pggate;
using namespace pggate::protocol;

namespace {

using Span = std::span<const std::uint8_t>;

std::string_view text(Span s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }
Span bytes(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
bool same(const Bytes& a, Span b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }

// What a decoder made of a stream, to compare one way of feeding it with another.
struct Log {
    std::vector<std::string> events;
    std::size_t consumed = 0;
    bool error = false;
};

std::vector<Span> chunks_of(Span stream, const std::uint8_t sizes[6]) {
    std::vector<Span> chunks;
    std::size_t k = 0;
    while (!stream.empty()) {
        std::size_t n = sizes[k++ % 6];
        if (n == 0 || n > stream.size()) n = stream.size();
        chunks.push_back(stream.first(n));
        stream = stream.subspan(n);
    }
    return chunks;
}

void check_error(const DecodeError& err) {
    FUZZ_CHECK(!err.message.empty());
    FUZZ_CHECK(err.sqlstate != nullptr && std::strlen(err.sqlstate) == 5);
}

// decode_startup on `in`, with what must hold whatever it returns.
Decode startup_checked(Span in, StartupPacket& p, DecodeError& err) {
    Decode d = decode_startup(in, p, err);
    if (d == Decode::NeedMore) {
        FUZZ_CHECK(in.size() < 4 || load_be32(in.data()) > in.size());
        return d;
    }
    if (d == Decode::Error) {
        check_error(err);
        return d;
    }
    const std::size_t len = p.frame_len;
    FUZZ_CHECK(len >= 8 && len <= kMaxStartupPacket && len <= in.size() && len == load_be32(in.data()));
    // Every shorter prefix is still waiting for the rest of the packet.
    StartupPacket q;
    DecodeError e2;
    FUZZ_CHECK(decode_startup(in.first(len - 1), q, e2) == Decode::NeedMore);
    switch (p.kind) {
        case StartupKind::SslRequest:
        case StartupKind::GssEncRequest:
            FUZZ_CHECK(len == 8 && p.params.empty());
            break;
        case StartupKind::CancelRequest: {
            FUZZ_CHECK(len == 16);
            Bytes again;
            build_cancel_request(again, p.cancel_pid, p.cancel_secret);
            FUZZ_CHECK(same(again, in.first(16)));
            break;
        }
        case StartupKind::Startup: {
            FUZZ_CHECK((p.protocol >> 16) == 3 && !p.param("user").empty());
            // The layout is exact, so building the same parameters gives the
            // same bytes but for the minor version.
            Bytes again;
            build_startup(again, p.params);
            FUZZ_CHECK(again.size() == len);
            FUZZ_CHECK(std::memcmp(again.data(), in.data(), 4) == 0);
            FUZZ_CHECK(std::memcmp(again.data() + 8, in.data() + 8, len - 8) == 0);
            StartupPacket r;
            FUZZ_CHECK(decode_startup(again, r, e2) == Decode::Ok && r.params == p.params);
            break;
        }
    }
    return d;
}

// decode_frame on `in`, with what must hold whatever it returns.
Decode frame_checked(Span in, Direction dir, std::uint32_t max_length, Frame& f, DecodeError& err) {
    Decode d = decode_frame(in, dir, max_length, f, err);
    MessageHeader h;
    DecodeError e2;
    Decode dh = decode_header(in, dir, max_length, h, e2);
    if (d == Decode::Error) {
        check_error(err);
        FUZZ_CHECK(dh == Decode::Error);
        return d;
    }
    if (d == Decode::NeedMore) {
        // Never NeedMore with a whole frame in hand.
        FUZZ_CHECK(in.size() < kHeaderSize || (dh == Decode::Ok && h.frame_len() > in.size()));
        return d;
    }
    FUZZ_CHECK(dh == Decode::Ok && h.type == f.header.type && h.length == f.header.length);
    FUZZ_CHECK(f.header.length >= 4 && f.header.length <= max_length && f.header.length <= kMaxWireLength);
    FUZZ_CHECK(f.header.frame_len() <= in.size());
    FUZZ_CHECK(f.body.data() == in.data() + kHeaderSize && f.body.size() == f.header.body_len());
    FUZZ_CHECK(dir == Direction::Frontend ? is_frontend_type(f.header.type) : is_backend_type(f.header.type));
    Frame g;
    FUZZ_CHECK(decode_frame(in.first(f.header.frame_len() - 1), dir, max_length, g, e2) == Decode::NeedMore);
    return d;
}

std::string frame_event(const Frame& f) { return std::string(1, f.header.type) + std::string(text(f.body)); }

// Feeds `chunks` to a decoder that buffers what it has not consumed, as a
// connection does: startup packets first (for a client), then typed messages.
Log decode_stream(const std::vector<Span>& chunks, Direction dir, bool startup, std::uint32_t max_length) {
    Log log;
    Bytes buf;
    bool in_startup = startup;
    bool stopped = false;
    for (Span chunk : chunks) {
        if (stopped) break;
        buf.insert(buf.end(), chunk.begin(), chunk.end());
        std::size_t pos = 0;
        while (!stopped) {
            Span rest = Span(buf).subspan(pos);
            DecodeError err;
            if (in_startup) {
                StartupPacket p;
                Decode d = startup_checked(rest, p, err);
                if (d == Decode::NeedMore) break;
                if (d == Decode::Error) {
                    log.events.push_back("error " + err.message);
                    log.error = stopped = true;
                    break;
                }
                std::string e = "startup " + std::to_string(static_cast<int>(p.kind));
                for (const auto& [k, v] : p.params) e += " " + k + "=" + v;
                log.events.push_back(e);
                pos += p.frame_len;
                if (p.kind == StartupKind::CancelRequest) stopped = true;
                if (p.kind == StartupKind::Startup) in_startup = false;
                continue;
            }
            Frame f;
            Decode d = frame_checked(rest, dir, max_length, f, err);
            if (d == Decode::NeedMore) break;
            if (d == Decode::Error) {
                log.events.push_back("error " + err.message);
                log.error = stopped = true;
                break;
            }
            log.events.push_back(frame_event(f));
            pos += f.header.frame_len();
        }
        log.consumed += pos;
        buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(pos));
    }
    return log;
}

// The relay's way: scan_frames over an evbuffer forwards what it need not
// read and stops at the messages it wants whole.
void check_scan(Span stream, const std::vector<Span>& chunks, Direction dir, std::uint32_t max_length,
                unsigned want_mask, const Log& whole) {
    static constexpr char kFrontendWanted[] = "QPBESXpd";
    static constexpr char kBackendWanted[] = "ZEKRSCDT";
    const char* wanted = dir == Direction::Frontend ? kFrontendWanted : kBackendWanted;
    auto want = [&](const MessageHeader& h) {
        for (int i = 0; i < 8; ++i)
            if ((want_mask >> i & 1) && h.type == wanted[i]) return true;
        return false;
    };

    std::unique_ptr<evbuffer, void (*)(evbuffer*)> in(evbuffer_new(), evbuffer_free);
    FUZZ_CHECK(in != nullptr);
    net::ScanState state;
    Bytes forwarded;
    std::vector<std::string> messages;
    bool error = false;
    for (Span chunk : chunks) {
        if (error) break;
        FUZZ_CHECK(evbuffer_add(in.get(), chunk.data(), chunk.size()) == 0);
        while (true) {
            const std::size_t have = evbuffer_get_length(in.get());
            net::ScanResult r = net::scan_frames(in.get(), state, dir, max_length, want);
            FUZZ_CHECK(r.forward <= have);
            std::size_t at = forwarded.size();
            forwarded.resize(at + r.forward);
            FUZZ_CHECK(evbuffer_remove(in.get(), forwarded.data() + at, r.forward) == static_cast<int>(r.forward));
            if (r.stop == net::ScanStop::More) break;
            FUZZ_CHECK(state.at_boundary());
            if (r.stop == net::ScanStop::Error) {
                check_error(r.error);
                error = true;
                break;
            }
            FUZZ_CHECK(want(r.header));
            MessageHeader peeked;
            DecodeError err;
            FUZZ_CHECK(net::peek_message(in.get(), 0, dir, max_length, peeked, err) == Decode::Ok);
            FUZZ_CHECK(peeked.type == r.header.type && peeked.length == r.header.length);
            const std::size_t len = r.header.frame_len();
            if (evbuffer_get_length(in.get()) < len) break;  // wait for the whole message
            Bytes msg(len);
            FUZZ_CHECK(evbuffer_remove(in.get(), msg.data(), len) == static_cast<int>(len));
            forwarded.insert(forwarded.end(), msg.begin(), msg.end());
            messages.push_back(std::string(1, r.header.type) +
                               std::string(text(Span(msg).subspan(kHeaderSize))));
        }
    }
    // Bytes leave in the order they came, none lost or added.
    FUZZ_CHECK(forwarded.size() <= stream.size());
    FUZZ_CHECK(std::equal(forwarded.begin(), forwarded.end(), stream.begin()));
    // The wanted messages are the ones the whole-buffer decoder finds.
    std::vector<std::string> expected;
    for (const std::string& e : whole.events)
        if (!e.starts_with("error ")) {
            MessageHeader h;
            h.type = e[0];
            if (want(h)) expected.push_back(e);
        }
    FUZZ_CHECK(messages == expected);
    FUZZ_CHECK(error == whole.error);
    if (error) {
        FUZZ_CHECK(forwarded.size() == whole.consumed);
    } else {
        // Only an unwanted message still arriving may be forwarded in part.
        FUZZ_CHECK(forwarded.size() >= whole.consumed);
        if (forwarded.size() > whole.consumed) {
            Span tail = stream.subspan(whole.consumed);
            MessageHeader h;
            DecodeError err;
            FUZZ_CHECK(decode_header(tail, dir, max_length, h, err) == Decode::Ok && !want(h));
            FUZZ_CHECK(h.frame_len() > tail.size());
        }
    }
}

// Parsers of the bodies pggate reads, and builders that must give back the same bytes.
void check_parsers(const Frame& f, Span frame, Direction dir) {
    Span body = f.body;
    if (dir == Direction::Frontend) {
        if (f.header.type == 'Q' && !body.empty() && body.back() == 0) {
            std::string_view sql = text(body.first(body.size() - 1));
            if (sql.find('\0') == std::string_view::npos) {
                Bytes again;
                build_query(again, sql);
                FUZZ_CHECK(same(again, frame));
            }
        }
        return;
    }
    auto rfq = parse_ready_for_query(body);
    FUZZ_CHECK(!rfq || (body.size() == 1 && (*rfq == 'I' || *rfq == 'T' || *rfq == 'E')));
    if (rfq && f.header.type == 'Z') {
        Bytes again;
        build_ready_for_query(again, *rfq);
        FUZZ_CHECK(same(again, frame));
    }
    auto key = parse_backend_key_data(body);
    FUZZ_CHECK(key.has_value() == (body.size() == 8));
    if (key && f.header.type == 'K') {
        Bytes again;
        build_backend_key_data(again, key->pid, key->secret);
        FUZZ_CHECK(same(again, frame));
    }
    auto fields = parse_error_fields(body);
    if (fields) {
        FUZZ_CHECK(!body.empty() && body.back() == 0);
        Bytes again;
        build_error(again, fields->severity, fields->sqlstate, fields->message);
        Frame g;
        DecodeError err;
        FUZZ_CHECK(decode_frame(again, Direction::Backend, kMaxWireLength, g, err) == Decode::Ok);
        FUZZ_CHECK(g.header.frame_len() == again.size());
        auto back = parse_error_fields(g.body);
        FUZZ_CHECK(back && back->severity == fields->severity && back->sqlstate == fields->sqlstate &&
                   back->message == fields->message);
    }
}

void check_all_frames(Span stream, Direction dir, std::uint32_t max_length) {
    while (true) {
        Frame f;
        DecodeError err;
        if (decode_frame(stream, dir, max_length, f, err) != Decode::Ok) return;
        check_parsers(f, stream.first(f.header.frame_len()), dir);
        stream = stream.subspan(f.header.frame_len());
    }
}

// Each byte is a frontend message type, or (high bit) a ReadyForQuery.
void check_sync_tracker(Span stream) {
    SyncTracker t;
    std::uint64_t owed_max = 0;
    std::uint64_t rfq = 0;
    for (std::uint8_t b : stream) {
        if (b & 0x80) {
            t.on_ready_for_query("ITE"[b % 3]);
            ++rfq;
        } else {
            char type = static_cast<char>(b);
            if (type == 'Q' || type == 'F' || type == 'S') ++owed_max;
            t.on_frontend(type);
        }
        FUZZ_CHECK(t.outstanding() <= owed_max);  // never wraps below zero
        FUZZ_CHECK(t.completed() == rfq);
        FUZZ_CHECK(t.current_segment() == t.completed() + t.outstanding());
        FUZZ_CHECK(t.status() == 'I' || t.status() == 'T' || t.status() == 'E');
        FUZZ_CHECK(!t.releasable() || t.synced());
        FUZZ_CHECK(!t.synced() || t.accepts_query());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Cursor c(text(Span(data, size)));
    const unsigned control = c.byte();
    std::uint8_t sizes[6];
    for (auto& s : sizes) s = c.byte();
    const Span stream = bytes(c.rest());

    static constexpr std::uint32_t kMaxLengths[] = {kMaxWireLength, 8192, 64, 5};
    const std::uint32_t max_length = kMaxLengths[control & 3];
    const unsigned want_mask = (control >> 2) * 37 % 256;

    StartupPacket p;
    DecodeError err;
    startup_checked(stream, p, err);

    const std::vector<Span> whole_chunk = stream.empty() ? std::vector<Span>{} : std::vector<Span>{stream};
    const std::vector<Span> chunks = chunks_of(stream, sizes);
    for (Direction dir : {Direction::Frontend, Direction::Backend}) {
        const bool startup = dir == Direction::Frontend;
        // However the bytes arrive, the decoder sees the same messages.
        Log whole = decode_stream(whole_chunk, dir, startup, max_length);
        Log split = decode_stream(chunks, dir, startup, max_length);
        FUZZ_CHECK(whole.events == split.events && whole.consumed == split.consumed && whole.error == split.error);

        Log typed = decode_stream(whole_chunk, dir, false, max_length);
        check_scan(stream, chunks, dir, max_length, want_mask, typed);
        check_all_frames(stream, dir, max_length);
    }
    check_sync_tracker(stream);
    return 0;
}
