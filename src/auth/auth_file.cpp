// Parsing of the auth_file, line by line, so that an error can say which
// line is wrong; reading is plain POSIX I/O so failures carry errno text.
#include "auth/auth_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/fd.hpp"
#include "protocol/md5_auth.hpp"
#include "protocol/scram.hpp"

namespace pggate::auth {

namespace {

// Far above any real user list; stops a wrong path (a device, a huge log)
// from being read into memory whole.
constexpr std::size_t kMaxAuthFileSize = 64 * 1024 * 1024;

bool is_blank(char c) { return c == ' ' || c == '\t'; }

void skip_blanks(std::string_view line, std::size_t& pos) {
    while (pos < line.size() && is_blank(line[pos])) ++pos;
}

// Reads a "..." field at `pos`; "" stands for one quote. Leaves `pos` after
// the closing quote.
std::optional<std::string> read_quoted(std::string_view line, std::size_t& pos, std::string& why) {
    if (pos >= line.size() || line[pos] != '"') {
        why = "expected a double-quoted field";
        return std::nullopt;
    }
    std::string out;
    for (++pos; pos < line.size(); ++pos) {
        char c = line[pos];
        if (c == '"') {
            if (pos + 1 < line.size() && line[pos + 1] == '"') {
                out += '"';
                ++pos;
                continue;
            }
            ++pos;
            return out;
        }
        if (c == '\0') {
            why = "NUL byte in field";
            return std::nullopt;
        }
        out += c;
    }
    why = "unterminated quoted field";
    return std::nullopt;
}

enum class LineResult { Skip, Entry, Error };

LineResult parse_line(std::string_view line, AuthFileEntry& out, std::string& why) {
    std::size_t pos = 0;
    skip_blanks(line, pos);
    if (pos == line.size() || line[pos] == ';' || line[pos] == '#') return LineResult::Skip;
    auto user = read_quoted(line, pos, why);
    if (!user) return LineResult::Error;
    if (pos == line.size() || !is_blank(line[pos])) {
        why = pos == line.size() ? "missing secret field" : "expected whitespace after the user name";
        return LineResult::Error;
    }
    skip_blanks(line, pos);
    auto secret = read_quoted(line, pos, why);
    if (!secret) return LineResult::Error;
    if (pos != line.size() && !is_blank(line[pos])) {
        why = "expected whitespace or end of line after the secret";
        return LineResult::Error;
    }
    if (user->empty()) {
        why = "empty user name";
        return LineResult::Error;
    }
    out.user = std::move(*user);
    out.secret = std::move(*secret);
    return LineResult::Entry;
}

}  // namespace

SecretKind secret_kind(std::string_view secret) {
    if (protocol::is_md5_secret(secret)) return SecretKind::Md5;
    if (protocol::parse_scram_secret(secret)) return SecretKind::Scram;
    return SecretKind::Plain;
}

std::optional<std::unordered_map<std::string, std::string>> parse_auth_file(std::string_view text,
                                                                            std::string& error) {
    std::unordered_map<std::string, std::string> users;
    std::unordered_map<std::string, std::size_t> line_of;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        ++line_no;
        std::size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == text.npos ? text.npos : nl - pos);
        pos = nl == text.npos ? text.size() : nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

        AuthFileEntry entry;
        std::string why;
        switch (parse_line(line, entry, why)) {
            case LineResult::Skip:
                continue;
            case LineResult::Error:
                error = "line " + std::to_string(line_no) + ": " + why;
                return std::nullopt;
            case LineResult::Entry:
                break;
        }
        auto [it, inserted] = line_of.emplace(entry.user, line_no);
        if (!inserted) {
            error = "line " + std::to_string(line_no) + ": user \"" + entry.user +
                    "\" is already listed on line " + std::to_string(it->second);
            return std::nullopt;
        }
        users.emplace(std::move(entry.user), std::move(entry.secret));
    }
    return users;
}

std::optional<std::unordered_map<std::string, std::string>> load_auth_file(const std::string& path,
                                                                           std::string& error) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        error = "open() failed (" + path + "): " + std::strerror(errno);
        return std::nullopt;
    }
    std::string text;
    char buf[65536];
    while (true) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = "read() failed (" + path + "): " + std::strerror(errno);
            return std::nullopt;
        }
        if (n == 0) break;
        if (text.size() + static_cast<std::size_t>(n) > kMaxAuthFileSize) {
            error = path + ": larger than " + std::to_string(kMaxAuthFileSize) + " bytes";
            return std::nullopt;
        }
        text.append(buf, static_cast<std::size_t>(n));
    }
    auto users = parse_auth_file(text, error);
    if (!users) error = path + ": " + error;
    return users;
}

}  // namespace pggate::auth
