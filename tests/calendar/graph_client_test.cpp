// The Graph client against the fake Graph over real TLS: Retry-After and backoff for 429/503,
// giving up after max_attempts, a Retry-After too long to wait, a new token after a 401, the
// per-mailbox concurrency limit, links to another origin refused unsent, POSTs never sent
// twice after a reset, and the mapping of Graph errors to source failures.
#include "calendar/graph/graph_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "calendar/graph/graph_json.h"
#include "support/run_awaitable.h"
#include "support/fake_graph.h"

namespace {

namespace asio = boost::asio;
using namespace agendad::calendar;
using namespace agendad::calendar::graph;
using namespace std::chrono_literals;
using agendad::test_support::fake_graph;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string dana = "dana@contoso.com";
const std::string sam = "sam@contoso.com";
const std::string get = "GET";
const std::string post = "POST";
const std::string no_body;

std::string event_json(const std::string& subject) {
    const auto start = std::chrono::floor<std::chrono::hours>(std::chrono::system_clock::now()) +
                       std::chrono::hours{48};
    const std::string s = format_utc(std::chrono::time_point_cast<std::chrono::seconds>(start));
    const std::string e =
        format_utc(std::chrono::time_point_cast<std::chrono::seconds>(start + 1h));
    return R"({"subject":")" + subject + R"(","start":{"dateTime":")" + s.substr(0, 19) +
           R"(","timeZone":"UTC"},"end":{"dateTime":")" + e.substr(0, 19) +
           R"(","timeZone":"UTC"},"organizer":{"emailAddress":{"address":"boss@contoso.com"}},)" +
           R"("isOrganizer":false,"responseStatus":{"response":"notResponded"}})";
}

fake_graph::fault fault_of(int status, std::optional<std::chrono::seconds> retry_after = {},
                           std::chrono::milliseconds delay = 0ms, std::string body = {}) {
    fake_graph::fault f;
    f.status = status;
    f.retry_after = retry_after;
    f.delay = delay;
    f.body = std::move(body);
    return f;
}

throttling fast_limits() {
    throttling t;
    t.first_backoff = 20ms;
    t.max_attempts = 6;
    return t;
}

class graph_client_test : public ::testing::Test {
  protected:
    graph_client_test() : graph_(fake_graph::options{}) {
        graph_.add_user(dana);
        graph_.add_user(sam);
        event_ = graph_.add_event(dana, event_json("Budget review"));
    }

    app_credentials credentials() const {
        app_credentials c;
        c.authority = graph_.authority();
        c.tenant = "contoso-tenant";
        c.client_id = "11111111-2222-3333-4444-555555555555";
        c.client_secret = "test-client-secret";
        return c;
    }

    std::shared_ptr<http::client> new_http() {
        http::tls_options tls;
        tls.ca_file = graph_.ca_file();
        return std::make_shared<http::client>(io_.get_executor(), tls);
    }

    // A client; `own_token_http`: the token provider gets an HTTP client of its own, so that
    // the Graph client's first request goes out on a new connection.
    std::unique_ptr<graph_client> make(throttling limits = fast_limits(),
                                       bool own_token_http = false) {
        auto http = new_http();
        tokens_ = std::make_shared<token_provider>(own_token_http ? new_http() : http,
                                                   credentials(), nullptr);
        return std::make_unique<graph_client>(io_.get_executor(), http, tokens_, graph_.graph_url(),
                                              limits);
    }

    template <class T>
    T run(asio::awaitable<T> work) {
        return agendad::test_support::run_awaitable(io_, std::move(work));
    }

    std::string event_path(const std::string& user = dana) const {
        return "/users/" + user + "/events/" + event_;
    }

    int count(const std::string& method, const std::string& part) const {
        int n = 0;
        for (const auto& r : graph_.requests()) {
            if (r.method == method && r.target.find(part) != std::string::npos) ++n;
        }
        return n;
    }

    fake_graph graph_;
    asio::io_context io_;
    std::shared_ptr<token_provider> tokens_;
    std::string event_;
};

TEST_F(graph_client_test, gets_an_event_with_a_token_and_a_request_id) {
    auto client = make();
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->status, 200);
    EXPECT_THAT(got->body, HasSubstr("Budget review"));
    // The fake echoes our client-request-id as request-id: a random GUID.
    EXPECT_TRUE(std::regex_match(
        got->request_id,
        std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
        << got->request_id;
    EXPECT_EQ(client->requests_sent(), 1);
    EXPECT_EQ(client->throttled(), 0);
    EXPECT_EQ(graph_.tokens_issued(), 1);

    // A full URL of Graph's origin (as nextLink and deltaLink are) works as well.
    const std::string full = graph_.graph_url() + event_path();
    auto again = run(client->send(dana, get, full, no_body, doing));
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->status, 200);
    EXPECT_EQ(graph_.tokens_issued(), 1);  // cached
}

TEST_F(graph_client_test, other_statuses_are_returned_to_the_caller) {
    auto client = make();
    const std::string target = "/users/" + dana + "/events/AAMkUnknown";
    const std::string doing = "mailbox " + dana + ": reading an event";
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->status, 404);
    const source_error e = graph_failure(*got, doing);
    EXPECT_EQ(e.kind, source_failure::gone);
    EXPECT_THAT(e.message, HasSubstr("ErrorItemNotFound"));
    EXPECT_THAT(e.message, HasSubstr(dana));
    EXPECT_THAT(e.message, HasSubstr("request-id " + got->request_id));
}

TEST_F(graph_client_test, a_429_waits_for_retry_after_then_succeeds) {
    auto client = make();
    graph_.fail_next("/events/", fault_of(429, 1s));
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    const auto started = std::chrono::steady_clock::now();
    auto got = run(client->send(dana, get, target, no_body, doing));
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->status, 200);
    EXPECT_GE(took, 1s);
    EXPECT_EQ(client->throttled(), 1);
    EXPECT_EQ(client->requests_sent(), 2);
    EXPECT_EQ(count(get, "/events/"), 2);
}

TEST_F(graph_client_test, a_503_storm_is_ridden_out_with_backoff) {
    auto client = make();
    graph_.fail_next("/events/", fault_of(503), 3);
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(client->throttled(), 3);
    EXPECT_EQ(count(get, "/events/"), 4);
}

TEST_F(graph_client_test, gives_up_after_max_attempts_as_transient) {
    throttling limits = fast_limits();
    limits.max_attempts = 3;
    auto client = make(limits);
    graph_.fail_next("/events/", fault_of(504), 10);
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": the delta round";
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, source_failure::transient);
    EXPECT_THAT(got.error().message,
                HasSubstr("mailbox " + dana + ": Graph throttled the delta round 3 times"));
    EXPECT_THAT(got.error().message, HasSubstr("trying again later"));
    EXPECT_EQ(count(get, "/events/"), 3);
}

TEST_F(graph_client_test, a_retry_after_longer_than_max_wait_fails_at_once) {
    throttling limits = fast_limits();
    limits.max_wait = 60s;
    auto client = make(limits);
    graph_.fail_next("/events/", fault_of(429, 3600s));
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    const auto started = std::chrono::steady_clock::now();
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_FALSE(got);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_EQ(got.error().kind, source_failure::transient);
    EXPECT_THAT(got.error().message, HasSubstr("3600 s"));
    EXPECT_THAT(got.error().message, HasSubstr(dana));
    EXPECT_EQ(count(get, "/events/"), 1);
}

TEST_F(graph_client_test, a_revoked_token_is_replaced_once) {
    auto client = make();
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    ASSERT_TRUE(run(client->send(dana, get, target, no_body, doing)));
    graph_.revoke_tokens();
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(graph_.tokens_issued(), 2);
    int refused = 0;
    for (const auto& r : graph_.requests()) refused += r.status == 401 ? 1 : 0;
    EXPECT_EQ(refused, 1);
}

TEST_F(graph_client_test, a_token_refused_twice_is_denied) {
    auto client = make();
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    const std::string body401 =
        R"({"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure."}})";
    graph_.fail_next("/events/", fault_of(401, {}, 0ms, body401), 2);
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, source_failure::denied);
    EXPECT_THAT(got.error().message, HasSubstr("InvalidAuthenticationToken"));
    EXPECT_THAT(got.error().message, HasSubstr(dana));
    EXPECT_EQ(count(get, "/events/"), 2);
}

TEST_F(graph_client_test, a_throttled_token_endpoint_is_waited_for_as_graph_is) {
    auto client = make();
    graph_.fail_next("/oauth2/v2.0/token", fault_of(503, 1s), 2);
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    const auto started = std::chrono::steady_clock::now();
    auto got = run(client->send(dana, get, target, no_body, doing));
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->status, 200);
    EXPECT_GE(took, 1s);
    EXPECT_EQ(count(post, "/oauth2/v2.0/token"), 3);
    EXPECT_EQ(graph_.tokens_issued(), 1);
    EXPECT_EQ(count(get, "/events/"), 1);
    EXPECT_EQ(client->requests_sent(), 1);
}

TEST_F(graph_client_test, a_token_endpoint_without_retry_after_gets_the_backoff) {
    throttling limits = fast_limits();
    limits.max_attempts = 3;
    auto client = make(limits);
    graph_.fail_next("/oauth2/v2.0/token", fault_of(429), 10);
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": the delta round";
    const auto started = std::chrono::steady_clock::now();
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_FALSE(got);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_EQ(got.error().kind, source_failure::transient);
    EXPECT_THAT(got.error().message, HasSubstr("failed 3 times"));
    EXPECT_THAT(got.error().message, HasSubstr("token endpoint answered 429"));
    EXPECT_EQ(count(post, "/oauth2/v2.0/token"), 3);
    EXPECT_EQ(count(get, "/events/"), 0);
}

TEST_F(graph_client_test, a_token_endpoint_retry_after_longer_than_max_wait_fails_at_once) {
    throttling limits = fast_limits();
    limits.max_wait = 60s;
    auto client = make(limits);
    graph_.fail_next("/oauth2/v2.0/token", fault_of(429, 3600s));
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, source_failure::transient);
    EXPECT_THAT(got.error().message, HasSubstr("3600"));
    EXPECT_EQ(count(post, "/oauth2/v2.0/token"), 1);
}

TEST_F(graph_client_test, a_refused_app_fails_at_once) {
    auto client = make();
    const std::string body =
        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."})";
    graph_.fail_next("/oauth2/v2.0/token", fault_of(401, {}, 0ms, body), 5);
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, source_failure::denied);
    EXPECT_THAT(got.error().message, HasSubstr("AADSTS7000215"));
    EXPECT_EQ(count(post, "/oauth2/v2.0/token"), 1);
}

TEST_F(graph_client_test, the_token_never_goes_to_another_origin) {
    auto client = make();
    const std::string doing = "mailbox " + dana + ": the delta round";
    const std::vector<std::string> links{
        "https://evil.example.com/v1.0/users/dana/calendarView/delta",
        "http://127.0.0.1:" + std::to_string(graph_.port()) + "/v1.0/users/dana/events",
        "https://127.0.0.1:1/v1.0/users/dana/events", "ftp://127.0.0.1/x", "users/dana/events"};
    for (const std::string& link : links) {
        auto got = run(client->send(dana, get, link, no_body, doing));
        ASSERT_FALSE(got) << link;
        EXPECT_EQ(got.error().kind, source_failure::invalid) << link;
        EXPECT_THAT(got.error().message, HasSubstr(dana));
    }
    EXPECT_TRUE(graph_.requests().empty());
    EXPECT_EQ(graph_.tokens_issued(), 0);
    EXPECT_EQ(client->requests_sent(), 0);
}

TEST_F(graph_client_test, at_most_four_requests_per_mailbox_are_in_flight) {
    auto client = make();
    graph_.fail_next("/users/" + dana + "/", fault_of(200, {}, 150ms, R"({"value":[]})"), 20);
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    std::vector<std::optional<source_result<graph_client::answer>>> results(20);
    for (auto& slot : results) {
        asio::co_spawn(io_, client->send(dana, get, target, no_body, doing),
                       [&slot](std::exception_ptr e, source_result<graph_client::answer> r) {
                           if (!e) slot.emplace(std::move(r));
                       });
    }
    io_.restart();
    io_.run();
    for (const auto& r : results) {
        ASSERT_TRUE(r.has_value());
        ASSERT_TRUE(*r) << (*r).error().message;
        EXPECT_EQ((**r).status, 200);
    }
    EXPECT_LE(graph_.max_in_flight_per_user(), 4);
    EXPECT_GT(graph_.max_in_flight_per_user(), 1);
    EXPECT_EQ(client->requests_sent(), 20);
}

TEST_F(graph_client_test, a_busy_mailbox_does_not_hold_up_another) {
    throttling limits = fast_limits();
    limits.per_mailbox = 1;
    auto client = make(limits);
    graph_.fail_next("/users/" + dana + "/", fault_of(200, {}, 300ms, R"({"value":[]})"), 3);
    const std::string dana_target = event_path();
    const std::string sam_target =
        "/users/" + sam +
        "/calendarView?startDateTime=2020-01-01T00:00:00Z&endDateTime=2020-01-02T00:00:00Z";
    const std::string doing = "reading";
    std::optional<std::chrono::steady_clock::time_point> sam_done;
    int dana_done = 0;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) {
        asio::co_spawn(
            io_, client->send(dana, get, dana_target, no_body, doing),
            [&](std::exception_ptr, source_result<graph_client::answer>) { ++dana_done; });
    }
    asio::co_spawn(io_, client->send(sam, get, sam_target, no_body, doing),
                   [&](std::exception_ptr, source_result<graph_client::answer> r) {
                       EXPECT_TRUE(r);
                       sam_done = std::chrono::steady_clock::now();
                   });
    io_.restart();
    io_.run();
    EXPECT_EQ(dana_done, 3);
    ASSERT_TRUE(sam_done);
    // Dana's three requests take 900 ms one after the other; Sam's does not wait for them.
    EXPECT_LT(*sam_done - started, 600ms);
    EXPECT_EQ(graph_.max_in_flight_per_user(), 1);
}

TEST_F(graph_client_test, a_get_is_sent_again_after_a_reset) {
    auto client = make(fast_limits(), /*own_token_http=*/true);
    graph_.fail_next("/events/", fault_of(0));
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    auto got = run(client->send(dana, get, target, no_body, doing));
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(got->status, 200);
    EXPECT_EQ(count(get, "/events/"), 2);
}

TEST_F(graph_client_test, a_post_is_not_sent_again_after_a_reset) {
    // The POST is the Graph client's first request: a new connection, which the HTTP client
    // never retries itself, so what is seen here is the Graph client's own choice.
    auto client = make(fast_limits(), /*own_token_http=*/true);
    graph_.fail_next("/decline", fault_of(0));
    const std::string target = event_path() + "/decline";
    const std::string body = response_body("Sorry", false);
    const std::string doing = "mailbox " + dana + ": decline event " + event_;
    auto got = run(client->send(dana, post, target, body, doing));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, source_failure::transient);
    EXPECT_THAT(got.error().message, HasSubstr("may have reached Graph"));
    EXPECT_EQ(count(post, "/decline"), 1);
    EXPECT_TRUE(graph_.responses().empty());
}

TEST_F(graph_client_test, a_post_is_sent_again_after_a_429_but_not_after_a_504) {
    auto client = make();
    const std::string accept_target = event_path() + "/accept";
    const std::string body = response_body("", true);
    const std::string doing = "mailbox " + dana + ": accept event";
    graph_.fail_next("/accept", fault_of(429));
    auto accepted = run(client->send(dana, post, accept_target, body, doing));
    ASSERT_TRUE(accepted) << accepted.error().message;
    EXPECT_EQ(accepted->status, 202);
    EXPECT_EQ(count(post, "/accept"), 2);
    ASSERT_EQ(graph_.responses().size(), 1u);

    const std::string decline_target = event_path() + "/decline";
    graph_.fail_next("/decline", fault_of(504));
    auto declined = run(client->send(dana, post, decline_target, body, doing));
    ASSERT_TRUE(declined) << declined.error().message;
    EXPECT_EQ(declined->status, 504);  // for the caller: transient, checked before a retry
    EXPECT_EQ(count(post, "/decline"), 1);
    EXPECT_EQ(graph_failure(*declined, doing).kind, source_failure::transient);
}

TEST_F(graph_client_test, an_untrusted_certificate_is_denied) {
    auto http = std::make_shared<http::client>(io_.get_executor());  // the system's CAs only
    auto tokens = std::make_shared<token_provider>(new_http(), credentials(), nullptr);
    graph_client client(io_.get_executor(), http, tokens, graph_.graph_url(), fast_limits());
    const std::string target = event_path();
    const std::string doing = "mailbox " + dana + ": reading an event";
    auto got = run(client.send(dana, get, target, no_body, doing));
    ASSERT_FALSE(got);
    EXPECT_EQ(got.error().kind, source_failure::denied);
    EXPECT_EQ(client.requests_sent(), 1);
}

TEST(graph_failure_test, maps_statuses_and_names_the_graph_error) {
    const std::string doing = "mailbox ceo@contoso.com: decline event AAMk1";
    graph_client::answer a;
    a.request_id = "rid-1";
    a.status = 403;
    a.body = R"({"error":{"code":"ErrorAccessDenied","message":"Access is denied."}})";
    source_error e = graph_failure(a, doing);
    EXPECT_EQ(e.kind, source_failure::denied);
    EXPECT_THAT(e.message, HasSubstr("ceo@contoso.com"));
    EXPECT_THAT(e.message, HasSubstr("ErrorAccessDenied: Access is denied."));
    EXPECT_THAT(e.message, HasSubstr("outside the application access policy"));
    EXPECT_THAT(e.message, HasSubstr("New-ApplicationAccessPolicy"));
    EXPECT_THAT(e.message, HasSubstr("request-id rid-1"));

    const auto kind = [&](int status) {
        a.status = status;
        a.body = "{}";
        return graph_failure(a, doing).kind;
    };
    EXPECT_EQ(kind(401), source_failure::denied);
    EXPECT_EQ(kind(404), source_failure::gone);
    EXPECT_EQ(kind(410), source_failure::gone);
    EXPECT_EQ(kind(409), source_failure::conflict);
    EXPECT_EQ(kind(412), source_failure::conflict);
    EXPECT_EQ(kind(429), source_failure::transient);
    EXPECT_EQ(kind(500), source_failure::transient);
    EXPECT_EQ(kind(503), source_failure::transient);
    EXPECT_EQ(kind(400), source_failure::invalid);
    EXPECT_EQ(kind(405), source_failure::invalid);
    a.status = 403;
    a.body = R"({"error":{"code":"Forbidden","message":"Nope"}})";
    EXPECT_THAT(graph_failure(a, doing).message, Not(HasSubstr("application access policy")));
}

}  // namespace
