// The EWS client and source against the fake EWS server over real TLS: a full sync of the
// calendar folder and then only its changes (SyncState as the token), paging while
// IncludesLastItemInRange is false, an expired SyncState giving a full sync, answers recorded by
// the fake exactly once (SendAndSaveCopy with the reply as the body, SaveOnly when silent), a
// stale ChangeKey, state() for crash recovery, NTLM signing in once per connection, wrong
// passwords, ErrorServerBusy's BackOffMilliseconds, a denied impersonation beside a working
// mailbox, and a CreateItem never sent twice.
#include "calendar/ews/ews_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "support/run_awaitable.h"
#include "support/ews_calendar_items.h"
#include "support/fake_ews.h"

namespace {

namespace asio = boost::asio;
using namespace agendad::calendar;
using namespace agendad::calendar::ews;
using namespace std::chrono_literals;
using agendad::test_support::ews_calendar_items_from_ics;
using agendad::test_support::fake_ews;
using ::testing::HasSubstr;

const std::string dana = "dana@contoso.example";
const std::string sam = "sam@contoso.example";

// A meeting from a vendor to Dana (not answered yet) as the calendar item Exchange shows.
std::string meeting(const std::string& uid, const std::string& subject,
                    const std::string& start = "20261201T150000Z") {
    const std::string ics =
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\n"
        "BEGIN:VEVENT\r\nUID:" +
        uid + "\r\nDTSTAMP:20261120T090000Z\r\nDTSTART:" + start +
        "\r\nDURATION:PT1H\r\nSUMMARY:" + subject +
        "\r\nDESCRIPTION:Quick chat about our platform.\r\n"
        "ORGANIZER;CN=Rep:mailto:rep@vendor.example\r\n"
        "ATTENDEE;CN=Dana;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:" +
        dana + "\r\nSEQUENCE:0\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    const auto items = ews_calendar_items_from_ics(ics, uid + ".ics", dana);
    return items.at(0).xml;
}

class ews_source_test : public ::testing::Test {
  protected:
    explicit ews_source_test(fake_ews::options o = {}) : ews_(std::move(o)) {
        ews_.add_mailbox(dana, "Dana");
        ews_.add_mailbox(sam, "Sam");
        ews_.grant_impersonation(dana);
        ews_.grant_impersonation(sam);
    }

    virtual sign_in credentials() const {
        sign_in c;
        c.kind = sign_in::scheme::basic;
        c.account = "svc-agendad";
        c.password = "test-password";
        return c;
    }

    std::shared_ptr<ews_client> client() {
        if (!client_) {
            http::tls_options tls;
            tls.ca_file = ews_.ca_file();
            auto http = std::make_shared<http::client>(io_.get_executor(), tls);
            client_limits l;
            l.first_backoff = 20ms;
            client_ = std::make_shared<ews_client>(io_.get_executor(), http, ews_.ews_url(),
                                                   credentials(), l);
        }
        return client_;
    }

    std::unique_ptr<ews_source> make(const std::string& mailbox = dana, int batch = 50) {
        ews_settings s;
        s.mailbox = mailbox;
        s.source_name = "source 'exchange'";
        s.get_item_batch = batch;
        return std::make_unique<ews_source>(client(), s);
    }

    template <class T>
    T run(asio::awaitable<T> work) {
        return agendad::test_support::run_awaitable(io_, std::move(work));
    }

    sync_result sync_ok(ews_source& s, const std::string& token) {
        auto r = run(s.sync(token));
        EXPECT_TRUE(r) << r.error().message;
        return r ? std::move(*r) : sync_result{};
    }

    static const source_item* find(const sync_result& r, const std::string& id) {
        for (const auto& item : r.items) {
            if (item.item_id == id) return &item;
        }
        return nullptr;
    }

    int count(const std::string& operation) const {
        int n = 0;
        for (const auto& r : ews_.requests()) n += r.operation == operation ? 1 : 0;
        return n;
    }

    source_result<void> answer(ews_source& s, const source_item& item, partstat status,
                               const std::string& comment, bool send) {
        response r;
        r.status = status;
        r.comment = comment;
        r.send = send;
        return run(s.respond(item.item_id, item.etag, item.events.front(), r));
    }

    source_result<applied_state> state_of(ews_source& s, const source_item& item,
                                          partstat status) {
        response r;
        r.status = status;
        return run(s.state(item.item_id, item.events.front(), r));
    }

    fake_ews ews_;
    asio::io_context io_;
    std::shared_ptr<ews_client> client_;
};

TEST_F(ews_source_test, full_sync_reads_the_calendar_then_only_what_changed) {
    const std::string a = ews_.add_item(dana, meeting("uid-a", "Platform demo"));
    const std::string b = ews_.add_item(dana, meeting("uid-b", "Quarterly check-in"));
    const std::string other = ews_.add_item(sam, meeting("uid-s", "Not Dana's"));
    auto source = make();

    const sync_result first = sync_ok(*source, "");
    EXPECT_TRUE(first.full);
    ASSERT_EQ(first.items.size(), 2u);
    EXPECT_TRUE(first.token.starts_with("ews1 ")) << first.token;
    const source_item* item = find(first, a);
    ASSERT_NE(item, nullptr);
    EXPECT_EQ(item->etag, ews_.item(dana, a)->change_key);
    ASSERT_EQ(item->events.size(), 1u);
    const invitation& inv = item->events.front();
    EXPECT_EQ(inv.subject, "Platform demo");
    EXPECT_EQ(inv.uid, "uid-a");
    EXPECT_EQ(inv.organizer.address, "rep@vendor.example");
    ASSERT_TRUE(inv.owner.has_value());
    EXPECT_EQ(inv.owner->partstat, partstat::needs_action);
    EXPECT_TRUE(item->problems.empty());
    EXPECT_EQ(find(first, other), nullptr);

    // Every request named Dana: impersonated and anchored.
    for (const auto& r : ews_.requests()) {
        EXPECT_EQ(r.mailbox, dana) << r.operation;
        EXPECT_TRUE(r.impersonated) << r.operation;
        EXPECT_EQ(r.anchor_mailbox, dana) << r.operation;
    }

    // The SOAP sent: the first round without a SyncState, 512 changes a call, ids only; then
    // GetItem of exactly the two items.
    const auto requests = ews_.requests();
    ASSERT_GE(requests.size(), 2u);
    EXPECT_EQ(requests[0].operation, "SyncFolderItems");
    EXPECT_THAT(requests[0].body, HasSubstr("<m:MaxChangesReturned>512</m:MaxChangesReturned>"));
    EXPECT_THAT(requests[0].body, HasSubstr("<t:BaseShape>IdOnly</t:BaseShape>"));
    EXPECT_THAT(requests[0].body, ::testing::Not(HasSubstr("SyncState")));
    EXPECT_THAT(requests[0].body, HasSubstr("<t:PrimarySmtpAddress>" + dana));
    EXPECT_EQ(requests[1].operation, "GetItem");
    EXPECT_THAT(requests[1].body, HasSubstr(a));
    EXPECT_THAT(requests[1].body, HasSubstr(b));
    EXPECT_THAT(requests[1].field_uris, ::testing::Contains("calendar:MyResponseType"));

    // Nothing changed: no item, no GetItem.
    const int get_items = count("GetItem");
    const sync_result quiet = sync_ok(*source, first.token);
    EXPECT_THAT(ews_.requests().back().body,
                HasSubstr("<m:SyncState>" + first.token.substr(5) + "</m:SyncState>"))
        << "the token carries the SyncState";
    EXPECT_FALSE(quiet.full);
    EXPECT_TRUE(quiet.items.empty());
    EXPECT_TRUE(quiet.removed.empty());
    EXPECT_EQ(count("GetItem"), get_items);

    ews_.update_item(dana, a, meeting("uid-a", "Platform demo (moved)", "20261202T150000Z"));
    ews_.remove_item(dana, b);
    const sync_result changes = sync_ok(*source, quiet.token);
    EXPECT_FALSE(changes.full);
    ASSERT_EQ(changes.items.size(), 1u);
    EXPECT_EQ(changes.items[0].item_id, a);
    EXPECT_EQ(changes.items[0].events.front().subject, "Platform demo (moved)");
    EXPECT_EQ(changes.items[0].etag, ews_.item(dana, a)->change_key);
    EXPECT_EQ(changes.removed, std::vector<std::string>{b});
}

class ews_source_paged_test : public ews_source_test {
  protected:
    static fake_ews::options paged() {
        fake_ews::options o;
        o.page_size = 2;
        return o;
    }
    ews_source_paged_test() : ews_source_test(paged()) {}
};

TEST_F(ews_source_paged_test, several_rounds_until_the_last_item_is_in_range) {
    std::set<std::string> added;
    for (int i = 0; i < 5; ++i) {
        added.insert(ews_.add_item(dana, meeting("uid-" + std::to_string(i), "M" + std::to_string(i))));
    }
    auto source = make(dana, 2);
    const sync_result r = sync_ok(*source, "");
    std::set<std::string> got;
    for (const auto& item : r.items) got.insert(item.item_id);
    EXPECT_EQ(got, added);
    EXPECT_EQ(count("SyncFolderItems"), 3) << "2 + 2 + 1 changes";
    EXPECT_EQ(count("GetItem"), 3) << "5 ids in batches of 2";
}

TEST_F(ews_source_test, an_expired_sync_state_gives_a_full_sync) {
    const std::string a = ews_.add_item(dana, meeting("uid-a", "Platform demo"));
    auto source = make();
    const sync_result first = sync_ok(*source, "");
    ews_.expire_sync_states();
    const sync_result again = sync_ok(*source, first.token);
    EXPECT_TRUE(again.full) << "ErrorInvalidSyncStateData: everything again";
    ASSERT_EQ(again.items.size(), 1u);
    EXPECT_EQ(again.items[0].item_id, a);
    EXPECT_NE(again.token, first.token);
}

TEST_F(ews_source_test, decline_is_sent_once_with_the_reply_as_its_body) {
    const std::string a = ews_.add_item(dana, meeting("uid-a", "Platform demo"));
    auto source = make();
    const sync_result r = sync_ok(*source, "");
    const source_item& item = *find(r, a);
    const std::string reply = "Thank you for the invitation to \"Platform demo\" <b>not</b> & co.";
    ASSERT_TRUE(answer(*source, item, partstat::declined, reply, true));

    const auto responses = ews_.responses();
    ASSERT_EQ(responses.size(), 1u);
    EXPECT_EQ(responses[0].mailbox, dana);
    EXPECT_EQ(responses[0].item_id, a);
    EXPECT_EQ(responses[0].kind, "DeclineItem");
    EXPECT_EQ(responses[0].disposition, "SendAndSaveCopy");
    EXPECT_EQ(responses[0].body, reply) << "escaped on the wire, intact on arrival";
    EXPECT_EQ(responses[0].body_type, "Text");
    EXPECT_EQ(ews_.item(dana, a)->my_response_type, "Decline");

    const auto state = state_of(*source, item, partstat::declined);
    ASSERT_TRUE(state) << state.error().message;
    EXPECT_TRUE(state->applied);
    EXPECT_EQ(state->owner_status, partstat::declined);
}

TEST_F(ews_source_test, a_silent_answer_is_saved_not_sent_and_tentative_is_tentative) {
    const std::string a = ews_.add_item(dana, meeting("uid-a", "Platform demo"));
    const std::string b = ews_.add_item(dana, meeting("uid-b", "Check-in"));
    auto source = make();
    const sync_result r = sync_ok(*source, "");
    ASSERT_TRUE(answer(*source, *find(r, a), partstat::declined, "", false));
    ASSERT_TRUE(answer(*source, *find(r, b), partstat::tentative, "What is the agenda?", true));
    const auto responses = ews_.responses();
    ASSERT_EQ(responses.size(), 2u);
    EXPECT_EQ(responses[0].disposition, "SaveOnly");
    EXPECT_EQ(responses[0].body, "");
    EXPECT_EQ(responses[1].kind, "TentativelyAcceptItem");
    EXPECT_EQ(responses[1].body, "What is the agenda?");
    const auto state = state_of(*source, *find(r, b), partstat::tentative);
    ASSERT_TRUE(state);
    EXPECT_TRUE(state->applied);
    const auto not_declined = state_of(*source, *find(r, b), partstat::declined);
    ASSERT_TRUE(not_declined);
    EXPECT_FALSE(not_declined->applied);
}

TEST_F(ews_source_test, a_changed_item_is_a_conflict_and_nothing_is_sent) {
    const std::string a = ews_.add_item(dana, meeting("uid-a", "Platform demo"));
    auto source = make();
    const sync_result r = sync_ok(*source, "");
    ews_.update_item(dana, a, meeting("uid-a", "Platform demo, new time", "20261203T150000Z"));
    const auto got = answer(*source, *find(r, a), partstat::declined, "No.", true);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, source_failure::conflict) << got.error().message;
    EXPECT_TRUE(ews_.responses().empty());
    EXPECT_EQ(count("CreateItem"), 0);
}

TEST_F(ews_source_test, a_change_key_gone_stale_on_the_server_is_a_conflict) {
    const std::string a = ews_.add_item(dana, meeting("uid-a", "Platform demo"));
    auto source = make();
    const sync_result r = sync_ok(*source, "");
    ews_.stale_change_keys();
    const auto got = answer(*source, *find(r, a), partstat::declined, "No.", true);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, source_failure::conflict) << got.error().message;
    EXPECT_TRUE(ews_.responses().empty());
}

TEST_F(ews_source_test, server_busy_waits_its_back_off_and_tries_again) {
    ews_.add_item(dana, meeting("uid-a", "Platform demo"));
    fake_ews::fault busy;
    busy.what = fake_ews::fault::kind::server_busy;
    busy.back_off = 400ms;
    ews_.fail_next("SyncFolderItems", busy);
    auto source = make();
    const auto start = std::chrono::steady_clock::now();
    const sync_result r = sync_ok(*source, "");
    EXPECT_GE(std::chrono::steady_clock::now() - start, 390ms) << "BackOffMilliseconds honoured";
    EXPECT_EQ(r.items.size(), 1u);
    EXPECT_EQ(client()->throttled(), 1);
    EXPECT_EQ(count("SyncFolderItems"), 2);
}

TEST_F(ews_source_test, a_back_off_longer_than_the_limit_is_a_transient_failure) {
    fake_ews::fault busy;
    busy.what = fake_ews::fault::kind::server_busy;
    busy.back_off = std::chrono::hours{1};
    ews_.fail_next("SyncFolderItems", busy);
    auto source = make();
    const auto r = run(source->sync(""));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::transient);
    EXPECT_THAT(r.error().message, HasSubstr("ErrorServerBusy"));
    EXPECT_THAT(r.error().message, HasSubstr(dana));
}

TEST_F(ews_source_test, a_denied_impersonation_is_reported_for_that_mailbox_only) {
    ews_.add_item(sam, meeting("uid-s", "For Sam"));
    ews_.deny(dana);
    auto denied = make(dana);
    auto fine = make(sam);
    const auto r = run(denied->sync(""));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied);
    EXPECT_THAT(r.error().message, HasSubstr("ErrorImpersonateUserDenied"));
    EXPECT_THAT(r.error().message, HasSubstr("ApplicationImpersonation"));
    EXPECT_THAT(r.error().message, HasSubstr(dana));
    EXPECT_EQ(sync_ok(*fine, "").items.size(), 1u);
}

TEST_F(ews_source_test, a_create_item_whose_connection_breaks_is_not_sent_again) {
    const std::string a = ews_.add_item(dana, meeting("uid-a", "Platform demo"));
    auto source = make();
    const sync_result r = sync_ok(*source, "");
    fake_ews::fault reset;
    reset.what = fake_ews::fault::kind::reset;
    ews_.fail_next("CreateItem", reset);
    const auto got = answer(*source, *find(r, a), partstat::declined, "No.", true);
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, source_failure::transient) << got.error().message;
    EXPECT_EQ(count("CreateItem"), 1) << "the daemon checks state() before trying again";
}

TEST_F(ews_source_test, describe_names_mailbox_url_and_sign_in_but_no_password) {
    auto source = make();
    const std::string text = source->describe();
    EXPECT_THAT(text, HasSubstr(dana));
    EXPECT_THAT(text, HasSubstr(ews_.ews_url()));
    EXPECT_THAT(text, HasSubstr("Basic as svc-agendad"));
    EXPECT_THAT(text, ::testing::Not(HasSubstr("test-password")));
}

TEST_F(ews_source_test, autodiscover_finds_the_ews_url_before_the_first_request) {
    const std::string a = ews_.add_item(dana, meeting("uid-a", "Platform demo"));
    http::tls_options tls;
    tls.ca_file = ews_.ca_file();
    auto http = std::make_shared<http::client>(io_.get_executor(), tls);
    auto discovering = std::make_shared<ews_client>(io_.get_executor(), http, "", credentials());
    discovering->use_autodiscover(ews_.autodiscover_url());
    ews_settings settings;
    settings.mailbox = dana;
    ews_source source(discovering, settings);
    EXPECT_THAT(source.describe(), HasSubstr("Autodiscover"));
    const sync_result r = sync_ok(source, "");
    ASSERT_EQ(r.items.size(), 1u);
    EXPECT_EQ(r.items[0].item_id, a);
    EXPECT_EQ(discovering->url(), ews_.ews_url());
    const auto requests = ews_.requests();
    ASSERT_GE(requests.size(), 2u);
    EXPECT_EQ(requests[0].operation, "Autodiscover");
    EXPECT_THAT(requests[0].body, HasSubstr("<EMailAddress>" + dana + "</EMailAddress>"));
    EXPECT_EQ(requests[1].operation, "SyncFolderItems");
    // Once found, the URL is kept: no second Autodiscover.
    sync_ok(source, r.token);
    int asked = 0;
    for (const auto& q : ews_.requests()) asked += q.operation == "Autodiscover";
    EXPECT_EQ(asked, 1);
}

TEST_F(ews_source_test, an_autodiscover_that_knows_no_url_fails_naming_what_was_asked) {
    http::tls_options tls;
    tls.ca_file = ews_.ca_file();
    auto http = std::make_shared<http::client>(io_.get_executor(), tls);
    auto discovering = std::make_shared<ews_client>(io_.get_executor(), http, "", credentials());
    discovering->use_autodiscover(ews_.autodiscover_url());
    ews_settings settings;
    settings.mailbox = "nobody@contoso.example";
    ews_source source(discovering, settings);
    const auto r = run(source.sync(""));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::transient);
    EXPECT_THAT(r.error().message, HasSubstr("Autodiscover found no EWS URL for nobody@"));
    EXPECT_THAT(r.error().message, HasSubstr(ews_.origin()));
    EXPECT_TRUE(discovering->url().empty());
}

// --- NTLM ---

class ews_source_ntlm_test : public ews_source_test {
  protected:
    static fake_ews::options ntlm_options() {
        fake_ews::options o;
        o.auth = fake_ews::auth_scheme::ntlm;
        return o;
    }
    ews_source_ntlm_test() : ews_source_test(ntlm_options()) {}
    sign_in credentials() const override {
        sign_in c;
        c.kind = sign_in::scheme::ntlm;
        c.account = "CONTOSO\\svc-agendad";
        c.password = password_;
        return c;
    }
    std::string password_ = "test-password";
};

TEST_F(ews_source_ntlm_test, signs_in_once_per_connection_and_reuses_it) {
    for (int i = 0; i < 3; ++i) ews_.add_item(dana, meeting("uid-" + std::to_string(i), "M"));
    auto source = make(dana, 1);
    const sync_result r = sync_ok(*source, "");
    EXPECT_EQ(r.items.size(), 3u);
    EXPECT_EQ(ews_.ntlm_handshakes(), 1) << "one sign-in for a SyncFolderItems and 3 GetItems";
    EXPECT_EQ(client()->handshakes(), 1);
    const auto requests = ews_.requests();
    ASSERT_GE(requests.size(), 4u);
    EXPECT_EQ(requests[0].authorization_scheme, "NTLM");
}

TEST_F(ews_source_ntlm_test, a_wrong_password_is_denied_and_names_the_account) {
    password_ = "not-the-password";
    auto source = make();
    const auto r = run(source->sync(""));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied) << r.error().message;
    EXPECT_THAT(r.error().message, HasSubstr("CONTOSO\\svc-agendad"));
    EXPECT_THAT(r.error().message, ::testing::Not(HasSubstr("not-the-password")));
    EXPECT_EQ(ews_.ntlm_handshakes(), 0);
}

TEST_F(ews_source_ntlm_test, a_client_for_basic_against_an_ntlm_server_says_what_is_offered) {
    sign_in c;
    c.kind = sign_in::scheme::basic;
    c.account = "svc-agendad";
    c.password = "test-password";
    http::tls_options tls;
    tls.ca_file = ews_.ca_file();
    auto http = std::make_shared<http::client>(io_.get_executor(), tls);
    auto basic = std::make_shared<ews_client>(io_.get_executor(), http, ews_.ews_url(), c);
    ews_settings s;
    s.mailbox = dana;
    ews_source source(basic, s);
    const auto r = run(source.sync(""));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied);
    EXPECT_THAT(r.error().message, HasSubstr("Basic"));
}

}  // namespace
