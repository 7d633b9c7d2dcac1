// The HTTP(S) client against in-process Beast servers on 127.0.0.1 port 0 (plain and TLS with
// certificates from a test CA), run on the test's own io_context; and table tests of the URL code.
#include "calendar/http/http_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "support/test_ca.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace ah = agendad::calendar::http;
using agendad::test_support::credentials;
using agendad::test_support::test_ca;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------------------------------------
// Test servers

// A request as the server received it.
struct received {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    std::size_t count(std::string_view name) const {
        std::size_t n = 0;
        for (const auto& [k, v] : headers) n += beast::iequals(k, name) ? 1 : 0;
        return n;
    }
    std::string header(std::string_view name) const {
        for (const auto& [k, v] : headers) {
            if (beast::iequals(k, name)) return v;
        }
        return {};
    }
};

// One accepted connection: reads requests with Beast, writes raw bytes (so that tests can send
// anything, including broken HTTP).
class server_connection {
  public:
    server_connection(tcp::socket socket, ssl::context* tls, std::vector<received>& log, int index)
        : log_(log), index_(index) {
        if (tls) {
            tls_.emplace(std::move(socket), *tls);
        } else {
            plain_.emplace(std::move(socket));
        }
    }

    int index() const { return index_; }  // 1 for the first connection the server accepted
    const std::string& sni() const { return sni_; }

    asio::awaitable<bool> handshake() {
        if (!tls_) co_return true;
        auto [ec] = co_await tls_->async_handshake(ssl::stream_base::server, with_error);
        if (ec) co_return false;
        const char* name = SSL_get_servername(tls_->native_handle(), TLSEXT_NAMETYPE_host_name);
        sni_ = name ? name : "";
        co_return true;
    }

    // The next request, or nothing when the client closed the connection or sent no HTTP.
    asio::awaitable<std::optional<received>> read_request() {
        bhttp::request<bhttp::string_body> req;
        // Separate co_awaits, not a conditional expression: see the note on GCC 12 in the client.
        boost::system::error_code ec;
        if (tls_) {
            std::tie(ec, std::ignore) = co_await bhttp::async_read(*tls_, buffer_, req, with_error);
        } else {
            std::tie(ec, std::ignore) =
                co_await bhttp::async_read(*plain_, buffer_, req, with_error);
        }
        if (ec) co_return std::nullopt;
        received r;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        for (const auto& f : req) {
            r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
        }
        r.body = req.body();
        log_.push_back(r);
        co_return r;
    }

    asio::awaitable<bool> write(const std::string& bytes) {
        boost::system::error_code ec;
        if (tls_) {
            std::tie(ec, std::ignore) =
                co_await asio::async_write(*tls_, asio::buffer(bytes), with_error);
        } else {
            std::tie(ec, std::ignore) =
                co_await asio::async_write(*plain_, asio::buffer(bytes), with_error);
        }
        co_return !ec;
    }

    // Sends `bytes` one at a time, `gap` apart: a server that trickles its answer.
    asio::awaitable<bool> trickle(const std::string& bytes, const std::chrono::milliseconds& gap) {
        for (char c : bytes) {
            if (const auto ok = co_await write(std::string(1, c)); !ok) co_return false;
            co_await pause(gap);
        }
        co_return true;
    }

    asio::awaitable<void> pause(const std::chrono::milliseconds& d) {
        asio::steady_timer t(socket().get_executor(), d);
        co_await t.async_wait(with_error);
    }

    void close() {
        boost::system::error_code ec;
        socket().shutdown(tcp::socket::shutdown_both, ec);
        socket().close(ec);
    }

    // Closes with an RST instead of a FIN.
    void reset() {
        boost::system::error_code ec;
        socket().set_option(asio::socket_base::linger(true, 0), ec);
        socket().close(ec);
    }

  private:
    tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }

    std::optional<tcp::socket> plain_;
    std::optional<ssl::stream<tcp::socket>> tls_;
    beast::flat_buffer buffer_;
    std::vector<received>& log_;
    int index_;
    std::string sni_;
};

void rethrow(const std::exception_ptr& e) {
    if (e) std::rethrow_exception(e);
}

// Listens on 127.0.0.1, port 0; runs `handler` for each accepted connection (after the TLS
// handshake when `tls` is set), counting connections and logging requests.
class test_server {
  public:
    using handler = std::function<asio::awaitable<void>(server_connection&)>;

    test_server(asio::io_context& io, handler h, ssl::context* tls = nullptr)
        : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
          handler_(std::move(h)),
          tls_(tls) {
        asio::co_spawn(io, accept_loop(), rethrow);
    }

    std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }
    ah::url url(const std::string& path = "/") const {
        return *ah::url::parse((tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + port() + path);
    }

    int connections = 0;
    std::vector<received> requests;
    std::vector<std::string> sni;  // per TLS connection, "" when the client sent none

  private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(with_error);
            if (ec) co_return;
            ++connections;
            connections_.push_back(std::make_unique<server_connection>(std::move(socket), tls_,
                                                                       requests, connections));
            asio::co_spawn(acceptor_.get_executor(), serve(*connections_.back()), rethrow);
        }
    }

    asio::awaitable<void> serve(server_connection& c) {
        if (const auto ok = co_await c.handshake(); !ok) co_return;
        if (tls_) sni.push_back(c.sni());
        co_await handler_(c);
    }

    tcp::acceptor acceptor_;
    handler handler_;
    ssl::context* tls_;
    std::list<std::unique_ptr<server_connection>> connections_;
};

// A response with a Content-Length; `headers` are raw lines, each ending in CRLF. (Raw text, not
// a braced list: GCC 12 cannot build initializer lists of string literals inside coroutines.)
std::string http_response(const std::string& status_line, const std::string& headers,
                          const std::string& body) {
    return status_line + "\r\n" + headers + "Content-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
}

// Answers every request on the connection with 200 and `body`, keeping it alive.
test_server::handler answer_all(const std::string& body) {
    return [body](server_connection& c) -> asio::awaitable<void> {
        while (const auto req = co_await c.read_request()) {
            if (const auto ok = co_await c.write(
                    http_response("HTTP/1.1 200 OK", "Content-Type: text/plain\r\n", body));
                !ok) {
                co_return;
            }
        }
    };
}

// Runs the test's client coroutine on `io` until it finishes (at most 10 s), then stops the
// servers with the io_context.
template <class F>
void run(asio::io_context& io, F&& body) {
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(io, std::forward<F>(body), [&](const std::exception_ptr& e) {
        done = true;
        failure = e;
        io.stop();
    });
    io.run_for(10s);
    if (failure) std::rethrow_exception(failure);
    EXPECT_TRUE(done) << "the client coroutine did not finish within 10 s";
}

std::string describe(const std::optional<ah::result<ah::response>>& r) {
    if (!r) return "no result";
    if (*r) return "ok, status " + std::to_string((*r)->status);
    return "error: " + (*r).error().message;
}

const char* kind_name(ah::failure f) {
    switch (f) {
        case ah::failure::resolve:
            return "resolve";
        case ah::failure::connect:
            return "connect";
        case ah::failure::tls:
            return "tls";
        case ah::failure::timeout:
            return "timeout";
        case ah::failure::too_large:
            return "too_large";
        case ah::failure::protocol:
            return "protocol";
    }
    return "?";
}

// The failure kind of a result that must be an error.
std::string kind_of(const std::optional<ah::result<ah::response>>& r) {
    if (!r || *r) return describe(r);
    return kind_name((*r).error().kind);
}

std::unique_ptr<ssl::context> server_context(const credentials& cred) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    ctx->use_certificate_chain(asio::buffer(cred.cert_pem));
    ctx->use_private_key(asio::buffer(cred.key_pem), ssl::context::pem);
    return ctx;
}

const test_ca& trusted_ca() {
    static const test_ca ca("agendad trusted test CA");
    return ca;
}

class http_client_test : public ::testing::Test {
  protected:
    void SetUp() override {
        static int counter = 0;
        dir_ =
            std::filesystem::temp_directory_path() /
            ("agendad-http-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
        std::filesystem::create_directories(dir_);
        ca_file_ = dir_ / "ca.pem";
        trusted_ca().write_cert(ca_file_);
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    ah::tls_options trusting() const { return ah::tls_options{true, ca_file_}; }

    // One request with `c`, its result and how long it took.
    struct timed {
        std::optional<ah::result<ah::response>> result;
        steady::duration elapsed{};
    };
    timed send_once(ah::client& c, const ah::url& base, const ah::request& r) {
        timed t;
        run(io_, [&]() -> asio::awaitable<void> {
            const auto start = steady::now();
            t.result = co_await c.send(base, r);
            t.elapsed = steady::now() - start;
        });
        return t;
    }

    asio::io_context io_;
    std::filesystem::path dir_;
    std::filesystem::path ca_file_;
};

// ---------------------------------------------------------------------------------------------
// Round trips

TEST_F(http_client_test, get_returns_the_answer_and_sends_host_agent_and_caller_headers) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        while (const auto req = co_await c.read_request()) {
            co_await c.write(http_response("HTTP/1.1 200 OK",
                                           "Content-Type: text/calendar\r\n"
                                           "ETag: \"e1\"\r\n",
                                           "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"));
        }
    });
    ah::client client(io_.get_executor());
    ah::request r;
    r.headers = {{"Authorization", ah::basic_authorization("anna", "s3cret")},
                 {"Accept", "text/calendar"}};
    const auto got = send_once(client, server.url("/dav/anna/calendar/"), r);

    ASSERT_TRUE(got.result && *got.result) << describe(got.result);
    const ah::response& res = **got.result;
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.body, "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n");
    EXPECT_EQ(res.find("content-type"), "text/calendar");
    EXPECT_EQ(res.find("ETAG"), "\"e1\"");
    EXPECT_EQ(res.find("X-Missing"), std::nullopt);

    ASSERT_EQ(server.requests.size(), 1u);
    const received& req = server.requests[0];
    EXPECT_EQ(req.method, "GET");
    EXPECT_EQ(req.target, "/dav/anna/calendar/");
    EXPECT_EQ(req.header("Host"), "127.0.0.1:" + server.port());
    EXPECT_EQ(req.count("Host"), 1u);
    EXPECT_EQ(req.header("User-Agent"), "agendad/0.1");
    EXPECT_EQ(req.header("Connection"), "keep-alive");
    EXPECT_EQ(req.header("Authorization"), "Basic YW5uYTpzM2NyZXQ=");
    EXPECT_EQ(req.header("Accept"), "text/calendar");
    EXPECT_EQ(req.count("Content-Length"), 0u);  // a GET without a body declares none
    EXPECT_EQ(req.body, "");
}

TEST_F(http_client_test, put_sends_body_with_content_length_and_conditional_headers) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        while (const auto req = co_await c.read_request()) {
            co_await c.write(http_response("HTTP/1.1 201 Created", "ETag: \"v2\"\r\n", ""));
        }
    });
    ah::client client(io_.get_executor());
    ah::request r;
    r.method = "PUT";
    r.headers = {{"Content-Type", "text/calendar; charset=utf-8"}, {"If-Match", "\"v1\""}};
    r.body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
    const auto got = send_once(client, server.url("/dav/cal/event-1.ics"), r);

    ASSERT_TRUE(got.result && *got.result) << describe(got.result);
    EXPECT_EQ((*got.result)->status, 201);
    EXPECT_EQ((*got.result)->find("etag"), "\"v2\"");
    EXPECT_EQ((*got.result)->body, "");
    ASSERT_EQ(server.requests.size(), 1u);
    const received& req = server.requests[0];
    EXPECT_EQ(req.method, "PUT");
    EXPECT_EQ(req.target, "/dav/cal/event-1.ics");
    EXPECT_EQ(req.header("Content-Length"), std::to_string(r.body.size()));
    EXPECT_EQ(req.header("Content-Type"), "text/calendar; charset=utf-8");
    EXPECT_EQ(req.header("If-Match"), "\"v1\"");
    EXPECT_EQ(req.body, r.body);
}

TEST_F(http_client_test, report_uses_the_request_target_and_caller_user_agent) {
    const std::string multistatus =
        "<?xml version=\"1.0\"?><d:multistatus xmlns:d=\"DAV:\"></d:multistatus>";
    test_server server(io_, [&multistatus](server_connection& c) -> asio::awaitable<void> {
        while (const auto req = co_await c.read_request()) {
            co_await c.write(http_response("HTTP/1.1 207 Multi-Status",
                                           "Content-Type: application/xml\r\n", multistatus));
        }
    });
    ah::client client(io_.get_executor());
    ah::request r;
    r.method = "REPORT";
    r.target = "/dav/other/?x=1";
    r.headers = {{"Depth", "1"},
                 {"Content-Type", "application/xml"},
                 {"User-Agent", "agendad-test"},
                 {"Host", "evil.example"},
                 {"Content-Length", "9999"}};
    r.body = "<c:calendar-query xmlns:c=\"urn:ietf:params:xml:ns:caldav\"/>";
    const auto got = send_once(client, server.url("/dav/cal/"), r);

    ASSERT_TRUE(got.result && *got.result) << describe(got.result);
    EXPECT_EQ((*got.result)->status, 207);
    EXPECT_EQ((*got.result)->body, multistatus);
    ASSERT_EQ(server.requests.size(), 1u);
    const received& req = server.requests[0];
    EXPECT_EQ(req.method, "REPORT");
    EXPECT_EQ(req.target, "/dav/other/?x=1");
    EXPECT_EQ(req.header("Depth"), "1");
    EXPECT_EQ(req.header("User-Agent"), "agendad-test");
    EXPECT_EQ(req.count("User-Agent"), 1u);
    // Host and framing headers are the client's own, whatever the caller passed.
    EXPECT_EQ(req.header("Host"), "127.0.0.1:" + server.port());
    EXPECT_EQ(req.count("Host"), 1u);
    EXPECT_EQ(req.header("Content-Length"), std::to_string(r.body.size()));
    EXPECT_EQ(req.count("Content-Length"), 1u);
    EXPECT_EQ(req.body, r.body);
}

TEST_F(http_client_test, chunked_response_is_reassembled_and_the_connection_reused) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        while (const auto req = co_await c.read_request()) {
            co_await c.write(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
        }
    });
    ah::client client(io_.get_executor());
    const ah::url base = server.url("/x");
    const ah::request r;
    std::optional<ah::result<ah::response>> first, second;
    run(io_, [&]() -> asio::awaitable<void> {
        first = co_await client.send(base, r);
        second = co_await client.send(base, r);
    });
    ASSERT_TRUE(first && *first) << describe(first);
    ASSERT_TRUE(second && *second) << describe(second);
    EXPECT_EQ((*first)->body, "hello world");
    EXPECT_EQ((*second)->body, "hello world");
    EXPECT_EQ(server.connections, 1);
}

// Radicale speaks HTTP/1.0 and closes after every answer.
TEST_F(http_client_test, http10_server_closing_after_each_answer_works) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        if (c.index() == 1) {
            // The body ends where the connection does.
            co_await c.write(
                "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                "radicale says hi");
        } else {
            co_await c.write(http_response("HTTP/1.0 207 Multi-Status", "", "<multistatus/>"));
        }
        c.close();
    });
    ah::client client(io_.get_executor());
    const ah::url base = server.url("/");
    const ah::request r;
    std::optional<ah::result<ah::response>> first, second;
    run(io_, [&]() -> asio::awaitable<void> {
        first = co_await client.send(base, r);
        second = co_await client.send(base, r);
    });
    ASSERT_TRUE(first && *first) << describe(first);
    ASSERT_TRUE(second && *second) << describe(second);
    EXPECT_EQ((*first)->body, "radicale says hi");
    EXPECT_EQ((*second)->status, 207);
    EXPECT_EQ((*second)->body, "<multistatus/>");
    EXPECT_EQ(server.connections, 2);
}

TEST_F(http_client_test, keep_alive_connection_is_reused_for_the_same_origin) {
    test_server server(io_, answer_all("same"));
    ah::client client(io_.get_executor());
    const ah::url a = server.url("/a");
    const ah::url b = server.url("/b");
    const ah::request r;
    std::optional<ah::result<ah::response>> first, second;
    run(io_, [&]() -> asio::awaitable<void> {
        first = co_await client.send(a, r);
        second = co_await client.send(b, r);
    });
    ASSERT_TRUE(first && *first) << describe(first);
    ASSERT_TRUE(second && *second) << describe(second);
    EXPECT_EQ(server.connections, 1);
    ASSERT_EQ(server.requests.size(), 2u);
    EXPECT_EQ(server.requests[1].target, "/b");
}

TEST_F(http_client_test, idle_connection_closed_by_the_server_is_replaced) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        // Answers as if the connection stayed open, then closes it while idle.
        co_await c.write(http_response("HTTP/1.1 200 OK", "", "one"));
        co_await c.pause(20ms);
        c.close();
    });
    ah::client client(io_.get_executor());
    const ah::url base = server.url("/");
    const ah::request r;
    std::optional<ah::result<ah::response>> first, second;
    run(io_, [&]() -> asio::awaitable<void> {
        first = co_await client.send(base, r);
        asio::steady_timer idle(io_, 100ms);
        co_await idle.async_wait(with_error);
        second = co_await client.send(base, r);
    });
    ASSERT_TRUE(first && *first) << describe(first);
    ASSERT_TRUE(second && *second) << describe(second);
    EXPECT_EQ(server.connections, 2);
    EXPECT_EQ(server.requests.size(), 2u);  // the stale connection never saw the second request
}

// The race the health check cannot see: the server drops the kept-alive connection after the
// request went out but before any answer. Nothing was answered, so the client sends it again once.
TEST_F(http_client_test, reused_connection_dropped_before_any_answer_is_retried_once) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (c.index() == 1) {
            if (const auto req = co_await c.read_request(); !req) co_return;
            if (const auto ok = co_await c.write(http_response("HTTP/1.1 200 OK", "", "one")); !ok)
                co_return;
            // The next request on this connection is read and dropped unanswered.
            if (const auto req = co_await c.read_request(); req) c.close();
            co_return;
        }
        while (const auto req = co_await c.read_request()) {
            if (const auto ok = co_await c.write(http_response("HTTP/1.1 200 OK", "", "two")); !ok)
                co_return;
        }
    });
    ah::client client(io_.get_executor());
    const ah::url base = server.url("/");
    const ah::request r;
    std::optional<ah::result<ah::response>> first, second;
    run(io_, [&]() -> asio::awaitable<void> {
        first = co_await client.send(base, r);
        second = co_await client.send(base, r);
    });
    ASSERT_TRUE(first && *first) << describe(first);
    ASSERT_TRUE(second && *second) << describe(second);
    EXPECT_EQ((*second)->body, "two");
    EXPECT_EQ(server.connections, 2);
    EXPECT_EQ(server.requests.size(), 3u);
}

TEST_F(http_client_test, reused_connection_failing_after_answer_bytes_is_an_error_not_a_retry) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        if (const auto ok = co_await c.write(http_response("HTTP/1.1 200 OK", "", "one")); !ok)
            co_return;
        if (const auto req = co_await c.read_request(); !req) co_return;
        // The server may have acted on this request: half an answer, then gone.
        co_await c.write("HTTP/1.1 200 OK\r\nContent-Le");
        c.close();
    });
    ah::client client(io_.get_executor());
    const ah::url base = server.url("/");
    ah::request r;
    r.method = "POST";
    r.body = "do it once";
    std::optional<ah::result<ah::response>> first, second;
    run(io_, [&]() -> asio::awaitable<void> {
        first = co_await client.send(base, r);
        second = co_await client.send(base, r);
    });
    ASSERT_TRUE(first && *first) << describe(first);
    EXPECT_EQ(kind_of(second), "protocol");
    EXPECT_EQ(server.connections, 1);
    EXPECT_EQ(server.requests.size(), 2u);
}

// The same race for a POST: the server may have received it, so it is not sent again, unless
// the caller says it changes nothing (a SOAP read such as EWS's GetItem).
TEST_F(http_client_test, post_dropped_before_any_answer_is_resent_only_when_repeatable) {
    const auto drop_second = [](server_connection& c) -> asio::awaitable<void> {
        if (c.index() == 1) {
            if (const auto req = co_await c.read_request(); !req) co_return;
            if (const auto ok = co_await c.write(http_response("HTTP/1.1 200 OK", "", "one")); !ok)
                co_return;
            if (const auto req = co_await c.read_request(); req) c.close();
            co_return;
        }
        while (const auto req = co_await c.read_request()) {
            if (const auto ok = co_await c.write(http_response("HTTP/1.1 200 OK", "", "two")); !ok)
                co_return;
        }
    };
    for (const bool repeatable : {false, true}) {
        test_server server(io_, drop_second);
        ah::client client(io_.get_executor());
        const ah::url base = server.url("/EWS/Exchange.asmx");
        ah::request r;
        r.method = "POST";
        r.body = "<GetItem/>";
        r.repeatable = repeatable;
        std::optional<ah::result<ah::response>> first, second;
        run(io_, [&]() -> asio::awaitable<void> {
            first = co_await client.send(base, r);
            second = co_await client.send(base, r);
        });
        ASSERT_TRUE(first && *first) << describe(first);
        if (repeatable) {
            ASSERT_TRUE(second && *second) << describe(second);
            EXPECT_EQ((*second)->body, "two");
            EXPECT_EQ(server.requests.size(), 3u);
        } else {
            EXPECT_EQ(kind_of(second), "protocol") << describe(second);
            EXPECT_EQ(server.requests.size(), 2u);  // sent once, never again
        }
        io_.restart();
    }
}

// NTLM authenticates a connection, not a request: a channel keeps its own connection for its
// own requests, apart from the shared pool.
TEST_F(http_client_test, channel_keeps_its_own_connection_apart_from_the_pool) {
    test_server server(io_, answer_all("ok"));
    ah::client client(io_.get_executor());
    const ah::url base = server.url("/EWS/Exchange.asmx");
    const ah::request r;
    ah::channel ch;
    EXPECT_FALSE(ch.is_open());
    std::optional<ah::result<ah::response>> a, b, c, d;
    bool reused_a = true, reused_b = false, reused_d = false;
    run(io_, [&]() -> asio::awaitable<void> {
        a = co_await client.send(base, r, ch);
        reused_a = ch.reused();
        c = co_await client.send(base, r);  // the pool: a connection of its own
        b = co_await client.send(base, r, ch);
        reused_b = ch.reused();
        d = co_await client.send(base, r);  // the pool's connection again, not the channel's
        reused_d = ch.reused();
    });
    ASSERT_TRUE(a && *a && b && *b && c && *c && d && *d);
    EXPECT_FALSE(reused_a);
    EXPECT_TRUE(reused_b);
    EXPECT_TRUE(reused_d);  // unchanged by pool sends
    EXPECT_TRUE(ch.is_open());
    EXPECT_EQ(server.connections, 2);
    EXPECT_EQ(server.requests.size(), 4u);
    ch.close();
    EXPECT_FALSE(ch.is_open());
}

TEST_F(http_client_test, channel_whose_connection_the_server_closed_opens_a_new_one) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        co_await c.write(http_response("HTTP/1.1 200 OK", "", "one"));
        co_await c.pause(20ms);
        c.close();
    });
    ah::client client(io_.get_executor());
    const ah::url base = server.url("/");
    const ah::request r;
    ah::channel ch;
    std::optional<ah::result<ah::response>> first, second;
    bool reused = true;
    run(io_, [&]() -> asio::awaitable<void> {
        first = co_await client.send(base, r, ch);
        asio::steady_timer idle(io_, 100ms);
        co_await idle.async_wait(with_error);
        second = co_await client.send(base, r, ch);
        reused = ch.reused();
    });
    ASSERT_TRUE(first && *first) << describe(first);
    ASSERT_TRUE(second && *second) << describe(second);
    EXPECT_FALSE(reused);  // a login bound to the old connection is gone
    EXPECT_EQ(server.connections, 2);
}

// EWS GetStreamingEvents: an answer that lasts, handed over piece by piece as it arrives.
TEST_F(http_client_test, stream_hands_over_the_body_as_it_arrives) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        co_await c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        co_await c.pause(300ms);
        co_await c.write("5\r\nworld\r\n0\r\n\r\n");
    });
    ah::client client(io_.get_executor());
    const ah::url base = server.url("/EWS/Exchange.asmx");
    ah::request r;
    r.method = "POST";
    ah::channel ch;
    std::vector<std::pair<std::string, steady::duration>> pieces;
    std::optional<ah::result<ah::response>> got;
    run(io_, [&]() -> asio::awaitable<void> {
        const auto start = steady::now();
        const std::function<bool(std::string_view)> on_body = [&](std::string_view piece) {
            pieces.emplace_back(std::string(piece), steady::now() - start);
            return true;
        };
        got = co_await client.stream(base, r, ch, on_body, 2000ms);
    });
    ASSERT_TRUE(got && *got) << describe(got);
    EXPECT_EQ((*got)->status, 200);
    EXPECT_TRUE((*got)->body.empty());
    ASSERT_EQ(pieces.size(), 2u);
    EXPECT_EQ(pieces[0].first, "hello");
    EXPECT_LT(pieces[0].second, 250ms) << "the first piece before the answer ends";
    EXPECT_EQ(pieces[1].first, "world");
    EXPECT_GE(pieces[1].second, 250ms);
}

TEST_F(http_client_test, stream_silent_for_longer_than_the_idle_timeout_times_out) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        co_await c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
        co_await c.pause(3s);
    });
    ah::client client(io_.get_executor());
    const ah::url base = server.url("/");
    ah::request r;
    ah::channel ch;
    std::string received;
    std::optional<ah::result<ah::response>> got;
    steady::duration took{};
    run(io_, [&]() -> asio::awaitable<void> {
        const auto start = steady::now();
        const std::function<bool(std::string_view)> on_body = [&](std::string_view piece) {
            received += piece;
            return true;
        };
        got = co_await client.stream(base, r, ch, on_body, 300ms);
        took = steady::now() - start;
    });
    EXPECT_EQ(received, "hello");
    EXPECT_EQ(kind_of(got), "timeout") << describe(got);
    EXPECT_LT(took, 2s);
}

TEST_F(http_client_test, redirect_is_returned_not_followed) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        while (const auto req = co_await c.read_request()) {
            co_await c.write(http_response("HTTP/1.1 301 Moved Permanently",
                                           "Location: https://elsewhere.example/dav/\r\n", ""));
        }
    });
    ah::client client(io_.get_executor());
    const auto got = send_once(client, server.url("/dav/"), ah::request{});
    ASSERT_TRUE(got.result && *got.result) << describe(got.result);
    EXPECT_EQ((*got.result)->status, 301);
    EXPECT_EQ((*got.result)->find("location"), "https://elsewhere.example/dav/");
    EXPECT_EQ(server.requests.size(), 1u);
}

TEST_F(http_client_test, interim_100_continue_is_skipped) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        while (const auto req = co_await c.read_request()) {
            co_await c.write("HTTP/1.1 100 Continue\r\n\r\n" +
                             http_response("HTTP/1.1 204 No Content", "", ""));
        }
    });
    ah::client client(io_.get_executor());
    ah::request r;
    r.method = "DELETE";
    const auto got = send_once(client, server.url("/dav/cal/x.ics"), r);
    ASSERT_TRUE(got.result && *got.result) << describe(got.result);
    EXPECT_EQ((*got.result)->status, 204);
}

TEST_F(http_client_test, header_with_line_break_is_refused_before_sending) {
    test_server server(io_, answer_all("never"));
    ah::client client(io_.get_executor());
    ah::request r;
    r.headers = {{"X-Injected", "a\r\nAuthorization: Basic c2VjcmV0"}};
    const auto got = send_once(client, server.url("/"), r);
    EXPECT_EQ(kind_of(got.result), "protocol");
    EXPECT_EQ((*got.result).error().message.find("c2VjcmV0"), std::string::npos);
    EXPECT_EQ(server.connections, 0);
}

TEST_F(http_client_test, concurrent_requests_use_separate_connections_then_reuse_them) {
    test_server server(io_, answer_all("shared"));
    ah::client client(io_.get_executor());
    const ah::url base = server.url("/");
    const ah::request r;
    std::optional<ah::result<ah::response>> a, b, c;
    run(io_, [&]() -> asio::awaitable<void> {
        // Two sends in flight at once, then a third after both finished.
        int pending = 2;
        asio::steady_timer both_done(io_, steady::time_point::max());
        const auto one =
            [&](std::optional<ah::result<ah::response>>& out) -> asio::awaitable<void> {
            out = co_await client.send(base, r);
            if (--pending == 0) both_done.cancel();
        };
        asio::co_spawn(io_, one(a), rethrow);
        asio::co_spawn(io_, one(b), rethrow);
        co_await both_done.async_wait(with_error);
        c = co_await client.send(base, r);
    });
    ASSERT_TRUE(a && *a) << describe(a);
    ASSERT_TRUE(b && *b) << describe(b);
    ASSERT_TRUE(c && *c) << describe(c);
    EXPECT_EQ(server.connections, 2);
    EXPECT_EQ(server.requests.size(), 3u);
}

// A CalDAV source's client limits the requests that open a connection to one server at once (a
// small server's accept queue drops connections beyond it); the others wait their turn, and the
// wait does not count against their request timeout. Requests over kept-alive connections do not
// wait.
TEST_F(http_client_test, new_connections_beyond_the_limit_per_origin_wait_their_turn) {
    int now = 0;
    int most = 0;
    test_server server(io_, [&](server_connection& c) -> asio::awaitable<void> {
        for (;;) {
            const auto req = co_await c.read_request();
            if (!req) co_return;
            most = std::max(most, ++now);
            asio::steady_timer work(io_, 150ms);
            co_await work.async_wait(with_error);
            --now;
            const auto ok = co_await c.write(http_response("HTTP/1.1 200 OK", "", "done"));
            if (!ok) co_return;
        }
    });
    ah::limits lim;
    lim.max_new_connections_per_origin = 2;
    lim.request_timeout = 400ms;  // six answers of 150 ms, two at a time, take 450 ms
    ah::client client(io_.get_executor(), {}, lim);
    const ah::url base = server.url("/");
    const ah::request r;
    const auto all_at_once = [&](std::vector<std::optional<ah::result<ah::response>>>& results) {
        run(io_, [&]() -> asio::awaitable<void> {
            int pending = static_cast<int>(results.size());
            asio::steady_timer all_done(io_, steady::time_point::max());
            const auto one =
                [&](std::optional<ah::result<ah::response>>& out) -> asio::awaitable<void> {
                out = co_await client.send(base, r);
                if (--pending == 0) all_done.cancel();
            };
            for (auto& out : results) asio::co_spawn(io_, one(out), rethrow);
            co_await all_done.async_wait(with_error);
        });
        io_.restart();
    };
    // Six at once, none connected yet: two at a time, and the later ones take the connections
    // the first ones left.
    std::vector<std::optional<ah::result<ah::response>>> first(6);
    all_at_once(first);
    for (const auto& result : first) EXPECT_TRUE(result && *result) << describe(result);
    EXPECT_EQ(most, 2);
    EXPECT_EQ(server.requests.size(), first.size());
    EXPECT_EQ(server.connections, 2);

    // Four at once: two over the kept-alive connections without waiting, two on new ones.
    most = 0;
    std::vector<std::optional<ah::result<ah::response>>> second(4);
    all_at_once(second);
    for (const auto& result : second) EXPECT_TRUE(result && *result) << describe(result);
    EXPECT_EQ(most, 4);
    EXPECT_EQ(server.connections, 4);
}

TEST_F(http_client_test, head_response_has_no_body_and_keeps_the_connection) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        while (const auto req = co_await c.read_request()) {
            // The length of the GET answer, without the body.
            co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
        }
    });
    // The declared 100 bytes are over the limit, but a HEAD answer carries none of them.
    ah::client client(io_.get_executor(), {}, ah::limits{64, 1s, 5s});
    const ah::url base = server.url("/");
    ah::request r;
    r.method = "HEAD";
    std::optional<ah::result<ah::response>> first, second;
    run(io_, [&]() -> asio::awaitable<void> {
        first = co_await client.send(base, r);
        second = co_await client.send(base, r);
    });
    ASSERT_TRUE(first && *first) << describe(first);
    ASSERT_TRUE(second && *second) << describe(second);
    EXPECT_EQ((*first)->find("content-length"), "100");
    EXPECT_EQ((*first)->body, "");
    EXPECT_EQ(server.connections, 1);
}

// ---------------------------------------------------------------------------------------------
// TLS

TEST_F(http_client_test, tls_with_trusted_ca_file_works_and_reuses_the_connection) {
    const auto server_tls = server_context(trusted_ca().issue({}, {"127.0.0.1"}));
    test_server server(io_, answer_all("secure"), server_tls.get());
    ah::client client(io_.get_executor(), trusting());
    const ah::url base = server.url("/dav/");
    const ah::request r;
    std::optional<ah::result<ah::response>> first, second;
    run(io_, [&]() -> asio::awaitable<void> {
        first = co_await client.send(base, r);
        second = co_await client.send(base, r);
    });
    ASSERT_TRUE(first && *first) << describe(first);
    ASSERT_TRUE(second && *second) << describe(second);
    EXPECT_EQ((*first)->body, "secure");
    EXPECT_EQ(server.connections, 1);
    ASSERT_EQ(server.sni.size(), 1u);
    EXPECT_EQ(server.sni[0], "");  // no SNI for an IP address (RFC 6066)
    ASSERT_EQ(server.requests.size(), 2u);
    EXPECT_EQ(server.requests[0].header("Host"), "127.0.0.1:" + server.port());
}

TEST_F(http_client_test, tls_to_a_host_name_sends_sni_and_checks_the_name) {
    const auto server_tls = server_context(trusted_ca().issue({"localhost"}, {}));
    test_server server(io_, answer_all("by name"), server_tls.get());
    ah::client client(io_.get_executor(), trusting());
    const auto got =
        send_once(client, *ah::url::parse("https://localhost:" + server.port() + "/"), {});
    ASSERT_TRUE(got.result && *got.result) << describe(got.result);
    EXPECT_EQ((*got.result)->body, "by name");
    ASSERT_EQ(server.sni.size(), 1u);
    EXPECT_EQ(server.sni[0], "localhost");
    ASSERT_EQ(server.requests.size(), 1u);
    EXPECT_EQ(server.requests[0].header("Host"), "localhost:" + server.port());
}

TEST_F(http_client_test, tls_certificate_from_an_untrusted_ca_is_refused) {
    const test_ca stranger("agendad untrusted test CA");
    const auto server_tls = server_context(stranger.issue({}, {"127.0.0.1"}));
    test_server server(io_, answer_all("no"), server_tls.get());
    ah::client client(io_.get_executor(), trusting());
    const auto got = send_once(client, server.url("/"), {});
    ASSERT_EQ(kind_of(got.result), "tls");
    EXPECT_EQ((*got.result).error().message,
              "TLS handshake with 127.0.0.1:" + server.port() +
                  ": certificate rejected: unable to get local issuer certificate");
    EXPECT_TRUE(server.requests.empty());
}

TEST_F(http_client_test, tls_certificate_for_another_name_is_refused) {
    const auto server_tls = server_context(trusted_ca().issue({"other.example"}, {}));
    test_server server(io_, answer_all("no"), server_tls.get());
    ah::client client(io_.get_executor(), trusting());
    const auto got = send_once(client, server.url("/"), {});
    ASSERT_EQ(kind_of(got.result), "tls");
    EXPECT_NE((*got.result).error().message.find("mismatch"), std::string::npos)
        << (*got.result).error().message;
    EXPECT_TRUE(server.requests.empty());
}

TEST_F(http_client_test, tls_expired_certificate_is_refused) {
    const auto server_tls = server_context(trusted_ca().issue({}, {"127.0.0.1"}, -30, -1));
    test_server server(io_, answer_all("no"), server_tls.get());
    ah::client client(io_.get_executor(), trusting());
    const auto got = send_once(client, server.url("/"), {});
    ASSERT_EQ(kind_of(got.result), "tls");
    EXPECT_NE((*got.result).error().message.find("expired"), std::string::npos)
        << (*got.result).error().message;
}

// TLS 1.2 is the least agendad speaks: a server that offers only TLS 1.1 (allowed here by security
// level 0 on the server, as an old appliance might be configured) is refused at the handshake,
// before a byte of the request or its credentials leaves.
TEST_F(http_client_test, tls_server_offering_only_tls_1_1_is_refused) {
    auto server_tls = server_context(trusted_ca().issue({}, {"127.0.0.1"}));
    SSL_CTX_set_security_level(server_tls->native_handle(), 0);
    ASSERT_EQ(SSL_CTX_set_min_proto_version(server_tls->native_handle(), TLS1_VERSION), 1);
    ASSERT_EQ(SSL_CTX_set_max_proto_version(server_tls->native_handle(), TLS1_1_VERSION), 1);
    test_server server(io_, answer_all("old"), server_tls.get());
    ah::client client(io_.get_executor(), trusting());
    ah::request r;
    r.headers.push_back({"Authorization", "Basic c2VjcmV0OnNlY3JldA=="});
    const auto got = send_once(client, server.url("/"), r);
    ASSERT_EQ(kind_of(got.result), "tls");
    const std::string& message = (*got.result).error().message;
    EXPECT_EQ(message.rfind("TLS handshake with 127.0.0.1:" + server.port(), 0), 0u) << message;
    EXPECT_TRUE(server.requests.empty());
}

TEST_F(http_client_test, tls_without_verification_accepts_any_certificate) {
    const test_ca stranger("agendad untrusted test CA");
    const auto server_tls = server_context(stranger.issue({"other.example"}, {}));
    test_server server(io_, answer_all("unverified"), server_tls.get());
    ah::client client(io_.get_executor(), ah::tls_options{false, {}});
    const auto got = send_once(client, server.url("/"), {});
    ASSERT_TRUE(got.result && *got.result) << describe(got.result);
    EXPECT_EQ((*got.result)->body, "unverified");
}

TEST_F(http_client_test, tls_with_a_missing_ca_file_fails_every_https_request) {
    const auto server_tls = server_context(trusted_ca().issue({}, {"127.0.0.1"}));
    test_server server(io_, answer_all("no"), server_tls.get());
    ah::client client(io_.get_executor(), ah::tls_options{true, dir_ / "missing.pem"});
    const auto got = send_once(client, server.url("/"), {});
    ASSERT_EQ(kind_of(got.result), "tls");
    EXPECT_NE((*got.result).error().message.find("missing.pem"), std::string::npos);
    EXPECT_EQ(server.connections, 0);
}

TEST_F(http_client_test, tls_to_a_plain_http_server_fails_the_handshake) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        co_await c.read_request();  // a ClientHello is not HTTP
        co_await c.write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        c.close();
    });
    ah::client client(io_.get_executor(), trusting());
    const auto got =
        send_once(client, *ah::url::parse("https://127.0.0.1:" + server.port() + "/"), {});
    EXPECT_EQ(kind_of(got.result), "tls");
}

TEST_F(http_client_test, tls_handshake_that_never_completes_times_out) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        co_await c.pause(5s);  // accepts, never speaks TLS
    });
    ah::client client(io_.get_executor(), trusting(), ah::limits{1 << 20, 300ms, 5s});
    const auto got =
        send_once(client, *ah::url::parse("https://127.0.0.1:" + server.port() + "/"), {});
    EXPECT_EQ(kind_of(got.result), "timeout");
    EXPECT_LT(got.elapsed, 2s);
    EXPECT_GE(got.elapsed, 250ms);
}

TEST_F(http_client_test, tls_server_that_never_answers_times_out) {
    const auto server_tls = server_context(trusted_ca().issue({}, {"127.0.0.1"}));
    test_server server(
        io_,
        [](server_connection& c) -> asio::awaitable<void> {
            if (const auto req = co_await c.read_request(); !req) co_return;
            co_await c.pause(5s);
        },
        server_tls.get());
    ah::client client(io_.get_executor(), trusting(), ah::limits{1 << 20, 1s, 300ms});
    const auto got = send_once(client, server.url("/"), {});
    EXPECT_EQ(kind_of(got.result), "timeout");
    EXPECT_EQ(server.requests.size(), 1u);
    EXPECT_LT(got.elapsed, 2s);
}

// ---------------------------------------------------------------------------------------------
// Limits and failures

TEST_F(http_client_test, headers_over_the_limit_are_too_large) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        co_await c.write(http_response("HTTP/1.1 200 OK",
                                       "X-Padding: " + std::string(8192, 'p') + "\r\n", "small"));
    });
    ah::client client(io_.get_executor(), {}, ah::limits{4096, 1s, 5s});
    const auto got = send_once(client, server.url("/"), {});
    EXPECT_EQ(kind_of(got.result), "too_large");
}

TEST_F(http_client_test, declared_body_over_the_limit_is_refused_without_reading_it) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\nxxxx");
        co_await c.pause(5s);  // the rest never comes: only the declared length can tell
    });
    ah::client client(io_.get_executor(), {}, ah::limits{64 * 1024, 1s, 5s});
    const auto got = send_once(client, server.url("/"), {});
    EXPECT_EQ(kind_of(got.result), "too_large");
    EXPECT_LT(got.elapsed, 1s);
}

TEST_F(http_client_test, headers_and_body_together_count_against_the_limit) {
    // About 40 bytes of header: a 980-byte body fits 1000 bytes alone, not with its header.
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        while (auto req = co_await c.read_request()) {
            const std::size_t size = req->target == "/big" ? 980 : 900;
            co_await c.write(http_response("HTTP/1.1 200 OK", "", std::string(size, 'b')));
        }
    });
    ah::client client(io_.get_executor(), {}, ah::limits{1000, 1s, 5s});
    const ah::url fits = server.url("/fits");
    const ah::url big = server.url("/big");
    const ah::request r;
    std::optional<ah::result<ah::response>> small_one, big_one;
    run(io_, [&]() -> asio::awaitable<void> {
        small_one = co_await client.send(fits, r);
        big_one = co_await client.send(big, r);
    });
    ASSERT_TRUE(small_one && *small_one) << describe(small_one);
    EXPECT_EQ((*small_one)->body.size(), 900u);
    EXPECT_EQ(kind_of(big_one), "too_large");
}

TEST_F(http_client_test, endless_chunked_body_stops_at_the_limit) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        if (const auto ok =
                co_await c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            !ok)
            co_return;
        const std::string chunk = "400\r\n" + std::string(1024, 'c') + "\r\n";
        for (;;) {
            const bool sent = co_await c.write(chunk);
            if (!sent) break;
        }
    });
    ah::client client(io_.get_executor(), {}, ah::limits{64 * 1024, 1s, 5s});
    const auto got = send_once(client, server.url("/"), {});
    EXPECT_EQ(kind_of(got.result), "too_large");
    EXPECT_LT(got.elapsed, 2s);
}

TEST_F(http_client_test, server_that_never_answers_times_out) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        co_await c.pause(5s);
    });
    ah::client client(io_.get_executor(), {}, ah::limits{1 << 20, 1s, 300ms});
    const auto got = send_once(client, server.url("/"), {});
    ASSERT_EQ(kind_of(got.result), "timeout");
    EXPECT_NE((*got.result).error().message.find("127.0.0.1:" + server.port()), std::string::npos);
    EXPECT_GE(got.elapsed, 250ms);
    EXPECT_LT(got.elapsed, 2s);
}

// Every byte arrives within any per-read limit; only a bound on the whole exchange stops this.
TEST_F(http_client_test, server_answering_byte_by_byte_past_the_limit_times_out) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        co_await c.trickle(http_response("HTTP/1.1 200 OK", "", std::string(100, 's')), 40ms);
    });
    ah::client client(io_.get_executor(), {}, ah::limits{1 << 20, 1s, 300ms});
    const auto got = send_once(client, server.url("/"), {});
    EXPECT_EQ(kind_of(got.result), "timeout");
    EXPECT_GE(got.elapsed, 250ms);
    EXPECT_LT(got.elapsed, 2s);
}

TEST_F(http_client_test, refused_connection_names_host_and_step_but_not_credentials) {
    std::string port;
    {
        tcp::acceptor closed(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        port = std::to_string(closed.local_endpoint().port());
    }
    ah::client client(io_.get_executor());
    ah::request r;
    r.headers = {{"Authorization", ah::basic_authorization("anna", "s3cret")}};
    const auto got = send_once(client, *ah::url::parse("http://127.0.0.1:" + port + "/"), r);
    ASSERT_EQ(kind_of(got.result), "connect");
    EXPECT_EQ((*got.result).error().message,
              "connecting to 127.0.0.1:" + port + ": connection refused");
}

TEST_F(http_client_test, reset_in_the_middle_of_the_body_is_a_protocol_error) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        co_await c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..");
        co_await c.pause(50ms);
        c.reset();
    });
    ah::client client(io_.get_executor());
    const auto got = send_once(client, server.url("/"), {});
    ASSERT_EQ(kind_of(got.result), "protocol");
    EXPECT_NE((*got.result).error().message.find("reading the response from 127.0.0.1:"),
              std::string::npos)
        << (*got.result).error().message;
}

TEST_F(http_client_test, garbage_instead_of_http_is_a_protocol_error) {
    test_server server(io_, [](server_connection& c) -> asio::awaitable<void> {
        if (const auto req = co_await c.read_request(); !req) co_return;
        co_await c.write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
        c.close();
    });
    ah::client client(io_.get_executor());
    const auto got = send_once(client, server.url("/"), {});
    EXPECT_EQ(kind_of(got.result), "protocol");
    EXPECT_EQ(server.connections, 1);
}

TEST_F(http_client_test, unresolvable_host_fails_within_the_connect_timeout) {
    ah::client client(io_.get_executor(), {}, ah::limits{1 << 20, 1s, 5s});
    const auto got = send_once(client, *ah::url::parse("http://does-not-exist.invalid:8080/"), {});
    const std::string kind = kind_of(got.result);
    EXPECT_TRUE(kind == "resolve" || kind == "connect") << describe(got.result);
    if (got.result && !*got.result) {
        EXPECT_NE((*got.result).error().message.find("does-not-exist.invalid:8080"),
                  std::string::npos);
    }
    EXPECT_LT(got.elapsed, 1500ms);
}

// ---------------------------------------------------------------------------------------------
// Pure functions

TEST(retry_after, seconds_and_http_dates) {
    const auto now = std::chrono::sys_days{std::chrono::year{1994} / 11 / 6} + 8h + 49min;
    EXPECT_EQ(ah::parse_retry_after("7", now), 7s);
    EXPECT_EQ(ah::parse_retry_after(" 120 ", now), 120s);
    EXPECT_EQ(ah::parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 37s);
    EXPECT_EQ(ah::parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), 0s);  // past
    EXPECT_EQ(ah::parse_retry_after("Mon, 07 Nov 1994 08:49:00 GMT", now), 86400s);
    EXPECT_FALSE(ah::parse_retry_after("", now));
    EXPECT_FALSE(ah::parse_retry_after("soon", now));
    EXPECT_FALSE(ah::parse_retry_after("-5", now));
    EXPECT_FALSE(ah::parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now));
    EXPECT_FALSE(ah::parse_retry_after("Sun, 31 Feb 1994 08:49:37 GMT", now));
}

TEST(basic_authorization, encodes_user_colon_password_in_base64) {
    EXPECT_EQ(ah::basic_authorization("user", "pass"), "Basic dXNlcjpwYXNz");
    EXPECT_EQ(ah::basic_authorization("Aladdin", "open sesame"),
              "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    EXPECT_EQ(ah::basic_authorization("", ""), "Basic Og==");
    EXPECT_EQ(ah::basic_authorization("anna", "pa:ss"), "Basic YW5uYTpwYTpzcw==");
}

TEST(response, find_is_case_insensitive_and_returns_the_first) {
    ah::response r;
    r.headers = {{"DAV", "1, 2"}, {"Set-Cookie", "a=1"}, {"set-cookie", "b=2"}};
    EXPECT_EQ(r.find("dav"), "1, 2");
    EXPECT_EQ(r.find("SET-COOKIE"), "a=1");
    EXPECT_EQ(r.find("ETag"), std::nullopt);
}

struct parse_row {
    const char* name;
    const char* text;
    bool ok;
    const char* scheme = "";
    const char* host = "";
    const char* port = "";
    const char* target = "";
};

class url_parse : public ::testing::TestWithParam<parse_row> {};

TEST_P(url_parse, splits_or_rejects) {
    const parse_row& row = GetParam();
    const auto u = ah::url::parse(row.text);
    ASSERT_EQ(u.has_value(), row.ok) << row.text;
    if (!u) return;
    EXPECT_EQ(u->scheme, row.scheme);
    EXPECT_EQ(u->host, row.host);
    EXPECT_EQ(u->port, row.port);
    EXPECT_EQ(u->target, row.target);
}

INSTANTIATE_TEST_SUITE_P(
    rows, url_parse,
    ::testing::Values(parse_row{"https_with_port", "https://cal.example.com:8443/dav/calendars/",
                                true, "https", "cal.example.com", "8443", "/dav/calendars/"},
                      parse_row{"http_default_port_empty_path", "http://example.com", true, "http",
                                "example.com", "80", "/"},
                      parse_row{"https_default_port", "https://example.com/", true, "https",
                                "example.com", "443", "/"},
                      parse_row{"empty_port_is_default", "https://example.com:/x", true, "https",
                                "example.com", "443", "/x"},
                      parse_row{"scheme_and_host_lowercased", "HTTPS://Cal.Example.COM/Dav/", true,
                                "https", "cal.example.com", "443", "/Dav/"},
                      parse_row{"ipv6_literal", "http://[::1]:8080/x?y=1#frag", true, "http", "::1",
                                "8080", "/x?y=1"},
                      parse_row{"ipv6_default_port", "https://[2001:DB8::1]/", true, "https",
                                "2001:db8::1", "443", "/"},
                      parse_row{"ipv4", "http://127.0.0.1:5232/anna/", true, "http", "127.0.0.1",
                                "5232", "/anna/"},
                      parse_row{"query_without_path", "http://h?q=1", true, "http", "h", "80",
                                "/?q=1"},
                      parse_row{"fragment_dropped", "http://h/p#f", true, "http", "h", "80", "/p"},
                      parse_row{"percent_escapes_kept", "http://h/a%20b/%C3%A9", true, "http", "h",
                                "80", "/a%20b/%C3%A9"},
                      parse_row{"leading_zero_port_normalised", "http://h:08080/", true, "http",
                                "h", "8080", "/"},
                      parse_row{"empty", "", false}, parse_row{"ftp", "ftp://example.com/", false},
                      parse_row{"mailto", "mailto:anna@example.com", false},
                      parse_row{"no_scheme", "example.com/dav", false},
                      parse_row{"scheme_relative", "//example.com/dav", false},
                      parse_row{"single_slash", "http:/example.com/", false},
                      parse_row{"empty_host", "http:///x", false},
                      parse_row{"only_scheme", "http://", false},
                      parse_row{"userinfo", "https://anna:secret@example.com/", false},
                      parse_row{"user_only", "https://anna@example.com/", false},
                      parse_row{"port_zero", "http://h:0/", false},
                      parse_row{"port_too_big", "http://h:65536/", false},
                      parse_row{"port_not_digits", "http://h:80a/", false},
                      parse_row{"port_negative", "http://h:-1/", false},
                      parse_row{"ipv6_unclosed", "http://[::1/", false},
                      parse_row{"ipv6_without_brackets", "http://::1/", false},
                      parse_row{"ipv6_invalid", "http://[::g]/", false},
                      parse_row{"ipv6_zone", "http://[fe80::1%25eth0]/", false},
                      parse_row{"ipv6_junk_after", "http://[::1]x/", false},
                      parse_row{"space_in_host", "http://exa mple.com/", false},
                      parse_row{"space_in_path", "http://h/a b", false},
                      parse_row{"line_break_in_path", "http://h/a\r\nX: y", false},
                      parse_row{"bad_escape", "http://h/a%zz", false},
                      parse_row{"percent_in_host", "http://exa%41mple.com/", false}),
    [](const ::testing::TestParamInfo<parse_row>& row) { return std::string(row.param.name); });

struct resolve_row {
    const char* name;
    const char* href;
    const char* expected;  // origin and target; "" when the href must be refused
};

class url_resolve : public ::testing::TestWithParam<resolve_row> {};

TEST_P(url_resolve, follows_rfc3986) {
    const resolve_row& row = GetParam();
    const auto base = ah::url::parse("http://a/b/c/d;p?q");
    ASSERT_TRUE(base);
    const auto u = base->resolve(row.href);
    if (std::string_view(row.expected).empty()) {
        EXPECT_FALSE(u) << row.href << " gave " << (u ? u->origin() + u->target : "");
        return;
    }
    ASSERT_TRUE(u) << row.href;
    EXPECT_EQ(u->origin() + u->target, row.expected) << row.href;
}

// RFC 3986 sections 5.4.1 and 5.4.2, plus what CalDAV servers send.
INSTANTIATE_TEST_SUITE_P(
    rows, url_resolve,
    ::testing::Values(
        resolve_row{"g", "g", "http://a/b/c/g"}, resolve_row{"dot_g", "./g", "http://a/b/c/g"},
        resolve_row{"g_slash", "g/", "http://a/b/c/g/"},
        resolve_row{"absolute_path", "/g", "http://a/g"},
        resolve_row{"network_path", "//g", "http://g/"},
        resolve_row{"query_only", "?y", "http://a/b/c/d;p?y"},
        resolve_row{"g_query", "g?y", "http://a/b/c/g?y"},
        resolve_row{"fragment_only", "#s", "http://a/b/c/d;p?q"},
        resolve_row{"g_fragment", "g#s", "http://a/b/c/g"},
        resolve_row{"g_query_fragment", "g?y#s", "http://a/b/c/g?y"},
        resolve_row{"params_only", ";x", "http://a/b/c/;x"},
        resolve_row{"g_params", "g;x", "http://a/b/c/g;x"},
        resolve_row{"g_params_query_fragment", "g;x?y#s", "http://a/b/c/g;x?y"},
        resolve_row{"empty", "", "http://a/b/c/d;p?q"}, resolve_row{"dot", ".", "http://a/b/c/"},
        resolve_row{"dot_slash", "./", "http://a/b/c/"}, resolve_row{"dotdot", "..", "http://a/b/"},
        resolve_row{"dotdot_slash", "../", "http://a/b/"},
        resolve_row{"dotdot_g", "../g", "http://a/b/g"},
        resolve_row{"dotdot_dotdot", "../..", "http://a/"},
        resolve_row{"dotdot_dotdot_slash", "../../", "http://a/"},
        resolve_row{"dotdot_dotdot_g", "../../g", "http://a/g"},
        resolve_row{"above_root", "../../../g", "http://a/g"},
        resolve_row{"far_above_root", "../../../../g", "http://a/g"},
        resolve_row{"absolute_dot", "/./g", "http://a/g"},
        resolve_row{"absolute_dotdot", "/../g", "http://a/g"},
        resolve_row{"g_dot", "g.", "http://a/b/c/g."},
        resolve_row{"dot_g_name", ".g", "http://a/b/c/.g"},
        resolve_row{"g_dotdot", "g..", "http://a/b/c/g.."},
        resolve_row{"dotdot_g_name", "..g", "http://a/b/c/..g"},
        resolve_row{"dot_dotdot_g", "./../g", "http://a/b/g"},
        resolve_row{"dot_g_dot", "./g/.", "http://a/b/c/g/"},
        resolve_row{"g_dot_h", "g/./h", "http://a/b/c/g/h"},
        resolve_row{"g_dotdot_h", "g/../h", "http://a/b/c/h"},
        resolve_row{"params_dot", "g;x=1/./y", "http://a/b/c/g;x=1/y"},
        resolve_row{"params_dotdot", "g;x=1/../y", "http://a/b/c/y"},
        resolve_row{"dots_in_query_kept", "g?y/./x", "http://a/b/c/g?y/./x"},
        resolve_row{"dotdot_in_query_kept", "g?y/../x", "http://a/b/c/g?y/../x"},
        resolve_row{"dots_in_fragment_dropped", "g#s/./x", "http://a/b/c/g"},
        resolve_row{"other_origin", "https://other/x", "https://other/x"},
        resolve_row{"other_origin_port", "https://other:8443/x?y", "https://other:8443/x?y"},
        resolve_row{"caldav_href", "/dav/calendars/anna/event%201.ics",
                    "http://a/dav/calendars/anna/event%201.ics"},
        resolve_row{"other_scheme", "g:h", ""},
        resolve_row{"mailto", "mailto:anna@example.com", ""},
        resolve_row{"userinfo", "https://anna:pw@other/x", ""}, resolve_row{"space", "a b", ""}),
    [](const ::testing::TestParamInfo<resolve_row>& row) { return std::string(row.param.name); });

struct loopback_row {
    const char* name;
    const char* text;
    bool loopback;
};

class url_is_loopback : public ::testing::TestWithParam<loopback_row> {};

TEST_P(url_is_loopback, knows_loopback_hosts) {
    const auto u = ah::url::parse(GetParam().text);
    ASSERT_TRUE(u) << GetParam().text;
    EXPECT_EQ(u->is_loopback(), GetParam().loopback) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    rows, url_is_loopback,
    ::testing::Values(loopback_row{"ipv4_loopback", "http://127.0.0.1:5232/", true},
                      loopback_row{"ipv4_loopback_net", "http://127.255.0.9/", true},
                      loopback_row{"ipv6_loopback", "http://[::1]:8080/", true},
                      loopback_row{"localhost", "http://localhost/", true},
                      loopback_row{"localhost_upper", "http://LOCALHOST:1/", true},
                      loopback_row{"v4_mapped_loopback", "http://[::ffff:127.0.0.1]/", true},
                      loopback_row{"ipv4_just_outside", "http://128.0.0.1/", false},
                      loopback_row{"private_network", "http://10.0.0.1/", false},
                      loopback_row{"unspecified", "http://0.0.0.0/", false},
                      loopback_row{"ipv6_other", "http://[::2]/", false},
                      loopback_row{"v4_mapped_other", "http://[::ffff:10.0.0.1]/", false},
                      loopback_row{"localhost_prefix", "http://localhost.example.com/", false},
                      loopback_row{"name", "https://cal.example.com/", false}),
    [](const ::testing::TestParamInfo<loopback_row>& row) { return std::string(row.param.name); });

TEST(url, origin_keeps_non_default_ports_and_brackets) {
    EXPECT_EQ(ah::url::parse("https://cal.example.com:8443/dav/")->origin(),
              "https://cal.example.com:8443");
    EXPECT_EQ(ah::url::parse("https://cal.example.com/dav/")->origin(), "https://cal.example.com");
    EXPECT_EQ(ah::url::parse("http://h:80/")->origin(), "http://h");
    EXPECT_EQ(ah::url::parse("http://h:443/")->origin(), "http://h:443");
    EXPECT_EQ(ah::url::parse("http://[::1]:8080/x")->origin(), "http://[::1]:8080");
}

}  // namespace
