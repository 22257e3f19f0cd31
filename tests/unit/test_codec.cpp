// Unit tests of the wire codec: startup packets and typed frames fed whole, in
// every split, several per buffer, with malformed lengths and random bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bytes.hpp"
#include "protocol/codec.hpp"

namespace {

using namespace std::string_literals;
using pggate::Bytes;
using pggate::load_be32;
using pggate::store_be32;
using pggate::protocol::Decode;
using pggate::protocol::DecodeError;
using pggate::protocol::Direction;
using pggate::protocol::Frame;
using pggate::protocol::MessageHeader;
using pggate::protocol::StartupKind;
using pggate::protocol::StartupPacket;
namespace proto = pggate::protocol;

using Params = std::vector<std::pair<std::string, std::string>>;

// The type bytes of the protocol v3 documentation, written out independently
// of the codec's own tables.
constexpr std::string_view kFrontendTypes = "BCdcfDEHFPpQSX";
constexpr std::string_view kBackendTypes = "RK23CdcGHWDIEVvnNAtS1sZT";

constexpr std::uint32_t kLargeMax = proto::kMaxWireLength;

std::span<const std::uint8_t> view(const Bytes& b) { return {b.data(), b.size()}; }

std::string as_string(std::span<const std::uint8_t> s) {
    return std::string(s.begin(), s.end());
}

void put32(Bytes& b, std::uint32_t v) {
    std::size_t at = b.size();
    b.resize(at + 4);
    store_be32(b.data() + at, v);
}

void append(Bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }

// A startup-phase packet: int32 length, int32 code, then `body` verbatim.
Bytes startup_raw(std::uint32_t code, std::string_view body) {
    Bytes b;
    put32(b, static_cast<std::uint32_t>(8 + body.size()));
    put32(b, code);
    append(b, body);
    return b;
}

// A StartupMessage with the given parameters and the final terminator.
Bytes startup_message(std::uint32_t protocol, const Params& params) {
    std::string body;
    for (const auto& [k, v] : params) body += k + '\0' + v + '\0';
    body += '\0';
    return startup_raw(protocol, body);
}

// A typed message whose length field is computed from `body`.
Bytes message(char type, std::string_view body) {
    Bytes b;
    b.push_back(static_cast<std::uint8_t>(type));
    put32(b, static_cast<std::uint32_t>(4 + body.size()));
    append(b, body);
    return b;
}

// A typed message with an arbitrary (possibly lying) length field.
Bytes message_with_length(std::uint8_t type, std::uint32_t length, std::string_view body = {}) {
    Bytes b;
    b.push_back(type);
    put32(b, length);
    append(b, body);
    return b;
}

Bytes concat(const std::vector<Bytes>& parts) {
    Bytes out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}

Bytes ssl_request() { return {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}; }
Bytes gssenc_request() { return {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30}; }
Bytes cancel_request(std::uint32_t pid, std::uint32_t secret) {
    Bytes b{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e};
    put32(b, pid);
    put32(b, secret);
    return b;
}

Decode startup(const Bytes& b, StartupPacket& out, DecodeError& err) {
    return proto::decode_startup(view(b), out, err);
}

// Expects `b` to be rejected as soon as its first `available` bytes are seen.
void check_startup_error(const Bytes& b, std::string_view sqlstate, std::size_t available) {
    CAPTURE(b.size());
    CAPTURE(available);
    StartupPacket pkt;
    DecodeError err;
    Decode d = proto::decode_startup(view(b).first(available), pkt, err);
    CHECK(d == Decode::Error);
    CHECK(std::string_view(err.sqlstate) == sqlstate);
    CHECK_FALSE(err.message.empty());
}

// Every strict prefix of `b` needs more; `b` itself (and `b` followed by the
// start of another packet) decodes Ok with frame_len == b.size().
void check_startup_prefixes(const Bytes& b) {
    for (std::size_t k = 0; k < b.size(); ++k) {
        StartupPacket pkt;
        DecodeError err;
        CAPTURE(k);
        CHECK(proto::decode_startup(view(b).first(k), pkt, err) == Decode::NeedMore);
    }
    StartupPacket pkt;
    DecodeError err;
    REQUIRE(startup(b, pkt, err) == Decode::Ok);
    CHECK(pkt.frame_len == b.size());
}

bool legal_type(std::uint8_t t, Direction dir) {
    std::string_view set = dir == Direction::Frontend ? kFrontendTypes : kBackendTypes;
    return set.find(static_cast<char>(t)) != std::string_view::npos;
}

// A decoded frame, copied out of the buffer it came from.
struct Copied {
    char type;
    std::string body;
    bool operator==(const Copied&) const = default;
};

// What a connection's reader does: append what arrived, then take whole
// frames off the front until the codec needs more or reports an error.
class FrameReader {
public:
    FrameReader(Direction dir, std::uint32_t max_length) : dir_(dir), max_(max_length) {}

    void feed(std::span<const std::uint8_t> chunk) {
        buf_.insert(buf_.end(), chunk.begin(), chunk.end());
        while (!error_) {
            Frame f;
            DecodeError err;
            Decode d = proto::decode_frame(view(buf_), dir_, max_, f, err);
            if (d == Decode::NeedMore) break;
            if (d == Decode::Error) {
                error_ = true;
                break;
            }
            frames_.push_back({f.header.type, as_string(f.body)});
            buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(f.header.frame_len()));
        }
    }

    const std::vector<Copied>& frames() const { return frames_; }
    bool error() const { return error_; }
    std::size_t buffered() const { return buf_.size(); }

private:
    Direction dir_;
    std::uint32_t max_;
    Bytes buf_;
    std::vector<Copied> frames_;
    bool error_ = false;
};

// Decodes every frame of `b` in one pass, advancing by frame_len.
std::vector<Copied> decode_all(const Bytes& b, Direction dir, std::size_t& consumed) {
    std::vector<Copied> out;
    consumed = 0;
    while (consumed < b.size()) {
        Frame f;
        DecodeError err;
        if (proto::decode_frame(view(b).subspan(consumed), dir, kLargeMax, f, err) != Decode::Ok)
            break;
        out.push_back({f.header.type, as_string(f.body)});
        consumed += f.header.frame_len();
    }
    return out;
}

// A client's first bytes: SSLRequest (answered 'N'), StartupMessage, then a
// pipeline of typed messages, including an empty-bodied one.
struct ClientStream {
    Bytes bytes;
    std::vector<Copied> typed;
};

ClientStream client_stream() {
    ClientStream s;
    std::vector<Bytes> parts{ssl_request(),
                             startup_message(proto::kProtocolV3, {{"user", "alice"}, {"database", "app"}})};
    s.typed = {{'P', "s1\0SELECT $1\0\0\0"s},
               {'B', "\0s1\0\0\0\0\1\0\0\0\0012\0\0"s},
               {'D', "P\0"s},
               {'E', "\0\0\0\0\0"s},
               {'S', ""},
               {'Q', "SELECT 1;\0"s},
               {'X', ""}};
    for (const auto& m : s.typed) parts.push_back(message(m.type, m.body));
    s.bytes = concat(parts);
    return s;
}

// The startup phase then the typed phase, as a client session reads them.
class ClientReader {
public:
    void feed(std::span<const std::uint8_t> chunk) {
        buf_.insert(buf_.end(), chunk.begin(), chunk.end());
        while (!error_ && !started_) {
            StartupPacket pkt;
            DecodeError err;
            Decode d = proto::decode_startup(view(buf_), pkt, err);
            if (d == Decode::NeedMore) return;
            if (d == Decode::Error) {
                error_ = true;
                return;
            }
            startup_.push_back(pkt);
            buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pkt.frame_len));
            started_ = pkt.kind == StartupKind::Startup;
        }
        if (started_ && !error_) {
            Bytes rest;
            rest.swap(buf_);
            typed_.feed(view(rest));
        }
    }

    std::vector<StartupPacket> startup_;
    FrameReader typed_{Direction::Frontend, 8192};
    bool error_ = false;

private:
    Bytes buf_;
    bool started_ = false;
};

}  // namespace

TEST_SUITE("codec.startup") {

TEST_CASE("StartupMessage v3.0 keeps parameters in wire order") {
    Bytes b = startup_message(proto::kProtocolV3,
                              {{"user", "alice"}, {"database", "app"}, {"application_name", "psql"}});
    StartupPacket pkt;
    DecodeError err;
    REQUIRE(startup(b, pkt, err) == Decode::Ok);
    CHECK(pkt.kind == StartupKind::Startup);
    CHECK(pkt.protocol == 0x00030000u);
    CHECK(pkt.frame_len == b.size());
    REQUIRE(pkt.params.size() == 3);
    CHECK(pkt.params[0] == std::pair<std::string, std::string>{"user", "alice"});
    CHECK(pkt.params[1] == std::pair<std::string, std::string>{"database", "app"});
    CHECK(pkt.params[2] == std::pair<std::string, std::string>{"application_name", "psql"});
    CHECK(pkt.param("user") == "alice");
    CHECK(pkt.param("database") == "app");
    CHECK(pkt.param("application_name") == "psql");
    CHECK(pkt.param("options").empty());
    CHECK(pkt.param("use").empty());
    CHECK(pkt.param("").empty());
}

TEST_CASE("StartupMessage keeps empty values and the order of a reversed list") {
    Bytes b = startup_message(proto::kProtocolV3,
                              {{"application_name", ""}, {"database", "d"}, {"user", "u"}});
    StartupPacket pkt;
    DecodeError err;
    REQUIRE(startup(b, pkt, err) == Decode::Ok);
    REQUIRE(pkt.params.size() == 3);
    CHECK(pkt.params[0].first == "application_name");
    CHECK(pkt.params[0].second.empty());
    CHECK(pkt.params[1].first == "database");
    CHECK(pkt.params[2].first == "user");
    CHECK(pkt.param("user") == "u");
}

TEST_CASE("StartupMessage with only a user") {
    Bytes b = startup_message(proto::kProtocolV3, {{"user", "bob"}});
    StartupPacket pkt;
    DecodeError err;
    REQUIRE(startup(b, pkt, err) == Decode::Ok);
    CHECK(pkt.params.size() == 1);
    CHECK(pkt.param("user") == "bob");
    CHECK(pkt.param("database").empty());
}

TEST_CASE("SSLRequest, GSSENCRequest and CancelRequest") {
    StartupPacket pkt;
    DecodeError err;

    SUBCASE("SSLRequest") {
        REQUIRE(startup(ssl_request(), pkt, err) == Decode::Ok);
        CHECK(pkt.kind == StartupKind::SslRequest);
        CHECK(pkt.frame_len == 8);
        CHECK(pkt.params.empty());
    }
    SUBCASE("GSSENCRequest") {
        REQUIRE(startup(gssenc_request(), pkt, err) == Decode::Ok);
        CHECK(pkt.kind == StartupKind::GssEncRequest);
        CHECK(pkt.frame_len == 8);
    }
    SUBCASE("CancelRequest") {
        REQUIRE(startup(cancel_request(4242, 0xdeadbeef), pkt, err) == Decode::Ok);
        CHECK(pkt.kind == StartupKind::CancelRequest);
        CHECK(pkt.frame_len == 16);
        CHECK(pkt.cancel_pid == 4242u);
        CHECK(pkt.cancel_secret == 0xdeadbeefu);
    }
    SUBCASE("CancelRequest with all bits set in the key") {
        REQUIRE(startup(cancel_request(0xffffffff, 0x80000000), pkt, err) == Decode::Ok);
        CHECK(pkt.kind == StartupKind::CancelRequest);
        CHECK(pkt.cancel_pid == 0xffffffffu);
        CHECK(pkt.cancel_secret == 0x80000000u);
    }
    SUBCASE("the request codes match the protocol's constants") {
        CHECK(proto::kSslRequestCode == (1234u << 16 | 5679u));
        CHECK(proto::kGssEncRequestCode == (1234u << 16 | 5680u));
        CHECK(proto::kCancelRequestCode == (1234u << 16 | 5678u));
        CHECK(proto::kProtocolV3 == (3u << 16));
    }
}

TEST_CASE("a decode reuses the output packet without leftovers") {
    StartupPacket pkt;
    DecodeError err;
    REQUIRE(startup(startup_message(proto::kProtocolV3, {{"user", "a"}, {"database", "b"}}), pkt, err) ==
            Decode::Ok);
    REQUIRE(pkt.params.size() == 2);
    REQUIRE(startup(ssl_request(), pkt, err) == Decode::Ok);
    CHECK(pkt.kind == StartupKind::SslRequest);
    CHECK(pkt.params.empty());
    CHECK(pkt.frame_len == 8);
    REQUIRE(startup(startup_message(proto::kProtocolV3, {{"user", "c"}}), pkt, err) == Decode::Ok);
    CHECK(pkt.params.size() == 1);
    CHECK(pkt.param("database").empty());
}

TEST_CASE("every prefix of a startup-phase packet needs more") {
    SUBCASE("StartupMessage") {
        check_startup_prefixes(startup_message(
            proto::kProtocolV3, {{"user", "alice"}, {"database", "app"}, {"application_name", "psql"}}));
    }
    SUBCASE("SSLRequest") { check_startup_prefixes(ssl_request()); }
    SUBCASE("GSSENCRequest") { check_startup_prefixes(gssenc_request()); }
    SUBCASE("CancelRequest") { check_startup_prefixes(cancel_request(1, 2)); }
}

TEST_CASE("bytes of the next packet after a startup-phase packet change nothing") {
    const std::vector<Bytes> packets{
        startup_message(proto::kProtocolV3, {{"user", "alice"}, {"database", "app"}}), ssl_request(),
        gssenc_request(), cancel_request(77, 88)};
    const std::vector<Bytes> trailers{
        ssl_request(), startup_message(proto::kProtocolV3, {{"user", "mallory"}}),
        message('Q', "SELECT 1\0"s), Bytes(40, 0xff), Bytes(3, 0x00), Bytes{0}};
    for (const auto& p : packets) {
        StartupPacket alone;
        DecodeError err;
        REQUIRE(startup(p, alone, err) == Decode::Ok);
        for (const auto& t : trailers) {
            Bytes both = concat({p, t});
            StartupPacket pkt;
            CAPTURE(p.size());
            CAPTURE(t.size());
            REQUIRE(startup(both, pkt, err) == Decode::Ok);
            CHECK(pkt.kind == alone.kind);
            CHECK(pkt.frame_len == p.size());
            CHECK(pkt.protocol == alone.protocol);
            CHECK(pkt.params == alone.params);
            CHECK(pkt.cancel_pid == alone.cancel_pid);
            CHECK(pkt.cancel_secret == alone.cancel_secret);
        }
    }
}

TEST_CASE("an SSLRequest then a StartupMessage in one buffer decode one after the other") {
    Bytes b = concat({ssl_request(), startup_message(proto::kProtocolV3, {{"user", "u"}})});
    StartupPacket pkt;
    DecodeError err;
    REQUIRE(startup(b, pkt, err) == Decode::Ok);
    CHECK(pkt.kind == StartupKind::SslRequest);
    REQUIRE(proto::decode_startup(view(b).subspan(pkt.frame_len), pkt, err) == Decode::Ok);
    CHECK(pkt.kind == StartupKind::Startup);
    CHECK(pkt.frame_len == b.size() - 8);
    CHECK(pkt.param("user") == "u");
}

TEST_CASE("startup packet lengths outside [8, 10000] are refused on the length alone") {
    for (std::uint32_t len : {0u, 1u, 4u, 7u, 10001u, 65536u, 0x7fffffffu, 0x80000000u, 0xffffffffu}) {
        Bytes b;
        put32(b, len);
        put32(b, proto::kProtocolV3);
        append(b, "user\0u\0\0"s);
        CAPTURE(len);
        check_startup_error(b, "08P01", 4);
        check_startup_error(b, "08P01", b.size());
    }
}

TEST_CASE("a startup packet of exactly 10000 bytes is accepted") {
    // length + code + "user\0" + value + "\0" + terminator
    std::string value(10000 - 8 - 5 - 1 - 1, 'x');
    Bytes b = startup_message(proto::kProtocolV3, {{"user", value}});
    REQUIRE(b.size() == 10000);
    StartupPacket pkt;
    DecodeError err;
    REQUIRE(startup(b, pkt, err) == Decode::Ok);
    CHECK(pkt.frame_len == 10000);
    CHECK(pkt.param("user") == value);

    Bytes longer = startup_message(proto::kProtocolV3, {{"user", value + "x"}});
    REQUIRE(longer.size() == 10001);
    check_startup_error(longer, "08P01", 4);
}

TEST_CASE("an encryption request longer than 8 bytes is a protocol violation") {
    for (std::uint32_t code : {proto::kSslRequestCode, proto::kGssEncRequestCode}) {
        CAPTURE(code);
        check_startup_error(startup_raw(code, "\0\0\0\0"s), "08P01", 12);
        check_startup_error(startup_raw(code, "\0"s), "08P01", 9);
    }
}

TEST_CASE("a CancelRequest of any length but 16 is a protocol violation") {
    check_startup_error(startup_raw(proto::kCancelRequestCode, ""), "08P01", 8);
    check_startup_error(startup_raw(proto::kCancelRequestCode, "\0\0\0\1"s), "08P01", 12);
    check_startup_error(startup_raw(proto::kCancelRequestCode, "\0\0\0\1\0\0\0\2\0\0\0\3"s), "08P01", 20);
    check_startup_error(startup_raw(proto::kCancelRequestCode, "\0\0\0\1\0\0\0\2\0"s), "08P01", 17);
}

TEST_CASE("protocols other than 3 are not supported") {
    for (std::uint32_t major : {0u, 1u, 2u, 4u, 1234u}) {
        CAPTURE(major);
        check_startup_error(startup_message(major << 16, {{"user", "u"}}), "0A000",
                            startup_message(major << 16, {{"user", "u"}}).size());
    }
    // Protocol 2.0 packets have a fixed layout, not a parameter list.
    Bytes v2 = startup_raw(0x00020000, std::string(288, '\0'));
    check_startup_error(v2, "0A000", v2.size());
}

TEST_CASE("a StartupMessage without a user is refused with 28000") {
    check_startup_error(startup_message(proto::kProtocolV3, {{"database", "app"}}), "28000",
                        startup_message(proto::kProtocolV3, {{"database", "app"}}).size());
    Bytes no_params = startup_message(proto::kProtocolV3, {});
    check_startup_error(no_params, "28000", no_params.size());
    Bytes empty_user = startup_message(proto::kProtocolV3, {{"user", ""}, {"database", "app"}});
    check_startup_error(empty_user, "28000", empty_user.size());
    Bytes user_as_value = startup_message(proto::kProtocolV3, {{"database", "user"}});
    check_startup_error(user_as_value, "28000", user_as_value.size());
}

TEST_CASE("a malformed parameter list is a protocol violation") {
    const std::vector<std::string> bodies{
        "",                           // no terminator at all
        "user\0alice\0"s,             // last pair not followed by the terminator
        "user\0alice"s,               // value not NUL-terminated
        "user"s,                      // name not NUL-terminated
        "user\0alice\0data"s,         // second name not NUL-terminated
        "user\0alice\0database\0"s,   // name without a value
        "user\0alice\0\0x"s,          // bytes after the terminator
        "user\0alice\0\0\0"s,         // two terminators
    };
    for (const auto& body : bodies) {
        Bytes b = startup_raw(proto::kProtocolV3, body);
        CAPTURE(body);
        check_startup_error(b, "08P01", b.size());
        // The bytes of a following packet must not complete a truncated list.
        Bytes followed = concat({b, startup_message(proto::kProtocolV3, {{"user", "x"}})});
        check_startup_error(followed, "08P01", followed.size());
    }
}

}  // TEST_SUITE("codec.startup")

TEST_SUITE("codec.frame") {

TEST_CASE("the type tables are exactly the protocol's") {
    for (int t = 0; t < 256; ++t) {
        auto u = static_cast<std::uint8_t>(t);
        CAPTURE(t);
        CHECK(proto::is_frontend_type(static_cast<char>(u)) == legal_type(u, Direction::Frontend));
        CHECK(proto::is_backend_type(static_cast<char>(u)) == legal_type(u, Direction::Backend));
    }
}

TEST_CASE("every legal type byte decodes, header and frame") {
    for (Direction dir : {Direction::Frontend, Direction::Backend}) {
        std::string_view types = dir == Direction::Frontend ? kFrontendTypes : kBackendTypes;
        for (char type : types) {
            CAPTURE(type);
            for (std::string_view body : {std::string_view{}, std::string_view{"abc"}}) {
                Bytes b = message(type, body);
                MessageHeader h;
                DecodeError err;
                REQUIRE(proto::decode_header(view(b).first(5), dir, kLargeMax, h, err) == Decode::Ok);
                CHECK(h.type == type);
                CHECK(h.length == 4 + body.size());
                CHECK(h.frame_len() == b.size());
                CHECK(h.body_len() == body.size());

                Frame f;
                REQUIRE(proto::decode_frame(view(b), dir, kLargeMax, f, err) == Decode::Ok);
                CHECK(f.header.type == type);
                CHECK(f.header.length == 4 + body.size());
                CHECK(f.body.size() == body.size());
                CHECK(f.body.data() == b.data() + 5);
                CHECK(as_string(f.body) == body);
            }
        }
    }
}

TEST_CASE("a type byte the direction may not send is refused at once") {
    struct Case {
        Direction dir;
        std::uint8_t type;
        const char* hex;
    };
    const Case cases[] = {{Direction::Frontend, 'Z', "0x5a"}, {Direction::Frontend, 'R', "0x52"},
                          {Direction::Frontend, 'q', "0x71"}, {Direction::Frontend, 0x00, "0x00"},
                          {Direction::Frontend, 0xff, "0xff"}, {Direction::Backend, 'Q', "0x51"},
                          {Direction::Backend, 'X', "0x58"},   {Direction::Backend, 'P', "0x50"},
                          {Direction::Backend, 0x00, "0x00"},  {Direction::Backend, 0xff, "0xff"}};
    for (const auto& c : cases) {
        CAPTURE(int{c.type});
        Bytes b = message_with_length(c.type, 8, "abcd");
        for (std::size_t avail : {std::size_t{1}, std::size_t{3}, std::size_t{5}, b.size()}) {
            MessageHeader h;
            DecodeError err;
            CHECK(proto::decode_header(view(b).first(avail), c.dir, kLargeMax, h, err) == Decode::Error);
            CHECK(std::string_view(err.sqlstate) == "08P01");
            CHECK(err.message.find(c.hex) != std::string::npos);
            Frame f;
            DecodeError ferr;
            CHECK(proto::decode_frame(view(b).first(avail), c.dir, kLargeMax, f, ferr) == Decode::Error);
            CHECK(std::string_view(ferr.sqlstate) == "08P01");
        }
    }
}

TEST_CASE("every illegal type byte is refused with a single byte available") {
    for (Direction dir : {Direction::Frontend, Direction::Backend}) {
        for (int t = 0; t < 256; ++t) {
            auto u = static_cast<std::uint8_t>(t);
            Bytes one{u};
            MessageHeader h;
            DecodeError err;
            Decode d = proto::decode_header(view(one), dir, kLargeMax, h, err);
            CAPTURE(t);
            CHECK(d == (legal_type(u, dir) ? Decode::NeedMore : Decode::Error));
        }
    }
}

TEST_CASE("an empty or partial header of a legal type needs more") {
    Bytes b = message('Q', "SELECT 1\0"s);
    for (std::size_t k = 0; k < 5; ++k) {
        MessageHeader h;
        Frame f;
        DecodeError err;
        CAPTURE(k);
        CHECK(proto::decode_header(view(b).first(k), Direction::Frontend, kLargeMax, h, err) ==
              Decode::NeedMore);
        CHECK(proto::decode_frame(view(b).first(k), Direction::Frontend, kLargeMax, f, err) ==
              Decode::NeedMore);
    }
}

TEST_CASE("lengths below 4 are refused from the header alone") {
    for (std::uint32_t len : {0u, 1u, 2u, 3u}) {
        for (Direction dir : {Direction::Frontend, Direction::Backend}) {
            Bytes b = message_with_length('C', len, "tail");
            MessageHeader h;
            Frame f;
            DecodeError err;
            CAPTURE(len);
            CHECK(proto::decode_header(view(b).first(5), dir, kLargeMax, h, err) == Decode::Error);
            CHECK(std::string_view(err.sqlstate) == "08P01");
            CHECK(proto::decode_frame(view(b), dir, kLargeMax, f, err) == Decode::Error);
        }
    }
}

TEST_CASE("a length of exactly 4 is an empty body") {
    Bytes b = message_with_length('S', 4);
    Frame f;
    DecodeError err;
    REQUIRE(proto::decode_frame(view(b), Direction::Frontend, kLargeMax, f, err) == Decode::Ok);
    CHECK(f.header.frame_len() == 5);
    CHECK(f.body.empty());
}

TEST_CASE("lengths with the top bit set are refused whatever max_length is") {
    for (std::uint32_t len : {0x80000000u, 0x80000004u, 0xfffffffeu, 0xffffffffu}) {
        for (std::uint32_t max : {0xffffffffu, 0x80000000u, kLargeMax, 1024u}) {
            Bytes b = message_with_length('D', len, "body");
            MessageHeader h;
            Frame f;
            DecodeError err;
            CAPTURE(len);
            CAPTURE(max);
            CHECK(proto::decode_header(view(b).first(5), Direction::Backend, max, h, err) == Decode::Error);
            CHECK(std::string_view(err.sqlstate) == "08P01");
            CHECK(proto::decode_frame(view(b), Direction::Backend, max, f, err) == Decode::Error);
        }
    }
}

TEST_CASE("the largest wire length is accepted when max_length allows it") {
    Bytes b = message_with_length('D', 0x7fffffff, "partial");
    MessageHeader h;
    Frame f;
    DecodeError err;
    REQUIRE(proto::decode_header(view(b), Direction::Backend, 0x7fffffff, h, err) == Decode::Ok);
    CHECK(h.frame_len() == std::size_t{0x80000000});
    CHECK(h.body_len() == std::size_t{0x7ffffffb});
    CHECK(proto::decode_frame(view(b), Direction::Backend, 0x7fffffff, f, err) == Decode::NeedMore);
}

TEST_CASE("lengths above max_length are refused before the body arrives") {
    const std::uint32_t max = 1000;
    MessageHeader h;
    Frame f;
    DecodeError err;

    Bytes at_max = message_with_length('Q', max, "x");
    CHECK(proto::decode_header(view(at_max), Direction::Frontend, max, h, err) == Decode::Ok);
    CHECK(proto::decode_frame(view(at_max), Direction::Frontend, max, f, err) == Decode::NeedMore);
    Bytes full = message('Q', std::string(max - 4, 'x'));
    CHECK(proto::decode_frame(view(full), Direction::Frontend, max, f, err) == Decode::Ok);

    for (std::uint32_t len : {max + 1, 2 * max, 0x7fffffffu}) {
        Bytes b = message_with_length('Q', len);
        DecodeError e;
        CAPTURE(len);
        CHECK(proto::decode_header(view(b), Direction::Frontend, max, h, e) == Decode::Error);
        CHECK(std::string_view(e.sqlstate) == "08P01");
        CHECK(e.message.find("max_packet_size") != std::string::npos);
        CHECK(e.message.find(std::to_string(len)) != std::string::npos);
        DecodeError fe;
        CHECK(proto::decode_frame(view(b), Direction::Frontend, max, f, fe) == Decode::Error);
        CHECK(fe.message.find("max_packet_size") != std::string::npos);
    }
    Bytes over = message('Q', std::string(max - 3, 'x'));
    CHECK(proto::decode_frame(view(over), Direction::Frontend, max, f, err) == Decode::Error);
}

TEST_CASE("PostgreSQL's own length limits hold whatever max_length is") {
    struct Case {
        Direction dir;
        char type;
        std::uint32_t longest;  // accepted; one more is "invalid message length"
    };
    std::vector<Case> cases;
    for (char t : std::string_view("QFBPdp")) cases.push_back({Direction::Frontend, t, proto::kMaxFrontendMessage});
    for (char t : std::string_view("SHXCDEcf")) cases.push_back({Direction::Frontend, t, proto::kMaxSmallFrontendMessage});
    for (char t : std::string_view("TDdVENAt")) cases.push_back({Direction::Backend, t, proto::kMaxWireLength});
    for (char t : std::string_view("RK23CcGHWIvnS1sZ"))
        cases.push_back({Direction::Backend, t, proto::kMaxShortBackendMessage});
    for (const Case& c : cases) {
        CAPTURE(c.type);
        CAPTURE(c.dir == Direction::Frontend);
        MessageHeader h;
        DecodeError err;
        Bytes longest = message_with_length(static_cast<std::uint8_t>(c.type), c.longest, "x");
        CHECK(proto::decode_header(view(longest), c.dir, kLargeMax, h, err) == Decode::Ok);
        if (c.longest == proto::kMaxWireLength) continue;
        Bytes over = message_with_length(static_cast<std::uint8_t>(c.type), c.longest + 1, "x");
        CHECK(proto::decode_header(view(over), c.dir, kLargeMax, h, err) == Decode::Error);
        CHECK(std::string_view(err.sqlstate) == "08P01");
        CHECK(err.message == "invalid message length");
        Frame f;
        CHECK(proto::decode_frame(view(over), c.dir, kLargeMax, f, err) == Decode::Error);
    }
    // A smaller max_packet_size still speaks first, and names itself.
    MessageHeader h;
    DecodeError err;
    Bytes q = message_with_length('Q', 0x40000000u, "x");
    CHECK(proto::decode_header(view(q), Direction::Frontend, 4096, h, err) == Decode::Error);
    CHECK(err.message.find("max_packet_size") != std::string::npos);
}

TEST_CASE("every prefix of a typed message needs more, the whole of it is Ok") {
    const std::vector<std::pair<Direction, Bytes>> msgs{
        {Direction::Frontend, message('Q', "SELECT 1;\0"s)},
        {Direction::Frontend, message('X', "")},
        {Direction::Frontend, message('p', "secret\0"s)},
        {Direction::Backend, message('Z', "I")},
        {Direction::Backend, message('R', "\0\0\0\0"s)},
        {Direction::Backend, message('T', std::string(300, 'r'))},
    };
    for (const auto& [dir, b] : msgs) {
        CAPTURE(b[0]);
        for (std::size_t k = 0; k < b.size(); ++k) {
            Frame f;
            DecodeError err;
            CAPTURE(k);
            CHECK(proto::decode_frame(view(b).first(k), dir, kLargeMax, f, err) == Decode::NeedMore);
        }
        Frame f;
        DecodeError err;
        REQUIRE(proto::decode_frame(view(b), dir, kLargeMax, f, err) == Decode::Ok);
        CHECK(f.header.frame_len() == b.size());
        CHECK(f.body.size() == b.size() - 5);
    }
}

TEST_CASE("several backend messages in one buffer decode one after another") {
    const std::vector<Copied> expect{{'R', "\0\0\0\0"s},
                                     {'S', "server_version\00017.0\0"s},
                                     {'S', "client_encoding\0UTF8\0"s},
                                     {'K', "\0\0\0\1\0\0\0\2"s},
                                     {'Z', "I"},
                                     {'T', "\0\1a\0\0\0\0\0\0\1\0\0\0\x17\0\4\xff\xff\xff\xff\0\0"s},
                                     {'D', "\0\1\0\0\0\0011"s},
                                     {'C', "SELECT 1\0"s},
                                     {'n', ""},
                                     {'Z', "T"}};
    std::vector<Bytes> parts;
    for (const auto& m : expect) parts.push_back(message(m.type, m.body));
    Bytes b = concat(parts);

    std::size_t consumed = 0;
    std::vector<Copied> got = decode_all(b, Direction::Backend, consumed);
    CHECK(got == expect);
    CHECK(consumed == b.size());

    // Each frame's body points into the buffer at the right place.
    std::size_t at = 0;
    for (const auto& p : parts) {
        Frame f;
        DecodeError err;
        REQUIRE(proto::decode_frame(view(b).subspan(at), Direction::Backend, kLargeMax, f, err) ==
                Decode::Ok);
        CHECK(f.body.data() == b.data() + at + 5);
        CHECK(f.header.frame_len() == p.size());
        at += f.header.frame_len();
    }
    CHECK(at == b.size());
}

TEST_CASE("a buffer with a bad message after good ones stops exactly at the bad one") {
    Bytes b = concat({message('Q', "SELECT 1\0"s), message('S', ""), message_with_length('Z', 5, "I")});
    std::size_t at = 0;
    int ok = 0;
    Frame f;
    DecodeError err;
    Decode d;
    while ((d = proto::decode_frame(view(b).subspan(at), Direction::Frontend, kLargeMax, f, err)) ==
           Decode::Ok) {
        at += f.header.frame_len();
        ++ok;
    }
    CHECK(ok == 2);
    CHECK(d == Decode::Error);
    CHECK(at == b.size() - 6);
}

TEST_CASE("a stream fed in two chunks, split at every byte, yields the same frames") {
    std::vector<Copied> expect{{'P', "s\0SELECT $1\0\0\0"s}, {'B', "\0s\0\0\0\0\1\0\0\0\0012\0\0"s},
                               {'D', "P\0"s},                  {'E', "\0\0\0\0\0"s},
                               {'S', ""},                      {'Q', std::string(70, 'q') + '\0'},
                               {'d', "\xff\x00\x80"s},         {'c', ""},
                               {'X', ""}};
    std::vector<Bytes> parts;
    for (const auto& m : expect) parts.push_back(message(m.type, m.body));
    Bytes stream = concat(parts);

    for (std::size_t k = 0; k <= stream.size(); ++k) {
        FrameReader r(Direction::Frontend, 8192);
        r.feed(view(stream).first(k));
        // Only whole messages may come out of the first chunk.
        std::size_t whole = 0, n = 0;
        for (const auto& p : parts) {
            if (whole + p.size() > k) break;
            whole += p.size();
            ++n;
        }
        CAPTURE(k);
        CHECK(r.frames().size() == n);
        CHECK(r.buffered() == k - whole);
        r.feed(view(stream).subspan(k));
        CHECK_FALSE(r.error());
        CHECK(r.frames() == expect);
        CHECK(r.buffered() == 0);
    }
}

TEST_CASE("a stream fed in three chunks at every pair of split points yields the same frames") {
    std::vector<Copied> expect{{'T', "\0\1id\0\0\0\0\0\0\1\0\0\0\x17\0\4\xff\xff\xff\xff\0\0"s},
                               {'D', "\0\1\0\0\0\00142"s}, {'C', "SELECT 1\0"s}, {'Z', "I"},
                               {'E', "SERROR\0C42601\0Moops\0\0"s}, {'Z', "E"}};
    std::vector<Bytes> parts;
    for (const auto& m : expect) parts.push_back(message(m.type, m.body));
    Bytes stream = concat(parts);
    for (std::size_t i = 0; i <= stream.size(); ++i) {
        for (std::size_t j = i; j <= stream.size(); ++j) {
            FrameReader r(Direction::Backend, 8192);
            r.feed(view(stream).first(i));
            r.feed(view(stream).subspan(i, j - i));
            r.feed(view(stream).subspan(j));
            if (r.error() || r.frames() != expect || r.buffered() != 0) {
                CAPTURE(i);
                CAPTURE(j);
                FAIL("three-chunk split decoded differently");
            }
        }
    }
    CHECK(stream.size() > 50);
}

TEST_CASE("a whole client session fed at every split point, and byte by byte") {
    ClientStream s = client_stream();
    auto check = [&](const ClientReader& r) {
        CHECK_FALSE(r.error_);
        REQUIRE(r.startup_.size() == 2);
        CHECK(r.startup_[0].kind == StartupKind::SslRequest);
        CHECK(r.startup_[1].kind == StartupKind::Startup);
        CHECK(r.startup_[1].param("user") == "alice");
        CHECK(r.startup_[1].param("database") == "app");
        CHECK_FALSE(r.typed_.error());
        CHECK(r.typed_.frames() == s.typed);
        CHECK(r.typed_.buffered() == 0);
    };
    for (std::size_t k = 0; k <= s.bytes.size(); ++k) {
        ClientReader r;
        r.feed(view(s.bytes).first(k));
        r.feed(view(s.bytes).subspan(k));
        CAPTURE(k);
        check(r);
    }
    ClientReader bytewise;
    for (std::size_t i = 0; i < s.bytes.size(); ++i) bytewise.feed(view(s.bytes).subspan(i, 1));
    check(bytewise);
}

TEST_CASE("random bytes never decode to a frame outside the input") {
    std::mt19937 rng(0x5eed1234);
    const std::string_view all_types = "BCdcfDEHFPpQSXRK23GWIVvnNAts1Z T";
    int oks = 0, errors = 0, needs = 0;
    for (int iter = 0; iter < 200000; ++iter) {
        std::size_t n = rng() % 40;
        Bytes b(n);
        for (auto& x : b) x = static_cast<std::uint8_t>(rng());
        // Bias half of the inputs towards plausible headers so Ok paths are hit.
        if (n > 0 && rng() % 2 == 0) b[0] = static_cast<std::uint8_t>(all_types[rng() % all_types.size()]);
        if (n >= 5 && rng() % 2 == 0) store_be32(b.data() + 1, static_cast<std::uint32_t>(rng() % 48));
        Direction dir = rng() % 2 ? Direction::Frontend : Direction::Backend;
        std::uint32_t max = rng() % 3 == 0 ? 20u : kLargeMax;

        MessageHeader h;
        Frame f;
        DecodeError herr, ferr;
        Decode hd = proto::decode_header(view(b), dir, max, h, herr);
        Decode fd = proto::decode_frame(view(b), dir, max, f, ferr);

        bool ok = true;
        if (hd == Decode::Ok) {
            ok &= n >= 5 && legal_type(b[0], dir) && h.type == static_cast<char>(b[0]);
            ok &= h.length == load_be32(b.data() + 1) && h.length >= 4 && h.length <= max &&
                  h.length <= kLargeMax;
            ok &= fd == (n >= h.frame_len() ? Decode::Ok : Decode::NeedMore);
        } else if (hd == Decode::NeedMore) {
            ok &= n < 5 && (n == 0 || legal_type(b[0], dir));
            ok &= fd == Decode::NeedMore;
        } else {
            ok &= std::string_view(herr.sqlstate) == "08P01" && !herr.message.empty();
            ok &= fd == Decode::Error;
            ok &= n >= 1 && (!legal_type(b[0], dir) || n >= 5);
        }
        if (fd == Decode::Ok) {
            ++oks;
            ok &= f.header.frame_len() <= n;
            ok &= f.body.size() == std::size_t{f.header.length} - 4;
            ok &= f.body.data() == b.data() + 5;
            ok &= f.body.data() + f.body.size() <= b.data() + b.size();
            ok &= f.header.type == h.type && f.header.length == h.length;
        } else if (fd == Decode::Error) {
            ++errors;
        } else {
            ++needs;
        }
        if (!ok) {
            CAPTURE(iter);
            CAPTURE(n);
            FAIL("inconsistent decode of random bytes");
        }
    }
    // The generator must exercise every outcome for the checks above to mean much.
    CHECK(oks > 1000);
    CHECK(errors > 1000);
    CHECK(needs > 1000);
}

TEST_CASE("mutated message streams decode frame by frame inside the buffer") {
    std::mt19937 rng(4242);
    ClientStream s = client_stream();
    Bytes base;
    for (const auto& m : s.typed) {
        Bytes one = message(m.type, m.body);
        base.insert(base.end(), one.begin(), one.end());
    }
    int frames = 0;
    for (int iter = 0; iter < 20000; ++iter) {
        Bytes b = base;
        int flips = 1 + static_cast<int>(rng() % 3);
        for (int i = 0; i < flips; ++i) b[rng() % b.size()] = static_cast<std::uint8_t>(rng());
        b.resize(rng() % (b.size() + 1));
        std::size_t at = 0;
        bool ok = true;
        while (true) {
            Frame f;
            DecodeError err;
            auto in = view(b).subspan(at);
            Decode d = proto::decode_frame(in, Direction::Frontend, 64, f, err);
            if (d != Decode::Ok) break;
            ++frames;
            ok &= f.header.length >= 4 && f.header.length <= 64;
            ok &= f.body.size() == f.header.body_len();
            ok &= f.body.data() == in.data() + 5;
            ok &= f.header.frame_len() <= in.size();
            at += f.header.frame_len();
        }
        ok &= at <= b.size();
        if (!ok) {
            CAPTURE(iter);
            FAIL("frame outside the mutated buffer");
        }
    }
    CHECK(frames > 10000);
}

TEST_CASE("random and mutated startup packets never decode outside the input") {
    std::mt19937 rng(777);
    const Bytes seeds[] = {
        startup_message(proto::kProtocolV3, {{"user", "alice"}, {"database", "app"}}), ssl_request(),
        gssenc_request(), cancel_request(9, 10)};
    int oks = 0;
    for (int iter = 0; iter < 100000; ++iter) {
        Bytes b;
        if (rng() % 4 == 0) {
            b.resize(rng() % 40);
            for (auto& x : b) x = static_cast<std::uint8_t>(rng());
            if (b.size() >= 4 && rng() % 2) store_be32(b.data(), static_cast<std::uint32_t>(rng() % 48));
        } else {
            b = seeds[rng() % 4];
            int flips = static_cast<int>(rng() % 3);
            for (int i = 0; i < flips; ++i) b[rng() % b.size()] = static_cast<std::uint8_t>(rng() % 4 ? 0 : rng());
            b.resize(rng() % (b.size() + 8), 0x41);
        }
        StartupPacket pkt;
        DecodeError err;
        Decode d = startup(b, pkt, err);
        bool ok = true;
        std::size_t n = b.size();
        if (d == Decode::Ok) {
            ++oks;
            ok &= n >= 8 && pkt.frame_len == load_be32(b.data());
            ok &= pkt.frame_len >= 8 && pkt.frame_len <= n && pkt.frame_len <= proto::kMaxStartupPacket;
            std::uint32_t code = load_be32(b.data() + 4);
            switch (pkt.kind) {
                case StartupKind::SslRequest:
                    ok &= code == proto::kSslRequestCode && pkt.frame_len == 8;
                    break;
                case StartupKind::GssEncRequest:
                    ok &= code == proto::kGssEncRequestCode && pkt.frame_len == 8;
                    break;
                case StartupKind::CancelRequest:
                    ok &= code == proto::kCancelRequestCode && pkt.frame_len == 16;
                    ok &= pkt.cancel_pid == load_be32(b.data() + 8);
                    ok &= pkt.cancel_secret == load_be32(b.data() + 12);
                    break;
                case StartupKind::Startup: {
                    ok &= pkt.protocol == code && (code >> 16) == 3;
                    ok &= !pkt.param("user").empty();
                    ok &= b[pkt.frame_len - 1] == 0;
                    std::size_t bytes = 8 + 1;
                    for (const auto& [k, v] : pkt.params) {
                        ok &= !k.empty();
                        bytes += k.size() + v.size() + 2;
                    }
                    ok &= bytes == pkt.frame_len;
                    break;
                }
            }
        } else if (d == Decode::NeedMore) {
            ok &= n < 4 || (load_be32(b.data()) >= 8 && load_be32(b.data()) <= 10000 && n < load_be32(b.data()));
        } else {
            std::string_view st = err.sqlstate;
            ok &= st == "08P01" || st == "0A000" || st == "28000";
            ok &= !err.message.empty();
        }
        if (!ok) {
            CAPTURE(iter);
            CAPTURE(n);
            FAIL("inconsistent decode of a random startup packet");
        }
    }
    CHECK(oks > 10000);
}

}  // TEST_SUITE("codec.frame")

TEST_CASE("a repeated startup parameter takes its last value, as PostgreSQL does") {
    std::vector<std::uint8_t> pkt = {0, 0, 0, 0, 0, 3, 0, 0};
    for (const char* s : {"user", "alice", "user", "bob", "database", "db"}) {
        pkt.insert(pkt.end(), s, s + std::strlen(s));
        pkt.push_back(0);
    }
    pkt.push_back(0);
    pggate::store_be32(pkt.data(), static_cast<std::uint32_t>(pkt.size()));
    pggate::protocol::StartupPacket out;
    pggate::protocol::DecodeError err;
    REQUIRE(pggate::protocol::decode_startup(pkt, out, err) == pggate::protocol::Decode::Ok);
    CHECK(out.param("user") == "bob");
    CHECK(out.param("database") == "db");
}
