// The status listener: a small HTTP/1.1 server (Beast, C++20 coroutines, the daemon's one
// io_context) for /healthz, /metrics and /v1/decisions. It only reads the metrics and the journal.
// Every connection has a deadline and a request size limit, so a slow or hostile client costs one
// socket for a bounded time and nothing else. The only translation unit of the daemon with Beast.
#include "daemon/status_server.h"

#include "daemon/journal_json.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "calendar/invitation.h"
#include "daemon/log.h"
#include "daemon/time_arg.h"

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
// Each connection is a file descriptor: enough for Prometheus, a few admins and a load balancer.
constexpr std::size_t max_connections = 64;
constexpr std::size_t default_limit = 100;
constexpr std::size_t max_limit = 1000;
// Draining a closing connection: long enough for a client still sending to finish, short and
// small enough that it cannot hold the socket.
constexpr std::chrono::milliseconds max_linger = 1s;
constexpr std::size_t max_linger_bytes = 1 << 20;
// Parameter values echoed in error messages are cut: they are the client's own text.
constexpr std::size_t max_echo = 64;

using start_result = boost::system::result<void, std::string>;

start_result fail(std::string message) {
    return start_result(boost::system::in_place_error, std::move(message));
}

// --- the listen address -------------------------------------------------------------------------

struct listen_address {
    asio::ip::address address;
    unsigned short port = 0;
};

boost::system::result<listen_address, std::string> parse_listen(std::string_view text) {
    using parsed = boost::system::result<listen_address, std::string>;
    const auto bad = [&](std::string_view why) {
        return parsed(boost::system::in_place_error,
                      "the status listen address '" + std::string(text) + "' " + std::string(why));
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

bool is_loopback(const asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
    return a.is_loopback();
}

// --- requests and replies -----------------------------------------------------------------------

using request = http::request<http::string_body>;

struct reply {
    http::status status = http::status::ok;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<http::field, std::string>> headers;
};

reply text(http::status status, std::string body) {
    reply r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

reply json_reply(http::status status, const boost::json::value& v) {
    reply r;
    r.status = status;
    r.content_type = "application/json";
    r.body = boost::json::serialize(v);
    r.body += '\n';
    return r;
}

reply json_error(http::status status, std::string message) {
    return json_reply(status, boost::json::object{{"error", std::move(message)}});
}

std::string echo(std::string_view value) {
    if (value.size() <= max_echo) return std::string(value);
    return std::string(value.substr(0, max_echo)) + "...";
}

// The bearer token is a secret: how long a comparison takes must not say how much of a guess
// was right. The time depends only on the expected token's length.
bool same_secret(std::string_view given, std::string_view expected) {
    std::size_t diff = given.size() ^ expected.size();
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
        diff |= static_cast<std::size_t>(g ^ static_cast<unsigned char>(expected[i]));
    }
    return diff == 0;
}

bool iequals(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

enum class auth { ok, missing, wrong };

auth authorize(const request& req, const std::string& token) {
    const auto it = req.find(http::field::authorization);
    if (it == req.end()) return auth::missing;
    std::string_view v(it->value().data(), it->value().size());
    // RFC 7235: the scheme is case-insensitive and followed by one or more spaces.
    constexpr std::string_view scheme = "bearer";
    if (v.size() <= scheme.size() || !iequals(v.substr(0, scheme.size()), scheme) ||
        v[scheme.size()] != ' ')
        return auth::wrong;
    v.remove_prefix(scheme.size());
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return same_secret(v, token) ? auth::ok : auth::wrong;
}

// application/x-www-form-urlencoded: %XX and '+' for a space. nullopt for a broken escape.
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

// The same fields, names and formats as `agendad decisions --json`, so that scripts can read
// either.
// The query string of /v1/decisions as a journal query, or the 400 that says what is wrong.
// Unknown and repeated parameters are errors: a typo must not silently widen the answer.
std::variant<journal_query, reply> decisions_query(std::string_view query_string) {
    journal_query q;
    q.limit = default_limit;
    std::map<std::string, bool, std::less<>> seen;
    while (!query_string.empty()) {
        const auto amp = query_string.find('&');
        const std::string_view pair = query_string.substr(0, amp);
        query_string = amp == std::string_view::npos ? "" : query_string.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        const auto name = percent_decode(pair.substr(0, eq));
        const auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
        if (!name || !value)
            return json_error(http::status::bad_request, "broken %-escape in the query string");
        if (*name != "mailbox" && *name != "since" && *name != "state" && *name != "limit") {
            return json_error(
                http::status::bad_request,
                "unknown parameter '" + echo(*name) + "' (known: mailbox, since, state, limit)");
        }
        if (seen[*name])
            return json_error(http::status::bad_request, "parameter '" + *name + "' given twice");
        seen[*name] = true;
        if (*name == "mailbox") {
            q.mailbox = calendar::normalize_address(*value);
            if (q.mailbox->empty())
                return json_error(http::status::bad_request, "mailbox is empty");
        } else if (*name == "since") {
            q.since = parse_time_arg(*value);
            if (!q.since) {
                return json_error(http::status::bad_request,
                                  "since '" + echo(*value) +
                                      "' is not a time (e.g. 2026-11-20 or 2026-11-20T09:00:00Z)");
            }
        } else if (*name == "state") {
            q.state = entry_state_from_name(*value);
            if (!q.state) {
                return json_error(http::status::bad_request,
                                  "unknown state '" + echo(*value) +
                                      "' (intent, done, dry_run, left, rate_limited, failed, "
                                      "overridden, undone, superseded)");
            }
        } else {
            std::size_t n = 0;
            const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
            if (value->empty() || ec != std::errc{} || end != value->data() + value->size() ||
                n < 1 || n > max_limit) {
                return json_error(http::status::bad_request, "limit '" + echo(*value) +
                                                                 "' is not a number from 1 to " +
                                                                 std::to_string(max_limit));
            }
            q.limit = n;
        }
    }
    return q;
}

// --- the server ---------------------------------------------------------------------------------

struct connection {
    explicit connection(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    std::uint64_t id = 0;
};

struct server_state : std::enable_shared_from_this<server_state> {
    server_state(asio::any_io_executor ex, status_options opts, metrics& mm, store& s,
                 std::function<std::chrono::system_clock::time_point()> c)
        : executor(std::move(ex)),
          options(std::move(opts)),
          m(&mm),
          db(&s),
          clock(std::move(c)),
          acceptor(executor) {}

    asio::any_io_executor executor;
    status_options options;
    metrics* m;
    store* db;
    std::function<std::chrono::system_clock::time_point()> clock;
    tcp::acceptor acceptor;
    // Set by stop(): coroutines resuming afterwards must not touch the metrics or the store, which
    // may be gone by then.
    bool stopped = false;
    unsigned short port = 0;
    std::uint64_t next_id = 0;
    // Open connections, for stop(); each is owned by its coroutine's completion handler.
    std::map<std::uint64_t, connection*> connections;

    reply handle(const request& req) const;
    reply decisions(std::string_view query_string) const;
    void spawn(tcp::socket socket);
};

reply server_state::handle(const request& req) const {
    const std::string_view target(req.target().data(), req.target().size());
    const auto question = target.find('?');
    const std::string_view path = target.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);

    enum class route { healthz, metrics, decisions };
    route r{};
    if (path == "/healthz") {
        r = route::healthz;
    } else if (path == "/metrics") {
        r = route::metrics;
    } else if (path == "/v1/decisions") {
        r = route::decisions;
    } else {
        return text(http::status::not_found, "not found\n");
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        reply out = text(http::status::method_not_allowed, "only GET and HEAD\n");
        out.headers.emplace_back(http::field::allow, "GET, HEAD");
        return out;
    }
    // A load balancer's health check carries no secret, and the answer reveals nothing.
    if (r != route::healthz && options.token) {
        const auto a = authorize(req, *options.token);
        if (a != auth::ok) {
            reply out = text(http::status::unauthorized, a == auth::missing
                                                             ? "a bearer token is required\n"
                                                             : "the bearer token is not valid\n");
            out.headers.emplace_back(http::field::www_authenticate,
                                     a == auth::missing
                                         ? R"(Bearer realm="agendad")"
                                         : R"(Bearer realm="agendad", error="invalid_token")");
            return out;
        }
    }
    switch (r) {
        case route::healthz: {
            const auto h = m->healthy(clock());
            if (h.ok) return text(http::status::ok, "ok\n");
            return text(http::status::service_unavailable, h.reason + "\n");
        }
        case route::metrics: {
            reply out = text(http::status::ok, m->render(clock()));
            out.content_type = "text/plain; version=0.0.4; charset=utf-8";
            return out;
        }
        case route::decisions:
            return decisions(query);
    }
    return text(http::status::not_found, "not found\n");
}

reply server_state::decisions(std::string_view query_string) const {
    auto parsed = decisions_query(query_string);
    if (auto* bad = std::get_if<reply>(&parsed)) return std::move(*bad);
    const auto entries = db->list(std::get<journal_query>(parsed));
    if (!entries) {
        // The store's sentences name the file and the failure, never a secret.
        log::warning("status listener: cannot read the journal", {{"error", entries.error()}});
        return json_error(http::status::internal_server_error, entries.error());
    }
    boost::json::array list;
    list.reserve(entries->size());
    for (const auto& e : *entries) list.push_back(to_json(e));
    return json_reply(http::status::ok, boost::json::object{{"decisions", std::move(list)}});
}

asio::awaitable<beast::error_code> send(const server_state& s, connection& c, const reply& r,
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
asio::awaitable<void> close_gracefully(const server_state& s, connection& c) {
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

asio::awaitable<void> serve(const server_state& s, connection& c) {
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
            reply r;
            if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
                r = text(http::status::request_header_fields_too_large,
                         "request header too large\n");
            } else if (ec == http::error::body_limit) {
                r = text(http::status::payload_too_large, "request too large\n");
            } else if (ec == http::error::partial_message) {
                co_return;  // the client went away mid-request: nobody to answer
            } else {
                r = text(http::status::bad_request, "malformed request\n");
            }
            // The rest of the stream cannot be trusted to start at a request: answer and close.
            co_await send(s, c, r, 11, false, false);
            if (!s.stopped) co_await close_gracefully(s, c);
            co_return;
        }
        const request& req = parser.get();
        const bool keep_alive = req.keep_alive() && served + 1 < max_requests_per_connection;
        const reply r = s.handle(req);
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

void server_state::spawn(tcp::socket socket) {
    auto c = std::make_shared<connection>(std::move(socket));
    c->id = next_id++;
    connections.emplace(c->id, c.get());
    // The handler owns the connection and the state until the coroutine ends: stop() and the
    // server's destructor only close sockets, they never free what a suspended coroutine uses.
    asio::co_spawn(executor, serve(*this, *c),
                   [self = shared_from_this(), c](const std::exception_ptr& e) {
                       self->connections.erase(c->id);
                       log_failure("status listener: connection failed", e);
                   });
}

asio::awaitable<void> accept_loop(server_state& s) {
    while (!s.stopped) {
        auto [ec, socket] = co_await s.acceptor.async_accept(use_tuple);
        if (s.stopped) co_return;
        if (ec) {
            if (ec == asio::error::operation_aborted) co_return;
            // Out of file descriptors, typically: wait instead of spinning on the error.
            log::warning("status listener: accept failed", {{"error", ec.message()}});
            asio::steady_timer pause(s.executor, 100ms);
            co_await pause.async_wait(use_tuple);
            continue;
        }
        if (s.connections.size() >= max_connections) {
            beast::error_code ignored;
            socket.close(ignored);
            continue;
        }
        s.spawn(std::move(socket));
    }
}

}  // namespace

struct status_server::impl {
    std::shared_ptr<server_state> state;
};

status_server::status_server(boost::asio::any_io_executor executor, status_options options,
                             metrics& m, store& db,
                             std::function<std::chrono::system_clock::time_point()> clock)
    : impl_(std::make_unique<impl>()) {
    impl_->state = std::make_shared<server_state>(std::move(executor), std::move(options), m, db,
                                                  std::move(clock));
}

status_server::~status_server() {
    stop();
}

boost::system::result<void, std::string> status_server::start() {
    server_state& s = *impl_->state;
    if (s.acceptor.is_open() || s.stopped) return fail("the status listener was already started");
    const auto parsed = parse_listen(s.options.listen);
    if (!parsed) return fail(parsed.error());
    if (s.options.timeout <= std::chrono::milliseconds::zero() || s.options.max_request_bytes == 0)
        return fail("the status listener needs a positive timeout and request size limit");
    if (s.options.token && s.options.token->empty())
        return fail("the status token is empty: put a secret in status.token_file");
    if (!is_loopback(parsed->address) && !s.options.token) {
        return fail("the status listener on " + s.options.listen +
                    " is not loopback: set status.token_file");
    }
    const tcp::endpoint endpoint(parsed->address, parsed->port);
    boost::system::error_code ec;
    const auto failed = [&](std::string_view step) {
        boost::system::error_code ignored;
        s.acceptor.close(ignored);
        return fail("the status listener cannot " + std::string(step) + " " + s.options.listen +
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
    asio::co_spawn(s.executor, accept_loop(s), [self = impl_->state](const std::exception_ptr& e) {
        log_failure("status listener: accepting failed", e);
    });
    return {};
}

void status_server::stop() {
    server_state& s = *impl_->state;
    if (s.stopped) return;
    s.stopped = true;
    boost::system::error_code ignored;
    s.acceptor.close(ignored);
    // Pending operations complete with operation_aborted; the coroutines see `stopped` and end.
    for (const auto& [id, c] : s.connections) c->stream.close();
}

unsigned short status_server::port() const {
    return impl_->state->port;
}

}  // namespace agendad::daemon
