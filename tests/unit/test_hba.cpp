// Access rules in pg_hba.conf syntax: what pggate accepts, what it refuses
// to honour, and which rule a connection meets first.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "auth/hba.hpp"

using namespace pggate::auth;

namespace {

HbaRules parse(const std::string& text) {
    std::string error;
    auto rules = parse_hba(text, error);
    REQUIRE_MESSAGE(rules.has_value(), error);
    return *rules;
}

std::string error_of(const std::string& text) {
    std::string error;
    return parse_hba(text, error) ? std::string() : error;
}

sockaddr_storage ip(const char* text) {
    sockaddr_storage s{};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&s);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&s);
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
    } else {
        REQUIRE(inet_pton(AF_INET6, text, &v6->sin6_addr) == 1);
        v6->sin6_family = AF_INET6;
    }
    return s;
}

// The method for a TCP connection from `from`, or "none" when no rule matches.
std::string method_for(const HbaRules& rules, const char* from, std::string_view db, std::string_view user,
                       bool local = false) {
    sockaddr_storage s = ip(from);
    const HbaRule* r = match_hba(rules, {local, false, local ? nullptr : reinterpret_cast<const sockaddr*>(&s), db, user});
    if (r == nullptr) return "none";
    switch (r->method) {
        case HbaMethod::Trust: return "trust";
        case HbaMethod::Reject: return "reject";
        case HbaMethod::Password: return "password";
        case HbaMethod::Md5: return "md5";
        case HbaMethod::ScramSha256: return "scram-sha-256";
        case HbaMethod::Cert: return "cert";
    }
    return "?";
}

}  // namespace

TEST_SUITE("auth.hba") {

TEST_CASE("hba: the first matching line decides; no line means no entry") {
    HbaRules rules = parse(
        "# comment\n"
        "local   all        all                     trust\n"
        "host    app        batch   10.0.0.0/8      reject\n"
        "host    app,\"all\"  all     10.0.0.0  255.0.0.0  scram-sha-256\n"
        "hostnossl sameuser all     127.0.0.1/32    md5   # own database\n"
        "host    all        alice   ::1/128         password\n"
        "hostssl all        all     0.0.0.0/0       cert clientcert=verify-full\n");
    CHECK(rules.rules.size() == 6);
    CHECK(method_for(rules, "127.0.0.1", "x", "y", true) == "trust");
    CHECK(method_for(rules, "10.1.2.3", "app", "batch") == "reject");
    CHECK(method_for(rules, "10.1.2.3", "app", "web") == "scram-sha-256");
    CHECK(method_for(rules, "10.1.2.3", "all", "web") == "scram-sha-256");  // a quoted "all" is a name
    CHECK(method_for(rules, "10.1.2.3", "other", "web") == "none");
    CHECK(method_for(rules, "127.0.0.1", "bob", "bob") == "md5");
    CHECK(method_for(rules, "127.0.0.1", "app", "bob") == "none");
    CHECK(method_for(rules, "::1", "app", "alice") == "password");
    CHECK(method_for(rules, "::2", "app", "alice") == "none");
    CHECK(method_for(rules, "192.168.0.1", "app", "alice") == "none");  // hostssl needs TLS
}

TEST_CASE("hba: an IPv4 client on a dual-stack socket meets IPv4 rules") {
    HbaRules rules = parse("host all all 127.0.0.0/8 trust\n");
    CHECK(method_for(rules, "::ffff:127.0.0.5", "d", "u") == "trust");
    CHECK(method_for(rules, "::1", "d", "u") == "none");
}

TEST_CASE("hba: lines pggate cannot honour are errors naming the line") {
    CHECK(error_of("host all all 1.2.3.4/33 trust\n") == "line 1: invalid CIDR mask in \"1.2.3.4/33\"");
    CHECK(error_of("\nhost all all db.example.com trust\n") ==
          "line 2: \"db.example.com\" is not an IP address (host names are not supported)");
    CHECK(error_of("host all all 1.2.3.4 trust\n") == "line 1: \"1.2.3.4\" needs a /bits mask or a netmask field");
    CHECK(error_of("local all all peer\n") == "line 1: authentication method \"peer\" is not supported");
    CHECK(error_of("local all +admins trust\n") == "line 1: group membership (+admins) is not supported");
    CHECK(error_of("local @dbs all trust\n") == "line 1: file inclusion (@dbs) is not supported");
    CHECK(error_of("host all all samenet trust\n") == "line 1: samenet is not supported");
    CHECK(error_of("hostgssenc all all all trust\n") == "line 1: hostgssenc is not supported");
    CHECK(error_of("socket all all trust\n") == "line 1: unknown connection type \"socket\"");
    CHECK(error_of("local all all \"trust\n") == "line 1: unterminated quoted string");
    CHECK(error_of("host all all\n") == "line 1: too few fields (need type, database, user, address, method)");
    CHECK(error_of("host all all 10.0.0.0 255.0.0.0\n") == "line 1: missing authentication method");
}

TEST_CASE("hba: clientcert=verify-ca and verify-full on hostssl lines; cert implies verify-full") {
    HbaRules rules = parse(
        "hostssl all ca_only  all scram-sha-256 clientcert=verify-ca\n"
        "hostssl all full     all scram-sha-256 clientcert=verify-full clientname=CN\n"
        "hostssl all by_cert  all cert\n"
        "hostssl all by_cert2 all cert clientcert=verify-full\n"
        "hostssl all quoted   all md5 clientcert=\"verify-full\"\n"
        "hostssl all none     all md5\n");
    REQUIRE(rules.rules.size() == 6);
    CHECK(rules.rules[0].clientcert == HbaClientCert::VerifyCa);
    CHECK(rules.rules[1].clientcert == HbaClientCert::VerifyFull);
    CHECK(rules.rules[1].method == HbaMethod::ScramSha256);
    CHECK(rules.rules[2].clientcert == HbaClientCert::VerifyFull);
    CHECK(rules.rules[3].clientcert == HbaClientCert::VerifyFull);
    CHECK(rules.rules[4].clientcert == HbaClientCert::VerifyFull);
    CHECK(rules.rules[5].clientcert == HbaClientCert::Off);
    CHECK(first_certificate_rule(rules) == &rules.rules[0]);
    CHECK(first_certificate_rule(parse("hostssl all all all md5\nhostssl all all all cert\n"))->line == 2);
    CHECK(first_certificate_rule(parse("host all all all md5\n")) == nullptr);
}

TEST_CASE("hba: options pggate cannot honour, and misplaced clientcert, are errors naming the line") {
    CHECK(error_of("host all all all md5 clientcert=verify-full\n") ==
          "line 1: clientcert can only be configured for \"hostssl\" rows");
    CHECK(error_of("local all all trust\nlocal all all md5 clientcert=verify-ca\n") ==
          "line 2: clientcert can only be configured for \"hostssl\" rows");
    CHECK(error_of("hostnossl all all all md5 clientname=CN\n") ==
          "line 1: clientname can only be configured for \"hostssl\" rows");
    // No certificate comes without TLS, so PostgreSQL refuses such a line at load.
    for (const char* kind : {"host", "hostnossl"})
        CHECK(error_of(std::string("host all all all md5\n") + kind + " all all 10.0.0.0/8 cert\n") ==
              "line 2: cert authentication is only supported on hostssl connections");
    CHECK(error_of("local all all cert\n") == "line 1: cert authentication is only supported on hostssl connections");
    CHECK(error_of("hostssl all all all cert clientcert=verify-ca\n") ==
          "line 1: clientcert only accepts \"verify-full\" when using \"cert\" authentication");
    CHECK(error_of("hostssl all all all md5 clientcert=1\n") ==
          "line 1: invalid value for clientcert: \"1\" (use verify-ca or verify-full)");
    CHECK(error_of("hostssl all all all md5 clientcert=no-verify\n") ==
          "line 1: invalid value for clientcert: \"no-verify\" (use verify-ca or verify-full)");
    CHECK(error_of("hostssl all all all cert map=certmap\n") ==
          "line 1: authentication option \"map\" is not supported (pggate honours clientcert only)");
    CHECK(error_of("host all all all scram-sha-256 ldapserver=ldap.example.net\n") ==
          "line 1: authentication option \"ldapserver\" is not supported (pggate honours clientcert only)");
    CHECK(error_of("hostssl all all all cert clientname=DN\n") ==
          "line 1: clientname=DN is not supported (the CN is compared with the user name)");
    CHECK(error_of("hostssl all all all md5 verify-full\n") ==
          "line 1: authentication option not in name=value format: verify-full");
    CHECK(error_of("hostssl all all all md5 =x\n") == "line 1: authentication option not in name=value format: =x");
}

TEST_CASE("hba: a file with cert on a host line is refused at load, naming the file and the line") {
    char path[] = "/tmp/pggate_test_hba_XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    close(fd);
    {
        std::ofstream out(path);
        out << "# TLS or not\nlocal all all trust\nhost all all 127.0.0.1/32 cert\n";
    }
    std::string error;
    CHECK_FALSE(load_hba_file(path, error));
    CHECK(error == std::string(path) + ": line 3: cert authentication is only supported on hostssl connections");
    {
        std::ofstream out(path);
        out << "local all all trust\nhostssl all all 127.0.0.1/32 cert\n";
    }
    CHECK(load_hba_file(path, error));
    unlink(path);
}

TEST_CASE("hba: replication lines never match client connections") {
    HbaRules rules = parse("host replication all all trust\nhost all all all md5\n");
    CHECK(method_for(rules, "127.0.0.1", "replication", "u") == "md5");
}

}
