#include "calendar/ical/partstat.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "calendar/ical/ical_ptr.h"
#include "calendar/ical/parse.h"
#include "calendar/ical/prescan.h"

// The object is edited as text, not re-serialised by libical: libical 3.0 writes back only the
// first value of MEMBER / DELEGATED-FROM / DELEGATED-TO, drops parameters and properties it does
// not know (iana-tokens such as FOO-BAR=x, LINK:...) and turns a CN's RFC 6868 "^^" into "^n",
// so a round trip through its tree would change other attendees and other properties. Here
// libical reads (each ATTENDEE and UID line, and parse_ics the RECURRENCE-IDs as UTC instants);
// only the owner's ATTENDEE lines are rewritten, every other byte stays as it was (line ends
// become CRLF).

namespace agendad::calendar {
namespace {

using boost::system::result;
using outcome = result<partstat_result, std::string>;

outcome fail(std::string message) {
    return outcome(boost::system::in_place_error, std::move(message));
}

struct property_deleter {
    void operator()(icalproperty* p) const noexcept { icalproperty_free(p); }
};
using property_ptr = std::unique_ptr<icalproperty, property_deleter>;

// One content line without its folds and its line break.
std::string unfold(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const char c = raw[i];
        if (c == '\r' || c == '\n') {
            // A fold is a line break and one space or tab; any other break ends the line.
            std::size_t next = i + 1;
            if (c == '\r' && next < raw.size() && raw[next] == '\n') ++next;
            if (next < raw.size() && (raw[next] == ' ' || raw[next] == '\t')) {
                i = next;  // the loop's ++i skips the space
                continue;
            }
            break;
        }
        out += c;
    }
    return out;
}

// Folds a content line at 75 octets (RFC 5545 §3.1), never inside a UTF-8 sequence; CRLF ends.
std::string fold(std::string_view line) {
    std::string out;
    std::size_t width = 0;  // octets on the current physical line
    for (std::size_t i = 0; i < line.size();) {
        std::size_t length = 1;
        const auto lead = static_cast<unsigned char>(line[i]);
        if (lead >= 0xC0) {
            while (i + length < line.size() &&
                   (static_cast<unsigned char>(line[i + length]) & 0xC0) == 0x80) {
                ++length;
            }
        }
        if (width + length > 75) {
            out += "\r\n ";
            width = 1;
        }
        out.append(line.substr(i, length));
        width += length;
        i += length;
    }
    out += "\r\n";
    return out;
}

// libical, then agendad's address rules: what an ATTENDEE line says.
struct attendee_line {
    std::string address;  // normalised
    bool has_partstat = false;
    icalparameter_partstat partstat = ICAL_PARTSTAT_NEEDSACTION;  // RFC 5545's default
};

std::optional<attendee_line> read_attendee(const std::string& line) {
    ical::ensure_initialised();
    property_ptr p{icalproperty_new_from_string(line.c_str())};
    icalerror_clear_errno();
    if (!p || icalproperty_isa(p.get()) != ICAL_ATTENDEE_PROPERTY) return std::nullopt;
    attendee_line out;
    if (const char* value = icalproperty_get_attendee(p.get())) {
        out.address = normalize_address(value);
    }
    if (icalparameter* param = icalproperty_get_first_parameter(p.get(), ICAL_PARTSTAT_PARAMETER)) {
        out.has_partstat = true;
        out.partstat = icalparameter_get_partstat(param);
    }
    return out;
}

std::string read_uid(const std::string& line) {
    ical::ensure_initialised();
    property_ptr p{icalproperty_new_from_string(line.c_str())};
    icalerror_clear_errno();
    if (!p || icalproperty_isa(p.get()) != ICAL_UID_PROPERTY) return {};
    const char* uid = icalproperty_get_uid(p.get());
    std::string_view s = uid ? uid : "";
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return std::string(s);
}

partstat from_ical(const attendee_line& a) {
    return a.has_partstat ? ical::from_ical(a.partstat) : partstat::none;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               const auto lx = (x >= 'a' && x <= 'z') ? static_cast<char>(x - 32) : x;
               const auto ly = (y >= 'a' && y <= 'z') ? static_cast<char>(y - 32) : y;
               return lx == ly;
           });
}

// The unfolded ATTENDEE line with every PARTSTAT parameter set to `value`, or one added before
// the value; nullopt when the parameters cannot be delimited (libical read it, so rare).
// Parameter values are quoted strings or run to the next ',' ';' or ':' (RFC 5545 §3.1).
std::optional<std::string> with_partstat(std::string_view line, std::string_view value) {
    const auto is_name = [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-';
    };
    std::size_t i = 0;
    while (i < line.size() && is_name(line[i])) ++i;
    std::vector<std::pair<std::size_t, std::size_t>> values;  // [begin, end) of PARTSTAT values
    while (i < line.size() && line[i] == ';') {
        // Parameter names as producers write them (iana-token, x-name, and the odd '_').
        const std::size_t name_begin = ++i;
        while (i < line.size() && line[i] != '=' && line[i] != ';' && line[i] != ':' &&
               line[i] != '"') {
            ++i;
        }
        if (i >= line.size() || line[i] != '=') return std::nullopt;
        const std::string_view name = line.substr(name_begin, i - name_begin);
        const std::size_t value_begin = ++i;
        while (true) {
            if (i < line.size() && line[i] == '"') {
                const std::size_t close = line.find('"', i + 1);
                if (close == std::string_view::npos) return std::nullopt;
                i = close + 1;
            } else {
                while (i < line.size() && line[i] != ',' && line[i] != ';' && line[i] != ':' &&
                       line[i] != '"') {
                    ++i;
                }
            }
            if (i < line.size() && line[i] == ',') {
                ++i;
                continue;
            }
            break;
        }
        if (equal_ignoring_case(name, "PARTSTAT")) values.emplace_back(value_begin, i);
    }
    if (i >= line.size() || line[i] != ':') return std::nullopt;
    std::string out(line);
    if (values.empty()) {
        out.insert(i, ";PARTSTAT=" + std::string(value));
        return out;
    }
    for (auto it = values.rbegin(); it != values.rend(); ++it) {
        out.replace(it->first, it->second - it->first, value);
    }
    return out;
}

// CRLF for every line break (prescan has already turned lone CRs into LFs).
std::string with_crlf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 32 + 2);
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
        out += text[i];
    }
    if (!out.empty() && out.back() != '\n') out += "\r\n";
    return out;
}

}  // namespace

boost::system::result<partstat_result, std::string> set_owner_partstat(
    std::string_view ics, const partstat_change& change) {
    // DELEGATED needs DELEGATED-TO and a REQUEST to the delegate: not an answer agendad gives.
    const std::optional<icalparameter_partstat> wanted =
        change.status == partstat::delegated ? std::nullopt : ical::to_ical(change.status);
    if (!wanted) {
        const std::string_view name = to_string(change.status);
        return fail("PARTSTAT " + std::string(name.empty() ? "(none)" : name) +
                    " is not an answer set_owner_partstat gives (accepted, declined, tentative "
                    "or needs_action)");
    }
    const std::string owner = normalize_address(change.owner_address);
    if (owner.empty()) return fail("no owner address given");
    const std::string_view new_value = to_string(change.status);
    const std::string uid(change.uid);
    const std::string occurrence =
        change.recurrence_id ? " and RECURRENCE-ID " + format_utc(*change.recurrence_id) : "";

    auto scanned = ical::prescan(ics, "calendar object", parse_options{}.max_bytes);
    if (!scanned) {
        const diagnostic& d = scanned.error();
        return fail("not iCalendar: " + (d.line ? "line " + std::to_string(d.line) + ": " : "") +
                    d.message);
    }
    const ical::scan& scan = *scanned;
    const auto& components = scan.components();
    const auto& lines = scan.lines();
    const bool has_calendar = std::any_of(components.begin(), components.end(), [](const auto& c) {
        return c.depth == 0 && c.name == "VCALENDAR";
    });
    if (!has_calendar) return fail("not iCalendar: no VCALENDAR");

    // RECURRENCE-IDs as parse_ics reads them (TZID, VTIMEZONE or Windows zone names, dates),
    // by the line of each event's BEGIN:VEVENT; the caller's instant came from the same code.
    std::map<int, std::optional<time_point>> recurrence_ids;
    if (change.recurrence_id) {
        auto parsed = parse_ics(ics, "calendar object");
        if (!parsed) return fail("not iCalendar: " + parsed.error().message);
        for (const invitation& e : parsed->events) {
            recurrence_ids[e.source.line] = e.recurrence_id;
        }
    }

    // The innermost component of each line: an event's own properties, not its alarms'.
    std::vector<std::size_t> owner_of(lines.size(), components.size());
    for (std::size_t c = 0; c < components.size(); ++c) {
        for (std::size_t l = components[c].first; l <= components[c].last && l < lines.size();
             ++l) {
            owner_of[l] = c;
        }
    }
    const auto raw = [&](const ical::scanned_line& l) {
        return scan.text().substr(l.begin, l.end - l.begin);
    };

    struct replacement {
        std::size_t begin, end;
        std::string text;
    };
    std::vector<replacement> replacements;
    partstat_result out;
    bool event_found = false, owner_found = false;
    for (std::size_t c = 0; c < components.size(); ++c) {
        const ical::scanned_component& event = components[c];
        if (event.name != "VEVENT") continue;
        std::string event_uid;
        bool has_recurrence_id = false;
        for (std::size_t l = event.first + 1; l < event.last; ++l) {
            if (owner_of[l] != c) continue;
            if (event_uid.empty() && scan.name_is(lines[l], "UID")) {
                event_uid = read_uid(unfold(raw(lines[l])));
            }
            if (scan.name_is(lines[l], "RECURRENCE-ID")) has_recurrence_id = true;
        }
        if (event_uid != uid) continue;
        if (change.recurrence_id) {
            if (!has_recurrence_id) continue;
            const auto it = recurrence_ids.find(event.begin_line);
            if (it == recurrence_ids.end() || it->second != change.recurrence_id) continue;
        }
        event_found = true;
        for (std::size_t l = event.first + 1; l < event.last; ++l) {
            if (owner_of[l] != c || !scan.name_is(lines[l], "ATTENDEE")) continue;
            const std::string line = unfold(raw(lines[l]));
            const auto attendee = read_attendee(line);
            if (!attendee || attendee->address != owner) continue;
            if (!owner_found) out.before = from_ical(*attendee);
            owner_found = true;
            // Nothing to change (a missing PARTSTAT is NEEDS-ACTION).
            if (attendee->partstat == *wanted) continue;
            const auto edited = with_partstat(line, new_value);
            const auto check = edited ? read_attendee(*edited) : std::nullopt;
            if (!check || check->address != owner || !check->has_partstat ||
                check->partstat != *wanted) {
                return fail("cannot rewrite the ATTENDEE at line " + std::to_string(lines[l].line) +
                            " of " + uid + " for " + owner);
            }
            replacements.push_back({lines[l].begin, lines[l].end, fold(*edited)});
            ++out.changed;
        }
    }
    if (!event_found) return fail("no VEVENT with UID " + uid + occurrence);
    if (!owner_found) return fail(owner + " is not an attendee of " + uid + occurrence);

    const std::string_view text = scan.text();
    std::string edited;
    edited.reserve(text.size() + 64 * replacements.size());
    std::size_t at = 0;
    for (const replacement& r : replacements) {  // in file order
        edited.append(text.substr(at, r.begin - at));
        edited += r.text;
        at = r.end;
    }
    edited.append(text.substr(at));
    out.text = with_crlf(edited);
    return out;
}

}  // namespace agendad::calendar
