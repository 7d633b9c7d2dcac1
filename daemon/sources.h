// Turns a mailbox's configured source into a calendar::source: shared by `agendad run` and
// `agendad undo`, so that both talk to a calendar the same way.
#pragma once

#include <memory>
#include <string>

#include "calendar/source.h"
#include "config/daemon_config.h"

namespace agendad::daemon {

// nullptr with `error` set when the source cannot be used.
std::unique_ptr<calendar::source> make_source(const config::source_config& source,
                                              const config::mailbox_config& mailbox,
                                              std::string& error);

}  // namespace agendad::daemon
