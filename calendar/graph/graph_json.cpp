#include "calendar/graph/graph_json.h"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <tuple>
#include <utility>

#include "calendar/encoding.h"
#include "calendar/exchange_common.h"
#include "calendar/html_to_text.h"

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
constexpr std::size_t max_error_message = 1000;
constexpr std::size_t max_error_code = 200;

using encoding::iequals;
// What Graph and EWS share: exchange_common.h.
using namespace exchange;

// ---------------------------------------------------------------------------------------------
// JSON

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
        const auto bad = encoding::first_invalid_utf8(text);
        if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) {
            error = "the body is empty, not JSON";
        } else if (bad != std::string_view::npos && bad <= used) {
            // Boost.JSON calls it a syntax error; the text is JSON, its bytes are not UTF-8.
            error = "not valid UTF-8 at byte " + std::to_string(bad);
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

// ---------------------------------------------------------------------------------------------
// One event

class event_reader : exchange::item_reader_base<event> {
  public:
    event_reader(std::string_view mailbox, std::string_view where, std::string label)
        : item_reader_base(mailbox, where, std::move(label)) {}

    event read(const json::value& item) {
        item_.inv.source.file = std::string(where_);
        if (!item.is_object()) {
            problem("is " + std::string(kind_name(item)) + ", not an event object");
            return std::move(item_);
        }
        read_object(item.get_object());
        return std::move(item_);
    }

  private:
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
        invitation& inv = item_.inv;
        if (auto id = text(o, "id", "id")) item_.id = *id;
        if (field(o, "@removed")) {
            problem("is marked @removed: a deleted item, not an event");
            return;
        }
        if (trim(item_.id).empty()) problem("has no id: agendad could not answer it");
        inv.source.item_id = item_.id;

        if (auto key = text(o, "changeKey", "changeKey", level::warning)) {
            item_.change_key = *key;
        } else if (auto etag = text(o, "@odata.etag", "@odata.etag", level::warning)) {
            // W/"EZ9r3czxY0m2jz8c45czkwAALZu97w==": the changeKey in an ETag's clothes.
            std::string_view e = *etag;
            if (e.substr(0, 2) == "W/") e.remove_prefix(2);
            if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
            item_.change_key = std::string(e);
        }
        inv.source.change_key = item_.change_key;

        if (auto type = text(o, "type", "type")) item_.type = *type;
        if (auto master = text(o, "seriesMasterId", "seriesMasterId")) {
            item_.series_master_id = *master;
        }
        const bool instance = item_.type == "occurrence" || item_.type == "exception";
        if (!item_.type.empty() && !instance && item_.type != "singleInstance" &&
            item_.type != "seriesMaster") {
            warn("unknown event type " + quoted(item_.type));
        }

        read_uid(o, instance);

        if (auto b = flag(o, "isOrganizer", "isOrganizer")) item_.is_organizer = *b;
        if (auto b = flag(o, "isCancelled", "isCancelled")) item_.is_cancelled = *b;
        const std::optional<bool> response_requested =
            flag(o, "responseRequested", "responseRequested");
        if (response_requested) item_.response_requested = *response_requested;
        if (const json::object* status = object(o, "responseStatus", "responseStatus")) {
            if (auto r = text(*status, "response", "responseStatus.response")) item_.response = *r;
        }
        if (item_.is_cancelled) {
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
        invitation& inv = item_.inv;
        if (auto uid = text(o, "iCalUId", "iCalUId")) item_.ical_uid = trim(*uid);
        if (!item_.ical_uid.empty()) {
            inv.uid = instance ? series_uid(item_.ical_uid) : item_.ical_uid;
            return;
        }
        // The beta (and newer v1.0) `uid`: the same for a whole series.
        if (auto uid = text(o, "uid", "uid"); uid && !trim(*uid).empty()) {
            inv.uid = trim(*uid);
            return;
        }
        if (!item_.id.empty()) {
            inv.uid = item_.id;
            warn("no iCalUId: the Graph id stands in for the UID");
        }
    }

    void read_body(const json::object& o) {
        invitation& inv = item_.inv;
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
        invitation& inv = item_.inv;
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
        item_.inv.organizer.address = std::move(address);
        item_.inv.organizer.name = std::move(name);
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
            item_.inv.attendees.push_back(std::move(at));
        }
    }

    // The mailbox's own entry. responseStatus is the mailbox's answer as Exchange keeps it (the
    // attendee list of an invitee's copy may lag behind), so it overrides the list's status.
    void read_owner(std::optional<bool> response_requested) {
        if (mailbox_.empty()) return;
        const std::optional<partstat> answer = partstat_of(item_.response);
        if (!item_.response.empty() && !answer) {
            warn("unknown responseStatus.response " + quoted(item_.response) +
                 ": the attendee list's status is kept");
        }
        exchange::assign_exchange_owner(item_.inv, mailbox_, answer, item_.is_organizer,
                                        response_requested);
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
        invitation& inv = item_.inv;
        const auto name = text(o, "originalStartTimeZone", "originalStartTimeZone", level::warning);
        if (!name) return;
        const std::string written = trim(*name);
        const zone_choice zone = resolve_zone(written);
        if (!zone.known || !zone.zone) return;
        const auto w = exchange::wall_clock_in(inv.start, zone.zone);
        if (!w) return;
        inv.start_local = local_start{w->year, w->month, w->day, w->hour, w->minute, written};
    }

    void read_times(const json::object& o, bool instance) {
        invitation& inv = item_.inv;
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
        if (item_.type == "exception") {
            warn("an exception without originalStart: its start stands for its recurrence id");
        }
    }

    // --- recurrence

    // patternedRecurrence → Exchange's recurrence model; the rule and its bounds are
    // exchange::recurrence_of's, as for EWS.
    void read_recurrence(const json::object& rec) {
        using type_t = recurrence_pattern::pattern_type;
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

        recurrence_pattern p;
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
                if (std::find(p.days.begin(), p.days.end(), *code) == p.days.end()) {
                    p.days.push_back(*code);
                }
            }
        }

        if (iequals(type, "daily")) {
            p.type = type_t::daily;
        } else if (iequals(type, "weekly")) {
            p.type = type_t::weekly;
        } else if (iequals(type, "absoluteMonthly")) {
            p.type = type_t::absolute_monthly;
        } else if (iequals(type, "relativeMonthly")) {
            p.type = type_t::relative_monthly;
        } else if (iequals(type, "absoluteYearly")) {
            p.type = type_t::absolute_yearly;
        } else if (iequals(type, "relativeYearly")) {
            p.type = type_t::relative_yearly;
        } else {
            problem("'recurrence.pattern.type' is " + quoted(type) +
                    ", not a recurrence pattern agendad knows");
            return;
        }
        const bool relative =
            p.type == type_t::relative_monthly || p.type == type_t::relative_yearly;
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
        if (relative && p.days.empty()) {
            problem("a " + type + " recurrence without daysOfWeek");
            return;
        }
        std::optional<int> week = 1;  // Graph's default index is "first"
        if (!index.empty()) week = week_index(index);
        if (!week) {
            problem("'recurrence.pattern.index' is " + quoted(index));
            return;
        }
        p.interval = static_cast<int>(interval);
        p.day_of_month = static_cast<int>(day_of_month);
        p.month = static_cast<int>(month);
        p.week_index = *week;
        if (p.type == type_t::weekly && !first_day.empty()) {
            if (auto code = weekday_code(first_day)) {
                p.first_day_of_week = *code;
            } else {
                warn("'recurrence.pattern.firstDayOfWeek' is " + quoted(first_day) + ": ignored");
            }
        }

        // The range.
        const json::object* range = object(rec, "range", "recurrence.range");
        const std::string range_type =
            range ? text(*range, "type", "recurrence.range.type").value_or("") : "noEnd";
        if (!range) warn("'recurrence' has no range: taken as without end");
        // startDate is the first occurrence's date, which the event's start already says.
        if (auto start = range ? string_field(*range, "startDate") : std::nullopt) {
            if (const auto w = parse_date_time(trim(*start)); w && !w->has_time) {
                p.start_date = date_of(*w);
            }
        }
        if (iequals(range_type, "noEnd")) {
            p.range = recurrence_pattern::range_type::no_end;
        } else if (iequals(range_type, "endDate")) {
            const std::string end =
                text(*range, "endDate", "recurrence.range.endDate").value_or("");
            const auto w = parse_date_time(trim(end));
            if (!w || w->has_time) {
                problem("'recurrence.range.endDate' is " + quoted(end) + ", not a date");
                return;
            }
            p.range = recurrence_pattern::range_type::end_date;
            p.end_date = date_of(*w);
        } else if (iequals(range_type, "numbered")) {
            const auto n =
                integer(*range, "numberOfOccurrences", "recurrence.range.numberOfOccurrences");
            if (!n || *n < 1 || *n > 1'000'000) {
                problem("'recurrence.range.numberOfOccurrences' is " +
                        (n ? std::to_string(*n) : std::string("missing")) +
                        " in a numbered recurrence");
                return;
            }
            p.range = recurrence_pattern::range_type::numbered;
            p.occurrences = static_cast<int>(*n);
        } else {
            problem("'recurrence.range.type' is " + quoted(range_type) +
                    ", not endDate, noEnd or numbered");
            return;
        }

        // The zone matters only for an end date or the last of a numbered series' starts.
        icaltimezone* zone = nullptr;
        if (range && p.range != recurrence_pattern::range_type::no_end && !item_.inv.all_day) {
            zone = series_zone(*range).zone;
        }
        std::optional<time_point> start;
        if (start_) start = item_.inv.start;
        item_.inv.recurrence = exchange::recurrence_of(p, start, item_.inv.all_day, zone);
    }

    // The zone a series' dates are in: recurrenceTimeZone, else the start's. Agendad asks
    // Graph for UTC times, so recurrenceTimeZone is what keeps a series' wall clock.
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

    std::optional<converted> start_;
};

event read_event(const json::value& item, std::string_view mailbox, std::string_view where,
                 std::string label) {
    return event_reader(mailbox, where, std::move(label)).read(item);
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
        // Trimmed again after the cut, which may end at white space.
        out.code = trim(clean_utf8(trim(out.code), max_error_code));
        const std::string message = trim(out.message);
        out.message = clean_utf8(message, max_error_message);
        if (out.message.size() < message.size()) out.message = trim(out.message) + "…";
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
