// The CalDAV source against a real Radicale (over TLS verified with a test CA) and a real SMTP
// server (aiosmtpd): discovery, full and incremental sync, a token the server forgot, answering
// with PUT + If-Match, a stale ETag, iMIP replies exactly once, a refusing or vanishing mail
// server, and Radicale going away and coming back.
#include "calendar/caldav/caldav_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "calendar/ical/parse.h"
#include "support/run_awaitable.h"
#include "support/files.h"
#include "support/radicale.h"
#include "support/smtp_sink.h"
#include "support/test_ca.h"

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace agendad::calendar;
using agendad::test_support::radicale;
using agendad::test_support::radicale_options;
using agendad::test_support::read_file;
using agendad::test_support::smtp_sink;
using agendad::test_support::smtp_stage;
using agendad::test_support::test_ca;
using ::testing::HasSubstr;
using ::testing::Not;

const fs::path invites = fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations" / "invites";
const std::string owner = "dana.whitfield@contoso.example";
const std::string calendar_path = "/dana/calendar/";

// An invitation file as a calendar client stores it: without METHOD (RFC 4791 §4.1).
std::string stored_form(const fs::path& file) {
    std::string text = read_file(file);
    const auto at = text.find("METHOD:");
    if (at != std::string::npos) text.erase(at, text.find('\n', at) + 1 - at);
    return text;
}

// What the delivery journal of the daemon would remember, in memory.
struct journal {
    bool started = false;
    std::vector<std::string> marks;
    bool refuse_mark = false;
    bool refuse_clear = false;  // as with a full disk
    int cleared = 0;
    void attach(response& r) {
        r.delivery.started = [this]() -> std::optional<bool> { return started; };
        r.delivery.mark = [this](std::string_view what) {
            if (refuse_mark) return false;
            marks.emplace_back(what);
            started = true;
            return true;
        };
        r.delivery.clear = [this] {
            if (refuse_clear) return false;
            started = false;
            ++cleared;
            return true;
        };
    }
};

class caldav_source_test : public ::testing::Test {
  protected:
    caldav_source_test()
        : server_(radicale_options{{{"dana", "dana-secret"}, {"sam", "sam-secret"}}, true, &ca_}) {}

    void SetUp() override {
        server_.start();
        server_.make_calendar("dana", calendar_path, "Dana");
        sink_.start();
    }

    caldav_settings settings() const {
        caldav_settings s;
        s.url = server_.url("/");
        s.user = "dana";
        s.password = "dana-secret";
        s.mailbox = owner;
        s.source_name = "source 'office'";
        smtp::settings mail;
        mail.host = sink_.host();
        mail.port = std::to_string(sink_.port());
        mail.mode = smtp::security::none;
        s.smtp = mail;
        return s;
    }

    std::unique_ptr<caldav_source> make(const caldav_settings& s, bool trust_ca = true) {
        http::tls_options tls;
        if (trust_ca) tls.ca_file = server_.ca_file();
        return std::make_unique<caldav_source>(
            std::make_shared<http::client>(io_.get_executor(), tls), s);
    }

    template <class T>
    T run(asio::awaitable<T> work) {
        return agendad::test_support::run_awaitable(io_, std::move(work));
    }

    source_result<sync_result> sync(caldav_source& s, const std::string& token) {
        return run(s.sync(token));
    }

    // Puts a labelled invitation into Dana's calendar; returns its href.
    std::string put_invite(const std::string& name) {
        const std::string href = calendar_path + name;
        server_.put("dana", href, stored_form(invites / name));
        return href;
    }

    // The owner's PARTSTAT in the object on the server now.
    partstat on_server(const std::string& href) {
        auto got = server_.get("dana", href);
        if (!got) return partstat::other;
        auto parsed = parse_ics(got->body, href, parse_options{owner});
        if (!parsed || parsed->events.empty() || !parsed->events.front().owner)
            return partstat::other;
        return parsed->events.front().owner->partstat;
    }

    static const source_item* find(const sync_result& r, const std::string& href) {
        for (const auto& item : r.items) {
            if (item.item_id == href) return &item;
        }
        return nullptr;
    }

    response decline(const std::string& text = "I am unable to attend.") {
        response r;
        r.status = partstat::declined;
        r.comment = text;
        r.send = true;
        r.owner_name = "Dana Whitfield";
        r.now = std::chrono::sys_days{std::chrono::year{2026} / 11 / 20} + std::chrono::hours{9};
        return r;
    }

    test_ca ca_;
    radicale server_;
    smtp_sink sink_;
    asio::io_context io_;
};

// --- discovery ---

TEST_F(caldav_source_test, finds_the_calendar_from_the_server_root_and_sees_no_scheduling) {
    auto source = make(settings());
    auto r = sync(*source, "");
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(source->calendar_url());
    EXPECT_EQ(source->calendar_url()->target, calendar_path);
    EXPECT_FALSE(source->server_schedules()) << "Radicale has no RFC 6638 scheduling";
    EXPECT_THAT(source->describe(), HasSubstr("replies by iMIP mail through 127.0.0.1:"));
}

TEST_F(caldav_source_test, two_calendars_need_the_mailbox_to_say_which) {
    server_.make_calendar("dana", "/dana/private/", "Private");
    auto source = make(settings());
    auto r = sync(*source, "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::invalid);
    EXPECT_THAT(r.error().message, HasSubstr("/dana/calendar/"));
    EXPECT_THAT(r.error().message, HasSubstr("/dana/private/"));
    EXPECT_THAT(r.error().message, HasSubstr("set the mailbox's calendar:"));

    auto s = settings();
    s.calendar = "/dana/private/";
    auto chosen = make(s);
    ASSERT_TRUE(sync(*chosen, ""));
    EXPECT_EQ(chosen->calendar_url()->target, "/dana/private/");
}

TEST_F(caldav_source_test, a_wrong_password_is_denied_and_never_shown) {
    auto s = settings();
    s.password = "not-the-password";
    auto r = sync(*make(s), "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied);
    EXPECT_THAT(r.error().message, HasSubstr("401"));
    EXPECT_THAT(r.error().message, Not(HasSubstr("not-the-password")));
}

TEST_F(caldav_source_test, a_certificate_from_an_unknown_ca_is_denied) {
    auto r = sync(*make(settings(), /*trust_ca=*/false), "");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied);
    EXPECT_THAT(r.error().message, HasSubstr("certificate"));
}

TEST_F(caldav_source_test, a_calendar_that_is_not_one_is_named) {
    auto s = settings();
    s.calendar = "/dana/";
    auto r = sync(*make(s), "");
    ASSERT_FALSE(r);
    EXPECT_THAT(r.error().message, HasSubstr("/dana/ is not a calendar collection"));
}

// --- sync ---

TEST_F(caldav_source_test, syncs_everything_then_only_changes_and_deletions) {
    const std::string d01 = put_invite("d01.ics");
    const std::string d02 = put_invite("d02.ics");
    auto source = make(settings());
    auto first = sync(*source, "");
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_TRUE(first->full);
    ASSERT_EQ(first->items.size(), 2u);
    const source_item* item = find(*first, d01);
    ASSERT_TRUE(item);
    ASSERT_EQ(item->events.size(), 1u);
    EXPECT_EQ(item->events[0].subject, "Quick intro - 15 minutes?");
    ASSERT_TRUE(item->events[0].owner);
    EXPECT_EQ(item->events[0].owner->partstat, partstat::needs_action);
    EXPECT_EQ(item->events[0].source.item_id, d01);
    EXPECT_EQ(item->events[0].source.change_key, item->etag);

    // Nothing changed: nothing comes back.
    auto quiet = sync(*source, first->token);
    ASSERT_TRUE(quiet) << quiet.error().message;
    EXPECT_FALSE(quiet->full);
    EXPECT_TRUE(quiet->items.empty());
    EXPECT_TRUE(quiet->removed.empty());
    // Again (the very same answer, which is not parsed twice): still nothing, the same place.
    auto still = sync(*source, quiet->token);
    ASSERT_TRUE(still) << still.error().message;
    EXPECT_FALSE(still->full);
    EXPECT_TRUE(still->items.empty());
    EXPECT_TRUE(still->removed.empty());
    EXPECT_EQ(still->token, quiet->token);

    const std::string d03 = put_invite("d03.ics");
    server_.remove("dana", d02);
    auto changes = sync(*source, still->token);
    ASSERT_TRUE(changes) << changes.error().message;
    EXPECT_FALSE(changes->full);
    ASSERT_EQ(changes->items.size(), 1u);
    EXPECT_EQ(changes->items[0].item_id, d03);
    EXPECT_EQ(changes->removed, std::vector<std::string>{d02});
}

TEST_F(caldav_source_test, a_token_the_server_does_not_know_means_a_full_listing) {
    put_invite("d01.ics");
    auto source = make(settings());
    auto r = sync(*source, "s:http://radicale.org/ns/sync/not-a-token-it-issued");
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->full);
    EXPECT_EQ(r->items.size(), 1u);
    // And a token that is not ours at all.
    auto again = sync(*source, "garbage");
    ASSERT_TRUE(again);
    EXPECT_TRUE(again->full);
}

TEST_F(caldav_source_test, radicale_going_away_is_transient_and_coming_back_works) {
    const std::string d01 = put_invite("d01.ics");
    auto source = make(settings());
    auto first = sync(*source, "");
    ASSERT_TRUE(first);
    server_.stop();
    auto down = sync(*source, first->token);
    ASSERT_FALSE(down);
    EXPECT_EQ(down.error().kind, source_failure::transient);
    server_.start();
    put_invite("d02.ics");
    auto back = sync(*source, first->token);
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->items.size(), 1u);
}

// --- answering ---

TEST_F(caldav_source_test, a_decline_changes_partstat_and_mails_one_reply_to_the_organizer) {
    const std::string d01 = put_invite("d01.ics");
    auto source = make(settings());
    auto listed = sync(*source, "");
    ASSERT_TRUE(listed);
    const source_item& item = *find(*listed, d01);
    journal j;
    response r = decline();
    j.attach(r);
    auto done = run(source->respond(item.item_id, item.etag, item.events[0], r));
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(on_server(d01), partstat::declined);
    ASSERT_TRUE(sink_.wait_for(1));
    const auto mails = sink_.messages();
    ASSERT_EQ(mails.size(), 1u);
    EXPECT_EQ(mails[0].recipients, std::vector<std::string>{"chris.dalton@pipelinepro.example"});
    EXPECT_EQ(mails[0].from, owner);
    EXPECT_THAT(mails[0].content, HasSubstr("Subject: Declined: Quick intro - 15 minutes?"));
    EXPECT_THAT(mails[0].content, HasSubstr("method=REPLY"));
    EXPECT_THAT(mails[0].content, HasSubstr("Auto-Submitted: auto-replied"));
    ASSERT_EQ(j.marks.size(), 1u);
    EXPECT_THAT(j.marks[0], HasSubstr("to chris.dalton@pipelinepro.example"));

    // The source now says it took effect: crash recovery will not send it again.
    auto state = run(source->state(item.item_id, item.events[0], r));
    ASSERT_TRUE(state);
    EXPECT_TRUE(state->applied);
    EXPECT_EQ(state->owner_status, partstat::declined);
}

TEST_F(caldav_source_test, a_silent_decline_changes_partstat_and_sends_nothing) {
    const std::string d01 = put_invite("d01.ics");
    auto source = make(settings());
    auto listed = sync(*source, "");
    const source_item& item = *find(*listed, d01);
    response r = decline("");
    r.send = false;
    auto done = run(source->respond(item.item_id, item.etag, item.events[0], r));
    ASSERT_TRUE(done) << done.error().message;
    EXPECT_EQ(on_server(d01), partstat::declined);
    EXPECT_FALSE(sink_.wait_for(1, std::chrono::milliseconds{500}));
}

TEST_F(caldav_source_test, a_stale_etag_is_a_conflict_and_changes_nothing) {
    const std::string d01 = put_invite("d01.ics");
    auto source = make(settings());
    auto listed = sync(*source, "");
    const source_item item = *find(*listed, d01);
    // The organizer updates the meeting after agendad read it.
    std::string updated = stored_form(invites / "d01.ics");
    updated.insert(updated.find("END:VEVENT"), "COMMENT:Moved to the lobby\r\n");
    server_.put("dana", d01, updated, item.etag);

    journal j;
    response r = decline();
    j.attach(r);
    auto done = run(source->respond(item.item_id, item.etag, item.events[0], r));
    ASSERT_FALSE(done);
    EXPECT_EQ(done.error().kind, source_failure::conflict);
    EXPECT_EQ(on_server(d01), partstat::needs_action);
    EXPECT_TRUE(j.marks.empty());
    EXPECT_FALSE(sink_.wait_for(1, std::chrono::milliseconds{300}));

    // Read again, it works on the new version.
    auto again = sync(*source, listed->token);
    ASSERT_TRUE(again && again->items.size() == 1u);
    const source_item& fresh = again->items[0];
    ASSERT_TRUE(run(source->respond(fresh.item_id, fresh.etag, fresh.events[0], r)));
    EXPECT_EQ(on_server(d01), partstat::declined);
    EXPECT_TRUE(sink_.wait_for(1));
}

TEST_F(caldav_source_test, a_refusing_mail_server_is_retried_without_a_second_partstat_change) {
    const std::string d01 = put_invite("d01.ics");
    auto source = make(settings());
    auto listed = sync(*source, "");
    const source_item& item = *find(*listed, d01);
    journal j;
    response r = decline();
    j.attach(r);
    sink_.refuse(smtp_stage::data, 451);
    auto refused = run(source->respond(item.item_id, item.etag, item.events[0], r));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().kind, source_failure::transient);
    EXPECT_THAT(refused.error().message, HasSubstr("451"));
    // Refused at the end of the data: marked at the point of no return, then cleared.
    EXPECT_EQ(j.cleared, 1);
    EXPECT_FALSE(j.started);
    EXPECT_EQ(on_server(d01), partstat::declined);
    // The answer is on the server but the reply is not out: not applied yet.
    auto state = run(source->state(item.item_id, item.events[0], r));
    ASSERT_TRUE(state);
    EXPECT_FALSE(state->applied);

    sink_.accept();
    auto fresh = sync(*source, listed->token);
    ASSERT_TRUE(fresh && fresh->items.size() == 1u);
    const source_item& now = fresh->items[0];
    auto sent = run(source->respond(now.item_id, now.etag, now.events[0], r));
    ASSERT_TRUE(sent) << sent.error().message;
    ASSERT_TRUE(sink_.wait_for(1));
    EXPECT_EQ(sink_.messages().size(), 1u);
    EXPECT_TRUE(j.started);
}

// A refusal after the point of no return that cannot be journaled (the disk is full) leaves the
// mark: never twice, and the error says that this reply needs a person.
TEST_F(caldav_source_test, a_refusal_the_journal_cannot_take_back_is_never_retried_and_says_so) {
    const std::string d01 = put_invite("d01.ics");
    auto source = make(settings());
    auto listed = sync(*source, "");
    const source_item& item = *find(*listed, d01);
    journal j;
    j.refuse_clear = true;
    response r = decline();
    j.attach(r);
    sink_.refuse(smtp_stage::data, 451);
    auto refused = run(source->respond(item.item_id, item.etag, item.events[0], r));
    ASSERT_FALSE(refused);
    EXPECT_THAT(refused.error().message, HasSubstr("send it by hand"));
    EXPECT_TRUE(j.started);
    sink_.accept();
    auto fresh = sync(*source, listed->token);
    const source_item& now = fresh->items[0];
    ASSERT_TRUE(run(source->respond(now.item_id, now.etag, now.events[0], r)));
    EXPECT_FALSE(sink_.wait_for(1, std::chrono::milliseconds{500}));
}

TEST_F(caldav_source_test, a_reply_that_may_have_gone_out_is_never_sent_again) {
    const std::string d01 = put_invite("d01.ics");
    auto source = make(settings());
    auto listed = sync(*source, "");
    const source_item& item = *find(*listed, d01);
    journal j;
    response r = decline();
    j.attach(r);
    // The server takes the message but cuts the line before its 250.
    sink_.hang_up_after_data();
    auto done = run(source->respond(item.item_id, item.etag, item.events[0], r));
    ASSERT_TRUE(done) << "a mail that may have been delivered counts as sent";
    ASSERT_TRUE(sink_.wait_for(1));
    sink_.accept();
    // A retry (as after a crash) finds the mark and sends nothing.
    auto state = run(source->state(item.item_id, item.events[0], r));
    ASSERT_TRUE(state);
    EXPECT_TRUE(state->applied);
    auto fresh = sync(*source, listed->token);
    const source_item& now = fresh->items[0];
    ASSERT_TRUE(run(source->respond(now.item_id, now.etag, now.events[0], r)));
    EXPECT_FALSE(sink_.wait_for(2, std::chrono::milliseconds{500}));
    EXPECT_EQ(j.marks.size(), 1u);
}

TEST_F(caldav_source_test, without_smtp_a_reply_is_refused_before_anything_changes) {
    const std::string d01 = put_invite("d01.ics");
    auto s = settings();
    s.smtp.reset();
    auto source = make(s);
    auto listed = sync(*source, "");
    const source_item& item = *find(*listed, d01);
    auto done = run(source->respond(item.item_id, item.etag, item.events[0], decline()));
    ASSERT_FALSE(done);
    EXPECT_EQ(done.error().kind, source_failure::invalid);
    EXPECT_THAT(done.error().message, HasSubstr("no smtp settings"));
    EXPECT_EQ(on_server(d01), partstat::needs_action);
}

TEST_F(caldav_source_test, a_meeting_deleted_before_the_answer_is_gone) {
    const std::string d01 = put_invite("d01.ics");
    auto source = make(settings());
    auto listed = sync(*source, "");
    const source_item item = *find(*listed, d01);
    server_.remove("dana", d01);
    auto done = run(source->respond(item.item_id, item.etag, item.events[0], decline()));
    ASSERT_FALSE(done);
    EXPECT_EQ(done.error().kind, source_failure::gone);
    auto state = run(source->state(item.item_id, item.events[0], decline()));
    ASSERT_TRUE(state);
    EXPECT_FALSE(state->item_exists);
    EXPECT_FALSE(sink_.wait_for(1, std::chrono::milliseconds{300}));
}

}  // namespace
