// Shared by the fuzz targets: an invariant check that stops the run with a
// crash libFuzzer records, and the splitting of one input into the messages
// of an exchange.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

// Unlike assert(), active in every build: a violated invariant is a finding.
#define FUZZ_CHECK(cond) ((cond) ? static_cast<void>(0) : ::pggate::fuzz::violated(#cond, __FILE__, __LINE__))

namespace pggate::fuzz {

[[noreturn]] inline void violated(const char* what, const char* file, int line) {
    std::fprintf(stderr, "%s:%d: invariant violated: %s\n", file, line, what);
    std::abort();
}

// Separates the messages of one input; the seed generator and the
// dictionaries use the same bytes.
constexpr std::string_view kSeparator = "\n~~\n";

inline std::vector<std::string_view> split_parts(std::string_view in) {
    std::vector<std::string_view> parts;
    while (true) {
        std::size_t at = in.find(kSeparator);
        parts.push_back(in.substr(0, at));
        if (at == std::string_view::npos) return parts;
        in.remove_prefix(at + kSeparator.size());
    }
}

// Takes bytes from the front of an input; past the end it yields zeros.
class Cursor {
public:
    explicit Cursor(std::string_view in) : rest_(in) {}
    unsigned char byte() {
        if (rest_.empty()) return 0;
        unsigned char b = static_cast<unsigned char>(rest_.front());
        rest_.remove_prefix(1);
        return b;
    }
    std::string_view rest() const { return rest_; }

private:
    std::string_view rest_;
};

}  // namespace pggate::fuzz
