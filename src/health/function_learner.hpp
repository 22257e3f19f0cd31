// Learns from the primary's pg_proc which functions are not VOLATILE (so
// write nothing: PostgreSQL refuses writes in STABLE and IMMUTABLE
// functions) and publishes their names for the workers' classifiers. Only
// functions outside the system schemas are learned; built-ins are the
// classifier's own list. A name counts when every function it may reach is
// non-volatile in every database asked: health_check_dbname and each
// database the [databases] section names.
#pragma once

#include <libpq-fe.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "net/event_ptr.hpp"
#include "net/pq_session.hpp"
#include "shm/function_list.hpp"

namespace pggate::health {

// The learned names, one per line, from each name's verdict (pure).
std::string learned_names(const std::map<std::string, bool>& verdicts, std::size_t capacity);

class FunctionLearner {
public:
    FunctionLearner(event_base* base, shm::FunctionList& out);

    // Asks `primary` (its dbname is replaced by each of `databases`) now and
    // every `period` seconds; nullopt: there is no primary, nothing is asked.
    void configure(std::optional<net::PqTarget> primary, std::vector<std::string> databases, double period,
                   double timeout);

private:
    static void on_timer(evutil_socket_t, short, void* arg);
    void start_round();
    void ask_next();
    void answered(PGresult* result, const net::PqError& error);
    void finish_round();

    shm::FunctionList& out_;
    net::PqSession session_;
    net::EventPtr timer_;
    std::optional<net::PqTarget> primary_;
    std::vector<std::string> databases_;
    double period_ = 60;
    double timeout_ = 5;
    std::size_t next_ = 0;                  // the database asked next in this round
    std::map<std::string, bool> verdicts_;  // name -> non-volatile everywhere so far
    bool failed_ = false;                   // a database of this round could not be asked
    std::string published_;
};

}  // namespace pggate::health
