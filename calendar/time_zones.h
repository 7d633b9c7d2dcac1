// Windows time-zone names, as Outlook, Exchange, EWS and Graph write them, mapped to IANA zones.
// The table is generated at build time from CLDR (Debian's unicode-cldr-core); no I/O at runtime.
#pragma once

#include <optional>
#include <string_view>

namespace agendad::calendar {

// "Pacific Standard Time" → "America/Los_Angeles"; also accepts the name in any letter case.
// nullopt for names CLDR does not know ("(no TZ description)", custom names).
std::optional<std::string_view> windows_zone_to_iana(std::string_view windows_name);

// Number of Windows names known (for tests and diagnostics).
std::size_t windows_zone_count();

}  // namespace agendad::calendar
