// Helpers of the read/write splitting suites.
#include "routing_support.hpp"

namespace pggate::test {

PggateOptions routing(const std::vector<std::string>& extra) {
    PggateOptions options;
    options.settings = {"auth_type = trust", "pool_mode = transaction", "read_write_split = on", "workers = 2",
                        "default_pool_size = 4", "read_only_functions = pg_is_in_recovery, inet_server_port",
                        // The nodes trust the superuser's local logins.
                        "health_check_period = 5", "health_check_user = postgres"};
    options.settings.insert(options.settings.end(), extra.begin(), extra.end());
    return options;
}

Table::Table(std::string n) : name(std::move(n)) {
    cluster().admin_exec("drop table if exists " + name);
    cluster().admin_exec("create table " + name + " (id serial primary key, v int)");
    cluster().admin_exec("grant all on " + name + " to public");
    cluster().wait_replicas_caught_up();
}

Table::~Table() {
    try {
        cluster().admin_exec("drop table if exists " + name);
    } catch (...) {
    }
}

}  // namespace pggate::test
