// The Graph source against the fake Graph over real TLS: a full sync (history + a delta round),
// delta changes and removals, a forgotten round (410) and a slid window giving a full sync,
// paging, a series decided once on its master, answers (decline, tentative, undo) recorded by
// the fake exactly once, state() for crash recovery, a stale changeKey, a denied mailbox beside
// a working one, unreadable events, and links to another origin.
#include "calendar/graph/graph_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "support/run_awaitable.h"
#include "support/fake_graph.h"

namespace {

namespace asio = boost::asio;
using namespace agendad::calendar;
using namespace agendad::calendar::graph;
using namespace std::chrono_literals;
using agendad::test_support::fake_graph;
using std::chrono::sys_seconds;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string dana = "dana@contoso.com";
const std::string sam = "sam@contoso.com";

// "2026-03-01T10:00:00" (UTC, as the fake reads it).
std::string graph_time(sys_seconds t) {
    return format_utc(t).substr(0, 19);
}

// A meeting Dana is invited to, `start` for an hour; `extra` is more JSON members.
std::string meeting(const std::string& subject, sys_seconds start, const std::string& extra = "") {
    return R"({"subject":")" + subject + R"(","start":{"dateTime":")" + graph_time(start) +
           R"(","timeZone":"UTC"},"end":{"dateTime":")" + graph_time(start + 1h) +
           R"(","timeZone":"UTC"},"organizer":{"emailAddress":{"address":"boss@contoso.com","name":"Boss"}},)" +
           R"("attendees":[{"type":"required","status":{"response":"none"},"emailAddress":{"address":")" +
           dana + R"(","name":"Dana"}}],)" +
           R"("isOrganizer":false,"responseRequested":true,"responseStatus":{"response":"notResponded"},)" +
           R"("body":{"contentType":"text","content":"Agenda: numbers."})" + extra + "}";
}

std::string weekly(const std::string& subject, sys_seconds first) {
    const std::string day = graph_time(first).substr(0, 10);
    const std::chrono::weekday wd{std::chrono::floor<std::chrono::days>(first)};
    static constexpr const char* names[] = {"sunday",   "monday", "tuesday", "wednesday",
                                            "thursday", "friday", "saturday"};
    return meeting(subject, first,
                   R"(,"recurrence":{"pattern":{"type":"weekly","interval":1,"daysOfWeek":[")" +
                       std::string(names[wd.c_encoding()]) +
                       R"("],"firstDayOfWeek":"sunday"},"range":{"type":"noEnd","startDate":")" +
                       day + R"("}})");
}

// An id as it appears in a request path (percent-encoded: Graph ids end in '=').
std::string in_path(const std::string& id) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : id) {
        const auto b = static_cast<unsigned char>(c);
        if (std::isalnum(b) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[b >> 4];
            out += hex[b & 15];
        }
    }
    return out;
}

fake_graph::fault fault_of_429() {
    fake_graph::fault f;
    f.status = 429;
    f.retry_after = std::chrono::seconds{1};
    return f;
}

class graph_source_test : public ::testing::Test {
  protected:
    explicit graph_source_test(fake_graph::options o = {})
        : graph_(std::move(o)),
          now_(std::chrono::floor<std::chrono::hours>(std::chrono::system_clock::now())) {
        graph_.add_user(dana);
        graph_.add_user(sam);
    }

    app_credentials credentials() const {
        app_credentials c;
        c.authority = graph_.authority();
        c.tenant = "contoso-tenant";
        c.client_id = "11111111-2222-3333-4444-555555555555";
        c.client_secret = "test-client-secret";
        return c;
    }

    std::shared_ptr<graph_client> client() {
        if (!client_) {
            http::tls_options tls;
            tls.ca_file = graph_.ca_file();
            auto http = std::make_shared<http::client>(io_.get_executor(), tls);
            auto tokens = std::make_shared<token_provider>(http, credentials(), nullptr);
            throttling t;
            t.first_backoff = 20ms;
            client_ = std::make_shared<graph_client>(io_.get_executor(), http, tokens,
                                                     graph_.graph_url(), t);
        }
        return client_;
    }

    graph_settings settings(const std::string& mailbox = dana) {
        graph_settings s;
        s.mailbox = mailbox;
        s.source_name = "source 'm365'";
        s.window_back = std::chrono::days{1};
        s.window_ahead = std::chrono::days{60};
        s.history = std::chrono::days{90};
        s.now = [this] { return now_; };
        return s;
    }

    std::unique_ptr<graph_source> make(const std::string& mailbox = dana) {
        return std::make_unique<graph_source>(client(), settings(mailbox));
    }

    template <class T>
    T run(asio::awaitable<T> work) {
        return agendad::test_support::run_awaitable(io_, std::move(work));
    }

    sync_result sync_ok(graph_source& s, const std::string& token) {
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

    static std::set<std::string> ids(const sync_result& r) {
        std::set<std::string> out;
        for (const auto& item : r.items) out.insert(item.item_id);
        return out;
    }

    int count(const std::string& method, const std::string& part) const {
        int n = 0;
        for (const auto& r : graph_.requests()) {
            if (r.method == method && r.target.find(part) != std::string::npos) ++n;
        }
        return n;
    }

    // The event's changeKey as the fake has it now.
    std::string change_key(const std::string& id, const std::string& user = dana) const {
        const auto e = graph_.event(user, id);
        if (!e) return {};
        const auto at = e->find("\"changeKey\":\"");
        if (at == std::string::npos) return {};
        const auto start = at + 13;
        return e->substr(start, e->find('"', start) - start);
    }

    source_result<void> answer(graph_source& s, const source_item& item, partstat status,
                               const std::string& comment, bool send) {
        response r;
        r.status = status;
        r.comment = comment;
        r.send = send;
        return run(s.respond(item.item_id, item.etag, item.events.front(), r));
    }

    source_result<applied_state> state_of(graph_source& s, const std::string& id,
                                          const invitation& inv, partstat status) {
        response r;
        r.status = status;
        return run(s.state(id, inv, r));
    }

    fake_graph graph_;
    sys_seconds now_;
    asio::io_context io_;
    std::shared_ptr<graph_client> client_;
};

TEST_F(graph_source_test, describes_the_mailbox_and_the_graph_url) {
    auto s = make();
    EXPECT_EQ(s->describe(), "Microsoft Graph mailbox " + dana + " via " + graph_.graph_url() +
                                 " (source 'm365')");
    EXPECT_EQ(s->kind(), "graph");
}

TEST_F(graph_source_test, a_full_sync_lists_the_window_and_the_history) {
    const std::string past = graph_.add_event(dana, meeting("Last month", now_ - 24h * 30));
    const std::string soon = graph_.add_event(dana, meeting("Budget review", now_ + 48h));
    const std::string later = graph_.add_event(dana, meeting("Offsite", now_ + 24h * 20));
    graph_.add_event(dana, meeting("Too old", now_ - 24h * 200));
    graph_.add_event(dana, meeting("Too far", now_ + 24h * 100));
    graph_.add_event(sam, meeting("Sam's", now_ + 48h));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    EXPECT_TRUE(r.full);
    EXPECT_EQ(ids(r), (std::set<std::string>{past, soon, later}));
    EXPECT_TRUE(r.removed.empty());
    EXPECT_TRUE(r.token.starts_with("graph1 ")) << r.token;
    const source_item* item = find(r, soon);
    ASSERT_NE(item, nullptr);
    EXPECT_EQ(item->etag, change_key(soon));
    EXPECT_TRUE(item->problems.empty());
    ASSERT_EQ(item->events.size(), 1u);
    const invitation& inv = item->events.front();
    EXPECT_EQ(inv.subject, "Budget review");
    EXPECT_EQ(inv.start, now_ + 48h);
    EXPECT_EQ(inv.source.item_id, soon);
    EXPECT_EQ(inv.source.change_key, item->etag);
    EXPECT_EQ(inv.organizer.address, "boss@contoso.com");
    ASSERT_TRUE(inv.owner);
    EXPECT_EQ(inv.owner->partstat, partstat::needs_action);
    EXPECT_EQ(count("GET", "/calendarView?"), 1);
    EXPECT_EQ(count("GET", "/calendarView/delta"), 1);
}

TEST_F(graph_source_test, delta_gives_only_changes_and_removals) {
    const std::string a = graph_.add_event(dana, meeting("A", now_ + 48h));
    const std::string b = graph_.add_event(dana, meeting("B", now_ + 72h));
    const std::string c = graph_.add_event(dana, meeting("C", now_ + 96h));
    auto s = make();
    const sync_result first = sync_ok(*s, "");
    ASSERT_EQ(first.items.size(), 3u);

    // Nothing happened: nothing to read.
    const sync_result quiet = sync_ok(*s, first.token);
    EXPECT_FALSE(quiet.full);
    EXPECT_TRUE(quiet.items.empty());
    EXPECT_TRUE(quiet.removed.empty());
    EXPECT_EQ(quiet.token, first.token);  // unchanged: the daemon has nothing to do

    graph_.update_event(dana, a, R"j({"subject":"A (moved)"})j");
    graph_.remove_event(dana, b);
    const std::string d = graph_.add_event(dana, meeting("D", now_ + 120h));
    const sync_result next = sync_ok(*s, quiet.token);
    EXPECT_FALSE(next.full);
    EXPECT_EQ(ids(next), (std::set<std::string>{a, d}));
    EXPECT_EQ(next.removed, std::vector<std::string>{b});
    const source_item* moved = find(next, a);
    ASSERT_NE(moved, nullptr);
    EXPECT_EQ(moved->etag, change_key(a));
    EXPECT_NE(moved->etag, find(first, a)->etag);
    EXPECT_EQ(moved->events.front().subject, "A (moved)");
    EXPECT_EQ(find(first, c)->etag, change_key(c));
    // The history is read on a full sync only.
    EXPECT_EQ(count("GET", "/calendarView?"), 1);
}

TEST_F(graph_source_test, a_forgotten_round_gives_a_full_sync) {
    const std::string a = graph_.add_event(dana, meeting("A", now_ + 48h));
    auto s = make();
    const sync_result first = sync_ok(*s, "");
    graph_.expire_delta_tokens();
    const sync_result again = sync_ok(*s, first.token);
    EXPECT_TRUE(again.full);
    EXPECT_EQ(ids(again), (std::set<std::string>{a}));
    EXPECT_NE(again.token, first.token);
    int gone = 0;
    for (const auto& r : graph_.requests()) gone += r.status == 410 ? 1 : 0;
    EXPECT_EQ(gone, 1);
    // And the new token works.
    const sync_result quiet = sync_ok(*s, again.token);
    EXPECT_FALSE(quiet.full);
}

TEST_F(graph_source_test, an_unknown_token_gives_a_full_sync) {
    graph_.add_event(dana, meeting("A", now_ + 48h));
    auto s = make();
    const std::vector<std::string> tokens{"", "s:caldav-token", "graph1 ", "graph1 x https://a/b"};
    for (const std::string& token : tokens) {
        const sync_result r = sync_ok(*s, token);
        EXPECT_TRUE(r.full) << token;
        EXPECT_EQ(r.items.size(), 1u) << token;
    }
}

TEST_F(graph_source_test, the_window_slides_after_a_day) {
    graph_.add_event(dana, meeting("A", now_ + 48h));
    auto s = make();
    const sync_result first = sync_ok(*s, "");
    now_ += 20h;
    EXPECT_FALSE(sync_ok(*s, first.token).full);
    now_ += 10h;  // the window start is now 30 hours behind
    const sync_result slid = sync_ok(*s, first.token);
    EXPECT_TRUE(slid.full);
    EXPECT_EQ(slid.items.size(), 1u);
    // The new token carries the new window start.
    const auto expected = std::to_string((now_ - 24h).time_since_epoch().count());
    EXPECT_TRUE(slid.token.starts_with("graph1 " + expected + " ")) << slid.token;
}

TEST_F(graph_source_test, pages_are_followed_in_the_window_and_the_history) {
    std::set<std::string> expected;
    for (int i = 0; i < 25; ++i) {
        expected.insert(graph_.add_event(
            dana, meeting("Future " + std::to_string(i), now_ + 48h + std::chrono::hours{i})));
        expected.insert(graph_.add_event(
            dana, meeting("Past " + std::to_string(i), now_ - 24h * 10 - std::chrono::hours{i})));
    }
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    EXPECT_TRUE(r.full);
    EXPECT_EQ(ids(r), expected);
    EXPECT_GE(count("GET", "/calendarView/delta"), 3);
    EXPECT_GE(count("GET", "/calendarView?"), 3);

    // Changes over more than a page as well.
    for (const auto& id : expected) graph_.update_event(dana, id, R"({"subject":"Changed"})");
    const sync_result next = sync_ok(*s, r.token);
    EXPECT_FALSE(next.full);
    EXPECT_EQ(next.items.size(), 25u);  // the window's; the history is not watched
}

TEST_F(graph_source_test, a_series_is_one_item_decided_on_its_master) {
    const std::string master = graph_.add_event(dana, weekly("Weekly sync", now_ - 24h * 40));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    // Occurrences in the history and in the window, one item: the master.
    ASSERT_EQ(r.items.size(), 1u);
    const source_item& item = r.items.front();
    EXPECT_EQ(item.item_id, master);
    EXPECT_EQ(item.etag, change_key(master));
    ASSERT_EQ(item.events.size(), 1u);
    const invitation& inv = item.events.front();
    EXPECT_FALSE(inv.recurrence_id);
    EXPECT_EQ(inv.recurrence.kind, recurrence_info::bound::open_ended);
    EXPECT_THAT(inv.recurrence.rule, HasSubstr("FREQ=WEEKLY"));
    EXPECT_EQ(inv.source.item_id, master);
    EXPECT_TRUE(item.problems.empty());
    const std::string master_path = "/events/" + in_path(master);
    EXPECT_EQ(count("GET", master_path), 1);

    // A quiet round reads nothing; a full one with nothing changed uses the master read before.
    EXPECT_TRUE(sync_ok(*s, r.token).items.empty());
    const sync_result full = sync_ok(*s, "");
    EXPECT_EQ(ids(full), (std::set<std::string>{master}));
    EXPECT_EQ(count("GET", master_path), 1);

    // The organizer changes the series: the master is read again, once.
    graph_.update_event(dana, master, R"j({"subject":"Weekly sync (new room)"})j");
    const sync_result changed = sync_ok(*s, full.token);
    ASSERT_EQ(changed.items.size(), 1u);
    EXPECT_EQ(changed.items.front().item_id, master);
    EXPECT_EQ(changed.items.front().etag, change_key(master));
    EXPECT_EQ(changed.items.front().events.front().subject, "Weekly sync (new room)");
    EXPECT_EQ(count("GET", master_path), 2);

    // The series is deleted: every occurrence goes, and so does the master.
    graph_.remove_event(dana, master);
    const sync_result removed = sync_ok(*s, changed.token);
    EXPECT_TRUE(removed.items.empty());
    EXPECT_EQ(removed.removed, std::vector<std::string>{master});
}

TEST_F(graph_source_test, one_changed_occurrence_reads_the_master_again) {
    const std::string master = graph_.add_event(dana, weekly("Weekly sync", now_ + 24h));
    const std::string single = graph_.add_event(dana, meeting("One-off", now_ + 30h));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    EXPECT_EQ(ids(r), (std::set<std::string>{master, single}));
    // The second occurrence is moved (an exception).
    const std::string day = graph_time(now_ + 24h * 8).substr(0, 10);
    std::string occurrence =
        master + "_occ_" + day.substr(0, 4) + day.substr(5, 2) + day.substr(8, 2);
    graph_.update_event(dana, occurrence, R"j({"subject":"Weekly sync (moved)"})j");
    const sync_result next = sync_ok(*s, r.token);
    EXPECT_EQ(ids(next), (std::set<std::string>{master}));
    EXPECT_TRUE(next.removed.empty());
    EXPECT_EQ(count("GET", "/events/" + in_path(master)), 2);
}

TEST_F(graph_source_test, decline_is_recorded_once_with_its_comment) {
    const std::string id = graph_.add_event(dana, meeting("Sales pitch", now_ + 48h));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    const source_item* item = find(r, id);
    ASSERT_NE(item, nullptr);
    auto done = answer(*s, *item, partstat::declined, "I cannot attend.", false);
    ASSERT_TRUE(done) << done.error().message;
    auto calls = graph_.responses();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].user, dana);
    EXPECT_EQ(calls[0].event_id, id);
    EXPECT_EQ(calls[0].action, "decline");
    EXPECT_EQ(calls[0].comment, "I cannot attend.");
    EXPECT_FALSE(calls[0].send_response);

    // state() says it took effect, and what the owner's answer is now.
    auto st = state_of(*s, id, item->events.front(), partstat::declined);
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_TRUE(st->applied);
    EXPECT_TRUE(st->item_exists);
    EXPECT_EQ(st->owner_status, partstat::declined);
    auto other = state_of(*s, id, item->events.front(), partstat::accepted);
    ASSERT_TRUE(other);
    EXPECT_FALSE(other->applied);

    // The next round sees the new version with the owner's answer.
    const sync_result next = sync_ok(*s, r.token);
    const source_item* after = find(next, id);
    ASSERT_NE(after, nullptr);
    EXPECT_EQ(after->events.front().owner->partstat, partstat::declined);
}

TEST_F(graph_source_test, decline_with_a_response_and_tentative) {
    const std::string a = graph_.add_event(dana, meeting("A", now_ + 48h));
    const std::string b = graph_.add_event(dana, meeting("B", now_ + 72h));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    auto declined = answer(*s, *find(r, a), partstat::declined, "No agenda, no meeting.", true);
    ASSERT_TRUE(declined) << declined.error().message;
    auto tentative =
        answer(*s, *find(r, b), partstat::tentative, "Could you send an agenda?", true);
    ASSERT_TRUE(tentative) << tentative.error().message;
    auto calls = graph_.responses();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0].action, "decline");
    EXPECT_TRUE(calls[0].send_response);
    EXPECT_EQ(calls[1].action, "tentativelyAccept");
    EXPECT_EQ(calls[1].comment, "Could you send an agenda?");
    EXPECT_TRUE(calls[1].send_response);
    auto st = state_of(*s, b, find(r, b)->events.front(), partstat::tentative);
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->applied);
    EXPECT_EQ(st->owner_status, partstat::tentative);
}

TEST_F(graph_source_test, a_series_is_answered_on_its_master) {
    const std::string master = graph_.add_event(dana, weekly("Weekly status", now_ + 24h));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    ASSERT_EQ(r.items.size(), 1u);
    auto done = answer(*s, r.items.front(), partstat::accepted, "", true);
    ASSERT_TRUE(done) << done.error().message;
    auto calls = graph_.responses();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].event_id, master);
    EXPECT_EQ(calls[0].action, "accept");
    // The answer changes the series: the next round gives the master at its new version.
    const sync_result next = sync_ok(*s, r.token);
    ASSERT_EQ(next.items.size(), 1u);
    EXPECT_EQ(next.items.front().etag, change_key(master));
    EXPECT_EQ(next.items.front().events.front().owner->partstat, partstat::accepted);
}

TEST_F(graph_source_test, a_changed_event_is_not_answered) {
    const std::string id = graph_.add_event(dana, meeting("A", now_ + 48h));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    graph_.update_event(dana, id, R"({"subject":"A, new time"})");
    auto done = answer(*s, *find(r, id), partstat::declined, "No.", true);
    ASSERT_FALSE(done);
    EXPECT_EQ(done.error().kind, source_failure::conflict);
    EXPECT_THAT(done.error().message, HasSubstr(dana));
    EXPECT_THAT(done.error().message, HasSubstr(id));
    EXPECT_TRUE(graph_.responses().empty());
    EXPECT_EQ(count("POST", "/decline"), 0);
}

TEST_F(graph_source_test, undo_is_a_tentative_answer_and_nothing_for_an_unanswered_meeting) {
    const std::string id = graph_.add_event(dana, meeting("A", now_ + 48h));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    const source_item& item = *find(r, id);
    // Not answered yet: "not answered again" has nothing to change.
    auto nothing = answer(*s, item, partstat::needs_action, "", false);
    ASSERT_TRUE(nothing) << nothing.error().message;
    EXPECT_TRUE(graph_.responses().empty());
    auto st = state_of(*s, id, item.events.front(), partstat::needs_action);
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->applied);
    EXPECT_EQ(st->owner_status, partstat::needs_action);

    // Declined, then undone silently: tentative, the organizer not told.
    ASSERT_TRUE(answer(*s, item, partstat::declined, "", false));
    const sync_result next = sync_ok(*s, r.token);
    const source_item& declined = *find(next, id);
    st = state_of(*s, id, declined.events.front(), partstat::needs_action);
    ASSERT_TRUE(st);
    EXPECT_FALSE(st->applied);
    auto undone = answer(*s, declined, partstat::needs_action, "", false);
    ASSERT_TRUE(undone) << undone.error().message;
    auto calls = graph_.responses();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[1].action, "tentativelyAccept");
    EXPECT_FALSE(calls[1].send_response);
    st = state_of(*s, id, declined.events.front(), partstat::needs_action);
    ASSERT_TRUE(st);
    EXPECT_TRUE(st->applied);
}

TEST_F(graph_source_test, a_vanished_event) {
    const std::string id = graph_.add_event(dana, meeting("A", now_ + 48h));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    const source_item item = *find(r, id);
    graph_.remove_event(dana, id);

    auto st = state_of(*s, id, item.events.front(), partstat::accepted);
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_FALSE(st->item_exists);
    EXPECT_FALSE(st->applied);
    // A decline wants the meeting out of the calendar: it is.
    st = state_of(*s, id, item.events.front(), partstat::declined);
    ASSERT_TRUE(st);
    EXPECT_FALSE(st->item_exists);
    EXPECT_TRUE(st->applied);

    auto done = answer(*s, item, partstat::declined, "", true);
    ASSERT_FALSE(done);
    EXPECT_EQ(done.error().kind, source_failure::gone);
    EXPECT_THAT(done.error().message, HasSubstr(dana));
    EXPECT_TRUE(graph_.responses().empty());
}

TEST_F(graph_source_test, a_denied_mailbox_beside_a_working_one) {
    graph_.add_event(dana, meeting("A", now_ + 48h));
    const std::string sams = graph_.add_event(sam, meeting("B", now_ + 48h));
    graph_.deny_user(dana);
    auto denied = make(dana);
    auto works = make(sam);
    auto r = run(denied->sync(""));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied);
    EXPECT_THAT(r.error().message, HasSubstr("mailbox " + dana));
    EXPECT_THAT(r.error().message, HasSubstr("application access policy"));
    EXPECT_THAT(r.error().message, HasSubstr("New-ApplicationAccessPolicy"));
    const sync_result ok = sync_ok(*works, "");
    EXPECT_EQ(ids(ok), (std::set<std::string>{sams}));

    response resp;
    resp.status = partstat::declined;
    const std::string id = "AAMkWhatever";
    const std::string etag;
    invitation inv;
    auto done = run(denied->respond(id, etag, inv, resp));
    ASSERT_FALSE(done);
    EXPECT_EQ(done.error().kind, source_failure::denied);
    EXPECT_THAT(done.error().message, HasSubstr(dana));
}

TEST_F(graph_source_test, throttled_rounds_succeed_after_retry_after) {
    graph_.add_event(dana, meeting("A", now_ + 48h));
    graph_.fail_next("/calendarView/delta", fault_of_429());
    auto s = make();
    const auto started = std::chrono::steady_clock::now();
    const sync_result r = sync_ok(*s, "");
    EXPECT_GE(std::chrono::steady_clock::now() - started, 1s);
    EXPECT_EQ(r.items.size(), 1u);
    EXPECT_EQ(client()->throttled(), 1);
}

TEST_F(graph_source_test, unreadable_events_are_items_with_problems) {
    const std::string delta_link =
        graph_.graph_url() + "/users/" + dana + "/calendarView/delta?$deltatoken=unknown";
    fake_graph::fault page;
    page.status = 200;
    page.body =
        R"({"value":[{"id":"AAMkBroken","changeKey":"ck1","type":"singleInstance","subject":"No start"}],)"
        R"("@odata.deltaLink":")" +
        delta_link + R"("})";
    graph_.fail_next("/calendarView/delta", page);
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    const source_item* item = find(r, "AAMkBroken");
    ASSERT_NE(item, nullptr);
    EXPECT_FALSE(item->problems.empty());
    EXPECT_EQ(item->etag, "ck1");
}

TEST_F(graph_source_test, a_link_to_another_origin_is_refused) {
    fake_graph::fault page;
    page.status = 200;
    page.body =
        R"({"value":[],"@odata.nextLink":"https://graph.evil.example/v1.0/users/x/calendarView/delta?$skiptoken=1"})";
    graph_.fail_next("/calendarView/delta", page);
    auto s = make();
    auto r = run(s->sync(""));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::invalid);
    EXPECT_THAT(r.error().message, HasSubstr("graph.evil.example"));
    EXPECT_THAT(r.error().message, HasSubstr(dana));
    EXPECT_EQ(count("GET", "/calendarView"), 2);  // the history and the first delta page
}

// The decline's POST reset by the server after it was sent: transient, and the daemon's state()
// check decides; Graph got it at most once.
// DISABLED: the POST goes out on the kept-alive connection of the changeKey check, and
// http::client::send sends any request again, once, when a reused connection fails before a
// byte of the answer, POSTs included: Graph gets the decline twice (the second succeeds). The
// Graph client itself never repeats it (graph_client_test.a_post_is_not_sent_again_after_a_reset,
// on a new connection). Enable once http::client repeats only idempotent methods.
TEST_F(graph_source_test, a_decline_reset_mid_request_is_not_sent_twice) {
    const std::string id = graph_.add_event(dana, meeting("A", now_ + 48h));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    fake_graph::fault reset;
    reset.status = 0;
    graph_.fail_next("/decline", reset);
    auto done = answer(*s, *find(r, id), partstat::declined, "No.", true);
    EXPECT_FALSE(done);
    if (!done) {
        EXPECT_EQ(done.error().kind, source_failure::transient);
    }
    EXPECT_LE(count("POST", "/decline"), 1);
    EXPECT_TRUE(graph_.responses().empty()) << "POSTs: " << count("POST", "/decline");
}

class graph_source_decline_removes_test : public graph_source_test {
  protected:
    static fake_graph::options removing() {
        fake_graph::options o;
        o.decline_removes = true;
        return o;
    }
    graph_source_decline_removes_test() : graph_source_test(removing()) {}
};

TEST_F(graph_source_decline_removes_test, a_decline_that_removed_the_meeting_counts_as_applied) {
    const std::string id = graph_.add_event(dana, meeting("A", now_ + 48h));
    auto s = make();
    const sync_result r = sync_ok(*s, "");
    const source_item item = *find(r, id);
    ASSERT_TRUE(answer(*s, item, partstat::declined, "No.", true));
    auto st = state_of(*s, id, item.events.front(), partstat::declined);
    ASSERT_TRUE(st) << st.error().message;
    EXPECT_FALSE(st->item_exists);
    EXPECT_TRUE(st->applied);
    const sync_result next = sync_ok(*s, r.token);
    EXPECT_EQ(next.removed, std::vector<std::string>{id});
    EXPECT_EQ(graph_.responses().size(), 1u);
}

}  // namespace
