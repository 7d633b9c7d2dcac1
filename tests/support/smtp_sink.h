// A real SMTP server for tests: aiosmtpd (Debian's python3-aiosmtpd) started by the test on
// 127.0.0.1, keeping every message it accepts, and refusing on request to test retries.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace agendad::test_support {

class test_ca;

enum class smtp_sink_tls {
    none,      // plain SMTP
    starttls,  // STARTTLS offered and required before MAIL
    implicit,  // TLS from the first byte (port 465 style)
};

enum class smtp_stage { rcpt, data };

struct smtp_sink_options {
    smtp_sink_tls tls = smtp_sink_tls::none;
    // Issues the certificate (for 127.0.0.1 and localhost); must outlive the sink. Null: a CA of
    // its own (see ca_file()).
    const test_ca* ca = nullptr;
    // name → password. Non-empty: AUTH (PLAIN and LOGIN) is offered and required before MAIL.
    std::map<std::string, std::string> users;
    bool login_only = false;       // offer AUTH LOGIN but not PLAIN
    bool auth_require_tls = true;  // aiosmtpd's default: AUTH only after STARTTLS or with TLS
    std::uint16_t port = 0;  // 0: a free port, chosen by the first start() and kept for restarts
    std::string reject_address = "nobody@example.org";  // RCPT answered 550 5.1.1
    std::string busy_address = "busy@example.org";      // DATA answered 451 4.3.0 when a recipient
    std::chrono::milliseconds start_timeout{std::chrono::seconds{10}};
};

struct received_mail {
    std::string from;                     // the envelope sender (empty for <>)
    std::vector<std::string> recipients;  // accepted RCPT TO addresses, in order
    bool tls = false;                     // the message came over TLS
    std::string auth;                     // the AUTH login; empty without AUTH
    std::string content;                  // as received, dot-stuffing undone, CRLF line ends
};

// Messages are kept as <folder>/inbox/N.eml (N from 1, also across restarts). Failures to start
// throw std::runtime_error with aiosmtpd's output.
class smtp_sink final {
  public:
    explicit smtp_sink(smtp_sink_options options = {});
    ~smtp_sink();  // stops the server and removes the folder
    smtp_sink(const smtp_sink&) = delete;
    smtp_sink& operator=(const smtp_sink&) = delete;

    // Starts /usr/bin/python3 with aiosmtpd and returns once it listens; a no-op while running.
    void start();
    void stop();  // SIGTERM (aiosmtpd closes cleanly), then SIGKILL after 5 s
    void kill();
    bool running();
    pid_t pid() const;  // of the last process started; -1 before start()

    std::string host() const { return "127.0.0.1"; }
    std::uint16_t port() const;                    // 0 before the first start()
    const std::filesystem::path& ca_file() const;  // the CA certificate to trust; empty without TLS
    const std::filesystem::path& folder() const;
    std::string log() const;  // aiosmtpd's output, all starts

    std::vector<received_mail> messages() const;
    // Waits until at least `count` messages have arrived; false after `timeout`.
    bool wait_for(std::size_t count,
                  std::chrono::milliseconds timeout = std::chrono::seconds{10}) const;

    // From now on (read per command, no restart), every RCPT or every DATA is answered with
    // `code` (a 4xx or 5xx) and `text` (a default when empty), until accept().
    void refuse(smtp_stage stage, int code, const std::string& text = {});
    // From now on every message is stored, then the connection is cut without the 250: the
    // client cannot know that it was delivered.
    void hang_up_after_data();
    void accept();  // back to normal

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace agendad::test_support
