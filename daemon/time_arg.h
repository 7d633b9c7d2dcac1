// Times given on the command line (--now, --since): ISO 8601 in UTC or with an offset.
#pragma once

#include <optional>
#include <string_view>

#include "calendar/invitation.h"

namespace agendad::daemon {

// "2026-11-20T09:00:00Z", "2026-11-20T09:00Z", "2026-11-20T10:00:00+01:00", "2026-11-20" (midnight
// UTC).
std::optional<calendar::time_point> parse_time_arg(std::string_view text);

}  // namespace agendad::daemon
