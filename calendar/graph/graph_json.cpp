#include "calendar/graph/graph_json.h"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "calendar/encoding.h"
#include "calendar/html_to_text.h"
#include "calendar/ical/ical_ptr.h"
#include "calendar/time_zones.h"

// The readers catch what they could throw (allocation failures included) and turn it into an
// error: a Graph answer, however hostile, never unwinds into the daemon. Boost.JSON's parser is
// not recursive and is bounded in size and depth; nothing here recurses on the input either.

namespace agendad::calendar::graph {
namespace {

namespace json = boost::json;

// Graph nests events five levels deep (page, value, event, attendee, emailAddress); anything
// near this limit is not a Graph answer.
constexpr std::size_t max_depth = 64;
// Graph pages hold at most a few hundred items (Prefer: odata.maxpagesize); a hostile page of
// millions of "{}" must not become millions of events.
constexpr std::size_t max_page_items = 10'000;
constexpr std::size_t max_members = 100'000;
// Outlook meetings hold at most a few thousand attendees.
constexpr std::size_t max_attendees = 10'000;
// Per event: more warnings or problems than this say nothing new.
constexpr std::size_t max_notes = 50;
// Texts quoted in messages (ids, zone names, values) are cut to this many bytes.
constexpr std::size_t max_quoted = 120;
constexpr std::size_t max_error_message = 1000;
constexpr std::size_t max_error_code = 200;
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

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

using encoding::iequals;

// At most `limit` bytes of well-formed UTF-8: ill-formed sequences become U+FFFD and a cut
// never splits a character.
std::string clean_utf8(std::string_view s, std::size_t limit) {
    std::string out;
    out.reserve(std::min(s.size(), limit));
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        const std::size_t n = encoding::decode_utf8(s, i, cp);
        std::string piece;
        encoding::append_utf8(piece, cp);
        if (out.size() + piece.size() > limit) break;
        out += piece;
        i += n;
    }
    return out;
}

// A value quoted in a message: short, well-formed, no control characters.
std::string quoted(std::string_view s) {
    std::string out = clean_utf8(s, max_quoted);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    if (out.size() < s.size()) out += "…";
    return "'" + out + "'";
}

std::string_view view(const json::string& s) {
    return std::string_view(s.data(), s.size());
}

std::string to_std(const json::string& s) {
    return std::string(s.data(), s.size());
}

std::string_view kind_name(const json::value& v) {
    switch (v.kind()) {
        case json::kind::null:
            return "null";
        case json::kind::bool_:
            return v.get_bool() ? "true" : "false";
        case json::kind::int64:
        case json::kind::uint64:
        case json::kind::double_:
            return "a number";
        case json::kind::string:
            return "a string";
        case json::kind::array:
            return "an array";
        case json::kind::object:
            return "an object";
    }
    return "a value";
}

// Display names as the iCalendar parser leaves them: unquoted, trimmed, and empty when the
// "name" is only the address (Graph repeats the address when a contact has no name).
std::string clean_name(std::string_view raw) {
    std::string name = trim(raw);
    while (!name.empty() && (name.front() == '"' || name.front() == '\'')) name.erase(0, 1);
    while (!name.empty() && (name.back() == '"' || name.back() == '\'')) name.pop_back();
    name = trim(name);
    if (name.find('@') != std::string::npos && name.find(' ') == std::string::npos) return {};
    return name;
}

// ---------------------------------------------------------------------------------------------
// JSON

// Parses a whole body with a bounded size and depth. nullopt with `error` (no location prefix)
// when it is not one JSON value.
std::optional<json::value> parse_json(std::string_view text, std::string& error) {
    if (text.size() > max_json_bytes) {
        error = "the body is " + std::to_string(text.size()) + " bytes, over the limit of " +
                std::to_string(max_json_bytes);
        return std::nullopt;
    }
    if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a byte order mark
    json::parse_options options;
    options.max_depth = max_depth;
    json::stream_parser parser(json::storage_ptr(), options);
    json::error_code ec;
    const std::size_t used = parser.write(text.data(), text.size(), ec);
    if (!ec) parser.finish(ec);
    if (ec) {
        if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
            error = "the body is empty, not JSON";
        } else {
            error = "not JSON: " + ec.message() + " at byte " + std::to_string(used);
        }
        return std::nullopt;
    }
    return parser.release();
}

const json::value* field(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(json::string_view(key.data(), key.size()));
    return v && !v->is_null() ? v : nullptr;
}

// A string field of `o` that must be a string when present (null counts as absent).
std::optional<std::string> string_field(const json::object& o, std::string_view key) {
    const json::value* v = field(o, key);
    if (!v || !v->is_string()) return std::nullopt;
    return to_std(v->get_string());
}

// ---------------------------------------------------------------------------------------------
// Dates, times and zones

struct wall_clock {
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    bool has_time = false;
    std::optional<int> offset_minutes;  // "Z" or "+02:00" written after the time
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

// "2017-04-15", "2017-04-15T12:00:00.0000000", "2019-04-16T20:30:00Z",
// "2019-09-18T00:52:45.9696658+00:00". nullopt for anything else or an impossible date.
std::optional<wall_clock> parse_date_time(std::string_view s) {
    wall_clock w;
    std::size_t i = 0;
    if (!read_digits(s, i, 4, w.year) || !expect(s, i, '-') || !read_digits(s, i, 2, w.month) ||
        !expect(s, i, '-') || !read_digits(s, i, 2, w.day)) {
        return std::nullopt;
    }
    if (i < s.size() && (s[i] == 'T' || s[i] == 't' || s[i] == ' ')) {
        ++i;
        w.has_time = true;
        if (!read_digits(s, i, 2, w.hour) || !expect(s, i, ':') || !read_digits(s, i, 2, w.minute))
            return std::nullopt;
        if (i < s.size() && s[i] == ':') {
            ++i;
            if (!read_digits(s, i, 2, w.second)) return std::nullopt;
            if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
                ++i;
                const std::size_t first = i;
                while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - first < 12) ++i;
                if (i == first) return std::nullopt;
            }
        }
        if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
            ++i;
            w.offset_minutes = 0;
        } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
            const int sign = s[i] == '-' ? -1 : 1;
            ++i;
            int h = 0, m = 0;
            if (!read_digits(s, i, 2, h)) return std::nullopt;
            if (i < s.size() && s[i] == ':') ++i;
            if (!read_digits(s, i, 2, m) || h > 14 || m > 59) return std::nullopt;
            w.offset_minutes = sign * (h * 60 + m);
        }
    }
    if (i != s.size()) return std::nullopt;
    using namespace std::chrono;
    const year_month_day ymd{year{w.year}, month{static_cast<unsigned>(w.month)},
                             day{static_cast<unsigned>(w.day)}};
    if (!ymd.ok() || w.year < 1000 || w.hour > 23 || w.minute > 59 || w.second > 60)
        return std::nullopt;
    return w;
}

std::chrono::sys_days date_of(const wall_clock& w) {
    using namespace std::chrono;
    return sys_days{year{w.year} / month{static_cast<unsigned>(w.month)} /
                    day{static_cast<unsigned>(w.day)}};
}

// The wall-clock value read as UTC.
time_point as_utc(const wall_clock& w) {
    using namespace std::chrono;
    return time_point{date_of(w)} + hours{w.hour} + minutes{w.minute} + seconds{w.second};
}

// A name libical may turn into a path under /usr/share/zoneinfo: plain IANA names only.
bool safe_zone_name(std::string_view name) {
    if (name.empty() || name.size() > 64 || name.front() < 'A' || name.front() > 'Z') return false;
    if (name.find("..") != std::string_view::npos) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
               c == '+';
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
    for (std::string_view utc : {"UTC", "GMT", "Z", "Etc/UTC", "Etc/GMT", "Etc/Zulu", "Zulu",
                                 "Etc/Universal", "Universal", "tzone://Microsoft/Utc"}) {
        if (iequals(name, utc)) return true;
    }
    return false;
}

// A Graph timeZone: "UTC" (the default), a Windows name ("Pacific Standard Time", also what
// Prefer: outlook.timezone gives back) or an IANA name. Windows names resolve through CLDR.
zone_choice resolve_zone(std::string_view raw) {
    const std::string name = trim(raw);
    if (name.empty()) return {};
    if (is_utc_name(name)) return {true, nullptr};
    if (auto iana = windows_zone_to_iana(name)) {
        const std::string mapped(*iana);
        if (is_utc_name(mapped)) return {true, nullptr};
        if (icaltimezone* z = builtin_zone(mapped)) return {true, z};
    }
    if (icaltimezone* z = builtin_zone(name)) return {true, z};
    return {};
}

icaltimetype to_ical(const wall_clock& w, bool is_date) {
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

time_point from_time_t(time_t t) {
    return time_point{std::chrono::seconds{t}};
}

// Wall-clock time in `zone` (nullptr: UTC) → UTC.
time_point to_utc(const wall_clock& w, icaltimezone* zone) {
    if (!zone) return as_utc(w);
    const time_t t = icaltime_as_timet_with_zone(to_ical(w, false), zone);
    icalerror_clear_errno();
    return from_time_t(t);
}

// ---------------------------------------------------------------------------------------------
// Mappings

std::optional<partstat> partstat_of(std::string_view response) {
    if (iequals(response, "none") || iequals(response, "notResponded")) {
        return partstat::needs_action;
    }
    if (iequals(response, "accepted") || iequals(response, "organizer")) return partstat::accepted;
    if (iequals(response, "declined")) return partstat::declined;
    if (iequals(response, "tentativelyAccepted")) return partstat::tentative;
    return std::nullopt;
}

// "Monday" → "MO".
std::optional<std::string_view> weekday_code(std::string_view day) {
    static constexpr std::pair<std::string_view, std::string_view> days[] = {
        {"sunday", "SU"},   {"monday", "MO"}, {"tuesday", "TU"},  {"wednesday", "WE"},
        {"thursday", "TH"}, {"friday", "FR"}, {"saturday", "SA"},
    };
    for (const auto& [name, code] : days) {
        if (iequals(day, name)) return code;
    }
    return std::nullopt;
}

std::optional<int> week_index(std::string_view index) {
    static constexpr std::pair<std::string_view, int> indexes[] = {
        {"first", 1}, {"second", 2}, {"third", 3}, {"fourth", 4}, {"last", -1}};
    for (const auto& [name, n] : indexes) {
        if (iequals(index, name)) return n;
    }
    return std::nullopt;
}

bool is_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

// Outlook's GlobalObjectId in hex ([MS-OXOCAL] PidLidGlobalObjectId): a 16-byte class id, then
// the instance's date (YH YL M D), zero for the series, then the creation time and the data.
// Graph's iCalUId of an occurrence or exception carries that date; Outlook's iCalendar carries
// the series' id (date zero) with RECURRENCE-ID. Clearing the date gives the series' UID.
std::string series_uid(std::string_view ical_uid) {
    constexpr std::string_view class_id = "040000008200E00074C5B7101A82E008";
    constexpr std::size_t date_at = class_id.size(), date_size = 8;
    if (ical_uid.size() < date_at + date_size || !iequals(ical_uid.substr(0, date_at), class_id) ||
        !is_hex(ical_uid)) {
        return std::string(ical_uid);
    }
    std::string out(ical_uid);
    out.replace(date_at, date_size, date_size, '0');
    return out;
}

// ---------------------------------------------------------------------------------------------
// One event

enum class level { problem, warning };

class event_reader {
  public:
    event_reader(std::string_view mailbox, std::string_view where, std::string label)
        : mailbox_(normalize_address(mailbox)), where_(where), label_(std::move(label)) {}

    event read(const json::value& item) {
        ev_.inv.source.file = std::string(where_);
        if (!item.is_object()) {
            problem("is " + std::string(kind_name(item)) + ", not an event object");
            return std::move(ev_);
        }
        read_object(item.get_object());
        return std::move(ev_);
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
        if (ev_.problems.size() > max_notes) return;
        if (ev_.problems.size() == max_notes) message = "more problems not listed";
        // In a page, which item; a single event is named by `where` already.
        std::string prefix;
        if (!label_.empty()) {
            prefix = label_;
            if (!ev_.id.empty()) prefix += " (id " + quoted(ev_.id) + ")";
            prefix += ": ";
        }
        ev_.problems.push_back(diagnostic{std::string(where_), 0, 0, prefix + message});
    }

    void warn(std::string message) {
        auto& w = ev_.inv.warnings;
        if (w.size() > max_notes) return;
        if (w.size() == max_notes) message = "more warnings not listed";
        w.push_back(std::move(message));
    }

    // --- typed fields: a wrong type is reported at `l` and reads as absent

    const json::value* typed(const json::object& o, std::string_view key, std::string_view path,
                             json::kind want, level l) {
        const json::value* v = field(o, key);
        if (!v) return nullptr;
        const bool ok =
            want == json::kind::int64 ? (v->is_int64() || v->is_uint64()) : v->kind() == want;
        if (ok) return v;
        std::string_view wanted = "a string";
        if (want == json::kind::bool_) wanted = "true or false";
        if (want == json::kind::object) wanted = "an object";
        if (want == json::kind::array) wanted = "an array";
        if (want == json::kind::int64) wanted = "an integer";
        note(l, "'" + std::string(path) + "' is " + std::string(kind_name(*v)) + ", not " +
                    std::string(wanted));
        return nullptr;
    }

    std::optional<std::string> text(const json::object& o, std::string_view key,
                                    std::string_view path, level l = level::problem) {
        const json::value* v = typed(o, key, path, json::kind::string, l);
        if (!v) return std::nullopt;
        return to_std(v->get_string());
    }
    std::optional<bool> flag(const json::object& o, std::string_view key, std::string_view path,
                             level l = level::problem) {
        const json::value* v = typed(o, key, path, json::kind::bool_, l);
        if (!v) return std::nullopt;
        return v->get_bool();
    }
    const json::object* object(const json::object& o, std::string_view key, std::string_view path,
                               level l = level::problem) {
        const json::value* v = typed(o, key, path, json::kind::object, l);
        return v ? &v->get_object() : nullptr;
    }
    const json::array* array(const json::object& o, std::string_view key, std::string_view path,
                             level l = level::problem) {
        const json::value* v = typed(o, key, path, json::kind::array, l);
        return v ? &v->get_array() : nullptr;
    }
    std::optional<std::int64_t> integer(const json::object& o, std::string_view key,
                                        std::string_view path, level l = level::problem) {
        const json::value* v = typed(o, key, path, json::kind::int64, l);
        if (!v) return std::nullopt;
        if (v->is_int64()) return v->get_int64();
        const std::uint64_t u = v->get_uint64();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            note(l, "'" + std::string(path) + "' is out of range");
            return std::nullopt;
        }
        return static_cast<std::int64_t>(u);
    }

    // --- the event

    void read_object(const json::object& o) {
        invitation& inv = ev_.inv;
        if (auto id = text(o, "id", "id")) ev_.id = *id;
        if (field(o, "@removed")) {
            problem("is marked @removed: a deleted item, not an event");
            return;
        }
        if (trim(ev_.id).empty()) problem("has no id: agendad could not answer it");
        inv.source.item_id = ev_.id;

        if (auto key = text(o, "changeKey", "changeKey", level::warning)) {
            ev_.change_key = *key;
        } else if (auto etag = text(o, "@odata.etag", "@odata.etag", level::warning)) {
            // W/"EZ9r3czxY0m2jz8c45czkwAALZu97w==": the changeKey in an ETag's clothes.
            std::string_view e = *etag;
            if (e.substr(0, 2) == "W/") e.remove_prefix(2);
            if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
            ev_.change_key = std::string(e);
        }
        inv.source.change_key = ev_.change_key;

        if (auto type = text(o, "type", "type")) ev_.type = *type;
        if (auto master = text(o, "seriesMasterId", "seriesMasterId")) {
            ev_.series_master_id = *master;
        }
        const bool instance = ev_.type == "occurrence" || ev_.type == "exception";
        if (!ev_.type.empty() && !instance && ev_.type != "singleInstance" &&
            ev_.type != "seriesMaster") {
            warn("unknown event type " + quoted(ev_.type));
        }

        read_uid(o, instance);

        if (auto b = flag(o, "isOrganizer", "isOrganizer")) ev_.is_organizer = *b;
        if (auto b = flag(o, "isCancelled", "isCancelled")) ev_.is_cancelled = *b;
        const std::optional<bool> response_requested =
            flag(o, "responseRequested", "responseRequested");
        if (response_requested) ev_.response_requested = *response_requested;
        if (const json::object* status = object(o, "responseStatus", "responseStatus")) {
            if (auto r = text(*status, "response", "responseStatus.response")) ev_.response = *r;
        }
        if (ev_.is_cancelled) {
            inv.method = method::cancel;
            inv.status = event_status::cancelled;
        }
        inv.sequence = 0;  // Graph has no SEQUENCE; a new changeKey tells of a change

        if (auto s = text(o, "subject", "subject")) inv.subject = trim(*s);
        read_body(o);
        read_location(o);
        if (auto b = flag(o, "hasAttachments", "hasAttachments", level::warning)) {
            inv.has_attachments = *b;
        }
        if (auto show = text(o, "showAs", "showAs", level::warning)) {
            inv.transp = iequals(*show, "free") ? transparency::transparent : transparency::opaque;
        }

        read_organizer(o);
        read_attendees(o, response_requested);
        read_times(o, instance);
        if (const json::object* rec = object(o, "recurrence", "recurrence")) read_recurrence(*rec);
        read_owner(response_requested);
    }

    void read_uid(const json::object& o, bool instance) {
        invitation& inv = ev_.inv;
        if (auto uid = text(o, "iCalUId", "iCalUId")) ev_.ical_uid = trim(*uid);
        if (!ev_.ical_uid.empty()) {
            inv.uid = instance ? series_uid(ev_.ical_uid) : ev_.ical_uid;
            return;
        }
        // The beta (and newer v1.0) `uid`: the same for a whole series.
        if (auto uid = text(o, "uid", "uid"); uid && !trim(*uid).empty()) {
            inv.uid = trim(*uid);
            return;
        }
        if (!ev_.id.empty()) {
            inv.uid = ev_.id;
            warn("no iCalUId: the Graph id stands in for the UID");
        }
    }

    void read_body(const json::object& o) {
        invitation& inv = ev_.inv;
        if (const json::object* body = object(o, "body", "body")) {
            const std::string type = text(*body, "contentType", "body.contentType").value_or("");
            const std::string content = text(*body, "content", "body.content").value_or("");
            // Plain-text bodies that are HTML after all are read as HTML (as DESCRIPTION is).
            if (iequals(type, "html") || looks_like_html(content)) {
                // Not trimmed: the same text as the iCalendar parser makes of X-ALT-DESC.
                inv.description = html_to_text(content);
                if (trim(inv.description).empty()) inv.description.clear();
            } else {
                inv.description = trim(content);
            }
        }
        if (inv.description.empty()) {
            if (auto preview = text(o, "bodyPreview", "bodyPreview", level::warning)) {
                inv.description = trim(*preview);
            }
        }
    }

    void read_location(const json::object& o) {
        invitation& inv = ev_.inv;
        if (const json::object* loc = object(o, "location", "location", level::warning)) {
            if (auto name = text(*loc, "displayName", "location.displayName", level::warning)) {
                inv.location = trim(*name);
            }
        }
        if (!inv.location.empty()) return;
        const json::array* locations = array(o, "locations", "locations", level::warning);
        if (!locations) return;
        std::string joined;
        for (const json::value& l : *locations) {
            if (!l.is_object()) continue;
            auto name = string_field(l.get_object(), "displayName");
            if (!name || trim(*name).empty()) continue;
            if (!joined.empty()) joined += "; ";
            joined += trim(*name);
        }
        inv.location = std::move(joined);
    }

    // {"emailAddress": {"name": ..., "address": ...}} → address (normalised) and name.
    std::pair<std::string, std::string> email_of(const json::object& o, const std::string& path) {
        const json::object* email = object(o, "emailAddress", path + ".emailAddress");
        if (!email) return {};
        std::string address =
            normalize_address(text(*email, "address", path + ".emailAddress.address").value_or(""));
        std::string name = clean_name(
            text(*email, "name", path + ".emailAddress.name", level::warning).value_or(""));
        return {std::move(address), std::move(name)};
    }

    void read_organizer(const json::object& o) {
        const json::object* org = object(o, "organizer", "organizer");
        if (!org) return;
        auto [address, name] = email_of(*org, "organizer");
        ev_.inv.organizer.address = std::move(address);
        ev_.inv.organizer.name = std::move(name);
    }

    void read_attendees(const json::object& o, std::optional<bool> response_requested) {
        const json::array* list = array(o, "attendees", "attendees");
        if (!list) return;
        if (list->size() > max_attendees) {
            problem("has " + std::to_string(list->size()) + " attendees, more than " +
                    std::to_string(max_attendees) + " (not read)");
            return;
        }
        std::size_t index = 0;
        for (const json::value& item : *list) {
            const std::string path = "attendees[" + std::to_string(index++) + "]";
            if (!item.is_object()) {
                problem("'" + path + "' is " + std::string(kind_name(item)) + ", not an object");
                continue;
            }
            const json::object& a = item.get_object();
            attendee at;
            std::tie(at.address, at.name) = email_of(a, path);
            if (at.address.empty()) {
                warn(path + " has no address: left out");
                continue;
            }
            const std::string type = text(a, "type", path + ".type").value_or("");
            if (iequals(type, "required")) {
                at.role = role::required;
            } else if (iequals(type, "optional")) {
                at.role = role::optional;
            } else if (iequals(type, "resource")) {
                at.role = role::non_participant;
                at.cutype = "RESOURCE";
            } else if (!type.empty()) {
                at.role = role::other;
                warn(path + " has the unknown type " + quoted(type));
            }
            if (const json::object* status = object(a, "status", path + ".status")) {
                const std::string r =
                    text(*status, "response", path + ".status.response").value_or("");
                if (auto p = partstat_of(r)) {
                    at.partstat = *p;
                } else if (!r.empty()) {
                    at.partstat = partstat::other;
                    warn(path + " has the unknown response " + quoted(r));
                }
            }
            at.rsvp = response_requested;
            ev_.inv.attendees.push_back(std::move(at));
        }
    }

    // The mailbox's own entry. responseStatus is the mailbox's answer as Exchange keeps it (the
    // attendee list of an invitee's copy may lag behind), so it overrides the list's status.
    void read_owner(std::optional<bool> response_requested) {
        invitation& inv = ev_.inv;
        if (mailbox_.empty()) return;
        const std::optional<partstat> answer = partstat_of(ev_.response);
        if (!ev_.response.empty() && !answer) {
            warn("unknown responseStatus.response " + quoted(ev_.response) +
                 ": the attendee list's status is kept");
        }
        if (answer) {
            for (attendee& a : inv.attendees) {
                if (a.address == mailbox_) a.partstat = *answer;
            }
        }
        assign_owner(inv, mailbox_);
        if (inv.owner || ev_.is_organizer || inv.organizer.address == mailbox_ || !answer) return;
        // Invited through a group (or forwarded): Exchange still records the mailbox's answer.
        attendee me;
        me.address = mailbox_;
        me.partstat = *answer;
        me.rsvp = response_requested;
        inv.owner = std::move(me);
    }

    // --- times

    struct converted {
        wall_clock local;
        std::string zone_name;  // as written (trimmed)
        zone_choice zone;
        time_point utc{};
    };

    // {"dateTime": "2017-04-15T12:00:00.0000000", "timeZone": "Pacific Standard Time"}
    std::optional<converted> read_time(const json::object& o, std::string_view key) {
        const std::string k(key);
        const json::object* t = object(o, key, k);
        if (!t) return std::nullopt;
        const auto text_value = text(*t, "dateTime", k + ".dateTime");
        if (!text_value) {
            problem("'" + k + ".dateTime' is missing");
            return std::nullopt;
        }
        const auto w = parse_date_time(trim(*text_value));
        if (!w) {
            problem("'" + k + ".dateTime' is " + quoted(*text_value) + ", not a date and time");
            return std::nullopt;
        }
        if (w->year < first_year || w->year > last_year) {
            problem("'" + k + ".dateTime' is " + quoted(*text_value) + ", not in the years " +
                    std::to_string(first_year) + " to " + std::to_string(last_year));
            return std::nullopt;
        }
        converted c;
        c.local = *w;
        c.zone_name = trim(text(*t, "timeZone", k + ".timeZone").value_or(""));
        if (w->offset_minutes) {
            // The value says its own offset; the zone name is only a label then.
            c.zone = {true, nullptr};
            c.utc = as_utc(*w) - std::chrono::minutes{*w->offset_minutes};
            if (c.zone_name.empty()) c.zone_name = "UTC";
            return c;
        }
        if (c.zone_name.empty()) {
            warn("'" + k + ".timeZone' is missing: taken as UTC");
            c.zone = {true, nullptr};
            c.zone_name = "UTC";
        } else {
            c.zone = resolve_zone(c.zone_name);
            if (!c.zone.known) {
                warn("unknown time zone " + quoted(c.zone_name) + " in '" + k +
                     "': times taken as UTC");
            }
        }
        c.utc = to_utc(*w, c.zone.zone);
        return c;
    }

    // A start given in UTC (as "Prefer: outlook.timezone" asks for) is quoted in replies as
    // the organizer wrote it: the wall-clock time in originalStartTimeZone (Windows or IANA
    // name), labelled with that name as written, as the iCalendar parser gives it. An absent,
    // unknown or custom zone keeps the UTC wall clock.
    void organizer_wall_clock(const json::object& o) {
        invitation& inv = ev_.inv;
        const auto name = text(o, "originalStartTimeZone", "originalStartTimeZone", level::warning);
        if (!name) return;
        const std::string written = trim(*name);
        const zone_choice zone = resolve_zone(written);
        if (!zone.known || !zone.zone) return;
        const icaltimetype t = icaltime_from_timet_with_zone(
            static_cast<time_t>(inv.start.time_since_epoch().count()), 0, zone.zone);
        icalerror_clear_errno();
        if (icaltime_is_null_time(t) || t.year < first_year || t.year > last_year) return;
        inv.start_local = local_start{t.year, t.month, t.day, t.hour, t.minute, written};
    }

    void read_times(const json::object& o, bool instance) {
        invitation& inv = ev_.inv;
        if (auto b = flag(o, "isAllDay", "isAllDay")) inv.all_day = *b;
        const auto start = read_time(o, "start");
        if (!start) {
            inv.has_start = false;
            if (!field(o, "start")) problem("has no start: the meeting has no time");
            return;
        }
        start_ = start;
        if (inv.all_day) {
            // A date, the same day wherever the reader is (as DTSTART;VALUE=DATE).
            if (start->local.hour || start->local.minute || start->local.second) {
                warn("an all-day event whose start is not midnight: its date is used");
            }
            inv.start = time_point{date_of(start->local)};
            inv.start_local =
                local_start{start->local.year, start->local.month, start->local.day, 0, 0, {}};
        } else {
            inv.start = start->utc;
            inv.start_local = local_start{start->local.year, start->local.month,  start->local.day,
                                          start->local.hour, start->local.minute, start->zone_name};
            if (start->zone.known && !start->zone.zone) organizer_wall_clock(o);
        }

        if (auto end = read_time(o, "end")) {
            inv.end = inv.all_day ? time_point{date_of(end->local)} : end->utc;
        } else if (!field(o, "end")) {
            inv.end = inv.all_day ? inv.start + std::chrono::days{1} : inv.start;
        } else {
            inv.end = inv.start;  // the problem is reported
        }
        if (inv.end < inv.start) {
            warn("the event ends before it starts: end taken as the start");
            inv.end = inv.start;
        }

        if (!instance) return;
        if (auto original = text(o, "originalStart", "originalStart")) {
            const auto w = parse_date_time(trim(*original));
            if (!w || !w->has_time) {
                problem("'originalStart' is " + quoted(*original) + ", not a date and time");
                return;
            }
            // DateTimeOffset, always UTC by the documentation; an offset is honoured.
            inv.recurrence_id = as_utc(*w) - std::chrono::minutes{w->offset_minutes.value_or(0)};
            return;
        }
        // Without originalStart ($select left it out): an occurrence is where the series put it;
        // an exception may have moved, so its start is only the best guess.
        inv.recurrence_id = inv.start;
        if (ev_.type == "exception") {
            warn("an exception without originalStart: its start stands for its recurrence id");
        }
    }

    // --- recurrence

    void read_recurrence(const json::object& rec) {
        invitation& inv = ev_.inv;
        const json::object* pattern = object(rec, "pattern", "recurrence.pattern");
        if (!pattern) {
            problem("'recurrence' has no pattern");
            return;
        }
        const std::string type = text(*pattern, "type", "recurrence.pattern.type").value_or("");
        const std::int64_t interval =
            integer(*pattern, "interval", "recurrence.pattern.interval").value_or(1);
        // Graph writes 0 for the numbers a pattern does not use.
        const std::int64_t day_of_month =
            integer(*pattern, "dayOfMonth", "recurrence.pattern.dayOfMonth").value_or(0);
        const std::int64_t month =
            integer(*pattern, "month", "recurrence.pattern.month").value_or(0);
        const std::string index = text(*pattern, "index", "recurrence.pattern.index").value_or("");
        const std::string first_day =
            text(*pattern, "firstDayOfWeek", "recurrence.pattern.firstDayOfWeek").value_or("");

        std::vector<std::string_view> days;
        if (const json::array* list =
                array(*pattern, "daysOfWeek", "recurrence.pattern.daysOfWeek")) {
            for (const json::value& d : *list) {
                std::optional<std::string_view> code;
                if (d.is_string()) code = weekday_code(view(d.get_string()));
                if (!code) {
                    problem(
                        "'recurrence.pattern.daysOfWeek' holds " +
                        (d.is_string() ? quoted(view(d.get_string())) : std::string(kind_name(d))) +
                        ", not a day of the week");
                    return;
                }
                if (std::find(days.begin(), days.end(), *code) == days.end()) {
                    days.push_back(*code);
                }
            }
        }

        std::string frequency;
        bool relative = false;
        if (iequals(type, "daily")) {
            frequency = "DAILY";
        } else if (iequals(type, "weekly")) {
            frequency = "WEEKLY";
        } else if (iequals(type, "absoluteMonthly")) {
            frequency = "MONTHLY";
        } else if (iequals(type, "relativeMonthly")) {
            frequency = "MONTHLY";
            relative = true;
        } else if (iequals(type, "absoluteYearly")) {
            frequency = "YEARLY";
        } else if (iequals(type, "relativeYearly")) {
            frequency = "YEARLY";
            relative = true;
        } else {
            problem("'recurrence.pattern.type' is " + quoted(type) +
                    ", not a recurrence pattern agendad knows");
            return;
        }
        if (interval < 1 || interval > 1000) {
            problem("'recurrence.pattern.interval' is " + std::to_string(interval) +
                    ", not between 1 and 1000");
            return;
        }
        if (day_of_month < 0 || day_of_month > 31) {
            problem("'recurrence.pattern.dayOfMonth' is " + std::to_string(day_of_month));
            return;
        }
        if (month < 0 || month > 12) {
            problem("'recurrence.pattern.month' is " + std::to_string(month));
            return;
        }
        if (relative && days.empty()) {
            problem("a " + type + " recurrence without daysOfWeek");
            return;
        }
        std::optional<int> week = 1;  // Graph's default index is "first"
        if (!index.empty()) week = week_index(index);
        if (!week) {
            problem("'recurrence.pattern.index' is " + quoted(index));
            return;
        }

        // The range.
        recurrence_info r;
        r.frequency = frequency;
        std::string bound;
        const json::object* range = object(rec, "range", "recurrence.range");
        const std::string range_type =
            range ? text(*range, "type", "recurrence.range.type").value_or("") : "noEnd";
        if (!range) warn("'recurrence' has no range: taken as without end");
        if (iequals(range_type, "noEnd")) {
            r.kind = recurrence_info::bound::open_ended;
        } else if (iequals(range_type, "endDate")) {
            const std::string end =
                text(*range, "endDate", "recurrence.range.endDate").value_or("");
            const auto w = parse_date_time(trim(end));
            if (!w || w->has_time) {
                problem("'recurrence.range.endDate' is " + quoted(end) + ", not a date");
                return;
            }
            r.kind = recurrence_info::bound::until;
            r.until = until_of(*w, *range);
            char buf[16];
            std::snprintf(buf, sizeof buf, "%04d%02d%02d", w->year, w->month, w->day);
            bound = std::string(";UNTIL=") + buf;
        } else if (iequals(range_type, "numbered")) {
            const auto n =
                integer(*range, "numberOfOccurrences", "recurrence.range.numberOfOccurrences");
            if (!n || *n < 1 || *n > 1'000'000) {
                problem("'recurrence.range.numberOfOccurrences' is " +
                        (n ? std::to_string(*n) : std::string("missing")) +
                        " in a numbered recurrence");
                return;
            }
            r.kind = recurrence_info::bound::count;
            r.count = static_cast<int>(*n);
            bound = ";COUNT=" + std::to_string(*n);
        } else {
            problem("'recurrence.range.type' is " + quoted(range_type) +
                    ", not endDate, noEnd or numbered");
            return;
        }

        // The rule, in the order libical writes an RRULE, so that the same series read from
        // iCalendar reads the same.
        std::string rule = "FREQ=" + frequency + bound;
        if (interval != 1) rule += ";INTERVAL=" + std::to_string(interval);
        auto join_days = [&](std::string_view prefix) {
            std::string out;
            for (auto d : days) {
                if (!out.empty()) out += ',';
                out += std::string(prefix) + std::string(d);
            }
            return out;
        };
        if (relative) {
            if (days.size() == 1) {
                rule += ";BYDAY=" + join_days(std::to_string(*week));
            } else {
                rule += ";BYDAY=" + join_days("");
            }
        } else if (!days.empty() && frequency == "WEEKLY") {
            rule += ";BYDAY=" + join_days("");
        }
        if (!relative && day_of_month > 0 && (frequency == "MONTHLY" || frequency == "YEARLY")) {
            rule += ";BYMONTHDAY=" + std::to_string(day_of_month);
        }
        if (frequency == "YEARLY" && month > 0) {
            rule += ";BYMONTH=" + std::to_string(month);
        }
        if (relative && days.size() > 1) rule += ";BYSETPOS=" + std::to_string(*week);
        if (frequency == "WEEKLY" && !first_day.empty()) {
            const auto code = weekday_code(first_day);
            if (!code) {
                warn("'recurrence.pattern.firstDayOfWeek' is " + quoted(first_day) + ": ignored");
            } else if (*code != "MO") {
                rule += ";WKST=" + std::string(*code);
            }
        }
        r.rule = std::move(rule);
        if (r.kind == recurrence_info::bound::count) r.last_start = last_start_of(r);
        inv.recurrence = std::move(r);
    }

    // The zone a series' dates are in: recurrenceTimeZone, else the start's.
    zone_choice series_zone(const json::object& range) {
        if (auto name = text(range, "recurrenceTimeZone", "recurrence.range.recurrenceTimeZone",
                             level::warning);
            name && !trim(*name).empty()) {
            const zone_choice z = resolve_zone(*name);
            if (z.known) return z;
            warn("unknown recurrenceTimeZone " + quoted(*name) + ": the start's zone is used");
        }
        return start_ ? start_->zone : zone_choice{true, nullptr};
    }

    // An end date includes that whole day in the series' zone (as UNTIL=<date> in iCalendar): a
    // weekly 17:00 Pacific meeting ending 2026-12-15 still meets on the 15th (01:00Z the 16th).
    time_point until_of(const wall_clock& end_date, const json::object& range) {
        using namespace std::chrono;
        const time_point next_day{date_of(end_date) + days{1}};
        if (ev_.inv.all_day || end_date.year > last_year) return next_day;
        const zone_choice z = series_zone(range);
        if (!z.zone) return next_day;
        const year_month_day d{floor<days>(next_day)};
        wall_clock midnight;
        midnight.year = static_cast<int>(d.year());
        midnight.month = static_cast<int>(static_cast<unsigned>(d.month()));
        midnight.day = static_cast<int>(static_cast<unsigned>(d.day()));
        return to_utc(midnight, z.zone);
    }

    // The start of the last occurrence of a numbered series, walking the rule from the start.
    std::optional<time_point> last_start_of(const recurrence_info& r) const {
        if (!start_ || r.count <= 0 || r.count > max_count_walk) return std::nullopt;
        ical::ensure_initialised();
        const icalrecurrencetype rule = icalrecurrencetype_from_string(r.rule.c_str());
        icalerror_clear_errno();
        if (rule.freq == ICAL_NO_RECURRENCE) return std::nullopt;
        const bool is_date = ev_.inv.all_day;
        icaltimetype first = to_ical(start_->local, is_date);
        icaltimezone* zone = start_->zone.zone;
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
        using namespace std::chrono;
        if (is_date) {
            return time_point{sys_days{year{last.year} / month{static_cast<unsigned>(last.month)} /
                                       day{static_cast<unsigned>(last.day)}}};
        }
        if (!zone) {
            wall_clock w;
            w.year = last.year;
            w.month = last.month;
            w.day = last.day;
            w.hour = last.hour;
            w.minute = last.minute;
            w.second = last.second;
            return as_utc(w);
        }
        const time_t t = icaltime_as_timet_with_zone(last, zone);
        icalerror_clear_errno();
        return from_time_t(t);
    }

    std::string mailbox_;
    std::string_view where_;
    std::string label_;  // "value[3]" in a page, empty for a single event
    event ev_;
    std::optional<converted> start_;
};

event read_event(const json::value& item, std::string_view mailbox, std::string_view where,
                 std::string label) {
    return event_reader(mailbox, where, std::move(label)).read(item);
}

std::string in(std::string_view where) {
    return where.empty() ? std::string() : std::string(where) + ": ";
}

// "@odata.nextLink" and the like: a string when present; anything else breaks the paging.
bool read_link(const json::object& o, std::string_view key, std::string& out, std::string& error,
               std::string_view where) {
    const json::value* v = field(o, key);
    if (!v) return true;
    if (!v->is_string()) {
        error = in(where) + "'" + std::string(key) + "' is " + std::string(kind_name(*v)) +
                ", not a URL";
        return false;
    }
    out = to_std(v->get_string());
    return true;
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

std::optional<event> parse_event(std::string_view body, std::string_view mailbox,
                                 std::string_view where, std::string& error) {
    try {
        std::string why;
        auto value = parse_json(body, why);
        if (!value) {
            error = in(where) + why;
            return std::nullopt;
        }
        if (!value->is_object()) {
            error = in(where) + "the body is " + std::string(kind_name(*value)) +
                    ", not an event object";
            return std::nullopt;
        }
        return read_event(*value, mailbox, where, {});
    } catch (const std::exception& e) {
        set_error(error, where, "cannot read the event", e.what());
    } catch (...) {
        set_error(error, where, "cannot read the event");
    }
    return std::nullopt;
}

parsed_page parse_event_page(std::string_view body, std::string_view mailbox,
                             std::string_view where) {
    parsed_page out;
    try {
        std::string why;
        auto value = parse_json(body, why);
        if (!value) {
            out.error = in(where) + why;
            return out;
        }
        if (!value->is_object()) {
            out.error =
                in(where) + "the body is " + std::string(kind_name(*value)) + ", not a Graph page";
            return out;
        }
        const json::object& o = value->get_object();
        const json::value* items = field(o, "value");
        if (!items || !items->is_array()) {
            out.error = in(where) +
                        (items ? "'value' is " + std::string(kind_name(*items)) + ", not an array"
                               : std::string("no 'value' array: not a Graph page"));
            return out;
        }
        const json::array& list = items->get_array();
        if (list.size() > max_page_items) {
            out.error = in(where) + "the page holds " + std::to_string(list.size()) +
                        " items, more than " + std::to_string(max_page_items);
            return out;
        }
        page p;
        if (!read_link(o, "@odata.nextLink", p.next_link, out.error, where) ||
            !read_link(o, "@odata.deltaLink", p.delta_link, out.error, where)) {
            return out;
        }
        std::size_t index = 0;
        for (const json::value& item : list) {
            const std::string label = "value[" + std::to_string(index++) + "]";
            if (item.is_object() && field(item.get_object(), "@removed")) {
                // {"@odata.type": ..., "id": ..., "@removed": {"reason": "deleted"}}
                auto id = string_field(item.get_object(), "id");
                if (id && !id->empty()) {
                    p.removed.push_back(std::move(*id));
                    continue;
                }
            }
            p.events.push_back(read_event(item, mailbox, where, label));
        }
        out.value = std::move(p);
    } catch (const std::exception& e) {
        out.value.reset();
        set_error(out.error, where, "cannot read the page", e.what());
    } catch (...) {
        out.value.reset();
        set_error(out.error, where, "cannot read the page");
    }
    return out;
}

std::optional<graph_error> parse_error(std::string_view body) {
    try {
        std::string why;
        auto value = parse_json(body, why);
        if (!value || !value->is_object()) return std::nullopt;
        const json::object& o = value->get_object();
        const json::value* e = field(o, "error");
        if (!e) return std::nullopt;
        graph_error out;
        if (e->is_object()) {
            // Graph: {"error": {"code": "ErrorAccessDenied", "message": "...", "innerError": {}}}
            const json::object& inner = e->get_object();
            out.code = string_field(inner, "code").value_or("");
            out.message = string_field(inner, "message").value_or("");
        } else if (e->is_string()) {
            // The identity platform: {"error": "invalid_client", "error_description": "..."}
            out.code = to_std(e->get_string());
            out.message = string_field(o, "error_description").value_or("");
        } else {
            return std::nullopt;
        }
        out.code = clean_utf8(trim(out.code), max_error_code);
        const std::string message = trim(out.message);
        out.message = clean_utf8(message, max_error_message);
        if (out.message.size() < message.size()) out.message += "…";
        return out;
    } catch (...) {
        return std::nullopt;
    }
}

std::optional<member_page> parse_member_page(std::string_view body, std::string& error) {
    try {
        std::string why;
        auto value = parse_json(body, why);
        if (!value) {
            error = why;
            return std::nullopt;
        }
        const json::object* o = value->if_object();
        const json::value* items = o ? field(*o, "value") : nullptr;
        if (!items || !items->is_array()) {
            error = "not a page of group members (no 'value' array)";
            return std::nullopt;
        }
        const json::array& list = items->get_array();
        if (list.size() > max_members) {
            error = "the page holds " + std::to_string(list.size()) + " members, more than " +
                    std::to_string(max_members);
            return std::nullopt;
        }
        member_page out;
        if (!read_link(*o, "@odata.nextLink", out.next_link, error, {})) return std::nullopt;
        for (const json::value& item : list) {
            const json::object* m = item.if_object();
            if (!m) continue;
            if (auto type = string_field(*m, "@odata.type");
                type && !iequals(*type, "#microsoft.graph.user")) {
                continue;  // a group, device or contact among transitive members
            }
            member entry;
            entry.id = trim(string_field(*m, "id").value_or(""));
            std::string address = normalize_address(string_field(*m, "mail").value_or(""));
            if (address.empty()) {
                address = normalize_address(string_field(*m, "userPrincipalName").value_or(""));
            }
            if (address.empty()) continue;
            entry.address = std::move(address);
            out.members.push_back(std::move(entry));
        }
        return out;
    } catch (const std::exception& e) {
        set_error(error, {}, "cannot read the member page", e.what());
    } catch (...) {
        set_error(error, {}, "cannot read the member page");
    }
    return std::nullopt;
}

std::string response_body(std::string_view comment, bool send_response) {
    json::object o;
    const std::string text = clean_utf8(comment, comment.size() * 3 + 4);
    o["comment"] = json::string(text.data(), text.size());
    o["sendResponse"] = send_response;
    return json::serialize(o);
}

}  // namespace agendad::calendar::graph
