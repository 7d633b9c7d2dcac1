// Fault injection for the servers the tests run agendad against: a plan that says which requests
// get which fault (rules matched on what identifies a mailbox: a CalDAV path, Graph's
// /users/{id}, EWS's X-AnchorMailbox), counts what it injected, and the writers of the faulty
// answers, written once for any Beast stream and used by support/tls_http_server.h (the fake
// Graph and EWS) and support/fault_proxy.h (in front of a real Radicale).
//
// The faults, as a server or a network in between gives them:
//   hang               reads the request and never answers (until the client gives up)
//   trickle            the real answer, one byte at a time, slower than any sane timeout
//   reset_mid_body     the real answer's status line, headers and part of its body, then a TCP
//                      RST (no body: part of the header); the request WAS processed
//   oversize_length    a Content-Length of 1 TiB, then a first piece of the body
//   oversize_chunked   a chunked body that never ends (until the client gives up)
//   invalid_utf8       the real answer with invalid UTF-8 put into its text content (JSON
//                      subject/content/name values, XML Subject/Body/DisplayName/... elements,
//                      iCalendar SUMMARY/DESCRIPTION), Content-Length corrected
//   garbage_random     valid HTTP with the rule's status and Content-Type, 4 KiB of random bytes
//   garbage_truncated  the real answer cut to its first half, as a complete answer
//   garbage_html       valid HTTP with the rule's status and Content-Type, an HTML proxy error page
//   error_500          500 Internal Server Error (an HTML page), for as long as the rule lasts
//   throttle_429       429 Too Many Requests with Retry-After
// Faults that need the real answer (trickle, reset_mid_body, invalid_utf8, garbage_truncated) are
// applied after the server (the fake's handler, Radicale) processed the request: a response it
// answered that way did take effect. The others replace the answer: the server never sees the
// request. After any fault the connection is closed.
//
// No Beast in this header: the writers are templates declared here and instantiated in
// faults.cpp for the two streams the servers use.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agendad::test_support {

enum class fault {
    hang,
    trickle,
    reset_mid_body,
    oversize_length,
    oversize_chunked,
    invalid_utf8,
    garbage_random,
    garbage_truncated,
    garbage_html,
    error_500,
    throttle_429,
};

std::string_view name_of(fault f);  // "hang", "reset_mid_body", ...
// Whether the fault needs the real answer (and so the request is processed first).
bool mangles(fault f);

// A request as a fault rule sees it.
struct request_view {
    std::string_view method;
    std::string_view target;
    std::vector<std::pair<std::string_view, std::string_view>> headers;
    std::string_view body;
    // The first header of that name (case-insensitive), or nullopt.
    std::optional<std::string_view> header(std::string_view name) const;
};

// Which requests a rule applies to: all of the set conditions hold (empty ones are not checked).
struct fault_match {
    std::string method;           // exactly this method ("PUT", "POST")
    std::string target_contains;  // the request target contains this ("/users/raj@...")
    std::string header;           // with header_contains: this header's value contains it
    std::string header_contains;  // (case-insensitive; X-AnchorMailbox: raj@contoso.example)
    std::string body_contains;    // the request body contains this ("<m:CreateItem")
    bool matches(const request_view& r) const;
};

struct fault_rule {
    fault kind = fault::hang;
    fault_match match;
    int times = -1;  // how many requests get it; < 0: every matching one until cleared
    // For the faults that make an answer up (garbage_random, garbage_html, oversize_*): its
    // status and Content-Type. 200 and "application/octet-stream" unless set.
    int status = 200;
    std::string content_type;
    std::chrono::seconds retry_after{1};  // throttle_429's Retry-After
    // How long hang, trickle and the oversize faults go on at most when the client never gives
    // up (a test's safety net, far beyond any timeout under test).
    std::chrono::seconds give_up{300};
};

// One fault the plan handed out: its number in injections(), and the rule's copy.
struct fault_hit {
    std::size_t id = 0;
    fault_rule rule;
};

// Which requests get which fault, and what was injected. Thread-safe: a test thread adds and
// clears rules while servers' threads take faults.
class fault_plan final {
  public:
    // Rules are tried in the order they were added; the first that matches and has requests
    // left wins.
    void add(fault_rule rule);
    // No more faults from now on (faults being written go on until their client gives up).
    void clear();
    // The fault `r` gets, counted as injected, or nullopt: answer it normally.
    std::optional<fault_hit> take(const request_view& r);
    // The writer of `id` is done: it wrote what it had to, or the client went away.
    void ended(std::size_t id);

    struct injection {
        fault kind = fault::hang;
        std::string method;
        std::string target;
        std::chrono::steady_clock::time_point started;
        std::optional<std::chrono::steady_clock::time_point> ended;
    };
    std::vector<injection> injections() const;
    int injected() const;  // all kinds
    int injected(fault f) const;

  private:
    struct pending {
        fault_rule rule;
        int left = -1;
    };
    mutable std::mutex mu_;
    std::vector<pending> rules_;
    std::vector<injection> log_;
};

// An HTTP answer as the server would have written it (status, header fields, body): what the
// mangling faults start from. Content-Length, Transfer-Encoding and Connection are the writer's.
struct fault_answer {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
};

// Writes `hit`'s fault on `stream` (the request has been read; `real` is the real answer for
// the faults that mangle one, else null) and reports the end to `plan`. The caller closes the
// connection afterwards (reset_mid_body has already reset it). Stream: Beast's tcp_stream or
// an asio::ssl::stream of one.
// Keep `hit` and `real` alive until it completes.
template <class Stream>
boost::asio::awaitable<void> write_fault(Stream& stream, fault_plan& plan, const fault_hit& hit,
                                         const fault_answer* real);

// The pieces of the faults, for the self-tests and for the writers:
// `body` with invalid UTF-8 byte sequences put at the start of its text content (see above);
// nullopt when it has no text content that the rules recognise.
std::optional<std::string> with_invalid_utf8(std::string_view body);
// An nginx-style "502 Bad Gateway" page: what a proxy in between answers.
std::string_view proxy_error_page();
// The invalid sequences with_invalid_utf8 puts in: Latin-1 "é", a byte never valid in UTF-8, a
// lead byte without its continuation, an encoded UTF-16 surrogate.
inline constexpr std::string_view invalid_utf8_sequence = "Caf\xE9 \xFF\xFE \xC3\x28 \xED\xA0\x80 ";

}  // namespace agendad::test_support
