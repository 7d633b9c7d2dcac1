// The normalised meeting invitation: what every calendar source produces and the policy reads.
// A value type of std types only; it knows nothing of libical, Graph JSON or EWS XML.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::calendar {

using time_point = std::chrono::sys_seconds;

// iTIP method (RFC 5546). `none` is a stored calendar item (CalDAV, Graph, EWS) rather than a
// scheduling message; the owner's PARTSTAT then tells whether it still needs an answer.
enum class method {
    none,
    publish,
    request,
    reply,
    add,
    cancel,
    refresh,
    counter,
    declinecounter,
    other
};
enum class partstat { none, needs_action, accepted, declined, tentative, delegated, other };
enum class role { none, chair, required, optional, non_participant, other };
enum class event_status { none, tentative, confirmed, cancelled, other };
enum class transparency { opaque, transparent };

std::string_view to_string(method m);
std::string_view to_string(partstat p);
std::string_view to_string(role r);
std::string_view to_string(event_status s);

struct organizer_info {
    std::string address;  // lower-case, without "mailto:"
    std::string name;     // CN, unquoted
    std::string sent_by;  // SENT-BY address (a delegate writing for the organizer), lower-case
};

struct attendee {
    std::string address;  // lower-case, without "mailto:"
    std::string name;
    ::agendad::calendar::role role = ::agendad::calendar::role::none;
    ::agendad::calendar::partstat partstat = ::agendad::calendar::partstat::none;
    // RSVP as written: nullopt when the producer did not say (RFC 5545's default is FALSE, but
    // producers that omit it still expect an answer; see invitation::response_requested).
    std::optional<bool> rsvp;
    std::string cutype;  // INDIVIDUAL, GROUP, ROOM, RESOURCE, ... upper-case; empty if absent
};

struct recurrence_info {
    enum class bound { none, open_ended, count, until };
    bound kind = bound::none;  // none: not recurring
    std::string rule;          // the RRULE as written, for explanations
    std::string frequency;     // DAILY, WEEKLY, ...
    int count = 0;
    std::optional<time_point> until;
    // Start of the last occurrence when the series is bounded and it could be computed.
    std::optional<time_point> last_start;
    bool has_rdate = false;
};

// The wall-clock start as the organizer wrote it, for replies ("Tuesday 24 November, 10:00").
struct local_start {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0;
    std::string zone;  // the TZID as written ("Pacific Standard Time"), "UTC", or empty (floating)
};

// Where an invitation came from, so that a later response can address it.
struct source_ref {
    std::string file;        // file name or item description used in messages
    int line = 0;            // line of BEGIN:VEVENT, 0 when not from a file
    std::string item_id;     // server item id (Graph event id, EWS ItemId, CalDAV href)
    std::string change_key;  // ETag / ChangeKey
};

struct invitation {
    source_ref source;

    ::agendad::calendar::method method = ::agendad::calendar::method::none;
    std::string uid;
    std::optional<time_point> recurrence_id;
    int sequence = 0;

    organizer_info organizer;
    std::vector<attendee> attendees;
    // The mailbox owner's own attendee entry; set by assign_owner() (or the parser when it is
    // given the mailbox). nullopt when the owner is not listed.
    std::optional<attendee> owner;

    std::string subject;
    std::string description;  // plain text: DESCRIPTION, or HTML (X-ALT-DESC) converted
    std::string location;
    bool has_attachments = false;

    // False when the event has no DTSTART (allowed in replies and cancellations): start and end
    // are then meaningless and nobody may act on the event.
    bool has_start = true;
    time_point start{};
    time_point end{};
    bool all_day = false;
    local_start start_local;

    recurrence_info recurrence;
    transparency transp = transparency::opaque;
    event_status status = event_status::none;

    // Quirks worked around while normalising (unknown time zone taken as UTC, ...): shown by
    // explain, never fatal.
    std::vector<std::string> warnings;

    bool is_recurring() const { return recurrence.kind != recurrence_info::bound::none; }
    // Whether the organizer asked the owner for an answer: RSVP=FALSE or a non-participant role
    // (FYI) say no; an explicit or absent RSVP on a participant says yes.
    bool response_requested() const;
};

// Lower-cases, trims and strips a "mailto:" prefix in any case.
std::string normalize_address(std::string_view raw);
// The part after the last '@', lower-case; empty if there is none.
std::string_view domain_of(std::string_view normalized_address);
// Sets invitation.owner from the attendee list (case-insensitive address match).
void assign_owner(invitation& inv, std::string_view mailbox);

// "2026-11-24T18:00:00Z"
std::string format_utc(time_point t);
// "2026-11-24"
std::string format_date(time_point t);

}  // namespace agendad::calendar
