// Classifier benchmark (`make bench-classifier`): what routing costs a worker
// per statement, classifying a text it has not seen and finding one it has.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

#include "route/classifier.hpp"

namespace {

using pggate::route::Classification;
using pggate::route::ClassificationCache;
using pggate::route::FunctionCatalog;
using Clock = std::chrono::steady_clock;

constexpr Clock::duration kMeasureTime = std::chrono::milliseconds(500);
constexpr int kRepeats = 5;
constexpr double kCachedTargetNs = 300;
constexpr double kUncachedTargetNs = 3000;

struct Sample {
    const char* label;
    std::string_view sql;
    bool oltp;  // counts towards the uncached target
};

// Statements as pgbench -M extended and typical applications send them.
constexpr std::string_view kPgbenchSelect = "SELECT abalance FROM pgbench_accounts WHERE aid = $1;";

constexpr std::string_view kTpcbUpdate = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;";

constexpr std::string_view kTpcbInsert =
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP);";

constexpr std::string_view kCteJoin = R"(WITH recent AS (
    SELECT o.customer_id, max(o.created_at) AS last_order, count(*) AS orders
    FROM orders o
    WHERE o.created_at > now() - interval '30 days'
    GROUP BY o.customer_id
)
SELECT c.id, c.name, c.email, r.last_order, r.orders
FROM customers c
JOIN recent r ON r.customer_id = c.id
WHERE c.region = $1
ORDER BY r.last_order DESC
LIMIT 20)";

// Close to, but within, ClassificationCache::kMaxTextBytes, so it is cached.
constexpr std::string_view kReport = R"(-- ops dashboard: monthly revenue
SELECT
    date_trunc('month', o.created_at) AS month,
    c.region,
    c.segment,
    p.category,
    count(DISTINCT o.id) AS orders,
    count(DISTINCT o.customer_id) AS customers,
    sum(oi.quantity) AS units,
    sum(oi.quantity * oi.unit_price) AS gross,
    sum(oi.quantity * oi.unit_price * coalesce(d.rate, 0)) AS discounts,
    sum(oi.quantity * oi.unit_price * (1 - coalesce(d.rate, 0))) AS net,
    round(avg(oi.quantity * oi.unit_price), 2) AS avg_line,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY o.total) AS median_order,
    sum(CASE WHEN o.status = 'returned' THEN 1 ELSE 0 END) AS returns,
    sum(CASE WHEN o.channel = 'web' THEN o.total ELSE 0 END) AS web_total,
    sum(CASE WHEN o.channel = 'store' THEN o.total ELSE 0 END) AS store_total,
    sum(CASE WHEN o.channel = 'partner' THEN o.total ELSE 0 END) AS partner_total,
    sum(CASE WHEN o.shipped_at IS NOT NULL THEN 1 ELSE 0 END) AS shipped,
    avg(extract(epoch FROM o.shipped_at - o.created_at) / 3600) AS hours_to_ship,
    count(*) FILTER (WHERE o.coupon_code IS NOT NULL) AS with_coupon,
    max(o.created_at) AS last_order_at,
    min(o.created_at) AS first_order_at,
    string_agg(DISTINCT s.name, ', ' ORDER BY s.name) AS sales_reps
FROM orders o
JOIN customers c ON c.id = o.customer_id
JOIN order_items oi ON oi.order_id = o.id
JOIN products p ON p.id = oi.product_id
LEFT JOIN discounts d ON d.id = oi.discount_id AND d.valid_from <= o.created_at
    AND (d.valid_until IS NULL OR d.valid_until > o.created_at)
LEFT JOIN sales_reps s ON s.id = o.sales_rep_id
WHERE o.created_at >= $1::timestamptz
  AND o.created_at < $2::timestamptz
  AND o.status IN ('paid', 'shipped', 'delivered', 'returned')
  AND c.region = ANY($3::text[])
  AND p.category NOT IN ('gift-card', 'internal')
  AND NOT EXISTS (
      SELECT 1 FROM fraud_flags f
      WHERE f.order_id = o.id AND f.confirmed
  )
GROUP BY 1, 2, 3, 4
HAVING sum(oi.quantity * oi.unit_price) > $4
ORDER BY month, c.region, c.segment, net DESC
LIMIT 500)";

constexpr std::string_view kDollarComments = R"(/* app=billing, job=nightly-check */
-- invoices whose memo mentions a refund; the memo text is user input
SELECT i.id, format($fmt$invoice %s (%s): %s$fmt$, i.number, i.customer, i.memo) AS line /* shown in UI */
FROM invoices i
WHERE i.memo LIKE $$%it's a refund -- or /* partial */ one; see ticket%$$
  AND i.due_at < now() - interval '1 day' -- overdue only
ORDER BY i.due_at;)";

const std::array<Sample, 6> kSamples = {{
    {"pgbench -S select", kPgbenchSelect, true},
    {"TPC-B update", kTpcbUpdate, true},
    {"TPC-B insert", kTpcbInsert, true},
    {"join with CTE", kCteJoin, false},
    {"reporting query", kReport, false},
    {"dollar quotes, comments", kDollarComments, false},
}};

// Where each timed loop leaves its result, so the work cannot be dropped.
volatile unsigned g_sink;

// Calls `op` n times; returns how long that took.
template <class Op>
Clock::duration run(Op& op, std::uint64_t n) {
    unsigned acc = 0;
    const Clock::time_point start = Clock::now();
    for (std::uint64_t i = 0; i < n; ++i) acc += op();
    const Clock::duration took = Clock::now() - start;
    g_sink = acc;
    return took;
}

// How many calls of `op` take about kMeasureTime: doubles a trial count
// until a run is long enough to time, then scales it.
template <class Op>
std::uint64_t calls_per_measurement(Op& op) {
    for (std::uint64_t n = 1;; n *= 2) {
        const Clock::duration took = run(op, n);
        if (took < kMeasureTime / 20) continue;
        const double scale = std::chrono::duration<double>(kMeasureTime) / took;
        return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(static_cast<double>(n) * scale));
    }
}

// The median over kRepeats measurements of ns per call of `op`.
template <class Op>
double median_ns(Op& op) {
    const std::uint64_t n = calls_per_measurement(op);
    std::array<double, kRepeats> ns{};
    for (double& v : ns) v = std::chrono::duration<double, std::nano>(run(op, n)).count() / static_cast<double>(n);
    std::sort(ns.begin(), ns.end());
    return ns[kRepeats / 2];
}

unsigned digest(const Classification& c) { return static_cast<unsigned>(c.kind) + static_cast<unsigned>(c.hint); }

struct Result {
    const Sample* sample;
    double uncached_ns;
    double cached_ns;
};

// A cache miss: the text classified from scratch, as the worker's cache
// does before keeping the answer.
double uncached_ns(const Sample& s, const FunctionCatalog& functions) {
    auto op = [&] { return digest(pggate::route::classify(s.sql, functions)); };
    return median_ns(op);
}

// A cache hit: the worker's lookup of a text it has classified before.
double cached_ns(const Sample& s, const FunctionCatalog& functions) {
    ClassificationCache cache;
    cache.classify(s.sql, functions);
    auto op = [&] { return digest(cache.classify(s.sql, functions)); };
    return median_ns(op);
}

void print_table(const std::vector<Result>& results) {
    std::printf("%-26s %6s %13s %11s\n", "statement", "bytes", "uncached ns", "cached ns");
    for (const Result& r : results)
        std::printf("%-26s %6zu %13.0f %11.0f\n", r.sample->label, r.sample->sql.size(), r.uncached_ns, r.cached_ns);
}

// One target's line: "met" or "missed by X", with the statement that decided it.
void print_verdict(const char* what, double limit_ns, const Result& worst, double worst_ns) {
    std::printf("  %s <= %.0f ns: ", what, limit_ns);
    if (worst_ns <= limit_ns)
        std::printf("met");
    else
        std::printf("missed by %.0f ns", worst_ns - limit_ns);
    std::printf(" (worst %.0f ns, %s)\n", worst_ns, worst.sample->label);
}

void print_targets(const std::vector<Result>& results) {
    const Result* cached = &results.front();
    const Result* uncached = nullptr;
    for (const Result& r : results) {
        if (r.cached_ns > cached->cached_ns) cached = &r;
        if (r.sample->oltp && (!uncached || r.uncached_ns > uncached->uncached_ns)) uncached = &r;
    }
    std::printf("\ntargets (median of %d runs of ~%lld ms each):\n", kRepeats,
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(kMeasureTime).count()));
    print_verdict("cached, every statement", kCachedTargetNs, *cached, cached->cached_ns);
    print_verdict("uncached, OLTP (pgbench) statements", kUncachedTargetNs, *uncached, uncached->uncached_ns);
}

}  // namespace

int main() {
    const FunctionCatalog functions;
    std::vector<Result> results;
    for (const Sample& s : kSamples) {
        if (s.sql.size() > ClassificationCache::kMaxTextBytes) {
            std::fprintf(stderr, "%s: %zu bytes is more than the cache keeps\n", s.label, s.sql.size());
            return 1;
        }
        results.push_back({&s, uncached_ns(s, functions), cached_ns(s, functions)});
    }
    print_table(results);
    print_targets(results);
    return 0;
}
