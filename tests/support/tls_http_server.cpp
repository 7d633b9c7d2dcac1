// The fakes' server core: the acceptor and every connection belong to the io thread; the
// connections are owned here (by id) so that a handler may keep a pointer to one while it streams
// (and another party on the io thread may close it), and each is dropped when its coroutine ends.
#include "support/tls_http_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/rand.h>

#include <array>
#include <map>
#include <optional>
#include <stdexcept>
#include <thread>

#include "support/accept_loop.h"
#include "support/faults.h"
#include "support/process.h"
#include "support/test_ca.h"

namespace agendad::test_support {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t max_header_bytes = 64 * 1024;
// After a 413: how long, and how much, of what the client still sends is read and dropped.
constexpr auto drain_time = 2s;
constexpr std::size_t drain_bytes = std::size_t{8} << 20;

}  // namespace

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
        throw std::runtime_error("test server: RAND_bytes failed for " + std::to_string(n) +
                                 " bytes");
    }
    return out;
}

void http_connection::close() {
    boost::system::error_code ec;
    auto& lowest = beast::get_lowest_layer(stream_);
    lowest.socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest.socket().close(ec);
}

struct tls_http_server::impl {
    explicit impl(options o) : opt(std::move(o)), tls(ssl::context::tls_server), acceptor(io) {
        if (opt.folder.empty()) {
            own_folder.emplace(opt.temp_prefix);
            folder = own_folder->path();
        } else {
            folder = opt.folder;
            std::filesystem::create_directories(folder);
        }
        {
            const test_ca ca(opt.ca_name);
            ca_file = ca.write_loopback_server_files(folder);
        }
        tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
        tls.use_certificate_chain_file((folder / "server.pem").string());
        tls.use_private_key_file((folder / "server.key").string(), ssl::context::pem);
        const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
        acceptor.open(ep.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(ep);
        acceptor.listen();
        port = acceptor.local_endpoint().port();
    }

    ~impl() {
        io.stop();
        if (thread.joinable()) thread.join();
        connections.clear();
        boost::system::error_code ec;
        acceptor.close(ec);
    }

    void start(handler h) {
        if (thread.joinable()) throw std::logic_error("test server: started twice");
        serve_request = std::move(h);
        asio::co_spawn(io,
                       connections.run(
                           acceptor,
                           [this](tcp::socket socket) {
                               return std::make_unique<http_connection>(std::move(socket), tls);
                           },
                           [this](http_connection& c) { return session(c); }),
                       asio::detached);
        thread = std::thread([this] {
            for (;;) {
                try {
                    io.run();
                    return;
                } catch (...) {
                    // A handler threw: keep serving the others.
                }
            }
        });
    }

    asio::awaitable<void> session(http_connection& c) {
        auto& lowest = beast::get_lowest_layer(c.stream_);
        lowest.expires_after(http_idle_timeout);
        auto [hec] = co_await c.stream_.async_handshake(ssl::stream_base::server, with_error);
        if (hec) co_return;
        for (;;) {
            bhttp::request_parser<bhttp::string_body> parser;
            parser.body_limit(http_max_request_bytes);
            parser.header_limit(max_header_bytes);
            lowest.expires_after(http_idle_timeout);
            auto [rec, rn] = co_await bhttp::async_read(c.stream_, c.buffer_, parser, with_error);
            if (rec) {
                if (rec == bhttp::error::body_limit || rec == bhttp::error::header_limit) {
                    co_await refuse_too_large(c);
                }
                co_return;
            }
            lowest.expires_never();
            const http_request req = parser.release();
            std::optional<fault_hit> hit;
            if (opt.faults) hit = opt.faults->take(view_of(req));
            if (hit && !mangles(hit->rule.kind)) {
                co_await write_fault(c.stream_, *opt.faults, *hit, nullptr);
                c.close();
                co_return;
            }
            const http_answer a = co_await serve_request(c, req);
            if (hit && a.action == http_answer::then::write) {
                // The handler has processed the request: what it answered is spoilt.
                fault_answer real;
                real.status = a.status;
                if (!a.content_type.empty())
                    real.headers.emplace_back("Content-Type", a.content_type);
                real.headers.insert(real.headers.end(), a.headers.begin(), a.headers.end());
                real.body = a.body;
                co_await write_fault(c.stream_, *opt.faults, *hit, &real);
                c.close();
                co_return;
            }
            if (hit) opt.faults->ended(hit->id);  // the handler reset or wrote it itself
            if (a.action == http_answer::then::reset) {
                c.close();
                co_return;
            }
            if (a.action == http_answer::then::written) {
                if (!req.keep_alive()) {
                    c.close();
                    co_return;
                }
                continue;
            }
            auto res = response(a, req.version(), req.keep_alive());
            lowest.expires_after(http_idle_timeout);
            auto [wec, wn] = co_await bhttp::async_write(c.stream_, res, with_error);
            if (wec || !req.keep_alive()) {
                c.close();
                co_return;
            }
        }
    }

    // What a fault rule sees of `req`; views into it.
    static request_view view_of(const http_request& req) {
        request_view v;
        v.method = req.method_string();
        v.target = req.target();
        for (const auto& field : req) v.headers.emplace_back(field.name_string(), field.value());
        v.body = req.body();
        return v;
    }

    static bhttp::response<bhttp::string_body> response(const http_answer& a, unsigned version,
                                                        bool keep_alive) {
        bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(a.status), version};
        if (!a.content_type.empty()) res.set(bhttp::field::content_type, a.content_type);
        for (const auto& [name, value] : a.headers) res.insert(name, value);
        res.body() = a.body;
        res.keep_alive(keep_alive);
        res.prepare_payload();
        return res;
    }

    // 413, then what the client still sends (the rest of a refused body) is read and dropped for
    // a moment, so that it gets to read the answer instead of a reset while it is still writing.
    asio::awaitable<void> refuse_too_large(http_connection& c) {
        http_answer a = opt.too_large ? opt.too_large() : http_answer{};
        a.status = 413;
        auto res = response(a, 11, false);
        auto& lowest = beast::get_lowest_layer(c.stream_);
        lowest.expires_after(http_idle_timeout);
        co_await bhttp::async_write(c.stream_, res, with_error);
        lowest.expires_after(drain_time);
        std::array<char, 16384> sink;
        std::size_t total = 0;
        while (total < drain_bytes) {
            auto [ec, n] = co_await c.stream_.async_read_some(asio::buffer(sink), with_error);
            if (ec) break;
            total += n;
        }
        c.close();
    }

    options opt;
    std::optional<temp_folder> own_folder;
    std::filesystem::path folder;
    std::filesystem::path ca_file;
    handler serve_request;

    // io before the sockets that use it.
    asio::io_context io;
    ssl::context tls;
    tcp::acceptor acceptor;
    accepted_connections<http_connection> connections;  // the io thread's only
    std::uint16_t port = 0;
    std::thread thread;
};

tls_http_server::tls_http_server(options o) : impl_(std::make_unique<impl>(std::move(o))) {}
tls_http_server::~tls_http_server() = default;

void tls_http_server::start(handler h) {
    impl_->start(std::move(h));
}

std::uint16_t tls_http_server::port() const {
    return impl_->port;
}

std::string tls_http_server::origin() const {
    return "https://127.0.0.1:" + std::to_string(impl_->port);
}

const std::filesystem::path& tls_http_server::folder() const {
    return impl_->folder;
}

const std::filesystem::path& tls_http_server::ca_file() const {
    return impl_->ca_file;
}

boost::asio::io_context& tls_http_server::io() {
    return impl_->io;
}

}  // namespace agendad::test_support
