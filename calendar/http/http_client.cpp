// The HTTP(S) client behind calendar/http/http_client.h: Beast over a tcp_stream (whose timer
// bounds every operation by one deadline per exchange), OpenSSL for TLS, and a small
// idle-connection pool. The only translation unit of the client that sees Beast: it is slow to
// compile, keep it here.
#include "calendar/http/http_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <cctype>
#include <limits>
#include <map>
#include <utility>

#include "calendar/encoding.h"
#include "calendar/http/gate.h"

namespace agendad::calendar::http {
namespace {

// Methods that may be sent twice with the effect of once (RFC 9110 §9.2.2; WebDAV's PROPFIND and
// REPORT only read).
bool is_idempotent(std::string_view method) {
    for (std::string_view m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PROPFIND", "REPORT"}) {
        if (method == m) return true;
    }
    return false;
}

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using steady = std::chrono::steady_clock;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

// Errors come back as values: a failed step is a result, not an exception. GCC 12 miscompiles a
// co_await written directly as an if/while condition or inside ?: (the coroutine resumes into an
// invalid state and crashes): results are bound to a variable first, as everywhere below.
constexpr auto with_error = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view user_agent = "agendad/0.1";
// Idle connections kept per origin. A client serves every mailbox of a source, and the mailboxes
// of a poll slot (daemon/poll_schedule.h) send at the same moment: fewer than that would close
// and reopen connections on every poll.
constexpr std::size_t max_idle_per_origin = 32;

// ---------------------------------------------------------------------------------------------
// URLs (RFC 3986), strict: what we cannot send verbatim in a request line is rejected.

bool is_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_hex(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_unreserved(char c) {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
bool is_sub_delim(char c) {
    return std::string_view("!$&'()*+,;=").find(c) != std::string_view::npos;
}

char lower(char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

std::string lowercase(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

// pchar and "/" (and "?" in a query), with well-formed percent escapes.
bool valid_path_or_query(std::string_view s, bool query) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
            i += 2;
        } else if (!(is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' || c == '/' ||
                     (query && c == '?'))) {
            return false;
        }
    }
    return true;
}

// A scheme followed by ':' (RFC 3986 section 3.1) at the start of a reference.
bool has_scheme(std::string_view ref) {
    if (ref.empty() || !is_alpha(ref[0])) return false;
    for (char c : ref.substr(1)) {
        if (c == ':') return true;
        if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.')) return false;
    }
    return false;
}

std::string_view default_port(std::string_view scheme) {
    return scheme == "https" ? "443" : "80";
}

// "host:port", with brackets for IPv6: for Host headers and messages.
std::string host_port(const url& u) {
    const bool v6 = u.host.find(':') != std::string::npos;
    return (v6 ? "[" + u.host + "]" : u.host) + ":" + u.port;
}

// RFC 3986 section 5.2.4.
std::string remove_dot_segments(std::string_view path) {
    std::string in(path);
    std::string out;
    const auto drop_last_segment = [&out] {
        const auto slash = out.rfind('/');
        out.erase(slash == std::string::npos ? 0 : slash);
    };
    while (!in.empty()) {
        if (in.starts_with("../")) {
            in.erase(0, 3);
        } else if (in.starts_with("./")) {
            in.erase(0, 2);
        } else if (in.starts_with("/./")) {
            in.replace(0, 3, "/");
        } else if (in == "/.") {
            in = "/";
        } else if (in.starts_with("/../")) {
            in.replace(0, 4, "/");
            drop_last_segment();
        } else if (in == "/..") {
            in = "/";
            drop_last_segment();
        } else if (in == "." || in == "..") {
            in.clear();
        } else {
            auto end = in.find('/', in[0] == '/' ? 1 : 0);
            if (end == std::string::npos) end = in.size();
            out.append(in, 0, end);
            in.erase(0, end);
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Errors: a step, where, and why; never a header value (the Authorization header stays out).

std::string describe(const error_code& ec) {
    std::string text = ec.message();
    if (!text.empty()) text[0] = lower(text[0]);
    return text;
}

error make_error(failure kind, std::string_view step, const std::string& where,
                 std::string_view detail) {
    std::string message;
    message.append(step).append(" ").append(where).append(": ").append(detail);
    return error{kind, std::move(message)};
}

std::string timed_out(std::chrono::milliseconds limit) {
    return "timed out after " + std::to_string(limit.count()) + " ms";
}

// ---------------------------------------------------------------------------------------------

struct connection {
    // Exactly one of the two, by scheme.
    std::unique_ptr<beast::tcp_stream> plain;
    std::unique_ptr<tls_stream> tls;
    // Holds bytes read past a response; a connection with any left over is not reused.
    beast::flat_buffer buffer;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

    // An idle keep-alive connection is healthy when nothing is readable on it: a readable idle
    // socket means the server closed it (FIN, or a TLS close_notify) or sent something unasked.
    // Checking before reuse avoids most of the stale-connection retries.
    bool idle_and_healthy() {
        auto& socket = lowest().socket();
        if (!socket.is_open()) return false;
        pollfd p{};
        p.fd = socket.native_handle();
        p.events = POLLIN;
        return ::poll(&p, 1, 0) == 0;
    }
};

// What one request/response exchange on a connection gave.
struct exchange_outcome {
    std::optional<response> value;
    error err;
    bool any_response = false;  // at least one byte of a response arrived
    bool reusable = false;      // keep-alive allowed and the connection is clean
};

struct exchange_params {
    const std::string* request = nullptr;  // the whole request, as sent
    std::string where;
    steady::time_point deadline;
    std::chrono::milliseconds request_timeout{};
    std::size_t max_bytes = 0;
    bool head = false;
    // Set: a 2xx body is handed over as it arrives (a stream), each wait for bytes bounded by
    // idle_timeout instead of the deadline; false from it ends the stream.
    const std::function<bool(std::string_view)>* on_body = nullptr;
    std::chrono::milliseconds idle_timeout{};
};

using response_parser = bhttp::response_parser<bhttp::string_body>;

// Reads a response's header into `parser` (skipping interim 1xx responses); returns the header's
// size in bytes.
template <class Stream>
asio::awaitable<std::pair<error_code, std::size_t>> read_final_header(
    Stream& stream, beast::flat_buffer& buffer, std::optional<response_parser>& parser,
    const exchange_params& p, bool& any_response) {
    for (;;) {
        parser.emplace();
        parser->header_limit(static_cast<std::uint32_t>(
            std::min<std::size_t>(p.max_bytes, std::numeric_limits<std::uint32_t>::max())));
        parser->body_limit(p.max_bytes);
        if (p.head) parser->skip(true);
        auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, *parser, with_error);
        any_response = any_response || parser->got_some() || buffer.size() > 0;
        if (ec) co_return std::pair{ec, n};
        const unsigned status = parser->get().result_int();
        // 100 Continue and 103 Early Hints precede the real answer; 101 would switch protocols,
        // which we never ask for: let the caller see it.
        if (status < 100 || status >= 200 || status == 101) co_return std::pair{ec, n};
    }
}

// A response's status and headers (its body left to the caller).
response head_of(const bhttp::response<bhttp::string_body>& message) {
    response r;
    r.status = static_cast<int>(message.result_int());
    r.headers.reserve(static_cast<std::size_t>(std::distance(message.begin(), message.end())));
    for (const auto& field : message) {
        r.headers.push_back(header{std::string(field.name_string()), std::string(field.value())});
    }
    return r;
}

template <class Stream>
asio::awaitable<exchange_outcome> exchange(Stream& stream, connection& c,
                                           const exchange_params& p) {
    exchange_outcome out;
    c.lowest().expires_at(p.deadline);
    const auto fail = [&](failure kind, std::string_view step, const error_code& ec) {
        const bool late = ec == beast::error::timeout ||
                          (ec == asio::error::operation_aborted && steady::now() >= p.deadline);
        if (late) {
            out.err = make_error(failure::timeout, step, p.where, timed_out(p.request_timeout));
        } else if (ec == asio::error::operation_aborted) {
            out.err = make_error(failure::timeout, step, p.where, "cancelled");
        } else {
            out.err = make_error(kind, step, p.where, describe(ec));
        }
    };

    if (auto [ec, n] = co_await asio::async_write(stream, asio::buffer(*p.request), with_error);
        ec) {
        fail(failure::connect, "sending the request to", ec);
        co_return out;
    }

    std::optional<response_parser> parser;
    auto [header_ec, header_bytes] =
        co_await read_final_header(stream, c.buffer, parser, p, out.any_response);
    const auto read_failed = [&](const error_code& ec) {
        const bool limit = ec == bhttp::error::header_limit || ec == bhttp::error::body_limit ||
                           ec == bhttp::error::buffer_overflow;
        if (limit) {
            out.err = make_error(failure::too_large, "reading the response from", p.where,
                                 "over the limit of " + std::to_string(p.max_bytes) + " bytes");
        } else {
            fail(failure::protocol, "reading the response from", ec);
        }
    };
    if (header_ec) {
        read_failed(header_ec);
        co_return out;
    }
    // The limit is on headers and body together: refuse a declared length that cannot fit before
    // reading any of it, and give the rest of the budget to a chunked or EOF-delimited body.
    const std::size_t budget = p.max_bytes - std::min(p.max_bytes, header_bytes);
    // (HEAD, 204 and 304 answers are complete already: their Content-Length describes no body.)
    const auto length = parser->content_length();
    if (!parser->is_done() && length && *length > budget) {
        read_failed(bhttp::error::body_limit);
        co_return out;
    }
    const unsigned status = parser->get().result_int();
    if (p.on_body && status >= 200 && status < 300) {
        // A stream: no size limit on the whole (the receiver bounds what it keeps), a time
        // limit on each silence.
        parser->body_limit(std::numeric_limits<std::uint64_t>::max());
        while (!parser->is_done()) {
            c.lowest().expires_after(p.idle_timeout);
            auto [ec, n] = co_await bhttp::async_read_some(stream, c.buffer, *parser, with_error);
            if (ec == beast::error::timeout) {
                out.err = make_error(failure::timeout, "reading the stream from", p.where,
                                     "nothing for " + std::to_string(p.idle_timeout.count()) +
                                         " ms");
                co_return out;
            }
            if (ec) {
                fail(failure::protocol, "reading the stream from", ec);
                co_return out;
            }
            std::string& piece = parser->get().body();
            if (piece.empty()) continue;
            const bool go_on = (*p.on_body)(piece);
            piece.clear();
            if (!go_on) break;
        }
        response r = head_of(parser->get());
        out.reusable = parser->is_done() && parser->keep_alive() && c.buffer.size() == 0;
        out.value = std::move(r);
        co_return out;
    }
    parser->body_limit(budget);
    // The body usually arrived with the header: what is in the buffer is parsed here, and a read
    // is started only for what is still missing (a whole answer then costs no second read
    // operation, nor its completion handler).
    parser->eager(true);
    while (!parser->is_done() && c.buffer.size() > 0) {
        error_code ec;
        const std::size_t used = parser->put(c.buffer.data(), ec);
        c.buffer.consume(used);
        if (ec == bhttp::error::need_more) break;
        if (ec) {
            read_failed(ec);
            co_return out;
        }
        if (used == 0) break;
    }
    if (!parser->is_done()) {
        if (auto [ec, n] = co_await bhttp::async_read(stream, c.buffer, *parser, with_error); ec) {
            read_failed(ec);
            co_return out;
        }
    }

    // The parser's view, not the message's: an EOF-delimited body leaves nothing to reuse.
    const bool keep_alive = parser->keep_alive();
    auto message = parser->release();
    response r = head_of(message);
    r.body = std::move(message.body());
    out.reusable = keep_alive && c.buffer.size() == 0;
    out.value = std::move(r);
    co_return out;
}

// Why a TLS handshake failed: OpenSSL's verification result ("certificate has expired", "IP
// address mismatch") says more than the alert ("certificate verify failed") does.
std::string tls_failure_detail(tls_stream& stream, const error_code& ec) {
    const long verify = SSL_get_verify_result(stream.native_handle());
    if (verify != X509_V_OK) {
        return std::string("certificate rejected: ") + X509_verify_cert_error_string(verify);
    }
    return describe(ec);
}

bool valid_token(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return is_alpha(c) || is_digit(c) ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

bool valid_field_value(std::string_view s) {
    return std::none_of(s.begin(), s.end(),
                        [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

bool valid_target(std::string_view t) {
    if (!t.starts_with('/')) return false;
    const auto q = t.find('?');
    return valid_path_or_query(t.substr(0, q), false) &&
           (q == std::string_view::npos || valid_path_or_query(t.substr(q + 1), true));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// url

std::optional<url> url::parse(std::string_view text) {
    const auto colon = text.find("://");
    if (colon == std::string_view::npos) return std::nullopt;
    url u;
    u.scheme = lowercase(text.substr(0, colon));
    if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
    std::string_view rest = text.substr(colon + 3);
    if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
        rest = rest.substr(0, hash);
    }
    const auto authority_end = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, authority_end);
    const std::string_view target =
        authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
    // Credentials in URLs end up in logs and Referer-like places: they go in settings instead.
    if (authority.find('@') != std::string_view::npos) return std::nullopt;

    std::string_view port;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        const std::string host(authority.substr(1, close - 1));
        error_code ec;
        asio::ip::make_address_v6(host, ec);
        // No zone identifiers ("fe80::1%25eth0"): they mean nothing to a remote server.
        if (ec || host.find('%') != std::string::npos) return std::nullopt;
        u.host = lowercase(host);
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (!after.starts_with(':')) return std::nullopt;
            port = after.substr(1);
        }
    } else {
        const auto port_colon = authority.find(':');
        const auto host = authority.substr(0, port_colon);
        if (host.empty() || !std::all_of(host.begin(), host.end(), is_unreserved)) {
            return std::nullopt;
        }
        u.host = lowercase(host);
        if (port_colon != std::string_view::npos) port = authority.substr(port_colon + 1);
    }

    if (port.empty()) {
        u.port = default_port(u.scheme);
    } else {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit))
            return std::nullopt;
        const int number = std::stoi(std::string(port));
        if (number < 1 || number > 65535) return std::nullopt;
        u.port = std::to_string(number);
    }

    // "http://h?q" has an empty path: the request line needs "/?q".
    u.target = target.starts_with('/') ? std::string(target) : "/" + std::string(target);
    if (!valid_target(u.target)) return std::nullopt;
    return u;
}

std::string url::origin() const {
    const bool v6 = host.find(':') != std::string::npos;
    std::string text = scheme + "://" + (v6 ? "[" + host + "]" : host);
    if (port != default_port(scheme)) text += ":" + port;
    return text;
}

std::optional<url> url::resolve(std::string_view href) const {
    std::string_view ref = href;
    if (const auto hash = ref.find('#'); hash != std::string_view::npos) ref = ref.substr(0, hash);
    if (has_scheme(ref)) return parse(ref);
    if (ref.starts_with("//")) return parse(scheme + ":" + std::string(ref));

    const auto base_q = target.find('?');
    const std::string_view base_path = std::string_view(target).substr(0, base_q);
    const std::string_view base_query =
        base_q == std::string::npos ? std::string_view{} : std::string_view(target).substr(base_q);
    const auto q = ref.find('?');
    const std::string_view path = ref.substr(0, q);
    const std::string_view query = q == std::string_view::npos ? std::string_view{} : ref.substr(q);

    std::string merged;
    if (path.empty()) {
        merged =
            std::string(base_path) + std::string(q == std::string_view::npos ? base_query : query);
    } else if (path.starts_with('/')) {
        merged = remove_dot_segments(path) + std::string(query);
    } else {
        // RFC 3986 section 5.2.3: the base path up to its last "/", then the reference.
        const auto slash = base_path.rfind('/');
        const std::string joined =
            (slash == std::string_view::npos ? std::string("/")
                                             : std::string(base_path.substr(0, slash + 1))) +
            std::string(path);
        merged = remove_dot_segments(joined) + std::string(query);
    }
    if (merged.empty() || merged.starts_with('?')) merged.insert(0, "/");
    return parse(origin() + merged);
}

bool url::is_loopback() const {
    if (iequals(host, "localhost")) return true;
    error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) return false;
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
        return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).is_loopback();
    }
    return address.is_loopback();
}

std::optional<std::string_view> response::find(std::string_view name) const {
    for (const auto& h : headers) {
        if (iequals(h.name, name)) return std::string_view(h.value);
    }
    return std::nullopt;
}

std::string basic_authorization(std::string_view user, std::string_view password) {
    std::string plain;
    plain.append(user).append(":").append(password);
    return "Basic " + encoding::base64(plain);
}

// ---------------------------------------------------------------------------------------------
// client

struct client::impl {
    asio::any_io_executor executor;
    tls_options tls;
    limits lim;
    ssl::context context{ssl::context::tls_client};
    std::string context_error;  // a CA file that could not be loaded fails every https request
    std::map<std::string, std::vector<std::unique_ptr<connection>>> idle;
    std::map<std::string, std::unique_ptr<gate>> connecting;  // lim.max_new_connections_per_origin

    impl(asio::any_io_executor ex, tls_options t, limits l)
        : executor(std::move(ex)), tls(std::move(t)), lim(l) {
        SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
        if (!tls.verify) {
            context.set_verify_mode(ssl::verify_none);
            return;
        }
        context.set_verify_mode(ssl::verify_peer);
        error_code ec;
        // A machine without a system store still works with an explicit ca_file.
        context.set_default_verify_paths(ec);
        if (!tls.ca_file.empty()) {
            context.load_verify_file(tls.ca_file.string(), ec);
            if (ec) context_error = "loading CA file " + tls.ca_file.string() + ": " + describe(ec);
        }
    }

    std::unique_ptr<connection> take_idle(const std::string& origin) {
        const auto it = idle.find(origin);
        if (it == idle.end()) return nullptr;
        auto& pool = it->second;
        while (!pool.empty()) {
            auto c = std::move(pool.back());
            pool.pop_back();
            if (c->idle_and_healthy()) return c;
        }
        return nullptr;
    }

    void keep_idle(const std::string& origin, std::unique_ptr<connection> c) {
        c->lowest().expires_never();
        auto& pool = idle[origin];
        if (pool.size() < max_idle_per_origin) pool.push_back(std::move(c));
    }

    asio::awaitable<result<response>> send_over(
        const url& base, const request& r, channel::state* held,
        const std::function<bool(std::string_view)>* on_body = nullptr,
        std::chrono::milliseconds idle_timeout = {});

    // Resolves with `deadline` as the limit. Asio cannot interrupt getaddrinfo, so the lookup
    // runs on its own and reports to a shared state; we stop waiting for it at the deadline.
    asio::awaitable<result<tcp::resolver::results_type>> resolve(
        const url& u, const std::string& where, const steady::time_point& deadline) {
        struct lookup {
            explicit lookup(const asio::any_io_executor& ex) : resolver(ex), done(ex) {}
            tcp::resolver resolver;
            asio::steady_timer done;
            bool finished = false;
            error_code ec;
            tcp::resolver::results_type results;
        };
        // An address needs no lookup (nor the resolver's thread).
        error_code not_an_address;
        const auto address = asio::ip::make_address(u.host, not_an_address);
        if (!not_an_address) {
            unsigned long port = 0;
            const auto [end, bad] =
                std::from_chars(u.port.data(), u.port.data() + u.port.size(), port);
            if (bad == std::errc{} && end == u.port.data() + u.port.size() && port <= 65535) {
                co_return tcp::resolver::results_type::create(
                    tcp::endpoint(address, static_cast<unsigned short>(port)), u.host, u.port);
            }
        }
        auto state = std::make_shared<lookup>(executor);
        state->done.expires_at(deadline);
        state->resolver.async_resolve(
            u.host, u.port, [state](const error_code& ec, tcp::resolver::results_type results) {
                state->finished = true;
                state->ec = ec;
                state->results = std::move(results);
                // Expiring (rather than cancelling) also wakes a wait that has not started yet.
                state->done.expires_at(steady::time_point::min());
            });
        co_await state->done.async_wait(with_error);
        if (!state->finished) {
            state->resolver.cancel();
            co_return make_error(failure::resolve, "resolving", where,
                                 timed_out(std::min(lim.connect_timeout, lim.request_timeout)));
        }
        if (state->ec)
            co_return make_error(failure::resolve, "resolving", where, describe(state->ec));
        co_return std::move(state->results);
    }

    // Resolve, connect and (for https) the TLS handshake, all within the connect deadline.
    asio::awaitable<result<std::unique_ptr<connection>>> connect(
        const url& u, const std::string& where, const steady::time_point& deadline) {
        auto endpoints = co_await resolve(u, where, deadline);
        if (!endpoints) co_return endpoints.error();

        auto c = std::make_unique<connection>();
        if (u.scheme == "https") {
            c->tls = std::make_unique<tls_stream>(executor, context);
        } else {
            c->plain = std::make_unique<beast::tcp_stream>(executor);
        }
        const auto late = [&](const error_code& ec) {
            return ec == beast::error::timeout ||
                   (ec == asio::error::operation_aborted && steady::now() >= deadline);
        };
        c->lowest().expires_at(deadline);
        if (auto [ec, ep] = co_await c->lowest().async_connect(*endpoints, with_error); ec) {
            co_return make_error(
                late(ec) ? failure::timeout : failure::connect, "connecting to", where,
                late(ec) ? timed_out(std::min(lim.connect_timeout, lim.request_timeout))
                         : describe(ec));
        }
        if (!c->tls) co_return c;

        SSL* ssl_handle = c->tls->native_handle();
        error_code not_ip;
        asio::ip::make_address(u.host, not_ip);
        // SNI carries host names only (RFC 6066); IP literals are checked against the
        // certificate's IP subjectAltNames instead.
        if (not_ip && SSL_set_tlsext_host_name(ssl_handle, u.host.c_str()) != 1) {
            co_return make_error(failure::tls, "TLS handshake with", where, "cannot set SNI");
        }
        if (tls.verify) {
            X509_VERIFY_PARAM* param = SSL_get0_param(ssl_handle);
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            const int ok = not_ip ? X509_VERIFY_PARAM_set1_host(param, u.host.c_str(), 0)
                                  : X509_VERIFY_PARAM_set1_ip_asc(param, u.host.c_str());
            if (ok != 1) {
                co_return make_error(failure::tls, "TLS handshake with", where,
                                     "cannot set the expected host name");
            }
        }
        if (auto [ec] = co_await c->tls->async_handshake(ssl::stream_base::client, with_error);
            ec) {
            if (late(ec)) {
                co_return make_error(failure::timeout, "TLS handshake with", where,
                                     timed_out(std::min(lim.connect_timeout, lim.request_timeout)));
            }
            co_return make_error(failure::tls, "TLS handshake with", where,
                                 tls_failure_detail(*c->tls, ec));
        }
        co_return c;
    }
};

struct channel::state {
    std::string origin;
    std::unique_ptr<connection> held;
    bool reused = false;
};

channel::channel() : state_(std::make_unique<state>()) {}
channel::~channel() = default;
channel::channel(channel&&) noexcept = default;
channel& channel::operator=(channel&&) noexcept = default;
bool channel::is_open() const {
    return state_ && state_->held != nullptr;
}
bool channel::reused() const {
    return state_ && state_->reused;
}
void channel::close() {
    if (state_) state_->held.reset();
}

client::client(boost::asio::any_io_executor executor, tls_options tls, limits lim)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(tls), lim)) {}

client::~client() = default;

boost::asio::awaitable<result<response>> client::send(const url& base, const request& r) {
    co_return co_await impl_->send_over(base, r, nullptr);
}

boost::asio::awaitable<result<response>> client::send(const url& base, const request& r,
                                                      channel& ch) {
    if (!ch.state_) ch.state_ = std::make_unique<channel::state>();
    co_return co_await impl_->send_over(base, r, ch.state_.get());
}

// The one send: over the shared pool (`held` null) or a channel's own connection.
boost::asio::awaitable<result<response>> client::stream(
    const url& base, const request& r, channel& ch,
    const std::function<bool(std::string_view)>& on_body, std::chrono::milliseconds idle_timeout) {
    if (!ch.state_) ch.state_ = std::make_unique<channel::state>();
    co_return co_await impl_->send_over(base, r, ch.state_.get(), &on_body, idle_timeout);
}

boost::asio::awaitable<result<response>> client::impl::send_over(
    const url& base, const request& r, channel::state* held,
    const std::function<bool(std::string_view)>* on_body, std::chrono::milliseconds idle_timeout) {
    impl& self = *this;
    const std::string where = host_port(base);
    const std::string origin = base.origin();
    const std::string& target = r.target.empty() ? base.target : r.target;

    if (base.scheme != "http" && base.scheme != "https") {
        co_return make_error(failure::protocol, "sending to", where, "not an http(s) URL");
    }
    if (base.scheme == "https" && !self.context_error.empty()) {
        co_return error{failure::tls, self.context_error};
    }
    if (!valid_token(r.method) || !valid_target(target)) {
        co_return make_error(failure::protocol, "sending to", where, "invalid method or target");
    }

    // The request as it goes on the wire, written here in one piece: every poll of every
    // mailbox sends one, and Beast's serializer cost more than the rest of a poll together.
    std::string wire;
    std::size_t size = r.method.size() + target.size() + where.size() + r.body.size() + 128;
    for (const auto& h : r.headers) size += h.name.size() + h.value.size() + 4;
    wire.reserve(size);
    wire.append(r.method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
    const bool default_port_used = base.port == default_port(base.scheme);
    const bool v6 = base.host.find(':') != std::string::npos;
    if (!default_port_used) {
        wire.append(where);
    } else if (v6) {
        wire.append("[").append(base.host).append("]");
    } else {
        wire.append(base.host);
    }
    wire.append("\r\n");
    bool own_user_agent = false;
    for (const auto& h : r.headers) {
        if (!valid_token(h.name) || !valid_field_value(h.value)) {
            // The name only: the value may be a credential.
            co_return make_error(failure::protocol, "sending to", where,
                                 "invalid header " + (valid_token(h.name) ? h.name : "name"));
        }
        // Framing and routing are ours; a caller's User-Agent replaces the default.
        if (iequals(h.name, "host") || iequals(h.name, "content-length") ||
            iequals(h.name, "transfer-encoding") || iequals(h.name, "connection")) {
            continue;
        }
        if (iequals(h.name, "user-agent")) {
            if (own_user_agent) continue;
            own_user_agent = true;
        }
        wire.append(h.name).append(": ").append(h.value).append("\r\n");
    }
    if (!own_user_agent) wire.append("User-Agent: ").append(user_agent).append("\r\n");
    wire.append("Connection: keep-alive\r\n");
    // As RFC 9110 §8.6 has it: a length for any body, and for the methods that expect one.
    if (!r.body.empty() || iequals(r.method, "POST") || iequals(r.method, "PUT") ||
        iequals(r.method, "PATCH") || iequals(r.method, "OPTIONS")) {
        wire.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
    }
    wire.append("\r\n").append(r.body);

    exchange_params params;
    params.request = &wire;
    params.where = where;
    params.request_timeout = self.lim.request_timeout;
    params.max_bytes = self.lim.max_response_bytes;
    params.head = iequals(r.method, "HEAD");
    params.on_body = on_body;
    params.idle_timeout = idle_timeout;

    std::unique_ptr<connection> c;
    if (!held) {
        c = self.take_idle(origin);
    } else {
        held->reused = false;
        if (held->held && held->origin == origin && held->held->idle_and_healthy()) {
            c = std::move(held->held);
        }
        held->held.reset();
    }
    // A request that needs a new connection waits for a turn first, if the origin is limited;
    // one over a kept-alive connection does not. Waiting is not part of the request's time.
    std::optional<agendad::calendar::http::held> turn;
    bool started = false;
    for (;;) {
        if (!c && !turn && self.lim.max_new_connections_per_origin > 0) {
            auto& g = self.connecting[origin];
            if (!g) {
                g = std::make_unique<gate>(
                    static_cast<int>(self.lim.max_new_connections_per_origin));
            }
            gate& mine = *g;
            co_await mine.acquire();
            turn.emplace(mine);
            // Another request may have finished meanwhile and left its connection (a retry,
            // though, goes on a new one).
            if (!held && !started) c = self.take_idle(origin);
        }
        if (!started) {
            started = true;
            params.deadline = steady::now() + self.lim.request_timeout;
        }
        const bool reused = c != nullptr;
        if (held) held->reused = reused;
        if (!c) {
            const auto connect_deadline =
                std::min(params.deadline, steady::now() + self.lim.connect_timeout);
            auto fresh = co_await self.connect(base, where, connect_deadline);
            if (!fresh) co_return fresh.error();
            c = std::move(*fresh);
        }
        exchange_outcome out;
        if (c->tls) {
            out = co_await exchange(*c->tls, *c, params);
        } else {
            out = co_await exchange(*c->plain, *c, params);
        }
        if (out.value) {
            if (out.reusable && held) {
                c->lowest().expires_never();
                held->origin = origin;
                held->held = std::move(c);
            } else if (out.reusable) {
                self.keep_idle(origin, std::move(c));
            }
            co_return std::move(*out.value);
        }
        c.reset();
        // A kept-alive connection that failed before any byte of an answer: the server dropped it
        // as the request went out (idle timeout races), so the request goes again, once, on a new
        // connection. Only an idempotent request, though (RFC 9110 §9.2.2): the server may have
        // received a POST (a Graph decline) before the connection broke. Once a response byte
        // arrived the server may have acted on any request: that is an error to report, never a
        // reason to send it twice.
        if (reused && !out.any_response && out.err.kind != failure::timeout &&
            (is_idempotent(r.method) || r.repeatable)) {
            continue;
        }
        co_return std::move(out.err);
    }
}

namespace {

// For Retry-After: spaces and tabs around a header value, an HTTP-date's month, its numbers.
std::string_view trim_blanks(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

int month_number(std::string_view m) {
    static constexpr const char* names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; ++i) {
        if (encoding::iequals(m, names[i])) return i + 1;
    }
    return 0;
}

bool digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

// Retry-After (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date (IMF-fixdate, "Sun, 06 Nov
// 1994 08:49:37 GMT"); a date in the past is no wait. nullopt: not readable.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view text,
                                                      std::chrono::system_clock::time_point now) {
    text = trim_blanks(text);
    if (digits(text)) {
        // Absurd, but a number: "too long".
        if (text.size() > 9) return std::chrono::seconds{999999999};
        return std::chrono::seconds{std::stoll(std::string(text))};
    }
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    const auto comma = text.find(", ");
    if (comma == std::string_view::npos) return std::nullopt;
    const std::string_view rest = text.substr(comma + 2);
    if (rest.size() != 24 || rest.substr(20) != " GMT") return std::nullopt;
    const std::string_view day = rest.substr(0, 2), month = rest.substr(3, 3),
                           year = rest.substr(7, 4), hh = rest.substr(12, 2),
                           mm = rest.substr(15, 2), ss = rest.substr(18, 2);
    if (rest[2] != ' ' || rest[6] != ' ' || rest[11] != ' ' || rest[14] != ':' || rest[17] != ':' ||
        !digits(day) || !digits(year) || !digits(hh) || !digits(mm) || !digits(ss)) {
        return std::nullopt;
    }
    const int mon = month_number(month);
    if (mon == 0) return std::nullopt;
    using namespace std::chrono;
    const year_month_day ymd{std::chrono::year{std::stoi(std::string(year))},
                             std::chrono::month{static_cast<unsigned>(mon)},
                             std::chrono::day{static_cast<unsigned>(std::stoi(std::string(day)))}};
    if (!ymd.ok()) return std::nullopt;
    const int h = std::stoi(std::string(hh)), mi = std::stoi(std::string(mm)),
              s = std::stoi(std::string(ss));
    if (h > 23 || mi > 59 || s > 60) return std::nullopt;
    const sys_seconds when = sys_days{ymd} + hours{h} + minutes{mi} + seconds{s};
    const auto left = duration_cast<seconds>(when - now);
    return left.count() > 0 ? left : seconds{0};
}

}  // namespace agendad::calendar::http
