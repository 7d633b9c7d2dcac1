// The invitation as parse_ics normalises it gives almost everything; what it does not keep (the
// HTML body, Outlook's busy status, DTSTAMP, attachments) comes from support/ics_extras.h, read
// through libical as the EWS converter reads it.
#include "support/graph_events.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <utility>

#include "calendar/invitation.h"
#include "support/ics_extras.h"

namespace agendad::test_support {
namespace {

namespace json = boost::json;
using calendar::invitation;
using calendar::partstat;
using calendar::time_point;

// --- values --------------------------------------------------------------------------------

std::uint64_t fnv1a(std::string_view text, std::uint64_t seed = 14695981039346656037ULL) {
    std::uint64_t h = seed;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

std::string hex64(std::uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
}

// "2026-11-24T18:00:00.0000000", as Graph writes dateTime.
std::string graph_date_time(time_point t) {
    std::string s = calendar::format_utc(t);  // "2026-11-24T18:00:00Z"
    s.pop_back();
    return s + ".0000000";
}

json::object date_time_zone(time_point t) {
    return json::object{{"dateTime", graph_date_time(t)}, {"timeZone", "UTC"}};
}

// An attendee's status.response as Graph writes it.
std::string attendee_response(partstat p) {
    switch (p) {
        case partstat::accepted:
            return "accepted";
        case partstat::declined:
            return "declined";
        case partstat::tentative:
            return "tentativelyAccepted";
        default:
            return "none";
    }
}

std::string attendee_type(const calendar::attendee& a) {
    if (a.cutype == "ROOM" || a.cutype == "RESOURCE") return "resource";
    if (a.role == calendar::role::optional || a.role == calendar::role::non_participant) {
        return "optional";
    }
    return "required";
}

// --- recurrence ----------------------------------------------------------------------------

const char* const weekday_names[] = {"sunday",   "monday", "tuesday", "wednesday",
                                     "thursday", "friday", "saturday"};

const char* const week_names[] = {"first", "second", "third", "fourth", "last"};

// The RRULE as Graph's {pattern, range}. Graph's weekdays are in the series' time zone; the
// events are written in UTC, so a start whose UTC date differs from the organizer's date moves
// the weekdays (and the day of month) by that difference.
json::object recurrence_of(const invitation& inv, const std::string& file) {
    using namespace std::chrono;
    const auto& r = inv.recurrence;
    const rrule_fields rule = read_rrule(inv, file);
    const sys_days utc_day = floor<days>(inv.start);
    int shift = 0;
    if (rule.local_start_day && !inv.all_day) {
        shift = static_cast<int>((utc_day - *rule.local_start_day).count());
    }
    const int start_weekday = static_cast<int>(weekday{utc_day}.c_encoding());

    json::array days_of_week;  // in UTC
    for (const auto& [ordinal, wd] : rule.by_day) {
        days_of_week.emplace_back(weekday_names[(wd + shift + 7) % 7]);
    }
    if (days_of_week.empty()) days_of_week.emplace_back(weekday_names[start_weekday]);

    json::object pattern;
    pattern["interval"] = rule.interval;
    pattern["month"] = 0;
    pattern["dayOfMonth"] = 0;
    pattern["firstDayOfWeek"] =
        rule.first_day_of_week >= 0 ? weekday_names[rule.first_day_of_week] : "sunday";
    pattern["index"] = "first";
    const year_month_day ymd{utc_day};
    const std::string& freq = r.frequency;
    const bool relative = rule.relative;
    const int month_day = rule.month_day ? *rule.month_day + shift
                                         : static_cast<int>(static_cast<unsigned>(ymd.day()));
    const int month_number =
        rule.month.value_or(static_cast<int>(static_cast<unsigned>(ymd.month())));
    if (freq == "DAILY") {
        pattern["type"] = "daily";
    } else if (freq == "WEEKLY") {
        pattern["type"] = "weekly";
        pattern["daysOfWeek"] = days_of_week;
    } else if (freq == "MONTHLY" && relative) {
        pattern["type"] = "relativeMonthly";
        pattern["daysOfWeek"] = days_of_week;
        pattern["index"] = week_names[rule.week_slot()];
    } else if (freq == "MONTHLY") {
        pattern["type"] = "absoluteMonthly";
        pattern["dayOfMonth"] = month_day;
    } else if (freq == "YEARLY" && relative) {
        pattern["type"] = "relativeYearly";
        pattern["daysOfWeek"] = days_of_week;
        pattern["index"] = week_names[rule.week_slot()];
        pattern["month"] = month_number;
    } else if (freq == "YEARLY") {
        pattern["type"] = "absoluteYearly";
        pattern["dayOfMonth"] = month_day;
        pattern["month"] = month_number;
    } else {
        throw std::runtime_error(file + ": RRULE " + r.rule + ": no Graph pattern for it");
    }
    if (!pattern.contains("daysOfWeek")) pattern["daysOfWeek"] = json::array{};

    json::object range;
    range["startDate"] = calendar::format_date(inv.start);
    range["recurrenceTimeZone"] = "UTC";
    range["numberOfOccurrences"] = 0;
    range["endDate"] = "0001-01-01";
    switch (r.kind) {
        case calendar::recurrence_info::bound::count:
            range["type"] = "numbered";
            range["numberOfOccurrences"] = r.count;
            break;
        case calendar::recurrence_info::bound::until:
            range["type"] = "endDate";
            range["endDate"] = calendar::format_date(r.until.value_or(inv.start));
            break;
        default:
            range["type"] = "noEnd";
            break;
    }
    return json::object{{"pattern", std::move(pattern)}, {"range", std::move(range)}};
}

// --- the event -----------------------------------------------------------------------------

json::object email_address(const std::string& name, const std::string& address) {
    return json::object{{"name", name.empty() ? address : name}, {"address", address}};
}

graph_event to_graph(const invitation& inv, const ics_extras& x, const std::string& owner,
                     const std::string& file) {
    if (inv.uid.empty()) throw std::runtime_error(file + ": an event without UID");
    if (!inv.has_start) throw std::runtime_error(file + ": an event without DTSTART");
    graph_event out;
    out.uid = inv.uid;
    const std::string recurrence_id =
        inv.recurrence_id ? [&] {
            std::string s = calendar::format_utc(*inv.recurrence_id);  // 2026-11-24T18:00:00Z
            s.erase(std::remove(s.begin(), s.end(), '-'), s.end());
            s.erase(std::remove(s.begin(), s.end(), ':'), s.end());
            return s;
        }()
                          : std::string();
    out.id = graph_event_id(inv.uid, recurrence_id);

    const bool owner_organizes = !inv.organizer.address.empty() && inv.organizer.address == owner;
    const bool cancelled =
        inv.method == calendar::method::cancel || inv.status == calendar::event_status::cancelled;
    // DTSTAMP, or Graph's "no time".
    const std::string stamp_time = x.stamp.empty() ? "0001-01-01T00:00:00Z" : x.stamp;

    json::object e;
    e["id"] = out.id;
    e["iCalUId"] = inv.uid;
    e["createdDateTime"] = stamp_time;
    e["lastModifiedDateTime"] = stamp_time;
    e["subject"] = inv.subject;
    const bool html = !x.html.empty();
    e["body"] = json::object{{"contentType", html ? "html" : "text"},
                             {"content", html ? x.html : inv.description}};
    e["bodyPreview"] = inv.description.substr(0, 255);
    e["importance"] = "normal";
    e["sensitivity"] = "normal";
    e["hasAttachments"] = inv.has_attachments || x.attachments;

    json::object organizer;
    if (!inv.organizer.address.empty()) {
        organizer["emailAddress"] = email_address(inv.organizer.name, inv.organizer.address);
    }
    e["organizer"] = std::move(organizer);

    json::array attendees;
    const calendar::attendee* me = nullptr;
    for (const auto& a : inv.attendees) {
        if (a.address == owner) me = &a;
        const bool answered = a.partstat == partstat::accepted ||
                              a.partstat == partstat::declined || a.partstat == partstat::tentative;
        attendees.push_back(json::object{
            {"type", attendee_type(a)},
            {"status", json::object{{"response", attendee_response(a.partstat)},
                                    {"time", answered ? stamp_time : "0001-01-01T00:00:00Z"}}},
            {"emailAddress", email_address(a.name, a.address)}});
    }
    e["attendees"] = std::move(attendees);

    e["start"] = date_time_zone(inv.start);
    e["end"] = date_time_zone(inv.has_start && inv.end > inv.start ? inv.end : inv.start);
    // Times in UTC (as Graph answers with Prefer: outlook.timezone="UTC"); the organizer's zone
    // as Graph keeps it.
    const std::string zone = inv.start_local.zone.empty() ? "UTC" : inv.start_local.zone;
    e["originalStartTimeZone"] = zone;
    e["originalEndTimeZone"] = zone;
    e["isAllDay"] = inv.all_day;
    e["isCancelled"] = cancelled;
    e["isOrganizer"] = owner_organizes;
    e["responseRequested"] = owner_organizes || !me || inv.response_requested();

    std::string response = "none";
    std::string response_at = "0001-01-01T00:00:00Z";
    if (owner_organizes) {
        response = "organizer";
    } else if (me) {
        switch (me->partstat) {
            case partstat::accepted:
                response = "accepted";
                break;
            case partstat::declined:
                response = "declined";
                break;
            case partstat::tentative:
                response = "tentativelyAccepted";
                break;
            default:
                response = "notResponded";
                break;
        }
        if (response != "notResponded") response_at = stamp_time;
    }
    e["responseStatus"] = json::object{{"response", response}, {"time", response_at}};

    if (inv.recurrence_id) {
        e["type"] = "exception";
        e["seriesMasterId"] = graph_event_id(inv.uid);
        e["originalStart"] = calendar::format_utc(*inv.recurrence_id);
        e["recurrence"] = nullptr;
    } else if (inv.is_recurring()) {
        e["type"] = "seriesMaster";
        e["recurrence"] = recurrence_of(inv, file);
    } else {
        e["type"] = "singleInstance";
        e["recurrence"] = nullptr;
    }

    std::string show_as = "busy";
    if (inv.transp == calendar::transparency::transparent) {
        show_as = "free";
    } else if (x.busy_status == "TENTATIVE") {
        show_as = "tentative";
    } else if (x.busy_status == "OOF") {
        show_as = "oof";
    } else if (x.busy_status == "WORKINGELSEWHERE") {
        show_as = "workingElsewhere";
    }
    e["showAs"] = show_as;
    json::object location{{"displayName", inv.location}, {"locationType", "default"}};
    e["location"] = location;
    e["locations"] = inv.location.empty() ? json::array{} : json::array{location};

    // A changeKey that changes whenever anything else does.
    const std::string content = json::serialize(e);
    e["changeKey"] = hex64(fnv1a(content)) + hex64(fnv1a(content, 0x9e3779b97f4a7c15ULL));
    e["@odata.etag"] = "W/\"" + std::string(e["changeKey"].as_string()) + "\"";
    out.json = json::serialize(e);
    return out;
}

}  // namespace

std::string graph_event_id(std::string_view uid, std::string_view recurrence_id) {
    std::string key(uid);
    if (!recurrence_id.empty()) key += "#" + std::string(recurrence_id);
    return "AAMkADtest" + hex64(fnv1a(key)) + hex64(fnv1a(key, 0x84222325cbf29ce4ULL));
}

std::vector<graph_event> graph_events_from_ics(std::string_view ics, std::string_view file,
                                               std::string_view owner) {
    const std::string mailbox = calendar::normalize_address(owner);
    std::vector<graph_event> out;
    for (const auto& e : read_ics_events(ics, file, mailbox)) {
        out.push_back(to_graph(e.inv, e.extras, mailbox, std::string(file)));
    }
    return out;
}

std::vector<graph_event> graph_events_from_file(const std::filesystem::path& file,
                                                std::string_view owner) {
    return graph_events_from_ics(read_ics_file(file), file.filename().string(), owner);
}

}  // namespace agendad::test_support
