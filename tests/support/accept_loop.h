// The accept loop of the loopback test servers (support/tls_http_server, support/fault_proxy):
// every accepted socket becomes a connection, owned here by id so that a session (and a handler
// that streams on it) may hold a reference to it until its session ends; a session that throws
// drops its connection, never the server. On the server's io thread only.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

namespace agendad::test_support {

template <class Connection>
class accepted_connections {
  public:
    using make_fn = std::function<std::unique_ptr<Connection>(boost::asio::ip::tcp::socket)>;
    using session_fn = std::function<boost::asio::awaitable<void>(Connection&)>;

    // Accepts until `acceptor` is closed; a failed accept (out of descriptors, say) is tried
    // again 10 ms later.
    boost::asio::awaitable<void> run(boost::asio::ip::tcp::acceptor& acceptor, make_fn make,
                                     session_fn session) {
        namespace asio = boost::asio;
        constexpr auto with_error = asio::as_tuple(asio::use_awaitable);
        const auto executor = co_await asio::this_coro::executor;
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(with_error);
            if (ec) {
                if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
                asio::steady_timer pause(executor, std::chrono::milliseconds{10});
                co_await pause.async_wait(with_error);
                continue;
            }
            const std::uint64_t id = ++next_;
            live_.emplace(id, make(std::move(socket)));
            asio::co_spawn(executor, serve(id, session), asio::detached);
        }
    }

    // Closes every connection (their sessions end with an error).
    void clear() { live_.clear(); }

  private:
    boost::asio::awaitable<void> serve(std::uint64_t id, session_fn session) {
        try {
            co_await session(*live_.at(id));
        } catch (...) {
            // The connection is dropped; the server goes on.
        }
        live_.erase(id);
    }

    std::map<std::uint64_t, std::unique_ptr<Connection>> live_;
    std::uint64_t next_ = 0;
};

}  // namespace agendad::test_support
