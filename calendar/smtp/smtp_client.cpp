#include "calendar/smtp/smtp_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/encoding.h"

namespace agendad::calendar::smtp {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;
using send_result = boost::system::result<void, error>;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; real servers stay far below. The bound is
// generous but finite, so a hostile or broken server cannot make us buffer without end.
constexpr std::size_t max_reply_line = 2048;
constexpr std::size_t max_reply_lines = 100;
// A write of the message is split so that each piece gets its own timeout: a large message on a
// slow link is not a stalled one.
constexpr std::size_t write_chunk = std::size_t{64} << 10;
// Server text quoted in an error message: enough to diagnose, not a log flood.
constexpr std::size_t max_shown = 400;

// --- small text helpers ---

using encoding::lower;

std::string upper(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return out;
}

// Text from the server (or from the caller's addresses) for a log line: printable ASCII as is,
// everything else '?', so that a reply cannot forge log lines or smuggle terminal escapes.
std::string shown(std::string_view s) {
    std::string out;
    for (const char c : s.substr(0, std::min(s.size(), max_shown))) {
        const auto b = static_cast<unsigned char>(c);
        out += (b >= 0x20 && b < 0x7F) ? c : '?';
    }
    if (s.size() > max_shown) out += "...";
    return out;
}

using encoding::base64;

void replace_all(std::string& text, std::string_view what, std::string_view with) {
    if (what.empty()) return;
    for (auto at = text.find(what); at != std::string::npos;
         at = text.find(what, at + with.size())) {
        text.replace(at, what.size(), with);
    }
}

// A host as written in settings, without the brackets of "[::1]" or a trailing root dot.
std::string bare_host(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
    return std::string(host);
}

std::optional<asio::ip::address> ip_literal(const std::string& host) {
    error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    return address;
}

bool is_loopback(const asio::ip::address& a) {
    if (a.is_v4()) return a.to_v4().is_loopback();
    const auto v6 = a.to_v6();
    // ::ffff:127.0.0.1 is 127.0.0.1 on a dual-stack socket.
    if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).is_loopback();
    return v6.is_loopback();
}

// 127.0.0.0/8, ::1 and the name "localhost": the only hosts to which mail may go in clear text,
// because the bytes never leave the machine.
bool is_loopback_host(const std::string& host) {
    if (lower(host) == "localhost") return true;
    const auto address = ip_literal(host);
    return address && is_loopback(*address);
}

// An envelope address as it goes between angle brackets: no controls, spaces or brackets, which
// would end the command or start another one (SMTP command injection). Non-ASCII is allowed here
// and needs SMTPUTF8 later.
bool is_path(std::string_view address) {
    // RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its brackets.
    if (address.size() > 254) return false;
    return std::none_of(address.begin(), address.end(), [](char c) {
        const auto b = static_cast<unsigned char>(c);
        return b <= 0x20 || b == 0x7F || c == '<' || c == '>';
    });
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return (c & 0x80) == 0; });
}

constexpr std::string_view final_dot = ".\r\n";

// The message as it goes after DATA: every line break CRLF (a stray LF or CR would be a bare line
// break, which RFC 5321 §2.3.8 forbids and servers treat inconsistently), a leading '.' doubled
// (§4.5.2, transparency), a final CRLF, then the terminating ".\r\n".
std::string data_body(std::string_view message) {
    std::string out;
    out.reserve(message.size() + message.size() / 64 + 8);
    bool line_start = true;
    for (std::size_t i = 0; i < message.size(); ++i) {
        const char c = message[i];
        if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') ++i;
            out += "\r\n";
            line_start = true;
            continue;
        }
        if (line_start && c == '.') out += '.';
        out += c;
        line_start = false;
    }
    if (!line_start) out += "\r\n";
    out += final_dot;
    return out;
}

// --- replies ---

struct reply {
    int code = 0;
    std::vector<std::string> lines;  // the text after "250-" / "250 "

    int kind() const { return code / 100; }
    // "550 5.1.1 no such user" (the lines of a multi-line reply joined), for messages.
    std::string text() const {
        std::string out = std::to_string(code);
        for (const auto& line : lines) {
            if (!line.empty()) out += ' ' + line;
        }
        return out;
    }
};

// What EHLO said the server can do (RFC 5321 §4.1.1.1, the keywords after the first line).
struct capabilities {
    bool starttls = false;
    bool eight_bit_mime = false;    // RFC 6152
    bool smtputf8 = false;          // RFC 6531
    bool size_known = false;        // RFC 1870
    std::uint64_t size_limit = 0;   // 0: no fixed limit
    std::vector<std::string> auth;  // mechanisms, upper-case (RFC 4954)

    bool offers_auth(std::string_view mechanism) const {
        return std::find(auth.begin(), auth.end(), mechanism) != auth.end();
    }
};

std::vector<std::string> words(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        const std::size_t start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
        if (i > start) out.emplace_back(s.substr(start, i - start));
    }
    return out;
}

capabilities parse_ehlo(const reply& r) {
    capabilities caps;
    // The first line is the server's name and greeting, not a keyword.
    for (std::size_t i = 1; i < r.lines.size(); ++i) {
        auto w = words(r.lines[i]);
        if (w.empty()) continue;
        std::string keyword = upper(w.front());
        // Old servers announce "AUTH=LOGIN PLAIN" (pre-RFC 4954 Outlook); the mechanisms count.
        if (keyword.rfind("AUTH=", 0) == 0) {
            w.front() = keyword.substr(5);
            keyword = "AUTH";
        } else {
            w.erase(w.begin());
        }
        if (keyword == "STARTTLS") {
            caps.starttls = true;
        } else if (keyword == "8BITMIME") {
            caps.eight_bit_mime = true;
        } else if (keyword == "SMTPUTF8") {
            caps.smtputf8 = true;
        } else if (keyword == "SIZE") {
            caps.size_known = true;
            if (!w.empty() && !w.front().empty() &&
                std::all_of(w.front().begin(), w.front().end(),
                            [](char c) { return c >= '0' && c <= '9'; }) &&
                w.front().size() < 19) {
                caps.size_limit = std::stoull(w.front());
            }
        } else if (keyword == "AUTH") {
            for (const auto& m : w) {
                if (!m.empty()) caps.auth.push_back(upper(m));
            }
        }
    }
    return caps;
}

// One SMTP dialogue: the connection (plain, then maybe TLS), the reply buffer, and the rules for
// turning every outcome into an `error` that names the step and the server.
class session final {
  public:
    session(const asio::any_io_executor& executor, const settings& s, const send_options& options)
        : executor_(executor),
          settings_(s),
          options_(options),
          host_(bare_host(s.host)),
          label_((host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + s.port),
          loopback_(is_loopback_host(host_)) {}

    asio::awaitable<send_result> run(const std::string& from,
                                     const std::vector<std::string>& recipients,
                                     const std::string& message) {
        auto outcome = co_await dialogue(from, recipients, message);
        // After a well-formed refusal the server is waiting for a command: say goodbye politely.
        // After a transport or protocol failure the dialogue is lost; just close.
        if (outcome.has_error() && in_sync_) co_await quit();
        close();
        co_return outcome;
    }

  private:
    template <class T>
    using result = boost::system::result<T, error>;

    // --- errors ---

    error fail(failure kind, const std::string& step, const std::string& detail,
               int code = 0) const {
        std::string message = step + ": " + detail + " (" + label_ + ")";
        // A server may echo what it got; what we got from the caller must never reach a log.
        if (!settings_.password.empty()) {
            replace_all(message, base64(plain_blob()), "***");
            replace_all(message, base64(settings_.password), "***");
            replace_all(message, settings_.password, "***");
        }
        return error{kind, code, std::move(message), maybe_delivered_};
    }

    // A reply that is not the one the step wanted: 4xx try later, 5xx as the step says (rejected
    // for the mail transaction, auth for AUTH, tls for STARTTLS), anything else is not SMTP as
    // we know it.
    error refused(const reply& r, const std::string& step,
                  failure permanent = failure::rejected) const {
        const std::string detail = shown(r.text());
        if (r.kind() == 4) return fail(failure::temporary, step, detail, r.code);
        if (r.kind() == 5) return fail(permanent, step, detail, r.code);
        return fail(failure::protocol, step, "unexpected reply " + detail, r.code);
    }

    error io_failure(const error_code& ec, const std::string& step) {
        in_sync_ = false;
        if (ec == beast::error::timeout) {
            return fail(failure::timeout, step,
                        "no answer within " + std::to_string(settings_.timeout.count()) + " ms");
        }
        if (ec == asio::error::eof || ec == ssl::error::stream_truncated ||
            ec == asio::error::connection_reset || ec == asio::error::broken_pipe) {
            return fail(failure::protocol, step, "the server closed the connection");
        }
        return fail(failure::protocol, step, ec.message());
    }

    error broken(const std::string& step, const std::string& detail) {
        in_sync_ = false;
        return fail(failure::protocol, step, detail);
    }

    // --- transport ---

    beast::tcp_stream& lowest() { return tls_ ? tls_->next_layer() : *tcp_; }

    void close() {
        if (!tcp_ && !tls_) return;
        error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().socket().close(ignored);
    }

    // getaddrinfo cannot be cancelled, so the resolver lives in state shared with its handler:
    // on a timeout we stop waiting, and the late answer lands in state nobody reads any more.
    struct resolve_state {
        explicit resolve_state(const asio::any_io_executor& executor)
            : resolver(executor), timer(executor) {}
        tcp::resolver resolver;
        asio::steady_timer timer;
        error_code ec;
        tcp::resolver::results_type results;
        bool done = false;
    };

    asio::awaitable<send_result> connect() {
        const std::string step = "connect";
        auto state = std::make_shared<resolve_state>(executor_);
        const auto literal = ip_literal(host_);
        const auto flags =
            literal ? tcp::resolver::numeric_host : tcp::resolver::address_configured;
        state->timer.expires_after(settings_.timeout);
        state->resolver.async_resolve(
            host_, settings_.port, flags,
            [state](const error_code& ec, tcp::resolver::results_type results) {
                state->ec = ec;
                state->results = std::move(results);
                state->done = true;
                state->timer.cancel();
            });
        co_await state->timer.async_wait(use_tuple);
        if (!state->done) {
            state->resolver.cancel();
            co_return fail(failure::timeout, "resolve",
                           "no answer within " + std::to_string(settings_.timeout.count()) + " ms");
        }
        if (state->ec) co_return fail(failure::connect, "resolve", state->ec.message());

        std::vector<tcp::endpoint> endpoints;
        for (const auto& entry : state->results) {
            // "localhost" was trusted as loopback by its name: hold the resolver to that.
            if (!loopback_ || is_loopback(entry.endpoint().address())) {
                endpoints.push_back(entry.endpoint());
            }
        }
        if (endpoints.empty()) {
            co_return fail(failure::connect, "resolve", "no loopback address for " + host_);
        }

        tcp_.emplace(executor_);
        tcp_->expires_after(settings_.timeout);
        auto [ec, endpoint] = co_await tcp_->async_connect(endpoints, use_tuple);
        (void)endpoint;
        if (ec == beast::error::timeout) {
            co_return fail(failure::timeout, step,
                           "no answer within " + std::to_string(settings_.timeout.count()) + " ms");
        }
        if (ec) co_return fail(failure::connect, step, ec.message());
        co_return send_result{};
    }

    send_result make_tls_context() {
        const std::string step = "TLS setup";
        ctx_.emplace(ssl::context::tls_client);
        // RFC 8996: TLS 1.0 and 1.1 are gone.
        if (SSL_CTX_set_min_proto_version(ctx_->native_handle(), TLS1_2_VERSION) != 1) {
            return fail(failure::tls, step, "cannot require TLS 1.2");
        }
        if (!settings_.verify) {
            ctx_->set_verify_mode(ssl::verify_none);
            return {};
        }
        error_code ec;
        // A missing system store is not fatal by itself: ca_file may be all we need.
        ctx_->set_default_verify_paths(ec);
        if (!settings_.ca_file.empty()) {
            ctx_->load_verify_file(settings_.ca_file.string(), ec);
            if (ec) {
                return fail(
                    failure::tls, step,
                    "cannot read ca_file " + settings_.ca_file.string() + ": " + ec.message());
            }
        }
        ctx_->set_verify_mode(ssl::verify_peer);
        return {};
    }

    asio::awaitable<send_result> handshake() {
        const std::string step = "TLS handshake";
        if (!ctx_) {
            auto made = make_tls_context();
            if (made.has_error()) co_return made;
        }
        tls_.emplace(std::move(*tcp_), *ctx_);
        tcp_.reset();
        SSL* native = tls_->native_handle();
        const auto literal = ip_literal(host_);
        // SNI carries host names only (RFC 6066 §3).
        if (!literal && SSL_set_tlsext_host_name(native, host_.c_str()) != 1) {
            co_return fail(failure::tls, step, "cannot set the server name");
        }
        if (settings_.verify) {
            // OpenSSL checks the name during the handshake, against subjectAltName: an address
            // against iPAddress entries, a name against dNSName entries.
            X509_VERIFY_PARAM* param = SSL_get0_param(native);
            X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            const int ok = literal ? X509_VERIFY_PARAM_set1_ip_asc(param, host_.c_str())
                                   : X509_VERIFY_PARAM_set1_host(param, host_.c_str(), 0);
            if (ok != 1) co_return fail(failure::tls, step, "cannot set the expected host name");
        }
        lowest().expires_after(settings_.timeout);
        auto [ec] = co_await tls_->async_handshake(ssl::stream_base::client, use_tuple);
        if (ec == beast::error::timeout) co_return io_failure(ec, step);
        if (ec) {
            in_sync_ = false;
            const long verified = SSL_get_verify_result(native);
            std::string detail = ec.message();
            if (verified != X509_V_OK) {
                detail = std::string("certificate not trusted: ") +
                         X509_verify_cert_error_string(verified);
            }
            co_return fail(failure::tls, step, detail);
        }
        co_return send_result{};
    }

    asio::awaitable<send_result> write(const std::string& bytes, const std::string& step) {
        co_return co_await write(bytes, 0, bytes.size(), step);
    }

    // bytes[from, to), in chunks with a timeout each.
    asio::awaitable<send_result> write(const std::string& bytes, std::size_t from, std::size_t to,
                                       const std::string& step) {
        for (std::size_t at = from; at < to; at += write_chunk) {
            const auto piece = asio::buffer(bytes.data() + at, std::min(write_chunk, to - at));
            lowest().expires_after(settings_.timeout);
            error_code ec;
            if (tls_) {
                std::tie(ec, std::ignore) = co_await asio::async_write(*tls_, piece, use_tuple);
            } else {
                std::tie(ec, std::ignore) = co_await asio::async_write(*tcp_, piece, use_tuple);
            }
            if (ec) co_return io_failure(ec, step);
        }
        co_return send_result{};
    }

    // One line without its CRLF (a bare LF is tolerated: the reply is read, not judged on it).
    asio::awaitable<result<std::string>> read_line(const std::string& step) {
        for (;;) {
            const auto newline = buffer_.find('\n');
            if (newline != std::string::npos) {
                std::string line = buffer_.substr(0, newline);
                buffer_.erase(0, newline + 1);
                if (!line.empty() && line.back() == '\r') line.pop_back();
                if (line.size() > max_reply_line) {
                    co_return broken(step, "a reply line longer than " +
                                               std::to_string(max_reply_line) + " bytes");
                }
                co_return line;
            }
            if (buffer_.size() > max_reply_line + 1) {
                co_return broken(
                    step, "a reply line longer than " + std::to_string(max_reply_line) + " bytes");
            }
            error_code ec;
            std::size_t n = 0;
            if (tls_) {
                std::tie(ec, n) = co_await tls_->async_read_some(asio::buffer(chunk_), use_tuple);
            } else {
                std::tie(ec, n) = co_await tcp_->async_read_some(asio::buffer(chunk_), use_tuple);
            }
            buffer_.append(chunk_.data(), n);
            if (ec) co_return io_failure(ec, step);
        }
    }

    // A whole reply (RFC 5321 §4.2): "250-first", "250-more", "250 last"; every line with the
    // same code. One timeout covers the whole reply, so a server that drips lines cannot keep us.
    asio::awaitable<result<reply>> read_reply(const std::string& step) {
        lowest().expires_after(settings_.timeout);
        reply r;
        for (;;) {
            auto line = co_await read_line(step);
            if (line.has_error()) co_return line.error();
            const std::string& text = *line;
            const bool digits =
                text.size() >= 3 && std::all_of(text.begin(), text.begin() + 3,
                                                [](char c) { return c >= '0' && c <= '9'; });
            const char separator = text.size() > 3 ? text[3] : ' ';
            if (!digits || (separator != ' ' && separator != '-')) {
                co_return broken(step, "not an SMTP reply: \"" + shown(text) + "\"");
            }
            const int code = std::stoi(text.substr(0, 3));
            if (code < 200 || code > 599) {
                co_return broken(step, "not an SMTP reply code: \"" + shown(text) + "\"");
            }
            if (!r.lines.empty() && code != r.code) {
                co_return broken(
                    step, "a multi-line reply with different codes: " + std::to_string(r.code) +
                              " then " + std::to_string(code));
            }
            r.code = code;
            r.lines.push_back(text.size() > 4 ? text.substr(4) : std::string());
            if (separator == ' ') break;
            if (r.lines.size() >= max_reply_lines) {
                co_return broken(
                    step, "a reply of more than " + std::to_string(max_reply_lines) + " lines");
            }
        }
        in_sync_ = true;
        co_return r;
    }

    // Sends `line` and CRLF, returns the reply. `step` names the command in messages, so that a
    // secret on the line never has to.
    asio::awaitable<result<reply>> command(const std::string& line, const std::string& step) {
        auto sent = co_await write(line + "\r\n", step);
        if (sent.has_error()) co_return sent.error();
        co_return co_await read_reply(step);
    }

    // --- the dialogue ---

    asio::awaitable<result<capabilities>> hello() {
        auto r = co_await command("EHLO " + settings_.helo_name, "EHLO");
        if (r.has_error()) co_return r.error();
        if (r->kind() == 2) co_return parse_ehlo(*r);
        // An RFC 821 server: HELO works, but it has no extensions, so neither STARTTLS nor AUTH;
        // only acceptable when neither is wanted.
        const bool helo_allowed = settings_.mode == security::none && settings_.user.empty();
        if ((r->code == 500 || r->code == 502) && helo_allowed) {
            auto h = co_await command("HELO " + settings_.helo_name, "HELO");
            if (h.has_error()) co_return h.error();
            if (h->kind() == 2) co_return capabilities{};
            co_return refused(*h, "HELO");
        }
        co_return refused(*r, "EHLO");
    }

    asio::awaitable<result<capabilities>> start_tls(const capabilities& caps) {
        const std::string step = "STARTTLS";
        if (!caps.starttls)
            co_return fail(failure::tls, step, "the server does not offer STARTTLS");
        auto r = co_await command("STARTTLS", step);
        if (r.has_error()) co_return r.error();
        if (r->kind() != 2) co_return refused(*r, step, failure::tls);
        // Bytes that came with the 220 were sent before TLS and would be read as if protected
        // (the CVE-2011-0411 injection): refuse rather than discard them silently.
        if (!buffer_.empty()) {
            co_return broken(step, "the server sent data after its STARTTLS reply");
        }
        auto shaken = co_await handshake();
        if (shaken.has_error()) co_return shaken.error();
        // RFC 3207 §4.2: what the server said before TLS is forgotten; ask again.
        co_return co_await hello();
    }

    asio::awaitable<send_result> authenticate(const capabilities& caps) {
        if (!tls_ && !loopback_) {
            co_return fail(failure::auth, "AUTH",
                           "refusing to send credentials without TLS to a remote host");
        }
        if (caps.offers_auth("PLAIN")) {
            auto r = co_await command("AUTH PLAIN " + base64(plain_blob()), "AUTH PLAIN");
            if (r.has_error()) co_return r.error();
            if (r->code == 235) co_return send_result{};
            co_return auth_refused(*r, "AUTH PLAIN");
        }
        if (caps.offers_auth("LOGIN")) {
            const std::string step = "AUTH LOGIN";
            auto r = co_await command("AUTH LOGIN", step);
            if (r.has_error()) co_return r.error();
            if (r->code != 334) co_return auth_refused(*r, step);
            r = co_await command(base64(settings_.user), step + " (user name)");
            if (r.has_error()) co_return r.error();
            if (r->code != 334) co_return auth_refused(*r, step + " (user name)");
            r = co_await command(base64(settings_.password), step + " (password)");
            if (r.has_error()) co_return r.error();
            if (r->code == 235) co_return send_result{};
            co_return auth_refused(*r, step + " (password)");
        }
        std::string offered;
        for (const auto& m : caps.auth) offered += (offered.empty() ? "" : " ") + m;
        co_return fail(failure::auth, "AUTH",
                       offered.empty() ? "the server does not offer AUTH"
                                       : "no mechanism we can use (offered: " + shown(offered) +
                                             "; we speak PLAIN and LOGIN)");
    }

    // RFC 4616: authzid (empty), authcid, password, NUL-separated; sent as the initial response.
    std::string plain_blob() const {
        std::string blob(1, '\0');
        blob += settings_.user;
        blob += '\0';
        blob += settings_.password;
        return blob;
    }

    // RFC 4954 §6: 454 is a temporary failure, 5xx (535 bad credentials, 534, 538) a refusal.
    error auth_refused(const reply& r, const std::string& step) const {
        return refused(r, step, failure::auth);
    }

    asio::awaitable<send_result> dialogue(const std::string& from,
                                          const std::vector<std::string>& recipients,
                                          const std::string& message) {
        // Checks that need no server come first, so that a bad call fails at once.
        if (host_.empty()) co_return fail(failure::connect, "connect", "no SMTP host configured");
        if (settings_.mode == security::none && !loopback_) {
            co_return fail(failure::tls, "connect",
                           "security none is allowed only to a loopback host; use starttls or "
                           "tls");
        }
        if (recipients.empty()) {
            co_return fail(failure::invalid, "RCPT TO", "the message has no recipients");
        }
        // The reverse path may be empty (<>, bounces); forward paths may not.
        if (!is_path(from)) {
            co_return fail(failure::invalid, "MAIL FROM:<" + shown(from) + ">",
                           "not a valid address");
        }
        for (const auto& to : recipients) {
            if (to.empty() || !is_path(to)) {
                co_return fail(failure::invalid, "RCPT TO:<" + shown(to) + ">",
                               "not a valid address");
            }
        }
        // The EHLO argument ends up on a command line like the addresses.
        if (settings_.helo_name.empty() || !is_path(settings_.helo_name)) {
            co_return fail(failure::invalid, "EHLO",
                           "not a valid host name: \"" + shown(settings_.helo_name) + "\"");
        }
        if (message.size() > max_message_bytes) {
            co_return fail(failure::invalid, "DATA",
                           "the message (" + std::to_string(message.size()) +
                               " bytes) is over the limit of " + std::to_string(max_message_bytes) +
                               " bytes");
        }
        const std::string body = data_body(message);

        auto connected = co_await connect();
        if (connected.has_error()) co_return connected;
        if (settings_.mode == security::tls) {
            auto shaken = co_await handshake();
            if (shaken.has_error()) co_return shaken;
        }

        auto greeting = co_await read_reply("greeting");
        if (greeting.has_error()) co_return greeting.error();
        if (greeting->kind() != 2) co_return refused(*greeting, "greeting");

        auto caps = co_await hello();
        if (caps.has_error()) co_return caps.error();
        if (settings_.mode == security::starttls) {
            caps = co_await start_tls(*caps);
            if (caps.has_error()) co_return caps.error();
        }
        if (!settings_.user.empty()) {
            auto authenticated = co_await authenticate(*caps);
            if (authenticated.has_error()) co_return authenticated;
        }

        // MAIL FROM with the parameters the server asked for (SIZE) or the message needs.
        const std::string mail_step = "MAIL FROM:<" + from + ">";
        std::string mail = mail_step;
        if (caps->size_known) mail += " SIZE=" + std::to_string(body.size());
        if (caps->size_limit > 0 && body.size() > caps->size_limit) {
            co_return fail(failure::rejected, mail_step,
                           "the message (" + std::to_string(body.size()) +
                               " bytes) is over the server's limit of " +
                               std::to_string(caps->size_limit) + " bytes");
        }
        if (!is_ascii(message)) {
            if (!caps->eight_bit_mime) {
                co_return fail(failure::rejected, mail_step,
                               "the message has 8-bit data and the server does not offer "
                               "8BITMIME");
            }
            mail += " BODY=8BITMIME";
        }
        const bool utf8_addresses =
            !is_ascii(from) || std::any_of(recipients.begin(), recipients.end(),
                                           [](const std::string& to) { return !is_ascii(to); });
        if (utf8_addresses) {
            if (!caps->smtputf8) {
                co_return fail(failure::rejected, mail_step,
                               "a non-ASCII address and the server does not offer SMTPUTF8");
            }
            mail += " SMTPUTF8";
        }
        auto r = co_await command(mail, mail_step);
        if (r.has_error()) co_return r.error();
        if (r->kind() != 2) co_return refused(*r, mail_step);

        for (const auto& to : recipients) {
            const std::string step = "RCPT TO:<" + to + ">";
            r = co_await command(step, step);
            if (r.has_error()) co_return r.error();
            if (r->kind() != 2) co_return refused(*r, step);
        }

        r = co_await command("DATA", "DATA");
        if (r.has_error()) co_return r.error();
        if (r->kind() != 3) co_return refused(*r, "DATA");

        // The message, then the final ".": before the dot nothing is delivered whatever happens
        // (a server must drop a transaction whose connection ends inside DATA, RFC 5321 §3.8);
        // after it, a missing answer leaves the outcome unknown.
        const std::string end_step = "DATA (end of message)";
        const std::size_t dot_at = body.size() - final_dot.size();
        auto sent = co_await write(body, 0, dot_at, end_step);
        if (sent.has_error()) co_return sent;
        if (options_.before_final_dot) {
            const bool go_on = options_.before_final_dot();
            if (!go_on) {
                in_sync_ = false;  // mid-DATA: no command can follow, only closing the connection
                co_return fail(failure::aborted, end_step,
                               "withdrawn by the caller before the final \".\"; the connection "
                               "was closed without it, so nothing was delivered");
            }
        }
        maybe_delivered_ = true;
        sent = co_await write(body, dot_at, body.size(), end_step);
        if (sent.has_error()) co_return sent;
        r = co_await read_reply(end_step);
        if (r.has_error()) co_return r.error();
        if (r->kind() != 2) {
            maybe_delivered_ = false;  // an answer, and it is no
            co_return refused(*r, end_step);
        }

        // The message is accepted: QUIT is courtesy, and its failure changes nothing.
        co_await quit();
        co_return send_result{};
    }

    asio::awaitable<void> quit() {
        auto r = co_await command("QUIT", "QUIT");
        (void)r;
        in_sync_ = false;
    }

    asio::any_io_executor executor_;
    const settings& settings_;
    const send_options& options_;
    std::string host_;   // without brackets
    std::string label_;  // "host:port" for messages
    bool loopback_ = false;
    bool in_sync_ = false;  // the last reply was whole: the server waits for our next command
    bool maybe_delivered_ = false;  // the final "." went out and no answer to it has come back
    std::optional<ssl::context> ctx_;
    std::optional<beast::tcp_stream> tcp_;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
    std::string buffer_;  // received, not yet consumed
    std::array<char, 4096> chunk_{};
};

}  // namespace

asio::awaitable<send_result> send_mail(const settings& s, const std::string& from,
                                       const std::vector<std::string>& recipients,
                                       const std::string& message) {
    const send_options none;
    co_return co_await send_mail(s, from, recipients, message, none);
}

asio::awaitable<send_result> send_mail(const settings& s, const std::string& from,
                                       const std::vector<std::string>& recipients,
                                       const std::string& message, const send_options& options) {
    const auto executor = co_await asio::this_coro::executor;
    session dialogue(executor, s, options);
    co_return co_await dialogue.run(from, recipients, message);
}

}  // namespace agendad::calendar::smtp
