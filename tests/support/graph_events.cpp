#include "support/graph_events.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

#include "calendar/ical/parse.h"
#include "calendar/invitation.h"
#include "support/files.h"

namespace agendad::test_support {
namespace {

namespace json = boost::json;
using calendar::invitation;
using calendar::partstat;
using calendar::time_point;

// --- the raw text: what the normalised invitation does not keep --------------------------------

// One content line: NAME;PARAMS:VALUE (a ':' inside a quoted parameter is not the separator).
struct content_line {
    std::string name;    // upper case
    std::string params;  // ";A=B;C=D" as written
    std::string value;
};

std::optional<content_line> split_line(const std::string& line) {
    bool quoted = false;
    std::size_t name_end = std::string::npos;
    for (std::size_t i = 0; i < line.size(); ++i) {
        const char c = line[i];
        if (c == '"') quoted = !quoted;
        if (quoted) continue;
        if ((c == ';' || c == ':') && name_end == std::string::npos) name_end = i;
        if (c == ':') {
            content_line l;
            l.name = line.substr(0, name_end);
            std::transform(l.name.begin(), l.name.end(), l.name.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::toupper(ch)); });
            l.params = line.substr(name_end, i - name_end);
            l.value = line.substr(i + 1);
            return l;
        }
    }
    return std::nullopt;
}

// RFC 5545 §3.3.11 TEXT unescaping.
std::string unescape_text(std::string_view v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) {
            const char n = v[++i];
            out += (n == 'n' || n == 'N') ? '\n' : n;
        } else {
            out += v[i];
        }
    }
    return out;
}

std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return s;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// What one VEVENT says that parse_ics does not keep.
struct raw_event {
    std::string uid;
    bool has_recurrence_id = false;
    std::string html;         // X-ALT-DESC;FMTTYPE=text/html, unescaped
    std::string busy_status;  // X-MICROSOFT-CDO-BUSYSTATUS, upper case
    std::string stamp;        // DTSTAMP as written
    bool attachments = false;
};

std::vector<raw_event> raw_events(std::string_view text) {
    // Unfold (RFC 5545 §3.1).
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string line(text.substr(pos, end - pos));
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !lines.empty()) {
            lines.back() += line.substr(1);
        } else {
            lines.push_back(std::move(line));
        }
    }
    std::vector<raw_event> out;
    int depth = 0;  // components nested in the VEVENT being read (VALARM): their lines are not its
    bool in_event = false;
    for (const auto& raw : lines) {
        const auto l = split_line(raw);
        if (!l) continue;
        const std::string value = upper(l->value);
        if (l->name == "BEGIN") {
            if (in_event) {
                ++depth;
            } else if (value == "VEVENT") {
                in_event = true;
                depth = 0;
                out.emplace_back();
            }
            continue;
        }
        if (l->name == "END") {
            if (in_event && depth > 0) {
                --depth;
            } else if (in_event && value == "VEVENT") {
                in_event = false;
            }
            continue;
        }
        if (!in_event || depth > 0) continue;
        raw_event& e = out.back();
        if (l->name == "UID") e.uid = l->value;
        if (l->name == "RECURRENCE-ID") e.has_recurrence_id = true;
        if (l->name == "X-ALT-DESC" && lower(l->params).find("text/html") != std::string::npos) {
            e.html = unescape_text(l->value);
        }
        if (l->name == "X-MICROSOFT-CDO-BUSYSTATUS") e.busy_status = value;
        if (l->name == "DTSTAMP") e.stamp = l->value;
        if (l->name == "ATTACH") e.attachments = true;
    }
    return out;
}

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

// DTSTAMP "20261120T080000Z" → "2026-11-20T08:00:00Z"; Graph's "no time" otherwise.
std::string response_time(const std::string& stamp) {
    if (stamp.size() < 15) return "0001-01-01T00:00:00Z";
    return stamp.substr(0, 4) + "-" + stamp.substr(4, 2) + "-" + stamp.substr(6, 2) + "T" +
           stamp.substr(9, 2) + ":" + stamp.substr(11, 2) + ":" + stamp.substr(13, 2) + "Z";
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

int weekday_of(std::string_view two_letters) {
    static constexpr std::string_view codes[] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
    for (int i = 0; i < 7; ++i) {
        if (codes[i] == two_letters) return i;
    }
    return -1;
}

const char* week_index_name(int n) {
    switch (n) {
        case 1:
            return "first";
        case 2:
            return "second";
        case 3:
            return "third";
        case 4:
            return "fourth";
        default:
            return "last";
    }
}

std::map<std::string, std::string> rule_parts(const std::string& rule) {
    std::map<std::string, std::string> parts;
    std::size_t pos = 0;
    while (pos <= rule.size()) {
        std::size_t end = rule.find(';', pos);
        if (end == std::string::npos) end = rule.size();
        const std::string part = rule.substr(pos, end - pos);
        if (const auto eq = part.find('='); eq != std::string::npos) {
            parts[upper(part.substr(0, eq))] = upper(part.substr(eq + 1));
        }
        pos = end + 1;
    }
    return parts;
}

std::vector<std::string> split_commas(const std::string& v) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < v.size()) {
        std::size_t end = v.find(',', pos);
        if (end == std::string::npos) end = v.size();
        out.push_back(v.substr(pos, end - pos));
        pos = end + 1;
    }
    return out;
}

// The RRULE as Graph's {pattern, range}. Graph's weekdays are in the series' time zone; the
// events are written in UTC, so a start whose UTC date differs from the organizer's date moves
// the weekdays (and the day of month) by that difference.
json::object recurrence_of(const invitation& inv, const std::string& file) {
    using namespace std::chrono;
    const auto& r = inv.recurrence;
    const auto parts = rule_parts(r.rule);
    const sys_days utc_day = floor<days>(inv.start);
    int shift = 0;
    if (inv.start_local.year != 0 && !inv.all_day) {
        const sys_days local_day{year{inv.start_local.year} /
                                 month{static_cast<unsigned>(inv.start_local.month)} /
                                 day{static_cast<unsigned>(inv.start_local.day)}};
        shift = static_cast<int>((utc_day - local_day).count());
    }
    const int start_weekday = static_cast<int>(weekday{utc_day}.c_encoding());
    const int interval = parts.count("INTERVAL") ? std::stoi(parts.at("INTERVAL")) : 1;

    // BYDAY entries: (ordinal or 0, weekday in UTC).
    std::vector<std::pair<int, int>> by_day;
    if (parts.count("BYDAY")) {
        for (const auto& d : split_commas(parts.at("BYDAY"))) {
            if (d.size() < 2) continue;
            const int wd = weekday_of(std::string_view(d).substr(d.size() - 2));
            if (wd < 0) throw std::runtime_error(file + ": BYDAY " + d + " cannot be read");
            const std::string ordinal = d.substr(0, d.size() - 2);
            by_day.emplace_back(ordinal.empty() ? 0 : std::stoi(ordinal), (wd + shift + 7) % 7);
        }
    }
    json::array days_of_week;
    for (const auto& [ordinal, wd] : by_day) days_of_week.emplace_back(weekday_names[wd]);
    if (days_of_week.empty()) days_of_week.emplace_back(weekday_names[start_weekday]);

    json::object pattern;
    pattern["interval"] = interval;
    pattern["month"] = 0;
    pattern["dayOfMonth"] = 0;
    pattern["firstDayOfWeek"] = parts.count("WKST") && weekday_of(parts.at("WKST")) >= 0
                                    ? weekday_names[weekday_of(parts.at("WKST"))]
                                    : "sunday";
    pattern["index"] = "first";
    const year_month_day ymd{utc_day};
    const std::string& freq = r.frequency;
    const bool relative = !by_day.empty() && (by_day.front().first != 0 || parts.count("BYSETPOS"));
    const int week = !by_day.empty() && by_day.front().first != 0
                         ? by_day.front().first
                         : (parts.count("BYSETPOS") ? std::stoi(parts.at("BYSETPOS")) : 1);
    const int month_day = parts.count("BYMONTHDAY")
                              ? std::stoi(parts.at("BYMONTHDAY")) + shift
                              : static_cast<int>(static_cast<unsigned>(ymd.day()));
    const int month_number = parts.count("BYMONTH")
                                 ? std::stoi(parts.at("BYMONTH"))
                                 : static_cast<int>(static_cast<unsigned>(ymd.month()));
    if (freq == "DAILY") {
        pattern["type"] = "daily";
    } else if (freq == "WEEKLY") {
        pattern["type"] = "weekly";
        pattern["daysOfWeek"] = days_of_week;
    } else if (freq == "MONTHLY" && relative) {
        pattern["type"] = "relativeMonthly";
        pattern["daysOfWeek"] = days_of_week;
        pattern["index"] = week_index_name(week);
    } else if (freq == "MONTHLY") {
        pattern["type"] = "absoluteMonthly";
        pattern["dayOfMonth"] = month_day;
    } else if (freq == "YEARLY" && relative) {
        pattern["type"] = "relativeYearly";
        pattern["daysOfWeek"] = days_of_week;
        pattern["index"] = week_index_name(week);
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

graph_event to_graph(const invitation& inv, const raw_event* raw, const std::string& owner,
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
    const std::string stamp_time = response_time(raw ? raw->stamp : "");

    json::object e;
    e["id"] = out.id;
    e["iCalUId"] = inv.uid;
    e["createdDateTime"] = stamp_time;
    e["lastModifiedDateTime"] = stamp_time;
    e["subject"] = inv.subject;
    const bool html = raw && !raw->html.empty();
    e["body"] = json::object{{"contentType", html ? "html" : "text"},
                             {"content", html ? raw->html : inv.description}};
    e["bodyPreview"] = inv.description.substr(0, 255);
    e["importance"] = "normal";
    e["sensitivity"] = "normal";
    e["hasAttachments"] = inv.has_attachments || (raw && raw->attachments);

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
    } else if (raw && raw->busy_status == "TENTATIVE") {
        show_as = "tentative";
    } else if (raw && raw->busy_status == "OOF") {
        show_as = "oof";
    } else if (raw && raw->busy_status == "WORKINGELSEWHERE") {
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
    auto parsed = calendar::parse_ics(ics, file, calendar::parse_options{mailbox});
    if (!parsed) throw std::runtime_error(parsed.error().to_string());
    if (!parsed->errors.empty()) throw std::runtime_error(parsed->errors.front().to_string());
    const auto raws = raw_events(ics);
    std::vector<graph_event> out;
    for (const auto& inv : parsed->events) {
        const raw_event* raw = nullptr;
        for (const auto& r : raws) {
            if (r.uid == inv.uid && r.has_recurrence_id == inv.recurrence_id.has_value()) {
                raw = &r;
                break;
            }
        }
        out.push_back(to_graph(inv, raw, mailbox, std::string(file)));
    }
    return out;
}

std::vector<graph_event> graph_events_from_file(const std::filesystem::path& file,
                                                std::string_view owner) {
    const std::string text = read_file(file);
    if (text.empty()) throw std::runtime_error(file.string() + ": cannot be read or is empty");
    return graph_events_from_ics(text, file.filename().string(), owner);
}

}  // namespace agendad::test_support
