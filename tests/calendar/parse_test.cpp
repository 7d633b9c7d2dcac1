// Tests for calendar/ical/parse: what agendad reads out of iCalendar text (Outlook invitations,
// producers' quirks, time zones, recurrence) and how it reports broken input (file, line, why).
#include "calendar/ical/parse.h"
#include "support/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/time_zones.h"

namespace agendad::calendar {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// ---------------------------------------------------------------------------------------------
// Helpers

const fs::path invites_dir = fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations" / "invites";
const fs::path corpus_dir = fs::path(AGENDAD_SHARED_DIR) / "corpus";
const fs::path samples_dir = fs::path(AGENDAD_SOURCE_DIR) / "config" / "samples" / "invitations";
constexpr std::string_view owner_mailbox = "dana.whitfield@contoso.example";

using agendad::test_support::read_file;

// The literals below are written with LF for legibility; iCalendar lines end in CRLF, which is
// what Outlook and Exchange send.
std::string crlf(std::string_view lf_text) {
    std::string out;
    out.reserve(lf_text.size() + lf_text.size() / 16);
    for (const char c : lf_text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

// A one-event calendar whose event starts on line 5, so the first of `event_lines` is line 6: the
// error tests count from there. `calendar_line` is one line before the event, usually the METHOD.
std::string ics(std::string_view event_lines, std::string_view calendar_line = "METHOD:REQUEST",
                std::string_view eol = "\r\n") {
    std::string lf = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//agendad//parse_test//EN\n";
    lf += calendar_line;
    lf += "\nBEGIN:VEVENT\n";
    lf += event_lines;
    if (!lf.ends_with('\n')) lf += '\n';
    lf += "END:VEVENT\nEND:VCALENDAR\n";
    std::string out;
    for (const char c : lf) {
        if (c == '\n')
            out += eol;
        else
            out += c;
    }
    return out;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += "\n  " + l;
    return out;
}

std::string joined(const std::vector<diagnostic>& diagnostics) {
    std::string out;
    for (const auto& d : diagnostics) out += "\n  " + d.to_string();
    return out;
}

// Text that must be accepted as a whole; a rejection fails the test with its diagnostic.
parsed_calendar parse_valid(std::string_view text, const parse_options& options = {}) {
    auto parsed = parse_ics(text, "test.ics", options);
    if (!parsed) {
        ADD_FAILURE() << "rejected: " << parsed.error().to_string();
        return {};
    }
    return std::move(*parsed);
}

// The only event of `text`; anything else (no event, an event error) fails the test.
invitation single_event(std::string_view text, const parse_options& options = {}) {
    parsed_calendar calendar = parse_valid(text, options);
    if (calendar.events.size() != 1 || !calendar.errors.empty()) {
        ADD_FAILURE() << calendar.events.size() << " events, errors:" << joined(calendar.errors);
        return {};
    }
    return std::move(calendar.events.front());
}

// A labelled invitation, read from disk as the daemon would, for the owner's mailbox.
invitation labelled(std::string_view name) {
    parse_options options;
    options.mailbox = std::string(owner_mailbox);
    const fs::path path = invites_dir / (std::string(name) + ".ics");
    auto parsed = parse_ics_file(path, options);
    if (!parsed) {
        ADD_FAILURE() << "rejected: " << parsed.error().to_string();
        return {};
    }
    if (parsed->events.size() != 1 || !parsed->errors.empty()) {
        ADD_FAILURE() << path << ": " << parsed->events.size()
                      << " events, errors:" << joined(parsed->errors);
        return {};
    }
    return std::move(parsed->events.front());
}

// "2026-11-24 10:00 [Pacific Standard Time]": one string, so that a mismatch shows every field.
std::string local_text(const local_start& l) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d", l.year, l.month, l.day, l.hour,
                  l.minute);
    return std::string(buf) + " [" + l.zone + "]";
}

// Table rows name themselves (gtest's own parameter is called `info`, hence `row`).
struct row_name {
    template <class T>
    std::string operator()(const ::testing::TestParamInfo<T>& row) const {
        return row.param.name;
    }
};

std::string utc_or_none(const std::optional<time_point>& t) {
    return t ? format_utc(*t) : "none";
}

// ---------------------------------------------------------------------------------------------
// Outlook invitations from the labelled set, field by field

TEST(outlook_invitation, d01_every_field_of_a_single_meeting_request) {
    const invitation inv = labelled("d01");
    EXPECT_EQ(inv.source.file, (invites_dir / "d01.ics").string());
    EXPECT_EQ(inv.source.line, 20);
    EXPECT_EQ(inv.method, method::request) << to_string(inv.method);
    // The UID is folded over two lines in the file.
    EXPECT_EQ(inv.uid,
              "040000008200E00074C5B7101A82E008000000002FAB3F1C4A222FAD000000000000000"
              "0100000000EFE6A84B57288BD3E45AF98D");
    EXPECT_EQ(inv.sequence, 0);
    EXPECT_FALSE(inv.recurrence_id.has_value());

    EXPECT_EQ(inv.organizer.address, "chris.dalton@pipelinepro.example");
    EXPECT_EQ(inv.organizer.name, "Chris Dalton");
    EXPECT_EQ(inv.organizer.sent_by, "");

    ASSERT_EQ(inv.attendees.size(), 1u);
    ASSERT_TRUE(inv.owner.has_value());
    EXPECT_EQ(inv.owner->address, "dana.whitfield@contoso.example");
    EXPECT_EQ(inv.owner->name, "Dana Whitfield");  // CN folded mid-word
    EXPECT_EQ(inv.owner->role, role::required) << to_string(inv.owner->role);
    EXPECT_EQ(inv.owner->partstat, partstat::needs_action) << to_string(inv.owner->partstat);
    EXPECT_EQ(inv.owner->rsvp, std::optional<bool>(true));
    EXPECT_TRUE(inv.response_requested());

    EXPECT_EQ(inv.subject, "Quick intro - 15 minutes?");
    // Folds fall inside "grab" and "meeting"; \, and \n are escapes.
    EXPECT_THAT(inv.description, HasSubstr("Hi Dana,\n\nHope you're well!"));
    EXPECT_THAT(inv.description, HasSubstr("Would love to grab 15 minutes"));
    EXPECT_THAT(inv.description, HasSubstr("Microsoft Teams meeting\nJoin on your computer, "));
    // Outlook's "text<https://...>" link rendering is plain text, not HTML to be converted.
    EXPECT_THAT(inv.description,
                HasSubstr("the meeting<https://teams.microsoft.com/l/meetup-join/"));
    EXPECT_EQ(inv.location, "Microsoft Teams Meeting");
    EXPECT_FALSE(inv.has_attachments);

    EXPECT_TRUE(inv.has_start);
    EXPECT_EQ(format_utc(inv.start), "2026-11-24T18:00:00Z");
    EXPECT_EQ(format_utc(inv.end), "2026-11-24T18:15:00Z");
    EXPECT_FALSE(inv.all_day);
    EXPECT_EQ(local_text(inv.start_local), "2026-11-24 10:00 [Pacific Standard Time]");

    EXPECT_FALSE(inv.is_recurring());
    EXPECT_EQ(inv.transp, transparency::opaque);
    EXPECT_EQ(inv.status, event_status::confirmed) << to_string(inv.status);
    EXPECT_THAT(inv.warnings, IsEmpty());
}

TEST(outlook_invitation, d01_without_a_mailbox_has_no_owner_and_requests_nothing) {
    auto parsed = parse_ics_file(invites_dir / "d01.ics");
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    ASSERT_EQ(parsed->events.size(), 1u);
    EXPECT_FALSE(parsed->events[0].owner.has_value());
    EXPECT_FALSE(parsed->events[0].response_requested());
}

TEST(outlook_invitation, d04_monthly_rule_without_end_is_open_ended) {
    const invitation inv = labelled("d04");
    EXPECT_TRUE(inv.is_recurring());
    EXPECT_EQ(inv.recurrence.kind, recurrence_info::bound::open_ended);
    EXPECT_EQ(inv.recurrence.frequency, "MONTHLY");
    EXPECT_THAT(inv.recurrence.rule, HasSubstr("FREQ=MONTHLY"));
    EXPECT_FALSE(inv.recurrence.until.has_value());
    EXPECT_FALSE(inv.recurrence.last_start.has_value());
    EXPECT_EQ(format_utc(inv.start), "2026-12-08T19:00:00Z");
}

TEST(outlook_invitation, d09_w_europe_standard_time_is_central_european_time) {
    const invitation inv = labelled("d09");
    // 25 November is winter time in Berlin: UTC+1.
    EXPECT_EQ(format_utc(inv.start), "2026-11-25T16:00:00Z");
    EXPECT_EQ(format_utc(inv.end), "2026-11-25T17:00:00Z");
    EXPECT_EQ(local_text(inv.start_local), "2026-11-25 17:00 [W. Europe Standard Time]");
    EXPECT_EQ(inv.organizer.address, "sam.okafor@eu.contoso.example");
}

TEST(outlook_invitation, d14_cancellation_carries_method_status_and_sequence) {
    const invitation inv = labelled("d14");
    EXPECT_EQ(inv.method, method::cancel) << to_string(inv.method);
    EXPECT_EQ(inv.status, event_status::cancelled) << to_string(inv.status);
    EXPECT_EQ(inv.sequence, 1);
    EXPECT_EQ(inv.subject, "Canceled: Intro");
}

TEST(outlook_invitation, d19_all_day_fyi_event_requests_no_response) {
    const invitation inv = labelled("d19");
    EXPECT_TRUE(inv.all_day);
    EXPECT_EQ(format_utc(inv.start), "2026-11-26T00:00:00Z");
    EXPECT_EQ(format_utc(inv.end), "2026-11-27T00:00:00Z");
    EXPECT_EQ(inv.transp, transparency::transparent);
    ASSERT_TRUE(inv.owner.has_value());
    EXPECT_EQ(inv.owner->rsvp, std::optional<bool>(false));
    EXPECT_FALSE(inv.response_requested());
}

TEST(outlook_invitation, d20_plain_description_wins_over_x_alt_desc) {
    const invitation inv = labelled("d20");
    // The HTML twin renders "<p><b>Agenda</b></p>" without the colon: the colon proves which one.
    EXPECT_EQ(inv.description,
              "Agenda:\n- Your current cash-positioning process\n- Where Fintrail automates bank "
              "reconciliation\n- Next steps if there is a fit");
}

TEST(outlook_invitation, d32_sent_by_is_a_bare_lower_case_address) {
    const invitation inv = labelled("d32");
    EXPECT_EQ(inv.organizer.sent_by, "assistant@parkventures.example");
    EXPECT_EQ(inv.organizer.address, "helen.park@parkventures.example");
    EXPECT_EQ(inv.organizer.name, "Helen Park");
}

TEST(outlook_invitation, d33_organizer_address_is_lower_cased) {
    const invitation inv = labelled("d33");
    EXPECT_EQ(inv.organizer.address, "maria.gonzalez@contoso.example");
}

TEST(outlook_invitation, d13_keeps_all_25_attendees) {
    const invitation inv = labelled("d13");
    EXPECT_EQ(inv.attendees.size(), 25u);
    EXPECT_EQ(inv.organizer.address, "rewards@prize-claims.example");
    ASSERT_TRUE(inv.owner.has_value());
    EXPECT_EQ(inv.attendees[1].address, "user0@mailhub.example");
    EXPECT_EQ(inv.attendees[1].name, "User 0");
}

// Every real invitation we ship or label parses to exactly one event, with nothing to report.
class real_invitation : public ::testing::TestWithParam<fs::path> {};

TEST_P(real_invitation, parses_to_one_event_without_warnings) {
    auto parsed = parse_ics_file(GetParam());
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    EXPECT_THAT(parsed->errors, IsEmpty()) << joined(parsed->errors);
    EXPECT_THAT(parsed->warnings, IsEmpty()) << joined(parsed->warnings);
    ASSERT_EQ(parsed->events.size(), 1u);
    const invitation& inv = parsed->events.front();
    EXPECT_THAT(inv.warnings, IsEmpty()) << joined(inv.warnings);
    EXPECT_FALSE(inv.uid.empty());
    EXPECT_FALSE(inv.organizer.address.empty());
    EXPECT_TRUE(inv.has_start);
}

std::vector<fs::path> real_invitation_files() {
    std::vector<fs::path> files;
    for (const fs::path& dir : {invites_dir, samples_dir}) {
        for (const auto& e : fs::directory_iterator(dir)) {
            if (e.path().extension() == ".ics") files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

INSTANTIATE_TEST_SUITE_P(files, real_invitation, ::testing::ValuesIn(real_invitation_files()),
                         [](const ::testing::TestParamInfo<fs::path>& row) {
                             std::string name = row.param.stem().string();
                             for (char& c : name) {
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             }
                             return (row.param.parent_path() == invites_dir ? "labelled_"
                                                                            : "sample_") +
                                    name;
                         });

// ---------------------------------------------------------------------------------------------
// Producers' quirks: text, names and addresses

TEST(quirks, utf8_bom_is_skipped_without_shifting_lines) {
    const invitation inv =
        single_event("\xEF\xBB\xBF" + ics("UID:bom\nDTSTART:20261201T150000Z\nSUMMARY:Sync"));
    EXPECT_EQ(inv.uid, "bom");
    EXPECT_EQ(inv.subject, "Sync");
    EXPECT_EQ(inv.source.line, 5);
}

TEST(quirks, mailto_in_capitals_is_stripped) {
    parse_options options;
    options.mailbox = std::string(owner_mailbox);
    const invitation inv = single_event(
        ics("UID:m\nDTSTART:20261201T150000Z\nORGANIZER:MAILTO:Chris.Dalton@PipelinePro.example\n"
            "ATTENDEE;RSVP=TRUE:MAILTO:DANA.WHITFIELD@CONTOSO.EXAMPLE"),
        options);
    EXPECT_EQ(inv.organizer.address, "chris.dalton@pipelinepro.example");
    ASSERT_EQ(inv.attendees.size(), 1u);
    EXPECT_EQ(inv.attendees[0].address, "dana.whitfield@contoso.example");
    EXPECT_TRUE(inv.owner.has_value());
}

struct name_case {
    std::string name;
    std::string cn_parameter;  // what follows "ATTENDEE", up to the ':'
    std::string expected;
    friend void PrintTo(const name_case& c, std::ostream* os) { *os << c.name; }
};

class attendee_name : public ::testing::TestWithParam<name_case> {};

TEST_P(attendee_name, is_read_as_a_person_would_write_it) {
    const invitation inv =
        single_event(ics("UID:n\nDTSTART:20261201T150000Z\nATTENDEE" + GetParam().cn_parameter +
                         ":mailto:chris.dalton@pipelinepro.example"));
    ASSERT_EQ(inv.attendees.size(), 1u);
    EXPECT_EQ(inv.attendees[0].name, GetParam().expected);
    EXPECT_EQ(inv.attendees[0].address, "chris.dalton@pipelinepro.example");
}

INSTANTIATE_TEST_SUITE_P(
    cn, attendee_name,
    ::testing::Values(
        name_case{"plain", ";CN=Chris Dalton", "Chris Dalton"},
        name_case{"quoted_with_comma", ";CN=\"Dalton, Chris\"", "Dalton, Chris"},
        name_case{"quoted_with_colon_and_semicolon", ";CN=\"Sales: EMEA; Chris\"",
                  "Sales: EMEA; Chris"},
        // Google writes the address itself as CN: that is no name to greet anybody with.
        name_case{"address_as_name", ";CN=chris.dalton@pipelinepro.example", ""},
        name_case{"quoted_address_as_name", ";CN=\"chris.dalton@pipelinepro.example\"", ""},
        name_case{"absent", ";RSVP=TRUE", ""}),
    row_name{});

struct fold_case {
    std::string name;
    std::string text;
    friend void PrintTo(const fold_case& c, std::ostream* os) { *os << c.name; }
};

class folded_lines : public ::testing::TestWithParam<fold_case> {};

TEST_P(folded_lines, are_joined_back) {
    const invitation inv = single_event(GetParam().text);
    EXPECT_EQ(inv.subject, "Quarterly business review");
    EXPECT_EQ(inv.uid, "fold-1234");
}

INSTANTIATE_TEST_SUITE_P(
    styles, folded_lines,
    ::testing::Values(
        fold_case{"crlf_space",
                  ics("UID:fold-\n 1234\nDTSTART:20261201T150000Z\nSUMMARY:Quarterly \n business "
                      "review")},
        fold_case{"lf_tab", ics("UID:fold-\n\t1234\nDTSTART:20261201T150000Z\n"
                                "SUMMARY:Quarterly \n\tbusiness review",
                                "METHOD:REQUEST", "\n")},
        fold_case{"many_folds", ics("UID:f\n o\n l\n d\n -\n 1\n 2\n 3\n 4\n"
                                    "DTSTART:20261201T150000Z\nSUMMARY:Quarterly business review")},
        fold_case{"inside_the_property_name",
                  ics("UID:fold-1234\nDTSTART:20261201T150000Z\nSUMM\n ARY:Quarterly business "
                      "review")}),
    row_name{});

TEST(quirks, escaped_text_is_unescaped) {
    const invitation inv = single_event(ics(R"(UID:esc
DTSTART:20261201T150000Z
SUMMARY:Pricing\, roadmap\; next steps
DESCRIPTION:Line one\nLine two\NPath C:\\shared\\deck.pptx\, slide 3)"));
    EXPECT_EQ(inv.subject, "Pricing, roadmap; next steps");
    EXPECT_EQ(inv.description, "Line one\nLine two\nPath C:\\shared\\deck.pptx, slide 3");
}

// Found by fuzzing: libical reads a backslash before a character it does not know as an escape
// of one byte, so "\\é" lost the first byte of é and left text that was not UTF-8. Such a
// backslash is kept as written, also across a fold, while real escapes still work around it.
TEST(quirks, backslash_before_non_ascii_is_kept_as_written) {
    const invitation inv = single_event(ics("UID:bs-\\\xC3\xA9\n"
                                            "DTSTART:20261201T150000Z\n"
                                            "SUMMARY:Unterlagen in C:\\\xC3\x9C" "bersicht\\, bitte\n"
                                            "DESCRIPTION:caf\\\n \xC3\xA9 \\\\\xE2\x82\xAC 5\\n\xE2\x80\x94\n"
                                            "LOCATION:Raum \\\xE2\x80\x9C" "B\xE2\x80\x9D"));
    EXPECT_EQ(inv.uid, "bs-\\\xC3\xA9");
    EXPECT_EQ(inv.subject, "Unterlagen in C:\\\xC3\x9C" "bersicht, bitte");
    EXPECT_EQ(inv.description, "caf\\\xC3\xA9 \\\xE2\x82\xAC 5\n\xE2\x80\x94");
    EXPECT_EQ(inv.location, "Raum \\\xE2\x80\x9C" "B\xE2\x80\x9D");
}

TEST(quirks, html_only_description_is_converted_to_plain_text) {
    const invitation inv = single_event(ics(
        "UID:html\nDTSTART:20261201T150000Z\nDESCRIPTION:\nX-ALT-DESC;FMTTYPE=text/html:<html><bo"
        "dy><p>Topics</p><ul><li>Pricing</li><li>Roadmap</li></ul></body></html>"));
    EXPECT_THAT(inv.description, HasSubstr("Topics\n- Pricing\n- Roadmap"));
    EXPECT_THAT(inv.description, Not(HasSubstr("<")));
}

TEST(quirks, x_alt_desc_is_used_when_description_is_absent) {
    const invitation inv = single_event(
        ics("UID:html\nDTSTART:20261201T150000Z\nX-ALT-DESC;FMTTYPE=text/html:<ul><li>Pricing</"
            "li></ul>"));
    EXPECT_EQ(inv.description, "- Pricing");
}

TEST(quirks, google_html_in_description_is_converted) {
    const invitation inv = single_event(
        ics("UID:g\nDTSTART:20261201T150000Z\nDESCRIPTION:<b>Agenda</b><br>1. Pricing<br>2. "
            "Roadmap"));
    EXPECT_EQ(inv.description, "Agenda\n1. Pricing\n2. Roadmap");
}

TEST(quirks, plain_text_with_angle_brackets_is_not_taken_for_html) {
    const invitation inv = single_event(
        ics("UID:p\nDTSTART:20261201T150000Z\nDESCRIPTION:Deck: <https://example.com/d> if a < "
            "b"));
    EXPECT_EQ(inv.description, "Deck: <https://example.com/d> if a < b");
}

TEST(quirks, sequence_falls_back_to_the_outlook_x_property) {
    const invitation inv =
        single_event(ics("UID:s\nDTSTART:20261201T150000Z\nX-MICROSOFT-CDO-APPT-SEQUENCE:3"));
    EXPECT_EQ(inv.sequence, 3);
}

TEST(quirks, sequence_wins_over_the_outlook_x_property) {
    const invitation inv = single_event(
        ics("UID:s\nDTSTART:20261201T150000Z\nSEQUENCE:2\nX-MICROSOFT-CDO-APPT-SEQUENCE:5"));
    EXPECT_EQ(inv.sequence, 2);
}

// Policies tell a cancelled or tentative event from one that says nothing; "other" would claim
// the producer wrote a status we do not know.
TEST(quirks, event_without_status_has_status_none) {
    const invitation inv = single_event(ics("UID:st\nDTSTART:20261201T150000Z"));
    EXPECT_EQ(inv.status, event_status::none) << to_string(inv.status);
}

TEST(quirks, status_tentative_is_read) {
    const invitation inv = single_event(ics("UID:st\nDTSTART:20261201T150000Z\nSTATUS:TENTATIVE"));
    EXPECT_EQ(inv.status, event_status::tentative) << to_string(inv.status);
}

struct method_case {
    std::string name;
    std::string calendar_line;
    method expected;
    friend void PrintTo(const method_case& c, std::ostream* os) { *os << c.name; }
};

class calendar_method : public ::testing::TestWithParam<method_case> {};

TEST_P(calendar_method, is_given_to_the_event) {
    const invitation inv =
        single_event(ics("UID:m\nDTSTART:20261201T150000Z", GetParam().calendar_line));
    EXPECT_EQ(inv.method, GetParam().expected) << to_string(inv.method);
}

INSTANTIATE_TEST_SUITE_P(
    methods, calendar_method,
    ::testing::Values(method_case{"request", "METHOD:REQUEST", method::request},
                      method_case{"cancel", "METHOD:CANCEL", method::cancel},
                      method_case{"reply", "METHOD:REPLY", method::reply},
                      method_case{"publish", "METHOD:PUBLISH", method::publish},
                      method_case{"counter", "METHOD:COUNTER", method::counter},
                      method_case{"absent_is_a_stored_item", "X-WR-CALNAME:Work", method::none}),
    row_name{});

TEST(quirks, windows_1252_bytes_are_read_as_windows_1252) {
    const std::string text = ics("UID:w\nDTSTART:20261201T150000Z\nSUMMARY:Caf\xE9 \x93sync\x94");
    const parsed_calendar calendar = parse_valid(text);
    ASSERT_EQ(calendar.events.size(), 1u);
    EXPECT_EQ(calendar.events[0].subject, "Caf\u00E9 \u201Csync\u201D");
    EXPECT_THAT(calendar.warnings, Contains(AllOf(HasSubstr("Windows-1252"), HasSubstr("line 8"))));
}

TEST(quirks, classic_mac_line_ends_parse) {
    const invitation inv = single_event(
        ics("UID:cr\nDTSTART:20261201T150000Z\nSUMMARY:Budget\nDESCRIPTION:Line one\\nLine two",
            "METHOD:REQUEST", "\r"));
    EXPECT_EQ(inv.subject, "Budget");
    EXPECT_EQ(inv.description, "Line one\nLine two");
    EXPECT_EQ(inv.source.line, 5);
}

TEST(quirks, blank_lines_between_properties_are_tolerated) {
    // Written out rather than as a raw literal so that the line of spaces (a whitespace-only
    // continuation, as some web exporters write) survives editors that trim lines.
    const invitation inv = single_event(
        crlf("BEGIN:VCALENDAR\n\nBEGIN:VEVENT\nUID:blank\n\nDTSTART:20261201T150000Z\n   \n"
             "SUMMARY:Budget\nEND:VEVENT\n\nEND:VCALENDAR\n\n"));
    EXPECT_EQ(inv.subject, "Budget");
    EXPECT_EQ(format_utc(inv.start), "2026-12-01T15:00:00Z");
    EXPECT_THAT(inv.warnings, IsEmpty());
}

TEST(quirks, event_in_a_nested_vcalendar_is_read_with_its_method) {
    const invitation inv = single_event(crlf(R"(BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VCALENDAR
METHOD:CANCEL
BEGIN:VEVENT
UID:nested
DTSTART:20261201T150000Z
END:VEVENT
END:VCALENDAR
END:VCALENDAR
)"));
    EXPECT_EQ(inv.uid, "nested");
    EXPECT_EQ(inv.method, method::cancel) << to_string(inv.method);
    EXPECT_EQ(inv.source.line, 5);
}

// agendad hands libical neither alarms nor the VTIMEZONEs of zones it knows; an event hidden
// inside such a component must still be read, and the others keep their lines.
TEST(quirks, events_survive_what_libical_is_not_given) {
    const parsed_calendar calendar = parse_valid(crlf(R"(BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VTIMEZONE
TZID:Pacific Standard Time
BEGIN:STANDARD
DTSTART:16010101T020000
TZOFFSETFROM:-0700
TZOFFSETTO:-0800
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:outer
DTSTART;TZID=Pacific Standard Time:20261124T100000
X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE
BEGIN:VALARM
ACTION:DISPLAY
BEGIN:VEVENT
UID:inside-an-alarm
DTSTART:20261201T150000Z
END:VEVENT
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:after
DTSTART:20261202T150000Z
DTEND:20261345T100000Z
END:VEVENT
END:VCALENDAR
)"));
    ASSERT_EQ(calendar.events.size(), 2u);
    EXPECT_EQ(calendar.events[0].uid, "outer");
    EXPECT_EQ(format_utc(calendar.events[0].start), "2026-11-24T18:00:00Z");
    EXPECT_EQ(calendar.events[1].uid, "inside-an-alarm");
    EXPECT_EQ(calendar.events[1].source.line, 17);
    // The third event's error still names its own line in the whole file.
    ASSERT_EQ(calendar.errors.size(), 1u);
    EXPECT_EQ(calendar.errors[0].line, 26) << calendar.errors[0].to_string();
}

TEST(quirks, bare_vevent_without_vcalendar_is_read) {
    const invitation inv = single_event(crlf(R"(BEGIN:VEVENT
UID:bare
DTSTART:20261201T150000Z
SUMMARY:Bare
END:VEVENT
)"));
    EXPECT_EQ(inv.uid, "bare");
    EXPECT_EQ(inv.method, method::none);
    EXPECT_EQ(format_utc(inv.start), "2026-12-01T15:00:00Z");
}

TEST(quirks, concatenated_calendars_each_give_their_method) {
    const parsed_calendar calendar = parse_valid(crlf(R"(BEGIN:VCALENDAR
METHOD:REQUEST
BEGIN:VEVENT
UID:first
DTSTART:20261201T150000Z
END:VEVENT
END:VCALENDAR
BEGIN:VCALENDAR
METHOD:CANCEL
BEGIN:VEVENT
UID:second
DTSTART:20261201T150000Z
END:VEVENT
END:VCALENDAR
)"));
    ASSERT_EQ(calendar.events.size(), 2u);
    EXPECT_EQ(calendar.events[0].method, method::request);
    EXPECT_EQ(calendar.events[1].method, method::cancel);
    EXPECT_EQ(calendar.events[1].source.line, 10);
}

// ---------------------------------------------------------------------------------------------
// Time zones

struct zone_case {
    std::string name;
    std::string tzid_parameter;  // as written after "TZID="
    std::string local;           // DTSTART value
    std::string expected_utc;
    std::string expected_zone;  // start_local.zone
    friend void PrintTo(const zone_case& c, std::ostream* os) { *os << c.name; }
};

class known_zone : public ::testing::TestWithParam<zone_case> {};

// No VTIMEZONE in the text: Exchange often leaves it out, and the system's zone data must do.
TEST_P(known_zone, converts_without_a_vtimezone) {
    const auto& c = GetParam();
    const invitation inv = single_event(
        ics("UID:tz\nDTSTART;TZID=" + c.tzid_parameter + ":" + c.local + "\nSUMMARY:Zone"));
    EXPECT_EQ(format_utc(inv.start), c.expected_utc);
    EXPECT_EQ(inv.start_local.zone, c.expected_zone);
    EXPECT_THAT(inv.warnings, IsEmpty()) << joined(inv.warnings);
}

INSTANTIATE_TEST_SUITE_P(
    zones, known_zone,
    ::testing::Values(
        zone_case{"pacific_winter", "Pacific Standard Time", "20261124T100000",
                  "2026-11-24T18:00:00Z", "Pacific Standard Time"},
        zone_case{"pacific_summer", "Pacific Standard Time", "20260715T100000",
                  "2026-07-15T17:00:00Z", "Pacific Standard Time"},
        zone_case{"pacific_in_lower_case", "pacific standard time", "20261124T100000",
                  "2026-11-24T18:00:00Z", "pacific standard time"},
        zone_case{"pacific_quoted", "\"Pacific Standard Time\"", "20261124T100000",
                  "2026-11-24T18:00:00Z", "Pacific Standard Time"},
        zone_case{"w_europe_winter", "W. Europe Standard Time", "20261125T170000",
                  "2026-11-25T16:00:00Z", "W. Europe Standard Time"},
        zone_case{"w_europe_summer", "W. Europe Standard Time", "20260701T170000",
                  "2026-07-01T15:00:00Z", "W. Europe Standard Time"},
        // Southern hemisphere: January is summer time (+11), July winter (+10).
        zone_case{"aus_eastern_summer", "AUS Eastern Standard Time", "20270115T090000",
                  "2027-01-14T22:00:00Z", "AUS Eastern Standard Time"},
        zone_case{"aus_eastern_winter", "AUS Eastern Standard Time", "20260715T090000",
                  "2026-07-14T23:00:00Z", "AUS Eastern Standard Time"},
        zone_case{"tokyo", "Tokyo Standard Time", "20261124T100000", "2026-11-24T01:00:00Z",
                  "Tokyo Standard Time"},
        zone_case{"iana_berlin_winter", "Europe/Berlin", "20261125T170000", "2026-11-25T16:00:00Z",
                  "Europe/Berlin"},
        zone_case{"iana_berlin_summer", "Europe/Berlin", "20260701T170000", "2026-07-01T15:00:00Z",
                  "Europe/Berlin"},
        zone_case{"mozilla_prefix_winter", "/mozilla.org/20050126_1/America/New_York",
                  "20261124T100000", "2026-11-24T15:00:00Z",
                  "/mozilla.org/20050126_1/America/New_York"},
        zone_case{"mozilla_prefix_summer", "/mozilla.org/20050126_1/America/New_York",
                  "20260701T100000", "2026-07-01T14:00:00Z",
                  "/mozilla.org/20050126_1/America/New_York"},
        zone_case{"softwarestudio_prefix", "/softwarestudio.org/Olson_20011030_5/Europe/Paris",
                  "20260701T100000", "2026-07-01T08:00:00Z",
                  "/softwarestudio.org/Olson_20011030_5/Europe/Paris"},
        zone_case{"utc_by_name", "UTC", "20261124T100000", "2026-11-24T10:00:00Z", "UTC"}),
    row_name{});

TEST(time_zone, utc_suffix_is_utc) {
    const invitation inv = single_event(ics("UID:z\nDTSTART:20261124T100000Z"));
    EXPECT_EQ(format_utc(inv.start), "2026-11-24T10:00:00Z");
    EXPECT_EQ(inv.start_local.zone, "UTC");
    EXPECT_THAT(inv.warnings, IsEmpty());
}

// Outlook 11 names the zone after its display name, which no database knows: only the file's
// VTIMEZONE can say what it means. 10 March 2009 lies between the DAYLIGHT onset (first Sunday of
// October 2008) and the STANDARD onset (first Sunday of April 2009), so the offset is +11:00:
// 09:30 local is 22:30 UTC on the 9th.
TEST(time_zone, custom_tzid_uses_the_files_vtimezone) {
    auto parsed = parse_ics_file(corpus_dir / "ical4j-samples" / "valid" / "Standup.ics");
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    ASSERT_EQ(parsed->events.size(), 1u);
    const invitation& inv = parsed->events[0];
    EXPECT_EQ(format_utc(inv.start), "2009-03-09T22:30:00Z");
    EXPECT_EQ(format_utc(inv.end), "2009-03-09T22:45:00Z");
    EXPECT_EQ(local_text(inv.start_local), "2009-03-10 09:30 [Canberra, Melbourne, Sydney]");
    EXPECT_THAT(inv.warnings, IsEmpty()) << joined(inv.warnings);
    EXPECT_EQ(inv.organizer.address, "ben.fortuna@example.com");  // written "MAILTO:Ben.Fortuna@"
}

// "(no TZ description)" is Outlook's name for a zone it could not describe; its VTIMEZONE says
// offset 0, so 11:00 there is 11:00 UTC, and it must not be reported as an unknown zone.
TEST(time_zone, outlook_no_tz_description_uses_the_files_vtimezone) {
    auto parsed = parse_ics_file(corpus_dir / "ical4j-samples" / "outlook-and-other-producers" /
                                 "outlook__TZ-no-description.ics");
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    EXPECT_THAT(parsed->errors, IsEmpty()) << joined(parsed->errors);
    const auto rec = std::find_if(parsed->events.begin(), parsed->events.end(),
                                  [](const invitation& e) { return e.subject == "rec"; });
    ASSERT_NE(rec, parsed->events.end());
    EXPECT_EQ(format_utc(rec->start), "2015-04-19T11:00:00Z");
    EXPECT_EQ(format_utc(rec->end), "2015-04-19T12:00:00Z");
    EXPECT_EQ(rec->start_local.zone, "(no TZ description)");
    for (const invitation& e : parsed->events) {
        EXPECT_THAT(e.warnings, IsEmpty()) << e.source.line << joined(e.warnings);
    }
}

// A zone of our own with a DST rule, so that using the VTIMEZONE and falling back to UTC give
// different answers: +05:30 in winter, +06:30 from the last Sunday of March to the last Sunday
// of October.
constexpr std::string_view campus_zone = R"(BEGIN:VTIMEZONE
TZID:Contoso Campus Time
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0630
TZOFFSETTO:+0530
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0530
TZOFFSETTO:+0630
END:DAYLIGHT
END:VTIMEZONE
)";

TEST(time_zone, custom_vtimezone_with_daylight_saving_is_followed) {
    const std::string text = crlf("BEGIN:VCALENDAR\nMETHOD:REQUEST\n" + std::string(campus_zone) +
                                  R"(BEGIN:VEVENT
UID:campus-winter
DTSTART;TZID=Contoso Campus Time:20261124T100000
END:VEVENT
BEGIN:VEVENT
UID:campus-summer
DTSTART;TZID="Contoso Campus Time":20260715T100000
END:VEVENT
END:VCALENDAR
)");
    const parsed_calendar calendar = parse_valid(text);
    ASSERT_EQ(calendar.events.size(), 2u);
    EXPECT_EQ(format_utc(calendar.events[0].start), "2026-11-24T04:30:00Z");
    EXPECT_EQ(format_utc(calendar.events[1].start), "2026-07-15T03:30:00Z");
    EXPECT_THAT(calendar.events[0].warnings, IsEmpty()) << joined(calendar.events[0].warnings);
    EXPECT_THAT(calendar.events[1].warnings, IsEmpty()) << joined(calendar.events[1].warnings);
}

TEST(time_zone, unknown_tzid_without_vtimezone_is_utc_with_a_warning) {
    const invitation inv =
        single_event(ics("UID:u\nDTSTART;TZID=Contoso Campus Time:20261124T100000"));
    EXPECT_EQ(format_utc(inv.start), "2026-11-24T10:00:00Z");
    EXPECT_EQ(inv.start_local.zone, "Contoso Campus Time");
    EXPECT_THAT(inv.warnings, Contains(HasSubstr("'Contoso Campus Time'")));
}

TEST(time_zone, floating_time_is_utc_with_a_warning) {
    const invitation inv = single_event(ics("UID:f\nDTSTART:20261124T100000"));
    EXPECT_EQ(format_utc(inv.start), "2026-11-24T10:00:00Z");
    EXPECT_EQ(inv.start_local.zone, "");
    EXPECT_THAT(inv.warnings, Contains(AllOf(HasSubstr("DTSTART"), HasSubstr("floating"))));
}

struct hostile_zone_case {
    std::string name;
    std::string tzid;
    friend void PrintTo(const hostile_zone_case& c, std::ostream* os) { *os << c.name; }
};

class hostile_tzid : public ::testing::TestWithParam<hostile_zone_case> {};

// libical turns a TZID into a path under /usr/share/zoneinfo: a TZID must never reach a file
// outside the zone database, nor one that depends on how the host is set up.
TEST_P(hostile_tzid, is_an_unknown_zone_not_a_file) {
    const auto& c = GetParam();
    const invitation inv = single_event(ics("UID:h\nDTSTART;TZID=" + c.tzid + ":20261124T100000"));
    EXPECT_EQ(format_utc(inv.start), "2026-11-24T10:00:00Z");
    EXPECT_THAT(inv.warnings, Contains(HasSubstr(c.tzid)));
}

INSTANTIATE_TEST_SUITE_P(
    tzids, hostile_tzid,
    ::testing::Values(hostile_zone_case{"parent_directories", "../../../../etc/passwd"},
                      hostile_zone_case{"absolute_path", "/etc/passwd"},
                      hostile_zone_case{"windows_path", "..\\..\\..\\boot.ini"},
                      hostile_zone_case{"long_name", std::string(3000, 'A')},
                      // /usr/share/zoneinfo/localtime links to /etc/localtime: the host's zone.
                      hostile_zone_case{"host_localtime", "localtime"}),
    row_name{});

TEST(windows_zone_to_iana, table_comes_from_cldr) {
    EXPECT_GT(windows_zone_count(), 100u);
    EXPECT_EQ(windows_zone_to_iana("Pacific Standard Time"),
              std::optional<std::string_view>("America/Los_Angeles"));
    EXPECT_EQ(windows_zone_to_iana("W. Europe Standard Time"),
              std::optional<std::string_view>("Europe/Berlin"));
    EXPECT_EQ(windows_zone_to_iana("Tokyo Standard Time"),
              std::optional<std::string_view>("Asia/Tokyo"));
    EXPECT_EQ(windows_zone_to_iana("AUS Eastern Standard Time"),
              std::optional<std::string_view>("Australia/Sydney"));
}

TEST(windows_zone_to_iana, lookup_ignores_letter_case) {
    EXPECT_EQ(windows_zone_to_iana("pacific STANDARD time"),
              std::optional<std::string_view>("America/Los_Angeles"));
}

TEST(windows_zone_to_iana, unknown_names_have_no_zone) {
    EXPECT_FALSE(windows_zone_to_iana("(no TZ description)").has_value());
    EXPECT_FALSE(windows_zone_to_iana("Canberra, Melbourne, Sydney").has_value());
    EXPECT_FALSE(windows_zone_to_iana("").has_value());
}

// ---------------------------------------------------------------------------------------------
// Recurrence

struct recurrence_case {
    std::string name;
    std::string event_lines;
    recurrence_info::bound kind;
    std::string frequency;
    int count;
    std::string until;       // format_utc, or "none"
    std::string last_start;  // format_utc, or "none"
    friend void PrintTo(const recurrence_case& c, std::ostream* os) { *os << c.name; }
};

class recurrence : public ::testing::TestWithParam<recurrence_case> {};

TEST_P(recurrence, bounds_are_read) {
    const auto& c = GetParam();
    const invitation inv = single_event(ics("UID:r\n" + c.event_lines));
    EXPECT_EQ(inv.recurrence.kind, c.kind);
    EXPECT_EQ(inv.is_recurring(), c.kind != recurrence_info::bound::none);
    EXPECT_EQ(inv.recurrence.frequency, c.frequency);
    EXPECT_EQ(inv.recurrence.count, c.count);
    EXPECT_EQ(utc_or_none(inv.recurrence.until), c.until);
    EXPECT_EQ(utc_or_none(inv.recurrence.last_start), c.last_start);
}

using bound = recurrence_info::bound;

INSTANTIATE_TEST_SUITE_P(
    rules, recurrence,
    ::testing::Values(
        recurrence_case{"not_recurring", "DTSTART:20261102T150000Z", bound::none, "", 0, "none",
                        "none"},
        // Six weekly meetings: the last is five weeks after the first.
        recurrence_case{"weekly_count", "DTSTART:20261102T150000Z\nRRULE:FREQ=WEEKLY;COUNT=6",
                        bound::count, "WEEKLY", 6, "none", "2026-12-07T15:00:00Z"},
        // The series keeps its 10:00 wall-clock time across the end of summer time.
        recurrence_case{"weekly_count_across_dst",
                        "DTSTART;TZID=Europe/Berlin:20261012T100000\nRRULE:FREQ=WEEKLY;COUNT=6",
                        bound::count, "WEEKLY", 6, "none", "2026-11-16T09:00:00Z"},
        recurrence_case{"daily_count_all_day",
                        "DTSTART;VALUE=DATE:20261201\nRRULE:FREQ=DAILY;COUNT=3", bound::count,
                        "DAILY", 3, "none", "2026-12-03T00:00:00Z"},
        // Walking a hostile COUNT would cost time for nothing.
        recurrence_case{"count_over_1000_has_no_last_start",
                        "DTSTART:20261201T150000Z\nRRULE:FREQ=DAILY;COUNT=5000", bound::count,
                        "DAILY", 5000, "none", "none"},
        recurrence_case{"until_utc_date_time",
                        "DTSTART:20261201T150000Z\nRRULE:FREQ=DAILY;UNTIL=20261215T170000Z",
                        bound::until, "DAILY", 0, "2026-12-15T17:00:00Z", "none"},
        // An UNTIL date includes that whole day.
        recurrence_case{"until_date_all_day",
                        "DTSTART;VALUE=DATE:20261201\nRRULE:FREQ=WEEKLY;UNTIL=20261215",
                        bound::until, "WEEKLY", 0, "2026-12-16T00:00:00Z", "none"},
        // A local UNTIL (RFC 5545 wants UTC, producers write local) is in the event's zone.
        recurrence_case{"until_local_date_time_in_event_zone",
                        "DTSTART;TZID=Europe/Berlin:20261201T100000\n"
                        "RRULE:FREQ=WEEKLY;UNTIL=20261215T100000",
                        bound::until, "WEEKLY", 0, "2026-12-15T09:00:00Z", "none"},
        // The whole day is the organizer's day: the 17:00 Pacific meeting on 15 December is at
        // 01:00 UTC on the 16th and still part of the series, which ends at midnight in Los
        // Angeles (08:00 UTC).
        recurrence_case{"until_date_after_evening_start_in_zone",
                        "DTSTART;TZID=Pacific Standard Time:20261201T170000\n"
                        "RRULE:FREQ=WEEKLY;UNTIL=20261215",
                        bound::until, "WEEKLY", 0, "2026-12-16T08:00:00Z", "none"},
        recurrence_case{"open_ended", "DTSTART:20261201T150000Z\nRRULE:FREQ=MONTHLY;BYDAY=2TU",
                        bound::open_ended, "MONTHLY", 0, "none", "none"}),
    row_name{});

TEST(recurrence_dates, rdate_is_noticed) {
    const invitation inv =
        single_event(ics("UID:rd\nDTSTART:20261201T150000Z\nRDATE:20261210T150000Z"));
    EXPECT_TRUE(inv.recurrence.has_rdate);
}

TEST(recurrence_dates, master_and_override_are_both_read_and_master_is_primary) {
    // The override comes first, as some servers write it.
    const parsed_calendar calendar = parse_valid(crlf(R"(BEGIN:VCALENDAR
METHOD:REQUEST
BEGIN:VEVENT
UID:series
RECURRENCE-ID;TZID=Pacific Standard Time:20261208T100000
DTSTART;TZID=Pacific Standard Time:20261208T110000
SUMMARY:Weekly sync (moved)
END:VEVENT
BEGIN:VEVENT
UID:series
DTSTART;TZID=Pacific Standard Time:20261201T100000
RRULE:FREQ=WEEKLY
SUMMARY:Weekly sync
END:VEVENT
END:VCALENDAR
)"));
    ASSERT_EQ(calendar.events.size(), 2u);
    EXPECT_EQ(utc_or_none(calendar.events[0].recurrence_id), "2026-12-08T18:00:00Z");
    EXPECT_EQ(format_utc(calendar.events[0].start), "2026-12-08T19:00:00Z");
    const invitation* primary = primary_event(calendar);
    ASSERT_NE(primary, nullptr);
    EXPECT_EQ(primary->subject, "Weekly sync");
    EXPECT_EQ(primary->source.line, 9);
}

TEST(recurrence_dates, primary_of_overrides_only_is_the_first) {
    const parsed_calendar calendar = parse_valid(crlf(R"(BEGIN:VCALENDAR
BEGIN:VEVENT
UID:s
RECURRENCE-ID:20261208T180000Z
DTSTART:20261208T190000Z
SUMMARY:first
END:VEVENT
BEGIN:VEVENT
UID:s
RECURRENCE-ID:20261215T180000Z
DTSTART:20261215T190000Z
SUMMARY:second
END:VEVENT
END:VCALENDAR
)"));
    const invitation* primary = primary_event(calendar);
    ASSERT_NE(primary, nullptr);
    EXPECT_EQ(primary->subject, "first");
    EXPECT_EQ(primary_event(parsed_calendar{}), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Start, end and duration

struct span_case {
    std::string name;
    std::string event_lines;
    std::string start;
    std::string end;
    bool all_day;
    std::string warning;  // part of a warning the event must carry; empty: no warning at all
    friend void PrintTo(const span_case& c, std::ostream* os) { *os << c.name; }
};

class event_span : public ::testing::TestWithParam<span_case> {};

TEST_P(event_span, start_and_end_are_read) {
    const auto& c = GetParam();
    const invitation inv = single_event(ics("UID:t\n" + c.event_lines));
    EXPECT_TRUE(inv.has_start);
    EXPECT_EQ(format_utc(inv.start), c.start);
    EXPECT_EQ(format_utc(inv.end), c.end);
    EXPECT_EQ(inv.all_day, c.all_day);
    if (c.warning.empty()) {
        EXPECT_THAT(inv.warnings, IsEmpty()) << joined(inv.warnings);
    } else {
        EXPECT_THAT(inv.warnings, Contains(HasSubstr(c.warning)));
    }
}

INSTANTIATE_TEST_SUITE_P(
    spans, event_span,
    ::testing::Values(
        span_case{"dtend", "DTSTART:20261201T150000Z\nDTEND:20261201T160000Z",
                  "2026-12-01T15:00:00Z", "2026-12-01T16:00:00Z", false, ""},
        span_case{"duration_instead_of_dtend", "DTSTART:20261201T150000Z\nDURATION:PT45M",
                  "2026-12-01T15:00:00Z", "2026-12-01T15:45:00Z", false, ""},
        span_case{"duration_in_days_all_day", "DTSTART;VALUE=DATE:20261201\nDURATION:P2D",
                  "2026-12-01T00:00:00Z", "2026-12-03T00:00:00Z", true, ""},
        span_case{"no_end_is_an_instant", "DTSTART:20261201T150000Z", "2026-12-01T15:00:00Z",
                  "2026-12-01T15:00:00Z", false, ""},
        span_case{"no_end_all_day_is_one_day", "DTSTART;VALUE=DATE:20261201",
                  "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", true, ""},
        span_case{"end_before_start", "DTSTART:20261201T150000Z\nDTEND:20261201T140000Z",
                  "2026-12-01T15:00:00Z", "2026-12-01T15:00:00Z", false, "ends before it starts"},
        // Outlook writes all-day events as midnight date-times plus this flag.
        span_case{"outlook_all_day_flag",
                  "DTSTART:20261201T000000Z\nDTEND:20261202T000000Z\n"
                  "X-MICROSOFT-CDO-ALLDAYEVENT:TRUE",
                  "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", true, ""}),
    row_name{});

// Replies and cancellations may leave DTSTART out: the event is kept, but marked as timeless.
TEST(event_times, missing_dtstart_is_a_warning_not_an_error) {
    const parsed_calendar calendar =
        parse_valid(ics("UID:nostart\nSUMMARY:Lunch", "METHOD:CANCEL"));
    EXPECT_THAT(calendar.errors, IsEmpty());
    ASSERT_EQ(calendar.events.size(), 1u);
    EXPECT_FALSE(calendar.events[0].has_start);
    EXPECT_THAT(calendar.events[0].warnings, Contains(HasSubstr("DTSTART")));
}

// ---------------------------------------------------------------------------------------------
// Broken input: the whole text is refused with the exact line

struct rejected_case {
    std::string name;
    std::string text;
    int line;
    std::string message;  // part of the message that says what is wrong
    friend void PrintTo(const rejected_case& c, std::ostream* os) { *os << c.name; }
};

class rejected_input : public ::testing::TestWithParam<rejected_case> {};

TEST_P(rejected_input, is_a_diagnostic_with_file_and_line) {
    const auto& c = GetParam();
    auto parsed = parse_ics(c.text, "broken.ics");
    ASSERT_FALSE(parsed) << "accepted, " << parsed->events.size() << " events";
    EXPECT_EQ(parsed.error().file, "broken.ics");
    EXPECT_EQ(parsed.error().line, c.line) << parsed.error().to_string();
    EXPECT_THAT(parsed.error().message, HasSubstr(c.message));
}

std::string nested_components(int depth) {
    std::string text = "BEGIN:VCALENDAR\n";
    for (int i = 2; i <= depth; ++i) text += "BEGIN:X-LEVEL" + std::to_string(i) + "\n";
    for (int i = depth; i >= 2; --i) text += "END:X-LEVEL" + std::to_string(i) + "\n";
    return crlf(text + "END:VCALENDAR\n");
}

std::vector<rejected_case> rejected_cases() {
    return {
        {"end_does_not_match_begin", crlf(R"(BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VEVENT
UID:a
DTSTART:20261201T150000Z
END:VTODO
END:VCALENDAR
)"),
         6, "END:VTODO does not close BEGIN:VEVENT from line 3"},
        {"begin_never_closed", crlf(R"(BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VEVENT
UID:a
DTSTART:20261201T150000Z
)"),
         3, "BEGIN:VEVENT is never closed"},
        {"end_without_begin", crlf(R"(BEGIN:VCALENDAR
VERSION:2.0
END:VCALENDAR
END:VEVENT
)"),
         4, "END:VEVENT without a matching BEGIN:VEVENT"},
        {"prose_line", crlf(R"(BEGIN:VCALENDAR
BEGIN:VEVENT
UID:a
Hello world
END:VEVENT
END:VCALENDAR
)"),
         4, "not an iCalendar content line"},
        {"property_without_colon", crlf(R"(BEGIN:VCALENDAR
BEGIN:VEVENT
UID:a
SUMMARY
END:VEVENT
END:VCALENDAR
)"),
         4, "'SUMMARY' has no ':'"},
        {"parameters_without_colon", crlf(R"(BEGIN:VCALENDAR
BEGIN:VEVENT
UID:a
ATTENDEE;CN=Dana Whitfield
END:VEVENT
END:VCALENDAR
)"),
         4, "no ':' between its parameters and its value"},
        {"unterminated_quoted_parameter", crlf(R"(BEGIN:VCALENDAR
BEGIN:VEVENT
UID:a
DTSTART:20261201T150000Z
ATTENDEE;CN="Dana Whitfield:mailto:dana.whitfield@contoso.example
END:VEVENT
END:VCALENDAR
)"),
         5, "unterminated quoted parameter value"},
        {"continuation_at_the_start", crlf(R"( BEGIN:VCALENDAR
END:VCALENDAR
)"),
         1, "continues nothing"},
        {"property_after_end_vcalendar", crlf(R"(BEGIN:VCALENDAR
BEGIN:VEVENT
UID:a
END:VEVENT
END:VCALENDAR
X-TRAILER:1
)"),
         6, "X-TRAILER outside any component"},
        {"nul_byte",
         crlf("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\n") + "SUMMARY:x\0y\r\n"s +
             crlf("END:VEVENT\nEND:VCALENDAR\n"),
         4, "NUL byte"},
        // Lines end in a lone CR here, and the NUL is still on line 4.
        {"nul_byte_classic_mac_line_ends",
         "BEGIN:VCALENDAR\rBEGIN:VEVENT\rUID:a\rSUMMARY:x\0y\rEND:VEVENT\rEND:VCALENDAR\r"s, 4,
         "NUL byte"},
        {"end_mismatch_classic_mac_line_ends",
         "BEGIN:VCALENDAR\rBEGIN:VEVENT\rUID:a\rSUMMARY:x\rEND:VTODO\rEND:VCALENDAR\r", 5,
         "END:VTODO does not close BEGIN:VEVENT from line 2"},
        {"utf16_little_endian",
         "\xFF\xFE"
         "B\0E\0G\0I\0N\0:\0"s,
         1, "UTF-16"},
        {"utf16_big_endian",
         "\xFE\xFF"
         "\0B\0E\0G\0I\0N\0:"s,
         1, "UTF-16"},
        {"empty_input", "", 0, "no iCalendar data"},
        {"only_blank_lines", "\r\n  \r\n\r\n", 0, "no iCalendar data"},
        // Sixteen levels are allowed (VCALENDAR is the first); the seventeenth BEGIN is refused.
        {"nested_deeper_than_16", nested_components(17), 17, "nested deeper than 16"},
    };
}

INSTANTIATE_TEST_SUITE_P(structure, rejected_input, ::testing::ValuesIn(rejected_cases()),
                         row_name{});

TEST(broken_input, sixteen_levels_of_nesting_are_accepted) {
    EXPECT_TRUE(parse_ics(nested_components(16), "deep.ics"));
}

TEST(broken_input, input_over_max_bytes_is_refused_before_parsing) {
    const std::string text = read_file(invites_dir / "d01.ics");
    parse_options options;
    options.max_bytes = text.size() - 1;
    auto parsed = parse_ics(text, "d01.ics", options);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().file, "d01.ics");
    EXPECT_EQ(parsed.error().line, 0);
    EXPECT_THAT(parsed.error().message, HasSubstr("over the limit"));

    options.max_bytes = text.size();
    EXPECT_TRUE(parse_ics(text, "d01.ics", options));
}

TEST(broken_input, file_over_max_bytes_is_refused) {
    parse_options options;
    options.max_bytes = 100;
    const fs::path path = invites_dir / "d01.ics";
    auto parsed = parse_ics_file(path, options);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().file, path.string());
    EXPECT_THAT(parsed.error().message, HasSubstr("over the limit"));
}

TEST(broken_input, missing_file_is_a_diagnostic_naming_it) {
    const fs::path path = fs::path(AGENDAD_SOURCE_DIR) / "tests" / "calendar" / "no-such-file.ics";
    auto parsed = parse_ics_file(path);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().file, path.string());
    EXPECT_FALSE(parsed.error().message.empty());
}

TEST(broken_input, directory_is_a_diagnostic_naming_it) {
    const fs::path path = fs::path(AGENDAD_SOURCE_DIR) / "tests" / "calendar";
    auto parsed = parse_ics_file(path);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().file, path.string());
    EXPECT_THAT(parsed.error().message, HasSubstr("directory"));
}

// ---------------------------------------------------------------------------------------------
// Broken events: the event is left out and reported with its line; the file still parses

struct event_error_case {
    std::string name;
    std::string event_lines;  // the first is line 6
    int line;
    std::string message;
    friend void PrintTo(const event_error_case& c, std::ostream* os) { *os << c.name; }
};

class rejected_event : public ::testing::TestWithParam<event_error_case> {};

TEST_P(rejected_event, is_an_error_on_its_line_not_an_event) {
    const auto& c = GetParam();
    auto parsed = parse_ics(ics(c.event_lines), "broken.ics");
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    // Printed by its start, which shows what the impossible value was taken for.
    for (const invitation& e : parsed->events)
        ADD_FAILURE() << "read, starting " << format_utc(e.start);
    ASSERT_EQ(parsed->errors.size(), 1u) << joined(parsed->errors);
    EXPECT_EQ(parsed->errors[0].file, "broken.ics");
    EXPECT_EQ(parsed->errors[0].line, c.line) << parsed->errors[0].to_string();
    EXPECT_THAT(parsed->errors[0].message, HasSubstr(c.message));
}

INSTANTIATE_TEST_SUITE_P(
    events, rejected_event,
    ::testing::Values(
        event_error_case{"dtstart_not_a_date", "UID:e\nDTSTART:2026-13-45", 7, "DTSTART"},
        // Well-formed digits, impossible dates: a meeting on 30 February or at 25:00 does not
        // exist, and guessing (1 March? 1970?) would put it on the wrong day.
        event_error_case{"dtstart_month_13", "UID:e\nDTSTART:20261345T100000", 7, "DTSTART"},
        event_error_case{"dtstart_february_30", "UID:e\nDTSTART:20260230T100000Z", 7, "DTSTART"},
        event_error_case{"dtstart_hour_25", "UID:e\nDTSTART:20261201T250000Z", 7, "DTSTART"},
        event_error_case{"dtstart_date_february_30", "UID:e\nDTSTART;VALUE=DATE:20260230", 7,
                         "DTSTART"},
        event_error_case{"dtend_not_a_date", "UID:e\nDTSTART:20261201T150000Z\nDTEND:garbage", 8,
                         "DTEND"},
        event_error_case{"rrule_unknown_frequency",
                         "UID:e\nDTSTART:20261201T150000Z\nRRULE:FREQ=SOMETIMES", 8, "RRULE"},
        event_error_case{"rrule_count_not_a_number",
                         "UID:e\nDTSTART:20261201T150000Z\nRRULE:FREQ=WEEKLY;COUNT=abc", 8,
                         "RRULE"},
        event_error_case{"sequence_not_a_number", "UID:e\nDTSTART:20261201T150000Z\nSEQUENCE:abc",
                         8, "SEQUENCE"},
        event_error_case{"sequence_negative", "UID:e\nDTSTART:20261201T150000Z\nSEQUENCE:-1", 8,
                         "SEQUENCE"},
        // A line break inside DESCRIPTION that was not folded: the rest of the agenda would be
        // lost without a word.
        event_error_case{"unfolded_line_break_in_description",
                         "UID:e\nDTSTART:20261201T150000Z\nDESCRIPTION:Topics for Tuesday\n"
                         "Agenda: pricing and roadmap",
                         9, "not a property"}),
    row_name{});

TEST(broken_event, does_not_take_the_good_events_with_it) {
    auto parsed = parse_ics(crlf(R"(BEGIN:VCALENDAR
BEGIN:VEVENT
UID:bad
DTSTART:2026-13-45
END:VEVENT
BEGIN:VEVENT
UID:good
DTSTART:20261201T150000Z
END:VEVENT
END:VCALENDAR
)"),
                            "mixed.ics");
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    ASSERT_EQ(parsed->events.size(), 1u);
    EXPECT_EQ(parsed->events[0].uid, "good");
    EXPECT_EQ(parsed->events[0].source.line, 6);
    ASSERT_EQ(parsed->errors.size(), 1u);
    EXPECT_EQ(parsed->errors[0].line, 4);
}

TEST(broken_event, unknown_property_in_capitals_is_a_warning) {
    const invitation inv =
        single_event(ics("UID:l\nDTSTART:20261201T150000Z\nLINK:https://example.com/agenda"));
    EXPECT_THAT(inv.warnings, Contains(AllOf(HasSubstr("LINK"), HasSubstr("line 8"))));
}

TEST(broken_event, empty_description_is_fine) {
    const invitation inv =
        single_event(ics("UID:d\nDTSTART:20261201T150000Z\nDESCRIPTION:\nLOCATION:"));
    EXPECT_EQ(inv.description, "");
    EXPECT_EQ(inv.location, "");
    EXPECT_THAT(inv.warnings, IsEmpty()) << joined(inv.warnings);
}

struct begin_case {
    std::string name;
    std::string begin_line;
    friend void PrintTo(const begin_case& c, std::ostream* os) { *os << c.name; }
};

class odd_begin_line : public ::testing::TestWithParam<begin_case> {};

// The structural check and libical must agree on where each event is: when they do not, an event
// vanishes and the next event's problems are reported on the wrong lines. Either outcome below is
// right: the odd BEGIN is refused on its line, or both events are accounted for on their own lines.
TEST_P(odd_begin_line, does_not_shift_other_events_lines) {
    const std::string text = crlf("BEGIN:VCALENDAR\n" + GetParam().begin_line + R"(
UID:first
DTSTART:20261201T150000Z
END:VEVENT
BEGIN:VEVENT
UID:second
DTSTART:2026-13-45
END:VEVENT
END:VCALENDAR
)");
    auto parsed = parse_ics(text, "odd.ics");
    if (!parsed) {
        EXPECT_EQ(parsed.error().line, 2) << parsed.error().to_string();
        return;
    }
    ASSERT_EQ(parsed->errors.size(), 1u) << joined(parsed->errors);
    EXPECT_EQ(parsed->errors[0].line, 8) << parsed->errors[0].to_string();
    ASSERT_EQ(parsed->events.size(), 1u) << "the first event vanished";
    EXPECT_EQ(parsed->events[0].uid, "first");
    EXPECT_EQ(parsed->events[0].source.line, 2);
}

INSTANTIATE_TEST_SUITE_P(begins, odd_begin_line,
                         ::testing::Values(begin_case{"lower_case", "begin:vevent"},
                                           begin_case{"trailing_space", "BEGIN:VEVENT "},
                                           begin_case{"space_after_colon", "BEGIN: VEVENT"},
                                           begin_case{"space_inside_name", "BEGIN:V EVENT"},
                                           begin_case{"parameter_on_begin", "BEGIN;X-A=1:VEVENT"}),
                         row_name{});

// ---------------------------------------------------------------------------------------------
// Robustness: mutated real invitations

std::size_t line_count(std::string_view text) {
    // LF, CRLF and a lone CR each end a line, as the parser counts them.
    std::size_t lines = 1;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' || (text[i] == '\r' && (i + 1 == text.size() || text[i + 1] != '\n')))
            ++lines;
    }
    return lines;
}

// [begin, end) of a random line, its line break included.
std::pair<std::size_t, std::size_t> random_line(const std::string& text, std::mt19937& rng) {
    const std::size_t at = std::uniform_int_distribution<std::size_t>(0, text.size() - 1)(rng);
    const std::size_t previous = (at == 0) ? std::string::npos : text.rfind('\n', at - 1);
    const std::size_t begin = (previous == std::string::npos) ? 0 : previous + 1;
    const std::size_t nl = text.find('\n', at);
    return {begin, nl == std::string::npos ? text.size() : nl + 1};
}

std::string mutate(std::string text, std::mt19937& rng) {
    // Bytes that mean something to an iCalendar reader, besides any byte at all.
    static constexpr char telling[] = {'\0', '\r', '\n', ' ', '\t', ':',    ';',    '"',
                                       '=',  ',',  '\\', 'Z', 'T',  '\xE9', '\xFF', '\xC3'};
    const int operations = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int k = 0; k < operations && !text.empty(); ++k) {
        switch (std::uniform_int_distribution<int>(0, 3)(rng)) {
            case 0: {
                const std::size_t at =
                    std::uniform_int_distribution<std::size_t>(0, text.size() - 1)(rng);
                const bool pick_telling = std::uniform_int_distribution<int>(0, 1)(rng) == 1;
                text[at] = pick_telling
                               ? telling[std::uniform_int_distribution<std::size_t>(
                                     0, sizeof telling - 1)(rng)]
                               : static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
                break;
            }
            case 1:
                text.resize(std::uniform_int_distribution<std::size_t>(0, text.size() - 1)(rng));
                break;
            case 2: {
                const auto [begin, end] = random_line(text, rng);
                text.insert(begin, text.substr(begin, end - begin));
                break;
            }
            default: {
                const auto [begin, end] = random_line(text, rng);
                text.erase(begin, end - begin);
                break;
            }
        }
    }
    return text;
}

class mutated_invitation : public ::testing::TestWithParam<std::string> {};

TEST_P(mutated_invitation, never_crashes_and_always_names_a_line_inside_the_text) {
    const std::string original = read_file(invites_dir / (GetParam() + ".ics"));
    ASSERT_FALSE(original.empty());
    std::mt19937 rng(20261124);  // fixed: a failure must reproduce
    constexpr int mutants = 1000;
    constexpr std::string_view name = "mutant.ics";
    int failures = 0;
    for (int i = 0; i < mutants && failures < 5; ++i) {
        const std::string text = mutate(original, rng);
        const auto lines = static_cast<int>(line_count(text));
        auto parsed = parse_ics(text, name);
        const auto report = [&](const std::string& what) {
            ++failures;
            ADD_FAILURE() << "mutant " << i << ": " << what;
        };
        if (!parsed) {
            const diagnostic& d = parsed.error();
            if (d.file != name || d.line < 0 || d.line > lines) report(d.to_string());
            continue;
        }
        for (const diagnostic& d : parsed->errors) {
            if (d.file != name || d.line < 1 || d.line > lines) report(d.to_string());
        }
        for (const invitation& e : parsed->events) {
            if (e.source.file != name || e.source.line < 1 || e.source.line > lines)
                report("event at line " + std::to_string(e.source.line));
        }
        // An event that is still there must come out as an event or as an error, never vanish.
        if (parsed->events.empty() && parsed->errors.empty() &&
            text.find("\nBEGIN:VEVENT\r\n") != std::string::npos) {
            report("its event vanished without a diagnostic");
        }
    }
}

INSTANTIATE_TEST_SUITE_P(labelled, mutated_invitation, ::testing::Values("d01", "d13"),
                         [](const auto& row) { return row.param; });

}  // namespace
}  // namespace agendad::calendar
