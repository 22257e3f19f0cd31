// What the read/write splitting suites share: a pggate that splits reads in
// transaction pooling, and a scratch table the replicas have replayed.
#pragma once

#include <string>
#include <vector>

#include "harness.hpp"

namespace pggate::test {

// Transaction pooling with read_write_split on, two workers, health checks
// on; `extra` lines are added (or replace these). The functions that tell where a statement ran
// describe the node, so pggate does not count them as reads by itself: they
// are listed in read_only_functions.
PggateOptions routing(const std::vector<std::string>& extra = {});

// A table made on the primary (id serial, v int) that every replica has
// replayed, dropped with the object.
struct Table {
    std::string name;
    explicit Table(std::string n);
    ~Table();
    Table(const Table&) = delete;
    Table& operator=(const Table&) = delete;
};

}  // namespace pggate::test
