// The extras are read from the same text as parse_ics reads, through the same prescan and libical
// (no line scanner of our own): a property libical folds, unescapes or converts to UTC comes out
// as agendad itself would see it.
#include "support/ics_extras.h"

#include <libical/ical.h>

#include <chrono>
#include <stdexcept>

#include "calendar/encoding.h"
#include "calendar/ical/ical_ptr.h"
#include "calendar/ical/parse.h"
#include "calendar/ical/prescan.h"
#include "support/files.h"

namespace agendad::test_support {
namespace {

namespace enc = calendar::encoding;

constexpr std::size_t max_ics_bytes = std::size_t{16} << 20;

struct found_extras {
    std::string uid;
    bool has_recurrence_id = false;
    ics_extras extras;
};

std::string upper(std::string s) {
    for (char& c : s) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return s;
}

std::string utc_text(icaltimetype t) {
    if (icaltime_is_null_time(t) || !icaltime_is_valid_time(t)) return {};
    const icaltimezone* zone = t.zone ? t.zone : icaltimezone_get_utc_timezone();
    const time_t secs = icaltime_as_timet_with_zone(t, zone);
    return calendar::format_utc(calendar::time_point{std::chrono::seconds{secs}});
}

found_extras read_extras(icalcomponent* ev) {
    found_extras f;
    ics_extras& x = f.extras;
    if (const char* uid = icalcomponent_get_uid(ev)) f.uid = uid;
    f.has_recurrence_id = icalcomponent_get_first_property(ev, ICAL_RECURRENCEID_PROPERTY);
    for (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_X_PROPERTY); p;
         p = icalcomponent_get_next_property(ev, ICAL_X_PROPERTY)) {
        const char* name = icalproperty_get_x_name(p);
        const char* value = icalproperty_get_x(p);
        if (!name || !value) continue;
        if (enc::iequals(name, "X-ALT-DESC")) {
            icalparameter* fmt = icalproperty_get_first_parameter(p, ICAL_FMTTYPE_PARAMETER);
            const char* type = fmt ? icalparameter_get_fmttype(fmt) : nullptr;
            if (type && enc::iequals(type, "text/html")) x.html = value;
        } else if (enc::iequals(name, "X-MICROSOFT-CDO-BUSYSTATUS")) {
            x.busy_status = upper(value);
        }
    }
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_DTSTAMP_PROPERTY)) {
        x.stamp = utc_text(icalproperty_get_dtstamp(p));
    }
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_CREATED_PROPERTY)) {
        x.created = utc_text(icalproperty_get_created(p));
    }
    x.attachments = icalcomponent_get_first_property(ev, ICAL_ATTACH_PROPERTY) != nullptr;
    return f;
}

std::vector<found_extras> all_extras(std::string_view text, std::string_view file) {
    auto scan = calendar::ical::prescan(text, file, max_ics_bytes);
    if (!scan) throw std::runtime_error(scan.error().to_string());
    calendar::ical::ensure_initialised();
    const calendar::ical::component_ptr root = calendar::ical::parse_string(scan->text());
    std::vector<found_extras> out;
    if (!root) return out;
    if (icalcomponent_isa(root.get()) == ICAL_VEVENT_COMPONENT) {
        out.push_back(read_extras(root.get()));
        return out;
    }
    for (icalcomponent* ev = icalcomponent_get_first_component(root.get(), ICAL_VEVENT_COMPONENT);
         ev; ev = icalcomponent_get_next_component(root.get(), ICAL_VEVENT_COMPONENT)) {
        out.push_back(read_extras(ev));
    }
    return out;
}

int to_int(const std::string& s, const std::string& file, const std::string& rule) {
    try {
        return std::stoi(s);
    } catch (const std::exception&) {
        throw std::runtime_error(file + ": RRULE " + rule + ": '" + s + "' is not a number");
    }
}

int weekday_of(std::string_view two_letters) {
    static constexpr std::string_view codes[] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
    for (int i = 0; i < 7; ++i) {
        if (codes[i] == two_letters) return i;
    }
    return -1;
}

}  // namespace

std::vector<ics_event> read_ics_events(std::string_view ics, std::string_view file,
                                       const std::string& owner) {
    auto parsed = calendar::parse_ics(ics, file, calendar::parse_options{owner});
    if (!parsed) throw std::runtime_error(parsed.error().to_string());
    if (!parsed->errors.empty()) throw std::runtime_error(parsed->errors.front().to_string());
    const auto extras = all_extras(ics, file);
    std::vector<ics_event> out;
    for (auto& inv : parsed->events) {
        ics_event e{std::move(inv), {}};
        for (const auto& f : extras) {
            if (f.uid == e.inv.uid && f.has_recurrence_id == e.inv.recurrence_id.has_value()) {
                e.extras = f.extras;
                break;
            }
        }
        out.push_back(std::move(e));
    }
    return out;
}

std::string read_ics_file(const std::filesystem::path& file) {
    std::string text = read_file(file);
    if (text.empty()) throw std::runtime_error(file.string() + ": cannot be read or is empty");
    return text;
}

rrule_fields read_rrule(const calendar::invitation& inv, const std::string& file) {
    using namespace std::chrono;
    const std::string& rule = inv.recurrence.rule;
    rrule_fields r;
    r.rule = rule;
    if (inv.start_local.year != 0) {
        r.local_start_day = sys_days{year{inv.start_local.year} /
                                     month{static_cast<unsigned>(inv.start_local.month)} /
                                     day{static_cast<unsigned>(inv.start_local.day)}};
    }
    std::size_t pos = 0;
    while (pos <= rule.size()) {
        std::size_t end = rule.find(';', pos);
        if (end == std::string::npos) end = rule.size();
        const std::string part = rule.substr(pos, end - pos);
        if (const auto eq = part.find('='); eq != std::string::npos) {
            r.parts[upper(part.substr(0, eq))] = upper(part.substr(eq + 1));
        }
        pos = end + 1;
    }
    const auto number = [&](const char* name) -> std::optional<int> {
        const auto it = r.parts.find(name);
        if (it == r.parts.end()) return std::nullopt;
        return to_int(it->second, file, rule);
    };
    r.interval = number("INTERVAL").value_or(1);
    r.month_day = number("BYMONTHDAY");
    r.month = number("BYMONTH");
    if (const auto it = r.parts.find("BYDAY"); it != r.parts.end()) {
        const std::string& v = it->second;
        std::size_t p = 0;
        while (p < v.size()) {
            std::size_t end = v.find(',', p);
            if (end == std::string::npos) end = v.size();
            const std::string d = v.substr(p, end - p);
            p = end + 1;
            const int wd = d.size() >= 2 ? weekday_of(std::string_view(d).substr(d.size() - 2)) : -1;
            if (wd < 0) throw std::runtime_error(file + ": BYDAY " + d + " cannot be read");
            const std::string ordinal = d.substr(0, d.size() - 2);
            r.by_day.emplace_back(ordinal.empty() ? 0 : to_int(ordinal, file, rule), wd);
        }
    }
    const auto set_pos = number("BYSETPOS");
    r.relative = !r.by_day.empty() && (r.by_day.front().first != 0 || set_pos);
    r.week = !r.by_day.empty() && r.by_day.front().first != 0 ? r.by_day.front().first
                                                               : set_pos.value_or(1);
    if (const auto it = r.parts.find("WKST"); it != r.parts.end()) {
        r.first_day_of_week = weekday_of(it->second);
    }
    return r;
}

}  // namespace agendad::test_support
