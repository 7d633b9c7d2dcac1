// Tests for calendar/graph/graph_json: what agendad reads out of Microsoft Graph answers (events,
// delta pages, errors, group members), checked against Microsoft's own documentation examples,
// against the iCalendar parser for the same meeting, and against hostile input.
#include "calendar/graph/graph_json.h"
#include "support/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/ical/parse.h"

namespace agendad::calendar::graph {
namespace {

namespace fs = std::filesystem;
using agendad::test_support::read_file;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// ---------------------------------------------------------------------------------------------
// Helpers

const fs::path graph_corpus = fs::path(AGENDAD_SHARED_DIR "/corpus/msgraph-docs-examples");
constexpr std::string_view owner = "alex.morgan@contoso.example";

// The documentation shows some answers with their status line and headers ("HTTP/1.1 200 OK",
// headers, a blank line, then JSON): the parser gets what an HTTP client hands over, the body.
std::string strip_http_head(std::string text) {
    if (text.rfind("HTTP/", 0) != 0) return text;
    for (std::string_view blank : {"\r\n\r\n", "\n\n"}) {
        if (auto at = text.find(blank); at != std::string::npos)
            return text.substr(at + blank.size());
    }
    return {};
}

std::string corpus_body(const std::string& name) {
    return strip_http_head(read_file(graph_corpus / name));
}

std::string utc(time_point t) {
    return format_utc(t);
}

std::string messages(const std::vector<diagnostic>& problems) {
    std::string out;
    for (const auto& d : problems) out += d.to_string() + "\n";
    return out;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

event must_parse(std::string_view json, std::string_view mailbox = owner,
                 std::string_view where = "test event") {
    std::string error;
    auto e = parse_event(json, mailbox, where, error);
    if (!e) {
        ADD_FAILURE() << "not parsed: " << error;
        return {};
    }
    return std::move(*e);
}

page must_parse_page(std::string_view json, std::string_view mailbox = owner,
                     std::string_view where = "test page") {
    auto p = parse_event_page(json, mailbox, where);
    if (!p.value) {
        ADD_FAILURE() << "not parsed: " << p.error;
        return {};
    }
    return std::move(*p.value);
}

const attendee* find_attendee(const invitation& inv, std::string_view address) {
    for (const auto& a : inv.attendees) {
        if (a.address == address) return &a;
    }
    return nullptr;
}

// A Graph event as JSON text, field by field, so that a test can replace any field with raw
// JSON (or remove it) and the rest stays a realistic Outlook meeting request as the invitee's
// calendar holds it.
struct fields {
    std::vector<std::pair<std::string, std::string>> items;

    fields& set(const std::string& key, const std::string& raw_json) {
        for (auto& [k, v] : items) {
            if (k == key) {
                v = raw_json;
                return *this;
            }
        }
        items.emplace_back(key, raw_json);
        return *this;
    }
    fields& remove(const std::string& key) {
        items.erase(std::remove_if(items.begin(), items.end(),
                                   [&](const auto& kv) { return kv.first == key; }),
                    items.end());
        return *this;
    }
    std::string json() const {
        std::string out = "{";
        for (const auto& [k, v] : items) {
            if (out.size() > 1) out += ",";
            out += "\"" + k + "\":" + v;
        }
        return out + "}";
    }
};

constexpr std::string_view series_ical_uid =
    "040000008200E00074C5B7101A82E00800000000B0A1B2C3D4E5F60100000000000000001000000"
    "0AABBCCDDEEFF00112233445566778899";

fields meeting() {
    fields f;
    f.set("@odata.etag", R"("W/\"Etag1Value==\"")")
        .set("id", R"("AAMkAGMeeting=")")
        .set("changeKey", R"("ChangeKey1==")")
        .set("iCalUId", "\"" + std::string(series_ical_uid) + "\"")
        .set("type", R"("singleInstance")")
        .set("isOrganizer", "false")
        .set("isCancelled", "false")
        .set("isAllDay", "false")
        .set("responseRequested", "true")
        .set("responseStatus", R"({"response":"notResponded","time":"0001-01-01T00:00:00Z"})")
        .set("subject", R"(" Quarterly review ")")
        .set("bodyPreview", R"("Agenda: Numbers Hiring")")
        .set(
            "body",
            R"({"contentType":"html","content":"<p>Agenda:</p><ul><li>Numbers</li><li>Hiring</li></ul>"})")
        .set("location", R"({"displayName":"Room 1","locationType":"default"})")
        .set("hasAttachments", "false")
        .set("showAs", R"("tentative")")
        .set("seriesMasterId", "null")
        .set("recurrence", "null")
        .set(
            "organizer",
            R"({"emailAddress":{"name":"Brianna Cole","address":"Brianna.Cole@VerityCloud.example"}})")
        .set("attendees", R"([
            {"type":"required","status":{"response":"none","time":"0001-01-01T00:00:00Z"},
             "emailAddress":{"name":"Alex Morgan","address":"Alex.Morgan@contoso.example"}},
            {"type":"optional","status":{"response":"accepted","time":"2026-11-20T10:00:00Z"},
             "emailAddress":{"name":"Chris Doe","address":"chris@contoso.example"}},
            {"type":"resource","status":{"response":"accepted","time":"2026-11-20T10:00:00Z"},
             "emailAddress":{"name":"Room 1","address":"room1@contoso.example"}}])")
        .set("start",
             R"({"dateTime":"2026-11-24T10:00:00.0000000","timeZone":"Pacific Standard Time"})")
        .set("end",
             R"({"dateTime":"2026-11-24T10:30:00.0000000","timeZone":"Pacific Standard Time"})");
    return f;
}

std::string time_json(std::string_view date_time, std::string_view zone) {
    return "{\"dateTime\":\"" + std::string(date_time) + "\",\"timeZone\":\"" + std::string(zone) +
           "\"}";
}

// ---------------------------------------------------------------------------------------------
// Microsoft's documentation examples: every file, and real examples field by field

enum class shape {
    events,           // a server answer with events: all readable, no problems
    template_events,  // "…-value" placeholders instead of data: events reported with problems
    request_event,    // a request body (what a client POSTs): an event without an id
    error,            // a Graph error body
    other,            // not events: nothing in it may pass for a readable event
};

struct expectation {
    shape kind = shape::other;
    bool page = false;
    std::size_t events = 0;
    std::size_t removed = 0;
    bool next_link = false;
    bool delta_link = false;
};

// From the folder's INDEX.tsv and a reading of each file.
const std::map<std::string, expectation>& expectations() {
    static const std::map<std::string, expectation> table = {
        {"beta-event-delta.01.response.json", {shape::events, true, 2, 0, true, false}},
        {"concepts-delta-query-events.01.response.json", {shape::events, true, 2, 0, true, false}},
        {"concepts-delta-query-events.02.response.json", {shape::events, true, 2, 0, true, false}},
        {"concepts-delta-query-events.03.response.json", {shape::events, true, 1, 0, false, true}},
        {"concepts-delta-query-events.04.response.json", {shape::events, true, 1, 1, false, true}},
        {"concepts-outlook-calendar-meeting-proposals.02.response.json", {shape::events, false, 1}},
        {"concepts-outlook-calendar-meeting-proposals.04.response.json", {shape::events, false, 1}},
        {"concepts-outlook-calendar-meeting-proposals.06.response.json", {shape::events, false, 1}},
        {"v1.0-event-get.01.response.json", {shape::events, false, 1}},
        {"v1.0-event-get.02.response.json", {shape::events, false, 1}},
        {"v1.0-event-list-instances.01.response.json", {shape::events, true, 4}},
        {"v1.0-user-list-events.01.response.json", {shape::events, true, 1}},
        {"v1.0-user-post-events.02.response.json", {shape::events, false, 1}},
        {"v1.0-user-post-events.04.response.json", {shape::events, false, 1}},
        {"v1.0-user-post-events.07.response.json", {shape::events, false, 1}},
        {"v1.0-calendar-list-calendarview.01.response.json",
         {shape::template_events, true, 1, 0, false, false}},
        {"v1.0-event-delta.01.response.json", {shape::template_events, true, 1, 0, true, false}},
        {"v1.0-user-list-calendarview.01.response.json",
         {shape::template_events, true, 1, 0, false, false}},
        {"v1.0-event-update.02.response.json", {shape::template_events, false, 1}},
        {"v1.0-event-update.01.request.json", {shape::template_events, false, 1}},
        {"concepts-outlook-calendar-meeting-proposals.01.request.json",
         {shape::request_event, false, 1}},
        {"concepts-outlook-calendar-meeting-proposals.05.request.json",
         {shape::request_event, false, 1}},
        {"v1.0-user-post-events.01.request.json", {shape::request_event, false, 1}},
        {"v1.0-user-post-events.03.request.json", {shape::request_event, false, 1}},
        {"v1.0-user-post-events.05.request.json", {shape::request_event, false, 1}},
        {"v1.0-user-post-events.06.request.json", {shape::request_event, false, 1}},
        {"concepts-errors.01.block.json", {shape::error}},
        {"concepts-errors.02.block.json", {shape::error}},
    };
    return table;
}

std::vector<event> events_of(const std::string& body, bool is_page, std::string_view where,
                             page* page_out, std::string& error) {
    if (is_page) {
        auto p = parse_event_page(body, owner, where);
        if (!p.value) {
            error = p.error;
            return {};
        }
        if (page_out) *page_out = *p.value;
        return p.value->events;
    }
    auto e = parse_event(body, owner, where, error);
    if (!e) return {};
    return {std::move(*e)};
}

TEST(graph_corpus, every_documentation_example_is_read_as_what_it_is) {
    ASSERT_TRUE(fs::exists(graph_corpus)) << "the shared corpus is missing at " << graph_corpus;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(graph_corpus)) {
        if (e.is_regular_file() && e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    ASSERT_GE(files.size(), 50u);

    std::set<std::string> seen;
    int event_files = 0, clean_events = 0, removed = 0, flagged_events = 0, errors = 0;
    for (const auto& path : files) {
        const std::string name = path.filename().string();
        SCOPED_TRACE(name);
        seen.insert(name);
        const std::string body = strip_http_head(read_file(path));
        ASSERT_FALSE(body.empty());
        const std::string where = "corpus " + name;

        // Whatever the file is, no reader may crash or throw on it.
        std::string error;
        const auto as_event = parse_event(body, owner, where, error);
        const auto as_page = parse_event_page(body, owner, where);
        const auto as_error = parse_error(body);
        std::string member_error;
        (void)parse_member_page(body, member_error);

        const auto it = expectations().find(name);
        const expectation exp = it == expectations().end() ? expectation{} : it->second;
        switch (exp.kind) {
            case shape::events: {
                ++event_files;
                page p;
                const auto events = events_of(body, exp.page, where, &p, error);
                ASSERT_EQ(events.size(), exp.events) << error;
                if (exp.page) {
                    EXPECT_EQ(p.removed.size(), exp.removed);
                    EXPECT_EQ(!p.next_link.empty(), exp.next_link);
                    EXPECT_EQ(!p.delta_link.empty(), exp.delta_link);
                    removed += static_cast<int>(p.removed.size());
                }
                for (const auto& e : events) {
                    ++clean_events;
                    EXPECT_THAT(e.problems, IsEmpty()) << messages(e.problems);
                    EXPECT_FALSE(e.id.empty());
                    EXPECT_EQ(e.inv.source.item_id, e.id);
                    EXPECT_EQ(e.inv.source.file, where);
                    EXPECT_FALSE(e.inv.uid.empty()) << "a UID (or the id standing in for one)";
                    EXPECT_TRUE(e.inv.has_start);
                    EXPECT_GE(e.inv.end, e.inv.start);
                    EXPECT_EQ(e.inv.sequence, 0);
                    EXPECT_FALSE(e.inv.subject.empty());
                    EXPECT_EQ(e.inv.organizer.address, normalize_address(e.inv.organizer.address));
                    for (const auto& a : e.inv.attendees) {
                        EXPECT_EQ(a.address, normalize_address(a.address));
                        EXPECT_NE(a.partstat, partstat::other) << a.address;
                    }
                    // The documentation's own examples use only zones agendad knows.
                    for (const auto& w : e.inv.warnings) EXPECT_THAT(w, Not(HasSubstr("zone")));
                }
                break;
            }
            case shape::template_events: {
                page p;
                const auto events = events_of(body, exp.page, where, &p, error);
                ASSERT_EQ(events.size(), exp.events) << error;
                for (const auto& e : events) {
                    ++flagged_events;
                    // Never acted on, and the reason is the missing data, not a crash or a guess.
                    const std::string text = messages(e.problems);
                    EXPECT_THAT(text, HasSubstr("no id"));
                    EXPECT_THAT(text, HasSubstr("no start"));
                    EXPECT_FALSE(e.inv.has_start);
                    for (const auto& d : e.problems) EXPECT_EQ(d.file, where);
                }
                break;
            }
            case shape::request_event: {
                ASSERT_TRUE(as_event) << error;
                ++flagged_events;
                // Complete meetings except for what the server assigns: the id is the problem.
                ASSERT_EQ(as_event->problems.size(), 1u) << messages(as_event->problems);
                EXPECT_THAT(as_event->problems[0].message, HasSubstr("no id"));
                EXPECT_TRUE(as_event->inv.has_start);
                break;
            }
            case shape::error:
                ++errors;
                EXPECT_TRUE(as_error.has_value());
                break;
            case shape::other:
                // Subscriptions, notifications, messages, tokens, batches: nothing here may read
                // as an event agendad would act on.
                if (as_event) {
                    EXPECT_THAT(as_event->problems, Not(IsEmpty()));
                }
                if (as_page.value) {
                    for (const auto& e : as_page.value->events)
                        EXPECT_THAT(e.problems, Not(IsEmpty())) << e.id;
                }
                EXPECT_FALSE(as_error.has_value());
                break;
        }
    }
    for (const auto& [name, exp] : expectations()) {
        EXPECT_TRUE(seen.count(name)) << name << " is expected but missing from the corpus";
    }
    std::cout << "[ graph    ] " << files.size() << " files: " << event_files
              << " answers with events (" << clean_events << " events, " << removed << " removed), "
              << flagged_events << " template or request events flagged, " << errors
              << " error bodies\n";
    EXPECT_EQ(clean_events, 21);
}

TEST(graph_corpus, event_get_01_organizer_attendees_pacific_time_and_html_body) {
    const event e = must_parse(corpus_body("v1.0-event-get.01.response.json"),
                               "DanaS@a830edad905084922E17020313.onmicrosoft.com");
    EXPECT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    const invitation& inv = e.inv;
    EXPECT_EQ(e.id, "AAMkAGIAAAoZDOFAAA=");
    EXPECT_EQ(inv.source.item_id, "AAMkAGIAAAoZDOFAAA=");
    // No iCalUId in this $select: the id stands in for it, and explain says so.
    EXPECT_EQ(inv.uid, "AAMkAGIAAAoZDOFAAA=");
    EXPECT_THAT(inv.warnings, Contains(HasSubstr("no iCalUId")));
    // The changeKey comes from the ETag when changeKey itself was not selected.
    EXPECT_EQ(inv.source.change_key, "ZlnW4RIAV06KYYwlrfNZvQAAKGWwbw==");
    EXPECT_EQ(inv.method, method::none);
    EXPECT_EQ(inv.subject, "Orientation");
    EXPECT_EQ(inv.description,
              "Dana, this is the time you selected for our orientation. Please bring the notes I "
              "sent you.");
    EXPECT_EQ(inv.location, "Assembly Hall");

    EXPECT_EQ(inv.organizer.address, "samanthab@a830edad905084922e17020313.onmicrosoft.com");
    EXPECT_EQ(inv.organizer.name, "Samantha Booth");
    ASSERT_EQ(inv.attendees.size(), 2u);
    EXPECT_EQ(inv.attendees[0].address, "samanthab@a830edad905084922e17020313.onmicrosoft.com");
    EXPECT_EQ(inv.attendees[0].role, role::required);
    EXPECT_EQ(inv.attendees[0].partstat, partstat::needs_action);  // "none": not yet answered
    EXPECT_EQ(inv.attendees[1].address, "danas@a830edad905084922e17020313.onmicrosoft.com");
    EXPECT_EQ(inv.attendees[1].name, "Dana Swope");
    EXPECT_EQ(inv.attendees[1].partstat, partstat::tentative);
    ASSERT_TRUE(inv.owner.has_value());
    EXPECT_EQ(inv.owner->name, "Dana Swope");
    EXPECT_EQ(inv.owner->partstat, partstat::tentative);

    // 21 April 2017 is daylight saving time in Redmond: PDT, UTC-7.
    EXPECT_EQ(utc(inv.start), "2017-04-21T17:00:00Z");
    EXPECT_EQ(utc(inv.end), "2017-04-21T19:00:00Z");
    EXPECT_FALSE(inv.all_day);
    EXPECT_EQ(inv.start_local.year, 2017);
    EXPECT_EQ(inv.start_local.month, 4);
    EXPECT_EQ(inv.start_local.day, 21);
    EXPECT_EQ(inv.start_local.hour, 10);
    EXPECT_EQ(inv.start_local.minute, 0);
    EXPECT_EQ(inv.start_local.zone, "Pacific Standard Time");
    EXPECT_FALSE(inv.is_recurring());
    EXPECT_FALSE(inv.recurrence_id.has_value());
}

TEST(graph_corpus, event_get_02_utc_times_and_mixed_case_addresses) {
    const event e =
        must_parse(corpus_body("v1.0-event-get.02.response.json"), "alexw@contoso.onmicrosoft.com");
    EXPECT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_EQ(e.inv.subject, "Plan summer company picnic");
    EXPECT_EQ(e.inv.description, "Let's kick-start this event planning!");
    EXPECT_EQ(e.inv.location, "Conf Room 3; Fourth Coffee; Home Office");
    EXPECT_EQ(utc(e.inv.start), "2017-08-30T11:00:00Z");
    EXPECT_EQ(utc(e.inv.end), "2017-08-30T12:00:00Z");
    EXPECT_EQ(e.inv.start_local.zone, "UTC");
    EXPECT_EQ(e.inv.organizer.address, "adelev@contoso.onmicrosoft.com");
    ASSERT_TRUE(e.inv.owner.has_value());
    EXPECT_EQ(e.inv.owner->address, "alexw@contoso.onmicrosoft.com");
    EXPECT_EQ(e.inv.owner->partstat, partstat::needs_action);
    EXPECT_TRUE(e.inv.response_requested());
}

TEST(graph_corpus, post_events_02_owner_organizes_and_ical_uid_is_the_uid) {
    const event e = must_parse(corpus_body("v1.0-user-post-events.02.response.json"),
                               "danas@contoso.onmicrosoft.com");
    EXPECT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_EQ(e.inv.uid,
              "040000008200E00074C5B7101A82E00800000000DA2B357D94B5D20100000000000000001000000"
              "0EC4597557F0CB34EA4CC2887EA7B17C3");
    EXPECT_EQ(e.ical_uid, e.inv.uid);
    EXPECT_THAT(e.inv.warnings, IsEmpty());
    EXPECT_EQ(e.change_key, "ZlnW4RIAV06KYYwlrfNZvQAALfZeRQ==");
    EXPECT_EQ(e.type, "singleInstance");
    EXPECT_TRUE(e.is_organizer);
    EXPECT_EQ(e.response, "organizer");
    // The owner organizes: not an attendee, so no owner entry (the policy's own-meeting guard).
    EXPECT_FALSE(e.inv.owner.has_value());
    EXPECT_EQ(e.inv.organizer.address, "danas@contoso.onmicrosoft.com");
    EXPECT_EQ(e.inv.description, "Does late morning work for you?");
    EXPECT_EQ(utc(e.inv.start), "2017-04-15T18:00:00Z");
    EXPECT_EQ(e.inv.transp, transparency::opaque);  // showAs busy
}

TEST(graph_corpus, delta_pages_carry_next_and_delta_links_and_removed_ids) {
    const page first = must_parse_page(corpus_body("concepts-delta-query-events.01.response.json"));
    EXPECT_EQ(
        first.next_link,
        "https://graph.microsoft.com/v1.0/me/calendarView/delta?$skiptoken=R0usmcCM996atia_s");
    EXPECT_TRUE(first.delta_link.empty());
    ASSERT_EQ(first.events.size(), 2u);
    EXPECT_EQ(first.events[0].inv.subject, "Plan shopping list");
    EXPECT_EQ(utc(first.events[0].inv.start), "2016-12-09T20:30:00Z");
    EXPECT_EQ(utc(first.events[0].inv.end), "2016-12-09T22:00:00Z");
    EXPECT_EQ(first.events[1].id, "AAMkADVxSAAA=");
    EXPECT_EQ(first.events[1].change_key, "EZ9r3czxY0m2jz8c45czkwAAFXcvIg==");

    const page last = must_parse_page(corpus_body("concepts-delta-query-events.03.response.json"));
    EXPECT_TRUE(last.next_link.empty());
    EXPECT_EQ(last.delta_link,
              "https://graph.microsoft.com/v1.0/me/calendarView/delta?$deltatoken=R0usmcMDNGg0J1E");

    const page changes =
        must_parse_page(corpus_body("concepts-delta-query-events.04.response.json"));
    EXPECT_THAT(changes.removed,
                ElementsAre("AAMkADk0MGFkODE3LWE4MmYtNDRhOS04OGQLkRkXbBznTvAADb6ytyAAA="));
    ASSERT_EQ(changes.events.size(), 1u);
    EXPECT_EQ(changes.events[0].id, "AAMkADj1HvAAA=");
    EXPECT_EQ(changes.events[0].inv.subject, "Attend service");
    EXPECT_EQ(changes.events[0].inv.location, "Chapel of Saint Ignatius");
    EXPECT_EQ(utc(changes.events[0].inv.start), "2016-12-25T06:00:00Z");
    EXPECT_EQ(
        changes.delta_link,
        "https://graph.microsoft.com/v1.0/me/calendarView/delta?$deltatoken=R0usmcFuQtZdtpk4");
}

TEST(graph_corpus, beta_delta_uses_the_series_uid_and_reads_the_owners_response) {
    const page p = must_parse_page(corpus_body("beta-event-delta.01.response.json"),
                                   "samanthab@contoso.onmicrosoft.com");
    ASSERT_EQ(p.events.size(), 2u);
    const event& e = p.events[0];
    EXPECT_EQ(e.inv.subject, "Summer party");
    // No iCalUId in beta: its `uid` is the series-wide UID, no warning needed.
    EXPECT_EQ(e.inv.uid,
              "040000008200E00074C5B7101A82E00800000000F088B8B95843D60100000000000000001000000"
              "0165CD5547CFC9545B6492B261750B48C");
    EXPECT_THAT(e.inv.warnings, IsEmpty());
    // The HTML body holds only &nbsp;: nothing a person would read.
    EXPECT_EQ(e.inv.description, "");
    EXPECT_EQ(utc(e.inv.start), "2020-06-02T20:00:00Z");
    EXPECT_EQ(utc(e.inv.end), "2020-06-02T22:30:00Z");
    ASSERT_TRUE(e.inv.owner.has_value());
    EXPECT_EQ(e.inv.owner->partstat, partstat::needs_action);  // responseStatus "none"
}

TEST(graph_corpus, list_instances_are_occurrences_of_their_series) {
    const page p = must_parse_page(corpus_body("v1.0-event-list-instances.01.response.json"));
    ASSERT_EQ(p.events.size(), 4u);
    for (const auto& e : p.events) {
        EXPECT_THAT(e.problems, IsEmpty()) << messages(e.problems);
        EXPECT_EQ(e.series_master_id, "AAMkAGUzYRgWAAA=");
        EXPECT_EQ(e.inv.subject, "Review strategy for Q3");
        // $select left originalStart out: an occurrence's start is its recurrence id.
        ASSERT_TRUE(e.inv.recurrence_id.has_value());
        EXPECT_EQ(*e.inv.recurrence_id, e.inv.start);
        EXPECT_FALSE(e.inv.is_recurring());
    }
    EXPECT_EQ(p.events[0].type, "exception");
    EXPECT_EQ(p.events[0].inv.description, "Changing meeting from 4/15 to 4/16.");
    EXPECT_THAT(p.events[0].inv.warnings, Contains(HasSubstr("exception without originalStart")));
    EXPECT_EQ(utc(p.events[0].inv.start), "2019-04-16T20:30:00Z");
    EXPECT_EQ(p.events[1].type, "occurrence");
    EXPECT_EQ(utc(p.events[1].inv.start), "2019-04-08T20:30:00Z");
    EXPECT_EQ(utc(p.events[3].inv.end), "2019-04-29T21:00:00Z");
    EXPECT_EQ(p.events[1].inv.description, "");  // an empty bodyPreview and no body
}

TEST(graph_corpus, weekly_series_pattern_becomes_an_rrule_and_its_end_date_a_bound) {
    // A POST body (no id, so a problem) holds the documentation's recurring example.
    const event e = must_parse(corpus_body("v1.0-user-post-events.05.request.json"));
    ASSERT_EQ(e.problems.size(), 1u);
    EXPECT_THAT(e.problems[0].message, HasSubstr("no id"));
    const recurrence_info& r = e.inv.recurrence;
    EXPECT_EQ(r.kind, recurrence_info::bound::until);
    EXPECT_EQ(r.frequency, "WEEKLY");
    EXPECT_EQ(r.rule, "FREQ=WEEKLY;UNTIL=20171231;BYDAY=MO");
    // The end date includes 31 December in Pacific time: until midnight PST = 08:00Z.
    ASSERT_TRUE(r.until.has_value());
    EXPECT_EQ(utc(*r.until), "2018-01-01T08:00:00Z");
    EXPECT_EQ(utc(e.inv.start), "2017-09-04T19:00:00Z");
    EXPECT_EQ(e.inv.location, "Harry's Bar");
    EXPECT_EQ(e.inv.description, "Does noon time work for you?");
    const attendee* adele = find_attendee(e.inv, "adelev@contoso.onmicrosoft.com");
    ASSERT_NE(adele, nullptr);
    EXPECT_EQ(adele->name, "Adele Vance");
    EXPECT_EQ(adele->partstat, partstat::none);  // a request body has no status
}

TEST(graph_corpus, error_examples_give_code_and_message) {
    const auto e = parse_error(corpus_body("concepts-errors.01.block.json"));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, "invalidRange");
    EXPECT_EQ(e->message, "Uploaded fragment overlaps with existing data.");
    // An envelope without code or message is still an error answer.
    const auto bare = parse_error(corpus_body("concepts-errors.02.block.json"));
    ASSERT_TRUE(bare.has_value());
    EXPECT_EQ(bare->code, "");
    // The error resource's shape without its envelope is not an error answer.
    EXPECT_FALSE(parse_error(corpus_body("concepts-errors.03.block.json")).has_value());
}

// Found by the fuzz target's invariants: a code or message cut at its bound right after a space
// kept that space, although the header promises trimmed text.
TEST(graph_error, a_cut_code_or_message_is_trimmed) {
    const std::string code = std::string(199, 'c') + " tail";
    const std::string message = std::string(999, 'm') + " tail";
    const auto e =
        parse_error(R"({"error": {"code": ")" + code + R"(", "message": ")" + message + R"("}})");
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, std::string(199, 'c'));
    EXPECT_EQ(e->message, std::string(999, 'm') + "…");
}

TEST(graph_corpus, mutated_examples_never_crash_a_reader) {
    std::mt19937 rng(20261124);
    int parsed = 0;
    for (const auto& [name, exp] : expectations()) {
        const std::string body = corpus_body(name);
        for (int round = 0; round < 150; ++round) {
            std::string text = body;
            const int edits = 1 + static_cast<int>(rng() % 4);
            for (int k = 0; k < edits && !text.empty(); ++k) {
                const std::size_t at = rng() % text.size();
                switch (rng() % 4) {
                    case 0:
                        text[at] = static_cast<char>(rng() % 256);
                        break;
                    case 1:
                        text.erase(at, 1 + rng() % 16);
                        break;
                    case 2:
                        text.insert(at, std::string(1 + rng() % 3, "{[\"]},:0"[rng() % 8]));
                        break;
                    default:
                        text.resize(at);
                        break;
                }
            }
            std::string error;
            if (parse_event(text, owner, name, error)) ++parsed;
            (void)parse_event_page(text, owner, name);
            (void)parse_error(text);
            (void)parse_member_page(text, error);
        }
    }
    EXPECT_GT(parsed, 0);
}

// ---------------------------------------------------------------------------------------------
// The same meeting from Graph and from iCalendar reads the same

struct same_meeting {
    std::string name;
    std::string graph_recurrence;  // raw JSON, "null" for none
    std::string rrule;             // RRULE value, empty for none
};

// Names a case in gtest's output instead of dumping its bytes (a std::string's are partly
// uninitialised, which valgrind reports).
void PrintTo(const same_meeting& m, std::ostream* os) {
    *os << m.name;
}

std::string ics_for(const same_meeting& m) {
    std::string text =
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft Corporation//Outlook 16.0 "
        "MIMEDIR//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n";
    text += "UID:" + std::string(series_ical_uid) + "\r\n";
    text +=
        "ORGANIZER;CN=Brianna Cole:mailto:Brianna.Cole@VerityCloud.example\r\n"
        "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Alex Morgan:mailto:"
        "Alex.Morgan@contoso.example\r\n"
        "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE;CN=Chris Doe:mailto:"
        "chris@contoso.example\r\n"
        "ATTENDEE;CUTYPE=RESOURCE;ROLE=NON-PARTICIPANT;PARTSTAT=ACCEPTED;RSVP=TRUE;CN=Room 1:"
        "mailto:room1@contoso.example\r\n"
        "SUMMARY:Quarterly review\r\n"
        "X-ALT-DESC;FMTTYPE=text/html:<p>Agenda:</p><ul><li>Numbers</li><li>Hiring</li></ul>\r\n"
        "LOCATION:Room 1\r\n"
        "DTSTART;TZID=Pacific Standard Time:20261124T100000\r\n"
        "DTEND;TZID=Pacific Standard Time:20261124T103000\r\n"
        "SEQUENCE:0\r\n";
    if (!m.rrule.empty()) text += "RRULE:" + m.rrule + "\r\n";
    text += "END:VEVENT\r\nEND:VCALENDAR\r\n";
    return text;
}

class same_meeting_test : public ::testing::TestWithParam<same_meeting> {};

TEST_P(same_meeting_test, graph_and_icalendar_give_equal_invitations) {
    const same_meeting& m = GetParam();
    fields f = meeting();
    f.set("recurrence", m.graph_recurrence)
        .set("type", m.graph_recurrence == "null" ? "\"singleInstance\"" : "\"seriesMaster\"");
    const event g = must_parse(f.json());
    ASSERT_THAT(g.problems, IsEmpty()) << messages(g.problems);
    parse_options options;
    options.mailbox = std::string(owner);
    const auto ics = parse_ics(ics_for(m), "same.ics", options);
    ASSERT_TRUE(ics.has_value());
    ASSERT_EQ(ics->events.size(), 1u) << (ics->errors.empty() ? "" : ics->errors[0].to_string());
    const invitation& a = g.inv;
    const invitation& b = ics->events[0];

    EXPECT_EQ(a.uid, b.uid);
    EXPECT_EQ(a.sequence, b.sequence);
    EXPECT_EQ(a.organizer.address, b.organizer.address);
    EXPECT_EQ(a.organizer.name, b.organizer.name);
    ASSERT_EQ(a.attendees.size(), b.attendees.size());
    for (std::size_t i = 0; i < a.attendees.size(); ++i) {
        SCOPED_TRACE(b.attendees[i].address);
        EXPECT_EQ(a.attendees[i].address, b.attendees[i].address);
        EXPECT_EQ(a.attendees[i].name, b.attendees[i].name);
        EXPECT_EQ(a.attendees[i].role, b.attendees[i].role);
        EXPECT_EQ(a.attendees[i].partstat, b.attendees[i].partstat);
        EXPECT_EQ(a.attendees[i].rsvp, b.attendees[i].rsvp);
        EXPECT_EQ(a.attendees[i].cutype, b.attendees[i].cutype);
    }
    ASSERT_TRUE(a.owner && b.owner);
    EXPECT_EQ(a.owner->address, b.owner->address);
    EXPECT_EQ(a.owner->partstat, b.owner->partstat);
    EXPECT_EQ(a.response_requested(), b.response_requested());
    EXPECT_EQ(a.subject, b.subject);
    EXPECT_EQ(a.description, b.description);
    EXPECT_EQ(a.location, b.location);
    EXPECT_EQ(utc(a.start), utc(b.start));
    EXPECT_EQ(utc(a.end), utc(b.end));
    EXPECT_EQ(a.all_day, b.all_day);
    EXPECT_EQ(a.start_local.year, b.start_local.year);
    EXPECT_EQ(a.start_local.month, b.start_local.month);
    EXPECT_EQ(a.start_local.day, b.start_local.day);
    EXPECT_EQ(a.start_local.hour, b.start_local.hour);
    EXPECT_EQ(a.start_local.minute, b.start_local.minute);
    EXPECT_EQ(a.start_local.zone, b.start_local.zone);
    {
        // The same meeting as agendad asks for it (Prefer: outlook.timezone="UTC"): the times in
        // UTC, the organizer's zone in originalStartTimeZone. Replies quote the same wall clock.
        fields in_utc = f;
        in_utc.set("start", time_json("2026-11-24T18:00:00.0000000", "UTC"))
            .set("end", time_json("2026-11-24T18:30:00.0000000", "UTC"))
            .set("originalStartTimeZone", R"("Pacific Standard Time")")
            .set("originalEndTimeZone", R"("Pacific Standard Time")");
        const event u = must_parse(in_utc.json());
        ASSERT_THAT(u.problems, IsEmpty()) << messages(u.problems);
        EXPECT_EQ(utc(u.inv.start), utc(b.start));
        EXPECT_EQ(utc(u.inv.end), utc(b.end));
        EXPECT_EQ(u.inv.start_local.year, b.start_local.year);
        EXPECT_EQ(u.inv.start_local.month, b.start_local.month);
        EXPECT_EQ(u.inv.start_local.day, b.start_local.day);
        EXPECT_EQ(u.inv.start_local.hour, b.start_local.hour);
        EXPECT_EQ(u.inv.start_local.minute, b.start_local.minute);
        EXPECT_EQ(u.inv.start_local.zone, b.start_local.zone);
    }
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.recurrence.kind, b.recurrence.kind);
    EXPECT_EQ(a.recurrence.frequency, b.recurrence.frequency);
    EXPECT_EQ(a.recurrence.rule, b.recurrence.rule);
    EXPECT_EQ(a.recurrence.count, b.recurrence.count);
    EXPECT_EQ(a.recurrence.until.has_value(), b.recurrence.until.has_value());
    if (a.recurrence.until && b.recurrence.until) {
        EXPECT_EQ(utc(*a.recurrence.until), utc(*b.recurrence.until));
    }
    EXPECT_EQ(a.recurrence.last_start.has_value(), b.recurrence.last_start.has_value());
    if (a.recurrence.last_start && b.recurrence.last_start) {
        EXPECT_EQ(utc(*a.recurrence.last_start), utc(*b.recurrence.last_start));
    }
}

INSTANTIATE_TEST_SUITE_P(
    series, same_meeting_test,
    ::testing::Values(
        same_meeting{"single", "null", ""},
        same_meeting{"weekly_until",
                     R"({"pattern":{"type":"weekly","interval":1,"daysOfWeek":["tuesday"],
                         "firstDayOfWeek":"sunday","index":"first","month":0,"dayOfMonth":0},
                         "range":{"type":"endDate","startDate":"2026-11-24","endDate":"2026-12-15",
                         "recurrenceTimeZone":"Pacific Standard Time","numberOfOccurrences":0}})",
                     "FREQ=WEEKLY;UNTIL=20261215;INTERVAL=1;BYDAY=TU;WKST=SU"},
        same_meeting{
            "fortnightly_two_days_numbered",
            R"({"pattern":{"type":"weekly","interval":2,"daysOfWeek":["Tuesday","Thursday"],
                         "firstDayOfWeek":"monday"},
                         "range":{"type":"numbered","startDate":"2026-11-24","numberOfOccurrences":7}})",
            "FREQ=WEEKLY;COUNT=7;INTERVAL=2;BYDAY=TU,TH"},
        // Graph lists days in any order; libical lists BYDAY from the week's first day, so the
        // iCalendar reading has SU,MO with WKST=SU and MO,FR without.
        same_meeting{"weekly_monday_and_sunday_from_sunday",
                     R"({"pattern":{"type":"weekly","interval":1,"daysOfWeek":["monday","sunday"],
                         "firstDayOfWeek":"sunday"},
                         "range":{"type":"numbered","startDate":"2026-11-24","numberOfOccurrences":6}})",
                     "FREQ=WEEKLY;COUNT=6;BYDAY=MO,SU;WKST=SU"},
        same_meeting{"weekly_friday_and_monday",
                     R"({"pattern":{"type":"weekly","interval":1,"daysOfWeek":["friday","monday"],
                         "firstDayOfWeek":"monday"},
                         "range":{"type":"endDate","startDate":"2026-11-24","endDate":"2026-12-31"}})",
                     "FREQ=WEEKLY;UNTIL=20261231;BYDAY=FR,MO"},
        same_meeting{"fourth_tuesday_monthly_numbered",
                     R"({"pattern":{"type":"relativeMonthly","interval":1,"daysOfWeek":["tuesday"],
                         "index":"fourth"},
                         "range":{"type":"numbered","startDate":"2026-11-24","numberOfOccurrences":6}})",
                     "FREQ=MONTHLY;COUNT=6;BYDAY=4TU"},
        same_meeting{"last_weekday_of_month_no_end",
                     R"({"pattern":{"type":"relativeMonthly","interval":1,
                         "daysOfWeek":["monday","tuesday","wednesday","thursday","friday"],"index":"last"},
                         "range":{"type":"noEnd","startDate":"2026-11-24"}})",
                     "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"},
        same_meeting{"monthly_on_the_24th",
                     R"({"pattern":{"type":"absoluteMonthly","interval":3,"dayOfMonth":24},
                         "range":{"type":"noEnd","startDate":"2026-11-24"}})",
                     "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=24"},
        same_meeting{
            "yearly_on_24_november_numbered",
            R"({"pattern":{"type":"absoluteYearly","interval":1,"dayOfMonth":24,"month":11},
                         "range":{"type":"numbered","startDate":"2026-11-24","numberOfOccurrences":3}})",
            "FREQ=YEARLY;COUNT=3;BYMONTHDAY=24;BYMONTH=11"},
        same_meeting{"fourth_tuesday_of_november_yearly",
                     R"({"pattern":{"type":"relativeYearly","interval":1,"daysOfWeek":["tuesday"],
                         "index":"fourth","month":11},
                         "range":{"type":"endDate","startDate":"2026-11-24","endDate":"2030-12-31"}})",
                     "FREQ=YEARLY;UNTIL=20301231;BYDAY=4TU;BYMONTH=11"},
        same_meeting{"every_other_day",
                     R"({"pattern":{"type":"daily","interval":2},
                         "range":{"type":"numbered","startDate":"2026-11-24","numberOfOccurrences":10}})",
                     "FREQ=DAILY;COUNT=10;INTERVAL=2"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(cross_source, an_all_day_event_is_the_same_date_from_both_sources) {
    fields f = meeting();
    f.set("isAllDay", "true")
        .set("start", time_json("2026-11-24T00:00:00.0000000", "Pacific Standard Time"))
        .set("end", time_json("2026-11-26T00:00:00.0000000", "Pacific Standard Time"));
    const event g = must_parse(f.json());
    ASSERT_THAT(g.problems, IsEmpty()) << messages(g.problems);
    const auto ics = parse_ics(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART;VALUE=DATE:20261124"
        "\r\nDTEND;VALUE=DATE:20261126\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "allday.ics");
    ASSERT_TRUE(ics.has_value());
    ASSERT_EQ(ics->events.size(), 1u);
    const invitation& b = ics->events[0];
    EXPECT_TRUE(g.inv.all_day);
    EXPECT_EQ(g.inv.all_day, b.all_day);
    EXPECT_EQ(utc(g.inv.start), utc(b.start));
    EXPECT_EQ(utc(g.inv.end), utc(b.end));
    EXPECT_EQ(utc(g.inv.start), "2026-11-24T00:00:00Z");
    EXPECT_EQ(g.inv.start_local.zone, b.start_local.zone);  // a date has no zone
    EXPECT_EQ(g.inv.start_local.day, 24);
}

// ---------------------------------------------------------------------------------------------
// The mapping, field by field

TEST(mapping, a_meeting_request_in_the_invitees_calendar) {
    const event e = must_parse(meeting().json());
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_THAT(e.inv.warnings, IsEmpty());
    const invitation& inv = e.inv;
    EXPECT_EQ(inv.method, method::none);
    EXPECT_EQ(inv.status, event_status::none);
    EXPECT_EQ(inv.sequence, 0);
    EXPECT_EQ(inv.uid, series_ical_uid);
    EXPECT_EQ(inv.source.file, "test event");
    EXPECT_EQ(inv.source.line, 0);
    EXPECT_EQ(inv.source.item_id, "AAMkAGMeeting=");
    EXPECT_EQ(inv.source.change_key, "ChangeKey1==");
    EXPECT_EQ(inv.subject, "Quarterly review");
    EXPECT_EQ(inv.description, "Agenda:\n- Numbers\n- Hiring");
    EXPECT_EQ(inv.location, "Room 1");
    EXPECT_EQ(inv.transp, transparency::opaque);  // showAs tentative still blocks the time
    EXPECT_EQ(inv.organizer.address, "brianna.cole@veritycloud.example");
    EXPECT_EQ(inv.organizer.name, "Brianna Cole");
    EXPECT_EQ(utc(inv.start), "2026-11-24T18:00:00Z");  // PST, UTC-8
    EXPECT_EQ(utc(inv.end), "2026-11-24T18:30:00Z");

    ASSERT_EQ(inv.attendees.size(), 3u);
    EXPECT_EQ(inv.attendees[0].address, "alex.morgan@contoso.example");
    EXPECT_EQ(inv.attendees[0].role, role::required);
    EXPECT_EQ(inv.attendees[0].partstat, partstat::needs_action);
    EXPECT_EQ(inv.attendees[0].rsvp, std::optional<bool>(true));
    EXPECT_EQ(inv.attendees[0].cutype, "");
    EXPECT_EQ(inv.attendees[1].role, role::optional);
    EXPECT_EQ(inv.attendees[1].partstat, partstat::accepted);
    EXPECT_EQ(inv.attendees[2].role, role::non_participant);
    EXPECT_EQ(inv.attendees[2].cutype, "RESOURCE");

    ASSERT_TRUE(inv.owner.has_value());
    EXPECT_EQ(inv.owner->address, "alex.morgan@contoso.example");
    EXPECT_EQ(inv.owner->name, "Alex Morgan");
    EXPECT_EQ(inv.owner->partstat, partstat::needs_action);
    EXPECT_TRUE(inv.response_requested());
}

struct response_case {
    std::string response;  // responseStatus.response
    partstat expected;
};

void PrintTo(const response_case& c, std::ostream* os) {
    *os << "'" << c.response << "'";
}

class owner_response : public ::testing::TestWithParam<response_case> {};

TEST_P(owner_response, is_the_owners_partstat_in_owner_and_in_the_attendee_list) {
    // The attendee list says "none" for the owner; responseStatus is the mailbox's own answer.
    fields f = meeting();
    f.set("responseStatus",
          "{\"response\":\"" + GetParam().response + "\",\"time\":\"2026-11-21T08:00:00Z\"}");
    const event e = must_parse(f.json());
    ASSERT_THAT(e.problems, IsEmpty());
    EXPECT_EQ(e.response, GetParam().response);
    ASSERT_TRUE(e.inv.owner.has_value());
    EXPECT_EQ(e.inv.owner->partstat, GetParam().expected);
    EXPECT_EQ(find_attendee(e.inv, owner)->partstat, GetParam().expected);
    // Others' answers are their own.
    EXPECT_EQ(find_attendee(e.inv, "chris@contoso.example")->partstat, partstat::accepted);
}

INSTANTIATE_TEST_SUITE_P(responses, owner_response,
                         ::testing::Values(response_case{"none", partstat::needs_action},
                                           response_case{"notResponded", partstat::needs_action},
                                           response_case{"accepted", partstat::accepted},
                                           response_case{"declined", partstat::declined},
                                           response_case{"tentativelyAccepted",
                                                         partstat::tentative},
                                           response_case{"organizer", partstat::accepted}),
                         [](const auto& param_info) { return param_info.param.response; });

TEST(mapping, attendee_statuses_map_to_partstat) {
    fields f = meeting();
    f.set("attendees", R"([
        {"type":"required","status":{"response":"none"},"emailAddress":{"address":"a@x.example"}},
        {"type":"required","status":{"response":"notResponded"},"emailAddress":{"address":"b@x.example"}},
        {"type":"required","status":{"response":"accepted"},"emailAddress":{"address":"c@x.example"}},
        {"type":"required","status":{"response":"declined"},"emailAddress":{"address":"d@x.example"}},
        {"type":"required","status":{"response":"tentativelyAccepted"},"emailAddress":{"address":"e@x.example"}},
        {"type":"required","status":{"response":"organizer"},"emailAddress":{"address":"f@x.example"}},
        {"type":"required","emailAddress":{"address":"g@x.example"}},
        {"type":"required","status":{"response":"maybeLater"},"emailAddress":{"address":"h@x.example"}}])");
    const event e = must_parse(f.json());
    ASSERT_THAT(e.problems, IsEmpty());
    std::vector<partstat> got;
    for (const auto& a : e.inv.attendees) got.push_back(a.partstat);
    EXPECT_THAT(got, ElementsAre(partstat::needs_action, partstat::needs_action, partstat::accepted,
                                 partstat::declined, partstat::tentative, partstat::accepted,
                                 partstat::none, partstat::other));
    EXPECT_THAT(e.inv.warnings, Contains(HasSubstr("'maybeLater'")));
}

TEST(mapping, owner_invited_through_a_group_gets_an_owner_entry_but_stays_off_the_list) {
    fields f = meeting();
    f.set("attendees",
          R"([{"type":"required","status":{"response":"none"},
               "emailAddress":{"name":"All Staff","address":"all-staff@contoso.example"}}])")
        .set("responseStatus", R"({"response":"tentativelyAccepted"})")
        .set("responseRequested", "false");
    const event e = must_parse(f.json());
    ASSERT_TRUE(e.inv.owner.has_value());
    EXPECT_EQ(e.inv.owner->address, owner);
    EXPECT_EQ(e.inv.owner->partstat, partstat::tentative);
    EXPECT_EQ(e.inv.owner->rsvp, std::optional<bool>(false));
    EXPECT_FALSE(e.inv.response_requested());
    // The policy reads the attendee list: it still sees an invitation through a group.
    EXPECT_EQ(find_attendee(e.inv, owner), nullptr);
    ASSERT_EQ(e.inv.attendees.size(), 1u);
}

TEST(mapping, organizer_gets_no_owner_entry_and_no_mailbox_means_no_owner) {
    fields f = meeting();
    f.set("isOrganizer", "true")
        .set("responseStatus", R"({"response":"organizer"})")
        .set("attendees", "[]");
    EXPECT_FALSE(must_parse(f.json()).inv.owner.has_value());
    EXPECT_FALSE(must_parse(meeting().json(), "").inv.owner.has_value());
    // The mailbox is matched whatever its case.
    const event upper = must_parse(meeting().json(), "ALEX.MORGAN@CONTOSO.EXAMPLE");
    ASSERT_TRUE(upper.inv.owner.has_value());
    EXPECT_EQ(upper.inv.owner->address, owner);
}

TEST(mapping, unknown_response_keeps_the_attendee_lists_status_and_warns) {
    fields f = meeting();
    f.set("responseStatus", R"({"response":"response-value"})")
        .set("attendees",
             R"([{"type":"required","status":{"response":"declined"},
                  "emailAddress":{"address":"alex.morgan@contoso.example"}}])");
    const event e = must_parse(f.json());
    ASSERT_TRUE(e.inv.owner.has_value());
    EXPECT_EQ(e.inv.owner->partstat, partstat::declined);
    EXPECT_THAT(e.inv.warnings, Contains(HasSubstr("'response-value'")));
}

TEST(mapping, no_response_requested_is_rsvp_false_for_everyone) {
    fields f = meeting();
    f.set("responseRequested", "false");
    const event e = must_parse(f.json());
    EXPECT_FALSE(e.response_requested);
    for (const auto& a : e.inv.attendees) EXPECT_EQ(a.rsvp, std::optional<bool>(false));
    EXPECT_FALSE(e.inv.response_requested());
    // Absent: Graph's default (true), left for the model's default to decide.
    f.remove("responseRequested");
    const event absent = must_parse(f.json());
    EXPECT_TRUE(absent.response_requested);
    EXPECT_EQ(absent.inv.owner->rsvp, std::nullopt);
    EXPECT_TRUE(absent.inv.response_requested());
}

TEST(mapping, cancelled_event_is_a_cancellation) {
    fields f = meeting();
    f.set("isCancelled", "true").set("subject", R"("Canceled: Quarterly review")");
    const event e = must_parse(f.json());
    EXPECT_TRUE(e.is_cancelled);
    EXPECT_EQ(e.inv.method, method::cancel);
    EXPECT_EQ(e.inv.status, event_status::cancelled);
}

TEST(mapping, show_as_free_is_transparent_and_attachments_are_noticed) {
    fields f = meeting();
    f.set("showAs", R"("free")").set("hasAttachments", "true");
    const event e = must_parse(f.json());
    EXPECT_EQ(e.inv.transp, transparency::transparent);
    EXPECT_TRUE(e.inv.has_attachments);
    f.set("showAs", R"("oof")");
    EXPECT_EQ(must_parse(f.json()).inv.transp, transparency::opaque);
}

TEST(mapping, body_text_html_and_preview) {
    fields f = meeting();
    f.set("body", R"({"contentType":"text","content":"  Agenda:\r\n1. Budget\r\n  "})");
    EXPECT_EQ(must_parse(f.json()).inv.description, "Agenda:\r\n1. Budget");
    // Marked text but written as HTML: read as HTML.
    f.set("body", R"({"contentType":"text","content":"<p>Agenda</p><ul><li>Budget</li></ul>"})");
    EXPECT_EQ(must_parse(f.json()).inv.description, "Agenda\n- Budget");
    f.set("body", R"({"contentType":"HTML","content":"<div>Tom &amp; Jerry&nbsp;meet</div>"})");
    EXPECT_EQ(must_parse(f.json()).inv.description, "Tom & Jerry meet");
    // No body: the preview.
    f.remove("body");
    EXPECT_EQ(must_parse(f.json()).inv.description, "Agenda: Numbers Hiring");
    f.set("body", R"({"contentType":"html","content":""})");
    EXPECT_EQ(must_parse(f.json()).inv.description, "Agenda: Numbers Hiring");
}

TEST(mapping, names_are_unquoted_and_an_address_is_no_name) {
    fields f = meeting();
    f.set("organizer",
          R"({"emailAddress":{"name":"\"Cole, Brianna\"","address":" MAILTO:Brianna@X.example "}})")
        .set("attendees",
             R"([{"type":"required","emailAddress":{"name":"alex.morgan@contoso.example",
                  "address":"alex.morgan@contoso.example"}},
                 {"type":"required","emailAddress":{"name":"Nobody"}}])");
    const event e = must_parse(f.json());
    EXPECT_EQ(e.inv.organizer.name, "Cole, Brianna");
    EXPECT_EQ(e.inv.organizer.address, "brianna@x.example");
    ASSERT_EQ(e.inv.attendees.size(), 1u);  // an attendee without an address is left out
    EXPECT_EQ(e.inv.attendees[0].name, "");
    EXPECT_THAT(e.inv.warnings, Contains(HasSubstr("attendees[1] has no address")));
}

TEST(mapping, location_falls_back_to_the_locations_list) {
    fields f = meeting();
    f.set("location", R"({"displayName":""})")
        .set("locations", R"([{"displayName":"Room 1"},{"displayName":" Teams "},{"x":1},7])");
    EXPECT_EQ(must_parse(f.json()).inv.location, "Room 1; Teams");
}

TEST(mapping, change_key_falls_back_to_the_etag) {
    fields f = meeting();
    f.remove("changeKey");
    EXPECT_EQ(must_parse(f.json()).inv.source.change_key, "Etag1Value==");
}

TEST(mapping, uid_of_occurrences_is_the_series_uid_with_a_recurrence_id) {
    // Graph's iCalUId of an instance carries the instance's date (here 2026-11-24 = 07EA 0B 18);
    // Outlook's iCalendar says UID (date zero) + RECURRENCE-ID for the same occurrence.
    std::string instance_uid(series_ical_uid);
    instance_uid.replace(32, 8, "07EA0B18");
    fields f = meeting();
    f.set("type", R"("exception")")
        .set("seriesMasterId", R"("AAMkAGMaster=")")
        .set("iCalUId", "\"" + instance_uid + "\"")
        .set("originalStart", R"("2026-11-24T18:00:00Z")")
        .set("start", time_json("2026-11-25T09:00:00.0000000", "Pacific Standard Time"))
        .set("end", time_json("2026-11-25T09:30:00.0000000", "Pacific Standard Time"));
    const event e = must_parse(f.json());
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_EQ(e.ical_uid, instance_uid);
    EXPECT_EQ(e.inv.uid, series_ical_uid);
    EXPECT_EQ(e.series_master_id, "AAMkAGMaster=");
    ASSERT_TRUE(e.inv.recurrence_id.has_value());
    EXPECT_EQ(utc(*e.inv.recurrence_id), "2026-11-24T18:00:00Z");
    EXPECT_EQ(utc(e.inv.start), "2026-11-25T17:00:00Z");
    // With fractional seconds and an offset, as DateTimeOffset may be written.
    f.set("originalStart", R"("2026-11-24T19:00:00.0000000+01:00")");
    EXPECT_EQ(utc(*must_parse(f.json()).inv.recurrence_id), "2026-11-24T18:00:00Z");
    // A single instance keeps its iCalUId as it is, and has no recurrence id.
    f.set("type", R"("singleInstance")");
    const event single = must_parse(f.json());
    EXPECT_EQ(single.inv.uid, instance_uid);
    EXPECT_FALSE(single.inv.recurrence_id.has_value());
    // A UID that is not Outlook's is left alone.
    f.set("type", R"("occurrence")").set("iCalUId", R"("7kq2d4@google.com")");
    EXPECT_EQ(must_parse(f.json()).inv.uid, "7kq2d4@google.com");
}

// ---------------------------------------------------------------------------------------------
// Time zones

struct zone_case {
    std::string name;
    std::string date_time;
    std::string zone;
    std::string expected_utc;
    bool warns = false;
};

void PrintTo(const zone_case& c, std::ostream* os) {
    *os << c.name;
}

class time_zone : public ::testing::TestWithParam<zone_case> {};

TEST_P(time_zone, converts_to_utc) {
    const zone_case& c = GetParam();
    fields f = meeting();
    f.set("start", time_json(c.date_time, c.zone)).set("end", time_json(c.date_time, c.zone));
    const event e = must_parse(f.json());
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_EQ(utc(e.inv.start), c.expected_utc);
    if (c.warns) {
        EXPECT_THAT(e.inv.warnings, Contains(HasSubstr("taken as UTC")));
    } else {
        EXPECT_THAT(e.inv.warnings, IsEmpty());
    }
    EXPECT_EQ(e.inv.start_local.zone, c.zone);  // as written, for replies
}

INSTANTIATE_TEST_SUITE_P(
    zones, time_zone,
    ::testing::Values(
        zone_case{"pacific_winter", "2026-01-15T09:00:00.0000000", "Pacific Standard Time",
                  "2026-01-15T17:00:00Z"},
        zone_case{"pacific_summer", "2026-07-15T09:00:00.0000000", "Pacific Standard Time",
                  "2026-07-15T16:00:00Z"},
        zone_case{"w_europe", "2026-11-24T10:00:00.0000000", "W. Europe Standard Time",
                  "2026-11-24T09:00:00Z"},
        zone_case{"india_half_hour", "2026-11-24T10:00:00.0000000", "India Standard Time",
                  "2026-11-24T04:30:00Z"},
        zone_case{"windows_name_in_lower_case", "2026-11-24T10:00:00", "eastern standard time",
                  "2026-11-24T15:00:00Z"},
        zone_case{"iana", "2026-11-24T10:00:00.0000000", "Europe/Berlin", "2026-11-24T09:00:00Z"},
        zone_case{"iana_southern_summer", "2026-01-10T10:00:00", "Australia/Sydney",
                  "2026-01-09T23:00:00Z"},
        zone_case{"utc", "2026-11-24T10:00:00.0000000", "UTC", "2026-11-24T10:00:00Z"},
        zone_case{"microsoft_utc", "2026-11-24T10:00:00.0000000", "tzone://Microsoft/Utc",
                  "2026-11-24T10:00:00Z"},
        zone_case{"etc_utc", "2026-11-24T10:00:00", "Etc/UTC", "2026-11-24T10:00:00Z"},
        zone_case{"no_fraction_no_seconds", "2026-11-24T10:00", "UTC", "2026-11-24T10:00:00Z"},
        zone_case{"explicit_offset_wins", "2026-11-24T10:00:00+01:00", "Pacific Standard Time",
                  "2026-11-24T09:00:00Z"},
        zone_case{"unknown_windows_name", "2026-11-24T10:00:00", "Mars Standard Time",
                  "2026-11-24T10:00:00Z", true},
        zone_case{"legacy_custom_zone", "2026-11-24T10:00:00", "tzone://Microsoft/Custom",
                  "2026-11-24T10:00:00Z", true},
        zone_case{"path_is_no_zone", "2026-11-24T10:00:00", "../../../etc/passwd",
                  "2026-11-24T10:00:00Z", true},
        zone_case{"localtime_is_no_zone", "2026-11-24T10:00:00", "localtime",
                  "2026-11-24T10:00:00Z", true}),
    [](const auto& param_info) { return param_info.param.name; });

struct organizer_zone_case {
    std::string name;
    std::string start_utc;      // start.dateTime, timeZone UTC
    std::string original_zone;  // raw JSON for originalStartTimeZone; empty: left out
    int day = 0, hour = 0, minute = 0;
    std::string zone;  // expected start_local.zone
};

void PrintTo(const organizer_zone_case& c, std::ostream* os) {
    *os << c.name;
}

class organizer_zone : public ::testing::TestWithParam<organizer_zone_case> {};

TEST_P(organizer_zone, a_utc_start_is_quoted_in_the_organizers_zone) {
    const organizer_zone_case& c = GetParam();
    fields f = meeting();
    f.set("start", time_json(c.start_utc, "UTC"))
        .set("end", time_json("2026-11-25T01:00:00.0000000", "UTC"));
    if (!c.original_zone.empty()) {
        f.set("originalStartTimeZone", c.original_zone).set("originalEndTimeZone", c.original_zone);
    }
    const event e = must_parse(f.json());
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_EQ(utc(e.inv.start), c.start_utc.substr(0, 19) + "Z");  // the instant is unchanged
    EXPECT_EQ(utc(e.inv.end), "2026-11-25T01:00:00Z");
    EXPECT_EQ(e.inv.start_local.year, 2026);
    EXPECT_EQ(e.inv.start_local.month, 11);
    EXPECT_EQ(e.inv.start_local.day, c.day);
    EXPECT_EQ(e.inv.start_local.hour, c.hour);
    EXPECT_EQ(e.inv.start_local.minute, c.minute);
    EXPECT_EQ(e.inv.start_local.zone, c.zone);
}

INSTANTIATE_TEST_SUITE_P(
    zones, organizer_zone,
    ::testing::Values(
        organizer_zone_case{"windows_name", "2026-11-25T00:00:00.0000000",
                            R"("Pacific Standard Time")", 24, 16, 0, "Pacific Standard Time"},
        organizer_zone_case{"iana_name", "2026-11-25T00:00:00.0000000", R"("Europe/Berlin")", 25, 1,
                            0, "Europe/Berlin"},
        organizer_zone_case{"half_hour_zone", "2026-11-24T04:30:00.0000000",
                            R"("India Standard Time")", 24, 10, 0, "India Standard Time"},
        organizer_zone_case{"unknown_name_keeps_utc", "2026-11-25T00:00:00.0000000",
                            R"("Mars Standard Time")", 25, 0, 0, "UTC"},
        organizer_zone_case{"custom_zone_keeps_utc", "2026-11-25T00:00:00.0000000",
                            R"("tzone://Microsoft/Custom")", 25, 0, 0, "UTC"},
        organizer_zone_case{"utc_organizer_keeps_utc", "2026-11-25T00:00:00.0000000", R"("UTC")",
                            25, 0, 0, "UTC"},
        organizer_zone_case{"absent_keeps_utc", "2026-11-25T00:00:00.0000000", "", 25, 0, 0, "UTC"},
        organizer_zone_case{"null_keeps_utc", "2026-11-25T00:00:00.0000000", "null", 25, 0, 0,
                            "UTC"},
        organizer_zone_case{"not_a_string_keeps_utc", "2026-11-25T00:00:00.0000000", "42", 25, 0, 0,
                            "UTC"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(time_zones, a_zone_given_in_start_is_not_overridden_by_original_start_time_zone) {
    fields f = meeting();
    f.set("originalStartTimeZone", R"("Tokyo Standard Time")");
    const event e = must_parse(f.json());
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_EQ(e.inv.start_local.hour, 10);
    EXPECT_EQ(e.inv.start_local.zone, "Pacific Standard Time");
}

TEST(time_zones, an_all_day_event_in_utc_keeps_its_date) {
    fields f = meeting();
    f.set("isAllDay", "true")
        .set("start", time_json("2026-11-24T00:00:00.0000000", "UTC"))
        .set("end", time_json("2026-11-25T00:00:00.0000000", "UTC"))
        .set("originalStartTimeZone", R"("Pacific Standard Time")");
    const event e = must_parse(f.json());
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_EQ(utc(e.inv.start), "2026-11-24T00:00:00Z");
    EXPECT_EQ(e.inv.start_local.day, 24);
    EXPECT_EQ(e.inv.start_local.hour, 0);
    EXPECT_EQ(e.inv.start_local.zone, "");
}

TEST(time_zones, missing_time_zone_is_utc_with_a_warning) {
    fields f = meeting();
    f.set("start", R"({"dateTime":"2026-11-24T10:00:00.0000000"})")
        .set("end", R"({"dateTime":"2026-11-24T11:00:00.0000000","timeZone":null})");
    const event e = must_parse(f.json());
    EXPECT_THAT(e.problems, IsEmpty());
    EXPECT_EQ(utc(e.inv.start), "2026-11-24T10:00:00Z");
    EXPECT_EQ(utc(e.inv.end), "2026-11-24T11:00:00Z");
    EXPECT_THAT(e.inv.warnings, Contains(HasSubstr("'start.timeZone' is missing")));
    EXPECT_EQ(e.inv.start_local.zone, "UTC");
}

TEST(time_zones, all_day_events_are_dates_whatever_the_zone) {
    fields f = meeting();
    f.set("isAllDay", "true")
        .set("start", time_json("2026-11-24T00:00:00.0000000", "Tokyo Standard Time"))
        .set("end", time_json("2026-11-25T00:00:00.0000000", "Tokyo Standard Time"));
    const event e = must_parse(f.json());
    EXPECT_THAT(e.problems, IsEmpty());
    EXPECT_TRUE(e.inv.all_day);
    EXPECT_EQ(utc(e.inv.start), "2026-11-24T00:00:00Z");
    EXPECT_EQ(utc(e.inv.end), "2026-11-25T00:00:00Z");
    EXPECT_EQ(e.inv.start_local.zone, "");
    // An all-day event without an end lasts its day.
    f.remove("end");
    EXPECT_EQ(utc(must_parse(f.json()).inv.end), "2026-11-25T00:00:00Z");
    // Not at midnight: the date counts, and explain says so.
    f.set("start", time_json("2026-11-24T08:00:00.0000000", "UTC"));
    const event odd = must_parse(f.json());
    EXPECT_EQ(utc(odd.inv.start), "2026-11-24T00:00:00Z");
    EXPECT_THAT(odd.inv.warnings, Contains(HasSubstr("not midnight")));
}

TEST(time_zones, end_before_start_is_the_start) {
    fields f = meeting();
    f.set("end", time_json("2026-11-24T09:00:00", "Pacific Standard Time"));
    const event e = must_parse(f.json());
    EXPECT_EQ(e.inv.end, e.inv.start);
    EXPECT_THAT(e.inv.warnings, Contains(HasSubstr("ends before it starts")));
}

TEST(time_zones, series_until_is_the_end_of_the_day_in_the_recurrence_zone) {
    fields f = meeting();
    f.set("type", R"("seriesMaster")")
        .set("start", time_json("2026-11-24T17:00:00", "UTC"))
        .set("end", time_json("2026-11-24T17:30:00", "UTC"))
        .set("recurrence", R"({"pattern":{"type":"weekly","interval":1,"daysOfWeek":["tuesday"]},
              "range":{"type":"endDate","startDate":"2026-11-24","endDate":"2026-12-15",
                       "recurrenceTimeZone":"Pacific Standard Time"}})");
    const event e = must_parse(f.json());
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_EQ(utc(*e.inv.recurrence.until), "2026-12-16T08:00:00Z");
    EXPECT_EQ(e.inv.recurrence.rule, "FREQ=WEEKLY;UNTIL=20261215;BYDAY=TU");
}

TEST(recurrence, byday_lists_days_from_the_week_start_as_icalendar_does) {
    fields f = meeting();
    f.set("type", R"("seriesMaster")")
        .set("recurrence", R"({"pattern":{"type":"weekly","interval":1,
              "daysOfWeek":["saturday","monday","sunday"],"firstDayOfWeek":"sunday"},
              "range":{"type":"noEnd","startDate":"2026-11-24"}})");
    const event e = must_parse(f.json());
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_EQ(e.inv.recurrence.rule, "FREQ=WEEKLY;BYDAY=SU,MO,SA;WKST=SU");
    f.set("recurrence", R"({"pattern":{"type":"relativeMonthly","interval":1,
              "daysOfWeek":["sunday","saturday"],"index":"last"},
              "range":{"type":"noEnd","startDate":"2026-11-24"}})");
    EXPECT_EQ(must_parse(f.json()).inv.recurrence.rule, "FREQ=MONTHLY;BYDAY=SA,SU;BYSETPOS=-1");
}

TEST(recurrence, a_numbered_series_in_utc_keeps_the_recurrence_zone_wall_clock) {
    // As agendad asks for it (UTC times): 10:00 Pacific every Tuesday, 20 times, the last on
    // 6 April 2027, after the change to summer time: 10:00 PDT is 17:00Z, as iCalendar's
    // DTSTART;TZID=Pacific Standard Time reads it.
    fields f = meeting();
    f.set("type", R"("seriesMaster")")
        .set("start", time_json("2026-11-24T18:00:00.0000000", "UTC"))
        .set("end", time_json("2026-11-24T18:30:00.0000000", "UTC"))
        .set("recurrence", R"({"pattern":{"type":"weekly","interval":1,"daysOfWeek":["tuesday"]},
              "range":{"type":"numbered","startDate":"2026-11-24","numberOfOccurrences":20,
                       "recurrenceTimeZone":"Pacific Standard Time"}})");
    const event e = must_parse(f.json());
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    ASSERT_TRUE(e.inv.recurrence.last_start.has_value());
    EXPECT_EQ(utc(*e.inv.recurrence.last_start), "2027-04-06T17:00:00Z");
    const auto ics = parse_ics(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART;TZID=Pacific "
        "Standard Time:20261124T100000\r\nRRULE:FREQ=WEEKLY;COUNT=20;BYDAY=TU\r\nSUMMARY:x\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n",
        "series.ics");
    ASSERT_TRUE(ics.has_value());
    ASSERT_EQ(ics->events.size(), 1u);
    ASSERT_TRUE(ics->events[0].recurrence.last_start.has_value());
    EXPECT_EQ(utc(*e.inv.recurrence.last_start), utc(*ics->events[0].recurrence.last_start));
}

TEST(recurrence, numbered_series_knows_its_last_start_and_no_end_is_open) {
    fields f = meeting();
    f.set("type", R"("seriesMaster")")
        .set("recurrence", R"({"pattern":{"type":"daily","interval":1},
              "range":{"type":"numbered","startDate":"2026-11-24","numberOfOccurrences":5}})");
    const event e = must_parse(f.json());
    EXPECT_EQ(e.inv.recurrence.kind, recurrence_info::bound::count);
    EXPECT_EQ(e.inv.recurrence.count, 5);
    ASSERT_TRUE(e.inv.recurrence.last_start.has_value());
    EXPECT_EQ(utc(*e.inv.recurrence.last_start), "2026-11-28T18:00:00Z");
    f.set("recurrence", R"({"pattern":{"type":"weekly","interval":1,"daysOfWeek":["monday"]},
              "range":{"type":"noEnd","startDate":"2026-11-24","endDate":"0001-01-01",
                       "numberOfOccurrences":0}})");
    const event open = must_parse(f.json());
    EXPECT_EQ(open.inv.recurrence.kind, recurrence_info::bound::open_ended);
    EXPECT_TRUE(open.inv.is_recurring());
    EXPECT_EQ(open.inv.recurrence.rule, "FREQ=WEEKLY;BYDAY=MO");
    // Far ends stay cheap: a last start after 2200 is not computed (the series is then never
    // "over"), and an end date in Outlook's "never" year is the end of that day in UTC.
    f.set("recurrence", R"({"pattern":{"type":"absoluteYearly","interval":1,"dayOfMonth":24,
              "month":11},"range":{"type":"numbered","numberOfOccurrences":500}})");
    const event long_count = must_parse(f.json());
    EXPECT_EQ(long_count.inv.recurrence.count, 500);
    EXPECT_FALSE(long_count.inv.recurrence.last_start.has_value());
    f.set("recurrence", R"({"pattern":{"type":"daily","interval":1},
              "range":{"type":"endDate","endDate":"4500-12-31"}})");
    const event far_end = must_parse(f.json());
    ASSERT_THAT(far_end.problems, IsEmpty()) << messages(far_end.problems);
    EXPECT_EQ(utc(*far_end.inv.recurrence.until), "4501-01-01T00:00:00Z");
}

// ---------------------------------------------------------------------------------------------
// Hostile and broken input

TEST(hostile, bodies_that_are_not_json_objects_are_errors_naming_where) {
    const std::vector<std::string> bodies = {
        "",
        "   ",
        "not json",
        "{",
        "{\"id\":}",
        "[1,2,3]",
        "\"a string\"",
        "42",
        "null",
        "{\"id\":\"a\"} trailing",
        "{\"id\":\"a\",}",
        "{'id':'a'}",
        "{\"subject\":\"\xff\xfe\"}",
        std::string("{\"id\":\"a\0b\"}", 12),
        "<html><body>Service Unavailable</body></html>",
        "HTTP/1.1 200 OK\r\n\r\n{}",
    };
    for (const auto& body : bodies) {
        SCOPED_TRACE(body);
        std::string error;
        EXPECT_FALSE(parse_event(body, owner, "mailbox ceo@contoso.example, event X", error));
        EXPECT_THAT(error, HasSubstr("mailbox ceo@contoso.example, event X: "));
        const auto p = parse_event_page(body, owner, "delta round");
        EXPECT_FALSE(p.value.has_value());
        EXPECT_THAT(p.error, HasSubstr("delta round: "));
        EXPECT_FALSE(parse_error(body).has_value());
        std::string member_error;
        EXPECT_FALSE(parse_member_page(body, member_error).has_value());
        EXPECT_FALSE(member_error.empty());
    }
}

TEST(hostile, a_byte_order_mark_is_skipped) {
    EXPECT_THAT(must_parse("\xEF\xBB\xBF" + meeting().json()).problems, IsEmpty());
}

TEST(hostile, deep_nesting_is_refused_without_recursion) {
    for (std::size_t depth : {65u, 1000u, 200000u}) {
        const std::string nested = std::string(depth, '[') + std::string(depth, ']');
        std::string error;
        EXPECT_FALSE(parse_event("{\"subject\":" + nested + "}", owner, "deep", error)) << depth;
        EXPECT_THAT(error, HasSubstr("deep: not JSON"));
        EXPECT_FALSE(parse_event_page("{\"value\":[" + nested + "]}", owner, "deep").value);
    }
    // Within the limit, a nested value in the wrong place is a wrong type, not a crash.
    const std::string nested = std::string(40, '[') + std::string(40, ']');
    fields f = meeting();
    f.set("subject", nested);
    EXPECT_THAT(messages(must_parse(f.json()).problems), HasSubstr("'subject' is an array"));
}

TEST(hostile, huge_strings_are_read_and_oversized_bodies_refused) {
    fields f = meeting();
    const std::string big(4 << 20, 'a');
    f.set("subject", "\"" + big + "\"")
        .set("body", "{\"contentType\":\"html\",\"content\":\"<p>" + big + "</p>\"}")
        .set("id", "\"" + std::string(100000, 'I') + "\"");
    const event e = must_parse(f.json());
    EXPECT_THAT(e.problems, IsEmpty());
    EXPECT_EQ(e.inv.subject.size(), big.size());
    EXPECT_EQ(e.inv.description.size(), big.size());

    const std::string oversized = "{\"subject\":\"" + std::string(max_json_bytes, 'a') + "\"}";
    std::string error;
    EXPECT_FALSE(parse_event(oversized, owner, "big", error));
    EXPECT_THAT(error, HasSubstr("over the limit"));
}

// Every top-level field the mapping reads, with its JSON type and whether a wrong value makes
// the event unusable (a problem) or only costs that detail (a warning).
struct field_rule {
    std::string key;
    char type;  // s string, b boolean, o object, a array
    bool critical;
};

const std::vector<field_rule>& read_fields() {
    static const std::vector<field_rule> rules = {
        {"id", 's', true},
        {"iCalUId", 's', true},
        {"type", 's', true},
        {"seriesMasterId", 's', true},
        {"isOrganizer", 'b', true},
        {"isCancelled", 'b', true},
        {"isAllDay", 'b', true},
        {"responseRequested", 'b', true},
        {"responseStatus", 'o', true},
        {"subject", 's', true},
        {"body", 'o', true},
        {"organizer", 'o', true},
        {"attendees", 'a', true},
        {"start", 'o', true},
        {"end", 'o', true},
        {"recurrence", 'o', true},
        {"changeKey", 's', false},
        {"location", 'o', false},
        {"hasAttachments", 'b', false},
        {"showAs", 's', false},
    };
    return rules;
}

TEST(hostile, wrong_types_for_every_field_are_reported_never_guessed) {
    const std::vector<std::pair<char, std::string>> wrong_values = {
        {'n', "12"},
        {'n', "-1"},
        {'n', "1.5e300"},
        {'n', "18446744073709551615"},
        {'s', "\"12\""},
        {'b', "true"},
        {'b', "false"},
        {'a', "[]"},
        {'a', "[1,\"x\"]"},
        {'o', "{}"},
        {'o', "{\"dateTime\":{}}"},
    };
    int cases = 0;
    for (const auto& rule : read_fields()) {
        for (const auto& [type, value] : wrong_values) {
            if (type == rule.type) continue;
            SCOPED_TRACE(rule.key + " = " + value);
            fields f = meeting();
            f.set(rule.key, value);
            std::string error;
            const auto e = parse_event(f.json(), owner, "typed", error);
            ASSERT_TRUE(e.has_value()) << error;
            ++cases;
            if (rule.critical) {
                EXPECT_THAT(messages(e->problems), HasSubstr("'" + rule.key + "'"));
                for (const auto& d : e->problems) {
                    EXPECT_EQ(d.file, "typed");
                    EXPECT_EQ(d.line, 0);
                }
            } else {
                EXPECT_THAT(e->problems, IsEmpty()) << messages(e->problems);
                EXPECT_THAT(joined(e->inv.warnings), HasSubstr("'" + rule.key));
            }
        }
    }
    EXPECT_GT(cases, 150);
}

struct nested_case {
    std::string name;
    std::string key;
    std::string value;
    std::string expected;  // in a problem
};

void PrintTo(const nested_case& c, std::ostream* os) {
    *os << c.name;
}

class nested_wrong : public ::testing::TestWithParam<nested_case> {};

TEST_P(nested_wrong, is_a_problem_naming_the_path) {
    fields f = meeting();
    f.set(GetParam().key, GetParam().value);
    const event e = must_parse(f.json());
    EXPECT_THAT(messages(e.problems), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    paths, nested_wrong,
    ::testing::Values(
        nested_case{"start_date_time_number", "start", R"({"dateTime":2026,"timeZone":"UTC"})",
                    "'start.dateTime' is a number, not a string"},
        nested_case{"start_date_time_missing", "start", R"({"timeZone":"UTC"})",
                    "'start.dateTime' is missing"},
        nested_case{"start_date_time_words", "start", R"({"dateTime":"tomorrow","timeZone":"UTC"})",
                    "'start.dateTime' is 'tomorrow', not a date and time"},
        nested_case{"start_impossible_date", "start",
                    R"({"dateTime":"2026-02-30T10:00:00","timeZone":"UTC"})",
                    "'start.dateTime' is '2026-02-30T10:00:00'"},
        nested_case{"start_year_9999", "start",
                    R"({"dateTime":"9999-12-31T23:59:59","timeZone":"Pacific Standard Time"})",
                    "not in the years 1900 to 2200"},
        nested_case{"start_year_1066", "start",
                    R"({"dateTime":"1066-10-14T09:00:00","timeZone":"GMT Standard Time"})",
                    "not in the years 1900 to 2200"},
        nested_case{"start_hour_25", "start",
                    R"({"dateTime":"2026-02-03T25:00:00","timeZone":"UTC"})",
                    "not a date and time"},
        nested_case{"start_time_zone_array", "start",
                    R"({"dateTime":"2026-02-03T10:00:00","timeZone":["UTC"]})",
                    "'start.timeZone' is an array"},
        nested_case{"end_string", "end", R"("2026-11-24T10:30:00")", "'end' is a string"},
        nested_case{"organizer_email_string", "organizer", R"({"emailAddress":"a@b.example"})",
                    "'organizer.emailAddress' is a string"},
        nested_case{"organizer_address_number", "organizer",
                    R"({"emailAddress":{"address":5,"name":"X"}})",
                    "'organizer.emailAddress.address' is a number"},
        nested_case{"attendee_number", "attendees", "[5]", "'attendees[0]' is a number"},
        nested_case{"attendee_address_array", "attendees",
                    R"([{"type":"required","emailAddress":{"address":["a@b.example"]}}])",
                    "'attendees[0].emailAddress.address' is an array"},
        nested_case{"attendee_type_bool", "attendees",
                    R"([{"type":true,"emailAddress":{"address":"a@b.example"}}])",
                    "'attendees[0].type' is true"},
        nested_case{"attendee_status_string", "attendees",
                    R"([{"status":"accepted","emailAddress":{"address":"a@b.example"}}])",
                    "'attendees[0].status' is a string"},
        nested_case{"attendee_response_number", "attendees",
                    R"([{"status":{"response":1},"emailAddress":{"address":"a@b.example"}}])",
                    "'attendees[0].status.response' is a number"},
        nested_case{"too_many_attendees", "attendees",
                    "[" +
                        [] {
                            std::string s;
                            for (int i = 0; i < 10001; ++i) s += (i ? ",{}" : "{}");
                            return s;
                        }() +
                        "]",
                    "more than 10000"},
        nested_case{"response_number", "responseStatus", R"({"response":3})",
                    "'responseStatus.response' is a number"},
        nested_case{"body_content_object", "body", R"({"contentType":"html","content":{}})",
                    "'body.content' is an object"},
        nested_case{"removed_single", "@removed", R"({"reason":"deleted"})", "@removed"},
        nested_case{"recurrence_without_pattern", "recurrence", R"({"range":{"type":"noEnd"}})",
                    "no pattern"},
        nested_case{"pattern_hourly", "recurrence",
                    R"({"pattern":{"type":"hourly","interval":1},"range":{"type":"noEnd"}})",
                    "'recurrence.pattern.type' is 'hourly'"},
        nested_case{"interval_zero", "recurrence",
                    R"({"pattern":{"type":"daily","interval":0},"range":{"type":"noEnd"}})",
                    "'recurrence.pattern.interval' is 0"},
        nested_case{"interval_float", "recurrence",
                    R"({"pattern":{"type":"daily","interval":1e300},"range":{"type":"noEnd"}})",
                    "'recurrence.pattern.interval' is a number, not an integer"},
        nested_case{
            "interval_huge", "recurrence",
            R"({"pattern":{"type":"daily","interval":18446744073709551615},"range":{"type":"noEnd"}})",
            "'recurrence.pattern.interval' is out of range"},
        nested_case{
            "funday", "recurrence",
            R"({"pattern":{"type":"weekly","daysOfWeek":["funday"]},"range":{"type":"noEnd"}})",
            "holds 'funday', not a day of the week"},
        nested_case{"day_number", "recurrence",
                    R"({"pattern":{"type":"weekly","daysOfWeek":[1]},"range":{"type":"noEnd"}})",
                    "holds a number, not a day of the week"},
        nested_case{
            "relative_without_days", "recurrence",
            R"({"pattern":{"type":"relativeMonthly","index":"first"},"range":{"type":"noEnd"}})",
            "without daysOfWeek"},
        nested_case{
            "index_fifth", "recurrence",
            R"({"pattern":{"type":"relativeMonthly","daysOfWeek":["monday"],"index":"fifth"},
                        "range":{"type":"noEnd"}})",
            "'recurrence.pattern.index' is 'fifth'"},
        nested_case{
            "numbered_negative", "recurrence",
            R"({"pattern":{"type":"daily"},"range":{"type":"numbered","numberOfOccurrences":-1}})",
            "'recurrence.range.numberOfOccurrences' is -1"},
        nested_case{"numbered_missing", "recurrence",
                    R"({"pattern":{"type":"daily"},"range":{"type":"numbered"}})",
                    "is missing in a numbered recurrence"},
        nested_case{"end_date_words", "recurrence",
                    R"({"pattern":{"type":"daily"},"range":{"type":"endDate","endDate":"soon"}})",
                    "'recurrence.range.endDate' is 'soon', not a date"},
        nested_case{"range_forever", "recurrence",
                    R"({"pattern":{"type":"daily"},"range":{"type":"forever"}})",
                    "'recurrence.range.type' is 'forever'"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(hostile, missing_id_or_start_is_a_problem_and_missing_fields_do_not_crash) {
    fields f = meeting();
    f.remove("id").remove("@odata.etag");
    EXPECT_THAT(messages(must_parse(f.json()).problems), HasSubstr("no id"));
    f = meeting();
    f.remove("start");
    const event no_start = must_parse(f.json());
    EXPECT_THAT(messages(no_start.problems), HasSubstr("no start"));
    EXPECT_FALSE(no_start.inv.has_start);
    f.set("id", "null");
    EXPECT_THAT(messages(must_parse(f.json()).problems), HasSubstr("no id"));
    // An empty object: problems, no crash, nothing invented.
    const event empty = must_parse("{}");
    EXPECT_THAT(messages(empty.problems), AllOf(HasSubstr("no id"), HasSubstr("no start")));
    EXPECT_EQ(empty.inv.uid, "");
    EXPECT_FALSE(empty.inv.owner.has_value());
    // Every field removed in turn: never a crash; only id and start are indispensable.
    for (const auto& rule : read_fields()) {
        SCOPED_TRACE(rule.key);
        fields g = meeting();
        g.remove(rule.key);
        const event e = must_parse(g.json());
        if (rule.key == "id" || rule.key == "start") {
            EXPECT_THAT(e.problems, Not(IsEmpty()));
        } else {
            EXPECT_THAT(e.problems, IsEmpty()) << messages(e.problems);
        }
    }
}

TEST(hostile, warnings_and_problems_are_capped) {
    std::string many = "[";
    for (int i = 0; i < 5000; ++i) many += std::string(i ? "," : "") + "{\"type\":\"required\"}";
    fields f = meeting();
    f.set("attendees", many + "]");
    const event e = must_parse(f.json());
    EXPECT_LE(e.inv.warnings.size(), 51u);
    EXPECT_THAT(e.inv.warnings.back(), HasSubstr("more warnings"));
    std::string bad = "[";
    for (int i = 0; i < 5000; ++i) bad += std::string(i ? "," : "") + "1";
    f.set("attendees", bad + "]");
    const event b = must_parse(f.json());
    EXPECT_LE(b.problems.size(), 51u);
}

// ---------------------------------------------------------------------------------------------
// Pages

TEST(pages, items_that_are_not_events_are_kept_as_problems_and_removed_ones_listed) {
    const std::string body =
        "{\"@odata.nextLink\":\"https://graph.microsoft.com/v1.0/next\","
        "\"value\":[" +
        meeting().json() +
        ",7,\"x\",{\"id\":\"gone\",\"@removed\":{\"reason\":\"changed\"}},"
        "{\"@removed\":{\"reason\":\"deleted\"}},{\"id\":\"AAMk2\"}]}";
    const page p = must_parse_page(body, owner, "mailbox alex: delta round");
    EXPECT_EQ(p.next_link, "https://graph.microsoft.com/v1.0/next");
    EXPECT_THAT(p.removed, ElementsAre("gone"));
    ASSERT_EQ(p.events.size(), 5u);
    EXPECT_THAT(p.events[0].problems, IsEmpty());
    EXPECT_THAT(messages(p.events[1].problems),
                HasSubstr("mailbox alex: delta round: value[1]: is a number, not an event object"));
    EXPECT_THAT(messages(p.events[2].problems), HasSubstr("value[2]: is a string"));
    EXPECT_THAT(messages(p.events[3].problems), HasSubstr("value[4]: is marked @removed"));
    EXPECT_THAT(messages(p.events[4].problems),
                AllOf(HasSubstr("value[5] (id 'AAMk2'): has no start"), Not(HasSubstr("no id"))));
    EXPECT_EQ(p.events[4].inv.source.file, "mailbox alex: delta round");
}

TEST(pages, bodies_that_are_not_pages_are_errors) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{}", "no 'value' array"},
        {"{\"value\":{}}", "'value' is an object"},
        {"{\"value\":null}", "no 'value' array"},
        {"{\"value\":[],\"@odata.nextLink\":5}", "'@odata.nextLink' is a number"},
        {"{\"value\":[],\"@odata.deltaLink\":[\"x\"]}", "'@odata.deltaLink' is an array"},
        {"[]", "not a Graph page"},
        {"{\"error\":{\"code\":\"ErrorAccessDenied\",\"message\":\"Access is denied.\"}}",
         "no 'value' array"},
    };
    for (const auto& [body, expected] : cases) {
        SCOPED_TRACE(body);
        const auto p = parse_event_page(body, owner, "round 7");
        EXPECT_FALSE(p.value.has_value());
        EXPECT_THAT(p.error, AllOf(HasSubstr("round 7: "), HasSubstr(expected)));
    }
    // An empty page is a page.
    const page empty = must_parse_page("{\"value\":[],\"@odata.deltaLink\":\"https://d\"}");
    EXPECT_THAT(empty.events, IsEmpty());
    EXPECT_EQ(empty.delta_link, "https://d");
}

TEST(pages, a_page_of_millions_of_items_is_refused) {
    std::string body = "{\"value\":[";
    for (int i = 0; i < 10001; ++i) body += (i ? ",{}" : "{}");
    body += "]}";
    const auto p = parse_event_page(body, owner, "huge");
    EXPECT_FALSE(p.value.has_value());
    EXPECT_THAT(p.error, HasSubstr("more than 10000"));
}

// ---------------------------------------------------------------------------------------------
// Errors, members, response bodies

TEST(errors, graph_and_identity_platform_error_bodies) {
    auto e = parse_error(R"({"error":{"code":"ErrorAccessDenied",
        "message":"Access to OData is disabled: outside the application access policy.",
        "innerError":{"date":"2026-11-24T10:00:00","request-id":"x"}}})");
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, "ErrorAccessDenied");
    EXPECT_EQ(e->message, "Access to OData is disabled: outside the application access policy.");
    e = parse_error(
        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret."})");
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, "invalid_client");
    EXPECT_EQ(e->message, "AADSTS7000215: Invalid client secret.");
    EXPECT_FALSE(parse_error(R"({"value":[]})").has_value());
    EXPECT_FALSE(parse_error(R"({"error":5})").has_value());
    e = parse_error(R"({"error":{"code":7,"message":["x"]}})");
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code, "");
    EXPECT_EQ(e->message, "");
}

TEST(errors, long_messages_are_trimmed_on_a_character_boundary) {
    std::string long_message;
    for (int i = 0; i < 2000; ++i) long_message += "\xC3\xA9";  // é
    const auto e =
        parse_error("{\"error\":{\"code\":\"X\",\"message\":\"  " + long_message + "\"}}");
    ASSERT_TRUE(e.has_value());
    EXPECT_LE(e->message.size(), 1000u + 3u);
    EXPECT_EQ(e->message.substr(0, 4), "\xC3\xA9\xC3\xA9");
    EXPECT_EQ(e->message.substr(e->message.size() - 5), "\xC3\xA9…");
}

TEST(members, users_with_mail_or_upn_lower_cased_others_skipped) {
    std::string error;
    const auto m = parse_member_page(R"({
        "@odata.nextLink":"https://graph.microsoft.com/v1.0/groups/g/transitiveMembers/microsoft.graph.user?$skiptoken=x",
        "value":[
          {"@odata.type":"#microsoft.graph.user","id":"u1","mail":"Dana.Whitfield@Contoso.example",
           "userPrincipalName":"dana@contoso.onmicrosoft.com"},
          {"@odata.type":"#microsoft.graph.user","id":"u2","mail":null,
           "userPrincipalName":"Alex_Fabrikam.example#EXT#@Contoso.onmicrosoft.com"},
          {"id":"u3","mail":"","userPrincipalName":"Chris@Contoso.example"},
          {"@odata.type":"#microsoft.graph.user","id":"u4"},
          {"@odata.type":"#microsoft.graph.group","id":"g2","mail":"team@contoso.example"},
          {"@odata.type":"#microsoft.graph.user","id":"u5","mail":7,"userPrincipalName":"e@x.example"},
          5, "x", null
        ]})",
                                     error);
    ASSERT_TRUE(m.has_value()) << error;
    ASSERT_EQ(m->members.size(), 4u);
    EXPECT_EQ(m->members[0].id, "u1");
    EXPECT_EQ(m->members[0].address, "dana.whitfield@contoso.example");
    EXPECT_EQ(m->members[1].address, "alex_fabrikam.example#ext#@contoso.onmicrosoft.com");
    EXPECT_EQ(m->members[2].address, "chris@contoso.example");
    EXPECT_EQ(m->members[3].address, "e@x.example");
    EXPECT_THAT(m->next_link, HasSubstr("$skiptoken=x"));

    const auto last = parse_member_page(R"({"value":[]})", error);
    ASSERT_TRUE(last.has_value());
    EXPECT_TRUE(last->next_link.empty());
    EXPECT_FALSE(parse_member_page(R"({"value":"x"})", error).has_value());
    EXPECT_THAT(error, HasSubstr("no 'value' array"));
}

TEST(response_body, is_json_with_proper_escaping) {
    EXPECT_EQ(response_body("Thanks!", true), R"({"comment":"Thanks!","sendResponse":true})");
    EXPECT_EQ(response_body("", false), R"({"comment":"","sendResponse":false})");
    EXPECT_EQ(
        response_body("Hi \"Brianna\",\n\tno agenda \\ no meeting.\r\n", true),
        R"({"comment":"Hi \"Brianna\",\n\tno agenda \\ no meeting.\r\n","sendResponse":true})");
    // Non-ASCII stays UTF-8; control characters are escaped; bytes that are not UTF-8 become
    // U+FFFD so that Graph never refuses the body.
    EXPECT_EQ(response_body("Grüße \x01 \xff", true),
              "{\"comment\":\"Grüße \\u0001 \xEF\xBF\xBD\",\"sendResponse\":true}");
    // What agendad sends reads back as it was meant (a comment with braces and quotes).
    const std::string tricky = R"(}{"error":{"code":"x"}})";
    EXPECT_FALSE(parse_error(response_body(tricky, true)).has_value());
}

}  // namespace
}  // namespace agendad::calendar::graph
