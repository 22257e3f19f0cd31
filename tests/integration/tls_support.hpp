// What the TLS tests share: a certificate authority of the test's own, made
// with the openssl command, and pggate's client-side TLS settings.
#pragma once

#include <string>
#include <vector>

namespace pggate::test {

// Runs a shell command and REQUIREs that it succeeds (its output in the failure).
void run_ok(const std::string& command);

// A CA in a temporary directory (removed with the object) and certificates
// it signs: EC keys, valid for a day.
class TestCa {
public:
    explicit TestCa(const std::string& name);
    ~TestCa();
    TestCa(const TestCa&) = delete;
    TestCa& operator=(const TestCa&) = delete;

    const std::string& dir() const { return dir_; }
    std::string ca_file() const { return dir_ + "/ca.crt"; }
    // Makes <name>.crt and <name>.key (mode 0600) for subject CN `cn`, with
    // the subjectAltName `san` ("DNS:localhost,IP:127.0.0.1") unless empty.
    void issue(const std::string& name, const std::string& cn, const std::string& san = "") const;
    std::string cert(const std::string& name) const { return dir_ + "/" + name + ".crt"; }
    std::string key(const std::string& name) const { return dir_ + "/" + name + ".key"; }

private:
    std::string dir_;
};

// pggate's TLS toward clients in `mode`, with `ca` vouching for client
// certificates and its certificate "gate" (issue("gate", ...) first) as pggate's.
std::vector<std::string> client_tls(const TestCa& ca, const std::string& mode);

}  // namespace pggate::test
