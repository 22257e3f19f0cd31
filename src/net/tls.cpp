// OpenSSL contexts and TLS bufferevents for clients and servers.
#include "net/tls.hpp"

#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <cstring>

#include "net/direct_read.hpp"

namespace pggate::net {

namespace {

constexpr std::size_t kSocketQueue = 64 * 1024;
constexpr unsigned char kAlpnPostgresql[] = {10, 'p', 'o', 's', 't', 'g', 'r', 'e', 's', 'q', 'l'};

int openssl_version(int v) {
    switch (v) {
        case 10: return TLS1_VERSION;
        case 11: return TLS1_1_VERSION;
        case 12: return TLS1_2_VERSION;
        default: return TLS1_3_VERSION;
    }
}

// OpenSSL's queued errors as one line (and the queue emptied).
std::string queued_errors() {
    std::string text;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!text.empty()) text += "; ";
        text += buf;
    }
    return text.empty() ? "unknown OpenSSL error" : text;
}

bool fail(std::string& error, const std::string& what) {
    error = what + ": " + queued_errors();
    return false;
}

// What both sides share: versions, ciphers, no compression or renegotiation.
bool configure_common(SSL_CTX* ctx, const config::TlsSettings& s, const char* prefix, std::string& error) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_set_min_proto_version(ctx, openssl_version(s.min_version)) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, openssl_version(s.max_version)) != 1)
        return fail(error, std::string(prefix) + "_tls_protocols");
    // TLS 1.3 suites are OpenSSL's; a list without 1.2 suites is fine when only 1.3 is allowed.
    if (SSL_CTX_set_cipher_list(ctx, s.ciphers.c_str()) != 1 && s.min_version < 13)
        return fail(error, std::string(prefix) + "_tls_ciphers \"" + s.ciphers + "\"");
    ERR_clear_error();
    return true;
}

bool load_key_pair(SSL_CTX* ctx, const config::TlsSettings& s, const char* prefix, std::string& error) {
    if (SSL_CTX_use_certificate_chain_file(ctx, s.cert_file.c_str()) != 1)
        return fail(error, std::string(prefix) + "_tls_cert_file " + s.cert_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, s.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        return fail(error, std::string(prefix) + "_tls_key_file " + s.key_file);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return fail(error, std::string(prefix) + "_tls_key_file " + s.key_file + " does not match the certificate");
    return true;
}

// Clients that offer ALPN must offer "postgresql", as PostgreSQL requires.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, kAlpnPostgresql, sizeof kAlpnPostgresql, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

bool is_ip_address(const std::string& host) {
    unsigned char buf[16];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

bufferevent* wrap(event_base* base, bufferevent* plain, SSL* ssl, bufferevent_ssl_state state) {
    if (ssl == nullptr) {
        bufferevent_free(plain);
        return nullptr;
    }
    // The handshake starts at once. When it fails at once (a client's
    // first bytes are no TLS), libevent frees `plain` and `ssl` with the
    // half-made result and returns nullptr.
    // TLS records wait in the socket's queue only up to this much; the
    // rest stays in the TLS bufferevent's own output, where the relay's
    // backpressure sees it.
    bufferevent_setwatermark(plain, EV_WRITE, 0, kSocketQueue);
    read_by_libevent(plain);
    bufferevent* bev = bufferevent_openssl_filter_new(base, plain, ssl, state, BEV_OPT_CLOSE_ON_FREE);
    if (bev == nullptr) return nullptr;
    // Peers that close without close_notify are common; the protocol's own
    // Terminate message says when a session really ended.
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}

// A context for one side with what both share; nullptr (with `error`) when
// OpenSSL refuses the settings.
SslCtxPtr new_context(const SSL_METHOD* method, const config::TlsSettings& s, const char* prefix, std::string& error) {
    SslCtxPtr ctx(SSL_CTX_new(method));
    if (!ctx) {
        fail(error, "SSL_CTX_new() failed");
        return nullptr;
    }
    if (!configure_common(ctx.get(), s, prefix, error)) return nullptr;
    return ctx;
}

}  // namespace

SslCtxPtr make_client_side_context(const config::TlsSettings& s, std::string& error) {
    error.clear();
    if (s.sslmode == config::SslMode::Disable) return nullptr;
    SslCtxPtr ctx = new_context(TLS_server_method(), s, "client", error);
    if (!ctx || !load_key_pair(ctx.get(), s, "client", error)) return nullptr;
    // Sessions are not resumed: every connection shows its certificate.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, nullptr);
    if (!s.ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), s.ca_file.c_str(), nullptr) != 1) {
            fail(error, "client_tls_ca_file " + s.ca_file);
            return nullptr;
        }
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_file.c_str());
        if (names != nullptr) SSL_CTX_set_client_CA_list(ctx.get(), names);
        ERR_clear_error();
        // Asked of every client; required by verify-ca and verify-full.
        const bool required = s.sslmode == config::SslMode::VerifyCa || s.sslmode == config::SslMode::VerifyFull;
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | (required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), nullptr);
    }
    return ctx;
}

SslCtxPtr make_server_side_context(const config::TlsSettings& s, std::string& error) {
    error.clear();
    if (s.sslmode == config::SslMode::Disable) return nullptr;
    SslCtxPtr ctx = new_context(TLS_client_method(), s, "server", error);
    if (!ctx) return nullptr;
    if (!s.cert_file.empty() && !load_key_pair(ctx.get(), s, "server", error)) return nullptr;
    SSL_CTX_set_alpn_protos(ctx.get(), kAlpnPostgresql, sizeof kAlpnPostgresql);
    if (!s.ca_file.empty() && SSL_CTX_load_verify_locations(ctx.get(), s.ca_file.c_str(), nullptr) != 1) {
        fail(error, "server_tls_ca_file " + s.ca_file);
        return nullptr;
    }
    const bool verify = s.sslmode == config::SslMode::VerifyCa || s.sslmode == config::SslMode::VerifyFull;
    SSL_CTX_set_verify(ctx.get(), verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    return ctx;
}

void check_tls_files(const config::Config& config) {
    std::string error;
    if (!make_client_side_context(config.client_tls, error) && !error.empty()) throw config::ConfigError(error);
    if (!make_server_side_context(config.server_tls, error) && !error.empty()) throw config::ConfigError(error);
}

bufferevent* tls_accept(event_base* base, bufferevent* plain, SSL_CTX* ctx) {
    return wrap(base, plain, SSL_new(ctx), BUFFEREVENT_SSL_ACCEPTING);
}

bufferevent* tls_connect(event_base* base, bufferevent* plain, SSL_CTX* ctx, const std::string& host, bool check_host) {
    SSL* ssl = SSL_new(ctx);
    if (ssl != nullptr) {
        const bool ip = is_ip_address(host);
        // SSL_set_tlsext_host_name, without the macro's C cast.
        if (!ip) SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str()));
        if (check_host) {
            X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
            if (ip)
                X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
            else
                SSL_set1_host(ssl, host.c_str());
        }
    }
    return wrap(base, plain, ssl, BUFFEREVENT_SSL_CONNECTING);
}

SSL* tls_session(bufferevent* bev) { return bev != nullptr ? bufferevent_openssl_get_ssl(bev) : nullptr; }

std::string tls_failure(bufferevent* bev) {
    std::string text;
    while (unsigned long e = bufferevent_get_openssl_error(bev)) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!text.empty()) text += "; ";
        text += buf;
    }
    SSL* ssl = tls_session(bev);
    const long verdict = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (verdict != X509_V_OK) {
        if (!text.empty()) text += ": ";
        text += std::string("certificate verify failed: ") + X509_verify_cert_error_string(verdict);
    }
    return text.empty() ? "TLS connection closed during the handshake" : text;
}

std::string tls_description(SSL* ssl) { return std::string(SSL_get_version(ssl)) + "/" + SSL_get_cipher_name(ssl); }

bool alpn_is_postgresql(SSL* ssl) {
    const unsigned char* proto = nullptr;
    unsigned int len = 0;
    SSL_get0_alpn_selected(ssl, &proto, &len);
    return len == sizeof kAlpnPostgresql - 1 && std::memcmp(proto, kAlpnPostgresql + 1, len) == 0;
}

bool peer_certificate_verified(SSL* ssl) {
    return SSL_get0_peer_certificate(ssl) != nullptr && SSL_get_verify_result(ssl) == X509_V_OK;
}

std::optional<std::string> verified_peer_cn(SSL* ssl) {
    if (!peer_certificate_verified(ssl)) return std::nullopt;
    X509* cert = SSL_get0_peer_certificate(ssl);
    X509_NAME* subject = X509_get_subject_name(cert);
    const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (at < 0) return std::nullopt;
    const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    std::string cn(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)), static_cast<std::size_t>(ASN1_STRING_length(data)));
    // A NUL inside the name would let "alice\0.evil" pass as "alice".
    if (cn.find('\0') != std::string::npos) return std::nullopt;
    return cn;
}

Bytes server_end_point_hash(SSL* ssl) {
    X509* cert = SSL_get_certificate(ssl);
    int digest_nid = NID_undef;
    if (cert == nullptr || OBJ_find_sigid_algs(X509_get_signature_nid(cert), &digest_nid, nullptr) != 1) return {};
    const EVP_MD* md = digest_nid == NID_md5 || digest_nid == NID_sha1 ? EVP_sha256() : EVP_get_digestbynid(digest_nid);
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (md == nullptr || X509_digest(cert, md, hash, &len) != 1) return {};
    return Bytes(hash, hash + len);
}

}  // namespace pggate::net
