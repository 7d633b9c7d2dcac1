// The SMTP client against a real server (aiosmtpd through tests/support/smtp_sink.h) for delivery,
// STARTTLS, AUTH and the point of no return, and against an in-process fake for what a real server
// will not do on request: silence, garbage, endless replies, a connection cut mid-DATA, bad
// certificates.
#include "calendar/smtp/smtp_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <exception>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "calendar/imip.h"
#include "support/radicale.h"  // temp_folder
#include "support/smtp_sink.h"
#include "support/test_ca.h"

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;
namespace smtp = agendad::calendar::smtp;
using tcp = boost::asio::ip::tcp;
using agendad::test_support::smtp_sink;
using agendad::test_support::smtp_sink_options;
using agendad::test_support::smtp_sink_tls;
using agendad::test_support::smtp_stage;
using agendad::test_support::temp_folder;
using agendad::test_support::test_ca;
using send_result = boost::system::result<void, smtp::error>;
using namespace std::chrono_literals;

std::string base64(std::string_view in) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < in.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, in.size() - i);
        unsigned chunk = 0;
        for (std::size_t k = 0; k < 3; ++k) {
            chunk = (chunk << 8) | (k < n ? static_cast<unsigned char>(in[i + k]) : 0U);
        }
        for (std::size_t k = 0; k < 4; ++k) {
            out += k <= n ? alphabet[(chunk >> (18 - 6 * k)) & 0x3F] : '=';
        }
    }
    return out;
}

// --- running the client ---

// Runs send_mail to completion on `io` (which may also run a fake server).
send_result run_client(asio::io_context& io, const smtp::settings& s, const std::string& from,
                       const std::vector<std::string>& recipients, const std::string& message,
                       const smtp::send_options& options = {}) {
    std::optional<send_result> out;
    asio::co_spawn(io, smtp::send_mail(s, from, recipients, message, options),
                   [&](std::exception_ptr e, send_result r) {
                       if (e) {
                           out = smtp::error{smtp::failure::protocol, 0, "exception escaped"};
                           return;
                       }
                       out = std::move(r);
                   });
    io.run();
    if (!out) return smtp::error{smtp::failure::protocol, 0, "send_mail did not complete"};
    return *out;
}

send_result send(const smtp::settings& s, const std::string& from,
                 const std::vector<std::string>& recipients, const std::string& message,
                 const smtp::send_options& options = {}) {
    asio::io_context io;
    return run_client(io, s, from, recipients, message, options);
}

// A before_final_dot hook that answers `go_on` and counts its calls.
smtp::send_options counting_hook(int& calls, bool go_on) {
    smtp::send_options o;
    o.before_final_dot = [&calls, go_on] {
        ++calls;
        return go_on;
    };
    return o;
}

// An iMIP-shaped message by hand: multipart/alternative with a quoted-printable text part holding
// non-ASCII and lines that start with '.', one that is only ".", and a long base64 calendar part.
std::string imip_like_message() {
    std::string calendar_bytes;
    for (int i = 0; i < 30000; ++i) calendar_bytes += static_cast<char>((i * 7 + i / 13) % 256);
    const std::string encoded = base64(calendar_bytes);
    std::string calendar_part;
    for (std::size_t i = 0; i < encoded.size(); i += 76)
        calendar_part += encoded.substr(i, 76) + "\r\n";
    return "Date: Tue, 24 Nov 2026 18:00:00 +0000\r\n"
           "From: agendad <bot@example.org>\r\n"
           "To: Alice <alice@example.org>\r\n"
           "Subject: =?UTF-8?B?QWJnZWxlaG50OiBSw6l1bmlvbg==?=\r\n"
           "Message-ID: <abc123@agendad>\r\n"
           "MIME-Version: 1.0\r\n"
           "Content-Type: multipart/alternative; boundary=\"=_b\"\r\n"
           "\r\n"
           "--=_b\r\n"
           "Content-Type: text/plain; charset=UTF-8\r\n"
           "Content-Transfer-Encoding: quoted-printable\r\n"
           "\r\n"
           "Gr=C3=BC=C3=9Fe aus K=C3=B6ln, r=C3=A9union d=C3=A9clin=C3=A9e\r\n"
           ".a line that starts with a dot\r\n"
           "..two dots\r\n"
           ".\r\n"
           "the line above is a lone dot\r\n"
           "--=_b\r\n"
           "Content-Type: text/calendar; charset=UTF-8; method=REPLY\r\n"
           "Content-Transfer-Encoding: base64\r\n"
           "\r\n" +
           calendar_part + "--=_b--\r\n";
}

// --- aiosmtpd, the real server (tests/support/smtp_sink.h) ---

// STARTTLS with a certificate from the test CA, and AUTH when a user is given.
smtp_sink_options with_starttls(const std::string& user = "", const std::string& password = "",
                                bool login_only = false) {
    smtp_sink_options o;
    o.tls = smtp_sink_tls::starttls;
    if (!user.empty()) o.users[user] = password;
    o.login_only = login_only;
    return o;
}

class SmtpAiosmtpd : public ::testing::Test {
  protected:
    // Starts the server (throwing, so failing the test, when aiosmtpd is not there) and points
    // the settings at it.
    smtp_sink& start(smtp_sink_options o = {}) {
        o.ca = &ca_;
        server_.emplace(o);
        server_->start();
        settings_.host = "127.0.0.1";
        settings_.port = std::to_string(server_->port());
        settings_.helo_name = "agendad.test";
        settings_.timeout = 10s;
        switch (o.tls) {
            case smtp_sink_tls::none:
                settings_.mode = smtp::security::none;
                break;
            case smtp_sink_tls::starttls:
                settings_.mode = smtp::security::starttls;
                break;
            case smtp_sink_tls::implicit:
                settings_.mode = smtp::security::tls;
                break;
        }
        settings_.ca_file = server_->ca_file();
        return *server_;
    }

    test_ca ca_;  // declared first, destroyed last: the server is gone before its CA
    std::optional<smtp_sink> server_;
    smtp::settings settings_;
};

TEST_F(SmtpAiosmtpd, PlainOnLoopbackDeliversAnImipShapedMessageByteExactly) {
    auto& server = start();
    const std::string message = imip_like_message();
    const auto r =
        send(settings_, "bot@example.org", {"alice@example.org", "bob@example.org"}, message);
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].from, "bot@example.org");
    EXPECT_THAT(received[0].recipients,
                ::testing::ElementsAre("alice@example.org", "bob@example.org"));
    EXPECT_FALSE(received[0].tls);
    EXPECT_TRUE(received[0].content == message) << "the content differs from what was sent";
}

TEST_F(SmtpAiosmtpd, DeliversWhatBuildImipBuildsByteExactly) {
    agendad::calendar::imip_message m;
    m.from = "bot@example.org";
    m.from_name = "Agenda Bot";
    m.to = "organizer@example.com";
    m.to_name = "Zoë Organizer";
    m.subject = "Declined: Réunion";
    m.text = "Hello,\n.this line starts with a dot\nGrüße\n";
    m.calendar =
        "BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nVERSION:2.0\r\nPRODID:-//agendad//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:1@example.com\r\nDESCRIPTION:" +
        std::string(4000, 'x') + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    m.date = agendad::calendar::time_point{std::chrono::seconds{1795000000}};
    m.message_id = "abc@agendad";
    const auto built = agendad::calendar::build_imip(m);
    ASSERT_FALSE(built.has_error()) << built.error();

    auto& server = start();
    const auto r = send(settings_, m.from, {m.to}, *built);
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_TRUE(received[0].content == *built);
}

TEST_F(SmtpAiosmtpd, StartTlsWithTheTestCa) {
    auto& server = start(with_starttls());
    const auto r = send(settings_, "bot@example.org", {"alice@example.org"}, imip_like_message());
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_TRUE(received[0].tls);
    EXPECT_EQ(received[0].content, imip_like_message());
}

TEST_F(SmtpAiosmtpd, TlsFromTheFirstByte) {
    smtp_sink_options o;
    o.tls = smtp_sink_tls::implicit;
    auto& server = start(o);
    const auto r = send(settings_, "bot@example.org", {"alice@example.org"}, imip_like_message());
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_TRUE(received[0].tls);
    EXPECT_EQ(received[0].content, imip_like_message());
}

TEST_F(SmtpAiosmtpd, StartTlsAndAuthPlain) {
    auto& server = start(with_starttls("alice", "s3cret pass"));
    settings_.user = "alice";
    settings_.password = "s3cret pass";
    const auto r = send(settings_, "alice@example.org", {"bob@example.org"}, imip_like_message());
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_TRUE(received[0].tls);
    EXPECT_EQ(received[0].auth, "alice");
}

TEST_F(SmtpAiosmtpd, StartTlsAndAuthLoginWhenPlainIsNotOffered) {
    auto& server = start(with_starttls("alice", "s3cret pass", true));
    settings_.user = "alice";
    settings_.password = "s3cret pass";
    const auto r = send(settings_, "alice@example.org", {"bob@example.org"}, imip_like_message());
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].auth, "alice");
}

TEST_F(SmtpAiosmtpd, WrongPasswordIsAnAuthFailureThatNeverShowsThePassword) {
    const std::string wrong = "hunter2-wrong";
    auto& server = start(with_starttls("alice", "s3cret pass"));
    settings_.user = "alice";
    settings_.password = wrong;
    const auto r = send(settings_, "alice@example.org", {"bob@example.org"}, imip_like_message());
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::auth) << r.error().message;
    EXPECT_EQ(r.error().code, 535);
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("AUTH PLAIN: 535"));
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("127.0.0.1:" + settings_.port));
    EXPECT_THAT(r.error().message, ::testing::Not(::testing::HasSubstr(wrong)));
    EXPECT_THAT(r.error().message, ::testing::Not(::testing::HasSubstr(base64(wrong))));
    EXPECT_THAT(r.error().message,
                ::testing::Not(::testing::HasSubstr(base64(std::string("\0alice\0", 7) + wrong))));
    EXPECT_TRUE(server.messages().empty());
}

TEST_F(SmtpAiosmtpd, RecipientRefusedWith550IsRejected) {
    auto& server = start();
    const auto r = send(settings_, "bot@example.org", {"alice@example.org", "nobody@example.org"},
                        imip_like_message());
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::rejected);
    EXPECT_EQ(r.error().code, 550);
    EXPECT_EQ(
        r.error().message,
        "RCPT TO:<nobody@example.org>: 550 5.1.1 no such user (127.0.0.1:" + settings_.port + ")");
    EXPECT_TRUE(server.messages().empty());
}

TEST_F(SmtpAiosmtpd, Answer451IsTemporary) {
    auto& server = start();
    const auto r = send(settings_, "bot@example.org", {"busy@example.org"}, imip_like_message());
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::temporary) << r.error().message;
    EXPECT_EQ(r.error().code, 451);
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("451 4.3.0 mailbox busy"));
    EXPECT_TRUE(server.messages().empty());
}

TEST_F(SmtpAiosmtpd, RefusedDataCommandIsRejectedAndDeliversNothing) {
    auto& server = start();
    server.refuse(smtp_stage::data, 554, "5.7.1 not today");
    const auto r = send(settings_, "bot@example.org", {"alice@example.org"}, imip_like_message());
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::rejected) << r.error().message;
    EXPECT_EQ(r.error().code, 554);
    EXPECT_FALSE(r.error().maybe_delivered);
    EXPECT_TRUE(server.messages().empty());
}

// --- the point of no return against the real server ---

TEST_F(SmtpAiosmtpd, HookSayingNoDeliversNothingAndAYesDeliversExactlyOnce) {
    auto& server = start();
    const std::string withdrawn = "Subject: withdrawn\r\n\r\nnever delivered\r\n";
    int calls = 0;
    const auto no = counting_hook(calls, false);
    const auto r = send(settings_, "bot@example.org", {"alice@example.org"}, withdrawn, no);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::aborted) << r.error().message;
    EXPECT_FALSE(r.error().maybe_delivered);
    EXPECT_EQ(calls, 1);

    // The same server on a new connection: only this one arrives.
    const auto yes = counting_hook(calls, true);
    const auto again =
        send(settings_, "bot@example.org", {"alice@example.org"}, imip_like_message(), yes);
    ASSERT_FALSE(again.has_error()) << again.error().message;
    EXPECT_EQ(calls, 2);
    ASSERT_TRUE(server.wait_for(1));
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].content, imip_like_message());
}

TEST_F(SmtpAiosmtpd, HookNotCalledWhenTheRecipientIsRefused) {
    auto& server = start();
    int calls = 0;
    const auto yes = counting_hook(calls, true);
    const auto r =
        send(settings_, "bot@example.org", {"nobody@example.org"}, imip_like_message(), yes);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().code, 550);
    EXPECT_FALSE(r.error().maybe_delivered);
    EXPECT_EQ(calls, 0);
    EXPECT_TRUE(server.messages().empty());
}

TEST_F(SmtpAiosmtpd, ConnectionCutAfterTheDotIsMaybeDelivered) {
    auto& server = start();
    server.hang_up_after_data();
    int calls = 0;
    const auto yes = counting_hook(calls, true);
    const auto r =
        send(settings_, "bot@example.org", {"alice@example.org"}, imip_like_message(), yes);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::protocol) << r.error().message;
    EXPECT_TRUE(r.error().maybe_delivered) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::StartsWith("DATA (end of message): "));
    // And indeed it was: a retry would deliver it twice.
    EXPECT_EQ(server.messages().size(), 1u);
}

// --- the in-process fake, for failure injection ---

struct fake_options {
    std::string greeting = "220 fake.test ESMTP\r\n";
    bool greet = true;  // false: accept, then say nothing
    std::string ehlo =
        "250-fake.test\r\n250-SIZE 10000000\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN\r\n";
    bool offer_starttls = false;
    bool implicit_tls = false;  // TLS from the first byte (port 465)
    std::optional<agendad::test_support::credentials> certificate;  // for TLS
    bool only_tls_1_1 = false;  // offer TLS 1.0/1.1 only (security level 0), as an old server
    std::string after_starttls;  // bytes sent right behind the 220 (an injection attempt)
    bool endless_ehlo = false;
    bool close_in_data = false;
    std::string rcpt_reply = "250 2.1.0 OK\r\n";
    // After the final ".": "reply" sends data_reply, "close" hangs up, "silent" says nothing.
    std::string after_dot = "reply";
    std::string data_reply = "250 2.0.0 queued\r\n";
};

struct fake_log {
    std::vector<std::string> commands;
    std::string data;  // the bytes after DATA up to and with the final ".\r\n"
    bool dot_seen = false;
};

// One connection of the fake server, plain and then maybe TLS.
class fake_connection {
  public:
    explicit fake_connection(tcp::socket socket) : plain_(std::move(socket)) {}

    asio::awaitable<void> send(const std::string& text) {
        if (tls_) {
            co_await asio::async_write(*tls_, asio::buffer(text), asio::use_awaitable);
        } else {
            co_await asio::async_write(plain_, asio::buffer(text), asio::use_awaitable);
        }
    }

    // A line with its CRLF; throws when the client goes away.
    asio::awaitable<std::string> line() {
        for (;;) {
            if (const auto end = buffer_.find("\r\n"); end != std::string::npos) {
                std::string out = buffer_.substr(0, end + 2);
                buffer_.erase(0, end + 2);
                co_return out;
            }
            std::array<char, 4096> chunk{};
            std::size_t n = 0;
            if (tls_) {
                n = co_await tls_->async_read_some(asio::buffer(chunk), asio::use_awaitable);
            } else {
                n = co_await plain_.async_read_some(asio::buffer(chunk), asio::use_awaitable);
            }
            buffer_.append(chunk.data(), n);
        }
    }

    asio::awaitable<void> start_tls(ssl::context& context) {
        tls_.emplace(std::move(plain_), context);
        co_await tls_->async_handshake(ssl::stream_base::server, asio::use_awaitable);
    }

    bool secure() const { return tls_.has_value(); }

  private:
    tcp::socket plain_;
    std::optional<ssl::stream<tcp::socket>> tls_;
    std::string buffer_;
};

asio::awaitable<void> fake_smtp(tcp::acceptor& acceptor, const fake_options& o, fake_log& log) {
    fake_connection c(co_await acceptor.async_accept(asio::use_awaitable));
    acceptor.close();
    std::optional<ssl::context> tls_context;
    const auto handshake = [&]() {
        tls_context.emplace(ssl::context::tls_server);
        tls_context->use_certificate_chain(asio::buffer(o.certificate->cert_pem));
        tls_context->use_private_key(asio::buffer(o.certificate->key_pem), ssl::context::pem);
        if (o.only_tls_1_1) {
            SSL_CTX_set_security_level(tls_context->native_handle(), 0);
            SSL_CTX_set_min_proto_version(tls_context->native_handle(), TLS1_VERSION);
            SSL_CTX_set_max_proto_version(tls_context->native_handle(), TLS1_1_VERSION);
        }
        return c.start_tls(*tls_context);
    };
    if (o.implicit_tls) co_await handshake();
    if (!o.greet) {
        // Wait for the client to give up and close.
        for (;;) (void)co_await c.line();
    }
    co_await c.send(o.greeting);
    for (;;) {
        std::string line = co_await c.line();
        line.resize(line.size() - 2);
        log.commands.push_back(line);
        const std::string verb = line.substr(0, line.find(' '));
        if (verb == "EHLO") {
            if (o.endless_ehlo) {
                for (;;) co_await c.send("250-and another thing\r\n");
            }
            std::string reply = o.ehlo;
            if (o.offer_starttls && !c.secure())
                reply.insert(reply.find("\r\n") + 2, "250-STARTTLS\r\n");
            co_await c.send(reply);
        } else if (verb == "HELO") {
            co_await c.send("250 fake.test\r\n");
        } else if (verb == "STARTTLS") {
            co_await c.send("220 2.0.0 go ahead\r\n" + o.after_starttls);
            if (!o.after_starttls.empty()) continue;
            co_await handshake();
        } else if (verb == "AUTH") {
            co_await c.send("235 2.7.0 Authentication successful\r\n");
        } else if (verb == "MAIL") {
            co_await c.send("250 2.1.0 OK\r\n");
        } else if (verb == "RCPT") {
            co_await c.send(o.rcpt_reply);
        } else if (verb == "DATA") {
            co_await c.send("354 End data with <CR><LF>.<CR><LF>\r\n");
            if (o.close_in_data) {
                (void)co_await c.line();
                co_return;  // the connection closes with the coroutine
            }
            for (;;) {
                const std::string data_line = co_await c.line();
                log.data += data_line;
                if (data_line == ".\r\n") break;
            }
            log.dot_seen = true;
            if (o.after_dot == "close") co_return;
            if (o.after_dot == "silent") {
                for (;;) (void)co_await c.line();
            }
            co_await c.send(o.data_reply);
        } else if (verb == "QUIT") {
            co_await c.send("221 2.0.0 bye\r\n");
            co_return;
        } else {
            co_await c.send("502 5.5.2 what?\r\n");
        }
    }
}

class SmtpFake : public ::testing::Test {
  protected:
    SmtpFake() {
        settings_.host = "127.0.0.1";
        settings_.port = std::to_string(acceptor_.local_endpoint().port());
        settings_.helo_name = "agendad.test";
        settings_.mode = smtp::security::none;
        settings_.timeout = 2s;
        ca_.write_cert(dir_.path() / "ca.pem");
        settings_.ca_file = dir_.path() / "ca.pem";
    }

    // The fake serves one connection while the client sends; a fake that does not finish soon
    // after the client is stopped so that no test can hang.
    send_result run(const std::string& message = "Subject: hi\r\n\r\nhello\r\n",
                    const std::vector<std::string>& recipients = {"alice@example.org"},
                    const smtp::send_options& options = {}) {
        bool server_done = false;
        asio::steady_timer guard(io_);
        asio::co_spawn(io_, fake_smtp(acceptor_, options_, log_), [&](std::exception_ptr) {
            server_done = true;
            guard.cancel();
        });
        std::optional<send_result> out;
        // Every argument outlives the coroutine (a temporary here would die before it runs).
        const std::string from = "bot@example.org";
        asio::co_spawn(io_, smtp::send_mail(settings_, from, recipients, message, options),
                       [&](std::exception_ptr e, send_result r) {
                           out = e ? send_result(smtp::error{smtp::failure::protocol, 0, "threw"})
                                   : std::move(r);
                           // A fake still waiting to accept (the client never came) stops now.
                           boost::system::error_code ignored;
                           acceptor_.close(ignored);
                           if (server_done) return;
                           guard.expires_after(3s);
                           guard.async_wait([this](boost::system::error_code ec) {
                               if (!ec) io_.stop();
                           });
                       });
        io_.run();
        EXPECT_TRUE(server_done) << "the fake server did not finish";
        if (!out) return smtp::error{smtp::failure::protocol, 0, "send_mail did not complete"};
        return *out;
    }

    void use_starttls(const agendad::test_support::credentials& certificate) {
        options_.offer_starttls = true;
        options_.certificate = certificate;
        settings_.mode = smtp::security::starttls;
    }

    temp_folder dir_{"agendad-smtp-test"};
    test_ca ca_;
    asio::io_context io_;
    tcp::acceptor acceptor_{io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    fake_options options_;
    fake_log log_;
    smtp::settings settings_;
};

TEST_F(SmtpFake, HappyPathSendsTheExpectedCommandsAndDotStuffs) {
    use_starttls(ca_.issue({"localhost"}, {"127.0.0.1"}));
    settings_.user = "alice";
    settings_.password = "s3cret";
    // Stray LFs, a lone CR, leading dots, and no final line break.
    const std::string message = "Subject: x\nX-A: 1\r\n\r\n.dot\r\n..\r\n.\nmid\rend";
    const auto r = run(message, {"alice@example.org", "bob@example.org"});
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const std::string wire =
        "Subject: x\r\nX-A: 1\r\n\r\n..dot\r\n...\r\n..\r\nmid\r\nend\r\n.\r\n";
    EXPECT_THAT(log_.commands,
                ::testing::ElementsAre(
                    "EHLO agendad.test", "STARTTLS", "EHLO agendad.test",
                    "AUTH PLAIN " + base64(std::string("\0alice\0s3cret", 13)),
                    "MAIL FROM:<bot@example.org> SIZE=" + std::to_string(wire.size()),
                    "RCPT TO:<alice@example.org>", "RCPT TO:<bob@example.org>", "DATA", "QUIT"));
    EXPECT_EQ(log_.data, wire);
}

TEST_F(SmtpFake, TlsFromTheFirstByteWithAuth) {
    options_.implicit_tls = true;
    options_.certificate = ca_.issue({"localhost"}, {"127.0.0.1"});
    settings_.mode = smtp::security::tls;
    settings_.user = "alice";
    settings_.password = "s3cret";
    const std::string message = "Subject: x\r\n\r\nx\r\n";
    const auto r = run(message);
    ASSERT_FALSE(r.has_error()) << r.error().message;
    EXPECT_THAT(log_.commands,
                ::testing::ElementsAre(
                    "EHLO agendad.test", "AUTH PLAIN " + base64(std::string("\0alice\0s3cret", 13)),
                    "MAIL FROM:<bot@example.org> SIZE=" + std::to_string(message.size() + 3),
                    "RCPT TO:<alice@example.org>", "DATA", "QUIT"));
}

TEST_F(SmtpFake, AuthWantedButNotOffered) {
    options_.ehlo = "250-fake.test\r\n250 8BITMIME\r\n";
    settings_.user = "alice";
    settings_.password = "s3cret";
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::auth) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::StartsWith("AUTH: the server does not offer AUTH"));
    EXPECT_THAT(log_.commands, ::testing::ElementsAre("EHLO agendad.test", "QUIT"));
}

TEST_F(SmtpFake, NoHeloFallbackWhenStartTlsIsRequired) {
    options_.ehlo = "502 5.5.2 EHLO? never heard of it\r\n";
    settings_.mode = smtp::security::starttls;
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::rejected) << r.error().message;
    EXPECT_EQ(r.error().code, 502);
    EXPECT_THAT(log_.commands, ::testing::ElementsAre("EHLO agendad.test", "QUIT"));
}

TEST_F(SmtpFake, FallsBackToHeloOnlyWithoutSecurity) {
    options_.ehlo = "502 5.5.2 EHLO? never heard of it\r\n";
    const auto r = run();
    ASSERT_FALSE(r.has_error()) << r.error().message;
    EXPECT_THAT(log_.commands,
                ::testing::ElementsAre("EHLO agendad.test", "HELO agendad.test",
                                       "MAIL FROM:<bot@example.org>", "RCPT TO:<alice@example.org>",
                                       "DATA", "QUIT"));
}

TEST_F(SmtpFake, GreetingNeverSentTimesOut) {
    options_.greet = false;
    settings_.timeout = 300ms;
    const auto start = std::chrono::steady_clock::now();
    const auto r = run();
    const auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::timeout) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::StartsWith("greeting: "));
    EXPECT_LT(elapsed, 2s);
    EXPECT_GE(elapsed, 250ms);
}

TEST_F(SmtpFake, GarbageGreetingIsAProtocolError) {
    options_.greeting = "HTTP/1.1 400 Bad Request\r\n\r\n";
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::protocol) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("not an SMTP reply"));
    EXPECT_TRUE(log_.commands.empty());
}

TEST_F(SmtpFake, OverlongReplyLineIsAProtocolError) {
    options_.greeting = "220-" + std::string(5000, 'x');  // and no line end, ever
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::protocol) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("longer than 2048 bytes"));
}

TEST_F(SmtpFake, EndlessMultiLineReplyIsAProtocolError) {
    options_.endless_ehlo = true;
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::protocol) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::StartsWith("EHLO: a reply of more than 100 lines"));
}

TEST_F(SmtpFake, MixedCodesInOneReplyAreAProtocolError) {
    options_.ehlo = "250-fake.test\r\n550 surprise\r\n";
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::protocol) << r.error().message;
}

TEST_F(SmtpFake, ConnectionClosedMidDataIsAProtocolError) {
    // Large enough that the client is still writing when the server hangs up.
    std::string message = "Subject: big\r\n\r\n";
    while (message.size() < (std::size_t{4} << 20)) message += std::string(70, 'a') + "\r\n";
    options_.close_in_data = true;
    int calls = 0;
    const auto r = run(message, {"alice@example.org"}, counting_hook(calls, true));
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::protocol) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::StartsWith("DATA (end of message): "));
    EXPECT_FALSE(r.error().maybe_delivered) << "the final dot was never written";
    EXPECT_EQ(calls, 0);
}

TEST_F(SmtpFake, StartTlsRequiredButNotOffered) {
    settings_.mode = smtp::security::starttls;
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::tls);
    EXPECT_EQ(r.error().message,
              "STARTTLS: the server does not offer STARTTLS (127.0.0.1:" + settings_.port + ")");
    EXPECT_THAT(log_.commands, ::testing::ElementsAre("EHLO agendad.test", "QUIT"));
}

TEST_F(SmtpFake, DataInjectedAfterStartTlsReplyIsRefused) {
    use_starttls(ca_.issue({"localhost"}, {"127.0.0.1"}));
    options_.after_starttls = "250-injected\r\n250 AUTH PLAIN\r\n";
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::protocol) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("after its STARTTLS reply"));
}

TEST_F(SmtpFake, UntrustedCertificateIsATlsFailure) {
    test_ca stranger("some other CA");
    use_starttls(stranger.issue({"localhost"}, {"127.0.0.1"}));
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::tls) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::StartsWith("TLS handshake: certificate not trusted"));
    EXPECT_THAT(log_.commands, ::testing::ElementsAre("EHLO agendad.test", "STARTTLS"));
}

// TLS 1.2 is the least agendad speaks: after STARTTLS to a server that offers only TLS 1.1, the
// handshake fails and no AUTH (with the password) follows.
TEST_F(SmtpFake, ServerOfferingOnlyTls11IsATlsFailureBeforeAuth) {
    use_starttls(ca_.issue({"localhost"}, {"127.0.0.1"}));
    options_.only_tls_1_1 = true;
    settings_.user = "dana";
    settings_.password = "smtp-secret";
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::tls) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::StartsWith("TLS handshake"));
    EXPECT_THAT(log_.commands, ::testing::ElementsAre("EHLO agendad.test", "STARTTLS"));
}

TEST_F(SmtpFake, CertificateForAnotherHostIsATlsFailure) {
    use_starttls(ca_.issue({"mail.example.net"}, {"192.0.2.7"}));
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::tls) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("mismatch"));
}

TEST_F(SmtpFake, EightBitMessageNeedsEightBitMime) {
    options_.ehlo = "250-fake.test\r\n250 SIZE 10000000\r\n";
    const auto r = run("Subject: caf\xC3\xA9\r\n\r\nna\xC3\xAFve\r\n");
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::rejected) << r.error().message;
    EXPECT_THAT(log_.commands, ::testing::ElementsAre("EHLO agendad.test", "QUIT"));
}

TEST_F(SmtpFake, EightBitMessageGoesWithBody8BitMime) {
    const std::string message = "Subject: caf\xC3\xA9\r\n\r\nna\xC3\xAFve\r\n";
    const auto r = run(message);
    ASSERT_FALSE(r.has_error()) << r.error().message;
    ASSERT_GE(log_.commands.size(), 2u);
    EXPECT_EQ(log_.commands[1], "MAIL FROM:<bot@example.org> SIZE=" +
                                    std::to_string(message.size() + 3) + " BODY=8BITMIME");
}

TEST_F(SmtpFake, AddressThatWouldInjectACommandIsRefusedBeforeConnecting) {
    const auto r =
        run("Subject: x\r\n\r\nx\r\n", {"alice@example.org>\r\nRCPT TO:<eve@example.org"});
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::invalid) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::Not(::testing::HasSubstr("\r")));
    EXPECT_TRUE(log_.commands.empty());
}

TEST_F(SmtpFake, NoRecipientsIsInvalid) {
    const auto r = run("Subject: x\r\n\r\nx\r\n", {});
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::invalid) << r.error().message;
    EXPECT_TRUE(log_.commands.empty());
}

TEST_F(SmtpFake, AngleBracketsOrLineBreaksInAnAddressAreInvalid) {
    for (const std::string& bad :
         {std::string("<alice@example.org>"), std::string("a>b@example.org"),
          std::string("alice@example.org\n"), std::string("al\rice@example.org")}) {
        SCOPED_TRACE(bad);
        smtp::settings s = settings_;
        const auto to_bad = send(s, "bot@example.org", {bad}, "Subject: x\r\n\r\nx\r\n");
        ASSERT_TRUE(to_bad.has_error());
        EXPECT_EQ(to_bad.error().kind, smtp::failure::invalid) << to_bad.error().message;
        const auto from_bad = send(s, bad, {"alice@example.org"}, "Subject: x\r\n\r\nx\r\n");
        ASSERT_TRUE(from_bad.has_error());
        EXPECT_EQ(from_bad.error().kind, smtp::failure::invalid) << from_bad.error().message;
    }
    EXPECT_TRUE(log_.commands.empty());
}

TEST_F(SmtpFake, HeloNameWithALineBreakIsInvalid) {
    settings_.helo_name = "agendad.test\r\nRCPT TO:<eve@example.org>";
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::invalid) << r.error().message;
    EXPECT_TRUE(log_.commands.empty());
}

TEST_F(SmtpFake, MessageOverTheSizeLimitIsInvalid) {
    const std::string message(smtp::max_message_bytes + 1, 'a');
    const auto r = run(message);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::invalid) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("over the limit"));
    EXPECT_TRUE(log_.commands.empty());
}

// --- the point of no return: before_final_dot and maybe_delivered ---

TEST_F(SmtpFake, HookIsCalledOnceAfterTheMessageAndBeforeTheDot) {
    int calls = 0;
    std::string data_at_hook;
    bool dot_seen_at_hook = true;
    smtp::send_options o;
    o.before_final_dot = [&] {
        ++calls;
        dot_seen_at_hook = log_.dot_seen;
        return true;
    };
    const auto r = run("Subject: hi\r\n\r\nhello\r\n", {"alice@example.org"}, o);
    ASSERT_FALSE(r.has_error()) << r.error().message;
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(dot_seen_at_hook);
    EXPECT_EQ(log_.data, "Subject: hi\r\n\r\nhello\r\n.\r\n");
    EXPECT_THAT(log_.commands,
                ::testing::ElementsAre("EHLO agendad.test", "MAIL FROM:<bot@example.org> SIZE=25",
                                       "RCPT TO:<alice@example.org>", "DATA", "QUIT"));
}

TEST_F(SmtpFake, HookSayingNoClosesWithoutTheDot) {
    int calls = 0;
    const auto r =
        run("Subject: hi\r\n\r\nhello\r\n", {"alice@example.org"}, counting_hook(calls, false));
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::aborted) << r.error().message;
    EXPECT_FALSE(r.error().maybe_delivered);
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(log_.dot_seen);
    EXPECT_EQ(log_.data, "Subject: hi\r\n\r\nhello\r\n");
    // Mid-DATA no command is possible (RSET would be message text): the connection just ends.
    EXPECT_THAT(log_.commands,
                ::testing::ElementsAre("EHLO agendad.test", "MAIL FROM:<bot@example.org> SIZE=25",
                                       "RCPT TO:<alice@example.org>", "DATA"));
}

TEST_F(SmtpFake, HookNotCalledWhenARecipientIsRefused) {
    options_.rcpt_reply = "450 4.2.1 mailbox busy\r\n";
    int calls = 0;
    const auto r =
        run("Subject: hi\r\n\r\nhello\r\n", {"alice@example.org"}, counting_hook(calls, true));
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::temporary) << r.error().message;
    EXPECT_FALSE(r.error().maybe_delivered);
    EXPECT_EQ(calls, 0);
}

TEST_F(SmtpFake, ConnectionClosedAfterTheDotIsMaybeDelivered) {
    options_.after_dot = "close";
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::protocol) << r.error().message;
    EXPECT_TRUE(r.error().maybe_delivered);
    EXPECT_TRUE(log_.dot_seen);
}

TEST_F(SmtpFake, SilenceAfterTheDotIsATimeoutThatMayHaveDelivered) {
    options_.after_dot = "silent";
    settings_.timeout = 300ms;
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::timeout) << r.error().message;
    EXPECT_TRUE(r.error().maybe_delivered);
}

TEST_F(SmtpFake, GarbageAfterTheDotMayHaveDelivered) {
    options_.data_reply = "OK thanks\r\n";
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::protocol) << r.error().message;
    EXPECT_TRUE(r.error().maybe_delivered);
}

TEST_F(SmtpFake, RefusalOfTheMessageIsNotMaybeDelivered) {
    options_.data_reply = "554 5.6.0 no thanks\r\n";
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::rejected) << r.error().message;
    EXPECT_EQ(r.error().code, 554);
    EXPECT_FALSE(r.error().maybe_delivered);
}

TEST_F(SmtpFake, TemporaryRefusalOfTheMessageIsNotMaybeDelivered) {
    options_.data_reply = "451 4.3.0 later\r\n";
    const auto r = run();
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::temporary) << r.error().message;
    EXPECT_FALSE(r.error().maybe_delivered);
}

// No fake server: these fail before or at connecting.
TEST(SmtpClient, SecurityNoneToARemoteHostIsRefusedBeforeConnecting) {
    smtp::settings s;
    s.host = "192.0.2.1";  // TEST-NET-1: connecting would hang until the timeout
    s.port = "25";
    s.mode = smtp::security::none;
    s.timeout = 10s;
    const auto start = std::chrono::steady_clock::now();
    const auto r = send(s, "bot@example.org", {"alice@example.org"}, "Subject: x\r\n\r\nx\r\n");
    EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::tls);
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("192.0.2.1:25"));
}

TEST(SmtpClient, RefusedConnectionIsAConnectFailure) {
    std::string port;
    {
        asio::io_context io;
        tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        port = std::to_string(a.local_endpoint().port());
    }  // closed: nothing listens there now
    smtp::settings s;
    s.host = "127.0.0.1";
    s.port = port;
    s.mode = smtp::security::none;
    s.timeout = 2s;
    const auto r = send(s, "bot@example.org", {"alice@example.org"}, "Subject: x\r\n\r\nx\r\n");
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::connect) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::StartsWith("connect: "));
}

}  // namespace
