#include "calendar/exchange_common.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <unordered_map>
#include <utility>

#include "calendar/encoding.h"
#include "calendar/ical/ical_ptr.h"
#include "calendar/time_zones.h"

namespace agendad::calendar::exchange {
namespace {

using encoding::iequals;

// Texts quoted in messages (ids, zone names, values) are cut to this many bytes.
constexpr std::size_t max_quoted = 120;
// Zone names remembered per thread (misses too, so that unknown names cost one look-up).
constexpr std::size_t max_zone_cache = 512;

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

bool is_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
}

// A name libical may turn into a path under /usr/share/zoneinfo: plain IANA names only (ASCII
// whatever the locale).
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

wall_clock from_ical(const icaltimetype& t) {
    wall_clock w;
    w.year = t.year;
    w.month = t.month;
    w.day = t.day;
    w.hour = t.hour;
    w.minute = t.minute;
    w.second = t.second;
    w.has_time = !t.is_date;
    return w;
}

time_point from_time_t(time_t t) {
    return time_point{std::chrono::seconds{t}};
}

std::string_view frequency_of(recurrence_pattern::pattern_type type) {
    using type_t = recurrence_pattern::pattern_type;
    switch (type) {
        case type_t::daily:
            return "DAILY";
        case type_t::weekly:
            return "WEEKLY";
        case type_t::absolute_monthly:
        case type_t::relative_monthly:
            return "MONTHLY";
        case type_t::absolute_yearly:
        case type_t::relative_yearly:
            return "YEARLY";
    }
    return "DAILY";
}

// The end of an end-date range: the end of that day in `zone` (see recurrence_of).
time_point until_of(std::chrono::sys_days end_date, bool all_day, icaltimezone* zone) {
    using namespace std::chrono;
    const sys_days next_day = end_date + days{1};
    if (all_day || !zone || year_month_day{end_date}.year() > year{last_year}) {
        return time_point{next_day};
    }
    return to_utc(wall_clock_of(next_day), zone);
}

// The start of the last occurrence of a numbered series, walking the rule from the start.
std::optional<time_point> last_start_of(const recurrence_info& r, time_point start, bool all_day,
                                        icaltimezone* zone) {
    if (r.count <= 0 || r.count > max_count_walk) return std::nullopt;
    std::optional<wall_clock> local;
    if (all_day) {
        local = wall_clock_of(std::chrono::floor<std::chrono::days>(start));
    } else {
        local = wall_clock_in(start, zone);
    }
    if (!local) return std::nullopt;
    ical::ensure_initialised();
    const icalrecurrencetype rule = icalrecurrencetype_from_string(r.rule.c_str());
    icalerror_clear_errno();
    if (rule.freq == ICAL_NO_RECURRENCE) return std::nullopt;
    icaltimetype first = to_ical(*local, all_day);
    if (!all_day) first.zone = zone ? zone : icaltimezone_get_utc_timezone();
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
    const wall_clock w = from_ical(last);
    if (all_day) return time_point{date_of(w)};
    return to_utc(w, zone);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Text

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

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

std::string quoted(std::string_view s) {
    std::string out = clean_utf8(s, max_quoted);
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    }
    if (out.size() < s.size()) out += "…";
    return "'" + out + "'";
}

std::string clean_name(std::string_view raw) {
    std::string name = trim(raw);
    while (!name.empty() && (name.front() == '"' || name.front() == '\'')) name.erase(0, 1);
    while (!name.empty() && (name.back() == '"' || name.back() == '\'')) name.pop_back();
    name = trim(name);
    if (name.find('@') != std::string::npos && name.find(' ') == std::string::npos) return {};
    return name;
}

// ---------------------------------------------------------------------------------------------
// Problems and warnings

void add_problem(std::vector<diagnostic>& problems, std::string_view where, std::string_view label,
                 std::string_view id, std::string message) {
    if (problems.size() > max_notes) return;
    if (problems.size() == max_notes) message = "more problems not listed";
    // In a list, which item; a single item is named by `where` already.
    std::string prefix;
    if (!label.empty()) {
        prefix = std::string(label);
        if (!id.empty()) prefix += " (id " + quoted(id) + ")";
        prefix += ": ";
    }
    problems.push_back(diagnostic{std::string(where), 0, 0, prefix + message});
}

void add_warning(std::vector<std::string>& warnings, std::string message) {
    if (warnings.size() > max_notes) return;
    if (warnings.size() == max_notes) message = "more warnings not listed";
    warnings.push_back(std::move(message));
}

std::string in(std::string_view where) {
    return where.empty() ? std::string() : std::string(where) + ": ";
}

void set_error(std::string& error, std::string_view where, std::string_view what,
               const char* detail) noexcept {
    try {
        error = in(where) + std::string(what);
        if (detail) error += std::string(": ") + detail;
    } catch (...) {
        error.clear();
    }
}

// ---------------------------------------------------------------------------------------------
// The mailbox's own entry

void assign_exchange_owner(invitation& inv, std::string_view mailbox,
                           std::optional<partstat> answer, bool is_organizer,
                           std::optional<bool> rsvp) {
    if (mailbox.empty()) return;
    if (answer) {
        for (attendee& a : inv.attendees) {
            if (a.address == mailbox) a.partstat = *answer;
        }
    }
    assign_owner(inv, mailbox);
    if (inv.owner || is_organizer || inv.organizer.address == mailbox || !answer) return;
    attendee me;
    me.address = std::string(mailbox);
    me.partstat = *answer;
    me.rsvp = rsvp;
    inv.owner = std::move(me);
}

// ---------------------------------------------------------------------------------------------
// Dates and times

std::optional<wall_clock> parse_date_time(std::string_view s) {
    wall_clock w;
    std::size_t i = 0;
    if (!read_digits(s, i, 4, w.year) || !expect(s, i, '-') || !read_digits(s, i, 2, w.month) ||
        !expect(s, i, '-') || !read_digits(s, i, 2, w.day)) {
        return std::nullopt;
    }
    // 'T' as both Graph's documentation and xs:dateTime write it (RFC 3339 allows 't'); a
    // space is neither.
    if (i < s.size() && (s[i] == 'T' || s[i] == 't')) {
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
    }
    // The offset: after a time (xs:dateTime), or after a date (xs:date, as EWS writes a
    // recurrence's StartDate and EndDate).
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

wall_clock wall_clock_of(std::chrono::sys_days day) {
    using namespace std::chrono;
    const year_month_day ymd{day};
    wall_clock w;
    w.year = static_cast<int>(ymd.year());
    w.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
    w.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
    return w;
}

time_point as_utc(const wall_clock& w) {
    using namespace std::chrono;
    return time_point{date_of(w)} + hours{w.hour} + minutes{w.minute} + seconds{w.second};
}

// ---------------------------------------------------------------------------------------------
// Time zones

bool is_utc_name(std::string_view name) {
    // "Coordinated Universal Time" is the Windows display name EWS may write for UTC.
    for (std::string_view utc :
         {"UTC", "GMT", "Z", "Etc/UTC", "Etc/GMT", "Etc/Zulu", "Zulu", "Etc/Universal", "Universal",
          "Coordinated Universal Time", "tzone://Microsoft/Utc"}) {
        if (iequals(name, utc)) return true;
    }
    return false;
}

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

time_point to_utc(const wall_clock& w, icaltimezone* zone) {
    if (!zone) return as_utc(w);
    const time_t t = icaltime_as_timet_with_zone(to_ical(w, false), zone);
    icalerror_clear_errno();
    return from_time_t(t);
}

std::optional<wall_clock> wall_clock_in(time_point t, icaltimezone* zone) {
    using namespace std::chrono;
    const sys_days day = floor<days>(t);
    const year_month_day ymd{day};
    // Checked before libical is asked: see first_year.
    const int y = static_cast<int>(ymd.year());
    if (y < first_year || y > last_year) return std::nullopt;
    if (!zone) {
        const hh_mm_ss<seconds> hms{t - day};
        wall_clock w = wall_clock_of(day);
        w.has_time = true;
        w.hour = static_cast<int>(hms.hours().count());
        w.minute = static_cast<int>(hms.minutes().count());
        w.second = static_cast<int>(hms.seconds().count());
        return w;
    }
    const icaltimetype local =
        icaltime_from_timet_with_zone(static_cast<time_t>(t.time_since_epoch().count()), 0, zone);
    icalerror_clear_errno();
    if (icaltime_is_null_time(local)) return std::nullopt;
    wall_clock w = from_ical(local);
    w.has_time = true;
    return w;
}

// ---------------------------------------------------------------------------------------------
// Ids

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
// Recurrence

std::optional<std::string_view> weekday_code(std::string_view day) {
    static constexpr std::pair<std::string_view, std::string_view> days[] = {
        {"Sunday", "SU"},   {"Monday", "MO"}, {"Tuesday", "TU"},  {"Wednesday", "WE"},
        {"Thursday", "TH"}, {"Friday", "FR"}, {"Saturday", "SA"},
    };
    for (const auto& [name, code] : days) {
        if (iequals(day, name)) return code;
    }
    return std::nullopt;
}

std::vector<std::string_view> day_codes(std::string_view day) {
    if (auto code = weekday_code(day)) return {*code};
    if (iequals(day, "Weekday")) return {"MO", "TU", "WE", "TH", "FR"};
    if (iequals(day, "WeekendDay")) return {"SU", "SA"};
    if (iequals(day, "Day")) return {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
    return {};
}

std::optional<int> week_index(std::string_view index) {
    static constexpr std::pair<std::string_view, int> indexes[] = {
        {"First", 1}, {"Second", 2}, {"Third", 3}, {"Fourth", 4}, {"Last", -1}};
    for (const auto& [name, n] : indexes) {
        if (iequals(index, name)) return n;
    }
    return std::nullopt;
}

recurrence_info recurrence_of(const recurrence_pattern& p, std::optional<time_point> start,
                              bool all_day, icaltimezone* zone) {
    using type_t = recurrence_pattern::pattern_type;
    const bool relative = p.type == type_t::relative_monthly || p.type == type_t::relative_yearly;
    const std::string_view frequency = frequency_of(p.type);

    recurrence_info r;
    r.frequency = std::string(frequency);
    std::string bound;
    switch (p.range) {
        case recurrence_pattern::range_type::no_end:
            r.kind = recurrence_info::bound::open_ended;
            break;
        case recurrence_pattern::range_type::end_date: {
            if (!p.end_date) {  // the readers refuse this; read as without end
                r.kind = recurrence_info::bound::open_ended;
                break;
            }
            r.kind = recurrence_info::bound::until;
            r.until = until_of(*p.end_date, all_day, zone);
            const wall_clock d = wall_clock_of(*p.end_date);
            char buf[16];
            std::snprintf(buf, sizeof buf, "%04d%02d%02d", d.year, d.month, d.day);
            bound = std::string(";UNTIL=") + buf;
            break;
        }
        case recurrence_pattern::range_type::numbered:
            r.kind = recurrence_info::bound::count;
            r.count = p.occurrences;
            bound = ";COUNT=" + std::to_string(p.occurrences);
            break;
    }

    // The rule, in the order libical writes an RRULE (FREQ, UNTIL/COUNT, INTERVAL, BYDAY,
    // BYMONTHDAY, BYMONTH, BYSETPOS, WKST), only the parts the pattern's type uses (Graph
    // writes 0 and empty lists for the others).
    std::string rule = "FREQ=" + std::string(frequency) + bound;
    if (p.interval != 1) rule += ";INTERVAL=" + std::to_string(p.interval);
    // libical lists BYDAY days from the week's first day (WKST, Monday by default), whatever
    // order they were written in: "BYDAY=SU,MO" reads back as "BYDAY=MO,SU".
    static constexpr std::string_view week[] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
    const auto day_index = [](std::string_view code) {
        return static_cast<int>(std::find(std::begin(week), std::end(week), code) -
                                std::begin(week));
    };
    const bool weekly = p.type == type_t::weekly;
    const std::string_view wkst =
        weekly && !p.first_day_of_week.empty() ? p.first_day_of_week : "MO";
    const int first = day_index(wkst);
    std::vector<std::string_view> days = p.days;
    std::stable_sort(days.begin(), days.end(), [&](std::string_view a, std::string_view b) {
        return (day_index(a) - first + 7) % 7 < (day_index(b) - first + 7) % 7;
    });
    const auto join_days = [&](const std::string& prefix) {
        std::string out;
        for (std::string_view d : days) {
            if (!out.empty()) out += ',';
            out += prefix;
            out += d;
        }
        return out;
    };
    if (relative && !days.empty()) {
        rule += ";BYDAY=" + join_days(days.size() == 1 ? std::to_string(p.week_index) : "");
    } else if (weekly && !days.empty()) {
        rule += ";BYDAY=" + join_days("");
    }
    if (!relative && p.day_of_month > 0 && (frequency == "MONTHLY" || frequency == "YEARLY")) {
        rule += ";BYMONTHDAY=" + std::to_string(p.day_of_month);
    }
    if (frequency == "YEARLY" && p.month > 0) rule += ";BYMONTH=" + std::to_string(p.month);
    if (relative && days.size() > 1) rule += ";BYSETPOS=" + std::to_string(p.week_index);
    if (wkst != "MO") rule += ";WKST=" + std::string(wkst);
    r.rule = std::move(rule);
    if (r.kind == recurrence_info::bound::count && start) {
        r.last_start = last_start_of(r, *start, all_day, zone);
    }
    return r;
}

}  // namespace agendad::calendar::exchange
