// What Microsoft Graph and EWS share because both are Exchange's model of a meeting. Graph's
// event JSON and EWS's t:CalendarItem XML are two wire forms of the same item: the same
// xs:dateTime-like times, the same Windows zone names, the same Outlook GlobalObjectId as UID,
// the same recurrence (a pattern and a range, Graph's patternedRecurrence being the JSON form
// of EWS's t:Recurrence). Each reader reads its own format; this holds the one mapping from
// that model onto the invitation model, so that the same meeting reads the same from either
// source and from iCalendar. Pure: no I/O. libical stays in the .cpp (zones are opaque here).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/diagnostic.h"
#include "calendar/invitation.h"

// libical's own declaration (it repeats it in several headers): a zone is only passed through.
typedef struct _icaltimezone icaltimezone;

namespace agendad::calendar::exchange {

// Years a meeting can be in. Outside them a time is not placed in a zone: libical extends a
// zone's transitions up to the year asked for and keeps them, so year 9999 in every zone would
// cost seconds and hundreds of megabytes.
inline constexpr int first_year = 1900, last_year = 2200;
// Per item: more warnings or problems than this say nothing new.
inline constexpr std::size_t max_notes = 50;
// Occurrences walked to find the last start of a numbered series (as the iCalendar parser).
inline constexpr int max_count_walk = 1000;

// ---------------------------------------------------------------------------------------------
// Text

// White space (std::isspace) off both ends, as the iCalendar parser trims.
std::string trim(std::string_view s);
// At most `limit` bytes of well-formed UTF-8: ill-formed sequences become U+FFFD and a cut
// never splits a character.
std::string clean_utf8(std::string_view s, std::size_t limit);
// A value quoted in a message: "'value'", at most 120 bytes of well-formed UTF-8, control
// characters as spaces, "…" where it was cut.
std::string quoted(std::string_view s);
// A display name as the iCalendar parser leaves a CN: unquoted, trimmed, and empty when the
// "name" is only the address (Exchange repeats the address for a recipient without a name).
std::string clean_name(std::string_view raw);

// ---------------------------------------------------------------------------------------------
// Problems and warnings of one item

// Adds a problem (the item cannot be acted on) located at `where`; in a list of items `label`
// ("value[3]", "item[3]") and the item's `id` say which one. At most max_notes, then one
// "more problems not listed".
void add_problem(std::vector<diagnostic>& problems, std::string_view where, std::string_view label,
                 std::string_view id, std::string message);
// Adds a warning (a quirk worked around), at most max_notes, then "more warnings not listed".
void add_warning(std::vector<std::string>& warnings, std::string message);

enum class level { problem, warning };

// What a reader of one item (a Graph event, an EWS calendar item) shares: whom it reads for,
// where, and the item it fills, whose problems and warnings it reports. `Item` has `id`,
// `problems` (diagnostics) and `inv` (the invitation).
template <class Item>
class item_reader_base {
  protected:
    item_reader_base(std::string_view mailbox, std::string_view where, std::string label)
        : mailbox_(normalize_address(mailbox)), where_(where), label_(std::move(label)) {}

    void note(level l, std::string message) {
        if (l == level::problem) {
            problem(std::move(message));
        } else {
            warn(std::move(message));
        }
    }
    void problem(std::string message) {
        add_problem(item_.problems, where_, label_, item_.id, std::move(message));
    }
    void warn(std::string message) { add_warning(item_.inv.warnings, std::move(message)); }

    std::string mailbox_;  // normalised
    std::string_view where_;
    std::string label_;  // "value[3]", "item[3]" in a list, empty for a single item
    Item item_;
};

// "where: ", the start of a reader's error message; empty when `where` is.
std::string in(std::string_view where);
// Sets `error` to "where: what: detail" in a catch block: even then nothing may escape (the
// message is lost when not even it can be allocated).
void set_error(std::string& error, std::string_view where, std::string_view what,
               const char* detail = nullptr) noexcept;

// ---------------------------------------------------------------------------------------------
// The mailbox's own entry

// Sets inv.owner for `mailbox` (normalised; nothing happens when empty). `answer` is the
// mailbox's answer as Exchange keeps it (Graph's responseStatus, EWS's MyResponseType): the
// attendee list of an invitee's copy may lag behind, so it overrides the list's status. When
// the mailbox is not listed (invited through a group or a distribution list, or forwarded)
// and is not the organizer, the answer still makes an owner entry, with `rsvp`.
void assign_exchange_owner(invitation& inv, std::string_view mailbox,
                           std::optional<partstat> answer, bool is_organizer,
                           std::optional<bool> rsvp);

// ---------------------------------------------------------------------------------------------
// Dates and times

struct wall_clock {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    bool has_time = false;
    std::optional<int> offset_minutes;  // "Z" or "+02:00" written after the value
};

// A date, or a date and time, as Graph and EWS write them: "2017-04-15" (also with an offset,
// "2025-07-02Z", "2014-03-08-08:00", as EWS writes a recurrence's dates),
// "2017-04-15T12:00:00.0000000", "2019-04-16T20:30:00Z", "2026-11-20T09:00:00.123+01:00"
// (seconds, the fraction and the offset's colon may be left out; 'T' and 'Z' may be lower
// case; a space is no 'T'). nullopt for anything else or an impossible date; the caller says
// whether it wants a time (has_time).
std::optional<wall_clock> parse_date_time(std::string_view s);

std::chrono::sys_days date_of(const wall_clock& w);
// Midnight starting `day` (has_time false).
wall_clock wall_clock_of(std::chrono::sys_days day);
// The wall-clock value read as UTC (its offset ignored).
time_point as_utc(const wall_clock& w);

// ---------------------------------------------------------------------------------------------
// Time zones

struct zone_choice {
    bool known = false;
    icaltimezone* zone = nullptr;  // nullptr with known: UTC
};

// "UTC", "Etc/UTC", "tzone://Microsoft/Utc", ... in any letter case.
bool is_utc_name(std::string_view name);
// A zone as Graph or EWS names it: a Windows zone id ("Pacific Standard Time", resolved
// through CLDR), an IANA name, or a UTC name. Unknown names: known false.
zone_choice resolve_zone(std::string_view name);
// Wall-clock time in `zone` (nullptr: UTC) → UTC.
time_point to_utc(const wall_clock& w, icaltimezone* zone);
// The wall clock of a UTC instant in `zone` (nullptr: UTC), has_time set. nullopt outside the
// years agendad places in zones.
std::optional<wall_clock> wall_clock_in(time_point t, icaltimezone* zone);

// ---------------------------------------------------------------------------------------------
// Ids

// Outlook's GlobalObjectId in hex ([MS-OXOCAL] PidLidGlobalObjectId): a 16-byte class id, then
// the instance's date (YH YL M D), zero for the series, then the creation time and the data.
// An occurrence or exception carries that date; Outlook's iCalendar carries the series' id
// (date zero) with RECURRENCE-ID. Clearing the date gives the series' UID; any other UID is
// returned as it is.
std::string series_uid(std::string_view uid);

// ---------------------------------------------------------------------------------------------
// Recurrence

// "Monday" (any letter case) → "MO"; nullopt for anything that is not one day.
std::optional<std::string_view> weekday_code(std::string_view day);
// EWS's DayOfWeekType: one day, or Weekday (MO..FR), WeekendDay (SU, SA), Day (all seven).
// Empty for anything else.
std::vector<std::string_view> day_codes(std::string_view day);
// "first" .. "fourth" → 1..4, "last" → -1 (any letter case): BYSETPOS / a BYDAY day's number.
std::optional<int> week_index(std::string_view index);

// A recurrence as Exchange keeps it: one pattern and one range. The readers check the values
// (and report them with their own paths); recurrence_of trusts them.
struct recurrence_pattern {
    enum class pattern_type {
        daily,
        weekly,
        absolute_monthly,
        relative_monthly,
        absolute_yearly,
        relative_yearly
    };
    enum class range_type { no_end, end_date, numbered };

    pattern_type type = pattern_type::daily;
    int interval = 1;                    // 1..1000
    std::vector<std::string_view> days;  // days of the week as BYDAY codes ("MO"), no repeats
    int day_of_month = 0;                // 1..31 for absolute monthly and yearly; 0: unused
    int week_index = 1;                  // relative patterns: 1..4, -1 for the last
    int month = 0;                       // 1..12 for yearly patterns; 0: unused
    std::string_view first_day_of_week;  // a BYDAY code; empty: not given (Monday)

    range_type range = range_type::no_end;
    std::optional<std::chrono::sys_days> start_date;  // as written; the series' start rules
    std::optional<std::chrono::sys_days> end_date;    // end_date ranges: the last day
    int occurrences = 0;                              // numbered ranges: 1..1000000
};

// The pattern as iCalendar says it: frequency, bound (count or until) and the RRULE, written
// as libical writes it (its part order, BYDAY days from WKST) so that the same series read
// from iCalendar reads the same; for a numbered series the start of its last occurrence,
// walked from `start` (UTC; the date, when all day) in `zone` (the series' zone, nullptr: UTC)
// so that a series crossing a daylight-saving change keeps its wall clock. An end date
// includes that whole day in `zone` (as UNTIL=<date> in iCalendar): a weekly 17:00 Pacific
// meeting ending 2026-12-15 still meets on the 15th (01:00Z the 16th).
recurrence_info recurrence_of(const recurrence_pattern& p, std::optional<time_point> start,
                              bool all_day, icaltimezone* zone);

}  // namespace agendad::calendar::exchange
