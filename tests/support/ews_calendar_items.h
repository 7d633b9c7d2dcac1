// iCalendar → EWS `t:CalendarItem` XML, for tests that serve a labelled mailbox through the fake
// EWS server (support/fake_ews.h). Each VEVENT becomes the calendar item as Exchange shows it in
// the owner's calendar (GetItem with AllProperties, the element order of types.xsd): subject,
// body, times in UTC with the organizer's Windows time zone, organizer, attendees with their
// answers, the owner's answer (MyResponseType), recurrence, so that agendad reaches the same
// decision from the EWS item as from the .ics. The item has no ItemId: the fake issues one.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::test_support {

// The EWS types namespace that the items' elements are in.
inline constexpr std::string_view ews_types_namespace =
    "http://schemas.microsoft.com/exchange/services/2006/types";

struct ews_calendar_item {
    std::string uid;            // the iCalendar UID (= t:UID)
    std::string recurrence_id;  // "2026-11-24T18:00:00Z" for an exception, else empty
    // <t:CalendarItem xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">...
    std::string xml;
};

// Every VEVENT of `ics` as a calendar item of `owner`'s mailbox:
//   Subject; Body (X-ALT-DESC text/html as HTML, else DESCRIPTION as Text); DateTimeReceived and
//   DateTimeCreated (DTSTAMP, CREATED); HasAttachments (ATTACH); UID, RecurrenceId; Start/End in
//   UTC; IsAllDayEvent; LegacyFreeBusyStatus (TRANSP:TRANSPARENT → Free, else
//   X-MICROSOFT-CDO-BUSYSTATUS, else Busy); Location; IsMeeting; IsCancelled (METHOD:CANCEL or
//   STATUS:CANCELLED); IsRecurring; IsResponseRequested (the owner's RSVP); CalendarItemType
//   (RecurringMaster with an RRULE, Exception with a RECURRENCE-ID, else Single); MyResponseType
//   (the owner's PARTSTAT; Organizer when the owner organizes or nobody does; NoResponseReceived
//   when the owner is not listed); Organizer; Required/OptionalAttendees and Resources (ROLE,
//   CUTYPE) with ResponseType from PARTSTAT; AppointmentSequenceNumber (SEQUENCE); Recurrence
//   (the RRULE as Daily/Weekly/AbsoluteMonthly/RelativeMonthly/AbsoluteYearly/RelativeYearly +
//   NoEnd/EndDate/Numbered, in the organizer's local dates); StartTimeZone/EndTimeZone (the TZID
//   when it is a Windows zone name, else "UTC": there is no IANA → Windows table).
// Throws std::runtime_error naming `file` when the text cannot be parsed or an event cannot be
// read (no UID, no DTSTART, an RRULE EWS cannot express).
std::vector<ews_calendar_item> ews_calendar_items_from_ics(std::string_view ics,
                                                           std::string_view file,
                                                           std::string_view owner);
std::vector<ews_calendar_item> ews_calendar_items_from_file(const std::filesystem::path& file,
                                                            std::string_view owner);

}  // namespace agendad::test_support
