// What pggate knows of a user's password: the auth_file secret, and the SCRAM
// ClientKey recovered from a client's own proof (so pggate can log in to a
// server with a SCRAM secret without ever holding the password).
#pragma once

#include <optional>
#include <string>

#include "protocol/scram.hpp"

namespace pggate::auth {

struct Credentials {
    std::string secret;  // plain text, "md5…" or "SCRAM-SHA-256$…"; empty: none known
    std::optional<protocol::ScramKey> client_key;
};

}  // namespace pggate::auth
