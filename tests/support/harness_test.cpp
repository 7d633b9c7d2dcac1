// The test harnesses themselves: Radicale (plain and TLS) takes a calendar and events and keeps
// them across a restart on the same port, its process is gone after stop(); the SMTP sink receives
// what agendad's client sends, refuses on request with the chosen code, then accepts again.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <exception>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "calendar/http/http_client.h"
#include "calendar/smtp/smtp_client.h"
#include "support/radicale.h"
#include "support/smtp_sink.h"
#include "support/test_ca.h"

namespace {

namespace asio = boost::asio;
namespace http = agendad::calendar::http;
namespace smtp = agendad::calendar::smtp;
using namespace agendad::test_support;
using namespace std::chrono_literals;

std::string event(const std::string& uid, const std::string& summary) {
    return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//agendad//harness test//EN\r\n"
           "BEGIN:VEVENT\r\nUID:" +
           uid +
           "\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260302T100000Z\r\n"
           "DTEND:20260302T110000Z\r\nSUMMARY:" +
           summary + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
}

bool process_exists(pid_t pid) {
    return ::kill(pid, 0) == 0 || errno != ESRCH;
}

// --- Radicale ---

TEST(Radicale, PlainStartsAndKeepsACalendarAndItsEvents) {
    radicale_options o;
    o.users = {{"alice", "alice pass"}, {"bob", "bob:pass"}};
    radicale server(o);
    server.start();
    std::cout << "Radicale answered " << server.last_start_duration().count()
              << " ms after it was started\n";
    EXPECT_TRUE(server.running());
    EXPECT_NE(server.port(), 0);
    EXPECT_EQ(server.url("/alice/"),
              "http://127.0.0.1:" + std::to_string(server.port()) + "/alice/");
    EXPECT_TRUE(server.ca_file().empty());

    server.make_calendar("alice", "/alice/work/", "Work & more");
    const std::string etag = server.put("alice", "/alice/work/e1.ics", event("e1@test", "First"));
    EXPECT_THAT(etag, ::testing::StartsWith("\""));

    const auto got = server.get("alice", "/alice/work/e1.ics");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->etag, etag);
    EXPECT_THAT(got->body, ::testing::HasSubstr("UID:e1@test"));
    EXPECT_THAT(got->body, ::testing::HasSubstr("SUMMARY:First"));
    EXPECT_FALSE(server.get("alice", "/alice/work/missing.ics"));

    // Creating what exists and updating with a stale ETag are both 412.
    EXPECT_EQ(server
                  .request("alice", "PUT", "/alice/work/e1.ics",
                           {{"If-None-Match", "*"}, {"Content-Type", "text/calendar"}},
                           event("e1@test", "Again"))
                  .status,
              412);
    const std::string second =
        server.put("alice", "/alice/work/e1.ics", event("e1@test", "Second"), etag);
    EXPECT_NE(second, etag);
    EXPECT_EQ(server
                  .request("alice", "PUT", "/alice/work/e1.ics",
                           {{"If-Match", etag}, {"Content-Type", "text/calendar"}},
                           event("e1@test", "Stale"))
                  .status,
              412);
    server.put("alice", "/alice/work/e2.ics", event("e2@test", "Other"));
    EXPECT_THAT(server.list("alice", "/alice/work/"),
                ::testing::ElementsAre("/alice/work/e1.ics", "/alice/work/e2.ics"));

    // owner_only, and real passwords (with a space, with a colon).
    EXPECT_EQ(server.request("bob", "GET", "/alice/work/e1.ics").status, 403);
    EXPECT_EQ(server.request("", "GET", "/alice/work/e1.ics").status, 401);
    server.make_calendar("bob", "/bob/home/");

    server.remove("alice", "/alice/work/e1.ics", second);
    EXPECT_THAT(server.list("alice", "/alice/work/"), ::testing::ElementsAre("/alice/work/e2.ics"));
}

TEST(Radicale, TlsIsVerifiedAgainstTheTestCa) {
    test_ca ca;
    radicale_options o;
    o.tls = true;
    o.ca = &ca;
    radicale server(o);
    server.start();
    EXPECT_THAT(server.url(), ::testing::StartsWith("https://127.0.0.1:"));
    ASSERT_FALSE(server.ca_file().empty());
    server.make_calendar("alice", "/alice/cal/");
    server.put("alice", "/alice/cal/e.ics", event("e@test", "Over TLS"));
    EXPECT_EQ(server.list("alice", "/alice/cal/"), std::vector<std::string>{"/alice/cal/e.ics"});

    // A client that does not trust the test CA cannot talk to it: the certificate is real.
    asio::io_context io;
    http::client stranger(io.get_executor());
    const auto base = http::url::parse(server.url("/"));
    ASSERT_TRUE(base);
    const http::request r;
    std::optional<http::result<http::response>> out;
    asio::co_spawn(io, stranger.send(*base, r),
                   [&](std::exception_ptr e, http::result<http::response> answer) {
                       if (!e) out.emplace(std::move(answer));
                   });
    io.run();
    ASSERT_TRUE(out);
    ASSERT_TRUE(out->has_error());
    EXPECT_EQ(out->error().kind, http::failure::tls) << out->error().message;
}

TEST(Radicale, RestartOnTheSamePortKeepsTheDataAndStopLeavesNoProcess) {
    radicale server;
    server.start();
    server.make_calendar("alice", "/alice/work/");
    const std::string etag = server.put("alice", "/alice/work/e1.ics", event("e1@test", "Kept"));
    const auto port = server.port();
    const pid_t first = server.pid();
    ASSERT_GT(first, 0);

    server.stop();
    EXPECT_FALSE(server.running());
    EXPECT_FALSE(process_exists(first)) << "Radicale " << first << " still exists after stop()";
    EXPECT_THROW(server.request("alice", "GET", "/alice/work/e1.ics"), std::runtime_error);

    server.start();
    EXPECT_EQ(server.port(), port);
    EXPECT_NE(server.pid(), first);
    const auto got = server.get("alice", "/alice/work/e1.ics");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->etag, etag);

    // kill() too: SIGKILL, and a start after it.
    const pid_t second = server.pid();
    server.kill();
    EXPECT_FALSE(process_exists(second));
    server.start();
    EXPECT_EQ(server.list("alice", "/alice/work/"), std::vector<std::string>{"/alice/work/e1.ics"});
}

TEST(Radicale, DestructorLeavesNoProcess) {
    pid_t pid = -1;
    {
        radicale server;
        server.start();
        pid = server.pid();
        EXPECT_TRUE(process_exists(pid));
    }
    EXPECT_FALSE(process_exists(pid));
}

TEST(Radicale, PortTakenIsAClearStartFailure) {
    // Hold a listening socket on a port, then ask Radicale for exactly that port.
    const held_port taken;
    radicale_options o;
    o.port = taken.port();
    radicale server(o);
    try {
        server.start();
        ADD_FAILURE() << "start() on a taken port did not throw";
    } catch (const std::runtime_error& e) {
        EXPECT_THAT(e.what(), ::testing::HasSubstr("Address already in use"));
    }
    EXPECT_FALSE(server.running());
}

// --- the SMTP sink ---

// Runs agendad's SMTP client to the sink and back.
boost::system::result<void, smtp::error> send(const smtp_sink& sink, const std::string& to,
                                              const std::string& message,
                                              const std::string& user = {},
                                              const std::string& password = {}) {
    smtp::settings s;
    s.user = user;
    s.password = password;
    s.host = sink.host();
    s.port = std::to_string(sink.port());
    s.mode = sink.ca_file().empty() ? smtp::security::none : smtp::security::starttls;
    s.ca_file = sink.ca_file();
    s.helo_name = "agendad.test";
    s.timeout = 10s;
    const std::string from = "bot@example.org";
    const std::vector<std::string> recipients{to};
    asio::io_context io;
    std::optional<boost::system::result<void, smtp::error>> out;
    asio::co_spawn(io, smtp::send_mail(s, from, recipients, message),
                   [&](std::exception_ptr e, boost::system::result<void, smtp::error> r) {
                       if (!e) out.emplace(std::move(r));
                   });
    io.run();
    if (!out) return smtp::error{smtp::failure::protocol, 0, "send_mail threw"};
    return *out;
}

TEST(SmtpSink, ReceivesAMailFromTheSmtpClient) {
    smtp_sink sink;
    sink.start();
    EXPECT_NE(sink.port(), 0);
    const std::string message = "Subject: hello\r\n\r\n.a dot line\r\nbye\r\n";
    const auto r = send(sink, "alice@example.org", message);
    ASSERT_FALSE(r.has_error()) << r.error().message;
    ASSERT_TRUE(sink.wait_for(1));
    const auto received = sink.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].from, "bot@example.org");
    EXPECT_THAT(received[0].recipients, ::testing::ElementsAre("alice@example.org"));
    EXPECT_FALSE(received[0].tls);
    EXPECT_EQ(received[0].auth, "");
    EXPECT_EQ(received[0].content, message);
    EXPECT_FALSE(sink.wait_for(2, 50ms));
}

TEST(SmtpSink, RefusesWithTheChosenCodeThenAcceptsAgain) {
    smtp_sink sink;
    sink.start();
    const std::string message = "Subject: retry\r\n\r\nagain\r\n";

    sink.refuse(smtp_stage::rcpt, 451);
    auto r = send(sink, "alice@example.org", message);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().code, 451) << r.error().message;
    EXPECT_EQ(r.error().kind, smtp::failure::temporary);

    sink.refuse(smtp_stage::data, 554, "5.7.1 policy says no");
    r = send(sink, "alice@example.org", message);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().code, 554) << r.error().message;
    EXPECT_EQ(r.error().kind, smtp::failure::rejected);
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("5.7.1 policy says no"));
    EXPECT_TRUE(sink.messages().empty());

    sink.accept();
    r = send(sink, "alice@example.org", message);
    ASSERT_FALSE(r.has_error()) << r.error().message;
    ASSERT_TRUE(sink.wait_for(1));
    EXPECT_EQ(sink.messages().size(), 1u);
    EXPECT_THROW(sink.refuse(smtp_stage::data, 250), std::invalid_argument);
}

TEST(SmtpSink, StartTlsAndARestartKeepPortAndInbox) {
    smtp_sink_options o;
    o.tls = smtp_sink_tls::starttls;
    smtp_sink sink(o);
    sink.start();
    ASSERT_FALSE(sink.ca_file().empty());
    ASSERT_FALSE(send(sink, "alice@example.org", "Subject: 1\r\n\r\none\r\n").has_error());
    const auto port = sink.port();
    const pid_t first = sink.pid();

    sink.stop();
    EXPECT_FALSE(process_exists(first));
    EXPECT_TRUE(send(sink, "alice@example.org", "Subject: 2\r\n\r\ntwo\r\n").has_error());
    sink.start();
    EXPECT_EQ(sink.port(), port);
    ASSERT_FALSE(send(sink, "bob@example.org", "Subject: 2\r\n\r\ntwo\r\n").has_error());
    ASSERT_TRUE(sink.wait_for(2));
    const auto received = sink.messages();
    ASSERT_EQ(received.size(), 2u);
    EXPECT_TRUE(received[0].tls);
    EXPECT_THAT(received[1].recipients, ::testing::ElementsAre("bob@example.org"));
    EXPECT_EQ(received[1].content, "Subject: 2\r\n\r\ntwo\r\n");
}

TEST(SmtpSink, AuthOnLoopbackWithoutTlsWhenAllowed) {
    smtp_sink_options o;
    o.users = {{"alice", "s3cret"}};
    o.auth_require_tls = false;
    smtp_sink sink(o);
    sink.start();
    EXPECT_TRUE(send(sink, "bob@example.org", "Subject: x\r\n\r\nx\r\n").has_error())
        << "AUTH is required";
    const auto wrong = send(sink, "bob@example.org", "Subject: x\r\n\r\nx\r\n", "alice", "nope");
    ASSERT_TRUE(wrong.has_error());
    EXPECT_EQ(wrong.error().code, 535);
    const auto r = send(sink, "bob@example.org", "Subject: x\r\n\r\nx\r\n", "alice", "s3cret");
    ASSERT_FALSE(r.has_error()) << r.error().message;
    ASSERT_TRUE(sink.wait_for(1));
    EXPECT_EQ(sink.messages().at(0).auth, "alice");
    EXPECT_FALSE(sink.messages().at(0).tls);
}

}  // namespace
