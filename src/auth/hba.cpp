// pg_hba.conf parsing (the subset a proxy can honour) and first-match lookup.
#include "auth/hba.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pggate::auth {

namespace {

struct Token {
    std::string text;
    bool quoted = false;  // a quoted keyword is a plain name
};

// Splits one line into whitespace-separated tokens; '#' outside quotes ends
// it. Commas inside a token separate list items and are kept for the caller.
bool tokenize(std::string_view line, std::vector<Token>& out, std::string& error) {
    std::size_t i = 0;
    while (i < line.size()) {
        char c = line[i];
        if (c == ' ' || c == '\t' || c == '\r') {
            ++i;
            continue;
        }
        if (c == '#') break;
        Token t;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '#') {
            if (line[i] == '"') {
                std::size_t end = line.find('"', i + 1);
                if (end == std::string_view::npos) {
                    error = "unterminated quoted string";
                    return false;
                }
                t.text.append(line.substr(i + 1, end - i - 1));
                t.quoted = true;
                i = end + 1;
            } else {
                t.text += line[i++];
            }
        }
        out.push_back(std::move(t));
    }
    return true;
}

// "a,b,c" as items; quoting is per token, so a quoted list keeps its keywords as names.
std::vector<std::string> list_items(const Token& t) {
    std::vector<std::string> items;
    std::stringstream s(t.text);
    std::string item;
    while (std::getline(s, item, ',')) items.push_back(t.quoted ? "\"" + item + "\"" : item);
    return items;
}

bool parse_ip(const std::string& text, int& family, std::uint8_t (&bytes)[16]) {
    std::memset(bytes, 0, sizeof bytes);
    if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
        family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
        family = AF_INET6;
        return true;
    }
    return false;
}

void mask_of_bits(int bits, std::uint8_t (&mask)[16]) {
    std::memset(mask, 0, sizeof mask);
    for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) mask[i] = bits >= 8 ? 0xFF : static_cast<std::uint8_t>(0xFF << (8 - bits));
}

std::optional<HbaMethod> method_named(const std::string& m) {
    if (m == "trust") return HbaMethod::Trust;
    if (m == "reject") return HbaMethod::Reject;
    if (m == "password") return HbaMethod::Password;
    if (m == "md5") return HbaMethod::Md5;
    if (m == "scram-sha-256") return HbaMethod::ScramSha256;
    if (m == "cert") return HbaMethod::Cert;
    return std::nullopt;
}

std::string check_names(const std::vector<std::string>& items, bool database) {
    for (const std::string& item : items) {
        if (item.empty()) return "empty entry in a list";
        if (item[0] == '@') return "file inclusion (" + item + ") is not supported";
        if (item[0] == '/') return "regular expressions (" + item + ") are not supported";
        if (!database && item[0] == '+') return "group membership (" + item + ") is not supported";
        if (database && item == "samerole") return "samerole is not supported";
    }
    return {};
}

// The name=value options after the method. clientcert is honoured;
// clientname=CN is its default spelled out. Any other option would change
// what PostgreSQL checks, so a line carrying one is refused rather than
// honoured in part.
std::string parse_options(const std::vector<Token>& t, std::size_t at, HbaRule& rule) {
    if (rule.method == HbaMethod::Cert) rule.clientcert = HbaClientCert::VerifyFull;
    for (; at < t.size(); ++at) {
        const std::string& option = t[at].text;
        const std::size_t eq = option.find('=');
        if (eq == std::string::npos || eq == 0) return "authentication option not in name=value format: " + option;
        const std::string name = option.substr(0, eq);
        const std::string value = option.substr(eq + 1);
        if (name != "clientcert" && name != "clientname")
            return "authentication option \"" + name + "\" is not supported (pggate honours clientcert only)";
        if (rule.kind != HbaRule::Kind::HostSsl) return name + " can only be configured for \"hostssl\" rows";
        if (name == "clientname") {
            if (value == "DN") return "clientname=DN is not supported (the CN is compared with the user name)";
            if (value != "CN") return "invalid value for clientname: \"" + value + "\"";
        } else if (value == "verify-full") {
            rule.clientcert = HbaClientCert::VerifyFull;
        } else if (value == "verify-ca") {
            if (rule.method == HbaMethod::Cert)
                return "clientcert only accepts \"verify-full\" when using \"cert\" authentication";
            rule.clientcert = HbaClientCert::VerifyCa;
        } else {
            return "invalid value for clientcert: \"" + value + "\" (use verify-ca or verify-full)";
        }
    }
    return {};
}

// One non-empty line: its rule, or an error.
std::string parse_rule(const std::vector<Token>& t, HbaRule& rule) {
    const std::string& kind = t[0].text;
    if (kind == "local") rule.kind = HbaRule::Kind::Local;
    else if (kind == "host") rule.kind = HbaRule::Kind::Host;
    else if (kind == "hostssl") rule.kind = HbaRule::Kind::HostSsl;
    else if (kind == "hostnossl") rule.kind = HbaRule::Kind::HostNoSsl;
    else if (kind == "hostgssenc" || kind == "hostnogssenc") return kind + " is not supported";
    else return "unknown connection type \"" + kind + "\"";
    const bool local = rule.kind == HbaRule::Kind::Local;
    const std::size_t need = local ? 4 : 5;
    if (t.size() < need) return "too few fields (need type, database, user, " + std::string(local ? "" : "address, ") + "method)";
    rule.databases = list_items(t[1]);
    rule.users = list_items(t[2]);
    if (std::string what = check_names(rule.databases, true); !what.empty()) return what;
    if (std::string what = check_names(rule.users, false); !what.empty()) return what;
    std::size_t at = 3;
    if (!local) {
        const std::string& addr = t[at].text;
        if (addr == "all" && !t[at].quoted) {
            rule.any_address = true;
            ++at;
        } else if (addr == "samehost" || addr == "samenet") {
            return addr + " is not supported";
        } else {
            rule.any_address = false;
            auto slash = addr.find('/');
            if (!parse_ip(addr.substr(0, slash), rule.family, rule.address))
                return "\"" + addr + "\" is not an IP address (host names are not supported)";
            const int max_bits = rule.family == AF_INET ? 32 : 128;
            ++at;
            if (slash != std::string::npos) {
                std::string bits_text = addr.substr(slash + 1);
                char* end = nullptr;
                long bits = std::strtol(bits_text.c_str(), &end, 10);
                if (bits_text.empty() || *end != '\0' || bits < 0 || bits > max_bits)
                    return "invalid CIDR mask in \"" + addr + "\"";
                mask_of_bits(static_cast<int>(bits), rule.mask);
            } else {
                int mask_family = 0;
                if (at >= t.size() || !parse_ip(t[at].text, mask_family, rule.mask) || mask_family != rule.family)
                    return "\"" + addr + "\" needs a /bits mask or a netmask field";
                ++at;
            }
            for (int i = 0; i < 16; ++i) rule.address[i] &= rule.mask[i];
        }
    }
    if (at >= t.size()) return "missing authentication method";
    auto method = method_named(t[at].text);
    if (!method) return "authentication method \"" + t[at].text + "\" is not supported";
    rule.method = *method;
    // A line that could only ever refuse (no certificate without TLS) is an
    // error, as PostgreSQL makes it.
    if (rule.method == HbaMethod::Cert && rule.kind != HbaRule::Kind::HostSsl)
        return "cert authentication is only supported on hostssl connections";
    return parse_options(t, at + 1, rule);
}

bool item_matches(const std::vector<std::string>& items, std::string_view name, std::string_view user, bool database) {
    for (const std::string& item : items) {
        if (item == "all") return true;
        if (database && item == "sameuser" && name == user) return true;
        if (database && item == "replication") continue;  // replication connections only; pggate has none
        std::string_view plain = item;
        if (plain.size() >= 2 && plain.front() == '"' && plain.back() == '"') plain = plain.substr(1, plain.size() - 2);
        if (plain == name) return true;
    }
    return false;
}

bool address_matches(const HbaRule& rule, const sockaddr* addr) {
    if (rule.any_address) return true;
    if (addr == nullptr) return false;
    std::uint8_t bytes[16] = {};
    int family = addr->sa_family;
    if (family == AF_INET) {
        std::memcpy(bytes, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, 4);
    } else if (family == AF_INET6) {
        const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
        // An IPv4 client on a dual-stack socket matches IPv4 rules.
        if (IN6_IS_ADDR_V4MAPPED(a6) && rule.family == AF_INET) {
            std::memcpy(bytes, a6->s6_addr + 12, 4);
            family = AF_INET;
        } else {
            std::memcpy(bytes, a6->s6_addr, 16);
        }
    }
    if (family != rule.family) return false;
    for (int i = 0; i < 16; ++i)
        if ((bytes[i] & rule.mask[i]) != rule.address[i]) return false;
    return true;
}

}  // namespace

std::optional<HbaRules> parse_hba(std::string_view text, std::string& error) {
    HbaRules rules;
    int line_no = 0;
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        ++line_no;
        std::vector<Token> tokens;
        std::string what;
        if (tokenize(line, tokens, what) && !tokens.empty()) {
            HbaRule rule;
            rule.line = line_no;
            what = parse_rule(tokens, rule);
            if (what.empty()) rules.rules.push_back(std::move(rule));
        }
        if (!what.empty()) {
            error = "line " + std::to_string(line_no) + ": " + what;
            return std::nullopt;
        }
    }
    return rules;
}

std::optional<HbaRules> load_hba_file(const std::string& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path + ": cannot read: " + std::strerror(errno);
        return std::nullopt;
    }
    std::stringstream text;
    text << in.rdbuf();
    auto rules = parse_hba(text.str(), error);
    if (!rules) error = path + ": " + error;
    return rules;
}

const HbaRule* first_certificate_rule(const HbaRules& rules) {
    for (const HbaRule& rule : rules.rules)
        if (rule.clientcert != HbaClientCert::Off) return &rule;
    return nullptr;
}

const HbaRule* match_hba(const HbaRules& rules, const HbaConnection& c) {
    for (const HbaRule& rule : rules.rules) {
        switch (rule.kind) {
            case HbaRule::Kind::Local: if (!c.local) continue; break;
            case HbaRule::Kind::Host: if (c.local) continue; break;
            case HbaRule::Kind::HostSsl: if (c.local || !c.tls) continue; break;
            case HbaRule::Kind::HostNoSsl: if (c.local || c.tls) continue; break;
        }
        if (!item_matches(rule.databases, c.database, c.user, true)) continue;
        if (!item_matches(rule.users, c.user, c.user, false)) continue;
        if (!c.local && !address_matches(rule, c.address)) continue;
        return &rule;
    }
    return nullptr;
}

}  // namespace pggate::auth
