// Unit tests of the typed messages pggate builds and parses itself, checked
// against the codec's framing and the protocol's byte layout.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "protocol/codec.hpp"
#include "protocol/messages.hpp"

namespace {

using namespace std::string_literals;
using pggate::Bytes;
using pggate::protocol::Decode;
using pggate::protocol::DecodeError;
using pggate::protocol::Direction;
using pggate::protocol::Frame;
using pggate::protocol::StartupKind;
using pggate::protocol::StartupPacket;
namespace proto = pggate::protocol;

constexpr std::uint32_t kMax = proto::kMaxWireLength;

std::span<const std::uint8_t> view(const Bytes& b) { return {b.data(), b.size()}; }

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Decodes the single backend frame `b` must be, requiring it to fill `b`.
Frame one_backend_frame(const Bytes& b) {
    Frame f;
    DecodeError err;
    REQUIRE(proto::decode_frame(view(b), Direction::Backend, kMax, f, err) == Decode::Ok);
    REQUIRE(f.header.frame_len() == b.size());
    return f;
}

}  // namespace

TEST_SUITE("messages.error") {

TEST_CASE("build_error round-trips through decode_frame and parse_error_fields") {
    Bytes out;
    proto::build_error(out, "FATAL", "28P01", "password authentication failed for user \"alice\"");
    Frame f = one_backend_frame(out);
    CHECK(f.header.type == 'E');
    CHECK(out.back() == 0);  // the field list terminator
    auto fields = proto::parse_error_fields(f.body);
    REQUIRE(fields.has_value());
    CHECK(fields->severity == "FATAL");
    CHECK(fields->sqlstate == "28P01");
    CHECK(fields->message == "password authentication failed for user \"alice\"");
}

TEST_CASE("build_error writes the S, V, C and M fields in protocol layout") {
    Bytes out;
    proto::build_error(out, "ERROR", "XX000", "m");
    const std::string body = "SERROR\0VERROR\0CXX000\0Mm\0\0"s;
    Bytes expect{'E', 0, 0, 0, static_cast<std::uint8_t>(4 + body.size())};
    expect.insert(expect.end(), body.begin(), body.end());
    CHECK(out == expect);
}

TEST_CASE("build_error appends after existing bytes with its own length") {
    Bytes out;
    proto::build_error(out, "ERROR", "42601", "syntax error at or near \"SELEC\"");
    std::size_t first = out.size();
    proto::build_error(out, "FATAL", "57P01", "terminating connection due to administrator command");
    proto::build_error(out, "ERROR", "22012", "");

    const char* sqlstates[] = {"42601", "57P01", "22012"};
    const char* severities[] = {"ERROR", "FATAL", "ERROR"};
    std::size_t at = 0;
    for (int i = 0; i < 3; ++i) {
        Frame f;
        DecodeError err;
        REQUIRE(proto::decode_frame(view(out).subspan(at), Direction::Backend, kMax, f, err) == Decode::Ok);
        CHECK(f.header.type == 'E');
        if (i == 0) CHECK(f.header.frame_len() == first);
        auto fields = proto::parse_error_fields(f.body);
        REQUIRE(fields.has_value());
        CHECK(fields->sqlstate == sqlstates[i]);
        CHECK(fields->severity == severities[i]);
        at += f.header.frame_len();
    }
    CHECK(at == out.size());
}

TEST_CASE("build_error with a long message stays one frame") {
    std::string msg(70000, 'z');
    Bytes out;
    proto::build_error(out, "ERROR", "54000", msg);
    Frame f = one_backend_frame(out);
    auto fields = proto::parse_error_fields(f.body);
    REQUIRE(fields.has_value());
    CHECK(fields->message == msg);
}

TEST_CASE("parse_error_fields reads what PostgreSQL sends") {
    SUBCASE("V, the unlocalized severity, wins over S whatever the order") {
        auto a = proto::parse_error_fields(view(bytes_of("SFEHLER\0VERROR\0C42P01\0Mno table\0\0"s)));
        REQUIRE(a.has_value());
        CHECK(a->severity == "ERROR");
        auto b = proto::parse_error_fields(view(bytes_of("VERROR\0SFEHLER\0C42P01\0Mno table\0\0"s)));
        REQUIRE(b.has_value());
        CHECK(b->severity == "ERROR");
    }
    SUBCASE("S alone is the severity") {
        auto f = proto::parse_error_fields(view(bytes_of("SWARNING\0C01000\0Mw\0\0"s)));
        REQUIRE(f.has_value());
        CHECK(f->severity == "WARNING");
        CHECK(f->sqlstate == "01000");
        CHECK(f->message == "w");
    }
    SUBCASE("unknown and uninteresting fields are skipped") {
        auto f = proto::parse_error_fields(
            view(bytes_of("SERROR\0VERROR\0C23505\0Mduplicate key\0Ddetail\0Hhint\0P12\0Fnbtinsert.c\0"
                          "L666\0Rfn\0nconstraint\0\0"s)));
        REQUIRE(f.has_value());
        CHECK(f->severity == "ERROR");
        CHECK(f->sqlstate == "23505");
        CHECK(f->message == "duplicate key");
    }
    SUBCASE("missing fields stay empty") {
        auto f = proto::parse_error_fields(view(bytes_of("Monly a message\0\0"s)));
        REQUIRE(f.has_value());
        CHECK(f->message == "only a message");
        CHECK(f->severity.empty());
        CHECK(f->sqlstate.empty());
        auto none = proto::parse_error_fields(view(bytes_of("\0"s)));
        REQUIRE(none.has_value());
        CHECK(none->message.empty());
    }
    SUBCASE("empty field values are allowed") {
        auto f = proto::parse_error_fields(view(bytes_of("C\0M\0\0"s)));
        REQUIRE(f.has_value());
        CHECK(f->sqlstate.empty());
        CHECK(f->message.empty());
    }
}

TEST_CASE("valid_sqlstate takes five digits or upper-case letters") {
    for (std::string_view code : {"08P01", "28000", "XX000", "00000", "57P03", "HV00R"}) {
        CAPTURE(code);
        CHECK(pggate::protocol::valid_sqlstate(code));
    }
    for (std::string_view code : {"", "0", "08P0", "08P011", "08p01", "08 01", "08P0\n", "08-01"}) {
        CAPTURE(code);
        CHECK_FALSE(pggate::protocol::valid_sqlstate(code));
    }
}

TEST_CASE("parse_error_fields rejects malformed bodies") {
    const std::vector<std::string> bad{
        "",                               // not even the terminator
        "SERROR\0C42601\0Mm\0"s,           // no final terminator
        "SERROR\0C42601\0Mm"s,             // last value without NUL
        "SERROR"s,                         // first value without NUL
        "S"s,                              // field code and nothing else
        "SERROR\0\0x"s,                    // bytes after the terminator
        "SERROR\0\0\0"s,                   // two terminators
    };
    for (const auto& body : bad) {
        CAPTURE(body);
        CHECK_FALSE(proto::parse_error_fields(view(bytes_of(body))).has_value());
    }
}

TEST_CASE("every strict prefix of a built error body is rejected") {
    Bytes out;
    proto::build_error(out, "FATAL", "53300", "sorry, too many clients already");
    Frame f = one_backend_frame(out);
    for (std::size_t k = 0; k < f.body.size(); ++k) {
        CAPTURE(k);
        CHECK_FALSE(proto::parse_error_fields(f.body.first(k)).has_value());
    }
    CHECK(proto::parse_error_fields(f.body).has_value());
}

}  // TEST_SUITE("messages.error")

TEST_SUITE("messages.keys") {

TEST_CASE("BackendKeyData builds in protocol layout and round-trips") {
    Bytes out;
    proto::build_backend_key_data(out, 0x01020304, 0xa1b2c3d4);
    CHECK(out == Bytes{'K', 0, 0, 0, 12, 1, 2, 3, 4, 0xa1, 0xb2, 0xc3, 0xd4});
    Frame f = one_backend_frame(out);
    CHECK(f.header.type == 'K');
    auto key = proto::parse_backend_key_data(f.body);
    REQUIRE(key.has_value());
    CHECK(key->pid == 0x01020304u);
    CHECK(key->secret == 0xa1b2c3d4u);
}

TEST_CASE("BackendKeyData round-trips extreme keys") {
    const std::uint32_t values[] = {0u, 1u, 0x7fffffffu, 0x80000000u, 0xffffffffu};
    for (std::uint32_t pid : values) {
        for (std::uint32_t secret : values) {
            Bytes out;
            proto::build_backend_key_data(out, pid, secret);
            Frame f = one_backend_frame(out);
            auto key = proto::parse_backend_key_data(f.body);
            CAPTURE(pid);
            CAPTURE(secret);
            REQUIRE(key.has_value());
            CHECK(key->pid == pid);
            CHECK(key->secret == secret);
        }
    }
}

TEST_CASE("BackendKeyData bodies of any size but 8 are rejected") {
    Bytes body{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    for (std::size_t n = 0; n <= body.size(); ++n) {
        auto key = proto::parse_backend_key_data(view(body).first(n));
        CAPTURE(n);
        CHECK(key.has_value() == (n == 8));
    }
    auto key = proto::parse_backend_key_data(view(body).first(8));
    REQUIRE(key.has_value());
    CHECK(key->pid == 0x01020304u);
    CHECK(key->secret == 0x05060708u);
    CHECK_FALSE(proto::parse_backend_key_data(std::span<const std::uint8_t>{}).has_value());
}

TEST_CASE("build_cancel_request is a CancelRequest decode_startup reads back") {
    Bytes out;
    proto::build_cancel_request(out, 0x00001234, 0xcafef00d);
    CHECK(out == Bytes{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x12, 0x34, 0xca, 0xfe, 0xf0, 0x0d});
    StartupPacket pkt;
    DecodeError err;
    REQUIRE(proto::decode_startup(view(out), pkt, err) == Decode::Ok);
    CHECK(pkt.kind == StartupKind::CancelRequest);
    CHECK(pkt.frame_len == 16);
    CHECK(pkt.cancel_pid == 0x00001234u);
    CHECK(pkt.cancel_secret == 0xcafef00du);
}

TEST_CASE("a key from BackendKeyData survives into a CancelRequest") {
    Bytes key_msg;
    proto::build_backend_key_data(key_msg, 31337, 0x9e3779b9);
    auto key = proto::parse_backend_key_data(one_backend_frame(key_msg).body);
    REQUIRE(key.has_value());

    Bytes cancel{0xee};  // build_cancel_request appends
    proto::build_cancel_request(cancel, key->pid, key->secret);
    REQUIRE(cancel.size() == 17);
    StartupPacket pkt;
    DecodeError err;
    REQUIRE(proto::decode_startup(view(cancel).subspan(1), pkt, err) == Decode::Ok);
    CHECK(pkt.kind == StartupKind::CancelRequest);
    CHECK(pkt.cancel_pid == 31337u);
    CHECK(pkt.cancel_secret == 0x9e3779b9u);
}

}  // TEST_SUITE("messages.keys")

TEST_SUITE("messages.ready") {

TEST_CASE("parse_ready_for_query accepts I, T and E") {
    for (char status : {'I', 'T', 'E'}) {
        Bytes body{static_cast<std::uint8_t>(status)};
        auto got = proto::parse_ready_for_query(view(body));
        CAPTURE(status);
        REQUIRE(got.has_value());
        CHECK(*got == status);
    }
}

TEST_CASE("parse_ready_for_query rejects other status bytes") {
    for (int b = 0; b < 256; ++b) {
        if (b == 'I' || b == 'T' || b == 'E') continue;
        Bytes body{static_cast<std::uint8_t>(b)};
        CAPTURE(b);
        CHECK_FALSE(proto::parse_ready_for_query(view(body)).has_value());
    }
}

TEST_CASE("parse_ready_for_query rejects bodies that are not one byte") {
    CHECK_FALSE(proto::parse_ready_for_query(std::span<const std::uint8_t>{}).has_value());
    CHECK_FALSE(proto::parse_ready_for_query(view(Bytes{'I', 'I'})).has_value());
    CHECK_FALSE(proto::parse_ready_for_query(view(Bytes{'I', 0})).has_value());
    CHECK_FALSE(proto::parse_ready_for_query(view(Bytes{'T', 'x', 'y'})).has_value());
}

TEST_CASE("ReadyForQuery from the wire, through decode_frame") {
    Bytes wire{'Z', 0, 0, 0, 5, 'T', 'Z', 0, 0, 0, 5, 'I'};
    Frame f;
    DecodeError err;
    REQUIRE(proto::decode_frame(view(wire), Direction::Backend, kMax, f, err) == Decode::Ok);
    CHECK(proto::parse_ready_for_query(f.body) == std::optional<char>('T'));
    REQUIRE(proto::decode_frame(view(wire).subspan(f.header.frame_len()), Direction::Backend, kMax, f,
                                err) == Decode::Ok);
    CHECK(proto::parse_ready_for_query(f.body) == std::optional<char>('I'));
}

}  // TEST_SUITE("messages.ready")

TEST_CASE("messages: the typed builders frame what they are given, and decode back") {
    using namespace pggate::protocol;
    pggate::Bytes out;
    build_query(out, "select 1");
    build_ready_for_query(out, 'T');
    build_parameter_status(out, "TimeZone", "UTC");
    build_auth(out, 10, std::string_view("SCRAM-SHA-256\0\0", 15));
    build_parse_complete(out);

    std::span<const std::uint8_t> in(out);
    auto next = [&](char type, Direction dir) {
        Frame f;
        DecodeError err;
        REQUIRE(decode_frame(in, dir, kMaxWireLength, f, err) == Decode::Ok);
        CHECK(f.header.type == type);
        in = in.subspan(f.header.frame_len());
        return std::string(reinterpret_cast<const char*>(f.body.data()), f.body.size());
    };
    CHECK(next('Q', Direction::Frontend) == std::string("select 1\0", 9));
    CHECK(next('Z', Direction::Backend) == "T");
    CHECK(next('S', Direction::Backend) == std::string("TimeZone\0UTC\0", 13));
    CHECK(next('R', Direction::Backend) == std::string("\0\0\0\x0aSCRAM-SHA-256\0\0", 19));
    CHECK(next('1', Direction::Backend).empty());
    CHECK(in.empty());
}
