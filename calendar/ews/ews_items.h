// EWS (Exchange Web Services) calendar items → agendad's invitation model: one t:CalendarItem
// element (as GetItem, SyncFolderItems or FindItem return it) mapped the way graph_json maps a
// Graph event, so that the policy reads the same meeting the same from either source. The SOAP
// envelope and response codes are soap.h's business; this file reads items only. Pure: no I/O.
#pragma once

#include <pugixml.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/diagnostic.h"
#include "calendar/invitation.h"

namespace agendad::calendar::ews {

// The namespace of EWS's item types (t:CalendarItem, t:Start, ...).
inline constexpr std::string_view types_namespace =
    "http://schemas.microsoft.com/exchange/services/2006/types";

// One t:CalendarItem as agendad needs it.
struct calendar_item {
    std::string id;          // t:ItemId's Id (opaque base64; sent back in responses)
    std::string change_key;  // t:ItemId's ChangeKey: a new one means the item changed
    std::string uid;         // t:UID as Exchange wrote it (trimmed; empty when absent)
    // t:CalendarItemType: Single, Occurrence, Exception or RecurringMaster (empty when absent).
    std::string calendar_item_type;
    // t:MyResponseType: Unknown, Organizer, Tentative, Accept, Decline, NoResponseReceived (the
    // mailbox's own answer; mapped onto invitation::owner->partstat as well).
    std::string my_response_type;
    bool is_meeting = false;            // t:IsMeeting
    bool is_cancelled = false;          // t:IsCancelled
    bool is_response_requested = true;  // t:IsResponseRequested (true when absent)
    // t:IsOrganizer (Exchange 2013 and later); without it, MyResponseType Organizer.
    bool is_organizer = false;
    std::string sensitivity;                    // t:Sensitivity: Normal, Personal, Private, ...
    std::optional<time_point> date_time_stamp;  // t:DateTimeStamp (when the item was stamped)
    // The item normalised: method none (a stored calendar item) or cancel when IsCancelled
    // (status cancelled too); uid = t:UID (for an Occurrence or Exception of an Outlook series,
    // the series' UID: the GlobalObjectId with its instance date cleared, as Outlook writes UID +
    // RECURRENCE-ID in iCalendar; without t:UID the ItemId stands in, with a warning);
    // recurrence_id = t:RecurrenceId, else t:OriginalStart, for occurrences and exceptions (their
    // start when both are absent); sequence = t:AppointmentSequenceNumber. Organizer
    // (Mailbox/EmailAddress with RoutingType SMTP; an Exchange legacy DN (RoutingType EX) is not
    // an address: the mailbox when the owner organizes the item, else an attendee whose
    // ResponseType is Organizer, else a problem) and attendees (RequiredAttendees → required,
    // OptionalAttendees → optional, Resources → non_participant with cutype RESOURCE; a
    // distribution list (MailboxType PublicDL/PrivateDL) has cutype GROUP; ResponseType →
    // PARTSTAT: Unknown/NoResponseReceived → needs_action, Accept → accepted, Tentative →
    // tentative, Decline → declined, Organizer → accepted; rsvp = IsResponseRequested; an
    // attendee without an SMTP address is left out with a warning), the owner's entry (the
    // mailbox: its PARTSTAT, in `attendees` and `owner`, is MyResponseType, which is
    // authoritative for the mailbox's own answer; when the mailbox is neither an attendee nor
    // the organizer, `owner` alone is made from MyResponseType, as for Graph), subject, body
    // (BodyType HTML converted to text, Text trimmed; TextBody when Body is empty), location
    // (Location, else EnhancedLocation/DisplayName), start/end in UTC (EWS writes UTC;
    // IsAllDayEvent makes them dates: the day in the organizer's zone), start_local (the wall
    // clock in the organizer's zone: StartTimeZone's Id, else StartTimeZoneId, else Exchange
    // 2007's MeetingTimeZone, named as written; an unknown zone is UTC with a warning; the
    // legacy TimeZone, often a display name, only when it names a known zone), recurrence
    // (pattern + range → recurrence_info with an RRULE-style rule in libical's order, e.g.
    // "FREQ=WEEKLY;COUNT=10;BYDAY=SA"), LegacyFreeBusyStatus Free → transparent, HasAttachments,
    // source.item_id = Id, source.change_key = ChangeKey, source.file = "<where>".
    invitation inv;
    // Why (part of) the item could not be read: such an item is never acted on.
    std::vector<diagnostic> problems;
};

// A t:ResponseType or t:MyResponseType value as the PARTSTAT it stands for (the mapping the
// items use): Unknown and NoResponseReceived → needs_action, Accept and Organizer → accepted,
// Tentative → tentative, Decline → declined (any letter case); nullopt for anything else.
std::optional<partstat> partstat_of_response(std::string_view response_type);

// GetItem answers larger than this are refused unread (a batch of items with HTML bodies is a
// few megabytes).
inline constexpr std::size_t max_get_item_bytes = 64 * 1024 * 1024;
// Items per answer and attendees per item beyond which nothing is read (Exchange's own limits
// are far lower: 1,000 items per FindItem page, a few thousand recipients per meeting).
inline constexpr std::size_t max_items = 10'000;
inline constexpr std::size_t max_attendees = 10'000;

// Maps one t:CalendarItem element. `mailbox` is the owner (any case), `where` names the item in
// messages ("mailbox ceo@contoso.com, item AAMk..."). nullopt (with `error`) only when `item` is
// not a {types_namespace}CalendarItem element; an item whose fields are wrong gives a
// calendar_item with problems (diagnostic{file = where, line = 0}): no ItemId, no or an invalid
// Start, an organizer without an SMTP address, a boolean or number that a decision depends on
// written wrong, a recurrence agendad cannot read, more than max_attendees attendees. Wrong
// details that change no decision (location, LegacyFreeBusyStatus, HasAttachments,
// Sensitivity, DateTimeStamp, an unknown time zone) are warnings. Never throws.
std::optional<calendar_item> parse_calendar_item(pugi::xml_node item, std::string_view mailbox,
                                                 std::string_view where, std::string& error);

// Maps every t:CalendarItem of a response body (GetItem, SyncFolderItems, FindItem), wherever it
// sits, in document order; an item's own nested CalendarItems (ConflictingMeetings,
// AdjacentMeetings) are parts of it, not items. Problems of an item name it ("item[2] (id
// 'AAMk…'): ..."). Other elements (a MeetingRequest in the Inbox) are not calendar items and are
// skipped. On failure the result is empty and `error` (naming `where`) says why: the body is
// not well-formed XML, has a DOCTYPE, is over max_get_item_bytes, or holds more than max_items
// calendar items. `error` is cleared first, so it is empty on success (also when there is no
// item). Never throws.
std::vector<calendar_item> parse_calendar_items(std::string_view get_item_response_body,
                                                std::string_view mailbox, std::string_view where,
                                                std::string& error);

}  // namespace agendad::calendar::ews
