// The service manager's readiness protocol (systemd's sd_notify, spoken
// directly so no library is needed): state lines such as "READY=1" in one
// datagram to the Unix socket named by $NOTIFY_SOCKET. Without that
// variable (not started by a service manager) nothing is sent.
#pragma once

#include <string_view>

namespace pggate::master {

void notify_service_manager(std::string_view state);

}  // namespace pggate::master
