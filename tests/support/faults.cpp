// The fault plan and the writers of faulty answers (support/faults.h). The writers write raw
// bytes rather than Beast messages: a fault is exactly what a well-behaved serializer would not
// produce (a length that lies, a body that stops, a byte at a time).
#include "support/faults.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/status.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <random>

namespace agendad::test_support {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);

// What oversize_length declares: 1 TiB, beyond any client's limit.
constexpr std::string_view oversize_length_value = "1099511627776";
// The piece of body written after it, and each chunk of oversize_chunked.
constexpr std::size_t filler_bytes = 64 * 1024;
// oversize_chunked stops on its own after this much (a client that reads without a limit).
constexpr std::size_t chunked_most = std::size_t{1} << 30;
constexpr std::size_t random_garbage_bytes = 4096;
// A trickled answer takes about this long in all (a short one at least half of it): longer than
// any sane timeout. Its bytes come at most this far apart, so that a client that gave up is
// noticed at the next write or the one after.
constexpr std::chrono::milliseconds trickle_total = 120s;
constexpr std::chrono::milliseconds trickle_fastest_byte = 200ms;
constexpr std::chrono::milliseconds trickle_slowest_byte = 500ms;

char lower(char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

bool icontains(std::string_view text, std::string_view part) {
    if (part.empty()) return true;
    return std::search(text.begin(), text.end(), part.begin(), part.end(), [](char x, char y) {
               return lower(x) == lower(y);
           }) != text.end();
}

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// --- the text content that with_invalid_utf8 spoils ------------------------------------------

// JSON: the start of every string value of these keys.
void json_text_starts(std::string_view body, std::vector<std::size_t>& at) {
    for (std::string_view key :
         {"subject", "content", "bodyPreview", "displayName", "name", "comment"}) {
        const std::string quoted = "\"" + std::string(key) + "\"";
        for (auto pos = body.find(quoted); pos != std::string_view::npos;
             pos = body.find(quoted, pos + 1)) {
            std::size_t i = pos + quoted.size();
            while (i < body.size() && is_space(body[i])) ++i;
            if (i >= body.size() || body[i] != ':') continue;
            ++i;
            while (i < body.size() && is_space(body[i])) ++i;
            if (i < body.size() && body[i] == '"') at.push_back(i + 1);
        }
    }
}

// XML: the start of the text of these elements, any prefix ("<t:Subject>", "<d:displayname>").
void xml_text_starts(std::string_view body, std::vector<std::size_t>& at) {
    for (std::string_view name :
         {"Subject", "Body", "DisplayName", "Name", "Location", "displayname"}) {
        for (auto lt = body.find('<'); lt != std::string_view::npos; lt = body.find('<', lt + 1)) {
            std::size_t i = lt + 1;
            std::size_t colon = i;
            while (colon < body.size() &&
                   (std::isalnum(static_cast<unsigned char>(body[colon])) || body[colon] == '_' ||
                    body[colon] == '-')) {
                ++colon;
            }
            if (colon < body.size() && body[colon] == ':') i = colon + 1;
            if (body.substr(i, name.size()) != name) continue;
            i += name.size();
            if (i >= body.size() || !(body[i] == '>' || is_space(body[i]))) continue;
            const auto gt = body.find('>', i);
            if (gt == std::string_view::npos || body[gt - 1] == '/') continue;
            if (gt + 1 < body.size() && body[gt + 1] != '<') at.push_back(gt + 1);
        }
    }
}

// iCalendar (also inside a CalDAV answer's calendar-data): the value of SUMMARY and DESCRIPTION.
void ical_text_starts(std::string_view body, std::vector<std::size_t>& at) {
    for (std::string_view property : {"SUMMARY", "DESCRIPTION"}) {
        for (auto pos = body.find(property); pos != std::string_view::npos;
             pos = body.find(property, pos + 1)) {
            if (pos != 0 && body[pos - 1] != '\n') continue;
            const std::size_t after = pos + property.size();
            if (after >= body.size() || (body[after] != ':' && body[after] != ';')) continue;
            const auto colon = body.find(':', after);
            const auto eol = body.find('\n', after);
            if (colon != std::string_view::npos && colon < eol) at.push_back(colon + 1);
        }
    }
}

// --- answers as bytes ----------------------------------------------------------------------

std::string reason_of(int status) {
    return std::string(beast::http::obsolete_reason(static_cast<beast::http::status>(status)));
}

// Status line and header fields of `a`, without framing, then `framing` ("Content-Length: 5").
std::string head_of(const fault_answer& a, const std::string& framing) {
    std::string out = "HTTP/1.1 " + std::to_string(a.status) + " " + reason_of(a.status) + "\r\n";
    for (const auto& [name, value] : a.headers) {
        if (iequals(name, "Content-Length") || iequals(name, "Transfer-Encoding") ||
            iequals(name, "Connection")) {
            continue;
        }
        out += name + ": " + value + "\r\n";
    }
    return out + framing + "\r\nConnection: close\r\n\r\n";
}

// The whole answer, complete and correctly framed.
std::string bytes_of(const fault_answer& a) {
    return head_of(a, "Content-Length: " + std::to_string(a.body.size())) + a.body;
}

fault_answer made_up(const fault_rule& rule, int status, std::string_view default_type,
                     std::string body) {
    fault_answer a;
    a.status = status;
    a.headers.emplace_back("Content-Type", rule.content_type.empty() ? std::string(default_type)
                                                                     : rule.content_type);
    a.body = std::move(body);
    return a;
}

std::string random_text(std::size_t n, std::size_t seed) {
    std::mt19937 random(static_cast<std::mt19937::result_type>(20261122 + seed));
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(random() & 0xFF);
    return out;
}

template <class Stream>
asio::awaitable<bool> write_all(Stream& stream, std::string_view bytes,
                                steady::time_point until) {
    beast::get_lowest_layer(stream).expires_at(until);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(bytes), with_error);
    co_return !ec;
}

// Reads (and drops) whatever comes until the client closes the connection or `until`.
template <class Stream>
asio::awaitable<void> wait_for_close(Stream& stream, steady::time_point until) {
    std::array<char, 4096> sink;
    for (;;) {
        beast::get_lowest_layer(stream).expires_at(until);
        auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), with_error);
        if (ec) co_return;
    }
}

// A TCP RST instead of an orderly close: SO_LINGER with a zero timeout, then close.
void reset(beast::tcp_stream& lowest) {
    boost::system::error_code ec;
    lowest.socket().set_option(asio::socket_base::linger(true, 0), ec);
    lowest.socket().close(ec);
}

}  // namespace

std::string_view name_of(fault f) {
    switch (f) {
        case fault::hang:
            return "hang";
        case fault::trickle:
            return "trickle";
        case fault::reset_mid_body:
            return "reset_mid_body";
        case fault::oversize_length:
            return "oversize_length";
        case fault::oversize_chunked:
            return "oversize_chunked";
        case fault::invalid_utf8:
            return "invalid_utf8";
        case fault::garbage_random:
            return "garbage_random";
        case fault::garbage_truncated:
            return "garbage_truncated";
        case fault::garbage_html:
            return "garbage_html";
        case fault::error_500:
            return "error_500";
        case fault::throttle_429:
            return "throttle_429";
    }
    return "unknown";
}

bool mangles(fault f) {
    return f == fault::trickle || f == fault::reset_mid_body || f == fault::invalid_utf8 ||
           f == fault::garbage_truncated;
}

std::optional<std::string_view> request_view::header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
        if (iequals(n, name)) return v;
    }
    return std::nullopt;
}

bool fault_match::matches(const request_view& r) const {
    if (!method.empty() && !iequals(method, r.method)) return false;
    if (!target_contains.empty() && r.target.find(target_contains) == std::string_view::npos)
        return false;
    if (!header.empty()) {
        const auto value = r.header(header);
        if (!value || !icontains(*value, header_contains)) return false;
    }
    if (!body_contains.empty() && r.body.find(body_contains) == std::string_view::npos)
        return false;
    return true;
}

void fault_plan::add(fault_rule rule) {
    std::lock_guard lock(mu_);
    const int left = rule.times;
    rules_.push_back(pending{std::move(rule), left});
}

void fault_plan::clear() {
    std::lock_guard lock(mu_);
    rules_.clear();
}

std::optional<fault_hit> fault_plan::take(const request_view& r) {
    std::lock_guard lock(mu_);
    for (auto it = rules_.begin(); it != rules_.end(); ++it) {
        if (!it->rule.match.matches(r)) continue;
        fault_hit hit{log_.size(), it->rule};
        if (it->left > 0 && --it->left == 0) rules_.erase(it);
        log_.push_back(injection{hit.rule.kind, std::string(r.method), std::string(r.target),
                                 steady::now(), std::nullopt});
        return hit;
    }
    return std::nullopt;
}

void fault_plan::ended(std::size_t id) {
    std::lock_guard lock(mu_);
    if (id < log_.size() && !log_[id].ended) log_[id].ended = steady::now();
}

std::vector<fault_plan::injection> fault_plan::injections() const {
    std::lock_guard lock(mu_);
    return log_;
}

int fault_plan::injected() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(log_.size());
}

int fault_plan::injected(fault f) const {
    std::lock_guard lock(mu_);
    return static_cast<int>(
        std::count_if(log_.begin(), log_.end(), [f](const injection& i) { return i.kind == f; }));
}

std::optional<std::string> with_invalid_utf8(std::string_view body) {
    std::vector<std::size_t> at;
    json_text_starts(body, at);
    xml_text_starts(body, at);
    ical_text_starts(body, at);
    if (at.empty()) return std::nullopt;
    std::sort(at.begin(), at.end());
    at.erase(std::unique(at.begin(), at.end()), at.end());
    std::string out;
    out.reserve(body.size() + at.size() * invalid_utf8_sequence.size());
    std::size_t from = 0;
    for (const std::size_t i : at) {
        out.append(body.substr(from, i - from));
        out.append(invalid_utf8_sequence);
        from = i;
    }
    out.append(body.substr(from));
    return out;
}

std::string_view proxy_error_page() {
    return "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
           "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
           "</body>\r\n</html>\r\n";
}

template <class Stream>
boost::asio::awaitable<void> write_fault(Stream& stream, fault_plan& plan, const fault_hit& hit,
                                         const fault_answer* real) {
    const fault_rule& rule = hit.rule;
    auto& lowest = beast::get_lowest_layer(stream);
    const auto until = steady::now() + rule.give_up;
    const fault_answer nothing{};
    const fault_answer& answer = real ? *real : nothing;
    const int status = rule.status == 0 ? 200 : rule.status;

    switch (rule.kind) {
        case fault::hang:
            co_await wait_for_close(stream, until);
            break;
        case fault::trickle: {
            const std::string bytes = bytes_of(answer);
            const auto interval =
                std::clamp<std::chrono::milliseconds>(trickle_total / bytes.size(),
                                                      trickle_fastest_byte, trickle_slowest_byte);
            asio::steady_timer pause(stream.get_executor());
            for (const char& c : bytes) {
                const bool sent = co_await write_all(stream, std::string_view(&c, 1), until);
                if (!sent || steady::now() >= until) break;
                pause.expires_after(interval);
                co_await pause.async_wait(with_error);
            }
            break;
        }
        case fault::reset_mid_body: {
            // Part of the body; without a body, part of the header (a complete header with
            // Content-Length: 0 would be a complete answer).
            const std::string head =
                head_of(answer, "Content-Length: " + std::to_string(answer.body.size()));
            const std::string part = answer.body.empty()
                                         ? head.substr(0, head.size() / 2)
                                         : head + answer.body.substr(0, answer.body.size() / 2);
            co_await write_all(stream, part, until);
            reset(lowest);
            break;
        }
        case fault::oversize_length: {
            const fault_answer a = made_up(rule, status, "application/octet-stream", {});
            const std::string head =
                head_of(a, "Content-Length: " + std::string(oversize_length_value));
            const bool sent =
                co_await write_all(stream, head + std::string(filler_bytes, ' '), until);
            if (sent) co_await wait_for_close(stream, until);
            break;
        }
        case fault::oversize_chunked: {
            const fault_answer a = made_up(rule, status, "application/octet-stream", {});
            bool sent = co_await write_all(stream, head_of(a, "Transfer-Encoding: chunked"), until);
            char size_line[32];
            std::snprintf(size_line, sizeof size_line, "%zx\r\n", filler_bytes);
            const std::string chunk = size_line + std::string(filler_bytes, ' ') + "\r\n";
            for (std::size_t total = 0; sent && total < chunked_most && steady::now() < until;
                 total += filler_bytes) {
                sent = co_await write_all(stream, chunk, until);
            }
            break;
        }
        case fault::invalid_utf8: {
            fault_answer a = answer;
            if (auto spoiled = with_invalid_utf8(a.body)) a.body = std::move(*spoiled);
            co_await write_all(stream, bytes_of(a), until);
            break;
        }
        case fault::garbage_random:
            co_await write_all(
                stream,
                bytes_of(made_up(rule, status, "application/octet-stream",
                                 random_text(random_garbage_bytes, hit.id))),
                until);
            break;
        case fault::garbage_truncated: {
            fault_answer a = answer;
            a.body.resize(a.body.size() / 2);
            co_await write_all(stream, bytes_of(a), until);
            break;
        }
        case fault::garbage_html:
            co_await write_all(stream,
                               bytes_of(made_up(rule, status, "application/octet-stream",
                                                std::string(proxy_error_page()))),
                               until);
            break;
        case fault::error_500:
            co_await write_all(
                stream,
                bytes_of(made_up(rule, 500, "text/html",
                                 "<html><head><title>500 Internal Server Error</title></head>"
                                 "<body><h1>Internal Server Error</h1></body></html>\r\n")),
                until);
            break;
        case fault::throttle_429: {
            fault_answer a = made_up(rule, 429, "text/plain", "Too Many Requests\r\n");
            a.headers.emplace_back("Retry-After", std::to_string(rule.retry_after.count()));
            co_await write_all(stream, bytes_of(a), until);
            break;
        }
    }
    plan.ended(hit.id);
}

template boost::asio::awaitable<void> write_fault<beast::tcp_stream>(beast::tcp_stream&,
                                                                     fault_plan&,
                                                                     const fault_hit&,
                                                                     const fault_answer*);
template boost::asio::awaitable<void> write_fault<asio::ssl::stream<beast::tcp_stream>>(
    asio::ssl::stream<beast::tcp_stream>&, fault_plan&, const fault_hit&, const fault_answer*);

}  // namespace agendad::test_support
