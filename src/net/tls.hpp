// TLS with OpenSSL on both sides of pggate: the contexts built from the
// client_tls_* and server_tls_* settings, the bufferevents that carry a
// connection once TLS is agreed on, and what authentication reads of a TLS
// session (the client certificate's CN, the tls-server-end-point hash).
#pragma once

#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include <memory>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "core/bytes.hpp"

namespace pggate::net {

struct SslCtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// pggate as the TLS server of its clients. nullptr with `error` empty when
// client_tls_sslmode = disable; nullptr with `error` set when a file cannot
// be used (it names the setting and OpenSSL's reason).
SslCtxPtr make_client_side_context(const config::TlsSettings& settings, std::string& error);
// pggate as a TLS client of the nodes; the same contract.
SslCtxPtr make_server_side_context(const config::TlsSettings& settings, std::string& error);

// Both contexts of `config`, or a ConfigError saying why one cannot be made
// (the start-up and reload check).
void check_tls_files(const config::Config& config);

// Wraps `plain` (taken over; freed with the result) in a bufferevent that
// runs the server side of a TLS handshake and then carries the plaintext.
// nullptr when OpenSSL cannot make a session (`plain` is freed then too).
bufferevent* tls_accept(event_base* base, bufferevent* plain, SSL_CTX* ctx);
// The client side, toward a node at `host`: sent as SNI when it is a DNS
// name, and with `check_host` the name (or IP address) the server
// certificate must carry.
bufferevent* tls_connect(event_base* base, bufferevent* plain, SSL_CTX* ctx, const std::string& host, bool check_host);

// The TLS session of a bufferevent made above (nullptr for a plain one).
SSL* tls_session(bufferevent* bev);
// Why a handshake failed: OpenSSL's queued errors for `bev`, or the
// certificate check's verdict.
std::string tls_failure(bufferevent* bev);
// "TLSv1.3/TLS_AES_256_GCM_SHA384", for logs.
std::string tls_description(SSL* ssl);
// Whether ALPN chose "postgresql" (required for direct TLS connections).
bool alpn_is_postgresql(SSL* ssl);
// Whether the peer sent a certificate and it passed verification.
bool peer_certificate_verified(SSL* ssl);
// The CN of the peer's certificate if it sent one that passed verification.
std::optional<std::string> verified_peer_cn(SSL* ssl);
// The tls-server-end-point channel binding data (RFC 5929) of our own
// certificate in `ssl`: its hash with the certificate's signature digest,
// SHA-256 in place of MD5 and SHA-1. Empty when it cannot be computed.
Bytes server_end_point_hash(SSL* ssl);

}  // namespace pggate::net
