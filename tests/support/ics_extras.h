// What the .ics → Graph event and .ics → EWS item converters (support/graph_events.h,
// support/ews_calendar_items.h) read from an iCalendar text besides the invitation parse_ics
// normalises: the extras it does not keep (the HTML body, Outlook's busy status, DTSTAMP and
// CREATED, attachments), read through libical event by event and matched by UID and
// RECURRENCE-ID; and the RRULE parts both turn into their recurrence patterns.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/invitation.h"

namespace agendad::test_support {

struct ics_extras {
    std::string html;          // X-ALT-DESC;FMTTYPE=text/html, unescaped ("" when none)
    std::string busy_status;   // X-MICROSOFT-CDO-BUSYSTATUS, upper case
    std::string stamp;         // DTSTAMP in UTC as "2026-11-20T08:00:00Z", or empty
    std::string created;       // CREATED, same form
    bool attachments = false;  // any ATTACH
};

struct ics_event {
    calendar::invitation inv;
    ics_extras extras;  // all empty when libical did not find the event
};

// Every VEVENT of `ics` as parse_ics reads it for `owner` (a normalised address), with its
// extras. Throws std::runtime_error naming `file` when the text cannot be parsed.
std::vector<ics_event> read_ics_events(std::string_view ics, std::string_view file,
                                       const std::string& owner);

// The file's text; throws std::runtime_error naming it when it cannot be read or is empty.
std::string read_ics_file(const std::filesystem::path& file);

// An RRULE's parts as both converters use them. Weekdays are 0 (Sunday) to 6.
struct rrule_fields {
    std::string rule;  // as given
    std::map<std::string, std::string> parts;  // NAME → VALUE, both upper case
    int interval = 1;
    std::vector<std::pair<int, int>> by_day;  // BYDAY: (ordinal or 0, weekday)
    // A monthly or yearly rule by weekday (BYDAY with an ordinal, or BYSETPOS): `week` says which
    // (1 to 4, or -1 for the last).
    bool relative = false;
    int week = 1;
    // `week` as an index into {first, second, third, fourth, last} (any other value is last).
    int week_slot() const { return week >= 1 && week <= 4 ? week - 1 : 4; }
    std::optional<int> month_day;  // BYMONTHDAY
    std::optional<int> month;      // BYMONTH
    int first_day_of_week = -1;    // WKST, -1 when absent
    // DTSTART's date in the organizer's zone (the series' first day there), when the text says.
    std::optional<std::chrono::sys_days> local_start_day;
};

// The RRULE of `inv` (inv.recurrence.rule). Throws std::runtime_error naming `file` and the rule
// when a number or a weekday cannot be read.
rrule_fields read_rrule(const calendar::invitation& inv, const std::string& file);

}  // namespace agendad::test_support
