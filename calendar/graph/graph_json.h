// Microsoft Graph JSON → agendad values: events (v1.0 `event` resource) mapped to the invitation
// model, delta and list pages (`value`, `@odata.nextLink`, `@odata.deltaLink`, `@removed`),
// Graph error bodies and group member pages. Boost.JSON stays in the .cpp. Pure: no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/diagnostic.h"
#include "calendar/invitation.h"

namespace agendad::calendar::graph {

// One Graph event as agendad needs it.
struct event {
    std::string id;                // Graph event id (opaque; used in URLs percent-encoded)
    std::string change_key;        // changeKey: a new one means the event changed
    std::string ical_uid;          // iCalUId as Graph wrote it
    std::string type;              // singleInstance, occurrence, exception, seriesMaster
    std::string series_master_id;  // for occurrence / exception
    bool is_organizer = false;
    bool is_cancelled = false;
    bool response_requested = true;
    // responseStatus.response: none, organizer, tentativelyAccepted, accepted, declined,
    // notResponded (mapped onto invitation::owner->partstat as well).
    std::string response;
    // The event normalised: method none (a stored calendar item) or cancel when isCancelled
    // (status cancelled too); uid = iCalUId (for an occurrence or exception of an Outlook
    // series, whose iCalUId differs per instance, the series' UID: the GlobalObjectId with its
    // instance date cleared, as Outlook writes UID + RECURRENCE-ID in iCalendar; without
    // iCalUId the beta `uid`, else the Graph id, with a warning); recurrence_id = originalStart
    // for occurrences and exceptions (their start when Graph leaves originalStart out);
    // sequence 0 (Graph has none: changes show as a new changeKey). Organizer and attendees
    // (status.response → PARTSTAT: none/notResponded → needs_action, tentativelyAccepted →
    // tentative, organizer → accepted; type required/optional → role, resource →
    // non_participant with cutype RESOURCE; rsvp = responseRequested), the owner's entry (the
    // mailbox: its PARTSTAT, in `attendees` and `owner`, is responseStatus.response, which is
    // authoritative for the mailbox's own answer; when the mailbox is not an attendee and not
    // the organizer, `owner` alone is made from responseStatus: the daemon knows the answer,
    // and the policy, which reads `attendees`, still sees an invitation through a group),
    // subject, body (HTML converted to text; bodyPreview when there is none), location,
    // start/end in UTC (dateTime + Windows or IANA timeZone; an unknown zone is taken as UTC
    // with a warning; all-day events are dates, as in iCalendar; start_local is the wall clock
    // as written, or, for a start given in UTC, the wall clock in originalStartTimeZone named as
    // written when that zone is known, as the organizer sees it), isAllDay, recurrence
    // (pattern + range → recurrence_info with an RRULE-style rule in libical's order, e.g.
    // "FREQ=WEEKLY;UNTIL=20171231;BYDAY=MO"), showAs free → transparent, hasAttachments,
    // source.item_id = id, source.change_key = changeKey (else the @odata.etag's value),
    // source.file = "<where>".
    invitation inv;
    // Why (part of) the event could not be read: such an event is never acted on.
    std::vector<diagnostic> problems;
};

// Bodies larger than this are refused unread (Graph pages and events are far smaller).
inline constexpr std::size_t max_json_bytes = 32 * 1024 * 1024;

// A page of a list, calendarView, calendarView/delta or instances answer.
struct page {
    // Events in `value` order; an item that is not an event (or not readable) is an event
    // with problems, never dropped silently.
    std::vector<event> events;
    std::vector<std::string> removed;  // ids of items with "@removed"
    std::string next_link;             // @odata.nextLink, empty on the last page
    std::string delta_link;            // @odata.deltaLink, on the last page of a delta round
};

struct parsed_page {
    std::optional<page> value;  // nullopt when the body is not a Graph page at all
    std::string error;          // then: why, naming `where`
};

// Parses one event object (a GET /events/{id} answer). `mailbox` is the owner (lower case),
// `where` names it in messages ("mailbox ceo@contoso.com, event AAMk..."). nullopt (with
// `error`) only when the body is not JSON (over max_json_bytes, nested deeper than 64, not
// UTF-8, ...) or not an object; a readable object whose fields are wrong gives an event with
// problems (diagnostic{file = where, line = 0}): a missing id or start, a field of the wrong
// type that a decision depends on, a recurrence agendad cannot read. Wrong details that
// change no decision (location, showAs, hasAttachments, changeKey) are warnings. Never throws.
std::optional<event> parse_event(std::string_view json, std::string_view mailbox,
                                 std::string_view where, std::string& error);

// Parses a page of events (calendarView, calendarView/delta, events, instances). Problems of
// an item name it ("value[3] (id 'AAMk…'): ..."). nullopt (with `error` naming `where`) when the
// body is not an object with a `value` array, its links are not strings, or it holds more than
// 10,000 items. Never throws.
parsed_page parse_event_page(std::string_view json, std::string_view mailbox,
                             std::string_view where);

// A Graph error answer: {"error": {"code": "...", "message": "...", "innerError": {...}}}, or
// the identity platform's {"error": "invalid_client", "error_description": "..."}. nullopt when
// the body has no "error" member. Code and message are trimmed, well-formed UTF-8 and at most
// 200 and 1,000 bytes (a cut message ends in "…").
struct graph_error {
    std::string code;     // "ErrorAccessDenied", "InvalidAuthenticationToken", ...
    std::string message;  // as Microsoft wrote it, trimmed to a sane length
};
std::optional<graph_error> parse_error(std::string_view json);

// A page of group members (GET /groups/{id}/transitiveMembers/microsoft.graph.user): each
// member's address (mail, else userPrincipalName; lower case) and id; entries that are not
// users (an "@odata.type" other than #microsoft.graph.user, or no mail and no UPN) are skipped.
// nullopt (with `error`) when the body is not such a page. Never throws.
struct member {
    std::string id;
    std::string address;
};
struct member_page {
    std::vector<member> members;
    std::string next_link;
};
std::optional<member_page> parse_member_page(std::string_view json, std::string& error);

// Serialises {"comment": ..., "sendResponse": ...} for accept / tentativelyAccept / decline.
// Bytes of `comment` that are not UTF-8 become U+FFFD, so that Graph never refuses the body.
std::string response_body(std::string_view comment, bool send_response);

}  // namespace agendad::calendar::graph
