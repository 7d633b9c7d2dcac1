// The invitation as parse_ics normalises it gives almost everything; what it does not keep (the
// HTML body, Outlook's busy status, DTSTAMP and CREATED as written) is read from the same text
// through libical by support/ics_extras.h, as the Graph converter reads it.
#include "support/ews_calendar_items.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>

#include "calendar/invitation.h"
#include "calendar/time_zones.h"
#include "calendar/xml/xml.h"
#include "support/ics_extras.h"

namespace agendad::test_support {
namespace {

using calendar::invitation;
using calendar::partstat;
using calendar::time_point;
namespace xml = calendar::xml;

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

const char* const week_names[] = {"First", "Second", "Third", "Fourth", "Last"};

// The RRULE as EWS's <t:Recurrence>. EWS keeps a series in its own time zone: weekdays, days of
// month and the range's dates are the organizer's local ones (start_local), not UTC's.
std::string recurrence_xml(const invitation& inv, const std::string& file) {
    using namespace std::chrono;
    const auto& r = inv.recurrence;
    const rrule_fields rule = read_rrule(inv, file);
    const sys_days local_day = rule.local_start_day.value_or(floor<days>(inv.start));
    const year_month_day ymd{local_day};
    std::string days_of_week;
    for (const auto& [ordinal, wd] : rule.by_day) {
        if (!days_of_week.empty()) days_of_week += ' ';
        days_of_week += weekday_names[wd];
    }
    if (days_of_week.empty()) days_of_week = weekday_names[weekday{local_day}.c_encoding()];
    const bool relative = rule.relative;
    const int month_day =
        rule.month_day.value_or(static_cast<int>(static_cast<unsigned>(ymd.day())));
    const int month_number =
        rule.month.value_or(static_cast<int>(static_cast<unsigned>(ymd.month())));
    if (month_number < 1 || month_number > 12) {
        throw std::runtime_error(file + ": RRULE " + r.rule + ": no month " +
                                 std::to_string(month_number));
    }
    const std::string month_name = month_names[month_number - 1];
    const std::string n = std::to_string(rule.interval);

    std::string pattern;
    const std::string& freq = r.frequency;
    if (freq == "DAILY") {
        pattern = "<t:DailyRecurrence>" + el("Interval", n) + "</t:DailyRecurrence>";
    } else if (freq == "WEEKLY") {
        const int wkst = rule.first_day_of_week;
        pattern = "<t:WeeklyRecurrence>" + el("Interval", n) + el("DaysOfWeek", days_of_week) +
                  el("FirstDayOfWeek", weekday_names[wkst >= 0 ? wkst : 1]) +
                  "</t:WeeklyRecurrence>";
    } else if (freq == "MONTHLY" && relative) {
        pattern = "<t:RelativeMonthlyRecurrence>" + el("Interval", n) +
                  el("DaysOfWeek", days_of_week) + el("DayOfWeekIndex", week_names[rule.week_slot()]) +
                  "</t:RelativeMonthlyRecurrence>";
    } else if (freq == "MONTHLY") {
        pattern = "<t:AbsoluteMonthlyRecurrence>" + el("Interval", n) +
                  el("DayOfMonth", std::to_string(month_day)) + "</t:AbsoluteMonthlyRecurrence>";
    } else if (freq == "YEARLY" && relative) {
        pattern = "<t:RelativeYearlyRecurrence>" + el("DaysOfWeek", days_of_week) +
                  el("DayOfWeekIndex", week_names[rule.week_slot()]) + el("Month", month_name) +
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

ews_calendar_item to_item(const invitation& inv, const ics_extras& extras, const std::string& owner,
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
    const std::string& stamp = extras.stamp;
    const std::string& created = extras.created.empty() ? stamp : extras.created;
    const bool html = !extras.html.empty();
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
    } else if (extras.busy_status == "TENTATIVE") {
        free_busy = "Tentative";
    } else if (extras.busy_status == "OOF") {
        free_busy = "OOF";
    } else if (extras.busy_status == "FREE") {
        free_busy = "Free";
    } else if (extras.busy_status == "WORKINGELSEWHERE") {
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
         xml::escape(html ? extras.html : inv.description) + "</t:Body>";
    if (!stamp.empty()) x += el("DateTimeReceived", stamp);
    x += el("Importance", "Normal");
    x += el("IsSubmitted", "false") + el("IsDraft", "false") + el("IsFromMe", yes(owner_organizes)) +
         el("IsResend", "false") + el("IsUnmodified", "false");
    if (!stamp.empty()) x += el("DateTimeSent", stamp);
    if (!created.empty()) x += el("DateTimeCreated", created);
    x += el("HasAttachments", yes(inv.has_attachments || extras.attachments));
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
    std::vector<ews_calendar_item> out;
    for (const auto& e : read_ics_events(ics, file, mailbox)) {
        out.push_back(to_item(e.inv, e.extras, mailbox, name));
    }
    return out;
}

std::vector<ews_calendar_item> ews_calendar_items_from_file(const std::filesystem::path& file,
                                                            std::string_view owner) {
    return ews_calendar_items_from_ics(read_ics_file(file), file.filename().string(), owner);
}

}  // namespace agendad::test_support
