// The statement classifier: decides from the SQL text alone whether a query
// may run on a streaming replica or must run on the primary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/text_hash.hpp"

namespace pggate::route {

enum class StatementKind {
    // May run on a replica: a query that writes nothing (SELECT, VALUES,
    // TABLE, WITH), SHOW, EXPLAIN without ANALYZE or of a read, COPY ... TO
    // STDOUT, cursors (DECLARE without HOLD, FETCH, MOVE, CLOSE: a cursor
    // lives in its transaction, whose backend the caller keeps anyway).
    Read,
    // Must run on the primary.
    Write,
    // BEGIN / START TRANSACTION, read-write or unspecified. Under a session
    // default of READ ONLY (see Session) the transaction is read-only too.
    Begin,
    // BEGIN / START TRANSACTION whose modes end with READ ONLY.
    BeginReadOnly,
    // COMMIT / END / ROLLBACK / ABORT (without AND CHAIN).
    TransactionEnd,
    // Lives and dies with the open transaction, on its backend: SAVEPOINT,
    // RELEASE, ROLLBACK TO, SET TRANSACTION, SET CONSTRAINTS, SET LOCAL,
    // SET transaction_*, and COMMIT/ROLLBACK AND CHAIN (the next transaction
    // starts at once, on the same backend, with the same modes).
    TransactionControl,
    // Session state: SET, RESET, DISCARD, PREPARE (the statement runs at
    // EXECUTE), DEALLOCATE, LOAD.
    Session,
    // Unreadable, unrecognised or too long to read whole; callers treat it
    // as Write.
    Unknown,
};

// From a block comment before the first token, the first one in the text:
// "/* pggate:primary */" or "/* pggate:replica */", any case, other words
// around it allowed. Given both, Primary.
enum class RouteHint { None, Primary, Replica };

struct Classification {
    StatementKind kind = StatementKind::Unknown;
    // Reported as written; `kind` still says what the SQL does, so a caller
    // can refuse a replica hint on a write.
    RouteHint hint = RouteHint::None;
    // The access mode the text states. For Begin/BeginReadOnly and
    // TransactionControl: the current transaction's (BEGIN ... READ ONLY,
    // SET TRANSACTION READ WRITE, SET transaction_read_only = on); for
    // Session: the session default's (SET SESSION CHARACTERISTICS AS
    // TRANSACTION READ ONLY, SET default_transaction_read_only = off). Both
    // false when the text states none, e.g. RESET or ... TO DEFAULT.
    bool read_only_setting = false;
    bool read_write_setting = false;
    // For Write and Unknown: a short why, for tests and logs. Always a
    // string literal, so a Classification can be kept and copied freely.
    const char* reason = nullptr;
    // How many statements the text holds; a simple Query is answered by one
    // CommandComplete each (EmptyQueryResponse when there are none).
    std::uint32_t statements = 0;
};

// Which functions are known not to write. A call of any other function
// sends the statement to the primary.
//
// Built-in functions that are safe are known by name: until the health
// process learns from pg_proc which functions are not VOLATILE and adds
// them, that list is what lets common reads go to replicas. Volatility is
// not writing: random() and clock_timestamp() are volatile but write
// nothing, so they are on the list, while nextval() and set_config() are
// not. Users add their own (the read_only_functions setting).
class FunctionCatalog {
public:
    FunctionCatalog();

    // `name` as pg_proc spells it (lower-case unless created quoted),
    // optionally schema-qualified: "my_func", "app.my_func". A qualified
    // name makes only qualified calls read-only: which function an
    // unqualified call reaches depends on the search path.
    void add(std::string name);

    // Whether a call written as `name` ("f" or "schema.f") writes nothing.
    // Built-ins count unqualified or qualified with pg_catalog (which is
    // searched first unless a search path names it later).
    bool read_only(std::string_view name) const;

    // Changes whenever any catalog's contents change, so a cache can tell
    // that its results may be stale.
    std::uint64_t stamp() const { return stamp_; }

private:
    std::unordered_set<std::string, TextHash, std::equal_to<>> added_;
    std::uint64_t stamp_;
};

// Classifies `sql`, one statement or several separated by semicolons.
//
// Several statements: Unknown if any is Unknown; the common kind if all
// are Read, all Session or all TransactionControl; otherwise Write (a
// text mixing writes, BEGIN/COMMIT or settings with anything else goes to
// the primary). The read-only flags are those of the last statement that
// states a mode. The hint is the text's.
Classification classify(std::string_view sql, const FunctionCatalog& functions);

// Remembers classifications per statement text, for one worker. Bounded
// (at most capacity x kMaxTextBytes of text): it forgets everything when
// full, and texts longer than kMaxTextBytes are classified but not kept. It
// also forgets everything when the catalog it is asked with changes.
class ClassificationCache {
public:
    static constexpr std::size_t kDefaultCapacity = 1024;
    static constexpr std::size_t kMaxTextBytes = 2048;

    explicit ClassificationCache(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

    // The classification of `sql`; the reference is valid until the next call.
    const Classification& classify(std::string_view sql, const FunctionCatalog& functions);

    std::size_t size() const { return entries_.size(); }

private:
    std::unordered_map<std::string, Classification, TextHash, std::equal_to<>> entries_;
    std::size_t capacity_;
    std::uint64_t stamp_ = 0;
    Classification uncached_;
};

}  // namespace pggate::route
