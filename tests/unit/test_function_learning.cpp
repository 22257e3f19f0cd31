// What the workers learn of non-volatile functions: the names the health
// process publishes, and the shared list that carries them.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>

#include "health/function_learner.hpp"
#include "shm/function_list.hpp"

using namespace pggate;

TEST_CASE("learned_names keeps the read-only names, whole ones only, within the capacity") {
    std::map<std::string, bool> verdicts{{"app.balance", true}, {"app.bump", false}, {"balance", true},
                                         {"odd\nname", true}, {"", true}};
    CHECK(health::learned_names(verdicts, 1000) == "app.balance\nbalance\n");
    // "app.balance\n" is 12 bytes: the next name does not fit and is left out.
    CHECK(health::learned_names(verdicts, 15) == "app.balance\n");
    CHECK(health::learned_names(verdicts, 5).empty());
}

TEST_CASE("the function list hands over what was published, with a new version each time") {
    auto list = std::make_unique<shm::FunctionList>();
    std::uint32_t version = 99;
    CHECK(list->read(version).empty());
    CHECK(version == 0);
    list->publish("app.balance\nbalance\n");
    CHECK(list->version() == 2);
    CHECK(list->read(version) == "app.balance\nbalance\n");
    CHECK(version == 2);
    // Longer than a word, not a multiple of one, then shorter again.
    std::string long_text(1000, 'x');
    long_text += "\nabc";
    list->publish(long_text);
    CHECK(list->read(version) == long_text);
    list->publish("f\n");
    CHECK(list->read(version) == "f\n");
    CHECK(version == 6);
    std::string too_long(shm::FunctionList::kCapacity + 10, 'y');
    list->publish(too_long);
    CHECK(list->read(version).size() == shm::FunctionList::kCapacity);
}
