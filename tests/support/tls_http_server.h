// The HTTP/1.1-over-TLS server core shared by the in-process fakes (support/fake_graph.h,
// support/fake_ews.h): a test CA made at start (server.pem, server.key and ca.pem in a folder), a
// listener on 127.0.0.1 with its own io_context and thread, and one coroutine per connection
// that reads requests (at most 1 MB: 413, then a short drain so that a client still writing its
// body reads the 413 instead of a reset; idle connections close after 30 s; keep-alive as the
// client asks) and hands each to the fake's handler.
//
// A handler answers in one of three ways (http_answer::then): an answer the server writes, a
// reset (the connection is closed without an answer: fault injection), or "written": the handler
// has written the whole response itself on http_connection::stream() (a long-lived chunked
// response, e.g. EWS GetStreamingEvents) and the server goes on reading that connection.
// Per-connection state (NTLM authenticates a connection, as IIS does) lives in
// http_connection::state<T>().
// With options::faults, every request is first shown to that plan (support/faults.h): a fault
// that replaces the answer is written instead of calling the handler, one that mangles the real
// answer is applied to what the handler answered; either way the connection is closed after.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace agendad::test_support {

class fault_plan;

// n bytes from OpenSSL's generator (ids, challenges, tokens). Throws std::runtime_error.
std::string random_bytes(std::size_t n);

using tls_stream = boost::asio::ssl::stream<boost::beast::tcp_stream>;
using http_request = boost::beast::http::request<boost::beast::http::string_body>;

inline constexpr std::size_t http_max_request_bytes = std::size_t{1} << 20;
inline constexpr std::chrono::seconds http_idle_timeout{30};

struct http_answer {
    enum class then {
        write,    // the server writes status, headers and body
        reset,    // the connection is closed without an answer
        written,  // the handler wrote the whole response itself; the connection goes on
    };
    int status = 200;
    std::string content_type;  // no Content-Type when empty
    std::vector<std::pair<std::string, std::string>> headers;  // added as they are (repeats too)
    std::string body;
    then action = then::write;

    static http_answer reset() { return http_answer{0, {}, {}, {}, then::reset}; }
    static http_answer written() { return http_answer{0, {}, {}, {}, then::written}; }
};

// One accepted connection, on the server's io thread only.
class http_connection {
  public:
    http_connection(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls)
        : stream_(boost::beast::tcp_stream(std::move(socket)), tls) {}

    // For a handler that writes its response itself (see http_answer::then::written). The
    // handler sets its own timeouts on get_lowest_layer(stream()) while it writes (none is
    // running when it is called) and leaves expires_never() behind it.
    tls_stream& stream() { return stream_; }
    // Closes the socket at once: the client sees the connection cut (a stream dropped, a reset).
    void close();

    // The fake's state for this connection, made (value-initialised) on first use and dropped
    // with the connection. T must be copyable; always the same T for one server.
    template <class T>
    T& state() {
        if (!state_.has_value()) state_ = T{};
        return std::any_cast<T&>(state_);
    }

  private:
    friend class tls_http_server;
    tls_stream stream_;
    boost::beast::flat_buffer buffer_;
    std::any state_;
};

class tls_http_server {
  public:
    // Called on the io thread for every request; the connection and the request live until the
    // returned coroutine is done.
    using handler = std::function<boost::asio::awaitable<http_answer>(http_connection&,
                                                                      const http_request&)>;

    struct options {
        std::string ca_name = "agendad test CA";  // the test CA's common name
        // Where server.pem, server.key and ca.pem go (made if missing); empty: a temporary
        // folder named with `temp_prefix`, removed with the server.
        std::filesystem::path folder;
        std::string temp_prefix = "agendad-test-server";
        // Makes the answer to a request over 1 MB (its status is 413 whatever it says); empty: an
        // empty 413.
        std::function<http_answer()> too_large;
        // Faults to inject (see the top of this file); null: none.
        std::shared_ptr<fault_plan> faults;
    };

    // Makes the certificates and listens on 127.0.0.1 (a free port); nothing is served until
    // start().
    explicit tls_http_server(options o);
    ~tls_http_server();  // stops the thread; open connections are closed
    tls_http_server(const tls_http_server&) = delete;
    tls_http_server& operator=(const tls_http_server&) = delete;

    // Starts the io thread with `h`. Once only.
    void start(handler h);

    std::uint16_t port() const;
    std::string origin() const;  // "https://127.0.0.1:<port>"
    const std::filesystem::path& folder() const;
    const std::filesystem::path& ca_file() const;  // the test CA's certificate (PEM)
    // The io thread's context: for the handlers' timers and for posting to that thread.
    boost::asio::io_context& io();

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace agendad::test_support
