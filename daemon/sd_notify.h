// systemd's readiness protocol: a datagram to $NOTIFY_SOCKET. Written by hand (a few lines) rather
// than linking libsystemd, which would pull a dozen package upgrades into the build.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace agendad::daemon {

// Sends e.g. "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...", "WATCHDOG=1". Does nothing
// when not started by systemd. Returns whether the message was sent.
bool sd_notify(std::string_view state);

// The watchdog interval the unit asks for (WatchdogSec=, via $WATCHDOG_USEC for this process).
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace agendad::daemon
