// The fault layer itself (support/faults.h): the plan matches and counts as it says, invalid
// UTF-8 lands in text content only, and every fault, injected by the fakes' TLS server core and
// by the proxy in front of a real Radicale, is seen by a plain HTTP client (agendad's own, with
// short limits) as what it is: a timeout, a reset, an answer over the limit, an answer that is
// complete but wrong. Faults that mangle the real answer reach the server first; the others
// never do.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "calendar/encoding.h"
#include "calendar/http/http_client.h"
#include "support/fault_proxy.h"
#include "support/faults.h"
#include "support/radicale.h"
#include "support/run_awaitable.h"
#include "support/tls_http_server.h"

namespace {

namespace asio = boost::asio;
namespace http = agendad::calendar::http;
using namespace agendad::test_support;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

// --- the plan --------------------------------------------------------------------------------

request_view view(std::string_view method, std::string_view target, std::string_view body = {},
                  std::vector<std::pair<std::string_view, std::string_view>> headers = {}) {
    request_view v;
    v.method = method;
    v.target = target;
    v.body = body;
    v.headers = std::move(headers);
    return v;
}

TEST(fault_plan, a_rule_matches_on_method_target_header_and_body_together) {
    fault_plan plan;
    fault_rule r;
    r.kind = fault::error_500;
    r.match.method = "POST";
    r.match.target_contains = "/EWS/";
    r.match.header = "X-AnchorMailbox";
    r.match.header_contains = "raj@contoso.example";
    r.match.body_contains = "<m:CreateItem";
    plan.add(r);
    const std::vector<std::pair<std::string_view, std::string_view>> raj{
        {"x-anchormailbox", "Raj@Contoso.Example"}};
    const std::vector<std::pair<std::string_view, std::string_view>> dana{
        {"X-AnchorMailbox", "dana@contoso.example"}};
    EXPECT_FALSE(plan.take(view("GET", "/EWS/Exchange.asmx", "<m:CreateItem/>", raj)));
    EXPECT_FALSE(plan.take(view("POST", "/other", "<m:CreateItem/>", raj)));
    EXPECT_FALSE(plan.take(view("POST", "/EWS/Exchange.asmx", "<m:CreateItem/>", dana)));
    EXPECT_FALSE(plan.take(view("POST", "/EWS/Exchange.asmx", "<m:GetItem/>", raj)));
    EXPECT_FALSE(plan.take(view("POST", "/EWS/Exchange.asmx", "<m:CreateItem/>")));
    const auto hit = plan.take(view("post", "/EWS/Exchange.asmx", "<m:CreateItem/>", raj));
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->rule.kind, fault::error_500);
    EXPECT_EQ(hit->id, 0u);
    EXPECT_EQ(plan.injected(), 1);
}

TEST(fault_plan, counted_rules_run_out_and_open_ended_ones_last_until_cleared) {
    fault_plan plan;
    fault_rule twice;
    twice.kind = fault::hang;
    twice.match.target_contains = "/users/raj";
    twice.times = 2;
    plan.add(twice);
    fault_rule always;
    always.kind = fault::throttle_429;
    always.match.target_contains = "/users/";
    plan.add(always);

    const auto raj = view("GET", "/v1.0/users/raj/calendarView/delta");
    EXPECT_EQ(plan.take(raj)->rule.kind, fault::hang);
    EXPECT_EQ(plan.take(raj)->rule.kind, fault::hang);
    EXPECT_EQ(plan.take(raj)->rule.kind, fault::throttle_429) << "the first rule ran out";
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(plan.take(view("GET", "/v1.0/users/dana/events")));
    EXPECT_FALSE(plan.take(view("GET", "/v1.0/groups/x")));
    EXPECT_EQ(plan.injected(), 8);
    EXPECT_EQ(plan.injected(fault::hang), 2);
    EXPECT_EQ(plan.injected(fault::throttle_429), 6);

    plan.clear();
    EXPECT_FALSE(plan.take(raj));
    EXPECT_EQ(plan.injected(), 8) << "clearing keeps the count";
    const auto log = plan.injections();
    ASSERT_EQ(log.size(), 8u);
    EXPECT_EQ(log[0].target, "/v1.0/users/raj/calendarView/delta");
    EXPECT_FALSE(log[0].ended);
    plan.ended(0);
    EXPECT_TRUE(plan.injections()[0].ended);
}

// --- invalid UTF-8 -----------------------------------------------------------------------------

std::string without_sequence(std::string text) {
    for (auto at = text.find(invalid_utf8_sequence); at != std::string::npos;
         at = text.find(invalid_utf8_sequence)) {
        text.erase(at, invalid_utf8_sequence.size());
    }
    return text;
}

TEST(invalid_utf8, goes_into_the_text_of_json_xml_and_icalendar_and_nowhere_else) {
    using agendad::calendar::encoding::first_invalid_utf8;
    const std::string json =
        R"({"value":[{"id":"AAMk","subject": "Quick intro","body":{"content":"Hi"},)"
        R"("organizer":{"emailAddress":{"name":"Chris","address":"c@x.example"}}}]})";
    const std::string xml =
        "<t:CalendarItem><t:ItemId Id=\"AAMk\"/><t:Subject>Quick intro</t:Subject>"
        "<t:Body BodyType=\"Text\">Hi</t:Body><t:BodyType>x</t:BodyType><t:Location/>"
        "</t:CalendarItem>";
    const std::string ics =
        "BEGIN:VEVENT\r\nUID:x\r\nSUMMARY;LANGUAGE=en:Quick intro\r\nDESCRIPTION:Hi\r\n"
        "END:VEVENT\r\n";
    for (const std::string& text : {json, xml, ics}) {
        SCOPED_TRACE(text);
        const auto spoiled = with_invalid_utf8(text);
        ASSERT_TRUE(spoiled);
        EXPECT_NE(first_invalid_utf8(*spoiled), std::string::npos);
        EXPECT_EQ(without_sequence(*spoiled), text) << "nothing else changes";
    }
    EXPECT_THAT(*with_invalid_utf8(json), HasSubstr("\"subject\": \"Caf\xE9"));
    EXPECT_THAT(*with_invalid_utf8(json), HasSubstr("\"name\":\"Caf\xE9"));
    EXPECT_THAT(*with_invalid_utf8(json), HasSubstr("\"id\":\"AAMk\"")) << "ids stay whole";
    EXPECT_THAT(*with_invalid_utf8(xml), HasSubstr("<t:Subject>Caf\xE9"));
    EXPECT_THAT(*with_invalid_utf8(xml), HasSubstr("<t:BodyType>x<")) << "not a text element";
    EXPECT_THAT(*with_invalid_utf8(ics), HasSubstr("SUMMARY;LANGUAGE=en:Caf\xE9"));
    EXPECT_FALSE(with_invalid_utf8(""));
    EXPECT_FALSE(with_invalid_utf8(R"({"id":"x","changeKey":"y"})"));
}

// --- over the wire -------------------------------------------------------------------------------

enum class server_kind { tls_server, proxy };

struct wire_case {
    server_kind server;
    fault kind;
};

std::string case_name(const ::testing::TestParamInfo<wire_case>& info) {
    return std::string(info.param.server == server_kind::tls_server ? "tls_server_" : "proxy_") +
           std::string(name_of(info.param.kind));
}

// What the client got.
struct outcome {
    std::optional<http::response> answer;
    std::optional<http::error> error;
    std::chrono::steady_clock::duration took{};
};

const std::string event_text =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//agendad//faults test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:faults-1@test\r\nDTSTAMP:20260101T000000Z\r\n"
    "DTSTART:20260302T100000Z\r\nDTEND:20260302T110000Z\r\nSUMMARY:Quarterly review\r\n"
    "DESCRIPTION:Numbers first\\, then the plan.\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

class faults_on_the_wire : public ::testing::TestWithParam<wire_case> {
  protected:
    // One Radicale for the proxy cases: starting it is the slow part.
    static void SetUpTestSuite() {
        radicale_ = new radicale();
        radicale_->start();
        radicale_->make_calendar("alice", "/alice/cal/");
        radicale_->put("alice", "/alice/cal/e1.ics", event_text);
    }
    static void TearDownTestSuite() {
        delete radicale_;
        radicale_ = nullptr;
    }

    void SetUp() override {
        plan_ = std::make_shared<fault_plan>();
        if (GetParam().server == server_kind::tls_server) {
            tls_http_server::options o;
            o.faults = plan_;
            server_ = std::make_unique<tls_http_server>(o);
            server_->start([this](http_connection&, const http_request&)
                               -> asio::awaitable<http_answer> {
                ++handled_;
                co_return http_answer{200, "application/json", {{"request-id", "r1"}},
                                      R"({"value":[{"id":"AAMk","subject":"Quarterly review"}]})"};
            });
            base_ = *http::url::parse(server_->origin() + "/v1.0/users/raj/events");
            http::tls_options tls;
            tls.ca_file = server_->ca_file();
            client_ = std::make_unique<http::client>(io_.get_executor(), tls, limits());
        } else {
            proxy_ = std::make_unique<fault_proxy>(radicale_->port(), plan_);
            base_ = *http::url::parse(proxy_->url("/alice/cal/e1.ics"));
            client_ = std::make_unique<http::client>(io_.get_executor(), http::tls_options{},
                                                     limits());
        }
    }

    static http::limits limits() {
        http::limits l;
        l.request_timeout = 1s;
        l.max_response_bytes = std::size_t{1} << 20;
        return l;
    }

    outcome get() {
        http::request r;
        if (proxy_) {
            const std::string password = radicale_->password("alice");
            r.headers.push_back({"Authorization", http::basic_authorization("alice", password)});
        }
        const auto start = std::chrono::steady_clock::now();
        auto got = run_awaitable(io_, client_->send(base_, r));
        outcome out;
        out.took = std::chrono::steady_clock::now() - start;
        if (got) {
            out.answer = std::move(*got);
        } else {
            out.error = got.error();
        }
        return out;
    }

    // How many requests reached the server behind the faults.
    int processed() const {
        if (server_) return handled_.load();
        int n = 0;
        for (const auto& e : proxy_->exchanges()) n += e.status != 0;
        return n;
    }

    std::string content_type() const { return server_ ? "application/json" : "text/calendar"; }

    void add(fault kind, int times = 1) {
        fault_rule r;
        r.kind = kind;
        r.times = times;
        r.match.target_contains = server_ ? "/users/raj/" : "/alice/cal/";
        r.content_type = content_type();
        plan_->add(r);
    }

    // The injection has ended (its client went away) within `limit` of its start.
    void expect_ended_within(std::chrono::milliseconds limit) {
        const bool ended = [&] {
            for (int i = 0; i < 60; ++i) {
                const auto log = plan_->injections();
                if (!log.empty() && log.back().ended) return true;
                std::this_thread::sleep_for(50ms);
            }
            return false;
        }();
        ASSERT_TRUE(ended) << "the fault's writer never noticed the client leave";
        const auto i = plan_->injections().back();
        EXPECT_LT(*i.ended - i.started, limit);
    }

    static radicale* radicale_;
    std::shared_ptr<fault_plan> plan_;
    std::unique_ptr<tls_http_server> server_;
    std::unique_ptr<fault_proxy> proxy_;
    std::atomic<int> handled_{0};
    asio::io_context io_;
    std::unique_ptr<http::client> client_;
    http::url base_;
};

radicale* faults_on_the_wire::radicale_ = nullptr;

TEST_P(faults_on_the_wire, the_client_sees_the_fault_as_what_it_is) {
    const fault kind = GetParam().kind;
    const outcome normal = get();
    ASSERT_TRUE(normal.answer) << normal.error->message;
    ASSERT_EQ(normal.answer->status, 200);
    const std::string real = normal.answer->body;
    const std::string real_type(normal.answer->find("Content-Type").value_or(""));
    ASSERT_EQ(processed(), 1);

    add(kind, kind == fault::error_500 || kind == fault::throttle_429 ? -1 : 1);
    const outcome got = get();
    EXPECT_EQ(plan_->injected(kind), 1);
    EXPECT_LT(got.took, 3s) << "the client's limits hold";
    const int expected_processed = mangles(kind) ? 2 : 1;
    switch (kind) {
        case fault::hang:
            ASSERT_TRUE(got.error);
            EXPECT_EQ(got.error->kind, http::failure::timeout) << got.error->message;
            expect_ended_within(2500ms);
            break;
        case fault::trickle:
            ASSERT_TRUE(got.error);
            EXPECT_EQ(got.error->kind, http::failure::timeout) << got.error->message;
            expect_ended_within(2500ms);
            break;
        case fault::reset_mid_body:
            ASSERT_TRUE(got.error);
            EXPECT_EQ(got.error->kind, http::failure::protocol) << got.error->message;
            break;
        case fault::oversize_length:
        case fault::oversize_chunked:
            ASSERT_TRUE(got.error);
            EXPECT_EQ(got.error->kind, http::failure::too_large) << got.error->message;
            expect_ended_within(2500ms);
            break;
        case fault::invalid_utf8:
            ASSERT_TRUE(got.answer) << got.error->message;
            EXPECT_EQ(got.answer->status, 200);
            EXPECT_NE(agendad::calendar::encoding::first_invalid_utf8(got.answer->body),
                      std::string::npos);
            EXPECT_EQ(without_sequence(got.answer->body), real);
            break;
        case fault::garbage_random:
            ASSERT_TRUE(got.answer) << got.error->message;
            EXPECT_EQ(got.answer->status, 200);
            EXPECT_EQ(got.answer->find("Content-Type").value_or(""), content_type());
            EXPECT_EQ(got.answer->body.size(), 4096u);
            break;
        case fault::garbage_truncated:
            ASSERT_TRUE(got.answer) << got.error->message;
            EXPECT_EQ(got.answer->status, 200);
            EXPECT_EQ(got.answer->find("Content-Type").value_or(""), real_type);
            EXPECT_EQ(got.answer->body, real.substr(0, real.size() / 2));
            break;
        case fault::garbage_html:
            ASSERT_TRUE(got.answer) << got.error->message;
            EXPECT_EQ(got.answer->status, 200);
            EXPECT_EQ(got.answer->find("Content-Type").value_or(""), content_type());
            EXPECT_EQ(got.answer->body, proxy_error_page());
            break;
        case fault::error_500:
            ASSERT_TRUE(got.answer) << got.error->message;
            EXPECT_EQ(got.answer->status, 500);
            EXPECT_EQ(get().answer->status, 500) << "in a loop";
            EXPECT_EQ(plan_->injected(kind), 2);
            break;
        case fault::throttle_429:
            ASSERT_TRUE(got.answer) << got.error->message;
            EXPECT_EQ(got.answer->status, 429);
            EXPECT_EQ(got.answer->find("Retry-After").value_or(""), "1");
            EXPECT_EQ(get().answer->status, 429) << "a storm";
            break;
    }
    EXPECT_EQ(processed(), expected_processed)
        << (mangles(kind) ? "the server processed the request before the fault"
                          : "the server never saw the request");

    // Once the plan is cleared (or its faults are used up), answers are normal again.
    plan_->clear();
    const outcome after = get();
    ASSERT_TRUE(after.answer) << after.error->message;
    EXPECT_EQ(after.answer->status, 200);
    EXPECT_EQ(after.answer->body, real);
}

std::vector<wire_case> all_cases() {
    std::vector<wire_case> out;
    for (const server_kind s : {server_kind::tls_server, server_kind::proxy}) {
        for (const fault f :
             {fault::hang, fault::trickle, fault::reset_mid_body, fault::oversize_length,
              fault::oversize_chunked, fault::invalid_utf8, fault::garbage_random,
              fault::garbage_truncated, fault::garbage_html, fault::error_500,
              fault::throttle_429}) {
            out.push_back(wire_case{s, f});
        }
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(every_fault, faults_on_the_wire, ::testing::ValuesIn(all_cases()),
                         case_name);

// --- the bytes themselves, through the proxy ---------------------------------------------------

// A blocking socket to the proxy that sends one request and reads what comes.
class raw_client {
  public:
    explicit raw_client(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
            ADD_FAILURE() << "cannot connect to the proxy";
        }
        timeval t{0, 100 * 1000};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof t);
    }
    ~raw_client() { ::close(fd_); }
    void send(const std::string& text) {
        ASSERT_EQ(::write(fd_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    }
    // Reads for `time`; the bytes, and the errno that ended the reading (0: time ran out, or the
    // orderly end of the stream with `closed`).
    std::string read_for(std::chrono::milliseconds time, int& error, bool& closed) {
        std::string out;
        error = 0;
        closed = false;
        const auto until = std::chrono::steady_clock::now() + time;
        char buffer[4096];
        while (std::chrono::steady_clock::now() < until) {
            const ssize_t n = ::read(fd_, buffer, sizeof buffer);
            if (n > 0) {
                out.append(buffer, static_cast<std::size_t>(n));
            } else if (n == 0) {
                closed = true;
                break;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                error = errno;
                break;
            }
        }
        return out;
    }

  private:
    int fd_ = -1;
};

class proxy_bytes : public ::testing::Test {
  protected:
    void SetUp() override {
        server_.start();
        server_.make_calendar("alice", "/alice/cal/");
        server_.put("alice", "/alice/cal/e1.ics", event_text);
    }
    std::string request() const {
        return "GET /alice/cal/e1.ics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " +
               http::basic_authorization("alice", server_.password("alice")) + "\r\n\r\n";
    }
    void add(fault kind) {
        fault_rule r;
        r.kind = kind;
        r.times = 1;
        r.content_type = "text/calendar";
        plan_->add(r);
    }
    radicale server_;
    std::shared_ptr<fault_plan> plan_ = std::make_shared<fault_plan>();
};

TEST_F(proxy_bytes, trickle_sends_the_real_answer_a_byte_at_a_time) {
    fault_proxy proxy(server_.port(), plan_);
    add(fault::trickle);
    raw_client c(proxy.port());
    c.send(request());
    int error = 0;
    bool closed = false;
    const std::string first = c.read_for(1000ms, error, closed);
    EXPECT_FALSE(closed);
    EXPECT_EQ(error, 0);
    EXPECT_GE(first.size(), 2u);
    EXPECT_LE(first.size(), 7u) << "a byte every 200 to 500 ms";
    EXPECT_EQ(first, std::string("HTTP/1.1 200 OK").substr(0, first.size()));
}

TEST_F(proxy_bytes, reset_mid_body_stops_inside_the_body_with_a_reset) {
    fault_proxy proxy(server_.port(), plan_);
    add(fault::reset_mid_body);
    raw_client c(proxy.port());
    c.send(request());
    int error = 0;
    bool closed = false;
    const std::string got = c.read_for(2000ms, error, closed);
    EXPECT_EQ(error, ECONNRESET);
    EXPECT_FALSE(closed) << "a reset, not an orderly close";
    const auto end_of_head = got.find("\r\n\r\n");
    ASSERT_NE(end_of_head, std::string::npos) << got;
    EXPECT_THAT(got.substr(0, end_of_head), HasSubstr("Content-Length: "));
    const std::string body = got.substr(end_of_head + 4);
    EXPECT_FALSE(body.empty());
    EXPECT_LT(body.size(), event_text.size());
    EXPECT_THAT(body, ::testing::StartsWith("BEGIN:VCALENDAR"));
}

TEST_F(proxy_bytes, oversize_answers_declare_a_terabyte_or_never_end_their_chunks) {
    fault_proxy proxy(server_.port(), plan_);
    {
        add(fault::oversize_length);
        raw_client c(proxy.port());
        c.send(request());
        int error = 0;
        bool closed = false;
        const std::string got = c.read_for(500ms, error, closed);
        EXPECT_THAT(got, HasSubstr("\r\nContent-Length: 1099511627776\r\n"));
        EXPECT_FALSE(closed) << "the body goes on (as far as the client can tell)";
    }
    {
        add(fault::oversize_chunked);
        raw_client c(proxy.port());
        c.send(request());
        int error = 0;
        bool closed = false;
        const std::string got = c.read_for(500ms, error, closed);
        EXPECT_THAT(got, HasSubstr("\r\nTransfer-Encoding: chunked\r\n"));
        EXPECT_GT(got.size(), std::size_t{1} << 20) << "chunks keep coming";
        EXPECT_FALSE(closed);
    }
    EXPECT_EQ(plan_->injected(), 2);
    for (const auto& e : proxy.exchanges()) EXPECT_EQ(e.status, 0) << "Radicale never saw them";
}

TEST_F(proxy_bytes, hang_reads_the_request_and_answers_nothing) {
    fault_proxy proxy(server_.port(), plan_);
    add(fault::hang);
    raw_client c(proxy.port());
    c.send(request());
    int error = 0;
    bool closed = false;
    EXPECT_EQ(c.read_for(1500ms, error, closed), "");
    EXPECT_FALSE(closed);
    EXPECT_EQ(error, 0);
    EXPECT_EQ(plan_->injected(fault::hang), 1) << "the request was read";
}

}  // namespace
