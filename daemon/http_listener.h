// A small HTTP/1.1 server for the daemon's own listeners (the status listener, Graph change
// notifications): Beast and C++20 coroutines on the daemon's io_context, one deadline and one
// size limit per request, keep-alive up to a number of requests, a cap on open connections and a
// graceful close. A slow or hostile client costs one socket for a bounded time and nothing else.
// Handlers answer at once (no I/O of their own): they read state or hand work on.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agendad::daemon {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;

struct http_reply {
    boost::beast::http::status status = boost::beast::http::status::ok;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
    std::vector<std::pair<boost::beast::http::field, std::string>> headers;
};

http_reply text_reply(boost::beast::http::status status, std::string body);

struct listen_address {
    boost::asio::ip::address address;
    unsigned short port = 0;
};

// "127.0.0.1:9187", "[::1]:9187" or "localhost:9187" (taken as 127.0.0.1, never resolved).
// `what` names the setting in messages ("the status listen address").
boost::system::result<listen_address, std::string> parse_listen(std::string_view what,
                                                                std::string_view text);
bool is_loopback(const boost::asio::ip::address& a);

// A query-string value decoded ('+' is a space, %XX a byte); nullopt for a broken escape.
std::optional<std::string> percent_decode(std::string_view s);

// Compares a secret a client sent with the expected one in a time that depends only on the
// expected one's length, so that timing does not tell how much of a guess was right.
bool same_secret(std::string_view given, std::string_view expected);

struct listener_options {
    std::string name = "listener";  // for messages and logs: "the status listener"
    std::string listen;             // host:port; port 0 picks a free one (tests)
    std::size_t max_request_bytes = 16384;
    std::chrono::milliseconds timeout{std::chrono::seconds{10}};  // per request, and idle
};

class http_listener {
  public:
    using handler = std::function<http_reply(const http_request&)>;
    // `h` is not called after stop().
    http_listener(boost::asio::any_io_executor executor, listener_options options, handler h);
    ~http_listener();
    http_listener(const http_listener&) = delete;
    http_listener& operator=(const http_listener&) = delete;

    // Binds and starts accepting; the error says why not (address in use, bad address).
    // Whether a non-loopback address is acceptable is the caller's to decide (see address()).
    boost::system::result<void, std::string> start();
    void stop();
    unsigned short port() const;  // the bound port (after start)

    struct state;  // the implementation's, shared with the connections' coroutines

  private:
    std::shared_ptr<state> state_;
};

}  // namespace agendad::daemon
