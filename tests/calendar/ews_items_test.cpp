// Tests for calendar/ews/ews_items: what agendad reads out of EWS CalendarItems, checked against
// Microsoft's documentation examples and real Exchange Online recordings, against the iCalendar
// parser for the same meeting (the labelled invitations), and against hostile input.
#include "calendar/ews/ews_items.h"
#include "support/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/ical/parse.h"
#include "calendar/xml/xml.h"

namespace agendad::calendar::ews {
namespace {

namespace fs = std::filesystem;
using agendad::test_support::read_file;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

// ---------------------------------------------------------------------------------------------
// Helpers

const fs::path docs_corpus = fs::path(AGENDAD_SHARED_DIR "/corpus/ews-docs-examples");
const fs::path recordings =
    fs::path(AGENDAD_SHARED_DIR "/corpus/ews-php-ews-recordings/response-bodies");
const fs::path labelled = fs::path(AGENDAD_SHARED_DIR "/labeled-invitations/invites");
constexpr std::string_view owner = "alex.morgan@contoso.example";

std::string utc(time_point t) {
    return format_utc(t);
}

std::string messages(const std::vector<diagnostic>& problems) {
    std::string out;
    for (const auto& p : problems) out += p.to_string() + "\n";
    return out;
}

// A GetItem answer around `items` (t:CalendarItem elements), as Exchange 2013 and later write it.
std::string envelope(const std::string& items) {
    return R"(<?xml version="1.0" encoding="utf-8"?>)"
           R"(<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>)"
           R"(<m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages")"
           R"( xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">)"
           R"(<m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Success">)"
           R"(<m:ResponseCode>NoError</m:ResponseCode><m:Items>)" +
           items +
           "</m:Items></m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"
           "</s:Body></s:Envelope>";
}

// <t:name>text</t:name>, the text escaped.
std::string el(std::string_view name, std::string_view text) {
    const std::string n(name);
    return "<t:" + n + ">" + xml::escape(text) + "</t:" + n + ">";
}

std::string mailbox(std::string_view name, std::string_view address,
                    std::string_view routing = "SMTP") {
    return "<t:Mailbox>" + el("Name", name) + el("EmailAddress", address) +
           el("RoutingType", routing) + "</t:Mailbox>";
}

std::string attendee_xml(std::string_view name, std::string_view address,
                         std::string_view response) {
    return "<t:Attendee>" + mailbox(name, address) + el("ResponseType", response) + "</t:Attendee>";
}

// A CalendarItem built element by element: each element by its name, replaceable.
class item_builder {
  public:
    item_builder& set(const std::string& name, std::string element_xml) {
        for (auto& [n, x] : elements_) {
            if (n == name) {
                x = std::move(element_xml);
                return *this;
            }
        }
        elements_.emplace_back(name, std::move(element_xml));
        return *this;
    }
    item_builder& text(const std::string& name, std::string_view value) {
        return set(name, el(name, value));
    }
    item_builder& remove(const std::string& name) {
        std::erase_if(elements_, [&](const auto& e) { return e.first == name; });
        return *this;
    }
    std::string xml() const {
        std::string out = "<t:CalendarItem>";
        for (const auto& e : elements_) out += e.second;
        return out + "</t:CalendarItem>";
    }

  private:
    std::vector<std::pair<std::string, std::string>> elements_;
};

constexpr std::string_view series_uid =
    "040000008200E00074C5B7101A82E00800000000D0C1B8A5C05FDB01000000000000000010000000"
    "5B6F7A2C1E4D3A4B8C9D0E1F2A3B4C5D";

// A meeting request in the invitee's (the owner's) calendar, as GetItem with AllProperties
// returns it: an external organizer, the owner required, a colleague optional, a room.
item_builder meeting() {
    item_builder b;
    b.set("ItemId", R"(<t:ItemId Id="AAMkAGI1AAA=" ChangeKey="DwAAABYAAA=="/>)")
        .text("Subject", "Quarterly review")
        .set("Body", R"(<t:Body BodyType="HTML">)" +
                         xml::escape("<html><body><p>Agenda:</p><ul><li>Numbers</li>"
                                     "<li>Hiring</li></ul></body></html>") +
                         "</t:Body>")
        .text("HasAttachments", "false")
        .text("Sensitivity", "Normal")
        .text("UID", series_uid)
        .text("DateTimeStamp", "2026-11-20T08:00:00Z")
        .text("Start", "2026-11-24T18:00:00Z")
        .text("End", "2026-11-24T18:30:00Z")
        .text("IsAllDayEvent", "false")
        .text("LegacyFreeBusyStatus", "Tentative")
        .text("Location", "Room 1")
        .text("IsMeeting", "true")
        .text("IsCancelled", "false")
        .text("IsResponseRequested", "true")
        .text("CalendarItemType", "Single")
        .text("MyResponseType", "NoResponseReceived")
        .set("Organizer", "<t:Organizer>" +
                              mailbox("Brianna Cole", "Brianna.Cole@VerityCloud.example") +
                              "</t:Organizer>")
        .set("RequiredAttendees",
             "<t:RequiredAttendees>" +
                 attendee_xml("Alex Morgan", "Alex.Morgan@contoso.example", "Unknown") +
                 "</t:RequiredAttendees>")
        .set("OptionalAttendees", "<t:OptionalAttendees>" +
                                      attendee_xml("Chris Doe", "chris@contoso.example", "Accept") +
                                      "</t:OptionalAttendees>")
        .set("Resources", "<t:Resources>" +
                              attendee_xml("Room 1", "room1@contoso.example", "Accept") +
                              "</t:Resources>")
        .text("AppointmentSequenceNumber", "0")
        .set(
            "StartTimeZone",
            R"x(<t:StartTimeZone Id="Pacific Standard Time" Name="(UTC-08:00) Pacific Time (US &amp; Canada)"/>)x");
    return b;
}

std::vector<calendar_item> parse_body(const std::string& body, std::string_view mailbox_address,
                                      std::string& error) {
    return parse_calendar_items(body, mailbox_address, "test", error);
}

calendar_item must_parse(const item_builder& b, std::string_view mailbox_address = owner) {
    std::string error;
    auto items = parse_body(envelope(b.xml()), mailbox_address, error);
    EXPECT_EQ(error, "");
    if (items.size() != 1) {
        ADD_FAILURE() << "expected one item, got " << items.size();
        return {};
    }
    return std::move(items.front());
}

std::vector<calendar_item> corpus_items(const fs::path& file,
                                        std::string_view mailbox_address = owner) {
    const std::string body = read_file(file);
    EXPECT_FALSE(body.empty()) << file;
    std::string error;
    auto items = parse_calendar_items(body, mailbox_address, file.filename().string(), error);
    EXPECT_EQ(error, "") << file;
    return items;
}

bool has_problem(const calendar_item& it, std::string_view text) {
    for (const auto& p : it.problems) {
        if (p.message.find(text) != std::string::npos) return true;
    }
    return false;
}

bool has_warning(const calendar_item& it, std::string_view text) {
    for (const auto& w : it.inv.warnings) {
        if (w.find(text) != std::string::npos) return true;
    }
    return false;
}

// ---------------------------------------------------------------------------------------------
// Microsoft's documentation examples

TEST(ews_corpus, getitem_example_with_all_properties_is_one_item_despite_conflicting_meetings) {
    // The item lists two ConflictingMeetings, themselves t:CalendarItem: parts of the item.
    const auto items =
        corpus_items(docs_corpus / "getitem-operation-calendar-item.04.GetItem.response.xml");
    ASSERT_EQ(items.size(), 1u);
    const calendar_item& it = items[0];
    EXPECT_THAT(it.problems, IsEmpty()) << messages(it.problems);
    EXPECT_EQ(it.id, "ASUAdT");
    EXPECT_EQ(it.change_key, "otlIqB==");
    EXPECT_EQ(it.inv.source.item_id, "ASUAdT");
    EXPECT_EQ(it.inv.source.change_key, "otlIqB==");
    EXPECT_EQ(it.inv.source.file, "getitem-operation-calendar-item.04.GetItem.response.xml");
    EXPECT_EQ(it.calendar_item_type, "Single");
    EXPECT_EQ(it.my_response_type, "Organizer");
    EXPECT_TRUE(it.is_organizer);
    EXPECT_FALSE(it.is_meeting);
    EXPECT_EQ(it.sensitivity, "Normal");
    EXPECT_EQ(it.inv.organizer.address, "someone@example.com");
    EXPECT_EQ(it.inv.organizer.name, "Bob");
    EXPECT_EQ(utc(it.inv.start), "2006-06-16T00:30:00Z");
    EXPECT_EQ(utc(it.inv.end), "2006-06-16T01:00:00Z");
    EXPECT_EQ(it.inv.sequence, 0);
    EXPECT_EQ(it.inv.method, method::none);
    EXPECT_EQ(it.inv.transp, transparency::opaque);
    EXPECT_FALSE(it.inv.owner.has_value());  // the owner organizes it: no attendee entry
    // Exchange 2007's TimeZone names the organizer's zone: 17:30 on the 15th in Redmond.
    EXPECT_EQ(it.inv.start_local.year, 2006);
    EXPECT_EQ(it.inv.start_local.month, 6);
    EXPECT_EQ(it.inv.start_local.day, 15);
    EXPECT_EQ(it.inv.start_local.hour, 17);
    EXPECT_EQ(it.inv.start_local.minute, 30);
    EXPECT_EQ(it.inv.start_local.zone, "Pacific Standard Time");
    // No UID in Exchange 2007's answer: the ItemId stands in, and says so.
    EXPECT_EQ(it.inv.uid, "ASUAdT");
    EXPECT_TRUE(has_warning(it, "no UID")) << ::testing::PrintToString(it.inv.warnings);
}

TEST(ews_corpus, getitem_example_with_organizer_only) {
    const auto items =
        corpus_items(docs_corpus / "getitem-operation-calendar-item.03.GetItem.response.xml");
    ASSERT_EQ(items.size(), 1u);
    EXPECT_THAT(items[0].problems, IsEmpty()) << messages(items[0].problems);
    EXPECT_EQ(items[0].inv.organizer.address, "someone@example.com");
    EXPECT_EQ(utc(items[0].inv.start), "2006-06-16T00:30:00Z");
    EXPECT_EQ(items[0].inv.start_local.zone, "UTC");  // no zone given: UTC as written
}

TEST(ews_corpus, id_only_items_have_no_start_and_are_never_acted_on) {
    for (const char* name : {"getitem-operation-calendar-item.02.GetItem.response.xml",
                             "how-to-create-appointments-and-meetings-by-using-ews-in-exchange-"
                             "2013.04.GetItem.response.xml",
                             "how-to-create-appointments-and-meetings-by-using-ews-in-exchange-"
                             "2013.08.GetItem.response.xml"}) {
        SCOPED_TRACE(name);
        const auto items = corpus_items(docs_corpus / name);
        ASSERT_EQ(items.size(), 1u);
        EXPECT_FALSE(items[0].inv.has_start);
        EXPECT_TRUE(has_problem(items[0], "has no Start")) << messages(items[0].problems);
        EXPECT_EQ(items[0].problems[0].file, name);
    }
    const auto tennis = corpus_items(docs_corpus /
                                     "how-to-create-appointments-and-meetings-by-using-ews-in-"
                                     "exchange-2013.04.GetItem.response.xml");
    ASSERT_EQ(tennis.size(), 1u);
    EXPECT_EQ(tennis[0].inv.subject, "Tennis lesson");
    EXPECT_EQ(tennis[0].id, "AAMkA");
}

TEST(ews_corpus, recurring_series_example_gives_a_numbered_weekly_rule) {
    const auto items = corpus_items(
        docs_corpus /
        "how-to-create-a-recurring-series-by-using-ews-in-exchange.04.GetItem.response.xml");
    ASSERT_EQ(items.size(), 1u);
    const calendar_item& it = items[0];
    EXPECT_EQ(it.inv.subject, "Weekly Update Meeting");
    EXPECT_EQ(it.calendar_item_type, "RecurringMaster");
    EXPECT_EQ(it.id, "AAMkAD");  // not FirstOccurrence's or LastOccurrence's ItemId
    EXPECT_EQ(it.change_key, "DwAAAB");
    EXPECT_EQ(it.inv.recurrence.kind, recurrence_info::bound::count);
    EXPECT_EQ(it.inv.recurrence.frequency, "WEEKLY");
    EXPECT_EQ(it.inv.recurrence.count, 10);
    EXPECT_EQ(it.inv.recurrence.rule, "FREQ=WEEKLY;COUNT=10;BYDAY=SA");
    // The example asked for the recurrence only: no Start (FirstOccurrence's is not the
    // item's), so nobody may act on it.
    EXPECT_FALSE(it.inv.has_start);
    EXPECT_TRUE(has_problem(it, "has no Start"));
}

TEST(ews_corpus, batch_example_reads_three_items_with_html_bodies_and_attendees) {
    const auto items = corpus_items(
        docs_corpus /
        "how-to-process-calendar-items-in-batches-in-exchange.04.GetItem.response.xml");
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[0].inv.subject, "Review current quarterly deliverables");
    EXPECT_EQ(items[0].inv.location, "Local food bank");
    EXPECT_EQ(utc(items[0].inv.start), "2014-01-19T18:59:07Z");
    EXPECT_EQ(utc(items[0].inv.end), "2014-01-19T21:59:07Z");
    // The documentation escapes the HTML twice; its words are read all the same.
    EXPECT_THAT(
        items[0].inv.description,
        HasSubstr("Wrap up all outstanding deliverables for this quarter and prepare for Q2."));
    EXPECT_EQ(items[1].inv.subject, "Food bank delivery");
    EXPECT_EQ(items[1].calendar_item_type, "RecurringMaster");
    EXPECT_EQ(items[2].inv.subject, "Code Blast");
    EXPECT_EQ(items[2].inv.location, "The lounge");
    EXPECT_EQ(utc(items[2].inv.end), "2014-01-21T00:59:08Z");
    ASSERT_EQ(items[2].inv.attendees.size(), 3u);
    const attendee& mack = items[2].inv.attendees[0];
    EXPECT_EQ(mack.address, "mack@contoso.com");
    EXPECT_EQ(mack.name, "");  // the "name" is only the address
    EXPECT_EQ(mack.role, role::required);
    EXPECT_EQ(mack.partstat, partstat::needs_action);
    EXPECT_EQ(items[2].inv.attendees[1].address, "sadie@contoso.com");
    EXPECT_EQ(items[2].inv.attendees[2].address, "magdalena@contoso.com");
    // Attendees but no organizer: who invites is unknown, so the item is not acted on.
    EXPECT_TRUE(has_problem(items[2], "no Organizer")) << messages(items[2].problems);
    EXPECT_THAT(items[2].problems[0].message, HasSubstr("item[2]"));
    // The first two are the owner's own appointments: no organizer needed.
    EXPECT_THAT(items[0].problems, IsEmpty()) << messages(items[0].problems);
}

TEST(ews_corpus, a_meeting_request_is_not_a_calendar_item) {
    std::string error;
    const auto items = parse_calendar_items(
        read_file(
            docs_corpus /
            "how-to-propose-a-new-meeting-time-by-using-ews-in-exchange.02.GetItem.response.xml"),
        owner, "propose", error);
    EXPECT_EQ(error, "");
    EXPECT_THAT(items, IsEmpty());
}

TEST(ews_corpus, every_example_is_read_and_broken_ones_are_refused) {
    std::size_t files = 0, items_read = 0;
    for (const fs::path& dir : {docs_corpus, recordings}) {
        for (const auto& entry : fs::directory_iterator(dir)) {
            if (entry.path().extension() != ".xml") continue;
            const std::string name = entry.path().filename().string();
            SCOPED_TRACE(name);
            std::string error;
            const auto items =
                parse_calendar_items(read_file(entry.path()), owner, "corpus", error);
            // Autodiscover's failure recordings are HTML error pages, not XML.
            if (!name.starts_with("ExchangeAutodiscoverTest")) {
                EXPECT_EQ(error, "");
            }
            ++files;
            items_read += items.size();
            for (const auto& it : items) EXPECT_EQ(it.inv.source.file, "corpus");
        }
    }
    EXPECT_GT(files, 100u);
    EXPECT_GT(items_read, 20u);
    // Examples published broken: refused with a reason (a few are broken only in ways that
    // leave well-formed XML, such as an elided attribute value; those hold no calendar item).
    std::size_t refused = 0;
    for (const auto& entry : fs::directory_iterator(docs_corpus / "not-well-formed")) {
        std::string error;
        const auto items =
            parse_calendar_items(read_file(entry.path()), owner, "broken.xml", error);
        if (!error.empty()) {
            EXPECT_THAT(items, IsEmpty()) << entry.path();
            EXPECT_THAT(error, HasSubstr("broken.xml: ")) << entry.path();
            ++refused;
        }
    }
    EXPECT_GE(refused, 9u);
}

TEST(ews_corpus, cut_and_damaged_examples_never_crash_a_reader) {
    for (const char* name :
         {"getitem-operation-calendar-item.04.GetItem.response.xml",
          "how-to-process-calendar-items-in-batches-in-exchange.04.GetItem.response.xml"}) {
        const std::string body = read_file(docs_corpus / name);
        ASSERT_FALSE(body.empty());
        for (std::size_t cut = 0; cut < body.size(); cut += 97) {
            std::string error;
            const auto items = parse_calendar_items(body.substr(0, cut), owner, "cut", error);
            EXPECT_TRUE(items.empty() || error.empty());
        }
        for (std::size_t at = 0; at < body.size(); at += 53) {
            std::string damaged = body;
            damaged[at] = static_cast<char>(damaged[at] ^ 0x5A);
            std::string error;
            const auto items = parse_calendar_items(damaged, owner, "damaged", error);
            EXPECT_TRUE(items.empty() || error.empty());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Real Exchange Online answers (php-ews recordings)

TEST(ews_recordings, a_single_appointment_from_exchange_online) {
    const auto items =
        corpus_items(recordings / "CalendarTest.testGetCalendarItem.05.GetItemResponse.xml");
    ASSERT_EQ(items.size(), 1u);
    const calendar_item& it = items[0];
    EXPECT_THAT(it.problems, IsEmpty()) << messages(it.problems);
    EXPECT_THAT(it.inv.warnings, IsEmpty());
    EXPECT_EQ(it.inv.subject, "Test Get Item 2");
    EXPECT_EQ(it.inv.uid,
              "040000008200E00074C5B7101A82E008000000005BF26DCD7C87D601000000000000000010000000"
              "E0535FAE67E4694A9A6DA9CEE56E079B");
    EXPECT_EQ(it.inv.organizer.address, "garethp@garethp2.onmicrosoft.com");
    EXPECT_EQ(it.inv.organizer.name, "Gareth Parker");
    EXPECT_EQ(utc(it.inv.start), "2015-07-01T08:00:00Z");
    EXPECT_EQ(utc(it.inv.end), "2015-07-01T09:00:00Z");
    EXPECT_EQ(it.inv.start_local.zone, "UTC");
    EXPECT_EQ(it.inv.start_local.hour, 8);
    ASSERT_TRUE(it.date_time_stamp.has_value());
    EXPECT_EQ(utc(*it.date_time_stamp), "2020-09-10T14:15:14Z");
    EXPECT_TRUE(it.is_response_requested);
    EXPECT_TRUE(it.is_organizer);
    EXPECT_FALSE(it.is_meeting);
    EXPECT_EQ(it.inv.sequence, 0);
    EXPECT_FALSE(it.inv.is_recurring());
    EXPECT_TRUE(it.id.starts_with("AAMkADllMTlhYmUxLTg5MTct"));
    EXPECT_EQ(it.change_key, "DwAAABYAAAC30utV9Qm1Tp6i563HuBDKAAER7BnE");
}

TEST(ews_recordings, a_recurring_master_knows_its_rule_and_last_occurrence) {
    const auto items =
        corpus_items(recordings / "CalendarTest.testRecurringEventSupport.05.GetItemResponse.xml");
    ASSERT_EQ(items.size(), 1u);
    const calendar_item& it = items[0];
    EXPECT_THAT(it.problems, IsEmpty()) << messages(it.problems);
    // TimeZone is a display name here ("(UTC+00:00) Monrovia, Reykjavik"), not a zone id:
    // ignored without a warning.
    EXPECT_THAT(it.inv.warnings, IsEmpty());
    EXPECT_EQ(it.inv.subject, "Weekly Team Meeting");
    EXPECT_EQ(it.inv.location, "Conference Room A");
    EXPECT_EQ(it.calendar_item_type, "RecurringMaster");
    EXPECT_EQ(it.inv.recurrence.rule, "FREQ=WEEKLY;COUNT=4;BYDAY=WE");
    EXPECT_EQ(it.inv.recurrence.kind, recurrence_info::bound::count);
    EXPECT_EQ(it.inv.recurrence.count, 4);
    EXPECT_EQ(utc(it.inv.start), "2025-07-02T10:00:00Z");
    // The rule walked from the start ends where Exchange's LastOccurrence says.
    ASSERT_TRUE(it.inv.recurrence.last_start.has_value());
    EXPECT_EQ(utc(*it.inv.recurrence.last_start), "2025-07-23T10:00:00Z");
    EXPECT_EQ(it.inv.organizer.address, "user@test.user.com");
    EXPECT_EQ(it.inv.organizer.name, "test.user");
}

// ---------------------------------------------------------------------------------------------
// The same meeting from EWS and from iCalendar reads the same (the labelled invitations)

constexpr std::string_view dana = "dana.whitfield@contoso.example";

const std::string teams_block =
    "________________________________________________________________________________\n"
    "Microsoft Teams meeting\n"
    "Join on your computer, mobile app or room device\n"
    "Click here to join the meeting<https://teams.microsoft.com/l/meetup-join/"
    "19%3ameeting_NjQ2ZjE4@thread.v2/0?context=%7b%22Tid%22%3a%22a1%22%7d>\n"
    "Meeting ID: 245 118 905 331\n"
    "Passcode: 7xQm2P\n"
    "Download Teams<https://www.microsoft.com/microsoft-teams/download-app> | Join on the "
    "web<https://www.microsoft.com/microsoft-teams/join-a-meeting>\n"
    "Learn More<https://aka.ms/JoinTeamsMeeting> | Meeting "
    "options<https://teams.microsoft.com/meetingOptions/?organizerId=1>\n"
    "________________________________________________________________________________";

// The owner's copy of an invitation as Exchange keeps it in the calendar (before any answer).
item_builder invitee_copy(std::string_view uid, std::string_view subject,
                          std::string_view organizer_name, std::string_view organizer_address,
                          std::string_view start, std::string_view end) {
    item_builder b;
    b.set("ItemId", R"(<t:ItemId Id="AAMkAD)" + std::string(subject.substr(0, 3)) +
                        R"(" ChangeKey="DwAAAB"/>)")
        .text("Subject", subject)
        .set("Body", R"(<t:Body BodyType="Text"/>)")
        .text("UID", uid)
        .text("Start", start)
        .text("End", end)
        .text("IsAllDayEvent", "false")
        .text("LegacyFreeBusyStatus", "Tentative")
        .text("IsMeeting", "true")
        .text("IsCancelled", "false")
        .text("IsResponseRequested", "true")
        .text("CalendarItemType", "Single")
        .text("MyResponseType", "NoResponseReceived")
        .set("Organizer",
             "<t:Organizer>" + mailbox(organizer_name, organizer_address) + "</t:Organizer>")
        .set("RequiredAttendees", "<t:RequiredAttendees>" +
                                      attendee_xml("Dana Whitfield", dana, "Unknown") +
                                      "</t:RequiredAttendees>")
        .text("AppointmentSequenceNumber", "0")
        .set(
            "StartTimeZone",
            R"x(<t:StartTimeZone Id="Pacific Standard Time" Name="(UTC-08:00) Pacific Time (US &amp; Canada)"/>)x");
    return b;
}

std::string text_body(std::string_view text) {
    return R"(<t:Body BodyType="Text">)" + xml::escape(text) + "</t:Body>";
}

struct twin {
    std::string name;
    std::string file;  // in labeled-invitations/invites
    item_builder ews;
};

std::vector<twin> twins() {
    std::vector<twin> out;
    // A vendor's cold invitation with only Teams boilerplate around "15 minutes to connect".
    out.push_back({"d01_vendor_cold_invite", "d01.ics",
                   invitee_copy("040000008200E00074C5B7101A82E008000000002FAB3F1C4A222FAD000000000"
                                "0000000100000000EFE6A84B57288BD3E45AF98D",
                                "Quick intro - 15 minutes?", "Chris Dalton",
                                "chris.dalton@pipelinepro.example", "2026-11-24T18:00:00Z",
                                "2026-11-24T18:15:00Z")
                       .set("Body", text_body("Hi Dana,\n\nHope you're well! Would love to grab "
                                              "15 minutes to connect.\n\nBest,\nChris\n\n" +
                                              teams_block))
                       .text("Location", "Microsoft Teams Meeting")});
    // A known vendor's open-ended monthly check-in (second Tuesday).
    out.push_back(
        {"d04_recurring_check_in", "d04.ics",
         invitee_copy("040000008200E00074C5B7101A82E008000000006048096E9F269B470000000000000000"
                      "10000000091E5C84DDAC99546126910F7",
                      "AcmeCloud monthly check-in", "Kelly Owens", "kelly.owens@acmecloud.example",
                      "2026-12-08T19:00:00Z", "2026-12-08T19:30:00Z")
             .set("Body", text_body(teams_block))
             .text("CalendarItemType", "RecurringMaster")
             .set("Recurrence",
                  "<t:Recurrence><t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval>"
                  "<t:DaysOfWeek>Tuesday</t:DaysOfWeek><t:DayOfWeekIndex>Second</t:DayOfWeekIndex>"
                  "</t:RelativeMonthlyRecurrence><t:NoEndRecurrence>"
                  "<t:StartDate>2026-12-08-08:00</t:StartDate></t:NoEndRecurrence></"
                  "t:Recurrence>")});
    // An internal "Quick sync" without a body, across midnight UTC.
    out.push_back({"d07_internal_quick_sync", "d07.ics",
                   invitee_copy("040000008200E00074C5B7101A82E008000000001C2062F6A772C0860000000000"
                                "000000100000000B7CFAD1C65C5CA0949C8A74C",
                                "Quick sync", "Maria Gonzalez", "maria.gonzalez@contoso.example",
                                "2026-11-24T00:00:00Z", "2026-11-24T00:15:00Z")});
    // A cancellation: Exchange marks the item cancelled and raises the sequence.
    out.push_back(
        {"d14_cancelled", "d14.ics",
         invitee_copy("040000008200E00074C5B7101A82E008000000001D8A3F055F5A20020000000000"
                      "000000100000000E4DD2C7A84E6E86EBE78982F",
                      "Canceled: Intro", "Chris Dalton", "chris.dalton@pipelinepro.example",
                      "2026-11-28T18:00:00Z", "2026-11-28T18:30:00Z")
             .text("IsCancelled", "true")
             .text("AppointmentSequenceNumber", "1")});
    // An external organizer vouched for by two colleagues who accepted.
    out.push_back(
        {"d16_vouched_with_agenda", "d16.ics",
         invitee_copy("040000008200E00074C5B7101A82E008000000001D14A3E4B06571C00000000000000000"
                      "100000000455FE5E4334BD2135A5BBBB8",
                      "Series B term sheet review", "Nora Field",
                      "nora.field@meridianpartners.example", "2026-12-01T23:00:00Z",
                      "2026-12-02T00:00:00Z")
             .set("Body", text_body("Agenda:\n1. Valuation and option pool\n2. Board "
                                    "composition\n3. Closing timeline"))
             .set("RequiredAttendees",
                  "<t:RequiredAttendees>" + attendee_xml("Dana Whitfield", dana, "Unknown") +
                      attendee_xml("Raj Patel", "raj.patel@contoso.example", "Accept") +
                      attendee_xml("Maria Gonzalez", "Maria.Gonzalez@contoso.example", "Accept") +
                      "</t:RequiredAttendees>")});
    // A weekly internal staff meeting in Central Europe, the zone given as StartTimeZoneId.
    out.push_back(
        {"d09_weekly_staff_meeting_in_europe", "d09.ics",
         invitee_copy("040000008200E00074C5B7101A82E008000000005B12C4089B31A1970000000000000000"
                      "100000000961BFFEC55580904A6B148A6",
                      "Engineering staff meeting", "Sam Okafor", "sam.okafor@eu.contoso.example",
                      "2026-11-25T16:00:00Z", "2026-11-25T17:00:00Z")
             .set("Body", text_body("Standing agenda:\n1. Incidents and on-call review\n2. "
                                    "Delivery status of the quarter's commitments\n3. Hiring "
                                    "pipeline\n4. Decisions and owners\n\n" +
                                    teams_block))
             .remove("StartTimeZone")
             .text("StartTimeZoneId", "W. Europe Standard Time")
             .text("CalendarItemType", "RecurringMaster")
             .set("Recurrence",
                  "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval>"
                  "<t:DaysOfWeek>Wednesday</t:DaysOfWeek><t:FirstDayOfWeek>Monday"
                  "</t:FirstDayOfWeek></t:WeeklyRecurrence><t:NoEndRecurrence><t:StartDate>"
                  "2026-11-25+01:00</t:StartDate></t:NoEndRecurrence></t:Recurrence>")});
    return out;
}

// Test names in gtest's messages (not the bytes of the struct, padding included).
void PrintTo(const twin& t, std::ostream* os) {
    *os << t.name;
}

class same_meeting_test : public ::testing::TestWithParam<twin> {};

TEST_P(same_meeting_test, ews_and_icalendar_give_equal_invitations) {
    const twin& t = GetParam();
    const calendar_item e = must_parse(t.ews, dana);
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_THAT(e.inv.warnings, IsEmpty());
    parse_options options;
    options.mailbox = std::string(dana);
    const auto ics = parse_ics_file(labelled / t.file, options);
    ASSERT_TRUE(ics.has_value()) << ics.error().to_string();
    const invitation* primary = primary_event(*ics);
    ASSERT_NE(primary, nullptr);
    const invitation& a = e.inv;
    const invitation& b = *primary;

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
    EXPECT_EQ(a.has_start, b.has_start);
    EXPECT_EQ(utc(a.start), utc(b.start));
    EXPECT_EQ(utc(a.end), utc(b.end));
    EXPECT_EQ(a.all_day, b.all_day);
    EXPECT_EQ(a.start_local.year, b.start_local.year);
    EXPECT_EQ(a.start_local.month, b.start_local.month);
    EXPECT_EQ(a.start_local.day, b.start_local.day);
    EXPECT_EQ(a.start_local.hour, b.start_local.hour);
    EXPECT_EQ(a.start_local.minute, b.start_local.minute);
    EXPECT_EQ(a.start_local.zone, b.start_local.zone);
    EXPECT_EQ(a.transp, b.transp);
    // A stored item has no iTIP method: REQUEST in iCalendar is a calendar item (none) in EWS;
    // a cancellation is one in both.
    EXPECT_EQ(a.method, b.method == method::request ? method::none : b.method);
    EXPECT_EQ(a.status == event_status::cancelled, b.status == event_status::cancelled);
    EXPECT_EQ(a.recurrence.kind, b.recurrence.kind);
    EXPECT_EQ(a.recurrence.frequency, b.recurrence.frequency);
    EXPECT_EQ(a.recurrence.rule, b.recurrence.rule);
    EXPECT_EQ(a.recurrence.count, b.recurrence.count);
    EXPECT_EQ(a.recurrence.until.has_value(), b.recurrence.until.has_value());
    EXPECT_EQ(a.recurrence.last_start.has_value(), b.recurrence.last_start.has_value());
}

INSTANTIATE_TEST_SUITE_P(labelled, same_meeting_test, ::testing::ValuesIn(twins()),
                         [](const auto& param_info) { return param_info.param.name; });

// Recurrence patterns: EWS's pattern + range against the RRULE Outlook writes for the same series.
struct same_series {
    std::string name;
    std::string ews_recurrence;  // the inside of t:Recurrence
    std::string rrule;
};

void PrintTo(const same_series& s, std::ostream* os) {
    *os << s.name;
}

class same_series_test : public ::testing::TestWithParam<same_series> {};

std::string ics_with_rrule(std::string_view rrule) {
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:" +
           std::string(series_uid) +
           "\r\nORGANIZER;CN=Brianna Cole:mailto:brianna.cole@veritycloud.example\r\n"
           "SUMMARY:Quarterly review\r\n"
           "DTSTART;TZID=Pacific Standard Time:20261124T100000\r\n"
           "DTEND;TZID=Pacific Standard Time:20261124T103000\r\nRRULE:" +
           std::string(rrule) + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
}

TEST_P(same_series_test, ews_pattern_reads_as_the_rrule) {
    const same_series& s = GetParam();
    item_builder b = meeting();
    b.text("CalendarItemType", "RecurringMaster")
        .set("Recurrence", "<t:Recurrence>" + s.ews_recurrence + "</t:Recurrence>");
    const calendar_item e = must_parse(b);
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    const auto ics = parse_ics(ics_with_rrule(s.rrule), "series.ics");
    ASSERT_TRUE(ics.has_value());
    ASSERT_EQ(ics->events.size(), 1u);
    const recurrence_info& a = e.inv.recurrence;
    const recurrence_info& r = ics->events[0].recurrence;
    EXPECT_EQ(a.rule, r.rule);
    EXPECT_EQ(a.kind, r.kind);
    EXPECT_EQ(a.frequency, r.frequency);
    EXPECT_EQ(a.count, r.count);
    ASSERT_EQ(a.until.has_value(), r.until.has_value());
    if (a.until) {
        EXPECT_EQ(utc(*a.until), utc(*r.until));
    }
    ASSERT_EQ(a.last_start.has_value(), r.last_start.has_value());
    if (a.last_start) {
        EXPECT_EQ(utc(*a.last_start), utc(*r.last_start));
    }
}

INSTANTIATE_TEST_SUITE_P(
    patterns, same_series_test,
    ::testing::Values(
        same_series{"weekly_until_with_weeks_starting_on_sunday",
                    "<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Tuesday"
                    "</t:DaysOfWeek><t:FirstDayOfWeek>Sunday</t:FirstDayOfWeek>"
                    "</t:WeeklyRecurrence><t:EndDateRecurrence><t:StartDate>2026-11-24-08:00"
                    "</t:StartDate><t:EndDate>2026-12-15-08:00</t:EndDate></t:EndDateRecurrence>",
                    "FREQ=WEEKLY;UNTIL=20261215;BYDAY=TU;WKST=SU"},
        same_series{"fortnightly_two_days_numbered",
                    "<t:WeeklyRecurrence><t:Interval>2</t:Interval><t:DaysOfWeek>Tuesday "
                    "Thursday</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence>"
                    "<t:StartDate>2026-11-24</t:StartDate><t:NumberOfOccurrences>7"
                    "</t:NumberOfOccurrences></t:NumberedRecurrence>",
                    "FREQ=WEEKLY;COUNT=7;INTERVAL=2;BYDAY=TU,TH"},
        same_series{"weekly_across_daylight_saving_numbered",
                    "<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Tuesday"
                    "</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>"
                    "2026-11-24</t:StartDate><t:NumberOfOccurrences>20</t:NumberOfOccurrences>"
                    "</t:NumberedRecurrence>",
                    "FREQ=WEEKLY;COUNT=20;BYDAY=TU"},
        same_series{"fourth_tuesday_monthly_numbered",
                    "<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>"
                    "Tuesday</t:DaysOfWeek><t:DayOfWeekIndex>Fourth</t:DayOfWeekIndex>"
                    "</t:RelativeMonthlyRecurrence><t:NumberedRecurrence><t:StartDate>2026-11-24"
                    "</t:StartDate><t:NumberOfOccurrences>6</t:NumberOfOccurrences>"
                    "</t:NumberedRecurrence>",
                    "FREQ=MONTHLY;COUNT=6;BYDAY=4TU"},
        same_series{"last_weekday_of_the_month_no_end",
                    "<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>"
                    "Weekday</t:DaysOfWeek><t:DayOfWeekIndex>Last</t:DayOfWeekIndex>"
                    "</t:RelativeMonthlyRecurrence><t:NoEndRecurrence><t:StartDate>2026-11-24"
                    "</t:StartDate></t:NoEndRecurrence>",
                    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"},
        same_series{"last_day_of_the_month_no_end",
                    "<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Day"
                    "</t:DaysOfWeek><t:DayOfWeekIndex>Last</t:DayOfWeekIndex>"
                    "</t:RelativeMonthlyRecurrence><t:NoEndRecurrence><t:StartDate>2026-11-24"
                    "</t:StartDate></t:NoEndRecurrence>",
                    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYSETPOS=-1"},
        same_series{"every_third_month_on_the_24th",
                    "<t:AbsoluteMonthlyRecurrence><t:Interval>3</t:Interval><t:DayOfMonth>24"
                    "</t:DayOfMonth></t:AbsoluteMonthlyRecurrence><t:NoEndRecurrence>"
                    "<t:StartDate>2026-11-24</t:StartDate></t:NoEndRecurrence>",
                    "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=24"},
        same_series{"yearly_on_24_november_numbered",
                    "<t:AbsoluteYearlyRecurrence><t:DayOfMonth>24</t:DayOfMonth><t:Month>"
                    "November</t:Month></t:AbsoluteYearlyRecurrence><t:NumberedRecurrence>"
                    "<t:StartDate>2026-11-24</t:StartDate><t:NumberOfOccurrences>3"
                    "</t:NumberOfOccurrences></t:NumberedRecurrence>",
                    "FREQ=YEARLY;COUNT=3;BYMONTHDAY=24;BYMONTH=11"},
        same_series{"fourth_tuesday_of_november_until",
                    "<t:RelativeYearlyRecurrence><t:DaysOfWeek>Tuesday</t:DaysOfWeek>"
                    "<t:DayOfWeekIndex>Fourth</t:DayOfWeekIndex><t:Month>November</t:Month>"
                    "</t:RelativeYearlyRecurrence><t:EndDateRecurrence><t:StartDate>2026-11-24"
                    "</t:StartDate><t:EndDate>2030-12-31</t:EndDate></t:EndDateRecurrence>",
                    "FREQ=YEARLY;UNTIL=20301231;BYDAY=4TU;BYMONTH=11"},
        same_series{"every_other_day_numbered",
                    "<t:DailyRecurrence><t:Interval>2</t:Interval></t:DailyRecurrence>"
                    "<t:NumberedRecurrence><t:StartDate>2026-11-24</t:StartDate>"
                    "<t:NumberOfOccurrences>10</t:NumberOfOccurrences></t:NumberedRecurrence>",
                    "FREQ=DAILY;COUNT=10;INTERVAL=2"}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(recurrence, a_numbered_series_keeps_its_wall_clock_across_daylight_saving) {
    item_builder b = meeting();
    b.text("CalendarItemType", "RecurringMaster")
        .set("Recurrence",
             "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Tuesday"
             "</t:DaysOfWeek></t:WeeklyRecurrence><t:NumberedRecurrence><t:StartDate>2026-11-24"
             "</t:StartDate><t:NumberOfOccurrences>20</t:NumberOfOccurrences>"
             "</t:NumberedRecurrence></t:Recurrence>");
    const calendar_item e = must_parse(b);
    ASSERT_TRUE(e.inv.recurrence.last_start.has_value());
    // 10:00 in Redmond on 6 April 2027 is 17:00Z (daylight time), not 18:00Z.
    EXPECT_EQ(utc(*e.inv.recurrence.last_start), "2027-04-06T17:00:00Z");
    // An end date includes that whole day in the organizer's zone.
    b.set("Recurrence",
          "<t:Recurrence><t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Tuesday"
          "</t:DaysOfWeek></t:WeeklyRecurrence><t:EndDateRecurrence><t:StartDate>2026-11-24"
          "</t:StartDate><t:EndDate>2026-12-15</t:EndDate></t:EndDateRecurrence></t:Recurrence>");
    const calendar_item u = must_parse(b);
    ASSERT_TRUE(u.inv.recurrence.until.has_value());
    EXPECT_EQ(utc(*u.inv.recurrence.until), "2026-12-16T08:00:00Z");
    EXPECT_FALSE(u.inv.recurrence.last_start.has_value());
}

TEST(recurrence, patterns_agendad_cannot_read_are_problems) {
    const std::pair<std::string, std::string> cases[] = {
        {"<t:DailyRegeneration><t:Interval>2</t:Interval></t:DailyRegeneration>"
         "<t:NoEndRecurrence><t:StartDate>2026-11-24</t:StartDate></t:NoEndRecurrence>",
         "'DailyRegeneration', not one agendad knows"},
        {"<t:WeeklyRecurrence><t:Interval>0</t:Interval><t:DaysOfWeek>Monday</t:DaysOfWeek>"
         "</t:WeeklyRecurrence><t:NoEndRecurrence/>",
         "Interval' is 0"},
        {"<t:WeeklyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Funday</t:DaysOfWeek>"
         "</t:WeeklyRecurrence><t:NoEndRecurrence/>",
         "'Funday', not a day of the week"},
        {"<t:RelativeMonthlyRecurrence><t:Interval>1</t:Interval><t:DaysOfWeek>Monday"
         "</t:DaysOfWeek><t:DayOfWeekIndex>Fifth</t:DayOfWeekIndex>"
         "</t:RelativeMonthlyRecurrence><t:NoEndRecurrence/>",
         "DayOfWeekIndex' is 'Fifth'"},
        {"<t:AbsoluteYearlyRecurrence><t:DayOfMonth>24</t:DayOfMonth><t:Month>Brumaire"
         "</t:Month></t:AbsoluteYearlyRecurrence><t:NoEndRecurrence/>",
         "Month' is 'Brumaire'"},
        {"<t:AbsoluteMonthlyRecurrence><t:Interval>1</t:Interval><t:DayOfMonth>32"
         "</t:DayOfMonth></t:AbsoluteMonthlyRecurrence><t:NoEndRecurrence/>",
         "DayOfMonth' is 32"},
        {"<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence>"
         "<t:EndDateRecurrence><t:StartDate>2026-11-24</t:StartDate><t:EndDate>someday"
         "</t:EndDate></t:EndDateRecurrence>",
         "EndDate' is 'someday', not a date"},
        {"<t:DailyRecurrence><t:Interval>1</t:Interval></t:DailyRecurrence>"
         "<t:NumberedRecurrence><t:NumberOfOccurrences>0</t:NumberOfOccurrences>"
         "</t:NumberedRecurrence>",
         "NumberOfOccurrences' is 0"},
        {"<t:NoEndRecurrence/>", "'Recurrence' has no pattern"},
    };
    for (const auto& [xml_text, expected] : cases) {
        SCOPED_TRACE(expected);
        item_builder b = meeting();
        b.set("Recurrence", "<t:Recurrence>" + xml_text + "</t:Recurrence>");
        const calendar_item e = must_parse(b);
        EXPECT_TRUE(has_problem(e, expected)) << messages(e.problems);
        EXPECT_FALSE(e.inv.is_recurring());
    }
}

// ---------------------------------------------------------------------------------------------
// The mapping, field by field

TEST(mapping, a_meeting_request_in_the_invitees_calendar) {
    const calendar_item e = must_parse(meeting());
    ASSERT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_THAT(e.inv.warnings, IsEmpty());
    const invitation& inv = e.inv;
    EXPECT_EQ(inv.method, method::none);
    EXPECT_EQ(inv.status, event_status::none);
    EXPECT_EQ(inv.uid, series_uid);
    EXPECT_EQ(inv.subject, "Quarterly review");
    EXPECT_EQ(inv.description, "Agenda:\n- Numbers\n- Hiring");
    EXPECT_EQ(inv.location, "Room 1");
    EXPECT_EQ(inv.organizer.address, "brianna.cole@veritycloud.example");
    EXPECT_EQ(inv.organizer.name, "Brianna Cole");
    ASSERT_EQ(inv.attendees.size(), 3u);
    EXPECT_EQ(inv.attendees[0].address, owner);
    EXPECT_EQ(inv.attendees[0].role, role::required);
    EXPECT_EQ(inv.attendees[0].partstat, partstat::needs_action);
    EXPECT_EQ(inv.attendees[0].rsvp, std::optional<bool>(true));
    EXPECT_EQ(inv.attendees[1].role, role::optional);
    EXPECT_EQ(inv.attendees[1].partstat, partstat::accepted);
    EXPECT_EQ(inv.attendees[2].role, role::non_participant);
    EXPECT_EQ(inv.attendees[2].cutype, "RESOURCE");
    ASSERT_TRUE(inv.owner.has_value());
    EXPECT_EQ(inv.owner->partstat, partstat::needs_action);
    EXPECT_TRUE(inv.response_requested());
    EXPECT_EQ(utc(inv.start), "2026-11-24T18:00:00Z");
    EXPECT_EQ(utc(inv.end), "2026-11-24T18:30:00Z");
    EXPECT_EQ(inv.start_local.hour, 10);
    EXPECT_EQ(inv.start_local.zone, "Pacific Standard Time");
    EXPECT_EQ(inv.source.item_id, "AAMkAGI1AAA=");
    EXPECT_EQ(inv.source.change_key, "DwAAABYAAA==");
    EXPECT_EQ(inv.source.file, "test");
    EXPECT_TRUE(e.is_meeting);
    EXPECT_FALSE(e.is_organizer);
    EXPECT_EQ(e.my_response_type, "NoResponseReceived");
    ASSERT_TRUE(e.date_time_stamp.has_value());
    EXPECT_EQ(utc(*e.date_time_stamp), "2026-11-20T08:00:00Z");
}

struct owner_case {
    std::string my_response_type;
    partstat expected;
};

void PrintTo(const owner_case& c, std::ostream* os) {
    *os << c.my_response_type;
}

class owner_response : public ::testing::TestWithParam<owner_case> {};

TEST_P(owner_response, is_the_owners_partstat_in_owner_and_in_the_attendee_list) {
    item_builder b = meeting();
    b.text("MyResponseType", GetParam().my_response_type);
    const calendar_item e = must_parse(b);
    ASSERT_TRUE(e.inv.owner.has_value());
    EXPECT_EQ(e.inv.owner->partstat, GetParam().expected);
    // The list said Unknown: MyResponseType is the mailbox's own answer and wins.
    EXPECT_EQ(e.inv.attendees[0].partstat, GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(responses, owner_response,
                         ::testing::Values(owner_case{"Unknown", partstat::needs_action},
                                           owner_case{"NoResponseReceived", partstat::needs_action},
                                           owner_case{"Accept", partstat::accepted},
                                           owner_case{"Tentative", partstat::tentative},
                                           owner_case{"Decline", partstat::declined},
                                           owner_case{"Organizer", partstat::accepted}),
                         [](const auto& param_info) { return param_info.param.my_response_type; });

TEST(mapping, response_types_map_to_partstat_for_other_callers_too) {
    EXPECT_EQ(partstat_of_response("Unknown"), partstat::needs_action);
    EXPECT_EQ(partstat_of_response("NoResponseReceived"), partstat::needs_action);
    EXPECT_EQ(partstat_of_response("accept"), partstat::accepted);
    EXPECT_EQ(partstat_of_response("Organizer"), partstat::accepted);
    EXPECT_EQ(partstat_of_response(" Tentative "), partstat::tentative);
    EXPECT_EQ(partstat_of_response("Decline"), partstat::declined);
    EXPECT_EQ(partstat_of_response("TentativelyAccepted"), std::nullopt);  // Graph's word
    EXPECT_EQ(partstat_of_response(""), std::nullopt);
}

TEST(mapping, attendee_responses_map_to_partstat_and_lists_to_roles) {
    item_builder b = meeting();
    b.set("RequiredAttendees",
          "<t:RequiredAttendees>" + attendee_xml("A", "a@x.example", "Unknown") +
              attendee_xml("B", "b@x.example", "NoResponseReceived") +
              attendee_xml("C", "c@x.example", "Accept") +
              attendee_xml("D", "d@x.example", "Tentative") +
              attendee_xml("E", "e@x.example", "Decline") +
              attendee_xml("F", "f@x.example", "Organizer") +
              attendee_xml("G", "g@x.example", "Maybe") +
              "<t:Attendee><t:Mailbox><t:Name>Sales team</t:Name><t:EmailAddress>"
              "sales@x.example</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType>"
              "<t:MailboxType>PublicDL</t:MailboxType></t:Mailbox></t:Attendee>"
              "</t:RequiredAttendees>");
    const calendar_item e = must_parse(b);
    const auto& a = e.inv.attendees;
    ASSERT_EQ(a.size(), 10u);  // 8 required, 1 optional, 1 resource
    EXPECT_EQ(a[0].partstat, partstat::needs_action);
    EXPECT_EQ(a[1].partstat, partstat::needs_action);
    EXPECT_EQ(a[2].partstat, partstat::accepted);
    EXPECT_EQ(a[3].partstat, partstat::tentative);
    EXPECT_EQ(a[4].partstat, partstat::declined);
    EXPECT_EQ(a[5].partstat, partstat::accepted);
    EXPECT_EQ(a[6].partstat, partstat::other);
    EXPECT_TRUE(has_warning(e, "unknown ResponseType 'Maybe'"));
    EXPECT_EQ(a[7].partstat, partstat::none);  // no ResponseType written
    EXPECT_EQ(a[7].cutype, "GROUP");
    EXPECT_EQ(a[8].role, role::optional);
    EXPECT_EQ(a[9].role, role::non_participant);
    // The owner is on no list here: invited through a list, it still gets its own entry.
    ASSERT_TRUE(e.inv.owner.has_value());
    EXPECT_EQ(e.inv.owner->address, owner);
    EXPECT_EQ(e.inv.owner->partstat, partstat::needs_action);
    EXPECT_TRUE(e.inv.response_requested());
}

TEST(mapping, organizer_gets_no_owner_entry_and_no_mailbox_means_no_owner) {
    item_builder b = meeting();
    b.set("RequiredAttendees", "<t:RequiredAttendees>" +
                                   attendee_xml("Chris", "chris@contoso.example", "Unknown") +
                                   "</t:RequiredAttendees>")
        .text("MyResponseType", "Organizer")
        .set("Organizer", "<t:Organizer>" + mailbox("Alex Morgan", "alex.morgan@contoso.example") +
                              "</t:Organizer>");
    const calendar_item e = must_parse(b);
    EXPECT_TRUE(e.is_organizer);
    EXPECT_FALSE(e.inv.owner.has_value());
    const calendar_item nobody = must_parse(meeting(), "");
    EXPECT_FALSE(nobody.inv.owner.has_value());
}

TEST(mapping, unknown_my_response_type_keeps_the_lists_status_and_warns) {
    item_builder b = meeting();
    b.text("MyResponseType", "Perhaps");
    const calendar_item e = must_parse(b);
    ASSERT_TRUE(e.inv.owner.has_value());
    EXPECT_EQ(e.inv.owner->partstat, partstat::needs_action);  // the list's Unknown
    EXPECT_TRUE(has_warning(e, "unknown MyResponseType 'Perhaps'"));
}

TEST(mapping, no_response_requested_is_rsvp_false_for_everyone) {
    item_builder b = meeting();
    b.text("IsResponseRequested", "false");
    const calendar_item e = must_parse(b);
    EXPECT_FALSE(e.is_response_requested);
    for (const attendee& a : e.inv.attendees) EXPECT_EQ(a.rsvp, std::optional<bool>(false));
    EXPECT_FALSE(e.inv.response_requested());
    // Not written at all: RSVP unknown, an answer expected (as an absent RSVP in iCalendar).
    b.remove("IsResponseRequested");
    const calendar_item absent = must_parse(b);
    EXPECT_TRUE(absent.is_response_requested);
    EXPECT_EQ(absent.inv.attendees[0].rsvp, std::nullopt);
    EXPECT_TRUE(absent.inv.response_requested());
}

TEST(mapping, a_cancelled_item_is_a_cancellation_with_its_sequence) {
    item_builder b = meeting();
    b.text("IsCancelled", "true").text("AppointmentSequenceNumber", "3");
    const calendar_item e = must_parse(b);
    EXPECT_TRUE(e.is_cancelled);
    EXPECT_EQ(e.inv.method, method::cancel);
    EXPECT_EQ(e.inv.status, event_status::cancelled);
    EXPECT_EQ(e.inv.sequence, 3);
}

TEST(mapping, free_is_transparent_and_attachments_are_noticed) {
    item_builder b = meeting();
    b.text("LegacyFreeBusyStatus", "Free").text("HasAttachments", "true");
    const calendar_item e = must_parse(b);
    EXPECT_EQ(e.inv.transp, transparency::transparent);
    EXPECT_TRUE(e.inv.has_attachments);
    b.text("LegacyFreeBusyStatus", "OOF");
    EXPECT_EQ(must_parse(b).inv.transp, transparency::opaque);
    b.text("LegacyFreeBusyStatus", "Sleeping");
    const calendar_item odd = must_parse(b);
    EXPECT_EQ(odd.inv.transp, transparency::opaque);
    EXPECT_TRUE(has_warning(odd, "unknown LegacyFreeBusyStatus"));
    EXPECT_THAT(odd.problems, IsEmpty());
}

TEST(mapping, bodies_html_text_truncated_and_text_body) {
    item_builder b = meeting();
    // Scripts and styles are never text a person reads.
    b.set("Body", R"(<t:Body BodyType="HTML">)" +
                      xml::escape("<html><head><style>p{color:red}</style><script>alert('"
                                  "owned')</script></head><body><p>Agenda: budget</p>"
                                  "<script>document.write('hidden')</script></body></html>") +
                      "</t:Body>");
    const calendar_item html = must_parse(b);
    EXPECT_THAT(html.inv.description, HasSubstr("Agenda: budget"));
    EXPECT_THAT(html.inv.description, Not(HasSubstr("alert")));
    EXPECT_THAT(html.inv.description, Not(HasSubstr("hidden")));
    EXPECT_THAT(html.inv.description, Not(HasSubstr("color")));

    b.set("Body", R"(<t:Body BodyType="Text">  Plain words, a &lt; b.  </t:Body>)");
    EXPECT_EQ(must_parse(b).inv.description, "Plain words, a < b.");

    b.set("Body", R"(<t:Body BodyType="Text" IsTruncated="true">Agenda: the first</t:Body>)");
    const calendar_item cut = must_parse(b);
    EXPECT_EQ(cut.inv.description, "Agenda: the first");
    EXPECT_TRUE(has_warning(cut, "IsTruncated"));

    b.set("Body", R"(<t:Body BodyType="HTML"/>)").text("TextBody", "Agenda from TextBody");
    EXPECT_EQ(must_parse(b).inv.description, "Agenda from TextBody");
}

TEST(mapping, location_falls_back_to_the_enhanced_location) {
    item_builder b = meeting();
    b.remove("Location")
        .set("EnhancedLocation",
             "<t:EnhancedLocation><t:DisplayName>Board room</t:DisplayName>"
             "<t:PostalAddress/></t:EnhancedLocation>");
    EXPECT_EQ(must_parse(b).inv.location, "Board room");
}

TEST(mapping, occurrences_use_the_series_uid_and_a_recurrence_id) {
    // Exchange may write the instance's GlobalObjectId (with its date, 2026-12-01 = 07EA 0C 01)
    // or the series': either way the UID is the series'.
    std::string instance_uid(series_uid);
    instance_uid.replace(32, 8, "07EA0C01");
    item_builder b = meeting();
    b.text("CalendarItemType", "Occurrence")
        .text("UID", instance_uid)
        .text("Start", "2026-12-01T18:00:00Z")
        .text("End", "2026-12-01T18:30:00Z")
        .text("RecurrenceId", "2026-12-01T18:00:00Z");
    const calendar_item occurrence = must_parse(b);
    EXPECT_EQ(occurrence.inv.uid, series_uid);
    EXPECT_EQ(occurrence.uid, instance_uid);  // as written
    ASSERT_TRUE(occurrence.inv.recurrence_id.has_value());
    EXPECT_EQ(utc(*occurrence.inv.recurrence_id), "2026-12-01T18:00:00Z");

    // A moved exception: OriginalStart (Exchange 2007) says where the series had put it.
    b.text("CalendarItemType", "Exception")
        .remove("RecurrenceId")
        .text("OriginalStart", "2026-12-01T18:00:00Z")
        .text("Start", "2026-12-02T17:00:00Z")
        .text("End", "2026-12-02T17:30:00Z");
    const calendar_item moved = must_parse(b);
    ASSERT_TRUE(moved.inv.recurrence_id.has_value());
    EXPECT_EQ(utc(*moved.inv.recurrence_id), "2026-12-01T18:00:00Z");
    EXPECT_EQ(utc(moved.inv.start), "2026-12-02T17:00:00Z");

    b.remove("OriginalStart");
    const calendar_item guessed = must_parse(b);
    ASSERT_TRUE(guessed.inv.recurrence_id.has_value());
    EXPECT_EQ(utc(*guessed.inv.recurrence_id), "2026-12-02T17:00:00Z");
    EXPECT_TRUE(has_warning(guessed, "without RecurrenceId or OriginalStart"));

    // A single item keeps its UID as written and has no recurrence id.
    b.text("CalendarItemType", "Single");
    const calendar_item single = must_parse(b);
    EXPECT_EQ(single.inv.uid, instance_uid);
    EXPECT_FALSE(single.inv.recurrence_id.has_value());
}

// ---------------------------------------------------------------------------------------------
// Times and zones

TEST(time_zones, all_day_items_are_the_organizers_dates) {
    // 24 to 26 November in Redmond: local midnights, written in UTC.
    item_builder b = meeting();
    b.text("IsAllDayEvent", "true")
        .text("Start", "2026-11-24T08:00:00Z")
        .text("End", "2026-11-26T08:00:00Z");
    const calendar_item pacific = must_parse(b);
    EXPECT_THAT(pacific.inv.warnings, IsEmpty());
    EXPECT_TRUE(pacific.inv.all_day);
    EXPECT_EQ(utc(pacific.inv.start), "2026-11-24T00:00:00Z");
    EXPECT_EQ(utc(pacific.inv.end), "2026-11-26T00:00:00Z");
    EXPECT_EQ(pacific.inv.start_local.day, 24);
    EXPECT_EQ(pacific.inv.start_local.zone, "");  // a date has no zone

    // In Berlin the same days start the evening before in UTC.
    b.set("StartTimeZone", R"(<t:StartTimeZone Id="W. Europe Standard Time"/>)")
        .text("Start", "2026-11-23T23:00:00Z")
        .text("End", "2026-11-25T23:00:00Z");
    const calendar_item berlin = must_parse(b);
    EXPECT_EQ(utc(berlin.inv.start), "2026-11-24T00:00:00Z");
    EXPECT_EQ(utc(berlin.inv.end), "2026-11-26T00:00:00Z");

    // The same from iCalendar.
    const auto ics = parse_ics(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART;VALUE=DATE:20261124"
        "\r\nDTEND;VALUE=DATE:20261126\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "allday.ics");
    ASSERT_TRUE(ics.has_value());
    ASSERT_EQ(ics->events.size(), 1u);
    EXPECT_EQ(utc(berlin.inv.start), utc(ics->events[0].start));
    EXPECT_EQ(utc(berlin.inv.end), utc(ics->events[0].end));

    // Without a zone the nearest midnight is the best guess, and it says so.
    b.remove("StartTimeZone").text("Start", "2026-11-23T23:00:00Z");
    const calendar_item guessed = must_parse(b);
    EXPECT_EQ(utc(guessed.inv.start), "2026-11-24T00:00:00Z");
    EXPECT_TRUE(has_warning(guessed, "nearest midnight"));
}

TEST(time_zones, start_time_zone_id_and_the_legacy_fields_name_the_organizers_zone) {
    item_builder b = meeting();
    b.remove("StartTimeZone").text("StartTimeZoneId", "Tokyo Standard Time");
    const calendar_item tokyo = must_parse(b);
    EXPECT_EQ(tokyo.inv.start_local.zone, "Tokyo Standard Time");
    EXPECT_EQ(tokyo.inv.start_local.day, 25);
    EXPECT_EQ(tokyo.inv.start_local.hour, 3);
    EXPECT_EQ(utc(tokyo.inv.start), "2026-11-24T18:00:00Z");  // the instant never moves

    // StartTimeZone's Id wins over the older fields.
    b.set("StartTimeZone", R"(<t:StartTimeZone Id="GMT Standard Time"/>)")
        .set("MeetingTimeZone", R"(<t:MeetingTimeZone TimeZoneName="Pacific Standard Time"/>)");
    const calendar_item london = must_parse(b);
    EXPECT_EQ(london.inv.start_local.zone, "GMT Standard Time");
    EXPECT_EQ(london.inv.start_local.hour, 18);

    b.remove("StartTimeZone").remove("StartTimeZoneId");
    const calendar_item redmond = must_parse(b);
    EXPECT_EQ(redmond.inv.start_local.zone, "Pacific Standard Time");
    EXPECT_EQ(redmond.inv.start_local.hour, 10);
}

TEST(time_zones, an_unknown_zone_is_utc_with_a_warning) {
    item_builder b = meeting();
    b.set("StartTimeZone", R"(<t:StartTimeZone Id="Customized Time Zone" Name="Mars"/>)");
    const calendar_item e = must_parse(b);
    EXPECT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_TRUE(has_warning(e, "unknown time zone 'Customized Time Zone' in 'StartTimeZone'"))
        << ::testing::PrintToString(e.inv.warnings);
    EXPECT_EQ(utc(e.inv.start), "2026-11-24T18:00:00Z");
    EXPECT_EQ(e.inv.start_local.zone, "UTC");
    EXPECT_EQ(e.inv.start_local.hour, 18);
    // A name that could be a path is never given to libical.
    b.set("StartTimeZone", R"(<t:StartTimeZone Id="../../etc/passwd"/>)");
    EXPECT_TRUE(has_warning(must_parse(b), "unknown time zone"));
}

TEST(time_zones, offsets_are_honoured_and_a_missing_designator_is_utc_with_a_warning) {
    item_builder b = meeting();
    b.text("Start", "2026-11-24T10:00:00.000-08:00").text("End", "2026-11-24T19:30:00+01:00");
    const calendar_item e = must_parse(b);
    EXPECT_EQ(utc(e.inv.start), "2026-11-24T18:00:00Z");
    EXPECT_EQ(utc(e.inv.end), "2026-11-24T18:30:00Z");
    EXPECT_THAT(e.inv.warnings, IsEmpty());
    b.text("Start", "2026-11-24T18:00:00");
    const calendar_item bare = must_parse(b);
    EXPECT_EQ(utc(bare.inv.start), "2026-11-24T18:00:00Z");
    EXPECT_TRUE(has_warning(bare, "no time zone designator"));
}

TEST(time_zones, end_before_start_is_the_start) {
    item_builder b = meeting();
    b.text("End", "2026-11-24T17:00:00Z");
    const calendar_item e = must_parse(b);
    EXPECT_EQ(utc(e.inv.end), "2026-11-24T18:00:00Z");
    EXPECT_TRUE(has_warning(e, "ends before it starts"));
}

// ---------------------------------------------------------------------------------------------
// Hostile and odd items

TEST(hostile, missing_item_id_or_start_is_a_problem) {
    item_builder b = meeting();
    b.remove("ItemId");
    const calendar_item no_id = must_parse(b);
    EXPECT_TRUE(has_problem(no_id, "has no ItemId")) << messages(no_id.problems);
    b = meeting();
    b.set("ItemId", R"(<t:ItemId Id="  " ChangeKey="x"/>)");
    EXPECT_TRUE(has_problem(must_parse(b), "has no ItemId"));
    b = meeting();
    b.remove("Start");
    const calendar_item no_start = must_parse(b);
    EXPECT_FALSE(no_start.inv.has_start);
    EXPECT_TRUE(has_problem(no_start, "has no Start"));
    EXPECT_EQ(no_start.problems[0].file, "test");
    EXPECT_THAT(no_start.problems[0].message, HasSubstr("item[0] (id 'AAMkAGI1AAA=')"));
}

TEST(hostile, invalid_dates_and_values_are_problems) {
    const std::pair<std::pair<std::string, std::string>, std::string> cases[] = {
        {{"Start", "2026-02-30T10:00:00Z"}, "'Start' is '2026-02-30T10:00:00Z', not a date"},
        {{"Start", "yesterday"}, "'Start' is 'yesterday'"},
        {{"Start", "2026-11-24 18:00:00Z"}, "not a date and time"},
        {{"Start", "2026-11-24T25:00:00Z"}, "not a date and time"},
        {{"Start", "9999-11-24T18:00:00Z"}, "not in the years 1900 to 2200"},
        {{"Start", ""}, "'Start' is '', not a date and time"},
        {{"End", "2026-11-24T18:30:00+15:00"}, "'End' is"},
        {{"IsCancelled", "yes"}, "'IsCancelled' is 'yes', not true or false"},
        {{"IsResponseRequested", "maybe"}, "'IsResponseRequested' is 'maybe'"},
        {{"IsAllDayEvent", "2"}, "'IsAllDayEvent' is '2'"},
        {{"AppointmentSequenceNumber", "-1"}, "'AppointmentSequenceNumber' is '-1'"},
        {{"AppointmentSequenceNumber", "99999999999999999999"}, "not a non-negative integer"},
    };
    for (const auto& [field_value, expected] : cases) {
        SCOPED_TRACE(field_value.first + "=" + field_value.second);
        item_builder b = meeting();
        b.text(field_value.first, field_value.second);
        const calendar_item e = must_parse(b);
        EXPECT_TRUE(has_problem(e, expected)) << messages(e.problems);
    }
    // Details that change no decision are warnings.
    item_builder b = meeting();
    b.text("HasAttachments", "perhaps").text("DateTimeStamp", "soon");
    const calendar_item e = must_parse(b);
    EXPECT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    EXPECT_TRUE(has_warning(e, "'HasAttachments' is 'perhaps'"));
    EXPECT_TRUE(has_warning(e, "'DateTimeStamp' is 'soon'"));
    EXPECT_FALSE(e.date_time_stamp.has_value());
}

std::string legacy_dn(std::string_view cn) {
    return "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=" +
           std::string(cn);
}

TEST(hostile, an_organizer_with_only_an_exchange_directory_name_is_a_problem) {
    item_builder b = meeting();
    b.set("Organizer",
          "<t:Organizer>" + mailbox("Brianna Cole", legacy_dn("bcole"), "EX") + "</t:Organizer>");
    const calendar_item e = must_parse(b);
    EXPECT_TRUE(has_problem(e, "RoutingType 'EX'")) << messages(e.problems);
    EXPECT_EQ(e.inv.organizer.address, "");
    EXPECT_EQ(e.inv.organizer.name, "Brianna Cole");

    // Unless another field says who it is: the owner's own item ...
    b.text("MyResponseType", "Organizer");
    const calendar_item own = must_parse(b);
    EXPECT_THAT(own.problems, IsEmpty()) << messages(own.problems);
    EXPECT_EQ(own.inv.organizer.address, owner);

    // ... or the attendee Exchange marks as the organizer.
    b.text("MyResponseType", "NoResponseReceived")
        .set("RequiredAttendees",
             "<t:RequiredAttendees>" +
                 attendee_xml("Brianna Cole", "Brianna.Cole@VerityCloud.example", "Organizer") +
                 attendee_xml("Alex Morgan", "alex.morgan@contoso.example", "Unknown") +
                 "</t:RequiredAttendees>");
    const calendar_item listed = must_parse(b);
    EXPECT_THAT(listed.problems, IsEmpty()) << messages(listed.problems);
    EXPECT_EQ(listed.inv.organizer.address, "brianna.cole@veritycloud.example");
    EXPECT_TRUE(has_warning(listed, "ResponseType is Organizer gives the address"));

    // An address that is not SMTP whatever the routing type says is no address either.
    b = meeting();
    b.set("Organizer", "<t:Organizer>" + mailbox("Brianna", "brianna") + "</t:Organizer>");
    EXPECT_TRUE(has_problem(must_parse(b), "'brianna', not an SMTP address"));
    b.remove("Organizer");
    EXPECT_TRUE(has_problem(must_parse(b), "has no Organizer"));
}

TEST(hostile, attendees_without_an_smtp_address_are_left_out_with_a_warning) {
    item_builder b = meeting();
    b.set("OptionalAttendees", "<t:OptionalAttendees><t:Attendee>" +
                                   mailbox("Chris Doe", legacy_dn("cdoe"), "EX") +
                                   "<t:ResponseType>Accept</t:ResponseType></t:Attendee>"
                                   "<t:Attendee><t:ResponseType>Accept</t:ResponseType>"
                                   "</t:Attendee></t:OptionalAttendees>");
    const calendar_item e = must_parse(b);
    EXPECT_THAT(e.problems, IsEmpty()) << messages(e.problems);
    ASSERT_EQ(e.inv.attendees.size(), 2u);  // the owner and the room
    EXPECT_TRUE(has_warning(e, "OptionalAttendees/Attendee[0] has an address of RoutingType 'EX'"));
    EXPECT_TRUE(has_warning(e, "OptionalAttendees/Attendee[1] has no EmailAddress"));
}

TEST(hostile, ten_thousand_attendees_are_read_and_more_are_refused) {
    auto with = [](std::size_t n) {
        std::string list = "<t:RequiredAttendees>";
        for (std::size_t i = 0; i < n; ++i) {
            list += attendee_xml("", "guest" + std::to_string(i) + "@spam.example", "Unknown");
        }
        item_builder b = meeting();
        b.set("RequiredAttendees", list + "</t:RequiredAttendees>");
        return b;
    };
    // 9,998 guests + the optional attendee + the room: exactly the limit.
    const calendar_item at_limit = must_parse(with(max_attendees - 2));
    EXPECT_THAT(at_limit.problems, IsEmpty());
    EXPECT_EQ(at_limit.inv.attendees.size(), max_attendees);
    const calendar_item over = must_parse(with(max_attendees - 1));
    EXPECT_TRUE(has_problem(over, "has 10001 attendees, more than 10000 (not read)"))
        << messages(over.problems);
    EXPECT_THAT(over.inv.attendees, IsEmpty());
}

TEST(hostile, warnings_and_problems_are_capped) {
    std::string list = "<t:OptionalAttendees>";
    for (int i = 0; i < 200; ++i) {
        list += "<t:Attendee>" + mailbox("x", legacy_dn("x" + std::to_string(i)), "EX") +
                "</t:Attendee>";
    }
    item_builder b = meeting();
    b.set("OptionalAttendees", list + "</t:OptionalAttendees>");
    const calendar_item e = must_parse(b);
    EXPECT_EQ(e.inv.warnings.size(), 51u);
    EXPECT_EQ(e.inv.warnings.back(), "more warnings not listed");
}

TEST(hostile, bodies_that_are_not_item_responses_are_errors_naming_where) {
    std::string error;
    EXPECT_THAT(parse_calendar_items("", owner, "mailbox a@b.example", error), IsEmpty());
    EXPECT_EQ(error, "mailbox a@b.example: empty body: no XML");
    EXPECT_THAT(parse_calendar_items("<a><b></a>", owner, "w", error), IsEmpty());
    EXPECT_THAT(error, HasSubstr("w: not well-formed XML"));
    const std::string xxe =
        "<?xml version=\"1.0\"?><!DOCTYPE s [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>" +
        envelope(meeting().xml());
    EXPECT_THAT(parse_calendar_items(xxe, owner, "w", error), IsEmpty());
    EXPECT_THAT(error, HasSubstr("DOCTYPE"));
    // A later, clean call clears the error.
    EXPECT_THAT(parse_calendar_items(envelope(meeting().xml()), owner, "w", error), SizeIs(1));
    EXPECT_EQ(error, "");
    // Deep nesting is refused by the loader, not by the stack.
    std::string deep;
    for (int i = 0; i < 10'000; ++i) deep += "<a>";
    for (int i = 0; i < 10'000; ++i) deep += "</a>";
    EXPECT_THAT(parse_calendar_items(deep, owner, "w", error), IsEmpty());
    EXPECT_THAT(error, HasSubstr("nested deeper"));
}

TEST(hostile, more_than_ten_thousand_items_are_refused) {
    std::string items;
    for (std::size_t i = 0; i <= max_items; ++i) items += "<t:CalendarItem/>";
    std::string error;
    EXPECT_THAT(parse_calendar_items(envelope(items), owner, "w", error), IsEmpty());
    EXPECT_EQ(error, "w: the response holds more than 10000 calendar items");
}

TEST(hostile, only_calendar_items_of_the_types_namespace_are_items) {
    const std::string body = envelope(
        meeting().xml() +
        R"(<x:CalendarItem xmlns:x="urn:not-exchange"><t:ItemId Id="X"/></x:CalendarItem>)" +
        R"(<CalendarItem xmlns="http://schemas.microsoft.com/exchange/services/2006/types">)"
        R"(<ItemId Id="default-namespace"/><Start>2026-11-24T18:00:00Z</Start></CalendarItem>)");
    std::string error;
    const auto items = parse_calendar_items(body, owner, "w", error);
    EXPECT_EQ(error, "");
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(items[0].id, "AAMkAGI1AAA=");
    EXPECT_EQ(items[1].id, "default-namespace");
    EXPECT_EQ(utc(items[1].inv.start), "2026-11-24T18:00:00Z");
}

TEST(single_item, parse_calendar_item_maps_one_element_and_refuses_others) {
    pugi::xml_document doc;
    const auto root = xml::load(envelope(meeting().xml()), 1 << 20, doc, "test");
    ASSERT_TRUE(root.has_value());
    pugi::xml_node item =
        doc.find_node([](pugi::xml_node n) { return xml::is(n, types_namespace, "CalendarItem"); });
    ASSERT_TRUE(item);
    std::string error;
    const auto e = parse_calendar_item(item, owner, "mailbox alex, item AAMk", error);
    ASSERT_TRUE(e.has_value()) << error;
    EXPECT_EQ(e->inv.subject, "Quarterly review");
    EXPECT_EQ(e->inv.source.file, "mailbox alex, item AAMk");
    // Problems of a single item carry no item label: `where` names it.
    const pugi::xml_node start = xml::child(item, types_namespace, "Start");
    item.remove_child(start);
    const auto no_start = parse_calendar_item(item, owner, "mailbox alex, item AAMk", error);
    ASSERT_TRUE(no_start.has_value());
    ASSERT_FALSE(no_start->problems.empty());
    EXPECT_EQ(no_start->problems[0].to_string(),
              "mailbox alex, item AAMk: has no Start: the meeting has no time");

    EXPECT_FALSE(parse_calendar_item(*root, owner, "w", error).has_value());
    EXPECT_THAT(error, HasSubstr("Envelope"));
    EXPECT_THAT(error, HasSubstr("is not a t:CalendarItem"));
    EXPECT_FALSE(parse_calendar_item(pugi::xml_node(), owner, "w", error).has_value());
    EXPECT_EQ(error, "w: no element: not a t:CalendarItem");
}

}  // namespace
}  // namespace agendad::calendar::ews
