// Rounds of pg_proc questions, one database after another over one session.
#include "health/function_learner.hpp"

#include <algorithm>

#include "core/clock.hpp"
#include "core/log.hpp"

namespace pggate::health {

namespace {

// Each schema-qualified name outside the system schemas, and each bare name
// that reaches such a function (through any schema a search path may list,
// pg_catalog included), with whether all functions of that name are
// non-volatile.
constexpr const char* kQuery =
    "SELECT n.nspname || '.' || p.proname, bool_and(p.provolatile <> 'v') "
    "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
    "WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' GROUP BY 1 "
    "UNION ALL "
    "SELECT p.proname, bool_and(p.provolatile <> 'v') "
    "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace GROUP BY 1 "
    "HAVING bool_or(n.nspname <> 'information_schema' AND n.nspname !~ '^pg_')";

}  // namespace

std::string learned_names(const std::map<std::string, bool>& verdicts, std::size_t capacity) {
    std::string text;
    for (const auto& [name, read_only] : verdicts) {
        if (!read_only || name.empty() || name.find('\n') != std::string::npos) continue;
        // Whole names only: one that does not fit is left to the primary.
        if (text.size() + name.size() + 1 > capacity) break;
        text += name;
        text += '\n';
    }
    return text;
}

FunctionLearner::FunctionLearner(event_base* base, shm::FunctionList& out) : out_(out), session_(base) {
    timer_.reset(evtimer_new(base, on_timer, this));
}

void FunctionLearner::configure(std::optional<net::PqTarget> primary, std::vector<std::string> databases,
                                double period, double timeout) {
    const bool changed = primary != primary_ || databases != databases_;
    primary_ = std::move(primary);
    databases_ = std::move(databases);
    period_ = period;
    timeout_ = timeout;
    if (!changed) return;
    session_.close();
    evtimer_del(timer_.get());
    if (primary_) start_round();
}

void FunctionLearner::on_timer(evutil_socket_t, short, void* arg) { static_cast<FunctionLearner*>(arg)->start_round(); }

void FunctionLearner::start_round() {
    next_ = 0;
    verdicts_.clear();
    failed_ = false;
    ask_next();
}

void FunctionLearner::ask_next() {
    if (next_ >= databases_.size()) {
        finish_round();
        return;
    }
    net::PqTarget target = *primary_;
    target.dbname = databases_[next_];
    session_.close();
    session_.connect(target, timeout_, [this](const net::PqError& error) {
        if (!error.message.empty()) {
            answered(nullptr, error);
            return;
        }
        session_.query(kQuery, timeout_, [this](PGresult* result, const net::PqError& e) { answered(result, e); });
    });
}

void FunctionLearner::answered(PGresult* result, const net::PqError& error) {
    const std::string& database = databases_[next_];
    if (!error.message.empty() || PQresultStatus(result) != PGRES_TUPLES_OK || PQnfields(result) != 2) {
        // A round with a database missing could call a function read-only
        // that is volatile there: it publishes nothing.
        log_warning("learning non-volatile functions in database %s failed: %s", database.c_str(),
                    error.message.empty() ? net::pq_message(PQresultErrorMessage(result)).c_str() : error.message.c_str());
        failed_ = true;
    } else {
        for (int row = 0; row < PQntuples(result); ++row) {
            const bool read_only = PQgetvalue(result, row, 1)[0] == 't';
            auto [it, fresh] = verdicts_.emplace(PQgetvalue(result, row, 0), read_only);
            if (!fresh) it->second = it->second && read_only;
        }
    }
    session_.close();
    ++next_;
    ask_next();
}

void FunctionLearner::finish_round() {
    if (!failed_) {
        std::string text = learned_names(verdicts_, shm::FunctionList::kCapacity);
        if (text != published_) {
            const auto count = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
            log_info("learned %zu non-volatile function names from pg_proc", count);
            out_.publish(text);
            published_ = std::move(text);
        }
    }
    timeval tv = to_timeval(period_);
    evtimer_add(timer_.get(), &tv);
}

}  // namespace pggate::health
