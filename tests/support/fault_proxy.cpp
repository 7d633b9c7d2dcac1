// The fault proxy (support/fault_proxy.h): an acceptor and one coroutine per client connection on
// the proxy's own io thread; each connection owns its upstream connection. Connections are owned
// here by id (as in support/tls_http_server.cpp) so that coroutines take only an integer.
#include "support/fault_proxy.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "support/accept_loop.h"
#include "support/faults.h"

namespace agendad::test_support {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);
constexpr auto idle_timeout = 30s;
constexpr auto upstream_timeout = 60s;
constexpr std::uint32_t max_header_bytes = 64 * 1024;
constexpr std::uint64_t max_request_bytes = std::uint64_t{64} << 20;
constexpr std::uint64_t max_response_bytes = std::uint64_t{256} << 20;

using request = bhttp::request<bhttp::string_body>;
using response = bhttp::response<bhttp::string_body>;

struct connection {
    explicit connection(tcp::socket s) : client(std::move(s)), upstream(client.get_executor()) {}
    beast::tcp_stream client;
    beast::tcp_stream upstream;
    beast::flat_buffer client_buffer;
    beast::flat_buffer upstream_buffer;
    bool upstream_open = false;

    void close_upstream() {
        boost::system::error_code ec;
        upstream.socket().shutdown(tcp::socket::shutdown_both, ec);
        upstream.socket().close(ec);
        upstream_buffer.clear();
        upstream_open = false;
    }
    void close_client() {
        boost::system::error_code ec;
        client.socket().shutdown(tcp::socket::shutdown_both, ec);
        client.socket().close(ec);
    }
};

request_view view_of(const request& req) {
    request_view v;
    v.method = req.method_string();
    v.target = req.target();
    for (const auto& field : req) v.headers.emplace_back(field.name_string(), field.value());
    v.body = req.body();
    return v;
}

}  // namespace

struct fault_proxy::impl {
    impl(std::uint16_t up, std::shared_ptr<fault_plan> p)
        : upstream(asio::ip::make_address("127.0.0.1"), up), plan(std::move(p)), acceptor(io) {
        const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
        acceptor.open(ep.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(ep);
        acceptor.listen();
        port = acceptor.local_endpoint().port();
        asio::co_spawn(io,
                       connections.run(
                           acceptor,
                           [](tcp::socket socket) {
                               return std::make_unique<connection>(std::move(socket));
                           },
                           [this](connection& c) { return session(c); }),
                       asio::detached);
        thread = std::thread([this] {
            for (;;) {
                try {
                    io.run();
                    return;
                } catch (...) {
                    // One connection's failure: keep serving the others.
                }
            }
        });
    }

    ~impl() {
        io.stop();
        if (thread.joinable()) thread.join();
        connections.clear();
        boost::system::error_code ec;
        acceptor.close(ec);
    }

    void record(const request& req, int status, bool faulted) {
        std::lock_guard lock(mu);
        log.push_back(exchange{std::string(req.method_string()), std::string(req.target()), status,
                               faulted});
    }

    asio::awaitable<void> session(connection& c) {
        for (;;) {
            bhttp::request_parser<bhttp::string_body> parser;
            parser.body_limit(max_request_bytes);
            parser.header_limit(max_header_bytes);
            c.client.expires_after(idle_timeout);
            auto [rec, rn] = co_await bhttp::async_read(c.client, c.client_buffer, parser,
                                                        with_error);
            if (rec) break;
            c.client.expires_never();
            const request req = parser.release();
            std::optional<fault_hit> hit;
            if (plan) hit = plan->take(view_of(req));
            if (hit && !mangles(hit->rule.kind)) {
                record(req, 0, true);
                co_await write_fault(c.client, *plan, *hit, nullptr);
                break;
            }
            std::optional<response> answer = co_await forward(c, req);
            if (!answer) {
                // Upstream is down: what a proxy says then.
                record(req, 0, false);
                if (hit) plan->ended(hit->id);
                response bad{bhttp::status::bad_gateway, req.version()};
                bad.set(bhttp::field::content_type, "text/plain");
                bad.body() = "the upstream server did not answer\r\n";
                bad.keep_alive(false);
                bad.prepare_payload();
                c.client.expires_after(idle_timeout);
                co_await bhttp::async_write(c.client, bad, with_error);
                break;
            }
            record(req, static_cast<int>(answer->result_int()), hit.has_value());
            if (hit) {
                fault_answer real;
                real.status = static_cast<int>(answer->result_int());
                for (const auto& field : *answer) {
                    real.headers.emplace_back(std::string(field.name_string()),
                                              std::string(field.value()));
                }
                real.body = std::move(answer->body());
                co_await write_fault(c.client, *plan, *hit, &real);
                break;
            }
            answer->version(req.version());
            answer->keep_alive(req.keep_alive());
            answer->prepare_payload();
            c.client.expires_after(idle_timeout);
            auto [wec, wn] = co_await bhttp::async_write(c.client, *answer, with_error);
            if (wec || !req.keep_alive()) break;
        }
        c.close_client();
        c.close_upstream();
    }

    // Sends `req` upstream over the connection's own upstream connection (opened when needed)
    // and reads the answer; nullopt when upstream cannot be reached or gives none. A kept-alive
    // upstream connection that fails before any byte of an answer is opened again once.
    asio::awaitable<std::optional<response>> forward(connection& c, const request& req) {
        for (int attempt = 0; attempt < 2; ++attempt) {
            const bool reused = c.upstream_open;
            if (!c.upstream_open) {
                c.upstream.expires_after(10s);
                auto [ec] = co_await c.upstream.async_connect(upstream, with_error);
                if (ec) {
                    c.close_upstream();
                    co_return std::nullopt;
                }
                c.upstream_open = true;
            }
            request out = req;
            out.version(11);
            out.keep_alive(true);
            c.upstream.expires_after(upstream_timeout);
            auto [wec, wn] = co_await bhttp::async_write(c.upstream, out, with_error);
            if (wec) {
                c.close_upstream();
                if (reused) continue;
                co_return std::nullopt;
            }
            bhttp::response_parser<bhttp::string_body> parser;
            parser.body_limit(max_response_bytes);
            parser.header_limit(max_header_bytes);
            if (req.method() == bhttp::verb::head) parser.skip(true);
            auto [rec, rn] =
                co_await bhttp::async_read(c.upstream, c.upstream_buffer, parser, with_error);
            if (rec) {
                const bool nothing = !parser.got_some();
                c.close_upstream();
                if (reused && nothing) continue;
                co_return std::nullopt;
            }
            c.upstream.expires_never();
            const bool keep = parser.keep_alive();
            response res = parser.release();
            if (!keep) c.close_upstream();
            co_return res;
        }
        co_return std::nullopt;
    }

    tcp::endpoint upstream;
    std::shared_ptr<fault_plan> plan;
    mutable std::mutex mu;
    std::vector<exchange> log;

    // io before the sockets that use it.
    asio::io_context io;
    tcp::acceptor acceptor;
    accepted_connections<connection> connections;  // the io thread's only
    std::uint16_t port = 0;
    std::thread thread;
};

fault_proxy::fault_proxy(std::uint16_t upstream_port, std::shared_ptr<fault_plan> plan)
    : impl_(std::make_unique<impl>(upstream_port, std::move(plan))) {}

fault_proxy::~fault_proxy() = default;

std::uint16_t fault_proxy::port() const {
    return impl_->port;
}

std::string fault_proxy::url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(impl_->port) + std::string(path);
}

std::vector<fault_proxy::exchange> fault_proxy::exchanges() const {
    std::lock_guard lock(impl_->mu);
    return impl_->log;
}

}  // namespace agendad::test_support
