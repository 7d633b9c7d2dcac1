// Graph change notifications against the fake Graph: subscriptions made (with the validation
// handshake against our listener), renewed, made again, deleted; notifications with the right
// clientState wake the mailbox, others are ignored.
#include "daemon/graph_notifications.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "calendar/graph/graph_client.h"
#include "calendar/graph/oauth.h"
#include "calendar/http/http_client.h"
#include "support/fake_graph.h"
#include "support/process.h"

namespace {

namespace asio = boost::asio;
namespace graph = agendad::calendar::graph;
namespace http = agendad::calendar::http;
using agendad::daemon::graph_notification_settings;
using agendad::daemon::graph_notifications;
using agendad::test_support::fake_graph;
using namespace std::chrono_literals;

const std::string alice = "alice@contoso.example";
const std::string bob = "bob@contoso.example";
const std::string secret_state = "a-client-state-secret-0123456789";

class notifications_test : public ::testing::Test {
  protected:
    notifications_test() : fake(fake_graph::options{}) {
        fake.add_user(alice);
        fake.add_user(bob);
        http::tls_options tls;
        tls.ca_file = fake.ca_file();
        auto client = std::make_shared<http::client>(io.get_executor(), tls);
        graph::app_credentials creds;
        creds.authority = fake.authority();
        creds.tenant = fake_graph::options{}.tenant;
        creds.client_id = fake_graph::options{}.client_id;
        creds.client_secret = fake_graph::options{}.client_secret;
        auto tokens = std::make_shared<graph::token_provider>(client, creds, [] {
            return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        });
        gc = std::make_shared<graph::graph_client>(io.get_executor(), client, tokens,
                                                   fake.graph_url());
        port = agendad::test_support::free_loopback_port();
        graph_notification_settings s;
        s.source_name = "m365";
        s.listen = "127.0.0.1:" + std::to_string(port);
        s.public_url = "http://127.0.0.1:" + std::to_string(port) + "/graph";
        s.client_state = secret_state;
        s.check_every = 1s;
        hub = std::make_unique<graph_notifications>(
            io.get_executor(), s, gc, [this](const std::string& m) { ++woken[m]; },
            [] {
                return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
            });
        auto started = hub->start();
        EXPECT_TRUE(started.has_value()) << (started ? "" : started.error());
    }

    ~notifications_test() override {
        if (!stopped) stop();
    }

    // Runs the io_context until `done` or the time is up; the fake's calls come from its own
    // thread, so the io_context keeps serving our listener meanwhile.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 15s) {
        const auto end = std::chrono::steady_clock::now() + limit;
        while (!done()) {
            if (std::chrono::steady_clock::now() > end) return false;
            io.run_for(20ms);
        }
        return true;
    }

    // Calls the fake from another thread (its notify() waits for our listener's answer).
    int from_graph(const std::function<int()>& call) {
        auto answer = std::async(std::launch::async, call);
        run_until([&] { return answer.wait_for(0s) == std::future_status::ready; });
        return answer.get();
    }

    void start_loop() {
        loop_started = true;
        asio::co_spawn(io, hub->run(), [this](const std::exception_ptr&) { loop_done = true; });
    }

    void stop() {
        stopped = true;
        hub->stop();
        if (loop_started) {
            EXPECT_TRUE(run_until([&] { return loop_done; }));
        }
    }

    int count_requests(const std::string& method, const std::string& target_part) {
        int n = 0;
        for (const auto& r : fake.requests()) {
            if (r.method == method && r.target.find(target_part) != std::string::npos) ++n;
        }
        return n;
    }

    asio::io_context io;
    fake_graph fake;
    std::shared_ptr<graph::graph_client> gc;
    std::uint16_t port = 0;
    std::unique_ptr<graph_notifications> hub;
    std::map<std::string, int> woken;
    bool loop_started = false;
    bool loop_done = false;
    bool stopped = false;
};

TEST_F(notifications_test, subscribes_each_mailbox_after_the_validation_handshake) {
    hub->set_mailboxes({alice, bob});
    start_loop();
    ASSERT_TRUE(run_until([&] { return hub->subscribed() == 2; }));
    const auto subs = fake.subscriptions();
    ASSERT_EQ(subs.size(), 2u);
    for (const auto& s : subs) {
        EXPECT_EQ(s.client_state, secret_state);
        EXPECT_EQ(s.notification_url,
                  "http://127.0.0.1:" + std::to_string(port) + "/graph/notifications");
        EXPECT_EQ(s.lifecycle_url, "http://127.0.0.1:" + std::to_string(port) + "/graph/lifecycle");
        EXPECT_NE(s.change_type.find("created"), std::string::npos);
        EXPECT_TRUE(s.resource == "/users/" + alice + "/events" ||
                    s.resource == "/users/" + bob + "/events")
            << s.resource;
    }
    // Subscribing wakes each mailbox once, for what changed before the subscription existed.
    EXPECT_EQ(woken[alice], 1);
    EXPECT_EQ(woken[bob], 1);
}

TEST_F(notifications_test, a_change_notification_wakes_its_mailbox_only) {
    hub->set_mailboxes({alice, bob});
    start_loop();
    ASSERT_TRUE(run_until([&] { return hub->subscribed() == 2; }));
    woken.clear();
    const int status = from_graph([&] { return fake.notify(alice, "AAMkEvent1"); });
    EXPECT_EQ(status, 202);
    EXPECT_EQ(woken[alice], 1);
    EXPECT_EQ(woken[bob], 0);
    EXPECT_EQ(hub->notifications(), 1);
}

TEST_F(notifications_test, a_notification_with_a_wrong_client_state_is_ignored) {
    hub->set_mailboxes({alice});
    start_loop();
    ASSERT_TRUE(run_until([&] { return hub->subscribed() == 1; }));
    woken.clear();
    const std::string id = fake.subscriptions().at(0).id;
    http::client client(io.get_executor());
    const auto base =
        http::url::parse("http://127.0.0.1:" + std::to_string(port) + "/graph/notifications");
    ASSERT_TRUE(base);
    for (const std::string& state : {std::string("wrong"), secret_state + "x", std::string()}) {
        http::request r;
        r.method = "POST";
        r.headers.push_back({"Content-Type", "application/json"});
        r.body = R"({"value":[{"subscriptionId":")" + id + R"(","clientState":")" + state +
                 R"(","changeType":"updated","resource":"Users/x/Events/y"}]})";
        auto f = asio::co_spawn(io, client.send(*base, r), asio::use_future);
        run_until([&] { return f.wait_for(0s) == std::future_status::ready; });
        auto answer = f.get();
        ASSERT_TRUE(answer.has_value());
        EXPECT_EQ(answer->status, 202);
    }
    // An unknown subscription with the right secret is ignored too.
    http::request r;
    r.method = "POST";
    r.body = R"({"value":[{"subscriptionId":"not-ours","clientState":")" + secret_state + R"("}]})";
    auto f = asio::co_spawn(io, client.send(*base, r), asio::use_future);
    run_until([&] { return f.wait_for(0s) == std::future_status::ready; });
    EXPECT_EQ(f.get()->status, 202);
    EXPECT_EQ(woken[alice], 0);
    EXPECT_EQ(hub->rejected(), 4);
    // Not JSON: 400.
    r.body = "<xml/>";
    auto bad = asio::co_spawn(io, client.send(*base, r), asio::use_future);
    run_until([&] { return bad.wait_for(0s) == std::future_status::ready; });
    EXPECT_EQ(bad.get()->status, 400);
}

TEST_F(notifications_test, the_validation_token_is_echoed_as_plain_text) {
    http::client client(io.get_executor());
    const auto base =
        http::url::parse("http://127.0.0.1:" + std::to_string(port) +
                         "/graph/"
                         "notifications?validationToken=Validation%3A%20Testing%20client%"
                         "20application%20reachability+for+subscription%20Request-Id%3A%20abc");
    ASSERT_TRUE(base);
    http::request r;
    r.method = "POST";
    auto f = asio::co_spawn(io, client.send(*base, r), asio::use_future);
    run_until([&] { return f.wait_for(0s) == std::future_status::ready; });
    auto answer = f.get();
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(
        answer->body,
        "Validation: Testing client application reachability for subscription Request-Id: abc");
    EXPECT_EQ(answer->find("Content-Type").value_or(""), "text/plain");
}

TEST_F(notifications_test, reauthorization_renews_and_removal_subscribes_again) {
    hub->set_mailboxes({alice});
    start_loop();
    ASSERT_TRUE(run_until([&] { return hub->subscribed() == 1; }));
    const std::string first = fake.subscriptions().at(0).id;
    EXPECT_EQ(from_graph([&] { return fake.notify_lifecycle(alice, "reauthorizationRequired"); }),
              202);
    ASSERT_TRUE(run_until([&] { return count_requests("PATCH", "/subscriptions/" + first) == 1; }));

    EXPECT_EQ(from_graph([&] { return fake.notify_lifecycle(alice, "subscriptionRemoved"); }), 202);
    ASSERT_TRUE(run_until(
        [&] { return count_requests("POST", "/subscriptions") == 2 && hub->subscribed() == 1; }));
    EXPECT_EQ(woken[alice], 4);  // subscribed, reauthorization, removal, subscribed again
}

TEST_F(notifications_test, mailboxes_dropped_or_a_stop_delete_their_subscriptions) {
    hub->set_mailboxes({alice, bob});
    start_loop();
    ASSERT_TRUE(run_until([&] { return hub->subscribed() == 2; }));
    hub->set_mailboxes({alice});
    ASSERT_TRUE(
        run_until([&] { return hub->subscribed() == 1 && fake.subscriptions().size() == 1; }));
    EXPECT_EQ(fake.subscriptions().at(0).user, alice);
    stop();
    EXPECT_TRUE(fake.subscriptions().empty());
    EXPECT_EQ(count_requests("DELETE", "/subscriptions/"), 2);
}

TEST_F(notifications_test, a_denied_mailbox_is_retried_later_without_stopping_the_others) {
    fake.deny_user(bob);
    hub->set_mailboxes({alice, bob});
    start_loop();
    ASSERT_TRUE(run_until([&] { return hub->subscribed() == 1; }));
    io.run_for(2500ms);
    // Backed off: one attempt for bob, not one per check.
    EXPECT_EQ(hub->subscribed(), 1);
    EXPECT_LE(count_requests("POST", "/subscriptions"), 3);
}

}  // namespace
