// What the suites of pggate's own authentication share: a users file of the
// test's own, roles with passwords stored as md5 or SCRAM, and checks that a
// login through pggate works (down to the server) or is refused with 28P01.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "harness.hpp"

namespace pggate::test {

// A private directory for an auth_file, removed with the object.
class AuthFile {
public:
    AuthFile();
    ~AuthFile();
    AuthFile(const AuthFile&) = delete;
    AuthFile& operator=(const AuthFile&) = delete;

    const std::string& path() const { return path_; }

    // Writes `"user" "secret"` lines (replacing the file at once); the
    // harness's superuser (which pggate's readiness probe logs in as) is
    // always listed with its plain password.
    void write(const std::vector<std::pair<std::string, std::string>>& entries) const;

private:
    std::string dir_;
    std::string path_;
};

// Creates a login role with `password` stored as `encryption` (md5 or
// scram-sha-256), `attributes` added to CREATE ROLE, and returns the secret
// PostgreSQL stored. The guard drops it at the end.
std::string create_role(TrustGuard& guard, const std::string& role, const std::string& password,
                        const std::string& encryption, const std::string& attributes = "");

// Logs in through pggate as `user` and checks that queries run as that user
// (which, in transaction mode, is when pggate logs in to the server).
void check_login_works(const Pggate& gate, const std::string& user, const std::string& password);

// The login is refused with 28P01 "password authentication failed for user".
void check_login_refused(const Pggate& gate, const std::string& user, const std::string& password);

// The "FATAL: ..." line of a failed login with the user name replaced by <user>.
std::string fatal_shape(const std::string& message, const std::string& user);

}  // namespace pggate::test
