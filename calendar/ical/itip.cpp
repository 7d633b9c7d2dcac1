#include "calendar/ical/itip.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "calendar/encoding.h"
#include "calendar/ical/ical_ptr.h"

namespace agendad::calendar {
namespace {

using encoding::append_utf8;
using encoding::decode_utf8;

enum class text_kind {
    multi_line,  // a TEXT value: line breaks are kept (libical escapes them as \n)
    single_line  // a parameter value or an address: line breaks become spaces
};

// What libical is given: valid UTF-8 (invalid bytes become U+FFFD) without control characters.
// libical writes controls other than line breaks raw into the output, which makes the object
// invalid (RFC 5545 excludes CONTROL from values), and it drops a lone CR silently; NUL would
// cut the C string short. So: CRLF and CR become LF, other controls (tab too in a parameter)
// become spaces.
std::string clean(std::string_view in, text_kind kind) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
        std::uint32_t cp = 0;
        const std::size_t length = decode_utf8(in, i, cp);
        if (cp == '\r') {
            if (i + 1 < in.size() && in[i + 1] == '\n') ++i;  // CRLF: one break
            cp = '\n';
        }
        const bool control = cp < 0x20 || cp == 0x7F;
        if (cp == '\n' && kind == text_kind::multi_line) {
            out += '\n';
        } else if (cp == '\t' && kind == text_kind::multi_line) {
            out += '\t';
        } else if (control) {
            out += ' ';
        } else {
            append_utf8(out, cp);
        }
        i += length;
    }
    return out;
}

// A parameter value (CN). libical quotes values with ':' ';' ',' and writes '"' as RFC 6868's
// ^' but leaves '^' as it is, so a name containing "^n" would come back with a line break: '^'
// is written as RFC 6868's "^^" here.
std::string parameter_text(std::string_view in) {
    std::string out;
    for (char c : clean(in, text_kind::single_line)) {
        if (c == '^') out += '^';
        out += c;
    }
    return out;
}

// A CAL-ADDRESS for ORGANIZER and ATTENDEE. Whitespace and controls cannot be part of an
// address and would break the content line.
std::string cal_address(std::string_view address) {
    std::string out = "mailto:";
    for (char c : clean(address, text_kind::single_line)) {
        if (c != ' ') out += c;
    }
    return out;
}

icaltimetype utc_time(time_point t) {
    return icaltime_from_timet_with_zone(static_cast<std::time_t>(t.time_since_epoch().count()), 0,
                                         icaltimezone_get_utc_timezone());
}

icaltimetype date_value(std::chrono::year_month_day ymd) {
    icaltimetype d = icaltime_null_date();
    d.year = static_cast<int>(ymd.year());
    d.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
    d.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
    return d;
}

// Whether the organizer wrote DTSTART as a DATE (VALUE=DATE). The parser leaves the local zone
// empty for dates; Outlook's all-day events (X-MICROSOFT-CDO-ALLDAYEVENT) can also be zoned
// date-times at midnight, which must stay date-times in a RECURRENCE-ID to match.
bool start_is_date(const invitation& inv) {
    return inv.all_day && inv.start_local.zone.empty() && inv.start_local.hour == 0 &&
           inv.start_local.minute == 0;
}

// NEEDS-ACTION for what is not an answer: what an attendee without one has (RFC 5545 default).
icalparameter_partstat reply_partstat(partstat status) {
    return ical::to_ical(status).value_or(ICAL_PARTSTAT_NEEDSACTION);
}

// Adds the DTSTART/DTEND pair: UTC date-times, or dates for an all-day event (the organizer's
// local date, and at least one day).
void add_times(icalcomponent* event, const invitation& inv) {
    if (!inv.has_start) return;
    if (!inv.all_day) {
        icalcomponent_add_property(event, icalproperty_new_dtstart(utc_time(inv.start)));
        icalcomponent_add_property(event, icalproperty_new_dtend(utc_time(inv.end)));
        return;
    }
    using namespace std::chrono;
    const year_month_day first{year{inv.start_local.year},
                               month{static_cast<unsigned>(inv.start_local.month)},
                               day{static_cast<unsigned>(inv.start_local.day)}};
    if (!first.ok()) return;  // cannot happen for a parsed event; a bad date is no date
    const auto length = round<days>(inv.end - inv.start);
    const year_month_day last{sys_days{first} + std::max(length, days{1})};
    icalcomponent_add_property(event, icalproperty_new_dtstart(date_value(first)));
    icalcomponent_add_property(event, icalproperty_new_dtend(date_value(last)));
}

void add_text(icalcomponent* event, icalproperty* (*make)(const char*), std::string_view text) {
    const std::string value = clean(text, text_kind::multi_line);
    if (!value.empty()) icalcomponent_add_property(event, make(value.c_str()));
}

}  // namespace

std::string build_reply(const invitation& inv, const reply_options& options) {
    ical::ensure_initialised();

    ical::component_ptr calendar{icalcomponent_new(ICAL_VCALENDAR_COMPONENT)};
    icalcomponent* root = calendar.get();
    icalcomponent_add_property(
        root, icalproperty_new_prodid(clean(options.prodid, text_kind::single_line).c_str()));
    icalcomponent_add_property(root, icalproperty_new_version("2.0"));
    icalcomponent_add_property(root, icalproperty_new_method(ICAL_METHOD_REPLY));

    // Owned by the calendar once added.
    icalcomponent* event = icalcomponent_new(ICAL_VEVENT_COMPONENT);
    icalcomponent_add_component(root, event);

    add_text(event, icalproperty_new_uid, inv.uid);
    icalcomponent_add_property(event, icalproperty_new_dtstamp(utc_time(options.now)));
    icalcomponent_add_property(event, icalproperty_new_sequence(inv.sequence));
    if (inv.recurrence_id) {
        // The instance is named as the organizer's DTSTART names it: a date for date events
        // (RFC 5545 wants RECURRENCE-ID of the same value type), else the instant in UTC.
        const icaltimetype rid =
            start_is_date(inv) ? date_value(std::chrono::year_month_day{
                                     std::chrono::floor<std::chrono::days>(*inv.recurrence_id)})
                               : utc_time(*inv.recurrence_id);
        icalcomponent_add_property(event, icalproperty_new_recurrenceid(rid));
    }

    // The organizer's SENT-BY is left out: it names the organizer's delegate, not the sender of
    // this reply.
    if (!inv.organizer.address.empty()) {
        icalproperty* organizer =
            icalproperty_new_organizer(cal_address(inv.organizer.address).c_str());
        if (const std::string cn = parameter_text(inv.organizer.name); !cn.empty()) {
            icalproperty_add_parameter(organizer, icalparameter_new_cn(cn.c_str()));
        }
        icalcomponent_add_property(event, organizer);
    }

    icalproperty* owner = icalproperty_new_attendee(cal_address(options.owner_address).c_str());
    icalproperty_add_parameter(owner, icalparameter_new_partstat(reply_partstat(options.status)));
    if (const std::string cn = parameter_text(options.owner_name); !cn.empty()) {
        icalproperty_add_parameter(owner, icalparameter_new_cn(cn.c_str()));
    }
    icalcomponent_add_property(event, owner);

    add_times(event, inv);
    add_text(event, icalproperty_new_summary, inv.subject);
    add_text(event, icalproperty_new_comment, options.comment);

    // libical writes CRLF line ends, folds at 75 octets (on UTF-8 boundaries) and escapes TEXT.
    const ical::owned_string text{icalcomponent_as_ical_string_r(root)};
    icalerror_clear_errno();
    return text ? std::string(text.get()) : std::string();
}

}  // namespace agendad::calendar
