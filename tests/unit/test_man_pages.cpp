// The man pages render cleanly: mandoc's lint finds nothing in either (the
// key-by-key checks of pggate.ini(5) live with the config tests).
#include <doctest/doctest.h>

#include <cstdio>
#include <memory>
#include <string>

namespace {

// What `command` prints on stdout and stderr together, and its exit status.
std::string run(const std::string& command, int& status) {
    std::string out;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((command + " 2>&1").c_str(), "r"), pclose);
    REQUIRE(pipe != nullptr);
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe.get())) out.append(buf, n);
    status = pclose(pipe.release());
    return out;
}

}  // namespace

TEST_CASE("man pages: mandoc -T lint reports nothing for pggate(1) and pggate.ini(5)") {
    for (const std::string page : {"man/pggate.1", "man/pggate.ini.5"}) {
        CAPTURE(page);
        int status = 0;
        const std::string findings = run("mandoc -T lint -W warning " + page, status);
        CHECK_MESSAGE(findings.empty(), findings);
        CHECK(status == 0);
        // It renders, with its NAME section.
        const std::string text = run("mandoc -T html " + page, status);
        CHECK(status == 0);
        CHECK(text.find("id=\"NAME\"") != std::string::npos);
    }
}
