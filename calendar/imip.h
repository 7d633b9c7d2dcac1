// iMIP mail (RFC 6047): an iTIP message as the text/calendar part of an e-mail, with a plain
// text part for people, ready for SMTP. Pure: no I/O, no clock (the date comes in).
#pragma once

#include <boost/system/result.hpp>

#include <string>
#include <string_view>

#include "calendar/invitation.h"

namespace agendad::calendar {

struct imip_message {
    std::string from;       // address
    std::string from_name;  // display name, may be empty (UTF-8; encoded as RFC 2047 if needed)
    std::string to;         // address
    std::string to_name;
    std::string subject;   // UTF-8
    std::string text;      // the human part (UTF-8)
    std::string calendar;  // the iCalendar object (CRLF)
    std::string method = "REPLY";
    time_point date{};
    std::string message_id;  // without angle brackets, e.g. "<hash>@agendad"; required
};

// The whole message (headers and body, CRLF): Date, From, To, Subject, Message-ID, Auto-Submitted
// (auto-replied), MIME-Version, Content-Type multipart/alternative with text/plain; charset=UTF-8
// and text/calendar; charset=UTF-8; method=REPLY, each base64 or quoted-printable so that every
// line stays under 78 characters. Names and the subject come from invitations, i.e. from strangers:
// line breaks and control characters in them become spaces, non-ASCII is RFC 2047-encoded, so a
// header can never be injected. An address that is not one (no '@', spaces, line breaks, angle
// brackets) is an error value naming it.
boost::system::result<std::string, std::string> build_imip(const imip_message& message);

// "Declined: Quick sync", "Tentative: ...", "Accepted: ..." as Outlook words them.
std::string reply_subject(partstat status, std::string_view subject);

}  // namespace agendad::calendar
