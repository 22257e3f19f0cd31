// Test CAs made with the openssl command.
#include "tls_support.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "harness.hpp"

namespace pggate::test {

void run_ok(const std::string& command) {
    std::string output;
    const int rc = run_shell(command, output);
    REQUIRE_MESSAGE(rc == 0, command << "\n" << output);
}

TestCa::TestCa(const std::string& name) {
    char tmpl[] = "/tmp/pggate-ca-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    run_ok("cd " + dir_ + " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
           "-keyout ca.key -out ca.crt -subj '/CN=" + name + "' 2>&1");
}

TestCa::~TestCa() {
    std::string ignored;
    run_shell("rm -rf " + dir_, ignored);
}

void TestCa::issue(const std::string& name, const std::string& cn, const std::string& san) const {
    std::ofstream(dir_ + "/" + name + ".ext") << (san.empty() ? "" : "subjectAltName=" + san + "\n");
    run_ok("cd " + dir_ + " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + name +
           ".key -out " + name + ".csr -subj '/CN=" + cn + "' 2>&1 && openssl x509 -req -in " + name +
           ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -out " + name + ".crt -extfile " + name + ".ext 2>&1");
    chmod((dir_ + "/" + name + ".key").c_str(), 0600);
}

std::vector<std::string> client_tls(const TestCa& ca, const std::string& mode) {
    return {"client_tls_sslmode = " + mode, "client_tls_cert_file = " + ca.cert("gate"),
            "client_tls_key_file = " + ca.key("gate"), "client_tls_ca_file = " + ca.ca_file()};
}

}  // namespace pggate::test
