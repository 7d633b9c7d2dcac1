// The daemon's small HTTP/1.1 server (see http_listener.h). With the status listener's
// metrics and journal reads and the Graph notification endpoint built on it, this is the daemon's
// one server core.
#include "daemon/http_listener.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>

#include "daemon/log.h"

namespace agendad::daemon {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// Scrapers and curl reuse a connection for a handful of requests; past this one client has had
// its share and reconnects.
constexpr int max_requests_per_connection = 32;
// Each connection is a file descriptor: enough for Prometheus, a few admins, a load balancer and
// Microsoft's notification senders.
constexpr std::size_t max_connections = 64;
// Draining a closing connection: long enough for a client still sending to finish, short and
// small enough that it cannot hold the socket.
constexpr std::chrono::milliseconds max_linger = 1s;
constexpr std::size_t max_linger_bytes = 1 << 20;

using start_result = boost::system::result<void, std::string>;

start_result fail(std::string message) {
    return start_result(boost::system::in_place_error, std::move(message));
}

struct connection {
    explicit connection(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    std::uint64_t id = 0;
};

}  // namespace

struct http_listener::state : std::enable_shared_from_this<http_listener::state> {
    state(asio::any_io_executor ex, listener_options opts, handler h)
        : executor(std::move(ex)),
          options(std::move(opts)),
          handle(std::move(h)),
          acceptor(executor) {}

    asio::any_io_executor executor;
    listener_options options;
    handler handle;
    tcp::acceptor acceptor;
    // Set by stop(): coroutines resuming afterwards must not call the handler, whose state may
    // be gone by then.
    bool stopped = false;
    unsigned short port = 0;
    std::uint64_t next_id = 0;
    // Open connections, for stop(); each is owned by its coroutine's completion handler.
    std::map<std::uint64_t, connection*> connections;
};

namespace {

using state = http_listener::state;

asio::awaitable<beast::error_code> send(const state& s, connection& c, const http_reply& r,
                                        unsigned version, bool keep_alive, bool head) {
    http::response<http::string_body> res{r.status, version};
    res.set(http::field::server, "agendad");
    res.set(http::field::content_type, r.content_type);
    // Health, metrics and the journal are live answers: a proxy must not serve an old one.
    res.set(http::field::cache_control, "no-store");
    for (const auto& [field, value] : r.headers) res.set(field, value);
    res.keep_alive(keep_alive);
    res.body() = r.body;
    res.prepare_payload();
    c.stream.expires_after(s.options.timeout);
    if (head) {
        // The same headers, Content-Length included, without the body.
        http::response<http::empty_body> header_only{http::response_header<>(res.base())};
        auto [ec, n] = co_await http::async_write(c.stream, header_only, use_tuple);
        co_return ec;
    }
    auto [ec, n] = co_await http::async_write(c.stream, res, use_tuple);
    co_return ec;
}

// Closing a socket with unread request bytes in it makes the kernel send a reset, which can
// destroy the response before the client reads it: stop sending, read and drop what the client
// still sends for a moment, then close.
asio::awaitable<void> close_gracefully(const state& s, connection& c) {
    beast::error_code ignored;
    c.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    c.stream.expires_after(std::min<std::chrono::milliseconds>(s.options.timeout, max_linger));
    std::array<char, 4096> scratch{};
    std::size_t drained = 0;
    while (!s.stopped && drained < max_linger_bytes) {
        auto [ec, n] = co_await c.stream.async_read_some(asio::buffer(scratch), use_tuple);
        if (ec) break;
        drained += n;
    }
    if (!s.stopped) c.stream.close();
}

bool is_http_error(const beast::error_code& ec) {
    return ec.category() == http::make_error_code(http::error::bad_version).category();
}

asio::awaitable<void> serve(const state& s, connection& c) {
    beast::flat_buffer buffer;
    const auto limit = static_cast<std::uint32_t>(std::min<std::size_t>(
        s.options.max_request_bytes, std::numeric_limits<std::uint32_t>::max()));
    for (int served = 0;; ++served) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(limit);
        parser.body_limit(limit);
        // One deadline for the whole request: a client trickling a byte at a time gets no more.
        c.stream.expires_after(s.options.timeout);
        auto [ec, n] = co_await http::async_read(c.stream, buffer, parser, use_tuple);
        if (s.stopped) co_return;
        if (ec == http::error::end_of_stream) {
            // The client closed between requests: the normal end of a keep-alive connection.
            c.stream.close();
            co_return;
        }
        if (ec && !is_http_error(ec)) co_return;  // timeout (the stream closed itself), reset
        if (ec) {
            http_reply r;
            if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
                r = text_reply(http::status::request_header_fields_too_large,
                               "request header too large\n");
            } else if (ec == http::error::body_limit) {
                r = text_reply(http::status::payload_too_large, "request too large\n");
            } else if (ec == http::error::partial_message) {
                co_return;  // the client went away mid-request: nobody to answer
            } else {
                r = text_reply(http::status::bad_request, "malformed request\n");
            }
            // The rest of the stream cannot be trusted to start at a request: answer and close.
            co_await send(s, c, r, 11, false, false);
            if (!s.stopped) co_await close_gracefully(s, c);
            co_return;
        }
        const http_request& req = parser.get();
        const bool keep_alive = req.keep_alive() && served + 1 < max_requests_per_connection;
        const http_reply r = s.handle(req);
        const auto write_error =
            co_await send(s, c, r, req.version(), keep_alive, req.method() == http::verb::head);
        if (s.stopped || write_error) co_return;
        if (!keep_alive) {
            co_await close_gracefully(s, c);
            co_return;
        }
    }
}

void log_failure(std::string_view what, const std::exception_ptr& e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        log::error(what, {{"error", ex.what()}});
    } catch (...) {
        log::error(what, {{"error", "unknown exception"}});
    }
}

void spawn(state& s, tcp::socket socket) {
    auto c = std::make_shared<connection>(std::move(socket));
    c->id = s.next_id++;
    s.connections.emplace(c->id, c.get());
    // The handler owns the connection and the state until the coroutine ends: stop() and the
    // server's destructor only close sockets, they never free what a suspended coroutine uses.
    asio::co_spawn(s.executor, serve(s, *c),
                   [self = s.shared_from_this(), c](const std::exception_ptr& e) {
                       self->connections.erase(c->id);
                       log_failure(self->options.name + ": connection failed", e);
                   });
}

asio::awaitable<void> accept_loop(state& s) {
    while (!s.stopped) {
        auto [ec, socket] = co_await s.acceptor.async_accept(use_tuple);
        if (s.stopped) co_return;
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            // Out of file descriptors, typically: wait instead of spinning on the error.
            log::warning(s.options.name + ": accept failed", {{"error", ec.message()}});
            asio::steady_timer pause(s.executor, 100ms);
            co_await pause.async_wait(use_tuple);
            continue;
        }
        if (s.connections.size() >= max_connections) {
            beast::error_code ignored;
            socket.close(ignored);
            continue;
        }
        spawn(s, std::move(socket));
    }
}

}  // namespace

http_reply text_reply(http::status status, std::string body) {
    http_reply r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

boost::system::result<listen_address, std::string> parse_listen(std::string_view what,
                                                                std::string_view text) {
    using parsed = boost::system::result<listen_address, std::string>;
    const auto bad = [&](std::string_view why) {
        return parsed(boost::system::in_place_error,
                      std::string(what) + " '" + std::string(text) + "' " + std::string(why));
    };
    std::string_view host;
    std::string_view port;
    bool bracketed = false;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
            return bad("is not [IPv6]:port");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        bracketed = true;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return bad("has no port (host:port)");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos)
            return bad("needs brackets around an IPv6 address ([::1]:9187)");
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535)
        return bad("has no valid port (0 to 65535)");
    listen_address out;
    out.port = static_cast<unsigned short>(value);
    if (!bracketed && host == "localhost") {
        // Not resolved: "localhost" could map to anything in /etc/hosts, and loopback is the point.
        out.address = asio::ip::address_v4::loopback();
        return out;
    }
    boost::system::error_code parse_error;
    if (bracketed)
        out.address = asio::ip::make_address_v6(host, parse_error);
    else
        out.address = asio::ip::make_address_v4(host, parse_error);
    if (parse_error || host.empty())
        return bad("does not name an IP address (use an address, or localhost)");
    return out;
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%') {
            unsigned value = 0;
            if (i + 2 >= s.size()) return std::nullopt;
            const auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16);
            if (ec != std::errc{} || end != s.data() + i + 3) return std::nullopt;
            out += static_cast<char>(value);
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

bool same_secret(std::string_view given, std::string_view expected) {
    std::size_t diff = given.size() ^ expected.size();
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
        diff |= static_cast<std::size_t>(g ^ static_cast<unsigned char>(expected[i]));
    }
    return diff == 0;
}

bool is_loopback(const asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
    return a.is_loopback();
}

http_listener::http_listener(asio::any_io_executor executor, listener_options options, handler h)
    : state_(std::make_shared<state>(std::move(executor), std::move(options), std::move(h))) {}

http_listener::~http_listener() {
    stop();
}

start_result http_listener::start() {
    state& s = *state_;
    if (s.acceptor.is_open() || s.stopped) return fail(s.options.name + " was already started");
    const auto parsed = parse_listen(s.options.name + " address", s.options.listen);
    if (!parsed) return fail(parsed.error());
    if (s.options.timeout <= std::chrono::milliseconds::zero() || s.options.max_request_bytes == 0)
        return fail(s.options.name + " needs a positive timeout and request size limit");
    const tcp::endpoint endpoint(parsed->address, parsed->port);
    boost::system::error_code ec;
    const auto failed = [&](std::string_view step) {
        boost::system::error_code ignored;
        s.acceptor.close(ignored);
        return fail(s.options.name + " cannot " + std::string(step) + " " + s.options.listen +
                    ": " + ec.message());
    };
    if (s.acceptor.open(endpoint.protocol(), ec)) return failed("open a socket for");
    // A restarted daemon must not wait for the old connections' TIME_WAIT to end.
    if (s.acceptor.set_option(asio::socket_base::reuse_address(true), ec)) return failed("set up");
    if (s.acceptor.bind(endpoint, ec)) return failed("bind to");
    if (s.acceptor.listen(asio::socket_base::max_listen_connections, ec))
        return failed("listen on");
    s.port = s.acceptor.local_endpoint(ec).port();
    // The handler's `self` keeps the state, acceptor included, alive until the loop has ended.
    asio::co_spawn(s.executor, accept_loop(s), [self = state_](const std::exception_ptr& e) {
        log_failure(self->options.name + ": accepting failed", e);
    });
    return {};
}

void http_listener::stop() {
    state& s = *state_;
    if (s.stopped) return;
    s.stopped = true;
    boost::system::error_code ignored;
    s.acceptor.close(ignored);
    // Pending operations complete with operation_aborted; the coroutines see `stopped` and end.
    for (const auto& [id, c] : s.connections) c->stream.close();
}

unsigned short http_listener::port() const {
    return state_->port;
}

}  // namespace agendad::daemon
