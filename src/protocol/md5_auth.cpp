// MD5 password authentication: one digest helper and the two layers of
// hashing PostgreSQL applies (user-salted secret, then the per-login salt).
#include "protocol/md5_auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

namespace pggate::protocol {

std::string md5_hex(std::string_view data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    const EVP_MD* md = EVP_md5();
    if (md == nullptr || EVP_Digest(data.data(), data.size(), digest, &len, md, nullptr) != 1 ||
        len != 16)
        return {};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(32, '\0');
    for (unsigned int i = 0; i < len; ++i) {
        out[2 * i] = kHex[digest[i] >> 4];
        out[2 * i + 1] = kHex[digest[i] & 15];
    }
    return out;
}

std::string md5_password_secret(std::string_view password, std::string_view user) {
    std::string input;
    input.reserve(password.size() + user.size());
    input.append(password).append(user);
    std::string hex = md5_hex(input);
    return hex.empty() ? std::string{} : "md5" + hex;
}

bool is_md5_secret(std::string_view secret) {
    if (secret.size() != kMd5SecretLength || secret.substr(0, 3) != "md5") return false;
    for (char c : secret.substr(3))
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string md5_salted_response(std::string_view secret_md5, std::span<const std::uint8_t, 4> salt) {
    if (!is_md5_secret(secret_md5)) return {};
    std::string input(secret_md5.substr(3));
    for (std::uint8_t b : salt) input += static_cast<char>(b);
    std::string hex = md5_hex(input);
    return hex.empty() ? std::string{} : "md5" + hex;
}

bool md5_check_response(std::string_view secret, std::string_view user,
                        std::span<const std::uint8_t, 4> salt, std::string_view response) {
    if (secret.empty()) return false;
    std::string stored = is_md5_secret(secret) ? std::string(secret) : md5_password_secret(secret, user);
    std::string expected = md5_salted_response(stored, salt);
    // The length is public (always 35), so only the contents need a
    // constant-time comparison.
    if (expected.empty() || response.size() != expected.size()) return false;
    return CRYPTO_memcmp(expected.data(), response.data(), expected.size()) == 0;
}

}  // namespace pggate::protocol
