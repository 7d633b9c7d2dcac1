// The invitation as parse_ics normalises it gives almost everything; what it does not keep (the
// HTML body, Outlook's busy status, DTSTAMP and CREATED as written) is read from the same text
// through libical, event by event, matched by UID and RECURRENCE-ID.
#include "support/ews_calendar_items.h"

#include <libical/ical.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>
#include <utility>

#include "calendar/encoding.h"
#include "calendar/ical/ical_ptr.h"
#include "calendar/ical/parse.h"
#include "calendar/ical/prescan.h"
#include "calendar/invitation.h"
#include "calendar/time_zones.h"
#include "calendar/xml/xml.h"
#include "support/files.h"

namespace agendad::test_support {
namespace {

using calendar::invitation;
using calendar::partstat;
using calendar::time_point;
namespace xml = calendar::xml;
namespace enc = calendar::encoding;

constexpr std::size_t max_ics_bytes = std::size_t{16} << 20;

// --- what libical has that the invitation does not keep ---------------------------------------

struct raw_event {
    std::string uid;
    bool has_recurrence_id = false;
    std::string html;         // X-ALT-DESC;FMTTYPE=text/html
    std::string busy_status;  // X-MICROSOFT-CDO-BUSYSTATUS, upper case
    std::string stamp;        // DTSTAMP as "2026-11-20T08:00:00Z", or empty
    std::string created;      // CREATED, same form
    bool attachments = false;
};

std::string utc_text(icaltimetype t) {
    if (icaltime_is_null_time(t) || !icaltime_is_valid_time(t)) return {};
    const icaltimezone* zone = t.zone ? t.zone : icaltimezone_get_utc_timezone();
    const time_t secs = icaltime_as_timet_with_zone(t, zone);
    return calendar::format_utc(time_point{std::chrono::seconds{secs}});
}

std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return s;
}

raw_event read_raw(icalcomponent* ev) {
    raw_event r;
    if (const char* uid = icalcomponent_get_uid(ev)) r.uid = uid;
    r.has_recurrence_id = icalcomponent_get_first_property(ev, ICAL_RECURRENCEID_PROPERTY);
    for (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_X_PROPERTY); p;
         p = icalcomponent_get_next_property(ev, ICAL_X_PROPERTY)) {
        const char* name = icalproperty_get_x_name(p);
        const char* value = icalproperty_get_x(p);
        if (!name || !value) continue;
        if (enc::iequals(name, "X-ALT-DESC")) {
            icalparameter* fmt = icalproperty_get_first_parameter(p, ICAL_FMTTYPE_PARAMETER);
            const char* type = fmt ? icalparameter_get_fmttype(fmt) : nullptr;
            if (type && enc::iequals(type, "text/html")) r.html = value;
        } else if (enc::iequals(name, "X-MICROSOFT-CDO-BUSYSTATUS")) {
            r.busy_status = upper(value);
        }
    }
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_DTSTAMP_PROPERTY)) {
        r.stamp = utc_text(icalproperty_get_dtstamp(p));
    }
    if (icalproperty* p = icalcomponent_get_first_property(ev, ICAL_CREATED_PROPERTY)) {
        r.created = utc_text(icalproperty_get_created(p));
    }
    r.attachments = icalcomponent_get_first_property(ev, ICAL_ATTACH_PROPERTY) != nullptr;
    return r;
}

std::vector<raw_event> raw_events(std::string_view text, const std::string& file) {
    auto scan = calendar::ical::prescan(text, file, max_ics_bytes);
    if (!scan) throw std::runtime_error(scan.error().to_string());
    calendar::ical::ensure_initialised();
    const calendar::ical::component_ptr root = calendar::ical::parse_string(scan->text());
    std::vector<raw_event> out;
    if (!root) return out;
    if (icalcomponent_isa(root.get()) == ICAL_VEVENT_COMPONENT) {
        out.push_back(read_raw(root.get()));
        return out;
    }
    for (icalcomponent* ev = icalcomponent_get_first_component(root.get(), ICAL_VEVENT_COMPONENT);
         ev; ev = icalcomponent_get_next_component(root.get(), ICAL_VEVENT_COMPONENT)) {
        out.push_back(read_raw(ev));
    }
    return out;
}

// --- values ----------------------------------------------------------------------------------

// An element with escaped text: <t:name>text</t:name>.
std::string el(std::string_view name, std::string_view text) {
    std::string out = "<t:";
    out += name;
    out += '>';
    out += xml::escape(text);
    out += "</t:";
    out += name;
    out += '>';
    return out;
}

const char* yes(bool b) {
    return b ? "true" : "false";
}

// EWS ResponseType of an attendee's PARTSTAT.
const char* response_type(partstat p) {
    switch (p) {
        case partstat::accepted:
            return "Accept";
        case partstat::declined:
            return "Decline";
        case partstat::tentative:
            return "Tentative";
        case partstat::needs_action:
        case partstat::delegated:
            return "NoResponseReceived";
        default:
            return "Unknown";
    }
}

// "PT1H30M", as Exchange writes Duration.
std::string duration_text(std::chrono::seconds d) {
    if (d.count() <= 0) return "PT0S";
    const long long h = d.count() / 3600, m = d.count() / 60 % 60, s = d.count() % 60;
    std::string out = "PT";
    if (h) out += std::to_string(h) + "H";
    if (m) out += std::to_string(m) + "M";
    if (s) out += std::to_string(s) + "S";
    return out;
}

std::string mailbox_xml(const std::string& name, const std::string& address) {
    return "<t:Mailbox>" + el("Name", name.empty() ? address : name) +
           el("EmailAddress", address) + el("RoutingType", "SMTP") +
           el("MailboxType", "Mailbox") + "</t:Mailbox>";
}

// --- recurrence --------------------------------------------------------------------------------

const char* const weekday_names[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                     "Thursday", "Friday", "Saturday"};
const char* const month_names[] = {"January", "February", "March",     "April",
                                   "May",     "June",     "July",      "August",
                                   "September", "October", "November", "December"};

int weekday_of(std::string_view two_letters) {
    static constexpr std::string_view codes[] = {"SU", "MO", "TU", "WE", "TH", "FR", "SA"};
    for (int i = 0; i < 7; ++i) {
        if (codes[i] == two_letters) return i;
    }
    return -1;
}

const char* week_index(int n) {
    switch (n) {
        case 1:
            return "First";
        case 2:
            return "Second";
        case 3:
            return "Third";
        case 4:
            return "Fourth";
        default:
            return "Last";
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

int to_int(const std::string& s, const std::string& file, const std::string& rule) {
    try {
        return std::stoi(s);
    } catch (const std::exception&) {
        throw std::runtime_error(file + ": RRULE " + rule + ": '" + s + "' is not a number");
    }
}

// The RRULE as EWS's <t:Recurrence>. EWS keeps a series in its own time zone: weekdays, days of
// month and the range's dates are the organizer's local ones (start_local), not UTC's.
std::string recurrence_xml(const invitation& inv, const std::string& file) {
    using namespace std::chrono;
    const auto& r = inv.recurrence;
    const auto parts = rule_parts(r.rule);
    sys_days local_day = floor<days>(inv.start);
    if (inv.start_local.year != 0) {
        local_day = sys_days{year{inv.start_local.year} /
                             month{static_cast<unsigned>(inv.start_local.month)} /
                             day{static_cast<unsigned>(inv.start_local.day)}};
    }
    const year_month_day ymd{local_day};
    const int interval = parts.count("INTERVAL") ? to_int(parts.at("INTERVAL"), file, r.rule) : 1;

    std::vector<std::pair<int, int>> by_day;  // (ordinal or 0, weekday)
    if (parts.count("BYDAY")) {
        const std::string& v = parts.at("BYDAY");
        std::size_t pos = 0;
        while (pos < v.size()) {
            std::size_t end = v.find(',', pos);
            if (end == std::string::npos) end = v.size();
            const std::string d = v.substr(pos, end - pos);
            pos = end + 1;
            const int wd = d.size() >= 2 ? weekday_of(std::string_view(d).substr(d.size() - 2)) : -1;
            if (wd < 0) throw std::runtime_error(file + ": BYDAY " + d + " cannot be read");
            const std::string ordinal = d.substr(0, d.size() - 2);
            by_day.emplace_back(ordinal.empty() ? 0 : to_int(ordinal, file, r.rule), wd);
        }
    }
    std::string days_of_week;
    for (const auto& [ordinal, wd] : by_day) {
        if (!days_of_week.empty()) days_of_week += ' ';
        days_of_week += weekday_names[wd];
    }
    if (days_of_week.empty()) days_of_week = weekday_names[weekday{local_day}.c_encoding()];
    const bool relative = !by_day.empty() && (by_day.front().first != 0 || parts.count("BYSETPOS"));
    const int week = !by_day.empty() && by_day.front().first != 0
                         ? by_day.front().first
                         : (parts.count("BYSETPOS") ? to_int(parts.at("BYSETPOS"), file, r.rule) : 1);
    const int month_day = parts.count("BYMONTHDAY")
                              ? to_int(parts.at("BYMONTHDAY"), file, r.rule)
                              : static_cast<int>(static_cast<unsigned>(ymd.day()));
    const int month_number = parts.count("BYMONTH")
                                 ? to_int(parts.at("BYMONTH"), file, r.rule)
                                 : static_cast<int>(static_cast<unsigned>(ymd.month()));
    if (month_number < 1 || month_number > 12) {
        throw std::runtime_error(file + ": RRULE " + r.rule + ": no month " +
                                 std::to_string(month_number));
    }
    const std::string month_name = month_names[month_number - 1];
    const std::string n = std::to_string(interval);

    std::string pattern;
    const std::string& freq = r.frequency;
    if (freq == "DAILY") {
        pattern = "<t:DailyRecurrence>" + el("Interval", n) + "</t:DailyRecurrence>";
    } else if (freq == "WEEKLY") {
        const int wkst = parts.count("WKST") ? weekday_of(parts.at("WKST")) : -1;
        pattern = "<t:WeeklyRecurrence>" + el("Interval", n) + el("DaysOfWeek", days_of_week) +
                  el("FirstDayOfWeek", weekday_names[wkst >= 0 ? wkst : 1]) +
                  "</t:WeeklyRecurrence>";
    } else if (freq == "MONTHLY" && relative) {
        pattern = "<t:RelativeMonthlyRecurrence>" + el("Interval", n) +
                  el("DaysOfWeek", days_of_week) + el("DayOfWeekIndex", week_index(week)) +
                  "</t:RelativeMonthlyRecurrence>";
    } else if (freq == "MONTHLY") {
        pattern = "<t:AbsoluteMonthlyRecurrence>" + el("Interval", n) +
                  el("DayOfMonth", std::to_string(month_day)) + "</t:AbsoluteMonthlyRecurrence>";
    } else if (freq == "YEARLY" && relative) {
        pattern = "<t:RelativeYearlyRecurrence>" + el("DaysOfWeek", days_of_week) +
                  el("DayOfWeekIndex", week_index(week)) + el("Month", month_name) +
                  "</t:RelativeYearlyRecurrence>";
    } else if (freq == "YEARLY") {
        pattern = "<t:AbsoluteYearlyRecurrence>" + el("DayOfMonth", std::to_string(month_day)) +
                  el("Month", month_name) + "</t:AbsoluteYearlyRecurrence>";
    } else {
        throw std::runtime_error(file + ": RRULE " + r.rule + ": EWS has no pattern for it");
    }

    char start_date[16];
    std::snprintf(start_date, sizeof start_date, "%04d-%02u-%02u", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()));
    std::string range;
    switch (r.kind) {
        case calendar::recurrence_info::bound::count:
            range = "<t:NumberedRecurrence>" + el("StartDate", start_date) +
                    el("NumberOfOccurrences", std::to_string(r.count)) +
                    "</t:NumberedRecurrence>";
            break;
        case calendar::recurrence_info::bound::until:
            range = "<t:EndDateRecurrence>" + el("StartDate", start_date) +
                    el("EndDate", calendar::format_date(r.until.value_or(inv.start))) +
                    "</t:EndDateRecurrence>";
            break;
        default:
            range = "<t:NoEndRecurrence>" + el("StartDate", start_date) + "</t:NoEndRecurrence>";
            break;
    }
    return "<t:Recurrence>" + pattern + range + "</t:Recurrence>";
}

// --- the item --------------------------------------------------------------------------------

ews_calendar_item to_item(const invitation& inv, const raw_event* raw, const std::string& owner,
                          const std::string& file) {
    if (inv.uid.empty()) throw std::runtime_error(file + ": an event without UID");
    if (!inv.has_start) throw std::runtime_error(file + ": an event without DTSTART");
    ews_calendar_item out;
    out.uid = inv.uid;
    if (inv.recurrence_id) out.recurrence_id = calendar::format_utc(*inv.recurrence_id);

    const bool nobody_organizes = inv.organizer.address.empty();
    const bool owner_organizes = !nobody_organizes && inv.organizer.address == owner;
    const bool cancelled =
        inv.method == calendar::method::cancel || inv.status == calendar::event_status::cancelled;
    const std::string stamp = raw && !raw->stamp.empty() ? raw->stamp : "";
    const std::string created = raw && !raw->created.empty() ? raw->created : stamp;
    const bool html = raw && !raw->html.empty();
    const time_point end = inv.end > inv.start ? inv.end : inv.start;

    const calendar::attendee* me = nullptr;
    for (const auto& a : inv.attendees) {
        if (a.address == owner) me = &a;
    }
    std::string my_response = "NoResponseReceived";
    if (owner_organizes || nobody_organizes) {
        my_response = "Organizer";
    } else if (me) {
        my_response = response_type(me->partstat);
        if (my_response == "Unknown") my_response = "NoResponseReceived";
    }
    std::string free_busy = "Busy";
    if (inv.transp == calendar::transparency::transparent) {
        free_busy = "Free";
    } else if (raw && raw->busy_status == "TENTATIVE") {
        free_busy = "Tentative";
    } else if (raw && raw->busy_status == "OOF") {
        free_busy = "OOF";
    } else if (raw && raw->busy_status == "FREE") {
        free_busy = "Free";
    } else if (raw && raw->busy_status == "WORKINGELSEWHERE") {
        free_busy = "WorkingElsewhere";
    }
    // The organizer's zone when it is a Windows name EWS knows; IANA names cannot be mapped back.
    std::string zone = "UTC";
    if (!inv.start_local.zone.empty() && calendar::windows_zone_to_iana(inv.start_local.zone)) {
        zone = inv.start_local.zone;
    }
    const char* item_type =
        inv.recurrence_id ? "Exception" : (inv.is_recurring() ? "RecurringMaster" : "Single");

    std::string required, optional, resources;
    for (const auto& a : inv.attendees) {
        std::string x = "<t:Attendee>" + mailbox_xml(a.name, a.address) +
                        el("ResponseType", response_type(a.partstat));
        const bool answered = a.partstat == partstat::accepted ||
                              a.partstat == partstat::declined || a.partstat == partstat::tentative;
        if (answered && !stamp.empty()) x += el("LastResponseTime", stamp);
        x += "</t:Attendee>";
        if (a.cutype == "ROOM" || a.cutype == "RESOURCE") {
            resources += x;
        } else if (a.role == calendar::role::optional ||
                   a.role == calendar::role::non_participant) {
            optional += x;
        } else {
            required += x;
        }
    }

    std::string x = "<t:CalendarItem xmlns:t=\"" + std::string(ews_types_namespace) + "\">";
    x += el("ItemClass", cancelled ? "IPM.Appointment.Canceled" : "IPM.Appointment");
    x += el("Subject", inv.subject);
    x += el("Sensitivity", "Normal");
    x += std::string("<t:Body BodyType=\"") + (html ? "HTML" : "Text") + "\">" +
         xml::escape(html ? raw->html : inv.description) + "</t:Body>";
    if (!stamp.empty()) x += el("DateTimeReceived", stamp);
    x += el("Importance", "Normal");
    x += el("IsSubmitted", "false") + el("IsDraft", "false") + el("IsFromMe", yes(owner_organizes)) +
         el("IsResend", "false") + el("IsUnmodified", "false");
    if (!stamp.empty()) x += el("DateTimeSent", stamp);
    if (!created.empty()) x += el("DateTimeCreated", created);
    x += el("HasAttachments", yes(inv.has_attachments || (raw && raw->attachments)));
    x += el("Culture", "en-US");
    x += el("UID", inv.uid);
    if (inv.recurrence_id) x += el("RecurrenceId", out.recurrence_id);
    if (!stamp.empty()) x += el("DateTimeStamp", stamp);
    x += el("Start", calendar::format_utc(inv.start));
    x += el("End", calendar::format_utc(end));
    x += el("IsAllDayEvent", yes(inv.all_day));
    x += el("LegacyFreeBusyStatus", free_busy);
    x += el("Location", inv.location);
    x += el("IsMeeting", yes(!inv.attendees.empty() || (!owner_organizes && !nobody_organizes)));
    x += el("IsCancelled", yes(cancelled));
    x += el("IsRecurring", yes(inv.recurrence_id.has_value()));
    x += el("MeetingRequestWasSent", yes(owner_organizes && !inv.attendees.empty()));
    x += el("IsResponseRequested", yes(owner_organizes || !me || inv.response_requested()));
    x += el("CalendarItemType", item_type);
    x += el("MyResponseType", my_response);
    if (!nobody_organizes) {
        x += "<t:Organizer>" + mailbox_xml(inv.organizer.name, inv.organizer.address) +
             "</t:Organizer>";
    }
    if (!required.empty()) x += "<t:RequiredAttendees>" + required + "</t:RequiredAttendees>";
    if (!optional.empty()) x += "<t:OptionalAttendees>" + optional + "</t:OptionalAttendees>";
    if (!resources.empty()) x += "<t:Resources>" + resources + "</t:Resources>";
    x += el("Duration", duration_text(end - inv.start));
    x += el("TimeZone", zone);
    x += el("AppointmentSequenceNumber", std::to_string(inv.sequence));
    x += el("AppointmentState", owner_organizes ? "1" : "3");
    if (inv.is_recurring() && !inv.recurrence_id) x += recurrence_xml(inv, file);
    x += "<t:StartTimeZone Id=\"" + xml::escape(zone) + "\" Name=\"" + xml::escape(zone) + "\"/>";
    x += "<t:EndTimeZone Id=\"" + xml::escape(zone) + "\" Name=\"" + xml::escape(zone) + "\"/>";
    x += el("IsOnlineMeeting", "false");
    x += "</t:CalendarItem>";
    out.xml = std::move(x);
    return out;
}

}  // namespace

std::vector<ews_calendar_item> ews_calendar_items_from_ics(std::string_view ics,
                                                           std::string_view file,
                                                           std::string_view owner) {
    const std::string name(file);
    const std::string mailbox = calendar::normalize_address(owner);
    auto parsed = calendar::parse_ics(ics, file, calendar::parse_options{mailbox});
    if (!parsed) throw std::runtime_error(parsed.error().to_string());
    if (!parsed->errors.empty()) throw std::runtime_error(parsed->errors.front().to_string());
    const auto raws = raw_events(ics, name);
    std::vector<ews_calendar_item> out;
    for (const auto& inv : parsed->events) {
        const raw_event* raw = nullptr;
        for (const auto& r : raws) {
            if (r.uid == inv.uid && r.has_recurrence_id == inv.recurrence_id.has_value()) {
                raw = &r;
                break;
            }
        }
        out.push_back(to_item(inv, raw, mailbox, name));
    }
    return out;
}

std::vector<ews_calendar_item> ews_calendar_items_from_file(const std::filesystem::path& file,
                                                            std::string_view owner) {
    const std::string text = read_file(file);
    if (text.empty()) throw std::runtime_error(file.string() + ": cannot be read or is empty");
    return ews_calendar_items_from_ics(text, file.filename().string(), owner);
}

}  // namespace agendad::test_support
