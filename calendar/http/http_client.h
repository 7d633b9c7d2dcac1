// HTTP(S) for the calendar sources (CalDAV now, Graph and EWS later), on Beast and OpenSSL:
// a timeout on every step, a size limit on every response, TLS verified by default, no redirects
// followed. Beast stays in the .cpp: this header costs a source file almost nothing to include.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::calendar::http {

// "https://cal.example.com:8443/dav/calendars/" split into its parts.
struct url {
    std::string scheme;  // "http" or "https"
    std::string host;    // without brackets for IPv6
    std::string port;    // explicit or the scheme's default
    std::string target;  // path and query, "/" at least
    // Strict: http/https only, no user:password@, no unescaped spaces or non-ASCII (an href
    // must arrive percent-encoded; nothing is encoded here).
    static std::optional<url> parse(std::string_view text);
    std::string origin() const;  // "https://cal.example.com:8443"
    // A target relative to this URL resolved (an href from a server): "/x" or "https://h/x".
    std::optional<url> resolve(std::string_view href) const;
    bool is_loopback() const;  // 127.0.0.0/8, ::1, localhost
};

struct tls_options {
    bool verify = true;              // certificate chain and host name; only tests turn it off
    std::filesystem::path ca_file;   // extra trust anchors (an on-prem CA); empty: the system's
};

struct limits {
    std::size_t max_response_bytes = std::size_t{16} << 20;  // headers and body
    // Name lookup, TCP connect and TLS handshake together (a slow lookup is failure::resolve).
    std::chrono::milliseconds connect_timeout{std::chrono::seconds{10}};
    std::chrono::milliseconds request_timeout{std::chrono::seconds{60}};  // whole exchange
    // Requests to one origin that open a new connection, at most at once (connect, TLS handshake
    // and the exchange; more wait their turn, in order, before their request timeout starts, and
    // take a kept-alive connection if one was left meanwhile); 0: no limit. Requests over
    // kept-alive connections do not wait. A server whose accept queue is small (Radicale's own
    // holds 5) drops the connections beyond it, and the client waits a second to try again.
    std::size_t max_new_connections_per_origin = 0;
};

struct header {
    std::string name;
    std::string value;
};

struct request {
    std::string method = "GET";
    std::string target;  // path and query; empty: the URL's own target
    std::vector<header> headers;  // Host, Content-Length and User-Agent are added
    std::string body;
    // A request whose method is not idempotent but which changes nothing (a SOAP read sent as
    // POST: SyncFolderItems, GetItem) may be sent again, like a GET, when a kept-alive
    // connection turns out closed. Never set it for a request that acts (CreateItem).
    bool repeatable = false;
};

struct response {
    int status = 0;
    std::vector<header> headers;
    std::string body;
    // The first header of that name (case-insensitive).
    std::optional<std::string_view> find(std::string_view name) const;
};

enum class failure {
    resolve,    // the host name does not resolve
    connect,    // refused or unreachable, or the request could not be written
    tls,        // handshake failed: untrusted or expired certificate, wrong host name, ...
    timeout,    // a step took longer than its limit
    too_large,  // the response is over max_response_bytes
    protocol,   // not HTTP, a bad chunk, a reset in the middle of a response, ...
};

struct error {
    failure kind = failure::protocol;
    std::string message;  // for logs: names the host, never credentials
};

template <class T>
using result = boost::system::result<T, error>;

class channel;

// One client per source (creating one loads the trust store). Connections are kept alive and
// reused per origin when the server allows it; a connection that failed is never reused, and a
// reused one that fails before any byte of the response is retried once on a fresh connection
// (idempotent methods only: a POST is never sent twice).
// Not thread-safe: use it from one thread (or strand), and keep it alive until its sends finish.
class client {
public:
    client(boost::asio::any_io_executor executor, tls_options tls = {}, limits lim = {});
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    // Sends `r` to `base` (its target unless r.target is set). A 3xx is returned, not followed.
    // Keep `base` and `r` alive until the co_await completes (see calendar/source.h on GCC 12).
    boost::asio::awaitable<result<response>> send(const url& base, const request& r);
    // The same over `ch`'s own connection: the one it holds when that is still open and of
    // base's origin, else a new one, which `ch` then keeps (never the shared pool) while the
    // server allows keep-alive. What connection-based authentication (NTLM) needs: the server
    // authenticates the connection, so the handshake and the requests after it must share one.
    boost::asio::awaitable<result<response>> send(const url& base, const request& r, channel& ch);
    // The same for an answer that lasts (EWS GetStreamingEvents): a 2xx body is handed to
    // `on_body` piece by piece as it arrives, with no size limit on the whole and
    // `idle_timeout` as the limit on each silence (request_timeout bounds the header only); the
    // response returned has an empty body. false from `on_body` ends the stream (the connection
    // is then dropped). Other statuses are read whole, as send() reads them.
    boost::asio::awaitable<result<response>> stream(
        const url& base, const request& r, channel& ch,
        const std::function<bool(std::string_view)>& on_body,
        std::chrono::milliseconds idle_timeout);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// A connection held for one caller's consecutive requests (see client::send). Empty at first;
// close() drops the connection. Use it with one client only, one request at a time.
class channel {
public:
    channel();
    ~channel();
    channel(channel&&) noexcept;
    channel& operator=(channel&&) noexcept;
    // Whether the channel holds a connection (which the server may still have closed).
    bool is_open() const;
    // Whether the last send went over the connection the channel already held (false: it
    // opened a new one, so connection-bound state such as an NTLM login is gone).
    bool reused() const;
    void close();

private:
    friend class client;
    struct state;
    std::unique_ptr<state> state_;
};

// "Basic dXNlcjpwYXNz" for an Authorization header.
std::string basic_authorization(std::string_view user, std::string_view password);

// A Retry-After header (RFC 9110 §10.2.3), as Graph, Exchange and their front ends send it:
// delay-seconds, or an HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT") as seconds from `now` (0 when
// it is past). nullopt: not readable.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view text,
                                                      std::chrono::system_clock::time_point now);

}  // namespace agendad::calendar::http
