// The SMTP client against a real server (aiosmtpd, started from this test with Debian's Python)
// for delivery, STARTTLS and AUTH, and against an in-process fake for what a real server will not
// do on request: silence, garbage, endless replies, a connection cut mid-DATA, bad certificates.
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

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "calendar/imip.h"
#include "support/files.h"
#include "support/test_ca.h"

extern char** environ;

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;
namespace smtp = agendad::calendar::smtp;
using tcp = boost::asio::ip::tcp;
using agendad::test_support::test_ca;
using send_result = boost::system::result<void, smtp::error>;
using namespace std::chrono_literals;

// --- helpers: a temporary folder, a child process, base64 ---

// A fresh folder under the system's temporary directory, removed with everything in it.
class temp_dir {
  public:
    temp_dir() {
        std::string pattern = (fs::temp_directory_path() / "agendad-smtp-test-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
        }
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

// A child with its stdin and stdout on pipes and its stderr in a file. Closing stdin asks it to
// end; the destructor does that, waits a little, then kills: the child is reaped in every outcome,
// a failed assertion included.
class child_process {
  public:
    child_process(const std::vector<std::string>& argv, const fs::path& stderr_file) {
        int in[2] = {-1, -1};
        int out[2] = {-1, -1};
        if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
            error_ = std::string("pipe2: ") + std::strerror(errno);
            close_all({in[0], in[1], out[0], out[1]});
            return;
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, in[0], 0);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_addopen(&actions, 2, stderr_file.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        pid_t pid = -1;
        const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        close_all({in[0], out[1]});
        if (rc != 0) {
            error_ = "cannot start " + argv[0] + ": " + std::strerror(rc);
            close_all({in[1], out[0]});
            return;
        }
        pid_ = pid;
        stdin_ = in[1];
        stdout_ = out[0];
    }
    ~child_process() { stop(); }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    const std::string& error() const { return error_; }

    // The next line of the child's stdout, without its LF; nullopt on timeout or end of output.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (const auto newline = pending_.find('\n'); newline != std::string::npos) {
                std::string line = pending_.substr(0, newline);
                pending_.erase(0, newline + 1);
                return line;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (stdout_ < 0 || left.count() <= 0) return std::nullopt;
            pollfd p{stdout_, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char buf[512];
            const ssize_t n = ::read(stdout_, buf, sizeof buf);
            if (n <= 0) return std::nullopt;
            pending_.append(buf, static_cast<std::size_t>(n));
        }
    }

    void stop() {
        if (pid_ <= 0) return;
        close_all({stdin_});
        stdin_ = -1;
        int status = 0;
        bool reaped = false;
        for (int i = 0; i < 500 && !reaped; ++i) {
            reaped = waitpid(pid_, &status, WNOHANG) == pid_;
            if (!reaped) std::this_thread::sleep_for(10ms);
        }
        if (!reaped) {
            kill(pid_, SIGKILL);
            waitpid(pid_, &status, 0);
        }
        close_all({stdout_});
        stdout_ = -1;
        pid_ = -1;
    }

  private:
    static void close_all(std::initializer_list<int> fds) {
        for (const int fd : fds) {
            if (fd >= 0) ::close(fd);
        }
    }

    pid_t pid_ = -1;
    int stdin_ = -1;
    int stdout_ = -1;
    std::string pending_;
    std::string error_;
};

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

void write_text(const fs::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

// --- running the client ---

// Runs send_mail to completion on `io` (which may also run a fake server).
send_result run_client(asio::io_context& io, const smtp::settings& s, const std::string& from,
                       const std::vector<std::string>& recipients, const std::string& message) {
    std::optional<send_result> out;
    asio::co_spawn(io, smtp::send_mail(s, from, recipients, message),
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
                 const std::vector<std::string>& recipients, const std::string& message) {
    asio::io_context io;
    return run_client(io, s, from, recipients, message);
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

// --- aiosmtpd, the real server ---

// Started by /usr/bin/python3 (a pyenv python3 on PATH would not see Debian's modules). It binds
// 127.0.0.1 on a free port, prints "PORT n" and serves until its stdin closes. The handler writes
// every message into the inbox as N.eml (the content as received, un-dot-stuffed by aiosmtpd) and
// N.envelope (from, recipients, tls=, auth=), refuses one address with 550 and answers 451 to
// DATA for another.
constexpr const char* controller_script = R"PY(
import os, socket, ssl, sys
try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword
except ImportError as e:
    print("NO_AIOSMTPD %s" % e, flush=True)
    sys.exit(3)

inbox, tls, cert, key, user, password, reject, busy, login_only = sys.argv[1:10]

class Handler:
    def __init__(self):
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == reject:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        if busy in envelope.rcpt_tos:
            return "451 4.3.0 mailbox busy, try again later"
        self.count += 1
        base = os.path.join(inbox, str(self.count))
        login = session.auth_data.login.decode() if session.auth_data else ""
        with open(base + ".envelope", "w") as f:
            f.write(envelope.mail_from + "\n")
            f.write(" ".join(envelope.rcpt_tos) + "\n")
            secure = server.transport.get_extra_info("ssl_object") is not None
            f.write("tls=%d\n" % secure)
            f.write("auth=%s\n" % login)
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 OK queued"

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
          and auth_data.password == password.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

kwargs = dict(server_hostname="localhost", ready_timeout=10)
if tls != "none":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if tls == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    else:
        kwargs.update(ssl_context=context)
if user != "-":
    kwargs.update(authenticator=authenticator, auth_required=True)
    if login_only == "1":
        kwargs.update(auth_exclude_mechanism=["PLAIN"])

last = None
for attempt in range(20):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, **kwargs)
    try:
        controller.start()
        break
    except Exception as e:
        last = e
else:
    print("ERROR %s" % last, flush=True)
    sys.exit(4)

print("PORT %d" % port, flush=True)
sys.stdin.read()
controller.stop()
)PY";

struct aiosmtpd_options {
    smtp::security tls = smtp::security::none;  // how the server offers TLS
    std::string user;                           // empty: no AUTH
    std::string password;
    bool login_only = false;  // offer AUTH LOGIN but not PLAIN
    std::string reject = "nobody@example.org";
    std::string busy = "busy@example.org";
};

const char* tls_name(smtp::security mode) {
    switch (mode) {
        case smtp::security::starttls:
            return "starttls";
        case smtp::security::tls:
            return "implicit";
        case smtp::security::none:
            break;
    }
    return "none";
}

// STARTTLS with a certificate from the test CA, and AUTH when a user is given.
aiosmtpd_options with_starttls(const std::string& user = "", const std::string& password = "",
                               bool login_only = false) {
    aiosmtpd_options o;
    o.tls = smtp::security::starttls;
    o.user = user;
    o.password = password;
    o.login_only = login_only;
    return o;
}

struct received_message {
    std::string from;
    std::string recipients;  // space-separated
    std::string tls;         // "tls=1"
    std::string auth;        // "auth=alice"
    std::string content;
};

class aiosmtpd_server {
  public:
    aiosmtpd_server(const fs::path& dir, const test_ca& ca, const aiosmtpd_options& o) : dir_(dir) {
        fs::create_directories(dir_ / "inbox");
        write_text(dir_ / "smtpd.py", controller_script);
        std::string cert = "-", key = "-";
        if (o.tls != smtp::security::none) {
            const auto credentials = ca.issue({"localhost"}, {"127.0.0.1"});
            write_text(dir_ / "server.pem", credentials.cert_pem);
            write_text(dir_ / "server.key", credentials.key_pem);
            cert = (dir_ / "server.pem").string();
            key = (dir_ / "server.key").string();
        }
        child_.emplace(std::vector<std::string>{"/usr/bin/python3", (dir_ / "smtpd.py").string(),
                                                (dir_ / "inbox").string(), tls_name(o.tls), cert,
                                                key, o.user.empty() ? "-" : o.user,
                                                o.password.empty() ? "-" : o.password, o.reject,
                                                o.busy, o.login_only ? "1" : "0"},
                       dir_ / "smtpd.log");
        if (!child_->error().empty()) {
            error_ = child_->error() +
                     " (install Debian's python3 and python3-aiosmtpd: apt-get install "
                     "python3-aiosmtpd)";
            return;
        }
        const auto line = child_->read_line(20s);
        if (line && line->rfind("PORT ", 0) == 0) {
            port_ = line->substr(5);
        } else if (line && line->rfind("NO_AIOSMTPD", 0) == 0) {
            error_ = "/usr/bin/python3 cannot import aiosmtpd (" + *line +
                     "): install python3-aiosmtpd (apt-get install python3-aiosmtpd)";
        } else {
            error_ = "aiosmtpd did not start: " + line.value_or("(no output)") + "\n" +
                     agendad::test_support::read_file(dir_ / "smtpd.log");
        }
    }

    const std::string& error() const { return error_; }
    const std::string& port() const { return port_; }

    std::vector<received_message> messages() const {
        std::vector<received_message> out;
        for (int n = 1; fs::exists(dir_ / "inbox" / (std::to_string(n) + ".eml")); ++n) {
            const fs::path base = dir_ / "inbox" / std::to_string(n);
            std::ifstream envelope(base.string() + ".envelope");
            received_message m;
            std::getline(envelope, m.from);
            std::getline(envelope, m.recipients);
            std::getline(envelope, m.tls);
            std::getline(envelope, m.auth);
            m.content = agendad::test_support::read_file(base.string() + ".eml");
            out.push_back(std::move(m));
        }
        return out;
    }

  private:
    fs::path dir_;
    std::optional<child_process> child_;
    std::string port_;
    std::string error_;
};

class SmtpAiosmtpd : public ::testing::Test {
  protected:
    // Starts the server; the test fails (never skips) when aiosmtpd is not there.
    aiosmtpd_server& start(const aiosmtpd_options& o = {}) {
        server_.emplace(dir_.path(), ca_, o);
        settings_.host = "127.0.0.1";
        settings_.port = server_->port();
        settings_.helo_name = "agendad.test";
        settings_.timeout = 10s;
        settings_.mode = o.tls;
        if (o.tls != smtp::security::none) {
            ca_.write_cert(dir_.path() / "ca.pem");
            settings_.ca_file = dir_.path() / "ca.pem";
        }
        return *server_;
    }

    // Declared first, destroyed last: the server process is gone before its folder is.
    temp_dir dir_;
    test_ca ca_;
    std::optional<aiosmtpd_server> server_;
    smtp::settings settings_;
};

#define ASSERT_SERVER_STARTED(server) ASSERT_EQ((server).error(), "") << (server).error()

TEST_F(SmtpAiosmtpd, PlainOnLoopbackDeliversAnImipShapedMessageByteExactly) {
    auto& server = start();
    ASSERT_SERVER_STARTED(server);
    const std::string message = imip_like_message();
    const auto r =
        send(settings_, "bot@example.org", {"alice@example.org", "bob@example.org"}, message);
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].from, "bot@example.org");
    EXPECT_EQ(received[0].recipients, "alice@example.org bob@example.org");
    EXPECT_EQ(received[0].tls, "tls=0");
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
    ASSERT_SERVER_STARTED(server);
    const auto r = send(settings_, m.from, {m.to}, *built);
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_TRUE(received[0].content == *built);
}

TEST_F(SmtpAiosmtpd, StartTlsWithTheTestCa) {
    auto& server = start(with_starttls());
    ASSERT_SERVER_STARTED(server);
    const auto r = send(settings_, "bot@example.org", {"alice@example.org"}, imip_like_message());
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].tls, "tls=1");
    EXPECT_EQ(received[0].content, imip_like_message());
}

TEST_F(SmtpAiosmtpd, TlsFromTheFirstByte) {
    aiosmtpd_options o;
    o.tls = smtp::security::tls;
    auto& server = start(o);
    ASSERT_SERVER_STARTED(server);
    const auto r = send(settings_, "bot@example.org", {"alice@example.org"}, imip_like_message());
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].tls, "tls=1");
    EXPECT_EQ(received[0].content, imip_like_message());
}

TEST_F(SmtpAiosmtpd, StartTlsAndAuthPlain) {
    auto& server = start(with_starttls("alice", "s3cret pass"));
    ASSERT_SERVER_STARTED(server);
    settings_.user = "alice";
    settings_.password = "s3cret pass";
    const auto r = send(settings_, "alice@example.org", {"bob@example.org"}, imip_like_message());
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].tls, "tls=1");
    EXPECT_EQ(received[0].auth, "auth=alice");
}

TEST_F(SmtpAiosmtpd, StartTlsAndAuthLoginWhenPlainIsNotOffered) {
    auto& server = start(with_starttls("alice", "s3cret pass", true));
    ASSERT_SERVER_STARTED(server);
    settings_.user = "alice";
    settings_.password = "s3cret pass";
    const auto r = send(settings_, "alice@example.org", {"bob@example.org"}, imip_like_message());
    ASSERT_FALSE(r.has_error()) << r.error().message;
    const auto received = server.messages();
    ASSERT_EQ(received.size(), 1u);
    EXPECT_EQ(received[0].auth, "auth=alice");
}

TEST_F(SmtpAiosmtpd, WrongPasswordIsAnAuthFailureThatNeverShowsThePassword) {
    const std::string wrong = "hunter2-wrong";
    auto& server = start(with_starttls("alice", "s3cret pass"));
    ASSERT_SERVER_STARTED(server);
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
    ASSERT_SERVER_STARTED(server);
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
    ASSERT_SERVER_STARTED(server);
    const auto r = send(settings_, "bot@example.org", {"busy@example.org"}, imip_like_message());
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::temporary) << r.error().message;
    EXPECT_EQ(r.error().code, 451);
    EXPECT_THAT(r.error().message, ::testing::HasSubstr("451 4.3.0 mailbox busy"));
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
    std::string after_starttls;  // bytes sent right behind the 220 (an injection attempt)
    bool endless_ehlo = false;
    bool close_in_data = false;
};

struct fake_log {
    std::vector<std::string> commands;
    std::string data;  // the bytes after DATA up to and with the final ".\r\n"
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
        } else if (verb == "MAIL" || verb == "RCPT") {
            co_await c.send("250 2.1.0 OK\r\n");
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
            co_await c.send("250 2.0.0 queued\r\n");
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
                    const std::vector<std::string>& recipients = {"alice@example.org"}) {
        bool server_done = false;
        asio::steady_timer guard(io_);
        asio::co_spawn(io_, fake_smtp(acceptor_, options_, log_), [&](std::exception_ptr) {
            server_done = true;
            guard.cancel();
        });
        std::optional<send_result> out;
        // Every argument outlives the coroutine (a temporary here would die before it runs).
        const std::string from = "bot@example.org";
        asio::co_spawn(io_, smtp::send_mail(settings_, from, recipients, message),
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

    temp_dir dir_;
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
    const auto r = run(message);
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().kind, smtp::failure::protocol) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::StartsWith("DATA (end of message): "));
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
    EXPECT_EQ(r.error().kind, smtp::failure::rejected) << r.error().message;
    EXPECT_THAT(r.error().message, ::testing::Not(::testing::HasSubstr("\r")));
    EXPECT_TRUE(log_.commands.empty());
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
