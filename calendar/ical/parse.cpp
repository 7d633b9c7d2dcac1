#include "calendar/ical/parse.h"

#include "calendar/encoding.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "calendar/html_to_text.h"
#include "calendar/ical/ical_ptr.h"
#include "calendar/ical/prescan.h"
#include "calendar/time_zones.h"

namespace agendad::calendar {
namespace {

using boost::system::result;

// Properties whose loss would change a decision: when libical cannot read one of these, the
// event is an error rather than a smaller invitation.
bool is_critical(std::string_view name) {
    static constexpr std::string_view critical[] = {
        "DTSTART", "DTEND",    "DURATION", "RRULE",   "RECURRENCE-ID", "ORGANIZER", "ATTENDEE",
        "UID",     "SEQUENCE", "STATUS",   "SUMMARY", "DESCRIPTION",   "METHOD",    "X-ALT-DESC"};
    return std::find(std::begin(critical), std::end(critical), name) != std::end(critical);
}

using encoding::lower;

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

std::string str(const char* s) {
    return s ? std::string(s) : std::string();
}

// A TZID that may be handed to libical's builtin zone loader: libical turns the name into a
// path under /usr/share/zoneinfo, so anything path-like beyond plain IANA names is refused.
bool safe_zone_name(std::string_view name) {
    // IANA names start with a capital letter; "localtime", "posixrules", "posix/...", "right/..."
    // are files of the zoneinfo folder but not zones an invitation can mean (localtime is the
    // host's own zone).
    if (name.empty() || name.front() < 'A' || name.front() > 'Z') return false;
    if (name.size() > 64 || name.front() == '/' || name.find("..") != std::string_view::npos) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
               c == '+';
    });
}

// libical's builtin zones are process-wide and loaded once; cache the look-up (misses too).
icaltimezone* builtin_zone(const std::string& name) {
    thread_local std::unordered_map<std::string, icaltimezone*> cache;
    if (auto it = cache.find(name); it != cache.end()) return it->second;
    icaltimezone* zone =
        safe_zone_name(name) ? icaltimezone_get_builtin_timezone(name.c_str()) : nullptr;
    icalerror_clear_errno();
    cache.emplace(name, zone);
    return zone;
}

struct zone_choice {
    icaltimezone* zone = nullptr;  // nullptr: floating, taken as UTC
    bool utc = false;
};

// TZID → zone: IANA names and Windows names resolve to the system's zone data (current rules,
// cached); anything else uses the VTIMEZONE the file carries; failing that, UTC with a warning.
// A TZID that names a zone of the system's time-zone data: an IANA name (also behind a
// Mozilla-style prefix) or a Windows name. These always win over a VTIMEZONE in the file: the
// system's rules are current, Outlook's VTIMEZONE copies sometimes are not.
icaltimezone* system_zone(std::string_view tzid) {
    const std::string name = trim(tzid);
    if (name.empty()) return nullptr;
    if (name == "UTC" || name == "GMT" || name == "Etc/UTC" || name == "Z" || name == "Etc/GMT") {
        return icaltimezone_get_utc_timezone();
    }
    // "/mozilla.org/20050126_1/America/New_York",
    // "/softwarestudio.org/Olson_20011030_5/Europe/Paris"
    for (std::string_view rest = name; !rest.empty();) {
        if (icaltimezone* z = builtin_zone(std::string(rest))) return z;
        const auto slash = rest.find('/');
        if (slash == std::string_view::npos || rest.find('/', slash + 1) == std::string_view::npos)
            break;
        rest.remove_prefix(slash + 1);
    }
    if (auto iana = windows_zone_to_iana(name)) return builtin_zone(std::string(*iana));
    return nullptr;
}

// TZID → zone: the system's zone when there is one, else the VTIMEZONE the file carries, else
// UTC with a warning.
zone_choice resolve_zone(const std::string& tzid, icalcomponent* root,
                         std::vector<std::string>& warnings) {
    const std::string name = trim(tzid);
    if (name.empty()) return {};
    if (icaltimezone* z = system_zone(name)) return {z, z == icaltimezone_get_utc_timezone()};
    if (root) {
        if (icaltimezone* z = icalcomponent_get_timezone(root, tzid.c_str())) return {z, false};
    }
    warnings.push_back("unknown time zone '" + name +
                       "' and no VTIMEZONE for it: times taken as UTC");
    return {icaltimezone_get_utc_timezone(), true};
}

std::string tzid_of(icalproperty* p) {
    icalparameter* param = icalproperty_get_first_parameter(p, ICAL_TZID_PARAMETER);
    return param ? str(icalparameter_get_tzid(param)) : std::string();
}

struct converted_time {
    time_point utc{};
    bool is_date = false;
    local_start local;
    icaltimetype raw{};  // the value as written, with its zone attached (for recurrence)
    icaltimezone* zone = nullptr;
};

time_point from_time_t(time_t t) {
    return time_point{std::chrono::seconds{t}};
}

std::optional<converted_time> convert_time(icalproperty* p, icalcomponent* root,
                                           std::vector<std::string>& warnings) {
    icalvalue* v = icalproperty_get_value(p);
    if (!v) return std::nullopt;
    const icalvalue_kind kind = icalvalue_isa(v);
    icaltimetype tt;
    if (kind == ICAL_DATETIME_VALUE) {
        tt = icalvalue_get_datetime(v);
    } else if (kind == ICAL_DATE_VALUE) {
        tt = icalvalue_get_date(v);
    } else {
        return std::nullopt;
    }
    if (icaltime_is_null_time(tt) || !icaltime_is_valid_time(tt)) return std::nullopt;
    // libical reads "20261345T100000" and "20260230T100000" without complaint and normalises
    // them to other days: an impossible date is an error, not a meeting on another day.
    using namespace std::chrono;
    const year_month_day ymd{year{tt.year}, month{static_cast<unsigned>(tt.month)},
                             day{static_cast<unsigned>(tt.day)}};
    if (!ymd.ok() || tt.year < 1000 || tt.hour < 0 || tt.hour > 23 || tt.minute < 0 ||
        tt.minute > 59 || tt.second < 0 || tt.second > 60) {
        return std::nullopt;
    }
    converted_time out;
    out.local = local_start{tt.year, tt.month, tt.day, tt.hour, tt.minute, {}};
    if (tt.is_date) {
        out.utc = time_point{sys_days{ymd}};
        out.is_date = true;
        out.raw = tt;
        return out;
    }
    if (icaltime_is_utc(tt)) {
        out.local.zone = "UTC";
        out.utc = from_time_t(icaltime_as_timet(tt));
        out.zone = icaltimezone_get_utc_timezone();
        out.raw = tt;
        return out;
    }
    const std::string tzid = tzid_of(p);
    if (tzid.empty()) {
        warnings.push_back(std::string(icalproperty_get_property_name(p)) +
                           " is a floating time (no time zone): taken as UTC");
        out.utc = from_time_t(icaltime_as_timet(tt));
        out.zone = icaltimezone_get_utc_timezone();
        out.raw = tt;
        return out;
    }
    const zone_choice z = resolve_zone(tzid, root, warnings);
    out.local.zone = trim(tzid);
    out.zone = z.zone;
    out.utc = from_time_t(icaltime_as_timet_with_zone(tt, z.zone));
    out.raw = tt;
    out.raw.zone = z.zone;
    return out;
}

method method_of(icalcomponent* calendar) {
    if (!calendar || icalcomponent_isa(calendar) != ICAL_VCALENDAR_COMPONENT) return method::none;
    if (!icalcomponent_get_first_property(calendar, ICAL_METHOD_PROPERTY)) return method::none;
    switch (icalcomponent_get_method(calendar)) {
        case ICAL_METHOD_PUBLISH:
            return method::publish;
        case ICAL_METHOD_REQUEST:
            return method::request;
        case ICAL_METHOD_REPLY:
            return method::reply;
        case ICAL_METHOD_ADD:
            return method::add;
        case ICAL_METHOD_CANCEL:
            return method::cancel;
        case ICAL_METHOD_REFRESH:
            return method::refresh;
        case ICAL_METHOD_COUNTER:
            return method::counter;
        case ICAL_METHOD_DECLINECOUNTER:
            return method::declinecounter;
        case ICAL_METHOD_NONE:
            return method::none;
        default:
            return method::other;
    }
}

partstat partstat_of(icalproperty* p) {
    icalparameter* param = icalproperty_get_first_parameter(p, ICAL_PARTSTAT_PARAMETER);
    return param ? ical::from_ical(icalparameter_get_partstat(param)) : partstat::none;
}

role role_of(icalproperty* p) {
    icalparameter* param = icalproperty_get_first_parameter(p, ICAL_ROLE_PARAMETER);
    if (!param) return role::none;
    switch (icalparameter_get_role(param)) {
        case ICAL_ROLE_CHAIR:
            return role::chair;
        case ICAL_ROLE_REQPARTICIPANT:
            return role::required;
        case ICAL_ROLE_OPTPARTICIPANT:
            return role::optional;
        case ICAL_ROLE_NONPARTICIPANT:
            return role::non_participant;
        case ICAL_ROLE_NONE:
            return role::none;
        default:
            return role::other;
    }
}

std::optional<bool> rsvp_of(icalproperty* p) {
    icalparameter* param = icalproperty_get_first_parameter(p, ICAL_RSVP_PARAMETER);
    if (!param) return std::nullopt;
    switch (icalparameter_get_rsvp(param)) {
        case ICAL_RSVP_TRUE:
            return true;
        case ICAL_RSVP_FALSE:
            return false;
        default:
            return std::nullopt;
    }
}

std::string cutype_of(icalproperty* p) {
    icalparameter* param = icalproperty_get_first_parameter(p, ICAL_CUTYPE_PARAMETER);
    if (!param) return {};
    switch (icalparameter_get_cutype(param)) {
        case ICAL_CUTYPE_INDIVIDUAL:
            return "INDIVIDUAL";
        case ICAL_CUTYPE_GROUP:
            return "GROUP";
        case ICAL_CUTYPE_RESOURCE:
            return "RESOURCE";
        case ICAL_CUTYPE_ROOM:
            return "ROOM";
        case ICAL_CUTYPE_UNKNOWN:
            return "UNKNOWN";
        default:
            return "X";
    }
}

std::string param_text(icalproperty* p, icalparameter_kind kind) {
    icalparameter* param = icalproperty_get_first_parameter(p, kind);
    if (!param) return {};
    switch (kind) {
        case ICAL_CN_PARAMETER:
            return trim(str(icalparameter_get_cn(param)));
        case ICAL_SENTBY_PARAMETER:
            return normalize_address(str(icalparameter_get_sentby(param)));
        case ICAL_FMTTYPE_PARAMETER:
            return lower(str(icalparameter_get_fmttype(param)));
        default:
            return {};
    }
}

// CN values arrive with their quotes removed by libical; some producers double-quote inside.
std::string clean_name(std::string name) {
    while (!name.empty() && (name.front() == '"' || name.front() == '\'')) name.erase(0, 1);
    while (!name.empty() && (name.back() == '"' || name.back() == '\'')) name.pop_back();
    name = trim(name);
    // Google and others write the address itself as CN: that is no name ("Hi alex.morgan@...").
    if (name.find('@') != std::string::npos && name.find(' ') == std::string::npos) return {};
    return name;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string x_property(icalcomponent* event, std::string_view x_name,
                       std::string_view want_fmttype = {}) {
    for (icalproperty* p = icalcomponent_get_first_property(event, ICAL_X_PROPERTY); p;
         p = icalcomponent_get_next_property(event, ICAL_X_PROPERTY)) {
        const char* name = icalproperty_get_x_name(p);
        if (!name || !equal_ignoring_case(name, x_name)) continue;
        if (!want_fmttype.empty() && param_text(p, ICAL_FMTTYPE_PARAMETER) != want_fmttype)
            continue;
        return str(icalproperty_get_x(p));
    }
    return {};
}

// Where in the file a property of this event is, for error messages: the first line with the
// property's name inside the event's line range whose value contains `value_hint`.
int line_of_property(const ical::scan& scan, const ical::scanned_component& event,
                     std::string_view name, std::string_view value_hint) {
    const auto& lines = scan.lines();
    int first_match = 0;
    for (std::size_t i = event.first; i <= event.last && i < lines.size(); ++i) {
        if (!scan.name_is(lines[i], name)) continue;
        if (first_match == 0) first_match = lines[i].line;
        if (value_hint.empty() ||
            scan.unfolded_value(lines[i]).find(value_hint) != std::string::npos) {
            return lines[i].line;
        }
    }
    return first_match ? first_match : event.begin_line;
}

struct lic_error {
    std::string property;  // upper-case property name the error is about, if it says
    std::string value;     // the offending text, if it says
    std::string message;
};

// libical's X-LIC-ERROR texts: "Can't parse as DATE-TIME value in DTSTART property. Removing
// entire property: 0709T120000", "Parse error in property name: FOO", "No value for LOCATION
// property. Removing entire property:".
lic_error read_lic_error(std::string_view text) {
    lic_error e;
    e.message = std::string(text);
    if (auto at = text.find(" property"); at != std::string_view::npos) {
        auto start = text.rfind(' ', at - 1);
        start = (start == std::string_view::npos) ? 0 : start + 1;
        e.property = std::string(text.substr(start, at - start));
    }
    constexpr std::string_view name_error = "Parse error in property name: ";
    if (text.rfind(name_error, 0) == 0) e.property = std::string(text.substr(name_error.size()));
    if (auto colon = text.find("property: "); colon != std::string_view::npos) {
        e.value = trim(text.substr(colon + 10));
    }
    for (char& c : e.property) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return e;
}

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// COUNT-bounded series: the last start is found by walking the rule; capped so that hostile
// COUNT values cost nothing. nullopt when it could not be computed.
std::optional<time_point> last_start_of_count(const icalrecurrencetype& rule,
                                              const converted_time& start) {
    constexpr int max_walk = 1000;
    if (rule.count <= 0 || rule.count > max_walk) return std::nullopt;
    ical::recur_iterator_ptr it{icalrecur_iterator_new(rule, start.raw)};
    if (!it) return std::nullopt;
    icaltimetype last = icaltime_null_time();
    for (int i = 0; i < rule.count; ++i) {
        const icaltimetype next = icalrecur_iterator_next(it.get());
        if (icaltime_is_null_time(next)) break;
        last = next;
    }
    icalerror_clear_errno();
    if (icaltime_is_null_time(last)) return std::nullopt;
    if (last.is_date) {
        using namespace std::chrono;
        return time_point{sys_days{year{last.year} / month{static_cast<unsigned>(last.month)} /
                                   day{static_cast<unsigned>(last.day)}}};
    }
    return from_time_t(icaltime_as_timet_with_zone(last, start.zone));
}

std::string frequency_name(icalrecurrencetype_frequency f) {
    switch (f) {
        case ICAL_SECONDLY_RECURRENCE:
            return "SECONDLY";
        case ICAL_MINUTELY_RECURRENCE:
            return "MINUTELY";
        case ICAL_HOURLY_RECURRENCE:
            return "HOURLY";
        case ICAL_DAILY_RECURRENCE:
            return "DAILY";
        case ICAL_WEEKLY_RECURRENCE:
            return "WEEKLY";
        case ICAL_MONTHLY_RECURRENCE:
            return "MONTHLY";
        case ICAL_YEARLY_RECURRENCE:
            return "YEARLY";
        default:
            return {};
    }
}

class event_reader {
  public:
    event_reader(const ical::scan& scan, std::string_view file, const parse_options& options)
        : scan_(scan), file_(file), options_(options) {}

    // Normalises one VEVENT; `calendar` is its VCALENDAR (for METHOD and VTIMEZONEs).
    result<invitation, diagnostic> read(icalcomponent* event, icalcomponent* calendar,
                                        const ical::scanned_component& where) {
        invitation inv;
        inv.source.file = std::string(file_);
        inv.source.line = where.begin_line;

        if (auto d = check_lic_errors(event, where, inv.warnings)) return fail(std::move(*d));
        if (auto d = check_sequence(where)) return fail(std::move(*d));

        inv.method = method_of(calendar);
        inv.uid = trim(str(icalcomponent_get_uid(event)));
        if (inv.uid.empty())
            inv.warnings.push_back("no UID: agendad cannot answer or track this event");
        if (icalcomponent_get_first_property(event, ICAL_SEQUENCE_PROPERTY)) {
            inv.sequence = icalcomponent_get_sequence(event);
        } else if (auto seq = x_property(event, "X-MICROSOFT-CDO-APPT-SEQUENCE");
                   all_digits(seq) && seq.size() < 9) {
            inv.sequence = std::stoi(seq);
        }

        if (icalproperty* p = icalcomponent_get_first_property(event, ICAL_ORGANIZER_PROPERTY)) {
            inv.organizer.address = normalize_address(str(icalproperty_get_organizer(p)));
            inv.organizer.name = clean_name(param_text(p, ICAL_CN_PARAMETER));
            inv.organizer.sent_by = param_text(p, ICAL_SENTBY_PARAMETER);
        }
        for (icalproperty* p = icalcomponent_get_first_property(event, ICAL_ATTENDEE_PROPERTY); p;
             p = icalcomponent_get_next_property(event, ICAL_ATTENDEE_PROPERTY)) {
            attendee a;
            a.address = normalize_address(str(icalproperty_get_attendee(p)));
            a.name = clean_name(param_text(p, ICAL_CN_PARAMETER));
            a.role = role_of(p);
            a.partstat = partstat_of(p);
            a.rsvp = rsvp_of(p);
            a.cutype = cutype_of(p);
            inv.attendees.push_back(std::move(a));
        }

        inv.subject = trim(str(icalcomponent_get_summary(event)));
        inv.location = trim(str(icalcomponent_get_location(event)));
        inv.description = description_of(event);
        inv.has_attachments =
            icalcomponent_get_first_property(event, ICAL_ATTACH_PROPERTY) != nullptr;

        // libical answers 0 (no enumerator) when there is no STATUS at all.
        const icalproperty_status status =
            icalcomponent_get_first_property(event, ICAL_STATUS_PROPERTY)
                ? icalcomponent_get_status(event)
                : ICAL_STATUS_NONE;
        switch (status) {
            case ICAL_STATUS_NONE:
                inv.status = event_status::none;
                break;
            case ICAL_STATUS_TENTATIVE:
                inv.status = event_status::tentative;
                break;
            case ICAL_STATUS_CONFIRMED:
                inv.status = event_status::confirmed;
                break;
            case ICAL_STATUS_CANCELLED:
                inv.status = event_status::cancelled;
                break;
            default:
                inv.status = event_status::other;
                break;
        }
        if (icalproperty* p = icalcomponent_get_first_property(event, ICAL_TRANSP_PROPERTY)) {
            const icalproperty_transp t = icalproperty_get_transp(p);
            inv.transp = (t == ICAL_TRANSP_TRANSPARENT || t == ICAL_TRANSP_TRANSPARENTNOCONFLICT)
                             ? transparency::transparent
                             : transparency::opaque;
        }

        if (auto d = read_times(event, calendar, where, inv)) return fail(std::move(*d));

        if (icalproperty* p = icalcomponent_get_first_property(event, ICAL_RECURRENCEID_PROPERTY)) {
            if (auto t = convert_time(p, calendar, inv.warnings)) inv.recurrence_id = t->utc;
        }
        inv.recurrence.has_rdate =
            icalcomponent_get_first_property(event, ICAL_RDATE_PROPERTY) != nullptr;

        if (!options_.mailbox.empty()) assign_owner(inv, options_.mailbox);
        return inv;
    }

  private:
    result<invitation, diagnostic> fail(diagnostic d) {
        return result<invitation, diagnostic>(boost::system::in_place_error, std::move(d));
    }

    diagnostic at(int line, std::string message) const {
        return diagnostic{std::string(file_), line, 0, std::move(message)};
    }

    std::optional<diagnostic> check_lic_errors(icalcomponent* event,
                                               const ical::scanned_component& where,
                                               std::vector<std::string>& warnings) const {
        for (icalproperty* p = icalcomponent_get_first_property(event, ICAL_XLICERROR_PROPERTY); p;
             p = icalcomponent_get_next_property(event, ICAL_XLICERROR_PROPERTY)) {
            const lic_error e = read_lic_error(str(icalproperty_get_xlicerror(p)));
            // "No value for LOCATION property": an empty value (Google writes "DESCRIPTION:"),
            // nothing is lost.
            if (e.message.rfind("No value for", 0) == 0) continue;
            const int line = line_of_property(scan_, where, e.property, e.value);
            if (e.message.rfind("Parse error in property name", 0) == 0) {
                // Unknown names are legal (iana-token), and producers write them in capitals
                // ("LINK", "X-..."). A name in mixed case ("Agenda: ...") is prose: a line break
                // inside a value that was not folded, and the rest of that value is lost.
                if (raw_name_has_lower_case(where, e.property)) {
                    return at(line,
                              "in the event starting at line " + std::to_string(where.begin_line) +
                                  ": '" + e.property +
                                  "...' is not a property: a line break inside a value that " +
                                  "is not folded? (the text after it would be lost)");
                }
                warnings.push_back("line " + std::to_string(line) + ": unknown property " +
                                   e.property + " ignored");
                continue;
            }
            if (is_critical(e.property)) {
                return at(line, "in the event starting at line " +
                                    std::to_string(where.begin_line) + ": " + e.message);
            }
            warnings.push_back("line " + std::to_string(line) + ": " + e.message);
        }
        return std::nullopt;
    }

    bool raw_name_has_lower_case(const ical::scanned_component& where,
                                 std::string_view name) const {
        const auto& lines = scan_.lines();
        for (std::size_t i = where.first; i <= where.last && i < lines.size(); ++i) {
            if (!scan_.name_is(lines[i], name)) continue;
            const std::string_view raw = scan_.name_of(lines[i]);
            return std::any_of(raw.begin(), raw.end(), [](char c) { return c >= 'a' && c <= 'z'; });
        }
        return false;
    }

    // libical reads "SEQUENCE:abc" as 0; a wrong sequence would confuse updates with originals.
    std::optional<diagnostic> check_sequence(const ical::scanned_component& where) const {
        const auto& lines = scan_.lines();
        for (std::size_t i = where.first; i <= where.last && i < lines.size(); ++i) {
            if (!scan_.name_is(lines[i], "SEQUENCE")) continue;
            const std::string value = trim(scan_.unfolded_value(lines[i]));
            if (!all_digits(value) || value.size() > 9) {
                return at(lines[i].line, "SEQUENCE is '" + value + "', not a non-negative integer");
            }
        }
        return std::nullopt;
    }

    static std::string description_of(icalcomponent* event) {
        std::string text = str(icalcomponent_get_description(event));
        // Google Calendar and some CRMs put HTML straight into DESCRIPTION.
        if (looks_like_html(text)) return html_to_text(text);
        if (!trim(text).empty()) return trim(text);
        const std::string html = x_property(event, "X-ALT-DESC", "text/html");
        if (!html.empty()) return html_to_text(html);
        return {};
    }

    std::optional<diagnostic> read_times(icalcomponent* event, icalcomponent* calendar,
                                         const ical::scanned_component& where,
                                         invitation& inv) const {
        icalproperty* dtstart = icalcomponent_get_first_property(event, ICAL_DTSTART_PROPERTY);
        if (!dtstart) {
            inv.has_start = false;
            inv.warnings.push_back("no DTSTART: the event has no time");
            return std::nullopt;
        }
        auto start = convert_time(dtstart, calendar, inv.warnings);
        if (!start)
            return at(line_of_property(scan_, where, "DTSTART", {}),
                      "DTSTART is not a date or date-time");
        inv.start = start->utc;
        inv.all_day = start->is_date;
        inv.start_local = start->local;

        if (icalproperty* dtend = icalcomponent_get_first_property(event, ICAL_DTEND_PROPERTY)) {
            auto end = convert_time(dtend, calendar, inv.warnings);
            if (!end)
                return at(line_of_property(scan_, where, "DTEND", {}),
                          "DTEND is not a date or date-time");
            inv.end = end->utc;
        } else if (icalproperty* dur =
                       icalcomponent_get_first_property(event, ICAL_DURATION_PROPERTY)) {
            inv.end = inv.start +
                      std::chrono::seconds{icaldurationtype_as_int(icalproperty_get_duration(dur))};
        } else {
            inv.end = inv.all_day ? inv.start + std::chrono::days{1} : inv.start;
        }
        if (inv.end < inv.start) {
            inv.warnings.push_back("the event ends before it starts: end taken as the start");
            inv.end = inv.start;
        }
        // Outlook marks all-day events this way even when it writes midnight date-times.
        if (!inv.all_day && x_property(event, "X-MICROSOFT-CDO-ALLDAYEVENT") == "TRUE")
            inv.all_day = true;

        if (icalproperty* rrule = icalcomponent_get_first_property(event, ICAL_RRULE_PROPERTY)) {
            const icalrecurrencetype rule = icalproperty_get_rrule(rrule);
            auto& r = inv.recurrence;
            if (ical::owned_string text{
                    icalrecurrencetype_as_string_r(const_cast<icalrecurrencetype*>(&rule))}) {
                r.rule = text.get();
            }
            r.frequency = frequency_name(rule.freq);
            if (!icaltime_is_null_time(rule.until)) {
                r.kind = recurrence_info::bound::until;
                icaltimetype until = rule.until;
                if (until.is_date) {
                    // An UNTIL date includes that whole day, in the event's own zone: a weekly
                    // 17:00 Pacific meeting UNTIL=20261215 still meets on the 15th (01:00Z the
                    // 16th).
                    using namespace std::chrono;
                    const time_point next_day{
                        sys_days{year{until.year} / month{static_cast<unsigned>(until.month)} /
                                 day{static_cast<unsigned>(until.day)}} +
                        days{1}};
                    if (start->is_date || !start->zone ||
                        start->zone == icaltimezone_get_utc_timezone()) {
                        r.until = next_day;
                    } else {
                        const year_month_day d{floor<days>(next_day)};
                        icaltimetype midnight = icaltime_null_time();
                        midnight.year = static_cast<int>(d.year());
                        midnight.month = static_cast<int>(static_cast<unsigned>(d.month()));
                        midnight.day = static_cast<int>(static_cast<unsigned>(d.day()));
                        r.until = from_time_t(icaltime_as_timet_with_zone(midnight, start->zone));
                    }
                } else if (icaltime_is_utc(until)) {
                    r.until = from_time_t(icaltime_as_timet(until));
                } else {
                    r.until = from_time_t(icaltime_as_timet_with_zone(until, start->zone));
                }
            } else if (rule.count > 0) {
                r.kind = recurrence_info::bound::count;
                r.count = rule.count;
                r.last_start = last_start_of_count(rule, *start);
            } else {
                r.kind = recurrence_info::bound::open_ended;
            }
        }
        return std::nullopt;
    }

    const ical::scan& scan_;
    std::string_view file_;
    const parse_options& options_;
};

// Walks root → calendars → events in document order, pairing each libical VEVENT with the
// scanned VEVENT at the same position (both are in file order).
void collect(icalcomponent* root, const ical::scan& scan, std::string_view file,
             const parse_options& options, parsed_calendar& out) {
    std::vector<const ical::scanned_component*> scanned_events;
    for (const auto& c : scan.components()) {
        if (c.name == "VEVENT") scanned_events.push_back(&c);
    }
    event_reader reader(scan, file, options);
    std::size_t index = 0;
    auto visit_event = [&](icalcomponent* event, icalcomponent* calendar) {
        if (index >= scanned_events.size()) return;  // cannot happen for text that passed prescan
        const auto& where = *scanned_events[index++];
        auto inv = reader.read(event, calendar, where);
        if (inv)
            out.events.push_back(std::move(*inv));
        else
            out.errors.push_back(inv.error());
    };
    // Pre-order, as the BEGIN lines appear in the file; depth is bounded by the prescan.
    std::function<void(icalcomponent*, icalcomponent*)> visit = [&](icalcomponent* c,
                                                                    icalcomponent* calendar) {
        const icalcomponent_kind kind = icalcomponent_isa(c);
        if (kind == ICAL_VCALENDAR_COMPONENT) calendar = c;
        if (kind == ICAL_VEVENT_COMPONENT) visit_event(c, calendar);
        for (icalcomponent* child = icalcomponent_get_first_component(c, ICAL_ANY_COMPONENT); child;
             child = icalcomponent_get_next_component(c, ICAL_ANY_COMPONENT)) {
            visit(child, calendar);
        }
    };
    visit(root, nullptr);
}

}  // namespace

// X- properties that agendad reads; libical is spared the others.
bool x_property_used(std::string_view name) {
    for (std::string_view used :
         {"X-ALT-DESC", "X-MICROSOFT-CDO-ALLDAYEVENT", "X-MICROSOFT-CDO-APPT-SEQUENCE"}) {
        if (equal_ignoring_case(name, used)) return true;
    }
    return false;
}

namespace {

// Properties whose TEXT values libical unescapes and agendad reads.
bool has_text_value(const ical::scan& scan, const ical::scanned_line& line) {
    for (std::string_view name : {"SUMMARY", "DESCRIPTION", "LOCATION", "UID", "X-ALT-DESC"}) {
        if (scan.name_is(line, name)) return true;
    }
    return false;
}

// Appends a TEXT value, doubling every backslash that comes before a non-ASCII character. libical
// reads a backslash that escapes nothing it knows as a space and drops the byte after it: for
// "C:\Ünterlagen" or "\é" that is the first byte of a UTF-8 character, and the rest of the
// character would be left behind as bytes that are not UTF-8. Doubled, the backslash is kept as
// written. Returns whether anything was doubled.
bool append_text_value(std::string& out, std::string_view raw) {
    bool doubled = false;
    for (std::size_t i = 0; i < raw.size(); ++i) {
        out += raw[i];
        if (raw[i] != '\\') continue;
        // The escaped character may follow a fold (a line break and a space or tab).
        std::size_t next = i + 1;
        while (true) {
            if (raw.substr(next, 2) == "\r\n" && next + 2 < raw.size() &&
                (raw[next + 2] == ' ' || raw[next + 2] == '\t')) {
                next += 3;
            } else if (next + 1 < raw.size() && raw[next] == '\n' &&
                       (raw[next + 1] == ' ' || raw[next + 1] == '\t')) {
                next += 2;
            } else {
                break;
            }
        }
        if (next < raw.size() && static_cast<unsigned char>(raw[next]) >= 0x80) {
            out += '\\';
            doubled = true;
        } else if (next < raw.size()) {
            // An escape libical knows (or at least an ASCII one): copied as a pair, so that the
            // second backslash of "\\" never starts an escape of its own.
            out.append(raw.substr(i + 1, next - i));
            i = next;
        }
    }
    return doubled;
}

}  // namespace

// The text libical needs to see: without the components and properties agendad never reads
// (alarms, VTIMEZONEs of zones the system knows, unused X- properties), which are about a third
// of an Outlook invitation and of libical's work, and with stray backslashes before non-ASCII
// characters doubled in the TEXT values agendad reads (append_text_value). What agendad reads is
// otherwise unchanged; line numbers come from the scan of the whole text. Empty when the text
// would be the scan's own.
std::string text_for_libical(const ical::scan& scan) {
    const auto& lines = scan.lines();
    std::vector<bool> keep(lines.size(), true);
    bool dropped = false;
    const auto& components = scan.components();
    for (const auto& c : components) {
        bool drop = c.name == "VALARM";
        if (c.name == "VTIMEZONE") {
            for (std::size_t i = c.first + 1; i < c.last && i < lines.size(); ++i) {
                if (scan.name_is(lines[i], "TZID")) {
                    drop = system_zone(scan.unfolded_value(lines[i])) != nullptr;
                    break;
                }
            }
        }
        if (!drop) continue;
        // Never drop an event, however oddly nested: events pair up with the scan by position.
        const bool holds_event =
            std::any_of(components.begin(), components.end(), [&](const auto& inner) {
                return inner.name == "VEVENT" && inner.first > c.first && inner.first < c.last;
            });
        if (holds_event) continue;
        for (std::size_t i = c.first; i <= c.last && i < lines.size(); ++i) keep[i] = false;
        dropped = true;
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::string_view name = scan.name_of(lines[i]);
        if (keep[i] && name.size() > 2 && (name[0] == 'X' || name[0] == 'x') && name[1] == '-' &&
            !x_property_used(name)) {
            keep[i] = false;
            dropped = true;
        }
    }
    bool changed = dropped;
    const std::string_view text = scan.text();
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (!keep[i]) continue;
        const ical::scanned_line& l = lines[i];
        if (has_text_value(scan, l) && l.value_at > l.begin && l.value_at <= l.end) {
            out.append(text.substr(l.begin, l.value_at - l.begin));
            changed = append_text_value(out, text.substr(l.value_at, l.end - l.value_at)) || changed;
        } else {
            out.append(text.substr(l.begin, l.end - l.begin));
        }
    }
    if (!changed) return {};
    return out;
}

result<parsed_calendar, diagnostic> parse_ics(std::string_view text, std::string_view file,
                                              const parse_options& options) {
    auto scanned = ical::prescan(text, file, options.max_bytes);
    if (!scanned)
        return result<parsed_calendar, diagnostic>(boost::system::in_place_error, scanned.error());
    const ical::scan& scan = *scanned;

    const std::string reduced = text_for_libical(scan);
    ical::component_ptr root = ical::parse_string(reduced.empty() ? scan.text() : reduced);
    if (!root) {
        return result<parsed_calendar, diagnostic>(
            boost::system::in_place_error,
            diagnostic{std::string(file), 0, 0, "libical could not parse the file"});
    }
    parsed_calendar out;
    out.warnings = scan.warnings();
    collect(root.get(), scan, file, options, out);
    return out;
}

result<parsed_calendar, diagnostic> parse_ics_file(const std::filesystem::path& path,
                                                   const parse_options& options) {
    const std::string name = path.string();
    auto fail = [&](std::string message) {
        return result<parsed_calendar, diagnostic>(boost::system::in_place_error,
                                                   diagnostic{name, 0, 0, std::move(message)});
    };
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return fail("is a directory, not an .ics file");
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) return fail("cannot read: " + ec.message());
    if (size > options.max_bytes) {
        return fail("file is " + std::to_string(size) + " bytes, over the limit of " +
                    std::to_string(options.max_bytes) + " bytes");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail("cannot open for reading");
    std::string text(size, '\0');
    in.read(text.data(), static_cast<std::streamsize>(size));
    text.resize(static_cast<std::size_t>(in.gcount()));
    return parse_ics(text, name, options);
}

const invitation* primary_event(const parsed_calendar& calendar) {
    for (const auto& e : calendar.events) {
        if (!e.recurrence_id) return &e;
    }
    return calendar.events.empty() ? nullptr : &calendar.events.front();
}

}  // namespace agendad::calendar
