#include "calendar/ews/ews_items.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <utility>

#include "calendar/encoding.h"
#include "calendar/exchange_common.h"
#include "calendar/html_to_text.h"
#include "calendar/xml/xml.h"

// The readers catch what they could throw (allocation failures included) and turn it into an
// error: an EWS answer, however hostile, never unwinds into the daemon. xml::load bounds the
// size and depth of a body and refuses DTDs; nothing here recurses on the input.

namespace agendad::calendar::ews {
namespace {

using encoding::iequals;
// What Graph and EWS share: exchange_common.h.
using namespace exchange;

constexpr std::string_view t_ns = types_namespace;

// ---------------------------------------------------------------------------------------------
// EWS vocabularies

// t:ResponseType and t:MyResponseType ([MS-OXWSMTGS] ResponseTypeType).
std::optional<partstat> partstat_of(std::string_view response) {
    if (iequals(response, "Unknown") || iequals(response, "NoResponseReceived")) {
        return partstat::needs_action;
    }
    if (iequals(response, "Accept") || iequals(response, "Organizer")) return partstat::accepted;
    if (iequals(response, "Decline")) return partstat::declined;
    if (iequals(response, "Tentative")) return partstat::tentative;
    return std::nullopt;
}

// t:Month ("November") → 11.
std::optional<int> month_number(std::string_view name) {
    static constexpr std::array<std::string_view, 12> months = {
        "January", "February", "March",     "April",   "May",      "June",
        "July",    "August",   "September", "October", "November", "December"};
    for (std::size_t i = 0; i < months.size(); ++i) {
        if (iequals(name, months[i])) return static_cast<int>(i + 1);
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// One item

class item_reader : exchange::item_reader_base<calendar_item> {
  public:
    item_reader(std::string_view mailbox, std::string_view where, std::string label)
        : item_reader_base(mailbox, where, std::move(label)) {}

    calendar_item read(pugi::xml_node item) {
        item_.inv.source.file = std::string(where_);
        read_item(item);
        return std::move(item_);
    }

  private:
    // --- typed fields: a wrong value is reported at `l` and reads as absent

    static pugi::xml_node field(pugi::xml_node parent, std::string_view name) {
        return xml::child(parent, t_ns, name);
    }

    // The trimmed text of t:<name>; nullopt when absent or empty.
    static std::optional<std::string> text(pugi::xml_node parent, std::string_view name) {
        const pugi::xml_node n = field(parent, name);
        if (!n) return std::nullopt;
        return xml::trimmed_text(n);
    }

    // xs:boolean: true, false, 1, 0.
    std::optional<bool> flag(pugi::xml_node parent, std::string_view name, level l) {
        const pugi::xml_node n = field(parent, name);
        if (!n) return std::nullopt;
        const std::string value = xml::trimmed_text(n).value_or("");
        if (value == "true" || value == "1") return true;
        if (value == "false" || value == "0") return false;
        note(l, "'" + std::string(name) + "' is " + quoted(value) + ", not true or false");
        return std::nullopt;
    }

    // A non-negative xs:int.
    std::optional<int> number(pugi::xml_node parent, std::string_view name, level l) {
        const pugi::xml_node n = field(parent, name);
        if (!n) return std::nullopt;
        const std::string value = xml::trimmed_text(n).value_or("");
        int out = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
        if (ec != std::errc() || end != value.data() + value.size() || out < 0) {
            note(l, "'" + std::string(name) + "' is " + quoted(value) +
                        ", not a non-negative integer");
            return std::nullopt;
        }
        return out;
    }

    // An xs:dateTime (EWS writes UTC, "2026-11-20T09:00:00Z") as a UTC instant. `path` names it.
    std::optional<time_point> instant(pugi::xml_node n, const std::string& path, level l) {
        const std::string value = xml::trimmed_text(n).value_or("");
        const auto w = parse_date_time(value);
        if (!w || !w->has_time) {
            note(l, "'" + path + "' is " + quoted(value) + ", not a date and time");
            return std::nullopt;
        }
        if (w->year < first_year || w->year > last_year) {
            note(l, "'" + path + "' is " + quoted(value) + ", not in the years " +
                        std::to_string(first_year) + " to " + std::to_string(last_year));
            return std::nullopt;
        }
        if (!w->offset_minutes) {
            warn("'" + path + "' has no time zone designator: taken as UTC");
        }
        return as_utc(*w) - std::chrono::minutes{w->offset_minutes.value_or(0)};
    }

    // --- the item

    void read_item(pugi::xml_node o) {
        invitation& inv = item_.inv;
        if (const pugi::xml_node id = field(o, "ItemId")) {
            item_.id = std::string(xml::trim(id.attribute("Id").value()));
            item_.change_key = std::string(xml::trim(id.attribute("ChangeKey").value()));
        }
        if (item_.id.empty()) problem("has no ItemId: agendad could not answer it");
        inv.source.item_id = item_.id;
        inv.source.change_key = item_.change_key;

        item_.calendar_item_type = text(o, "CalendarItemType").value_or("");
        const std::string& type = item_.calendar_item_type;
        const bool instance = type == "Occurrence" || type == "Exception";
        if (!type.empty() && !instance && type != "Single" && type != "RecurringMaster") {
            warn("unknown CalendarItemType " + quoted(type));
        }

        read_uid(o, instance);

        if (auto b = flag(o, "IsMeeting", level::warning)) item_.is_meeting = *b;
        if (auto b = flag(o, "IsCancelled", level::problem)) item_.is_cancelled = *b;
        response_requested_ = flag(o, "IsResponseRequested", level::problem);
        if (response_requested_) item_.is_response_requested = *response_requested_;
        item_.my_response_type = text(o, "MyResponseType").value_or("");
        if (auto b = flag(o, "IsOrganizer", level::problem)) {
            item_.is_organizer = *b;
        } else {
            item_.is_organizer = iequals(item_.my_response_type, "Organizer");
        }
        if (item_.is_cancelled) {
            inv.method = method::cancel;
            inv.status = event_status::cancelled;
        }
        // Exchange raises it on every change the organizer sends to the attendees.
        if (auto n = number(o, "AppointmentSequenceNumber", level::problem)) inv.sequence = *n;

        inv.subject = text(o, "Subject").value_or("");
        read_body(o);
        read_location(o);
        if (auto b = flag(o, "HasAttachments", level::warning)) inv.has_attachments = *b;
        if (auto status = text(o, "LegacyFreeBusyStatus")) {
            static constexpr std::string_view known[] = {"Free", "Tentative",        "Busy",
                                                         "OOF",  "WorkingElsewhere", "NoData"};
            if (std::none_of(std::begin(known), std::end(known),
                             [&](std::string_view k) { return iequals(*status, k); })) {
                warn("unknown LegacyFreeBusyStatus " + quoted(*status) + ": taken as busy");
            }
            inv.transp =
                iequals(*status, "Free") ? transparency::transparent : transparency::opaque;
        }
        item_.sensitivity = text(o, "Sensitivity").value_or("");
        if (const pugi::xml_node stamp = field(o, "DateTimeStamp")) {
            item_.date_time_stamp = instant(stamp, "DateTimeStamp", level::warning);
        }

        read_attendees(o);
        read_organizer(o);
        read_times(o, instance);
        if (const pugi::xml_node rec = field(o, "Recurrence")) read_recurrence(rec);
        read_owner();
    }

    void read_uid(pugi::xml_node o, bool instance) {
        invitation& inv = item_.inv;
        item_.uid = text(o, "UID").value_or("");
        if (!item_.uid.empty()) {
            inv.uid = instance ? series_uid(item_.uid) : item_.uid;
            return;
        }
        if (!item_.id.empty()) {
            inv.uid = item_.id;
            warn("no UID: the ItemId stands in for the UID");
        }
    }

    void read_body(pugi::xml_node o) {
        invitation& inv = item_.inv;
        if (const pugi::xml_node body = field(o, "Body")) {
            const std::string_view type = body.attribute("BodyType").value();
            const std::string content = xml::text_of(body);
            // Text bodies that are HTML after all are read as HTML (as DESCRIPTION is).
            if (iequals(type, "HTML") || looks_like_html(content)) {
                // Not trimmed: the same text as the iCalendar parser makes of X-ALT-DESC.
                inv.description = html_to_text(content);
                if (xml::trim(inv.description).empty()) inv.description.clear();
            } else {
                inv.description = std::string(xml::trim(content));
            }
            if (iequals(xml::trim(body.attribute("IsTruncated").value()), "true")) {
                warn("the body was cut short by Exchange (IsTruncated): only its start is read");
            }
        }
        // Exchange 2013 and later: the body as plain text, when Body was not asked for.
        if (inv.description.empty()) inv.description = text(o, "TextBody").value_or("");
    }

    void read_location(pugi::xml_node o) {
        invitation& inv = item_.inv;
        inv.location = text(o, "Location").value_or("");
        if (!inv.location.empty()) return;
        // Exchange 2016 and later.
        if (const pugi::xml_node enhanced = field(o, "EnhancedLocation")) {
            inv.location = text(enhanced, "DisplayName").value_or("");
        }
    }

    // --- people

    struct mailbox_fields {
        std::string address;       // normalised; empty when EmailAddress is no SMTP address
        std::string raw_address;   // EmailAddress as written (trimmed)
        std::string name;          // Name, cleaned
        std::string routing_type;  // RoutingType: SMTP, EX, ...
        std::string mailbox_type;  // MailboxType: Mailbox, PublicDL, PrivateDL, Contact, ...
    };

    // t:Mailbox. Only an SMTP address is an address: an Exchange legacy DN (RoutingType EX,
    // "/o=Contoso/ou=.../cn=Recipients/cn=dana") names a directory entry that agendad cannot
    // compare with anything, and it is not a domain the policy could judge.
    static mailbox_fields read_mailbox(pugi::xml_node m) {
        mailbox_fields out;
        out.raw_address = text(m, "EmailAddress").value_or("");
        out.name = clean_name(text(m, "Name").value_or(""));
        out.routing_type = text(m, "RoutingType").value_or("");
        out.mailbox_type = text(m, "MailboxType").value_or("");
        const bool smtp = out.routing_type.empty() || iequals(out.routing_type, "SMTP");
        std::string address = normalize_address(out.raw_address);
        if (smtp && address.find('@') != std::string::npos) out.address = std::move(address);
        return out;
    }

    static std::string why_no_address(const mailbox_fields& m) {
        if (m.raw_address.empty()) return "no EmailAddress";
        if (!m.routing_type.empty() && !iequals(m.routing_type, "SMTP")) {
            return "an address of RoutingType " + quoted(m.routing_type) +
                   " (an Exchange directory name), no SMTP address";
        }
        return "the EmailAddress " + quoted(m.raw_address) + ", not an SMTP address";
    }

    void read_attendees(pugi::xml_node o) {
        struct list {
            std::string_view element;
            role r;
        };
        static constexpr list lists[] = {{"RequiredAttendees", role::required},
                                         {"OptionalAttendees", role::optional},
                                         {"Resources", role::non_participant}};
        std::size_t total = 0;
        for (const list& l : lists) {
            xml::for_each_child(field(o, l.element), t_ns, "Attendee",
                                [&](pugi::xml_node) { ++total; });
        }
        if (total > max_attendees) {
            problem("has " + std::to_string(total) + " attendees, more than " +
                    std::to_string(max_attendees) + " (not read)");
            return;
        }
        for (const list& l : lists) {
            std::size_t index = 0;
            xml::for_each_child(field(o, l.element), t_ns, "Attendee", [&](pugi::xml_node a) {
                read_attendee(
                    a, l.r, std::string(l.element) + "/Attendee[" + std::to_string(index++) + "]");
            });
        }
    }

    void read_attendee(pugi::xml_node a, role r, const std::string& path) {
        const mailbox_fields m = read_mailbox(field(a, "Mailbox"));
        const std::string response = text(a, "ResponseType").value_or("");
        if (m.address.empty()) {
            warn(path + " has " + why_no_address(m) + ": left out");
            return;
        }
        attendee at;
        at.address = m.address;
        at.name = m.name;
        at.role = r;
        if (r == role::non_participant) {
            at.cutype = "RESOURCE";
        } else if (iequals(m.mailbox_type, "PublicDL") || iequals(m.mailbox_type, "PrivateDL")) {
            at.cutype = "GROUP";
        }
        if (auto p = partstat_of(response)) {
            at.partstat = *p;
        } else if (!response.empty()) {
            at.partstat = partstat::other;
            warn(path + " has the unknown ResponseType " + quoted(response));
        }
        if (iequals(response, "Organizer")) organizer_attendees_.push_back(at.address);
        at.rsvp = response_requested_;
        item_.inv.attendees.push_back(std::move(at));
    }

    void read_organizer(pugi::xml_node o) {
        invitation& inv = item_.inv;
        const pugi::xml_node org = field(o, "Organizer");
        const mailbox_fields m = read_mailbox(field(org, "Mailbox"));
        inv.organizer.name = m.name;
        if (!m.address.empty()) {
            inv.organizer.address = m.address;
            return;
        }
        // No SMTP address for the organizer: another field may say who it is.
        if (item_.is_organizer && !mailbox_.empty()) {
            inv.organizer.address = mailbox_;  // the owner's own item
            return;
        }
        if (organizer_attendees_.size() == 1) {
            inv.organizer.address = organizer_attendees_.front();
            if (org)
                warn("the organizer has " + why_no_address(m) +
                     ": the attendee whose "
                     "ResponseType is Organizer gives the address");
            return;
        }
        // An appointment of the owner's own (no attendees, not a meeting) has no organizer to
        // judge; anything else needs one.
        if (!org && !item_.is_meeting && inv.attendees.empty()) return;
        if (!org) {
            problem("has no Organizer: the policy cannot judge who invites");
        } else {
            problem("the Organizer has " + why_no_address(m) +
                    ": the policy cannot judge who invites");
        }
    }

    // The mailbox's own entry. MyResponseType is the mailbox's answer as Exchange keeps it (the
    // attendee list of an invitee's copy may lag behind), so it overrides the list's status.
    void read_owner() {
        if (mailbox_.empty()) return;
        const std::optional<partstat> answer = partstat_of(item_.my_response_type);
        if (!item_.my_response_type.empty() && !answer) {
            warn("unknown MyResponseType " + quoted(item_.my_response_type) +
                 ": the attendee list's status is kept");
        }
        exchange::assign_exchange_owner(item_.inv, mailbox_, answer, item_.is_organizer,
                                        response_requested_);
    }

    // --- times

    // The organizer's zone: StartTimeZone's Id (Exchange 2010 and later), StartTimeZoneId
    // (2013 and later), else Exchange 2007's MeetingTimeZone or TimeZone. TimeZone is often a
    // display name ("(UTC+00:00) Monrovia, Reykjavik") rather than an id: it is used only when
    // it names a known zone, and is no reason for a warning otherwise.
    void read_zone(pugi::xml_node o) {
        std::string name;
        std::string from;
        if (const pugi::xml_node z = field(o, "StartTimeZone")) {
            name = std::string(xml::trim(z.attribute("Id").value()));
            from = "StartTimeZone";
        }
        if (name.empty()) {
            name = text(o, "StartTimeZoneId").value_or("");
            from = "StartTimeZoneId";
        }
        if (name.empty()) {
            if (const pugi::xml_node z = field(o, "MeetingTimeZone")) {
                name = std::string(xml::trim(z.attribute("TimeZoneName").value()));
                from = "MeetingTimeZone";
            }
        }
        if (name.empty()) {
            const std::string legacy = text(o, "TimeZone").value_or("");
            if (resolve_zone(legacy).known) {
                name = legacy;
                from = "TimeZone";
            }
        }
        if (name.empty()) return;
        zone_ = resolve_zone(name);
        zone_name_ = name;
        if (!zone_.known) {
            warn("unknown time zone " + quoted(name) + " in '" + from +
                 "': the organizer's wall clock is shown in UTC");
        }
    }

    // The day of an all-day item. EWS writes the organizer's local midnight in UTC
    // ("2026-11-24T08:00:00Z" for 24 November in Pacific time); in an unknown zone the nearest
    // midnight is the best guess for every zone between UTC-12 and UTC+12.
    std::chrono::sys_days day_of(time_point t, std::string_view what) {
        using namespace std::chrono;
        if (zone_.known && zone_.zone) {
            if (auto w = wall_clock_in(t, zone_.zone)) {
                if (w->hour || w->minute || w->second) {
                    warn("an all-day item whose " + std::string(what) + " is not midnight in " +
                         quoted(zone_name_) + ": its date is used");
                }
                return date_of(*w);
            }
        }
        const sys_days nearest = floor<days>(t + hours{12});
        if (time_point{nearest} != t) {
            warn("an all-day item whose " + std::string(what) +
                 " is not midnight in a known zone: the nearest midnight (UTC) gives its date");
        }
        return nearest;
    }

    void read_times(pugi::xml_node o, bool instance) {
        invitation& inv = item_.inv;
        if (auto b = flag(o, "IsAllDayEvent", level::problem)) inv.all_day = *b;
        read_zone(o);

        const pugi::xml_node start_node = field(o, "Start");
        if (!start_node) {
            inv.has_start = false;
            problem("has no Start: the meeting has no time");
            return;
        }
        const auto start = instant(start_node, "Start", level::problem);
        if (!start) {
            inv.has_start = false;
            return;
        }
        std::optional<time_point> end;
        if (const pugi::xml_node end_node = field(o, "End")) {
            end = instant(end_node, "End", level::problem);
            if (!end) end = *start;  // the problem is reported
        }

        if (inv.all_day) {
            // A date, the same day wherever the reader is (as DTSTART;VALUE=DATE).
            const std::chrono::sys_days day = day_of(*start, "start");
            inv.start = time_point{day};
            const std::chrono::year_month_day ymd{day};
            inv.start_local = local_start{static_cast<int>(ymd.year()),
                                          static_cast<int>(static_cast<unsigned>(ymd.month())),
                                          static_cast<int>(static_cast<unsigned>(ymd.day())),
                                          0,
                                          0,
                                          {}};
            inv.end = end ? time_point{day_of(*end, "end")} : inv.start + std::chrono::days{1};
        } else {
            inv.start = *start;
            inv.end = end.value_or(*start);
            // The wall clock as the organizer sees it, named as Exchange names the zone (the
            // TZID Outlook writes in iCalendar).
            icaltimezone* zone = zone_.known ? zone_.zone : nullptr;
            const bool named = zone_.known && !zone_name_.empty();
            if (auto w = wall_clock_in(*start, zone)) {
                inv.start_local =
                    local_start{w->year, w->month,  w->day,
                                w->hour, w->minute, named ? zone_name_ : std::string("UTC")};
            }
        }
        if (inv.end < inv.start) {
            warn("the item ends before it starts: end taken as the start");
            inv.end = inv.start;
        }
        start_ = *start;

        if (!instance) return;
        // RecurrenceId (Exchange 2010 and later) and OriginalStart: where the series put this
        // instance, whatever its start is now.
        for (std::string_view name : {"RecurrenceId", "OriginalStart"}) {
            if (const pugi::xml_node n = field(o, name)) {
                if (auto t = instant(n, std::string(name), level::problem)) {
                    inv.recurrence_id = *t;
                }
                return;
            }
        }
        // An occurrence is where the series put it; an exception may have moved, so its start
        // is only the best guess.
        inv.recurrence_id = inv.start;
        if (item_.calendar_item_type == "Exception") {
            warn(
                "an exception without RecurrenceId or OriginalStart: its start stands for its "
                "recurrence id");
        }
    }

    // --- recurrence

    // t:Recurrence → Exchange's recurrence model; nullopt (with a problem) when agendad cannot
    // read it.
    std::optional<recurrence_pattern> read_pattern(pugi::xml_node rec) {
        using type_t = recurrence_pattern::pattern_type;
        recurrence_pattern p;
        pugi::xml_node pattern;
        pugi::xml_node range;
        for (pugi::xml_node c = rec.first_child(); c; c = c.next_sibling()) {
            if (c.type() != pugi::node_element || xml::namespace_of(c) != t_ns) continue;
            const std::string_view name = xml::local_name(c);
            if (name.size() > 10 && name.substr(name.size() - 10) == "Recurrence" &&
                name != "NoEndRecurrence" && name != "EndDateRecurrence" &&
                name != "NumberedRecurrence") {
                if (!pattern) pattern = c;
            } else if (name == "NoEndRecurrence" || name == "EndDateRecurrence" ||
                       name == "NumberedRecurrence") {
                if (!range) range = c;
            } else if (!pattern && name.find("Regeneration") != std::string_view::npos) {
                pattern = c;  // a task's pattern: refused below
            }
        }
        if (!pattern) {
            problem("'Recurrence' has no pattern");
            return std::nullopt;
        }
        const std::string type(xml::local_name(pattern));
        if (type == "DailyRecurrence") {
            p.type = type_t::daily;
        } else if (type == "WeeklyRecurrence") {
            p.type = type_t::weekly;
        } else if (type == "AbsoluteMonthlyRecurrence") {
            p.type = type_t::absolute_monthly;
        } else if (type == "RelativeMonthlyRecurrence") {
            p.type = type_t::relative_monthly;
        } else if (type == "AbsoluteYearlyRecurrence") {
            p.type = type_t::absolute_yearly;
        } else if (type == "RelativeYearlyRecurrence") {
            p.type = type_t::relative_yearly;
        } else {
            problem("'Recurrence' has the pattern " + quoted(type) +
                    ", not one agendad knows for a calendar item");
            return std::nullopt;
        }
        const bool relative =
            p.type == type_t::relative_monthly || p.type == type_t::relative_yearly;
        const bool weekly = p.type == type_t::weekly;
        const bool yearly = p.type == type_t::absolute_yearly || p.type == type_t::relative_yearly;
        const bool monthly_or_yearly =
            yearly || p.type == type_t::absolute_monthly || p.type == type_t::relative_monthly;
        const std::string where = "Recurrence/" + type;

        if (field(pattern, "Interval")) {
            const auto interval = number(pattern, "Interval", level::problem);
            if (!interval) return std::nullopt;
            if (*interval < 1 || *interval > 1000) {
                problem("'" + where + "/Interval' is " + std::to_string(*interval) +
                        ", not between 1 and 1000");
                return std::nullopt;
            }
            p.interval = *interval;
        } else if (!yearly) {
            warn("'" + where + "' has no Interval: taken as 1");
        }

        if (const pugi::xml_node days = field(pattern, "DaysOfWeek")) {
            // A list separated by white space ("Monday Wednesday").
            const std::string list = xml::text_of(days);
            std::size_t i = 0;
            while (i < list.size()) {
                const std::size_t first = list.find_first_not_of(" \t\r\n", i);
                if (first == std::string::npos) break;
                std::size_t last = list.find_first_of(" \t\r\n", first);
                if (last == std::string::npos) last = list.size();
                const std::string_view day = std::string_view(list).substr(first, last - first);
                const auto codes = day_codes(day);
                if (codes.empty()) {
                    problem("'" + where + "/DaysOfWeek' holds " + quoted(day) +
                            ", not a day of the week");
                    return std::nullopt;
                }
                for (std::string_view code : codes) {
                    if (std::find(p.days.begin(), p.days.end(), code) == p.days.end()) {
                        p.days.push_back(code);
                    }
                }
                i = last;
            }
        }
        if ((relative || weekly) && p.days.empty()) {
            problem("'" + where + "' has no DaysOfWeek");
            return std::nullopt;
        }
        if (relative) {
            const std::string index = text(pattern, "DayOfWeekIndex").value_or("");
            const auto week = week_index(index);
            if (!week) {
                problem("'" + where + "/DayOfWeekIndex' is " +
                        (index.empty() ? std::string("missing") : quoted(index)));
                return std::nullopt;
            }
            p.week_index = *week;
        }
        if (!relative && monthly_or_yearly) {
            const auto day = number(pattern, "DayOfMonth", level::problem);
            if (!day || *day < 1 || *day > 31) {
                problem("'" + where + "/DayOfMonth' is " +
                        (day ? std::to_string(*day) : std::string("missing")));
                return std::nullopt;
            }
            p.day_of_month = *day;
        }
        if (yearly) {
            const std::string month = text(pattern, "Month").value_or("");
            const auto m = month_number(month);
            if (!m) {
                problem("'" + where + "/Month' is " +
                        (month.empty() ? std::string("missing") : quoted(month)));
                return std::nullopt;
            }
            p.month = *m;
        }
        if (weekly) {
            if (auto first = text(pattern, "FirstDayOfWeek")) {
                const auto codes = day_codes(*first);
                if (codes.size() == 1) {
                    p.first_day_of_week = codes.front();
                } else {
                    warn("'" + where + "/FirstDayOfWeek' is " + quoted(*first) + ": ignored");
                }
            }
        }

        if (!range) {
            warn("'Recurrence' has no range: taken as without end");
            p.range = recurrence_pattern::range_type::no_end;
            return p;
        }
        // StartDate is the first occurrence's date, which the item's Start already says.
        if (const auto start = parse_date_time(text(range, "StartDate").value_or(""));
            start && !start->has_time) {
            p.start_date = date_of(*start);
        }
        const std::string_view range_type = xml::local_name(range);
        if (range_type == "NoEndRecurrence") {
            p.range = recurrence_pattern::range_type::no_end;
        } else if (range_type == "EndDateRecurrence") {
            // An xs:date, perhaps with an offset ("2026-12-15Z"): the day is what counts.
            const std::string end = text(range, "EndDate").value_or("");
            const auto w = parse_date_time(end);
            if (!w || w->has_time) {
                problem("'Recurrence/EndDateRecurrence/EndDate' is " +
                        (end.empty() ? std::string("missing") : quoted(end)) + ", not a date");
                return std::nullopt;
            }
            p.range = recurrence_pattern::range_type::end_date;
            p.end_date = date_of(*w);
        } else {
            const auto n = number(range, "NumberOfOccurrences", level::problem);
            if (!n || *n < 1 || *n > 1'000'000) {
                problem("'Recurrence/NumberedRecurrence/NumberOfOccurrences' is " +
                        (n ? std::to_string(*n) : std::string("missing")) +
                        ", not between 1 and 1000000");
                return std::nullopt;
            }
            p.range = recurrence_pattern::range_type::numbered;
            p.occurrences = *n;
        }
        return p;
    }

    // The rule and its bounds are exchange::recurrence_of's, as for Graph, in the organizer's
    // zone (so that an end date is the end of that day there, and a series crossing a
    // daylight-saving change keeps its wall clock).
    void read_recurrence(pugi::xml_node rec) {
        const auto p = read_pattern(rec);
        if (!p) return;
        icaltimezone* zone = zone_.known ? zone_.zone : nullptr;
        // inv.start: the day itself for an all-day item (start_ is its midnight in the zone).
        std::optional<time_point> start;
        if (start_) start = item_.inv.start;
        item_.inv.recurrence = exchange::recurrence_of(*p, start, item_.inv.all_day, zone);
    }

    std::optional<bool> response_requested_;        // IsResponseRequested as written
    std::vector<std::string> organizer_attendees_;  // attendees whose ResponseType is Organizer
    zone_choice zone_;
    std::string zone_name_;  // as written
    std::optional<time_point> start_;
};

}  // namespace

std::optional<partstat> partstat_of_response(std::string_view response_type) {
    return partstat_of(xml::trim(response_type));
}

std::optional<calendar_item> parse_calendar_item(pugi::xml_node item, std::string_view mailbox,
                                                 std::string_view where, std::string& error) {
    try {
        if (!xml::is(item, t_ns, "CalendarItem")) {
            error = in(where) +
                    (item ? "the element " + xml::qualified(item) + " is not a t:CalendarItem"
                          : std::string("no element: not a t:CalendarItem"));
            return std::nullopt;
        }
        return item_reader(mailbox, where, {}).read(item);
    } catch (const std::exception& e) {
        set_error(error, where, "cannot read the calendar item", e.what());
    } catch (...) {
        set_error(error, where, "cannot read the calendar item");
    }
    return std::nullopt;
}

std::vector<calendar_item> parse_calendar_items(std::string_view body, std::string_view mailbox,
                                                std::string_view where, std::string& error) {
    error.clear();
    try {
        pugi::xml_document doc;
        const auto root = xml::load(body, max_get_item_bytes, doc, "Exchange servers");
        if (!root) {
            error = in(where) + root.error();
            return {};
        }
        // Every t:CalendarItem, in document order, without looking inside one (its
        // ConflictingMeetings and AdjacentMeetings hold CalendarItems of their own). Iterative:
        // the depth is xml::load's to bound, not the stack's.
        std::vector<pugi::xml_node> found;
        const pugi::xml_node top = *root;
        for (pugi::xml_node n = top; n;) {
            bool descend = true;
            if (n.type() == pugi::node_element && xml::is(n, t_ns, "CalendarItem")) {
                if (found.size() == max_items) {
                    error = in(where) + "the response holds more than " +
                            std::to_string(max_items) + " calendar items";
                    return {};
                }
                found.push_back(n);
                descend = false;
            }
            if (descend && n.first_child()) {
                n = n.first_child();
                continue;
            }
            while (n != top && !n.next_sibling()) n = n.parent();
            if (n == top) break;
            n = n.next_sibling();
        }
        std::vector<calendar_item> out;
        out.reserve(found.size());
        for (std::size_t i = 0; i < found.size(); ++i) {
            out.push_back(
                item_reader(mailbox, where, "item[" + std::to_string(i) + "]").read(found[i]));
        }
        return out;
    } catch (const std::exception& e) {
        set_error(error, where, "cannot read the response", e.what());
    } catch (...) {
        set_error(error, where, "cannot read the response");
    }
    return {};
}

}  // namespace agendad::calendar::ews
