#include "calendar/ews/ews_items.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <unordered_map>
#include <utility>

#include "calendar/encoding.h"
#include "calendar/html_to_text.h"
#include "calendar/ical/ical_ptr.h"
#include "calendar/time_zones.h"
#include "calendar/xml/xml.h"

// The readers catch what they could throw (allocation failures included) and turn it into an
// error: an EWS answer, however hostile, never unwinds into the daemon. xml::load bounds the
// size and depth of a body and refuses DTDs; nothing here recurses on the input.

namespace agendad::calendar::ews {
namespace {

using encoding::iequals;

constexpr std::string_view t_ns = types_namespace;

// Per item: more warnings or problems than this say nothing new.
constexpr std::size_t max_notes = 50;
// Occurrences walked to find the last start of a numbered series (as the iCalendar parser).
constexpr int max_count_walk = 1000;
// Years a meeting can be in. Outside them a time is not placed in a zone: libical extends a
// zone's transitions up to the year asked for and keeps them, so year 9999 in every zone would
// cost seconds and hundreds of megabytes.
constexpr int first_year = 1900, last_year = 2200;
// Zone names remembered per thread (misses too, so that unknown names cost one look-up).
constexpr std::size_t max_zone_cache = 512;

// ---------------------------------------------------------------------------------------------
// Text helpers

// A value quoted in a message: short (xml::excerpt), well-formed UTF-8 even when the cut fell
// inside a character.
std::string quoted(std::string_view s) {
    const std::string cut = xml::excerpt(s);
    std::string out = "'";
    for (std::size_t i = 0; i < cut.size();) {
        std::uint32_t cp = 0;
        i += encoding::decode_utf8(cut, i, cp);
        encoding::append_utf8(out, cp);
    }
    return out + "'";
}

// Display names as the iCalendar parser leaves them: unquoted, trimmed, and empty when the
// "name" is only the address (Exchange repeats the address for a recipient without a name).
std::string clean_name(std::string_view raw) {
    std::string_view name = xml::trim(raw);
    while (!name.empty() && (name.front() == '"' || name.front() == '\'')) name.remove_prefix(1);
    while (!name.empty() && (name.back() == '"' || name.back() == '\'')) name.remove_suffix(1);
    name = xml::trim(name);
    if (name.find('@') != std::string_view::npos && name.find(' ') == std::string_view::npos) {
        return {};
    }
    return std::string(name);
}

// ---------------------------------------------------------------------------------------------
// xs:dateTime and xs:date

struct date_time {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    bool has_time = false;
    std::optional<int> offset_minutes;  // "Z" or "+02:00" after the value
};

bool read_digits(std::string_view s, std::size_t& i, std::size_t n, int& out) {
    if (i + n > s.size()) return false;
    int v = 0;
    for (std::size_t k = 0; k < n; ++k) {
        const char c = s[i + k];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    out = v;
    i += n;
    return true;
}

bool expect(std::string_view s, std::size_t& i, char c) {
    if (i >= s.size() || s[i] != c) return false;
    ++i;
    return true;
}

// xs:dateTime ("2026-11-20T09:00:00Z", "2026-11-20T09:00:00.123+01:00", "2026-11-20T09:00:00")
// when `with_time`, else xs:date ("2026-12-15", "2025-07-02Z", "2014-03-08-08:00", as EWS writes
// a recurrence's StartDate and EndDate). nullopt for anything else or an impossible date.
std::optional<date_time> parse_xs(std::string_view s, bool with_time) {
    date_time w;
    std::size_t i = 0;
    if (!read_digits(s, i, 4, w.year) || !expect(s, i, '-') || !read_digits(s, i, 2, w.month) ||
        !expect(s, i, '-') || !read_digits(s, i, 2, w.day)) {
        return std::nullopt;
    }
    if (with_time) {
        if (!expect(s, i, 'T') || !read_digits(s, i, 2, w.hour) || !expect(s, i, ':') ||
            !read_digits(s, i, 2, w.minute) || !expect(s, i, ':') ||
            !read_digits(s, i, 2, w.second)) {
            return std::nullopt;
        }
        w.has_time = true;
        if (i < s.size() && s[i] == '.') {
            ++i;
            const std::size_t first = i;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - first < 12) ++i;
            if (i == first) return std::nullopt;
        }
    }
    if (i < s.size() && s[i] == 'Z') {
        ++i;
        w.offset_minutes = 0;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        const int sign = s[i] == '-' ? -1 : 1;
        ++i;
        int h = 0, m = 0;
        if (!read_digits(s, i, 2, h) || !expect(s, i, ':') || !read_digits(s, i, 2, m) || h > 14 ||
            m > 59) {
            return std::nullopt;
        }
        w.offset_minutes = sign * (h * 60 + m);
    }
    if (i != s.size()) return std::nullopt;
    using namespace std::chrono;
    const year_month_day ymd{year{w.year}, month{static_cast<unsigned>(w.month)},
                             day{static_cast<unsigned>(w.day)}};
    if (!ymd.ok() || w.hour > 23 || w.minute > 59 || w.second > 60) return std::nullopt;
    return w;
}

std::chrono::sys_days date_of(const date_time& w) {
    using namespace std::chrono;
    return sys_days{year{w.year} / month{static_cast<unsigned>(w.month)} /
                    day{static_cast<unsigned>(w.day)}};
}

// The wall-clock value read as UTC.
time_point as_utc(const date_time& w) {
    using namespace std::chrono;
    return time_point{date_of(w)} + hours{w.hour} + minutes{w.minute} + seconds{w.second};
}

time_point from_time_t(time_t t) {
    return time_point{std::chrono::seconds{t}};
}

// ---------------------------------------------------------------------------------------------
// Time zones

// A name libical may turn into a path under /usr/share/zoneinfo: plain IANA names only.
bool safe_zone_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name.front() < 'A' || name.front() > 'Z') return false;
    if (name.find("..") != std::string_view::npos) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '/' || c == '_' || c == '-' || c == '+';
    });
}

icaltimezone* builtin_zone(const std::string& iana) {
    thread_local std::unordered_map<std::string, icaltimezone*> cache;
    if (auto it = cache.find(iana); it != cache.end()) return it->second;
    ical::ensure_initialised();
    icaltimezone* zone =
        safe_zone_name(iana) ? icaltimezone_get_builtin_timezone(iana.c_str()) : nullptr;
    icalerror_clear_errno();
    if (cache.size() < max_zone_cache) cache.emplace(iana, zone);
    return zone;
}

struct zone_choice {
    bool known = false;
    icaltimezone* zone = nullptr;  // nullptr with known: UTC
};

bool is_utc_name(std::string_view name) {
    for (std::string_view utc : {"UTC", "GMT", "Z", "Etc/UTC", "Etc/GMT", "Zulu",
                                 "Coordinated Universal Time", "tzone://Microsoft/Utc"}) {
        if (iequals(name, utc)) return true;
    }
    return false;
}

// A Windows zone id as EWS writes it ("W. Europe Standard Time"), resolved through CLDR; an
// IANA name is accepted too.
zone_choice resolve_zone(std::string_view name) {
    if (name.empty()) return {};
    if (is_utc_name(name)) return {true, nullptr};
    if (auto iana = windows_zone_to_iana(name)) {
        const std::string mapped(*iana);
        if (is_utc_name(mapped)) return {true, nullptr};
        if (icaltimezone* z = builtin_zone(mapped)) return {true, z};
    }
    if (icaltimezone* z = builtin_zone(std::string(name))) return {true, z};
    return {};
}

// The wall clock of a UTC instant in `zone` (nullptr: UTC). nullopt outside the years agendad
// places in zones.
std::optional<date_time> wall_clock_in(time_point t, icaltimezone* zone) {
    using namespace std::chrono;
    const sys_days day = floor<days>(t);
    const year_month_day ymd{day};
    const int y = static_cast<int>(ymd.year());
    if (y < first_year || y > last_year) return std::nullopt;
    date_time w;
    w.has_time = true;
    if (!zone) {
        const hh_mm_ss<seconds> hms{t - day};
        w.year = y;
        w.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
        w.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
        w.hour = static_cast<int>(hms.hours().count());
        w.minute = static_cast<int>(hms.minutes().count());
        w.second = static_cast<int>(hms.seconds().count());
        return w;
    }
    const icaltimetype local =
        icaltime_from_timet_with_zone(static_cast<time_t>(t.time_since_epoch().count()), 0, zone);
    icalerror_clear_errno();
    if (icaltime_is_null_time(local)) return std::nullopt;
    w.year = local.year;
    w.month = local.month;
    w.day = local.day;
    w.hour = local.hour;
    w.minute = local.minute;
    w.second = local.second;
    return w;
}

icaltimetype to_ical(const date_time& w, bool is_date) {
    icaltimetype t = icaltime_null_time();
    t.year = w.year;
    t.month = w.month;
    t.day = w.day;
    if (!is_date) {
        t.hour = w.hour;
        t.minute = w.minute;
        t.second = w.second;
    }
    t.is_date = is_date ? 1 : 0;
    return t;
}

// Wall-clock time in `zone` (nullptr: UTC) → UTC.
time_point to_utc(const date_time& w, icaltimezone* zone) {
    if (!zone) return as_utc(w);
    const time_t t = icaltime_as_timet_with_zone(to_ical(w, false), zone);
    icalerror_clear_errno();
    return from_time_t(t);
}

// ---------------------------------------------------------------------------------------------
// EWS vocabularies

// t:ResponseType and t:MyResponseType ([MS-OXWSMTGS] ResponseTypeType).
std::optional<partstat> partstat_of(std::string_view response) {
    if (iequals(response, "Unknown") || iequals(response, "NoResponseReceived")) {
        return partstat::needs_action;
    }
    if (iequals(response, "Accept") || iequals(response, "Organizer")) return partstat::accepted;
    if (iequals(response, "Decline")) return partstat::declined;
    if (iequals(response, "Tentative")) return partstat::tentative;
    return std::nullopt;
}

// A DayOfWeekType ("Monday", or Day / Weekday / WeekendDay) → iCalendar day codes, in the
// order Outlook writes them in BYDAY.
std::vector<std::string_view> day_codes(std::string_view day) {
    static constexpr std::pair<std::string_view, std::string_view> days[] = {
        {"Sunday", "SU"},   {"Monday", "MO"}, {"Tuesday", "TU"},  {"Wednesday", "WE"},
        {"Thursday", "TH"}, {"Friday", "FR"}, {"Saturday", "SA"},
    };
    for (const auto& [name, code] : days) {
        if (iequals(day, name)) return {code};
    }
    if (iequals(day, "Weekday")) return {"MO", "TU", "WE", "TH", "FR"};
    if (iequals(day, "WeekendDay")) return {"SU", "SA"};
    if (iequals(day, "Day")) return {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
    return {};
}

// t:DayOfWeekIndex → BYSETPOS / the number before a BYDAY day.
std::optional<int> week_index(std::string_view index) {
    static constexpr std::pair<std::string_view, int> indexes[] = {
        {"First", 1}, {"Second", 2}, {"Third", 3}, {"Fourth", 4}, {"Last", -1}};
    for (const auto& [name, n] : indexes) {
        if (iequals(index, name)) return n;
    }
    return std::nullopt;
}

// t:Month ("November") → 11.
std::optional<int> month_number(std::string_view name) {
    static constexpr std::array<std::string_view, 12> months = {
        "January", "February", "March",     "April",   "May",      "June",
        "July",    "August",   "September", "October", "November", "December"};
    for (std::size_t i = 0; i < months.size(); ++i) {
        if (iequals(name, months[i])) return static_cast<int>(i + 1);
    }
    return std::nullopt;
}

bool is_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
}

// Outlook's GlobalObjectId in hex ([MS-OXOCAL] PidLidGlobalObjectId): a 16-byte class id, then
// the instance's date (YH YL M D), zero for the series, then the creation time and the data.
// Outlook's iCalendar carries the series' id (date zero) with RECURRENCE-ID: clearing the date
// gives the series' UID for an occurrence or exception, whichever of the two EWS wrote.
std::string series_uid(std::string_view uid) {
    constexpr std::string_view class_id = "040000008200E00074C5B7101A82E008";
    constexpr std::size_t date_at = class_id.size(), date_size = 8;
    if (uid.size() < date_at + date_size || !iequals(uid.substr(0, date_at), class_id) ||
        !is_hex(uid)) {
        return std::string(uid);
    }
    std::string out(uid);
    out.replace(date_at, date_size, date_size, '0');
    return out;
}

// ---------------------------------------------------------------------------------------------
// The recurrence as EWS writes it (t:Recurrence: one pattern element and one range element).
// EWS and Graph share this model (Graph's patternedRecurrence is its JSON form).

struct recurrence_pattern {
    std::string type;                    // the pattern's element name, "WeeklyRecurrence"
    std::string frequency;               // DAILY, WEEKLY, MONTHLY, YEARLY
    bool relative = false;               // Relative*: a weekday of a week of the month
    int interval = 1;                    // Interval (yearly patterns have none: 1)
    std::vector<std::string_view> days;  // DaysOfWeek as BYDAY codes, without repeats
    std::optional<int> week;             // DayOfWeekIndex: 1..4, -1 for Last
    int day_of_month = 0;                // DayOfMonth, 0 when not used
    int month = 0;                       // Month, 0 when not used
    std::string first_day;               // FirstDayOfWeek as a BYDAY code, empty when absent

    enum class range_kind { none, no_end, end_date, numbered };
    range_kind range = range_kind::none;
    std::optional<date_time> end_date;  // EndDateRecurrence/EndDate (a date)
    int count = 0;                      // NumberedRecurrence/NumberOfOccurrences
};

// ---------------------------------------------------------------------------------------------
// One item

enum class level { problem, warning };

class item_reader {
  public:
    item_reader(std::string_view mailbox, std::string_view where, std::string label)
        : mailbox_(normalize_address(mailbox)), where_(where), label_(std::move(label)) {}

    calendar_item read(pugi::xml_node item) {
        it_.inv.source.file = std::string(where_);
        read_item(item);
        return std::move(it_);
    }

  private:
    // --- reporting

    void note(level l, std::string message) {
        if (l == level::problem) {
            problem(std::move(message));
        } else {
            warn(std::move(message));
        }
    }

    void problem(std::string message) {
        if (it_.problems.size() > max_notes) return;
        if (it_.problems.size() == max_notes) message = "more problems not listed";
        // In a response, which item; a single item is named by `where` already.
        std::string prefix;
        if (!label_.empty()) {
            prefix = label_;
            if (!it_.id.empty()) prefix += " (id " + quoted(it_.id) + ")";
            prefix += ": ";
        }
        it_.problems.push_back(diagnostic{std::string(where_), 0, 0, prefix + message});
    }

    void warn(std::string message) {
        auto& w = it_.inv.warnings;
        if (w.size() > max_notes) return;
        if (w.size() == max_notes) message = "more warnings not listed";
        w.push_back(std::move(message));
    }

    // --- typed fields: a wrong value is reported at `l` and reads as absent

    static pugi::xml_node field(pugi::xml_node parent, std::string_view name) {
        return xml::child(parent, t_ns, name);
    }

    // The trimmed text of t:<name>; nullopt when absent or empty.
    static std::optional<std::string> text(pugi::xml_node parent, std::string_view name) {
        const pugi::xml_node n = field(parent, name);
        if (!n) return std::nullopt;
        return xml::trimmed_text(n);
    }

    // xs:boolean: true, false, 1, 0.
    std::optional<bool> flag(pugi::xml_node parent, std::string_view name, level l) {
        const pugi::xml_node n = field(parent, name);
        if (!n) return std::nullopt;
        const std::string value = xml::trimmed_text(n).value_or("");
        if (value == "true" || value == "1") return true;
        if (value == "false" || value == "0") return false;
        note(l, "'" + std::string(name) + "' is " + quoted(value) + ", not true or false");
        return std::nullopt;
    }

    // A non-negative xs:int.
    std::optional<int> number(pugi::xml_node parent, std::string_view name, level l) {
        const pugi::xml_node n = field(parent, name);
        if (!n) return std::nullopt;
        const std::string value = xml::trimmed_text(n).value_or("");
        int out = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
        if (ec != std::errc() || end != value.data() + value.size() || out < 0) {
            note(l, "'" + std::string(name) + "' is " + quoted(value) +
                        ", not a non-negative integer");
            return std::nullopt;
        }
        return out;
    }

    // An xs:dateTime (EWS writes UTC, "2026-11-20T09:00:00Z") as a UTC instant. `path` names it.
    std::optional<time_point> instant(pugi::xml_node n, const std::string& path, level l) {
        const std::string value = xml::trimmed_text(n).value_or("");
        const auto w = parse_xs(value, true);
        if (!w) {
            note(l, "'" + path + "' is " + quoted(value) + ", not a date and time");
            return std::nullopt;
        }
        if (w->year < first_year || w->year > last_year) {
            note(l, "'" + path + "' is " + quoted(value) + ", not in the years " +
                        std::to_string(first_year) + " to " + std::to_string(last_year));
            return std::nullopt;
        }
        if (!w->offset_minutes) {
            warn("'" + path + "' has no time zone designator: taken as UTC");
        }
        return as_utc(*w) - std::chrono::minutes{w->offset_minutes.value_or(0)};
    }

    // --- the item

    void read_item(pugi::xml_node o) {
        invitation& inv = it_.inv;
        if (const pugi::xml_node id = field(o, "ItemId")) {
            it_.id = std::string(xml::trim(id.attribute("Id").value()));
            it_.change_key = std::string(xml::trim(id.attribute("ChangeKey").value()));
        }
        if (it_.id.empty()) problem("has no ItemId: agendad could not answer it");
        inv.source.item_id = it_.id;
        inv.source.change_key = it_.change_key;

        it_.calendar_item_type = text(o, "CalendarItemType").value_or("");
        const std::string& type = it_.calendar_item_type;
        const bool instance = type == "Occurrence" || type == "Exception";
        if (!type.empty() && !instance && type != "Single" && type != "RecurringMaster") {
            warn("unknown CalendarItemType " + quoted(type));
        }

        read_uid(o, instance);

        if (auto b = flag(o, "IsMeeting", level::warning)) it_.is_meeting = *b;
        if (auto b = flag(o, "IsCancelled", level::problem)) it_.is_cancelled = *b;
        response_requested_ = flag(o, "IsResponseRequested", level::problem);
        if (response_requested_) it_.is_response_requested = *response_requested_;
        it_.my_response_type = text(o, "MyResponseType").value_or("");
        if (auto b = flag(o, "IsOrganizer", level::problem)) {
            it_.is_organizer = *b;
        } else {
            it_.is_organizer = iequals(it_.my_response_type, "Organizer");
        }
        if (it_.is_cancelled) {
            inv.method = method::cancel;
            inv.status = event_status::cancelled;
        }
        // Exchange raises it on every change the organizer sends to the attendees.
        if (auto n = number(o, "AppointmentSequenceNumber", level::problem)) inv.sequence = *n;

        inv.subject = text(o, "Subject").value_or("");
        read_body(o);
        read_location(o);
        if (auto b = flag(o, "HasAttachments", level::warning)) inv.has_attachments = *b;
        if (auto status = text(o, "LegacyFreeBusyStatus")) {
            static constexpr std::string_view known[] = {"Free", "Tentative",        "Busy",
                                                         "OOF",  "WorkingElsewhere", "NoData"};
            if (std::none_of(std::begin(known), std::end(known),
                             [&](std::string_view k) { return iequals(*status, k); })) {
                warn("unknown LegacyFreeBusyStatus " + quoted(*status) + ": taken as busy");
            }
            inv.transp =
                iequals(*status, "Free") ? transparency::transparent : transparency::opaque;
        }
        it_.sensitivity = text(o, "Sensitivity").value_or("");
        if (const pugi::xml_node stamp = field(o, "DateTimeStamp")) {
            it_.date_time_stamp = instant(stamp, "DateTimeStamp", level::warning);
        }

        read_attendees(o);
        read_organizer(o);
        read_times(o, instance);
        if (const pugi::xml_node rec = field(o, "Recurrence")) read_recurrence(rec);
        read_owner();
    }

    void read_uid(pugi::xml_node o, bool instance) {
        invitation& inv = it_.inv;
        it_.uid = text(o, "UID").value_or("");
        if (!it_.uid.empty()) {
            inv.uid = instance ? series_uid(it_.uid) : it_.uid;
            return;
        }
        if (!it_.id.empty()) {
            inv.uid = it_.id;
            warn("no UID: the ItemId stands in for the UID");
        }
    }

    void read_body(pugi::xml_node o) {
        invitation& inv = it_.inv;
        if (const pugi::xml_node body = field(o, "Body")) {
            const std::string_view type = body.attribute("BodyType").value();
            const std::string content = xml::text_of(body);
            // Text bodies that are HTML after all are read as HTML (as DESCRIPTION is).
            if (iequals(type, "HTML") || looks_like_html(content)) {
                // Not trimmed: the same text as the iCalendar parser makes of X-ALT-DESC.
                inv.description = html_to_text(content);
                if (xml::trim(inv.description).empty()) inv.description.clear();
            } else {
                inv.description = std::string(xml::trim(content));
            }
            if (iequals(xml::trim(body.attribute("IsTruncated").value()), "true")) {
                warn("the body was cut short by Exchange (IsTruncated): only its start is read");
            }
        }
        // Exchange 2013 and later: the body as plain text, when Body was not asked for.
        if (inv.description.empty()) inv.description = text(o, "TextBody").value_or("");
    }

    void read_location(pugi::xml_node o) {
        invitation& inv = it_.inv;
        inv.location = text(o, "Location").value_or("");
        if (!inv.location.empty()) return;
        // Exchange 2016 and later.
        if (const pugi::xml_node enhanced = field(o, "EnhancedLocation")) {
            inv.location = text(enhanced, "DisplayName").value_or("");
        }
    }

    // --- people

    struct mailbox_fields {
        std::string address;       // normalised; empty when EmailAddress is no SMTP address
        std::string raw_address;   // EmailAddress as written (trimmed)
        std::string name;          // Name, cleaned
        std::string routing_type;  // RoutingType: SMTP, EX, ...
        std::string mailbox_type;  // MailboxType: Mailbox, PublicDL, PrivateDL, Contact, ...
    };

    // t:Mailbox. Only an SMTP address is an address: an Exchange legacy DN (RoutingType EX,
    // "/o=Contoso/ou=.../cn=Recipients/cn=dana") names a directory entry that agendad cannot
    // compare with anything, and it is not a domain the policy could judge.
    static mailbox_fields read_mailbox(pugi::xml_node m) {
        mailbox_fields out;
        out.raw_address = text(m, "EmailAddress").value_or("");
        out.name = clean_name(text(m, "Name").value_or(""));
        out.routing_type = text(m, "RoutingType").value_or("");
        out.mailbox_type = text(m, "MailboxType").value_or("");
        const bool smtp = out.routing_type.empty() || iequals(out.routing_type, "SMTP");
        std::string address = normalize_address(out.raw_address);
        if (smtp && address.find('@') != std::string::npos) out.address = std::move(address);
        return out;
    }

    static std::string why_no_address(const mailbox_fields& m) {
        if (m.raw_address.empty()) return "no EmailAddress";
        if (!m.routing_type.empty() && !iequals(m.routing_type, "SMTP")) {
            return "an address of RoutingType " + quoted(m.routing_type) +
                   " (an Exchange directory name), no SMTP address";
        }
        return "the EmailAddress " + quoted(m.raw_address) + ", not an SMTP address";
    }

    void read_attendees(pugi::xml_node o) {
        struct list {
            std::string_view element;
            role r;
        };
        static constexpr list lists[] = {{"RequiredAttendees", role::required},
                                         {"OptionalAttendees", role::optional},
                                         {"Resources", role::non_participant}};
        std::size_t total = 0;
        for (const list& l : lists) {
            xml::for_each_child(field(o, l.element), t_ns, "Attendee",
                                [&](pugi::xml_node) { ++total; });
        }
        if (total > max_attendees) {
            problem("has " + std::to_string(total) + " attendees, more than " +
                    std::to_string(max_attendees) + " (not read)");
            return;
        }
        for (const list& l : lists) {
            std::size_t index = 0;
            xml::for_each_child(field(o, l.element), t_ns, "Attendee", [&](pugi::xml_node a) {
                read_attendee(
                    a, l.r, std::string(l.element) + "/Attendee[" + std::to_string(index++) + "]");
            });
        }
    }

    void read_attendee(pugi::xml_node a, role r, const std::string& path) {
        const mailbox_fields m = read_mailbox(field(a, "Mailbox"));
        const std::string response = text(a, "ResponseType").value_or("");
        if (m.address.empty()) {
            warn(path + " has " + why_no_address(m) + ": left out");
            return;
        }
        attendee at;
        at.address = m.address;
        at.name = m.name;
        at.role = r;
        if (r == role::non_participant) {
            at.cutype = "RESOURCE";
        } else if (iequals(m.mailbox_type, "PublicDL") || iequals(m.mailbox_type, "PrivateDL")) {
            at.cutype = "GROUP";
        }
        if (auto p = partstat_of(response)) {
            at.partstat = *p;
        } else if (!response.empty()) {
            at.partstat = partstat::other;
            warn(path + " has the unknown ResponseType " + quoted(response));
        }
        if (iequals(response, "Organizer")) organizer_attendees_.push_back(at.address);
        at.rsvp = response_requested_;
        it_.inv.attendees.push_back(std::move(at));
    }

    void read_organizer(pugi::xml_node o) {
        invitation& inv = it_.inv;
        const pugi::xml_node org = field(o, "Organizer");
        const mailbox_fields m = read_mailbox(field(org, "Mailbox"));
        inv.organizer.name = m.name;
        if (!m.address.empty()) {
            inv.organizer.address = m.address;
            return;
        }
        // No SMTP address for the organizer: another field may say who it is.
        if (it_.is_organizer && !mailbox_.empty()) {
            inv.organizer.address = mailbox_;  // the owner's own item
            return;
        }
        if (organizer_attendees_.size() == 1) {
            inv.organizer.address = organizer_attendees_.front();
            if (org)
                warn("the organizer has " + why_no_address(m) +
                     ": the attendee whose "
                     "ResponseType is Organizer gives the address");
            return;
        }
        // An appointment of the owner's own (no attendees, not a meeting) has no organizer to
        // judge; anything else needs one.
        if (!org && !it_.is_meeting && inv.attendees.empty()) return;
        if (!org) {
            problem("has no Organizer: the policy cannot judge who invites");
        } else {
            problem("the Organizer has " + why_no_address(m) +
                    ": the policy cannot judge who invites");
        }
    }

    // The mailbox's own entry. MyResponseType is the mailbox's answer as Exchange keeps it (the
    // attendee list of an invitee's copy may lag behind), so it overrides the list's status.
    void read_owner() {
        invitation& inv = it_.inv;
        if (mailbox_.empty()) return;
        const std::optional<partstat> answer = partstat_of(it_.my_response_type);
        if (!it_.my_response_type.empty() && !answer) {
            warn("unknown MyResponseType " + quoted(it_.my_response_type) +
                 ": the attendee list's status is kept");
        }
        if (answer) {
            for (attendee& a : inv.attendees) {
                if (a.address == mailbox_) a.partstat = *answer;
            }
        }
        assign_owner(inv, mailbox_);
        if (inv.owner || it_.is_organizer || inv.organizer.address == mailbox_ || !answer) return;
        // Invited through a distribution list (or forwarded): Exchange still records the
        // mailbox's answer.
        attendee me;
        me.address = mailbox_;
        me.partstat = *answer;
        me.rsvp = response_requested_;
        inv.owner = std::move(me);
    }

    // --- times

    // The organizer's zone: StartTimeZone's Id (Exchange 2010 and later), StartTimeZoneId
    // (2013 and later), else Exchange 2007's MeetingTimeZone or TimeZone. TimeZone is often a
    // display name ("(UTC+00:00) Monrovia, Reykjavik") rather than an id: it is used only when
    // it names a known zone, and is no reason for a warning otherwise.
    void read_zone(pugi::xml_node o) {
        std::string name;
        std::string from;
        if (const pugi::xml_node z = field(o, "StartTimeZone")) {
            name = std::string(xml::trim(z.attribute("Id").value()));
            from = "StartTimeZone";
        }
        if (name.empty()) {
            name = text(o, "StartTimeZoneId").value_or("");
            from = "StartTimeZoneId";
        }
        if (name.empty()) {
            if (const pugi::xml_node z = field(o, "MeetingTimeZone")) {
                name = std::string(xml::trim(z.attribute("TimeZoneName").value()));
                from = "MeetingTimeZone";
            }
        }
        if (name.empty()) {
            const std::string legacy = text(o, "TimeZone").value_or("");
            if (resolve_zone(legacy).known) {
                name = legacy;
                from = "TimeZone";
            }
        }
        if (name.empty()) return;
        zone_ = resolve_zone(name);
        zone_name_ = name;
        if (!zone_.known) {
            warn("unknown time zone " + quoted(name) + " in '" + from +
                 "': the organizer's wall clock is shown in UTC");
        }
    }

    // The day of an all-day item. EWS writes the organizer's local midnight in UTC
    // ("2026-11-24T08:00:00Z" for 24 November in Pacific time); in an unknown zone the nearest
    // midnight is the best guess for every zone between UTC-12 and UTC+12.
    std::chrono::sys_days day_of(time_point t, std::string_view what) {
        using namespace std::chrono;
        if (zone_.known && zone_.zone) {
            if (auto w = wall_clock_in(t, zone_.zone)) {
                if (w->hour || w->minute || w->second) {
                    warn("an all-day item whose " + std::string(what) + " is not midnight in " +
                         quoted(zone_name_) + ": its date is used");
                }
                return date_of(*w);
            }
        }
        const sys_days nearest = floor<days>(t + hours{12});
        if (time_point{nearest} != t) {
            warn("an all-day item whose " + std::string(what) +
                 " is not midnight in a known zone: the nearest midnight (UTC) gives its date");
        }
        return nearest;
    }

    void read_times(pugi::xml_node o, bool instance) {
        invitation& inv = it_.inv;
        if (auto b = flag(o, "IsAllDayEvent", level::problem)) inv.all_day = *b;
        read_zone(o);

        const pugi::xml_node start_node = field(o, "Start");
        if (!start_node) {
            inv.has_start = false;
            problem("has no Start: the meeting has no time");
            return;
        }
        const auto start = instant(start_node, "Start", level::problem);
        if (!start) {
            inv.has_start = false;
            return;
        }
        std::optional<time_point> end;
        if (const pugi::xml_node end_node = field(o, "End")) {
            end = instant(end_node, "End", level::problem);
            if (!end) end = *start;  // the problem is reported
        }

        if (inv.all_day) {
            // A date, the same day wherever the reader is (as DTSTART;VALUE=DATE).
            const std::chrono::sys_days day = day_of(*start, "start");
            inv.start = time_point{day};
            const std::chrono::year_month_day ymd{day};
            inv.start_local = local_start{static_cast<int>(ymd.year()),
                                          static_cast<int>(static_cast<unsigned>(ymd.month())),
                                          static_cast<int>(static_cast<unsigned>(ymd.day())),
                                          0,
                                          0,
                                          {}};
            inv.end = end ? time_point{day_of(*end, "end")} : inv.start + std::chrono::days{1};
        } else {
            inv.start = *start;
            inv.end = end.value_or(*start);
            // The wall clock as the organizer sees it, named as Exchange names the zone (the
            // TZID Outlook writes in iCalendar).
            icaltimezone* zone = zone_.known ? zone_.zone : nullptr;
            const bool named = zone_.known && !zone_name_.empty();
            if (auto w = wall_clock_in(*start, zone)) {
                inv.start_local =
                    local_start{w->year, w->month,  w->day,
                                w->hour, w->minute, named ? zone_name_ : std::string("UTC")};
            }
        }
        if (inv.end < inv.start) {
            warn("the item ends before it starts: end taken as the start");
            inv.end = inv.start;
        }
        start_ = *start;

        if (!instance) return;
        // RecurrenceId (Exchange 2010 and later) and OriginalStart: where the series put this
        // instance, whatever its start is now.
        for (std::string_view name : {"RecurrenceId", "OriginalStart"}) {
            if (const pugi::xml_node n = field(o, name)) {
                if (auto t = instant(n, std::string(name), level::problem)) {
                    inv.recurrence_id = *t;
                }
                return;
            }
        }
        // An occurrence is where the series put it; an exception may have moved, so its start
        // is only the best guess.
        inv.recurrence_id = inv.start;
        if (it_.calendar_item_type == "Exception") {
            warn(
                "an exception without RecurrenceId or OriginalStart: its start stands for its "
                "recurrence id");
        }
    }

    // --- recurrence

    // t:Recurrence → the intermediate pattern; nullopt (with a problem) when agendad cannot
    // read it.
    std::optional<recurrence_pattern> read_pattern(pugi::xml_node rec) {
        recurrence_pattern p;
        pugi::xml_node pattern;
        pugi::xml_node range;
        for (pugi::xml_node c = rec.first_child(); c; c = c.next_sibling()) {
            if (c.type() != pugi::node_element || xml::namespace_of(c) != t_ns) continue;
            const std::string_view name = xml::local_name(c);
            if (name.size() > 10 && name.substr(name.size() - 10) == "Recurrence" &&
                name != "NoEndRecurrence" && name != "EndDateRecurrence" &&
                name != "NumberedRecurrence") {
                if (!pattern) pattern = c;
            } else if (name == "NoEndRecurrence" || name == "EndDateRecurrence" ||
                       name == "NumberedRecurrence") {
                if (!range) range = c;
            } else if (!pattern && name.find("Regeneration") != std::string_view::npos) {
                pattern = c;  // a task's pattern: refused below
            }
        }
        if (!pattern) {
            problem("'Recurrence' has no pattern");
            return std::nullopt;
        }
        p.type = std::string(xml::local_name(pattern));
        if (p.type == "DailyRecurrence") {
            p.frequency = "DAILY";
        } else if (p.type == "WeeklyRecurrence") {
            p.frequency = "WEEKLY";
        } else if (p.type == "AbsoluteMonthlyRecurrence") {
            p.frequency = "MONTHLY";
        } else if (p.type == "RelativeMonthlyRecurrence") {
            p.frequency = "MONTHLY";
            p.relative = true;
        } else if (p.type == "AbsoluteYearlyRecurrence") {
            p.frequency = "YEARLY";
        } else if (p.type == "RelativeYearlyRecurrence") {
            p.frequency = "YEARLY";
            p.relative = true;
        } else {
            problem("'Recurrence' has the pattern " + quoted(p.type) +
                    ", not one agendad knows for a calendar item");
            return std::nullopt;
        }
        const std::string where = "Recurrence/" + p.type;

        if (field(pattern, "Interval")) {
            const auto interval = number(pattern, "Interval", level::problem);
            if (!interval) return std::nullopt;
            if (*interval < 1 || *interval > 1000) {
                problem("'" + where + "/Interval' is " + std::to_string(*interval) +
                        ", not between 1 and 1000");
                return std::nullopt;
            }
            p.interval = *interval;
        } else if (p.frequency != "YEARLY") {
            warn("'" + where + "' has no Interval: taken as 1");
        }

        if (const pugi::xml_node days = field(pattern, "DaysOfWeek")) {
            // A list separated by white space ("Monday Wednesday").
            const std::string list = xml::text_of(days);
            std::size_t i = 0;
            while (i < list.size()) {
                const std::size_t first = list.find_first_not_of(" \t\r\n", i);
                if (first == std::string::npos) break;
                std::size_t last = list.find_first_of(" \t\r\n", first);
                if (last == std::string::npos) last = list.size();
                const std::string_view day = std::string_view(list).substr(first, last - first);
                const auto codes = day_codes(day);
                if (codes.empty()) {
                    problem("'" + where + "/DaysOfWeek' holds " + quoted(day) +
                            ", not a day of the week");
                    return std::nullopt;
                }
                for (std::string_view code : codes) {
                    if (std::find(p.days.begin(), p.days.end(), code) == p.days.end()) {
                        p.days.push_back(code);
                    }
                }
                i = last;
            }
        }
        if ((p.relative || p.frequency == "WEEKLY") && p.days.empty()) {
            problem("'" + where + "' has no DaysOfWeek");
            return std::nullopt;
        }
        if (p.relative) {
            const std::string index = text(pattern, "DayOfWeekIndex").value_or("");
            p.week = week_index(index);
            if (!p.week) {
                problem("'" + where + "/DayOfWeekIndex' is " +
                        (index.empty() ? std::string("missing") : quoted(index)));
                return std::nullopt;
            }
        }
        if (!p.relative && (p.frequency == "MONTHLY" || p.frequency == "YEARLY")) {
            const auto day = number(pattern, "DayOfMonth", level::problem);
            if (!day || *day < 1 || *day > 31) {
                problem("'" + where + "/DayOfMonth' is " +
                        (day ? std::to_string(*day) : std::string("missing")));
                return std::nullopt;
            }
            p.day_of_month = *day;
        }
        if (p.frequency == "YEARLY") {
            const std::string month = text(pattern, "Month").value_or("");
            const auto m = month_number(month);
            if (!m) {
                problem("'" + where + "/Month' is " +
                        (month.empty() ? std::string("missing") : quoted(month)));
                return std::nullopt;
            }
            p.month = *m;
        }
        if (p.frequency == "WEEKLY") {
            if (auto first = text(pattern, "FirstDayOfWeek")) {
                const auto codes = day_codes(*first);
                if (codes.size() == 1) {
                    p.first_day = std::string(codes.front());
                } else {
                    warn("'" + where + "/FirstDayOfWeek' is " + quoted(*first) + ": ignored");
                }
            }
        }

        if (!range) {
            warn("'Recurrence' has no range: taken as without end");
            p.range = recurrence_pattern::range_kind::no_end;
            return p;
        }
        const std::string_view range_type = xml::local_name(range);
        if (range_type == "NoEndRecurrence") {
            p.range = recurrence_pattern::range_kind::no_end;
        } else if (range_type == "EndDateRecurrence") {
            const std::string end = text(range, "EndDate").value_or("");
            p.end_date = parse_xs(end, false);
            if (!p.end_date) {
                problem("'Recurrence/EndDateRecurrence/EndDate' is " +
                        (end.empty() ? std::string("missing") : quoted(end)) + ", not a date");
                return std::nullopt;
            }
            p.range = recurrence_pattern::range_kind::end_date;
        } else {
            const auto n = number(range, "NumberOfOccurrences", level::problem);
            if (!n || *n < 1 || *n > 1'000'000) {
                problem("'Recurrence/NumberedRecurrence/NumberOfOccurrences' is " +
                        (n ? std::to_string(*n) : std::string("missing")) +
                        ", not between 1 and 1000000");
                return std::nullopt;
            }
            p.range = recurrence_pattern::range_kind::numbered;
            p.count = *n;
        }
        return p;
    }

    void read_recurrence(pugi::xml_node rec) {
        const auto p = read_pattern(rec);
        if (!p) return;
        recurrence_info r;
        r.frequency = p->frequency;
        std::string bound;
        switch (p->range) {
            case recurrence_pattern::range_kind::none:
            case recurrence_pattern::range_kind::no_end:
                r.kind = recurrence_info::bound::open_ended;
                break;
            case recurrence_pattern::range_kind::end_date: {
                r.kind = recurrence_info::bound::until;
                r.until = until_of(*p->end_date);
                char buf[16];
                std::snprintf(buf, sizeof buf, "%04d%02d%02d", p->end_date->year,
                              p->end_date->month, p->end_date->day);
                bound = std::string(";UNTIL=") + buf;
                break;
            }
            case recurrence_pattern::range_kind::numbered:
                r.kind = recurrence_info::bound::count;
                r.count = p->count;
                bound = ";COUNT=" + std::to_string(p->count);
                break;
        }

        // The rule, in the order libical writes an RRULE, so that the same series read from
        // iCalendar reads the same.
        std::string rule = "FREQ=" + p->frequency + bound;
        if (p->interval != 1) rule += ";INTERVAL=" + std::to_string(p->interval);
        // libical lists BYDAY days from the week's first day (WKST, Monday by default).
        static constexpr std::string_view week[] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
        const auto day_index = [](std::string_view code) {
            return static_cast<int>(std::find(std::begin(week), std::end(week), code) -
                                    std::begin(week));
        };
        const int first = day_index(p->first_day.empty() ? "MO" : p->first_day);
        std::vector<std::string_view> days = p->days;
        std::stable_sort(days.begin(), days.end(), [&](std::string_view a, std::string_view b) {
            return (day_index(a) - first + 7) % 7 < (day_index(b) - first + 7) % 7;
        });
        auto join_days = [&](const std::string& prefix) {
            std::string out;
            for (std::string_view d : days) {
                if (!out.empty()) out += ',';
                out += prefix;
                out += d;
            }
            return out;
        };
        if (p->relative) {
            rule += ";BYDAY=" + join_days(p->days.size() == 1 ? std::to_string(*p->week) : "");
        } else if (p->frequency == "WEEKLY") {
            rule += ";BYDAY=" + join_days("");
        }
        if (p->day_of_month > 0) rule += ";BYMONTHDAY=" + std::to_string(p->day_of_month);
        if (p->month > 0) rule += ";BYMONTH=" + std::to_string(p->month);
        if (p->relative && p->days.size() > 1) rule += ";BYSETPOS=" + std::to_string(*p->week);
        if (!p->first_day.empty() && p->first_day != "MO") rule += ";WKST=" + p->first_day;
        r.rule = std::move(rule);
        if (r.kind == recurrence_info::bound::count) r.last_start = last_start_of(r);
        it_.inv.recurrence = std::move(r);
    }

    // An end date includes that whole day in the organizer's zone (as UNTIL=<date> in
    // iCalendar): a weekly 17:00 Pacific meeting ending 2026-12-15 still meets on the 15th
    // (01:00Z the 16th).
    time_point until_of(const date_time& end_date) const {
        using namespace std::chrono;
        const time_point next_day{date_of(end_date) + days{1}};
        if (it_.inv.all_day || end_date.year > last_year || !zone_.known || !zone_.zone) {
            return next_day;
        }
        const year_month_day d{floor<days>(next_day)};
        date_time midnight;
        midnight.year = static_cast<int>(d.year());
        midnight.month = static_cast<int>(static_cast<unsigned>(d.month()));
        midnight.day = static_cast<int>(static_cast<unsigned>(d.day()));
        return to_utc(midnight, zone_.zone);
    }

    // The start of the last occurrence of a numbered series, walking the rule from the start
    // in the organizer's zone (so that a series crossing a daylight-saving change keeps its
    // wall clock).
    std::optional<time_point> last_start_of(const recurrence_info& r) const {
        if (!start_ || r.count <= 0 || r.count > max_count_walk) return std::nullopt;
        ical::ensure_initialised();
        const icalrecurrencetype rule = icalrecurrencetype_from_string(r.rule.c_str());
        icalerror_clear_errno();
        if (rule.freq == ICAL_NO_RECURRENCE) return std::nullopt;
        const bool is_date = it_.inv.all_day;
        icaltimezone* zone = zone_.known ? zone_.zone : nullptr;
        std::optional<date_time> local;
        if (is_date) {
            const std::chrono::year_month_day ymd{
                std::chrono::floor<std::chrono::days>(it_.inv.start)};
            local = date_time{static_cast<int>(ymd.year()),
                              static_cast<int>(static_cast<unsigned>(ymd.month())),
                              static_cast<int>(static_cast<unsigned>(ymd.day())),
                              0,
                              0,
                              0,
                              false,
                              {}};
        } else {
            local = wall_clock_in(*start_, zone);
        }
        if (!local) return std::nullopt;
        icaltimetype first = to_ical(*local, is_date);
        if (!is_date) first.zone = zone ? zone : icaltimezone_get_utc_timezone();
        ical::recur_iterator_ptr it{icalrecur_iterator_new(rule, first)};
        if (!it) {
            icalerror_clear_errno();
            return std::nullopt;
        }
        icaltimetype last = icaltime_null_time();
        for (int i = 0; i < r.count; ++i) {
            const icaltimetype next = icalrecur_iterator_next(it.get());
            if (icaltime_is_null_time(next)) break;
            last = next;
        }
        icalerror_clear_errno();
        if (icaltime_is_null_time(last) || last.year > last_year) return std::nullopt;
        date_time w;
        w.year = last.year;
        w.month = last.month;
        w.day = last.day;
        if (is_date) return time_point{date_of(w)};
        w.hour = last.hour;
        w.minute = last.minute;
        w.second = last.second;
        return to_utc(w, zone);
    }

    std::string mailbox_;
    std::string_view where_;
    std::string label_;  // "item[3]" in a response, empty for a single item
    calendar_item it_;
    std::optional<bool> response_requested_;        // IsResponseRequested as written
    std::vector<std::string> organizer_attendees_;  // attendees whose ResponseType is Organizer
    zone_choice zone_;
    std::string zone_name_;  // as written
    std::optional<time_point> start_;
};

std::string in(std::string_view where) {
    return where.empty() ? std::string() : std::string(where) + ": ";
}

// Sets an error in a catch block: even then nothing may escape (the message is lost when not
// even it can be allocated).
void set_error(std::string& error, std::string_view where, std::string_view what,
               const char* detail = nullptr) noexcept {
    try {
        error = in(where) + std::string(what);
        if (detail) error += std::string(": ") + detail;
    } catch (...) {
        error.clear();
    }
}

}  // namespace

std::optional<partstat> partstat_of_response(std::string_view response_type) {
    return partstat_of(xml::trim(response_type));
}

std::optional<calendar_item> parse_calendar_item(pugi::xml_node item, std::string_view mailbox,
                                                 std::string_view where, std::string& error) {
    try {
        if (!xml::is(item, t_ns, "CalendarItem")) {
            error = in(where) +
                    (item ? "the element " + xml::qualified(item) + " is not a t:CalendarItem"
                          : std::string("no element: not a t:CalendarItem"));
            return std::nullopt;
        }
        return item_reader(mailbox, where, {}).read(item);
    } catch (const std::exception& e) {
        set_error(error, where, "cannot read the calendar item", e.what());
    } catch (...) {
        set_error(error, where, "cannot read the calendar item");
    }
    return std::nullopt;
}

std::vector<calendar_item> parse_calendar_items(std::string_view body, std::string_view mailbox,
                                                std::string_view where, std::string& error) {
    error.clear();
    try {
        pugi::xml_document doc;
        const auto root = xml::load(body, max_get_item_bytes, doc, "Exchange servers");
        if (!root) {
            error = in(where) + root.error();
            return {};
        }
        // Every t:CalendarItem, in document order, without looking inside one (its
        // ConflictingMeetings and AdjacentMeetings hold CalendarItems of their own). Iterative:
        // the depth is xml::load's to bound, not the stack's.
        std::vector<pugi::xml_node> found;
        const pugi::xml_node top = *root;
        for (pugi::xml_node n = top; n;) {
            bool descend = true;
            if (n.type() == pugi::node_element && xml::is(n, t_ns, "CalendarItem")) {
                if (found.size() == max_items) {
                    error = in(where) + "the response holds more than " +
                            std::to_string(max_items) + " calendar items";
                    return {};
                }
                found.push_back(n);
                descend = false;
            }
            if (descend && n.first_child()) {
                n = n.first_child();
                continue;
            }
            while (n != top && !n.next_sibling()) n = n.parent();
            if (n == top) break;
            n = n.next_sibling();
        }
        std::vector<calendar_item> out;
        out.reserve(found.size());
        for (std::size_t i = 0; i < found.size(); ++i) {
            out.push_back(
                item_reader(mailbox, where, "item[" + std::to_string(i) + "]").read(found[i]));
        }
        return out;
    } catch (const std::exception& e) {
        set_error(error, where, "cannot read the response", e.what());
    } catch (...) {
        set_error(error, where, "cannot read the response");
    }
    return {};
}

}  // namespace agendad::calendar::ews
