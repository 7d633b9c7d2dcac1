// Tests for calendar/ical/partstat: the owner's PARTSTAT changed inside a calendar object, and
// nothing else. Each output is read back twice: by a content-line reader of the test's own (every
// line but the owner's ATTENDEE lines identical, and those identical but for PARTSTAT) and by
// parse_ics (the same invitations but for the owner's PARTSTAT).
#include "calendar/ical/partstat.h"
#include "support/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/ical/parse.h"

namespace agendad::calendar {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

const fs::path shared_dir = fs::path(AGENDAD_SHARED_DIR);
const fs::path invites_dir = shared_dir / "labeled-invitations" / "invites";
constexpr std::string_view dana = "dana.whitfield@contoso.example";

time_point at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
    using namespace std::chrono;
    return time_point{sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi}};
}

std::string crlf(std::string_view lf_text) {
    std::string out;
    for (const char c : lf_text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// A content-line reader of the test's own (RFC 5545 §3.1), independent of libical and prescan

// Logical lines: folds removed, line breaks (CRLF or LF) dropped, blank lines left out.
std::vector<std::string> logical_lines(std::string_view text) {
    std::vector<std::string> out;
    std::string current;
    bool have = false;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t end = text.find('\n', i);
        if (end == std::string_view::npos) end = text.size();
        std::string_view physical = text.substr(i, end - i);
        if (!physical.empty() && physical.back() == '\r') physical.remove_suffix(1);
        if (!physical.empty() && (physical[0] == ' ' || physical[0] == '\t') && have) {
            current.append(physical.substr(1));
        } else {
            if (have && !current.empty()) out.push_back(current);
            current = std::string(physical);
            have = true;
        }
        i = end + 1;
    }
    if (have && !current.empty()) out.push_back(current);
    return out;
}

struct content_line {
    std::string name;
    std::vector<std::pair<std::string, std::string>> params;  // name upper-cased, value as is
    std::string value;
};

std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

content_line split(std::string_view line) {
    content_line out;
    std::size_t i = line.find_first_of(";:");
    out.name = upper(std::string(line.substr(0, i)));
    while (i < line.size() && line[i] == ';') {
        const std::size_t eq = line.find('=', i);
        std::string name = upper(std::string(line.substr(i + 1, eq - i - 1)));
        std::size_t j = eq + 1;
        bool quoted = false;
        while (j < line.size() && (quoted || (line[j] != ';' && line[j] != ':'))) {
            if (line[j] == '"') quoted = !quoted;
            ++j;
        }
        out.params.emplace_back(std::move(name), std::string(line.substr(eq + 1, j - eq - 1)));
        i = j;
    }
    if (i < line.size()) out.value = std::string(line.substr(i + 1));
    return out;
}

std::string address_of(const content_line& l) {
    return normalize_address(l.value);
}

std::vector<std::string> partstats_of(const content_line& l) {
    std::vector<std::string> out;
    for (const auto& [name, value] : l.params) {
        if (name == "PARTSTAT") out.push_back(upper(value));
    }
    return out;
}

content_line without_partstat(content_line l) {
    std::erase_if(l.params, [](const auto& p) { return p.first == "PARTSTAT"; });
    return l;
}

bool operator==(const content_line& a, const content_line& b) {
    return a.name == b.name && a.params == b.params && a.value == b.value;
}

// Which ATTENDEE lines are the owner's in the events concerned: the event's own properties,
// not those of its alarms. `uid` empty: every event.
std::vector<bool> owner_lines(const std::vector<std::string>& lines, std::string_view owner,
                              std::string_view uid,
                              std::optional<std::string_view> recurrence_id_line = {}) {
    std::vector<bool> out(lines.size(), false);
    std::vector<std::string> stack;
    std::size_t event_begin = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const content_line l = split(lines[i]);
        if (l.name == "BEGIN") {
            stack.push_back(upper(l.value));
            if (upper(l.value) == "VEVENT") event_begin = i;
        } else if (l.name == "END") {
            if (!stack.empty() && stack.back() == "VEVENT") {
                // Decide for the whole event now that its UID and RECURRENCE-ID are known.
                std::string event_uid;
                std::optional<std::string> rid;
                int depth = 0;
                for (std::size_t k = event_begin + 1; k < i; ++k) {
                    const content_line p = split(lines[k]);
                    if (p.name == "BEGIN") ++depth;
                    if (p.name == "END") --depth;
                    if (depth != 0) continue;
                    if (p.name == "UID") event_uid = p.value;
                    if (p.name == "RECURRENCE-ID") rid = lines[k];
                }
                const bool concerned =
                    (uid.empty() || event_uid == uid) &&
                    (!recurrence_id_line || (rid && *rid == *recurrence_id_line));
                depth = 0;
                for (std::size_t k = event_begin + 1; k < i && concerned; ++k) {
                    const content_line p = split(lines[k]);
                    if (p.name == "BEGIN") ++depth;
                    if (p.name == "END") --depth;
                    if (depth == 0 && p.name == "ATTENDEE" && address_of(p) == owner) out[k] = true;
                }
            }
            if (!stack.empty()) stack.pop_back();
        }
    }
    return out;
}

// Every logical line of `after` equals the one of `before`, except the owner's ATTENDEE lines
// (`owners`), which equal theirs but for a single PARTSTAT=`want`.
void expect_only_owner_changed(std::string_view before, std::string_view after,
                               const std::vector<bool>& owners, std::string_view want) {
    const auto a = logical_lines(before);
    const auto b = logical_lines(after);
    ASSERT_EQ(a.size(), b.size());
    ASSERT_EQ(owners.size(), a.size());
    int owner_count = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (!owners[i]) {
            EXPECT_EQ(b[i], a[i]) << "line " << i;
            continue;
        }
        ++owner_count;
        const content_line was = split(a[i]);
        const content_line is = split(b[i]);
        EXPECT_THAT(partstats_of(is), ::testing::ElementsAre(std::string(want))) << b[i];
        EXPECT_TRUE(without_partstat(is) == without_partstat(was)) << a[i] << "\n" << b[i];
    }
    EXPECT_GT(owner_count, 0);
}

// Physical lines of the output: CRLF ends, at most 75 octets.
void expect_crlf_and_folded(std::string_view text) {
    ASSERT_FALSE(text.empty());
    EXPECT_THAT(std::string(text.substr(text.size() - 2)), "\r\n");
    std::size_t i = 0;
    while (i < text.size()) {
        const std::size_t nl = text.find('\n', i);
        ASSERT_NE(nl, std::string_view::npos);
        ASSERT_GT(nl, i) << "empty line at " << i;
        EXPECT_EQ(text[nl - 1], '\r') << "bare LF at " << nl;
        i = nl + 1;
    }
}

// The physical lines of the owner's ATTENDEEs in the output are at most 75 octets.
void expect_owner_lines_folded(std::string_view text, std::string_view owner) {
    for (const std::string& l : logical_lines(text)) {
        const content_line c = split(l);
        if (c.name != "ATTENDEE" || address_of(c) != owner) continue;
        // Find its physical lines: the first starts with its first 20 bytes.
        const auto start = text.find(l.substr(0, 20));
        ASSERT_NE(start, std::string_view::npos);
        std::size_t p = start;
        do {
            const std::size_t nl = text.find("\r\n", p);
            EXPECT_LE(nl - p, 75u) << text.substr(p, nl - p);
            p = nl + 2;
        } while (p < text.size() && text[p] == ' ');
    }
}

// ---------------------------------------------------------------------------------------------
// Reading back with parse_ics

parsed_calendar parse(std::string_view text, std::string_view mailbox = dana) {
    parse_options options;
    options.mailbox = std::string(mailbox);
    auto parsed = parse_ics(text, "test", options);
    EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().to_string());
    return parsed ? *parsed : parsed_calendar{};
}

// The same invitation but for the owner's PARTSTAT (which is `want` in `b` when `concerned`).
void expect_same_invitation(const invitation& a, const invitation& b, std::string_view owner,
                            bool concerned, partstat want) {
    EXPECT_EQ(a.method, b.method);
    EXPECT_EQ(a.uid, b.uid);
    EXPECT_EQ(a.recurrence_id, b.recurrence_id);
    EXPECT_EQ(a.sequence, b.sequence);
    EXPECT_EQ(a.organizer.address, b.organizer.address);
    EXPECT_EQ(a.organizer.name, b.organizer.name);
    EXPECT_EQ(a.organizer.sent_by, b.organizer.sent_by);
    EXPECT_EQ(a.subject, b.subject);
    EXPECT_EQ(a.description, b.description);
    EXPECT_EQ(a.location, b.location);
    EXPECT_EQ(a.has_attachments, b.has_attachments);
    EXPECT_EQ(a.has_start, b.has_start);
    EXPECT_EQ(a.start, b.start);
    EXPECT_EQ(a.end, b.end);
    EXPECT_EQ(a.all_day, b.all_day);
    EXPECT_EQ(a.start_local.zone, b.start_local.zone);
    EXPECT_EQ(a.recurrence.rule, b.recurrence.rule);
    EXPECT_EQ(a.recurrence.until, b.recurrence.until);
    EXPECT_EQ(a.recurrence.last_start, b.recurrence.last_start);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.transp, b.transp);
    EXPECT_EQ(a.warnings, b.warnings);
    ASSERT_EQ(a.attendees.size(), b.attendees.size());
    for (std::size_t i = 0; i < a.attendees.size(); ++i) {
        const attendee& x = a.attendees[i];
        const attendee& y = b.attendees[i];
        EXPECT_EQ(x.address, y.address);
        EXPECT_EQ(x.name, y.name);
        EXPECT_EQ(x.role, y.role);
        EXPECT_EQ(x.rsvp, y.rsvp) << "RSVP is never touched";
        EXPECT_EQ(x.cutype, y.cutype);
        if (concerned && x.address == owner) {
            EXPECT_EQ(y.partstat, want) << x.address;
        } else {
            EXPECT_EQ(x.partstat, y.partstat) << x.address;
        }
    }
    ASSERT_EQ(a.owner.has_value(), b.owner.has_value());
    if (concerned && b.owner) {
        EXPECT_EQ(b.owner->partstat, want);
    }
}

void expect_same_calendar(std::string_view before, std::string_view after, std::string_view owner,
                          std::string_view uid, partstat want,
                          std::optional<time_point> recurrence_id = {}) {
    const parsed_calendar a = parse(before, owner);
    const parsed_calendar b = parse(after, owner);
    EXPECT_EQ(a.errors.size(), b.errors.size());
    ASSERT_EQ(a.events.size(), b.events.size());
    for (std::size_t i = 0; i < a.events.size(); ++i) {
        const bool concerned = a.events[i].uid == uid &&
                               (!recurrence_id || a.events[i].recurrence_id == recurrence_id);
        expect_same_invitation(a.events[i], b.events[i], owner, concerned, want);
    }
}

partstat_result set_ok(std::string_view ics, std::string_view owner, std::string_view uid,
                       partstat status, std::optional<time_point> recurrence_id = {}) {
    auto r = set_owner_partstat(ics, {owner, uid, recurrence_id, status});
    EXPECT_TRUE(r) << (r ? "" : r.error());
    return r ? *r : partstat_result{};
}

std::string set_error(std::string_view ics, std::string_view owner, std::string_view uid,
                      partstat status, std::optional<time_point> recurrence_id = {}) {
    auto r = set_owner_partstat(ics, {owner, uid, recurrence_id, status});
    EXPECT_FALSE(r) << "succeeded although it should not";
    return r ? std::string() : r.error();
}

// ---------------------------------------------------------------------------------------------
// The labelled invitations (Outlook style, one VEVENT each)

class partstat_invites : public ::testing::TestWithParam<std::string> {};

TEST_P(partstat_invites, only_the_owners_partstat_changes) {
    const std::string ics = test_support::read_file(invites_dir / GetParam());
    ASSERT_FALSE(ics.empty());
    const parsed_calendar parsed = parse(ics);
    const invitation* event = primary_event(parsed);
    ASSERT_NE(event, nullptr);

    if (!event->owner) {
        // d18: the owner organizes it and is no attendee.
        EXPECT_THAT(set_error(ics, dana, event->uid, partstat::declined),
                    AllOf(HasSubstr(std::string(dana)), HasSubstr(event->uid),
                          HasSubstr("is not an attendee")));
        return;
    }
    const partstat was = event->owner->partstat;
    const partstat_result declined = set_ok(ics, dana, event->uid, partstat::declined);
    EXPECT_EQ(declined.changed, was == partstat::declined ? 0 : 1);
    EXPECT_EQ(declined.before, was);
    expect_crlf_and_folded(declined.text);
    expect_owner_lines_folded(declined.text, dana);
    expect_only_owner_changed(ics, declined.text, owner_lines(logical_lines(ics), dana, event->uid),
                              "DECLINED");
    expect_same_calendar(ics, declined.text, dana, event->uid, partstat::declined);

    // Declining again changes nothing, not even a byte; accepting changes it back.
    const partstat_result again = set_ok(declined.text, dana, event->uid, partstat::declined);
    EXPECT_EQ(again.changed, 0);
    EXPECT_EQ(again.before, partstat::declined);
    EXPECT_EQ(again.text, declined.text);
    const partstat_result accepted = set_ok(declined.text, dana, event->uid, partstat::accepted);
    EXPECT_EQ(accepted.changed, 1);
    expect_same_calendar(ics, accepted.text, dana, event->uid, partstat::accepted);
}

std::vector<std::string> invite_files() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(invites_dir)) {
        if (e.path().extension() == ".ics") out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

INSTANTIATE_TEST_SUITE_P(labelled, partstat_invites, ::testing::ValuesIn(invite_files()),
                         [](const auto& row) { return row.param.substr(0, row.param.find('.')); });

TEST(partstat_invites_set, covers_the_whole_development_set) {
    EXPECT_EQ(invite_files().size(), 36u);
}

TEST(partstat_calendar, one_meeting_among_many_is_changed) {
    const std::string ics =
        test_support::read_file(shared_dir / "labeled-invitations" / "calendar.ics");
    const parsed_calendar parsed = parse(ics);
    ASSERT_GE(parsed.events.size(), 3u);
    // The first event where the owner is an attendee.
    const invitation* target = nullptr;
    for (const auto& e : parsed.events) {
        if (e.owner) {
            target = &e;
            break;
        }
    }
    ASSERT_NE(target, nullptr);
    const partstat want =
        target->owner->partstat == partstat::tentative ? partstat::declined : partstat::tentative;
    const partstat_result r = set_ok(ics, dana, target->uid, want);
    EXPECT_EQ(r.changed, 1);
    expect_only_owner_changed(ics, r.text, owner_lines(logical_lines(ics), dana, target->uid),
                              to_string(want));
    expect_same_calendar(ics, r.text, dana, target->uid, want);
}

// ---------------------------------------------------------------------------------------------
// Recurring series: master and overrides

// A weekly meeting in Berlin time with its 2026-12-08 occurrence moved; the owner in both, and
// an alarm that e-mails the owner (its ATTENDEE is no attendance).
constexpr std::string_view series = R"(BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example//Series//EN
X-WR-CALNAME:Work
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:weekly-1@example.com
DTSTAMP:20261101T090000Z
DTSTART;TZID=Europe/Berlin:20261201T100000
DTEND;TZID=Europe/Berlin:20261201T110000
RRULE:FREQ=WEEKLY;COUNT=10
SUMMARY:Weekly review
ORGANIZER;CN="Lee, Sam":mailto:sam.lee@contoso.example
ATTENDEE;CN="Lee, Sam";PARTSTAT=ACCEPTED:mailto:sam.lee@contoso.example
ATTENDEE;CN=Dana Whitfield;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:dana.whitfield@contoso.example
ATTENDEE;CN=Ola;PARTSTAT=TENTATIVE;X-NUM-GUESTS=0:mailto:ola@contoso.example
X-MOZ-GENERATION:3
BEGIN:VALARM
ACTION:EMAIL
TRIGGER:-PT15M
SUMMARY:Reminder
DESCRIPTION:Weekly review soon
ATTENDEE:mailto:dana.whitfield@contoso.example
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:weekly-1@example.com
DTSTAMP:20261101T090000Z
RECURRENCE-ID;TZID=Europe/Berlin:20261208T100000
DTSTART;TZID=Europe/Berlin:20261208T140000
DTEND;TZID=Europe/Berlin:20261208T150000
SUMMARY:Weekly review (moved)
ORGANIZER;CN="Lee, Sam":mailto:sam.lee@contoso.example
ATTENDEE;CN="Lee, Sam";PARTSTAT=ACCEPTED:mailto:sam.lee@contoso.example
ATTENDEE;CN=Dana Whitfield;ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:dana.whitfield@contoso.example
END:VEVENT
BEGIN:VEVENT
UID:other@example.com
DTSTAMP:20261101T090000Z
DTSTART:20261202T100000Z
SUMMARY:Another meeting
ORGANIZER:mailto:sam.lee@contoso.example
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:dana.whitfield@contoso.example
END:VEVENT
END:VCALENDAR
)";

const time_point moved_occurrence = at(2026, 12, 8, 9, 0);  // 10:00 in Berlin (CET)

TEST(partstat_series, whole_meeting_changes_master_and_override) {
    const std::string ics = crlf(series);
    const partstat_result r = set_ok(ics, dana, "weekly-1@example.com", partstat::declined);
    EXPECT_EQ(r.changed, 2);
    EXPECT_EQ(r.before, partstat::needs_action) << "the master's, found first";
    expect_only_owner_changed(
        ics, r.text, owner_lines(logical_lines(ics), dana, "weekly-1@example.com"), "DECLINED");
    expect_same_calendar(ics, r.text, dana, "weekly-1@example.com", partstat::declined);
    // The alarm's ATTENDEE and the other meeting are untouched.
    EXPECT_THAT(r.text, HasSubstr("\r\nATTENDEE:mailto:dana.whitfield@contoso.example\r\n"));
    EXPECT_THAT(r.text,
                HasSubstr("ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:dana.whitfield@contoso.example"));
}

TEST(partstat_series, one_occurrence_changes_only_its_override) {
    const std::string ics = crlf(series);
    const partstat_result r =
        set_ok(ics, dana, "weekly-1@example.com", partstat::declined, moved_occurrence);
    EXPECT_EQ(r.changed, 1);
    EXPECT_EQ(r.before, partstat::accepted);
    expect_only_owner_changed(ics, r.text,
                              owner_lines(logical_lines(ics), dana, "weekly-1@example.com",
                                          "RECURRENCE-ID;TZID=Europe/Berlin:20261208T100000"),
                              "DECLINED");
    expect_same_calendar(ics, r.text, dana, "weekly-1@example.com", partstat::declined,
                         moved_occurrence);
}

TEST(partstat_series, an_occurrence_without_override_is_an_error) {
    const std::string ics = crlf(series);
    // 2026-12-15 is an occurrence of the rule, but has no VEVENT of its own.
    EXPECT_THAT(
        set_error(ics, dana, "weekly-1@example.com", partstat::declined, at(2026, 12, 15, 9, 0)),
        AllOf(HasSubstr("no VEVENT with UID weekly-1@example.com"),
              HasSubstr("RECURRENCE-ID 2026-12-15T09:00:00Z")));
    // The override's local time read as UTC is another instant.
    EXPECT_THAT(
        set_error(ics, dana, "weekly-1@example.com", partstat::declined, at(2026, 12, 8, 10, 0)),
        HasSubstr("no VEVENT"));
}

// The same override with its RECURRENCE-ID written in other forms: each names the same instant.
struct rid_row {
    std::string name;
    std::string recurrence_id_line;
    std::string extra_timezone;  // a VTIMEZONE the form needs
};

class partstat_recurrence_id_forms : public ::testing::TestWithParam<rid_row> {};

TEST_P(partstat_recurrence_id_forms, match_by_utc_instant) {
    std::string text(series);
    const std::string original = "RECURRENCE-ID;TZID=Europe/Berlin:20261208T100000";
    text.replace(text.find(original), original.size(), GetParam().recurrence_id_line);
    text.insert(text.find("BEGIN:VEVENT"), GetParam().extra_timezone);
    const std::string ics = crlf(text);
    const partstat_result r =
        set_ok(ics, dana, "weekly-1@example.com", partstat::tentative, moved_occurrence);
    EXPECT_EQ(r.changed, 1);
    EXPECT_EQ(r.before, partstat::accepted);
    expect_only_owner_changed(ics, r.text,
                              owner_lines(logical_lines(ics), dana, "weekly-1@example.com",
                                          GetParam().recurrence_id_line),
                              "TENTATIVE");
}

constexpr std::string_view custom_zone = R"(BEGIN:VTIMEZONE
TZID:Mitteleuropa (custom)
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
)";

INSTANTIATE_TEST_SUITE_P(
    rows, partstat_recurrence_id_forms,
    ::testing::Values(
        rid_row{"utc", "RECURRENCE-ID:20261208T090000Z", ""},
        rid_row{"iana_zone", "RECURRENCE-ID;TZID=Europe/Paris:20261208T100000", ""},
        rid_row{"windows_zone", "RECURRENCE-ID;TZID=W. Europe Standard Time:20261208T100000", ""},
        rid_row{"quoted_mozilla_zone",
                "RECURRENCE-ID;TZID=\"/mozilla.org/20050126_1/Europe/Berlin\":20261208T100000", ""},
        rid_row{"vtimezone_only", "RECURRENCE-ID;TZID=Mitteleuropa (custom):20261208T100000",
                std::string(custom_zone)}),
    [](const auto& row) { return row.param.name; });

TEST(partstat_series, caldavtester_recurring_template_with_us_eastern_override) {
    // Apple's CalDAV tester: a daily series with the 2nd occurrence overridden (RECURRENCE-ID
    // in US/Eastern, from the file's VTIMEZONE); the template variables filled in here.
    std::string text = test_support::read_file(shared_dir / "corpus" / "caldavtester-resources" /
                                               "implicit" / "partstatchange" / "recur" / "4.ics");
    ASSERT_FALSE(text.empty());
    const std::vector<std::pair<std::string, std::string>> values = {
        {"$uid1:", "tester-recur-4"},
        {"$now.year.1:", "2027"},
        {"$username1:", "User 01"},
        {"$username2:", "User 02"},
        {"$cuaddr1:", "mailto:user01@example.com"},
        {"$cuaddr2:", "MAILTO:User02@Example.com"}};
    for (const auto& [name, value] : values) {
        for (auto p = text.find(name); p != std::string::npos; p = text.find(name, p)) {
            text.replace(p, name.size(), value);
        }
    }
    ASSERT_EQ(text.find('$'), std::string::npos);
    const std::string owner = "user02@example.com";
    // 2027-01-02 12:00 US/Eastern (EST) = 17:00Z.
    const time_point occurrence = at(2027, 1, 2, 17, 0);
    const partstat_result one =
        set_ok(text, owner, "tester-recur-4", partstat::declined, occurrence);
    EXPECT_EQ(one.changed, 1);
    EXPECT_EQ(one.before, partstat::accepted);
    expect_only_owner_changed(text, one.text,
                              owner_lines(logical_lines(text), owner, "tester-recur-4",
                                          "RECURRENCE-ID;TZID=US/Eastern:20270102T120000"),
                              "DECLINED");
    expect_same_calendar(text, one.text, owner, "tester-recur-4", partstat::declined, occurrence);

    const partstat_result all = set_ok(text, owner, "tester-recur-4", partstat::accepted);
    EXPECT_EQ(all.changed, 1) << "the override is ACCEPTED already";
    EXPECT_EQ(all.before, partstat::needs_action);
}

// ---------------------------------------------------------------------------------------------
// How the owner's line is written

std::string one_event(std::string_view attendee_lines) {
    return crlf(
               "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//Example//One//EN\nMETHOD:REQUEST\n"
               "BEGIN:VEVENT\nUID:one@example.com\nDTSTAMP:20261101T090000Z\n"
               "DTSTART:20261202T100000Z\nDTEND:20261202T110000Z\nSUMMARY:One\n"
               "ORGANIZER;CN=Sam:mailto:sam.lee@contoso.example\n") +
           std::string(attendee_lines) + crlf("END:VEVENT\nEND:VCALENDAR\n");
}

TEST(partstat_lines, mailto_in_upper_case_and_mixed_case_address) {
    const std::string ics = one_event(
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:MAILTO:Dana.Whitfield@Contoso.Example\r\n");
    const partstat_result r = set_ok(ics, dana, "one@example.com", partstat::declined);
    EXPECT_EQ(r.changed, 1);
    EXPECT_THAT(r.text, HasSubstr("\r\nATTENDEE;PARTSTAT=DECLINED;RSVP=TRUE:MAILTO:"
                                  "Dana.Whitfield@Contoso.Example\r\n"));
    // The owner may be given in any form normalize_address reads.
    EXPECT_EQ(
        set_ok(ics, "MAILTO:Dana.Whitfield@CONTOSO.example", "one@example.com", partstat::declined)
            .changed,
        1);
}

TEST(partstat_lines, cn_with_commas_and_quotes_and_parameters_libical_would_lose) {
    // Quoted CN with a comma, ':' and ';' and RFC 6868 escapes (^' quote, ^^ caret), a
    // multi-valued DELEGATED-FROM, an iana-token parameter and an X- parameter: libical 3.0
    // would keep one DELEGATED-FROM value, drop FOO-BAR and turn ^^ into ^n.
    const std::string owner_line =
        "ATTENDEE;CN=\"Whitfield, Dana ^'DW^' (CEO; Board: yes) ^^\";ROLE=REQ-PARTICIPANT;"
        "DELEGATED-FROM=\"mailto:a@contoso.example\",\"mailto:b@contoso.example\";"
        "FOO-BAR=baz;X-ORIG=\"x:y\";RSVP=TRUE:mailto:dana.whitfield@contoso.example";
    const std::string other =
        "ATTENDEE;CN=\"Dana, not\";PARTSTAT=ACCEPTED:mailto:"
        "xdana.whitfield@contoso.example";
    const std::string ics = one_event(owner_line + "\r\n" + other + "\r\n");
    const partstat_result r = set_ok(ics, dana, "one@example.com", partstat::tentative);
    EXPECT_EQ(r.changed, 1);
    EXPECT_EQ(r.before, partstat::none) << "no PARTSTAT was written";
    const auto lines = logical_lines(r.text);
    EXPECT_THAT(lines, ::testing::Contains(owner_line.substr(0, owner_line.find(":mailto:d")) +
                                           ";PARTSTAT=TENTATIVE:mailto:" + std::string(dana)));
    EXPECT_THAT(lines, ::testing::Contains(other));
    expect_only_owner_changed(ics, r.text, owner_lines(logical_lines(ics), dana, "one@example.com"),
                              "TENTATIVE");
    expect_owner_lines_folded(r.text, dana);
}

TEST(partstat_lines, an_existing_partstat_is_replaced_in_place_in_any_case) {
    const std::string ics = one_event(
        "ATTENDEE;partstat=needs-action;CN=Dana;RSVP=TRUE:mailto:dana.whitfield@contoso."
        "example\r\n");
    const partstat_result r = set_ok(ics, dana, "one@example.com", partstat::accepted);
    EXPECT_EQ(r.changed, 1);
    EXPECT_EQ(r.before, partstat::needs_action);
    EXPECT_THAT(logical_lines(r.text),
                ::testing::Contains("ATTENDEE;partstat=ACCEPTED;CN=Dana;RSVP=TRUE:mailto:"
                                    "dana.whitfield@contoso.example"));
}

TEST(partstat_lines, an_x_partstat_is_replaced) {
    const std::string ics =
        one_event("ATTENDEE;PARTSTAT=X-MAYBE:mailto:dana.whitfield@contoso.example\r\n");
    const partstat_result r = set_ok(ics, dana, "one@example.com", partstat::declined);
    EXPECT_EQ(r.changed, 1);
    EXPECT_EQ(r.before, partstat::other);
    EXPECT_THAT(r.text, HasSubstr("ATTENDEE;PARTSTAT=DECLINED:mailto:"));
}

TEST(partstat_lines, folded_owner_line_is_refolded_and_others_keep_their_folds) {
    // The owner's line folded inside the CN and inside the address (as Outlook does, d01),
    // with a two-byte character across the 75-octet boundary after the edit.
    const std::string ics = one_event(
        "DESCRIPTION:A long description that Outlook folds at seventy-five octe\r\n"
        " ts\\, as it always does.\r\n"
        "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Dana Whitf\r\n"
        " ield M\xC3\xBCller:mailto:dana.whit\r\n"
        "\tfield@contoso.example\r\n");
    const partstat_result r = set_ok(ics, dana, "one@example.com", partstat::declined);
    EXPECT_EQ(r.changed, 1);
    EXPECT_THAT(r.text, HasSubstr("DESCRIPTION:A long description that Outlook folds at "
                                  "seventy-five octe\r\n ts\\, as it always does.\r\n"));
    expect_crlf_and_folded(r.text);
    expect_owner_lines_folded(r.text, dana);
    EXPECT_THAT(logical_lines(r.text),
                ::testing::Contains("ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=DECLINED;RSVP=TRUE;"
                                    "CN=Dana Whitfield M\xC3\xBCller:mailto:"
                                    "dana.whitfield@contoso.example"));
    // No fold splits the ü.
    EXPECT_THAT(r.text, Not(HasSubstr("\xC3\r\n")));
    expect_same_calendar(ics, r.text, dana, "one@example.com", partstat::declined);
}

TEST(partstat_lines, a_long_owner_line_folds_between_characters_not_bytes) {
    std::string cn;
    for (int i = 0; i < 60; ++i) cn += "\xE6\x97\xA5";  // 日, three octets each
    const std::string ics =
        one_event("ATTENDEE;CN=" + cn + ":mailto:dana.whitfield@contoso.example\r\n");
    const partstat_result r = set_ok(ics, dana, "one@example.com", partstat::accepted);
    expect_owner_lines_folded(r.text, dana);
    EXPECT_THAT(logical_lines(r.text),
                ::testing::Contains("ATTENDEE;CN=" + cn +
                                    ";PARTSTAT=ACCEPTED:mailto:dana.whitfield@contoso.example"));
    const parsed_calendar p = parse(r.text);
    ASSERT_EQ(p.events.size(), 1u);
    ASSERT_TRUE(p.events[0].owner);
    EXPECT_EQ(p.events[0].owner->name, cn);
}

TEST(partstat_lines, declined_on_declined_changes_nothing) {
    const std::string ics =
        one_event("ATTENDEE;PARTSTAT=DECLINED:mailto:dana.whitfield@contoso.example\r\n");
    const partstat_result r = set_ok(ics, dana, "one@example.com", partstat::declined);
    EXPECT_EQ(r.changed, 0);
    EXPECT_EQ(r.before, partstat::declined);
    EXPECT_EQ(r.text, ics);
}

TEST(partstat_lines, needs_action_on_a_missing_partstat_changes_nothing) {
    const std::string ics = one_event("ATTENDEE:mailto:dana.whitfield@contoso.example\r\n");
    const partstat_result r = set_ok(ics, dana, "one@example.com", partstat::needs_action);
    EXPECT_EQ(r.changed, 0);
    EXPECT_EQ(r.before, partstat::none);
    EXPECT_EQ(r.text, ics);
}

TEST(partstat_lines, the_owner_listed_twice_counts_twice) {
    const std::string ics = one_event(
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:dana.whitfield@contoso.example\r\n"
        "ATTENDEE;CN=Dana;PARTSTAT=ACCEPTED:MAILTO:DANA.WHITFIELD@CONTOSO.EXAMPLE\r\n");
    const partstat_result r = set_ok(ics, dana, "one@example.com", partstat::declined);
    EXPECT_EQ(r.changed, 2);
    EXPECT_EQ(r.before, partstat::needs_action);
}

TEST(partstat_lines, lf_input_comes_back_with_crlf_and_nothing_else_changed) {
    const std::string lf = std::string(series);
    const partstat_result r = set_ok(lf, dana, "other@example.com", partstat::accepted);
    EXPECT_EQ(r.changed, 1);
    expect_crlf_and_folded(r.text);
    expect_only_owner_changed(lf, r.text, owner_lines(logical_lines(lf), dana, "other@example.com"),
                              "ACCEPTED");
    // changed == 0: the input with CRLF.
    EXPECT_EQ(set_ok(lf, dana, "other@example.com", partstat::needs_action).text, crlf(lf));
}

TEST(partstat_lines, windows_1252_input_is_read_as_the_parser_reads_it) {
    // Old Outlook writes Windows-1252 without saying so; prescan re-reads it, and so does this.
    const std::string ics = one_event(
        "ATTENDEE;CN=Dana M\xFCller;PARTSTAT=NEEDS-ACTION:mailto:dana.whitfield@contoso.example\r\n"
        "ATTENDEE;CN=J\xF6rg;PARTSTAT=ACCEPTED:mailto:joerg@contoso.example\r\n");
    const partstat_result r = set_ok(ics, dana, "one@example.com", partstat::declined);
    EXPECT_EQ(r.changed, 1);
    EXPECT_THAT(r.text, HasSubstr("ATTENDEE;CN=J\xC3\xB6rg;PARTSTAT=ACCEPTED:mailto:joerg@"));
    EXPECT_THAT(r.text, HasSubstr("ATTENDEE;CN=Dana M\xC3\xBCller;PARTSTAT=DECLINED:mailto:dana"));
}

// ---------------------------------------------------------------------------------------------
// Errors

TEST(partstat_errors, not_icalendar) {
    for (const std::string& garbage :
         {""s, "hello, world"s, "\x89PNG\r\n\x1A\n\0\0\0\rIHDR"s,
          "\xFF\xFE"
          "B\0E\0G\0I\0N\0"s,                                                 // UTF-16
          "\xC3\x28\xA0\xA1\xE2\x28\xA1\xF0\x28\x8C\xBC\n\x80\x81\xFE\xFF"s,  // invalid UTF-8
          "BEGIN:VEVENT\r\nUID:one@example.com\r\nEND:VEVENT\r\n"s,           // no VCALENDAR
          "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:one@example.com\r\n"s}) {   // never closed
        EXPECT_THAT(set_error(garbage, dana, "one@example.com", partstat::declined),
                    StartsWith("not iCalendar"))
            << garbage;
    }
}

TEST(partstat_errors, no_such_uid_or_occurrence) {
    const std::string ics = crlf(series);
    EXPECT_THAT(set_error(ics, dana, "missing@example.com", partstat::declined),
                HasSubstr("no VEVENT with UID missing@example.com"));
    EXPECT_THAT(set_error(ics, dana, "other@example.com", partstat::declined, moved_occurrence),
                HasSubstr("no VEVENT with UID other@example.com and RECURRENCE-ID "
                          "2026-12-08T09:00:00Z"));
}

TEST(partstat_errors, owner_not_an_attendee_names_uid_and_owner) {
    const std::string ics = crlf(series);
    // The organizer-only address and a look-alike are no attendance; nor is the alarm's.
    EXPECT_THAT(
        set_error(ics, "sam.lee@contoso.example.org", "weekly-1@example.com", partstat::declined),
        AllOf(HasSubstr("sam.lee@contoso.example.org"), HasSubstr("weekly-1@example.com"),
              HasSubstr("is not an attendee")));
    const std::string alarm_only = one_event(
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:sam.lee@contoso.example\r\n"
        "BEGIN:VALARM\r\nACTION:EMAIL\r\nTRIGGER:-PT5M\r\nSUMMARY:x\r\nDESCRIPTION:x\r\n"
        "ATTENDEE:mailto:dana.whitfield@contoso.example\r\nEND:VALARM\r\n");
    EXPECT_THAT(set_error(alarm_only, dana, "one@example.com", partstat::declined),
                AllOf(HasSubstr(std::string(dana) + " is not an attendee of one@example.com")));
}

TEST(partstat_errors, only_the_four_answers) {
    const std::string ics = one_event("ATTENDEE:mailto:dana.whitfield@contoso.example\r\n");
    for (partstat p : {partstat::none, partstat::delegated, partstat::other}) {
        EXPECT_THAT(set_error(ics, dana, "one@example.com", p),
                    HasSubstr("is not an answer set_owner_partstat gives"));
    }
    EXPECT_THAT(set_error(ics, "", "one@example.com", partstat::declined),
                HasSubstr("no owner address"));
}

}  // namespace
}  // namespace agendad::calendar
