// Tests for calendar/exchange_common: what the Graph and EWS readers share (times as Exchange
// writes them, zones, the Outlook series UID, the recurrence pattern → RRULE mapping), with
// concrete values, and the RRULE checked against what libical makes of the same rule.
#include "calendar/exchange_common.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/ical/parse.h"

namespace agendad::calendar::exchange {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using namespace std::chrono;

constexpr sys_days day(int y, unsigned m, unsigned d) {
    return sys_days{year{y} / month{m} / std::chrono::day{d}};
}

std::string utc(time_point t) {
    return format_utc(t);
}

// The rule libical writes back for an RRULE, through the iCalendar parser (as agendad reads a
// series from iCalendar).
std::string libical_rule(const std::string& rrule) {
    const std::string text =
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n"
        "DTSTART:20261124T180000Z\r\nSUMMARY:x\r\nRRULE:" +
        rrule + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    const auto ics = parse_ics(text, "rule.ics");
    if (!ics || ics->events.size() != 1) return "(not parsed)";
    return ics->events[0].recurrence.rule;
}

recurrence_pattern weekly(std::vector<std::string_view> days, std::string_view first_day = {}) {
    recurrence_pattern p;
    p.type = recurrence_pattern::pattern_type::weekly;
    p.days = std::move(days);
    p.first_day_of_week = first_day;
    return p;
}

const time_point tuesday_10_pacific = sys_days{day(2026, 11, 24)} + hours{18};

// ---------------------------------------------------------------------------------------------
// Times

TEST(parse_date_time, reads_what_graph_and_ews_write) {
    auto w = parse_date_time("2017-04-15T12:00:00.0000000");  // Graph dateTimeTimeZone
    ASSERT_TRUE(w);
    EXPECT_EQ(w->year, 2017);
    EXPECT_EQ(w->month, 4);
    EXPECT_EQ(w->day, 15);
    EXPECT_EQ(w->hour, 12);
    EXPECT_TRUE(w->has_time);
    EXPECT_FALSE(w->offset_minutes);

    w = parse_date_time("2026-11-20T09:00:00.123+01:00");  // xs:dateTime with an offset
    ASSERT_TRUE(w);
    EXPECT_EQ(w->offset_minutes, 60);
    EXPECT_EQ(utc(as_utc(*w) - minutes{*w->offset_minutes}), "2026-11-20T08:00:00Z");

    w = parse_date_time("2019-04-16T20:30Z");  // seconds left out
    ASSERT_TRUE(w);
    EXPECT_EQ(w->minute, 30);
    EXPECT_EQ(w->offset_minutes, 0);

    w = parse_date_time("2017-12-31");  // Graph's range dates
    ASSERT_TRUE(w);
    EXPECT_FALSE(w->has_time);
    EXPECT_EQ(date_of(*w), day(2017, 12, 31));

    w = parse_date_time("2014-03-08-08:00");  // EWS's xs:date with an offset
    ASSERT_TRUE(w);
    EXPECT_FALSE(w->has_time);
    EXPECT_EQ(w->offset_minutes, -480);
    EXPECT_EQ(date_of(*w), day(2014, 3, 8));
}

TEST(parse_date_time, refuses_what_is_no_date) {
    for (std::string_view bad :
         {"", "2026", "2026-02-30", "2026-13-01", "0999-01-01", "2026-11-24T24:00:00",
          "2026-11-24T09:60:00", "2026-11-24T09:00:00+15:00", "2026-11-24T09:00:00.",
          "2026-11-24T09", "2026-11-24 09:00:00", "2026-11-24 trailing", " 2026-11-24",
          "2026/11/24"}) {
        EXPECT_FALSE(parse_date_time(bad)) << bad;
    }
}

TEST(times, utc_and_zones_convert_both_ways) {
    const wall_clock midnight = wall_clock_of(day(2026, 12, 16));
    EXPECT_FALSE(midnight.has_time);
    EXPECT_EQ(utc(as_utc(midnight)), "2026-12-16T00:00:00Z");

    const zone_choice pacific = resolve_zone("Pacific Standard Time");
    ASSERT_TRUE(pacific.known);
    ASSERT_NE(pacific.zone, nullptr);
    EXPECT_EQ(utc(to_utc(midnight, pacific.zone)), "2026-12-16T08:00:00Z");
    EXPECT_EQ(utc(to_utc(midnight, nullptr)), "2026-12-16T00:00:00Z");
    // Summer time: 10:00 in July is 17:00Z.
    auto summer = parse_date_time("2026-07-01T10:00:00");
    ASSERT_TRUE(summer);
    EXPECT_EQ(utc(to_utc(*summer, pacific.zone)), "2026-07-01T17:00:00Z");

    const auto local = wall_clock_in(tuesday_10_pacific, pacific.zone);
    ASSERT_TRUE(local);
    EXPECT_EQ(local->day, 24);
    EXPECT_EQ(local->hour, 10);
    EXPECT_TRUE(local->has_time);
    const auto in_utc = wall_clock_in(tuesday_10_pacific, nullptr);
    ASSERT_TRUE(in_utc);
    EXPECT_EQ(in_utc->hour, 18);
    // Outside the years agendad places in zones, libical is not asked.
    EXPECT_FALSE(wall_clock_in(sys_days{day(9999, 1, 1)}, pacific.zone));
    EXPECT_FALSE(wall_clock_in(sys_days{day(1899, 12, 31)}, nullptr));
}

TEST(zones, windows_iana_and_utc_names_resolve) {
    EXPECT_NE(resolve_zone("W. Europe Standard Time").zone, nullptr);
    EXPECT_NE(resolve_zone("  Pacific Standard Time ").zone, nullptr);
    EXPECT_NE(resolve_zone("America/Los_Angeles").zone, nullptr);
    for (std::string_view name : {"UTC", "utc", "tzone://Microsoft/Utc", "Etc/Universal",
                                  "Coordinated Universal Time", "UTC-11"}) {
        const zone_choice z = resolve_zone(name);
        EXPECT_TRUE(z.known) << name;
        if (name != "UTC-11") {
            EXPECT_EQ(z.zone, nullptr) << name;  // "UTC-11" is a Windows id: Pago Pago
        }
    }
    for (std::string_view name : {"", "Mars Standard Time", "../../../etc/passwd", "/etc/localtime",
                                  "America/../../etc", "(UTC+01:00) Paris"}) {
        EXPECT_FALSE(resolve_zone(name).known) << name;
    }
}

// ---------------------------------------------------------------------------------------------
// Text, ids, messages

TEST(text, quoted_values_are_short_clean_utf8) {
    EXPECT_EQ(quoted("Pacific"), "'Pacific'");
    EXPECT_EQ(quoted("a\nb\x7f"), "'a b '");
    // 200 two-byte characters: cut at 120 bytes, never inside a character.
    std::string long_text;
    for (int i = 0; i < 200; ++i) long_text += "\xC3\xA9";
    const std::string q = exchange::quoted(long_text);  // not std::quoted
    EXPECT_EQ(q.size(), 1 + 120 + std::string("…").size() + 1);
    EXPECT_EQ(q.substr(q.size() - 6), "\xC3\xA9…'");
    EXPECT_EQ(quoted("\xff"), "'\xEF\xBF\xBD'");  // ill-formed: U+FFFD
}

TEST(text, clean_name_drops_quotes_and_bare_addresses) {
    EXPECT_EQ(clean_name("  \"Brianna Cole\" "), "Brianna Cole");
    EXPECT_EQ(clean_name("'Dana'"), "Dana");
    EXPECT_EQ(clean_name("brianna@veritycloud.example"), "");
    EXPECT_EQ(clean_name("Room 1 (room1@contoso.example)"), "Room 1 (room1@contoso.example)");
}

TEST(ids, series_uid_clears_the_instance_date_of_an_outlook_id) {
    const std::string series =
        "040000008200E00074C5B7101A82E00800000000D0A4E1B3C94BDC01000000000000000010000000";
    std::string occurrence = series;
    occurrence.replace(32, 8, "07EA0B18");  // 2026-11-24
    EXPECT_EQ(series_uid(occurrence), series);
    EXPECT_EQ(series_uid(series), series);
    // Lower-case hex is the same id.
    std::string lower = occurrence;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(series_uid(lower).substr(32, 8), "00000000");
    // Anything else is left as it is.
    EXPECT_EQ(series_uid("abc@google.com"), "abc@google.com");
    EXPECT_EQ(series_uid(occurrence.substr(0, 39)), occurrence.substr(0, 39));
    EXPECT_EQ(series_uid(occurrence + "zz"), occurrence + "zz");
}

TEST(notes, problems_and_warnings_stop_after_the_cap) {
    std::vector<diagnostic> problems;
    add_problem(problems, "mailbox a@b.example", "item[3]", "AAMk=", "has no Start");
    add_problem(problems, "mailbox a@b.example", "", "AAMk=", "has no Start");
    ASSERT_THAT(problems, SizeIs(2));
    EXPECT_EQ(problems[0].file, "mailbox a@b.example");
    EXPECT_EQ(problems[0].message, "item[3] (id 'AAMk='): has no Start");
    EXPECT_EQ(problems[1].message, "has no Start");
    for (int i = 0; i < 100; ++i) add_problem(problems, "w", "", "", "again");
    ASSERT_THAT(problems, SizeIs(max_notes + 1));
    EXPECT_EQ(problems.back().message, "more problems not listed");

    std::vector<std::string> warnings;
    for (int i = 0; i < 100; ++i) add_warning(warnings, "odd");
    ASSERT_THAT(warnings, SizeIs(max_notes + 1));
    EXPECT_EQ(warnings.back(), "more warnings not listed");
}

TEST(owner, exchanges_answer_overrides_the_list_and_stands_in_when_not_listed) {
    invitation inv;
    inv.organizer.address = "brianna@veritycloud.example";
    attendee listed;
    listed.address = "alex@contoso.example";
    listed.partstat = partstat::needs_action;
    inv.attendees.push_back(listed);
    assign_exchange_owner(inv, "alex@contoso.example", partstat::accepted, false, true);
    ASSERT_TRUE(inv.owner);
    EXPECT_EQ(inv.owner->partstat, partstat::accepted);
    EXPECT_EQ(inv.attendees[0].partstat, partstat::accepted);

    // Invited through a group: not listed, the answer still makes the owner's entry.
    invitation group;
    group.organizer.address = "brianna@veritycloud.example";
    assign_exchange_owner(group, "alex@contoso.example", partstat::tentative, false, false);
    ASSERT_TRUE(group.owner);
    EXPECT_EQ(group.owner->address, "alex@contoso.example");
    EXPECT_EQ(group.owner->partstat, partstat::tentative);
    EXPECT_EQ(group.owner->rsvp, false);

    // The organizer's own meeting, or no answer: no entry is made up.
    invitation own;
    own.organizer.address = "alex@contoso.example";
    assign_exchange_owner(own, "alex@contoso.example", partstat::accepted, false, true);
    EXPECT_FALSE(own.owner);
    invitation organizer_flag;
    assign_exchange_owner(organizer_flag, "alex@contoso.example", partstat::accepted, true, true);
    EXPECT_FALSE(organizer_flag.owner);
    invitation no_answer;
    assign_exchange_owner(no_answer, "alex@contoso.example", std::nullopt, false, true);
    EXPECT_FALSE(no_answer.owner);
}

TEST(errors, set_error_names_where) {
    std::string error;
    set_error(error, "mailbox a@b.example", "cannot read the page", "bad_alloc");
    EXPECT_EQ(error, "mailbox a@b.example: cannot read the page: bad_alloc");
    set_error(error, "", "cannot read the member page");
    EXPECT_EQ(error, "cannot read the member page");
    EXPECT_EQ(in("delta round"), "delta round: ");
}

// ---------------------------------------------------------------------------------------------
// Recurrence

TEST(codes, days_and_week_indexes) {
    EXPECT_EQ(weekday_code("Monday"), "MO");
    EXPECT_EQ(weekday_code("sunday"), "SU");
    EXPECT_FALSE(weekday_code("Weekday"));
    EXPECT_FALSE(weekday_code("Mon"));
    EXPECT_THAT(day_codes("Weekday"), ElementsAre("MO", "TU", "WE", "TH", "FR"));
    EXPECT_THAT(day_codes("WeekendDay"), ElementsAre("SU", "SA"));
    EXPECT_THAT(day_codes("Day"), SizeIs(7));
    EXPECT_THAT(day_codes("Saturday"), ElementsAre("SA"));
    EXPECT_THAT(day_codes("Someday"), SizeIs(0));
    EXPECT_EQ(week_index("first"), 1);
    EXPECT_EQ(week_index("Fourth"), 4);
    EXPECT_EQ(week_index("Last"), -1);
    EXPECT_FALSE(week_index("fifth"));
}

TEST(recurrence_of, byday_is_listed_from_the_week_start_as_libical_writes_it) {
    struct row {
        std::vector<std::string_view> days;
        std::string_view first_day;
        std::string rule;
    };
    const std::vector<row> rows = {
        {{"SU", "MO"}, {}, "FREQ=WEEKLY;BYDAY=MO,SU"},
        {{"SU", "MO"}, "MO", "FREQ=WEEKLY;BYDAY=MO,SU"},
        {{"MO", "SU"}, "SU", "FREQ=WEEKLY;BYDAY=SU,MO;WKST=SU"},
        {{"TH", "TU"}, {}, "FREQ=WEEKLY;BYDAY=TU,TH"},
        {{"MO", "SA", "SU"}, "SA", "FREQ=WEEKLY;BYDAY=SA,SU,MO;WKST=SA"},
        {{"MO", "SU"}, "TU", "FREQ=WEEKLY;BYDAY=SU,MO;WKST=TU"},
    };
    for (const row& r : rows) {
        const recurrence_info info =
            recurrence_of(weekly(r.days, r.first_day), std::nullopt, false, nullptr);
        EXPECT_EQ(info.rule, r.rule);
        EXPECT_EQ(info.rule, libical_rule(info.rule)) << "libical writes it otherwise";
        EXPECT_EQ(info.frequency, "WEEKLY");
        EXPECT_EQ(info.kind, recurrence_info::bound::open_ended);
    }
}

TEST(recurrence_of, each_pattern_type_gives_the_rule_libical_writes) {
    using type_t = recurrence_pattern::pattern_type;
    recurrence_pattern p;
    p.type = type_t::relative_monthly;
    p.days = {"TU"};
    p.week_index = 4;
    EXPECT_EQ(recurrence_of(p, {}, false, nullptr).rule, "FREQ=MONTHLY;BYDAY=4TU");

    p.days = {"SU", "SA"};  // the last weekend day
    p.week_index = -1;
    const recurrence_info weekend = recurrence_of(p, {}, false, nullptr);
    EXPECT_EQ(weekend.rule, "FREQ=MONTHLY;BYDAY=SA,SU;BYSETPOS=-1");
    EXPECT_EQ(weekend.rule, libical_rule(weekend.rule));

    p = {};
    p.type = type_t::relative_yearly;
    p.days = {"TU"};
    p.week_index = 4;
    p.month = 11;
    p.interval = 2;
    EXPECT_EQ(recurrence_of(p, {}, false, nullptr).rule,
              "FREQ=YEARLY;INTERVAL=2;BYDAY=4TU;BYMONTH=11");

    p = {};
    p.type = type_t::absolute_yearly;
    p.day_of_month = 24;
    p.month = 11;
    EXPECT_EQ(recurrence_of(p, {}, false, nullptr).rule, "FREQ=YEARLY;BYMONTHDAY=24;BYMONTH=11");

    // Numbers and days a pattern does not use (Graph writes them as 0 and lists) are left out.
    p = {};
    p.type = type_t::daily;
    p.interval = 3;
    p.day_of_month = 5;
    p.month = 2;
    p.days = {"MO"};
    p.first_day_of_week = "SU";
    EXPECT_EQ(recurrence_of(p, {}, false, nullptr).rule, "FREQ=DAILY;INTERVAL=3");
    p.type = type_t::absolute_monthly;
    EXPECT_EQ(recurrence_of(p, {}, false, nullptr).rule, "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=5");
}

TEST(recurrence_of, an_end_date_includes_that_whole_day_in_the_series_zone) {
    recurrence_pattern p = weekly({"TU"}, "SU");
    p.range = recurrence_pattern::range_type::end_date;
    p.end_date = day(2026, 12, 15);
    const zone_choice pacific = resolve_zone("Pacific Standard Time");
    const recurrence_info r = recurrence_of(p, tuesday_10_pacific, false, pacific.zone);
    EXPECT_EQ(r.kind, recurrence_info::bound::until);
    EXPECT_EQ(r.rule, "FREQ=WEEKLY;UNTIL=20261215;BYDAY=TU;WKST=SU");
    ASSERT_TRUE(r.until);
    EXPECT_EQ(utc(*r.until), "2026-12-16T08:00:00Z");
    EXPECT_FALSE(r.last_start);
    EXPECT_EQ(utc(*recurrence_of(p, tuesday_10_pacific, false, nullptr).until),
              "2026-12-16T00:00:00Z");
    EXPECT_EQ(utc(*recurrence_of(p, sys_days{day(2026, 11, 24)}, true, pacific.zone).until),
              "2026-12-16T00:00:00Z");  // all day: a date, the same everywhere
    // Outlook's "never" year is not placed in a zone.
    p.end_date = day(4500, 12, 31);
    EXPECT_EQ(utc(*recurrence_of(p, tuesday_10_pacific, false, pacific.zone).until),
              "4501-01-01T00:00:00Z");
}

TEST(recurrence_of, a_numbered_series_keeps_its_wall_clock_across_daylight_saving) {
    recurrence_pattern p = weekly({"TU"});
    p.range = recurrence_pattern::range_type::numbered;
    p.occurrences = 20;
    const zone_choice pacific = resolve_zone("Pacific Standard Time");
    const recurrence_info r = recurrence_of(p, tuesday_10_pacific, false, pacific.zone);
    EXPECT_EQ(r.kind, recurrence_info::bound::count);
    EXPECT_EQ(r.count, 20);
    EXPECT_EQ(r.rule, "FREQ=WEEKLY;COUNT=20;BYDAY=TU");
    ASSERT_TRUE(r.last_start);
    EXPECT_EQ(utc(*r.last_start), "2027-04-06T17:00:00Z");  // 10:00 PDT
    // Walked in UTC, the same series stays at 18:00Z.
    EXPECT_EQ(utc(*recurrence_of(p, tuesday_10_pacific, false, nullptr).last_start),
              "2027-04-06T18:00:00Z");
    // All day: dates.
    p.occurrences = 3;
    EXPECT_EQ(utc(*recurrence_of(p, sys_days{day(2026, 11, 24)}, true, pacific.zone).last_start),
              "2026-12-08T00:00:00Z");
    // Without a start, or too many to walk: no last start.
    EXPECT_FALSE(recurrence_of(p, std::nullopt, false, pacific.zone).last_start);
    p.occurrences = max_count_walk + 1;
    EXPECT_FALSE(recurrence_of(p, tuesday_10_pacific, false, pacific.zone).last_start);
}

}  // namespace
}  // namespace agendad::calendar::exchange
