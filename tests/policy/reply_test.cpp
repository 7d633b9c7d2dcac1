// Reply templates: what an organizer reads. Placeholders, literal braces, names from display
// names or addresses, and the meeting's time as the organizer wrote it.
#include <gtest/gtest.h>

#include "policy/reply.h"

namespace {

using namespace agendad;

calendar::invitation invite() {
    calendar::invitation inv;
    inv.organizer = {"chris.dalton@pipelinepro.example", "Chris Dalton", ""};
    inv.attendees.push_back({"dana.whitfield@contoso.example", "Dana Whitfield",
                             calendar::role::required, calendar::partstat::needs_action, true, ""});
    inv.subject = "Quick intro - 15 minutes?";
    inv.start_local = {2026, 11, 24, 10, 0, "Pacific Standard Time"};
    return inv;
}

TEST(reply, every_placeholder_is_filled) {
    const std::string text = policy::render_reply(
        "{organizer_name}|{organizer_first_name}|{organizer_address}|{owner_name}|{owner_first_"
        "name}|{subject}|"
        "{start}|{start_date}|{start_time}",
        invite(), "Dana.Whitfield@contoso.example");
    EXPECT_EQ(text,
              "Chris Dalton|Chris|chris.dalton@pipelinepro.example|Dana Whitfield|Dana|Quick intro "
              "- 15 minutes?|"
              "Tuesday 24 November 2026, 10:00 (Pacific Standard Time)|Tuesday 24 November 2026|"
              "10:00 (Pacific Standard Time)");
    for (auto p : policy::reply_placeholders()) {
        EXPECT_EQ(policy::render_reply("{" + std::string(p) + "}", invite(),
                                       "dana.whitfield@contoso.example")
                      .find('{'),
                  std::string::npos)
            << p;
    }
}

TEST(reply, braces_are_written_twice) {
    EXPECT_EQ(policy::render_reply("{{not a placeholder}} {subject}", invite(), "x@y"),
              "{not a placeholder} Quick intro - 15 minutes?");
    EXPECT_FALSE(policy::check_reply_template("{{ok}}").has_value());
}

TEST(reply, template_problems_are_found_with_their_offset) {
    const auto unknown = policy::check_reply_template("Hi {organiser_name},");
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->offset, 3u);
    EXPECT_NE(unknown->message.find("unknown placeholder {organiser_name}"), std::string::npos);
    EXPECT_NE(unknown->message.find("organizer_name"), std::string::npos) << "lists the known ones";
    const auto open = policy::check_reply_template("Hi {organizer_name");
    ASSERT_TRUE(open);
    EXPECT_NE(open->message.find("closing"), std::string::npos);
    EXPECT_TRUE(policy::check_reply_template("a } b"));
}

TEST(reply, names_without_a_display_name) {
    calendar::invitation inv = invite();
    inv.organizer.name.clear();
    inv.attendees.front().name.clear();
    EXPECT_EQ(policy::render_reply("Hi {organizer_first_name}, {organizer_name} / {owner_name}",
                                   inv, "dana.whitfield@contoso.example"),
              "Hi there, Chris Dalton / Dana Whitfield");
}

TEST(reply, first_names) {
    EXPECT_EQ(policy::first_name("Chris Dalton"), "Chris");
    EXPECT_EQ(policy::first_name("Dalton, Chris"), "Chris");
    EXPECT_EQ(policy::first_name("Dr. Anna Schmidt"), "Anna");
    EXPECT_EQ(policy::first_name("Cher"), "Cher");
    EXPECT_EQ(policy::first_name(""), "there");
    EXPECT_EQ(policy::name_from_address("dana.whitfield@contoso.example"), "Dana Whitfield");
    EXPECT_EQ(policy::name_from_address("jlee@lexpartners.example"), "Jlee");
}

TEST(reply, all_day_events_have_no_time) {
    calendar::invitation inv = invite();
    inv.all_day = true;
    inv.start_local = {2026, 11, 26, 0, 0, ""};
    EXPECT_EQ(policy::format_local_start(inv, true, true), "Thursday 26 November 2026");
}

}  // namespace
