// SMTP submission for iMIP replies (RFC 5321, STARTTLS RFC 3207, AUTH PLAIN/LOGIN RFC 4954),
// on Beast's TCP and OpenSSL streams: a timeout on every step, bounded replies, TLS verified by
// default, never a password in a message.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::calendar::smtp {

enum class security { starttls, tls, none };  // none: only to a loopback host

struct settings {
    std::string host;
    std::string port = "587";
    security mode = security::starttls;
    std::string user;      // empty: no AUTH
    std::string password;
    std::filesystem::path ca_file;  // extra trust anchors; empty: the system's
    bool verify = true;             // certificate and host name; only tests turn it off
    std::string helo_name = "agendad.localdomain";  // EHLO argument
    std::chrono::milliseconds timeout{std::chrono::seconds{30}};  // per step
};

enum class failure {
    connect,    // resolve, refused, unreachable
    tls,        // handshake or verification failed, or STARTTLS not offered when required
    auth,       // credentials refused, or no AUTH mechanism we can use
    rejected,   // a 5xx: the server will not take this message (do not retry as is)
    temporary,  // a 4xx: try again later
    timeout,
    protocol,   // not SMTP, a reply too long, the connection closed mid-dialogue
};

struct error {
    failure kind = failure::protocol;
    int code = 0;          // the SMTP reply code, when there was one
    std::string message;   // for logs: the step and the server's text; never the password
};

// Sends one message (headers and body, CRLF) to `recipients`; dot-stuffing is done here. Keep the
// arguments alive until the co_await completes (see calendar/source.h on GCC 12).
boost::asio::awaitable<boost::system::result<void, error>> send_mail(const settings& s, const std::string& from,
                                                                     const std::vector<std::string>& recipients,
                                                                     const std::string& message);

}  // namespace agendad::calendar::smtp
