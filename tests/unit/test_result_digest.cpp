// ResultDigest: what two runs of a statement are compared by.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "protocol/messages.hpp"
#include "protocol/result_digest.hpp"

using pggate::protocol::ResultDigest;

namespace {

std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("result digest: same rows in any order agree; other rows, counts or errors differ") {
    auto a = bytes(std::string("\0\1\0\0\0\1a", 7));
    auto b = bytes(std::string("\0\1\0\0\0\1b", 7));
    ResultDigest x, y;
    x.add_row(a);
    x.add_row(b);
    y.add_row(b);
    y.add_row(a);
    CHECK(x == y);
    CHECK(x.rows == 2);
    CHECK(x.describe().rfind("2 rows, checksum ", 0) == 0);

    ResultDigest fewer;
    fewer.add_row(a);
    CHECK_FALSE(fewer == x);
    ResultDigest other;
    other.add_row(a);
    other.add_row(a);
    CHECK_FALSE(other == x);  // same count, other contents
    CHECK(ResultDigest{} == ResultDigest{});
}

TEST_CASE("result digest: an error counts by its SQLSTATE, the first one only") {
    pggate::Bytes frame;
    pggate::protocol::build_error(frame, "ERROR", "40001", "could not serialize access");
    std::span<const std::uint8_t> body(frame.data() + 5, frame.size() - 5);
    ResultDigest failed;
    failed.add_error(body);
    CHECK(failed.sqlstate == "40001");
    CHECK(failed.describe() == "error 40001 after 0 rows");
    pggate::Bytes second;
    pggate::protocol::build_error(second, "ERROR", "57014", "canceled");
    failed.add_error({second.data() + 5, second.size() - 5});
    CHECK(failed.sqlstate == "40001");
    CHECK_FALSE(failed == ResultDigest{});
    ResultDigest no_state;
    const std::uint8_t bare[] = {'M', 'x', 0, 0};
    no_state.add_error(bare);
    CHECK(no_state.sqlstate == "?????");
}
