// Changing the owner's answer inside a calendar object, as an attendee's client does before it
// PUTs the object back to a CalDAV server: the owner's ATTENDEE gets a new PARTSTAT, nothing else
// changes. libical reads the object; the owner's ATTENDEE lines are rewritten as text, because a
// round trip through libical's tree would lose parameters and properties (see partstat.cpp).
#pragma once

#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "calendar/invitation.h"

namespace agendad::calendar {

struct partstat_change {
    std::string_view owner_address;  // lower case, without mailto:
    std::string_view uid;
    std::optional<time_point> recurrence_id;  // nullopt: the whole meeting (see below)
    partstat status = partstat::declined;     // accepted, declined, tentative or needs_action
};

struct partstat_result {
    // The whole object again (VCALENDAR, CRLF line ends). Only the owner's ATTENDEE lines differ
    // from the input (re-folded at 75 octets); every other line is kept byte for byte, so with
    // changed == 0 the text is the input with CRLF line ends.
    std::string text;
    // ATTENDEE properties whose PARTSTAT changed. A missing PARTSTAT is NEEDS-ACTION (RFC 5545):
    // setting needs_action there changes nothing.
    int changed = 0;
    partstat before = partstat::none;  // the owner's PARTSTAT found first (none: not written)
};

// Sets the PARTSTAT of the owner's ATTENDEE (matched case-insensitively on the mailto: address,
// as normalize_address does) in every VEVENT of `ics` with that UID when `recurrence_id` is
// nullopt (a series: the master and every overridden occurrence), or only in the VEVENT with that
// RECURRENCE-ID, compared as the UTC instant parse_ics gives (whatever TZID form it has). An
// existing PARTSTAT is replaced, else one is added; RSVP and every other parameter are left as
// is. An occurrence without its own VEVENT is not created here. Errors name what is missing: not
// iCalendar, no VEVENT with that UID (and RECURRENCE-ID), the owner is not an attendee there
// (naming the uid and the owner), a status other than the four answers.
boost::system::result<partstat_result, std::string> set_owner_partstat(
    std::string_view ics, const partstat_change& change);

}  // namespace agendad::calendar
