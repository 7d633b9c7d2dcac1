// iTIP REPLY messages (RFC 5546 §3.2.3), built with libical: what agendad sends an organizer when
// it declines, accepts or answers tentatively, by iMIP mail or into a folder source's outbox.
#pragma once

#include <string>
#include <string_view>

#include "calendar/invitation.h"

namespace agendad::calendar {

struct reply_options {
    std::string_view owner_address;  // the attendee who answers (lower case)
    std::string_view owner_name;     // CN for the attendee; empty: none
    partstat status = partstat::declined;  // ACCEPTED, DECLINED or TENTATIVE
    std::string_view comment;        // the reply text (COMMENT), may be empty
    time_point now{};                // DTSTAMP
    std::string_view prodid = "-//agendad//agendad//EN";
};

// A complete VCALENDAR with METHOD:REPLY: ORGANIZER (with CN), the owner's ATTENDEE with the new
// PARTSTAT, UID, RECURRENCE-ID (for an instance), SEQUENCE, DTSTAMP, DTSTART/DTEND in UTC,
// SUMMARY and COMMENT; CRLF line ends, folded at 75 octets, text escaped. Nothing of the other
// attendees is repeated (a reply speaks for one attendee).
std::string build_reply(const invitation& inv, const reply_options& options);

}  // namespace agendad::calendar
