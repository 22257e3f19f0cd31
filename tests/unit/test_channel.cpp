// The master-to-child channel's messages: configurations, reload requests
// and their answers survive encoding (any text, NUL bytes included), and
// malformed payloads are refused rather than misread.
#include <doctest/doctest.h>

#include <string>

#include "master/channel.hpp"

using namespace pggate::master;

TEST_CASE("channel: configurations and reload answers decode as they were encoded") {
    const std::string text = "[pggate]\nlisten_port = 6432\n";
    auto config = decode_master_message(encode_master_message({MasterMessage::Kind::Config, 42, 0, text}));
    REQUIRE(config);
    CHECK(config->kind == MasterMessage::Kind::Config);
    CHECK(config->generation == 42);
    CHECK(config->text == text);

    const std::string why = std::string("auth_file: line 3:\0 odd", 23);
    auto refused = decode_master_message(encode_master_message({MasterMessage::Kind::ReloadAnswer, 0, 7, why}));
    REQUIRE(refused);
    CHECK(refused->kind == MasterMessage::Kind::ReloadAnswer);
    CHECK(refused->request == 7);
    CHECK(refused->generation == 0);
    CHECK(refused->text == why);

    auto applied = decode_master_message(encode_master_message({MasterMessage::Kind::ReloadAnswer, 9, 8, ""}));
    REQUIRE(applied);
    CHECK(applied->generation == 9);
    CHECK(applied->request == 8);
    CHECK(applied->text.empty());
}

TEST_CASE("channel: worker requests decode as they were encoded") {
    auto set = decode_worker_request(encode_worker_request({WorkerRequest::Kind::Set, "default_pool_size", "7", 0}));
    REQUIRE(set);
    CHECK(set->kind == WorkerRequest::Kind::Set);
    CHECK(set->key == "default_pool_size");
    CHECK(set->value == "7");
    auto reload = decode_worker_request(encode_worker_request({WorkerRequest::Kind::Reload, {}, {}, 12}));
    REQUIRE(reload);
    CHECK(reload->kind == WorkerRequest::Kind::Reload);
    CHECK(reload->request == 12);
}

TEST_CASE("channel: malformed payloads are refused") {
    using namespace std::string_literals;
    for (const std::string& bad : {""s, "CONFIG"s, "CONFIG\0"s, "CONFIG\0x1\0text"s, "CONFIG\0-1\0"s,
                                   "RELOAD\0" "3"s, "RELOAD\0" "3\0"s, "OTHER\0" "1\0"s})
        CHECK_FALSE(decode_master_message(bad));
    for (const std::string& bad : {""s, "SET"s, "SET\0key"s, "RELOAD\0"s, "RELOAD\0" "7x"s, "PAUSE\0db"s})
        CHECK_FALSE(decode_worker_request(bad));
}
