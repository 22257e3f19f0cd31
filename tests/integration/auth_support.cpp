// Users files, roles and login checks for the authentication suites.
#include "auth_support.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace pggate::test {

AuthFile::AuthFile() {
    char pattern[] = "/tmp/pggate-authfile-XXXXXX";
    REQUIRE(mkdtemp(pattern) != nullptr);
    dir_ = pattern;
    path_ = dir_ + "/userlist.txt";
}

AuthFile::~AuthFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void AuthFile::write(const std::vector<std::pair<std::string, std::string>>& entries) const {
    std::string tmp = path_ + ".new";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << "; written by the integration tests\n";
        out << "\"postgres\" \"" << Cluster::kAdminPassword << "\"\n";
        for (const auto& [user, secret] : entries) out << "\"" << user << "\" \"" << secret << "\"\n";
        out.close();
        REQUIRE_MESSAGE(out.good(), "writing " << tmp << " failed");
    }
    std::filesystem::rename(tmp, path_);
}

std::string create_role(TrustGuard& guard, const std::string& role, const std::string& password,
                        const std::string& encryption, const std::string& attributes) {
    guard.roles.push_back(role);
    PgConn admin = cluster().admin();
    admin.exec_ok("drop role if exists " + role);
    admin.exec_ok("set password_encryption = '" + encryption + "'");
    std::string create = "create role " + role + " login " + attributes;
    if (!password.empty()) create += " password '" + password + "'";
    admin.exec_ok(create);
    if (password.empty()) return "";
    return admin.scalar("select rolpassword from pg_authid where rolname = '" + role + "'");
}

void check_login_works(const Pggate& gate, const std::string& user, const std::string& password) {
    std::string extra = "user=" + user + (password.empty() ? std::string(" passfile=/nonexistent") : " password=" + password);
    PgConn c = PgConn::attempt(gate.conninfo(extra));
    REQUIRE_MESSAGE(c.ok(), "login of " << user << " refused: " << c.error_message() << "\npggate log:\n"
                                        << gate.log_tail(20));
    PgResult r = c.exec("select current_user, session_user, 'works'");
    REQUIRE_MESSAGE(r.status() == PGRES_TUPLES_OK, r.describe() << "\npggate log:\n" << gate.log_tail(20));
    CHECK(r.value(0, 0) == user);
    CHECK(r.value(0, 1) == user);
    CHECK(r.value(0, 2) == "works");
    c.exec_ok("begin");
    c.exec_ok("select 1");
    c.exec_ok("commit");
}

void check_login_refused(const Pggate& gate, const std::string& user, const std::string& password) {
    PgConn c = PgConn::attempt(gate.conninfo("user=" + user + " password=" + password));
    CHECK_FALSE(c.ok());
    CHECK_MESSAGE(c.error_sqlstate() == "28P01", c.error_message());
    CHECK_MESSAGE(c.error_message().find("password authentication failed for user") != std::string::npos,
                  c.error_message());
}

std::string fatal_shape(const std::string& message, const std::string& user) {
    auto pos = message.find("FATAL:");
    std::string line = pos == std::string::npos ? message : message.substr(pos);
    line = line.substr(0, line.find('\n'));
    for (auto at = line.find(user); at != std::string::npos; at = line.find(user, at)) {
        line.replace(at, user.size(), "<user>");
        at += 6;
    }
    return line;
}

}  // namespace pggate::test
