// Turns a mailbox's configured source into a calendar::source: shared by `agendad run` and
// `agendad undo`, so that both talk to a calendar the same way.
#pragma once

#include <memory>
#include <string>

#include "calendar/source.h"
#include "config/daemon_config.h"
#include "daemon/store.h"

namespace agendad::daemon {

// nullptr with `error` set when the source cannot be used.
std::unique_ptr<calendar::source> make_source(const config::source_config& source,
                                              const config::mailbox_config& mailbox,
                                              std::string& error);

// Lets a source journal the delivery of `entry_id`'s reply in `db` (see
// calendar::delivery_journal).
void journal_deliveries(calendar::response& r, store& db, std::int64_t entry_id);

}  // namespace agendad::daemon
