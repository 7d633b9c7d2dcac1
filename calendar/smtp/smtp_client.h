// SMTP submission for iMIP replies (RFC 5321, STARTTLS RFC 3207, AUTH PLAIN/LOGIN RFC 4954),
// on Beast's TCP and OpenSSL streams: a timeout on every step, bounded replies, TLS verified by
// default, never a password in a message.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::calendar::smtp {

enum class security { starttls, tls, none };  // none: only to a loopback host

struct settings {
    std::string host;
    std::string port = "587";
    security mode = security::starttls;
    std::string user;  // empty: no AUTH
    std::string password;
    std::filesystem::path ca_file;  // extra trust anchors; empty: the system's
    bool verify = true;             // certificate and host name; only tests turn it off
    std::string helo_name = "agendad.localdomain";                // EHLO argument
    std::chrono::milliseconds timeout{std::chrono::seconds{30}};  // per step
};

enum class failure {
    connect,    // resolve, refused, unreachable
    tls,        // handshake or verification failed, or STARTTLS not offered when required
    auth,       // credentials refused, or no AUTH mechanism we can use
    rejected,   // a 5xx: the server will not take this message (do not retry as is)
    temporary,  // a 4xx: try again later
    timeout,
    protocol,  // not SMTP, a reply too long, the connection closed mid-dialogue
    invalid,   // bad input caught before connecting: no recipients, an address with CR, LF, a
               // space or angle brackets, a message over max_message_bytes (do not retry)
    aborted,   // send_options::before_final_dot said no: nothing was delivered
};

struct error {
    failure kind = failure::protocol;
    int code = 0;         // the SMTP reply code, when there was one
    std::string message;  // for logs: the step and the server's text; never the password
    // The final "." of DATA was written and no refusal came back (a timeout, a cut connection,
    // garbage instead of the reply): the server may have accepted the message, so sending it
    // again may deliver it twice. False for every failure before the dot and for a 4xx/5xx
    // answer to it.
    bool maybe_delivered = false;
};

// The largest message send_mail takes (failure::invalid above it): iMIP replies are a few KB, and
// servers commonly stop at 10 to 50 MB anyway.
inline constexpr std::size_t max_message_bytes = std::size_t{32} << 20;

struct send_options {
    // Called once, after the whole message and right before the final "." of DATA is written,
    // which is the point of no return: from there on the server may deliver. The caller records
    // durably that the mail may now be delivered, so that a crash never makes it send twice.
    // Returning false withdraws the message: the connection is closed without the ".", which
    // aborts the transaction (RFC 5321 §3.8; RSET is impossible in the middle of DATA), and
    // send_mail fails with failure::aborted. Not called when the dialogue fails earlier. An
    // exception from it propagates out of send_mail, and nothing is delivered either.
    std::function<bool()> before_final_dot;
};

// Sends one message (headers and body, CRLF) to `recipients`; dot-stuffing is done here. Keep the
// arguments alive until the co_await completes (see calendar/source.h on GCC 12).
boost::asio::awaitable<boost::system::result<void, error>> send_mail(
    const settings& s, const std::string& from, const std::vector<std::string>& recipients,
    const std::string& message);
// The same with options; `options` too must outlive the co_await (no default argument here: a
// defaulted temporary would die before a co_spawned coroutine runs).
boost::asio::awaitable<boost::system::result<void, error>> send_mail(
    const settings& s, const std::string& from, const std::vector<std::string>& recipients,
    const std::string& message, const send_options& options);

}  // namespace agendad::calendar::smtp
