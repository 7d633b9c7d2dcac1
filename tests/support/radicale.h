// A real Radicale 3.1.8 started by a test on 127.0.0.1 (plain HTTP or TLS from the test CA), with
// the few requests a calendar client makes to fill it. No Beast here: this header is cheap to
// include.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/process.h"

namespace agendad::test_support {

class test_ca;

// --- Radicale ---

struct radicale_options {
    // name → password, in a plain htpasswd file (Radicale 3.1.8 reads plain without bcrypt).
    std::map<std::string, std::string> users{{"alice", "alice-password"}};
    bool tls = false;  // HTTPS with a certificate for 127.0.0.1 and localhost from the test CA
    // Issues the certificate; must outlive the radicale. Null: a CA of its own (see ca_file()).
    const test_ca* ca = nullptr;
    std::uint16_t port = 0;  // 0: a free port, chosen by the first start() and kept for restarts
    std::chrono::milliseconds start_timeout{std::chrono::seconds{10}};
    // Serves Radicale through waitress (python3-waitress), a WSGI server with HTTP/1.1
    // keep-alive, as production deployments put Radicale behind one, instead of Radicale's
    // built-in HTTP/1.0 server (a new connection per request). Plain HTTP only.
    bool keep_alive = false;
};

struct dav_response {
    int status = 0;
    std::string etag;  // the ETag header, quotes included; empty when there is none
    std::string body;
};

// Storage, config, users file and log live in a temporary folder that start() after stop() (or
// kill()) reuses, on the same port: "Radicale restarted mid-run". Rights are owner_only: a user
// reads and writes only under "/<user>/". Failures throw std::runtime_error with Radicale's log.
class radicale final {
  public:
    explicit radicale(radicale_options options = {});
    ~radicale();  // stops the server and removes the folder
    radicale(const radicale&) = delete;
    radicale& operator=(const radicale&) = delete;

    // Starts /usr/bin/python3 -m radicale --config <folder>/config and returns once it answers
    // HTTP(S); throws after options.start_timeout. A no-op while running.
    void start();
    void stop();  // SIGTERM, then SIGKILL after 5 s
    void kill();  // SIGKILL: no chance to finish what it is doing
    bool running();
    pid_t pid() const;  // of the last process started; -1 before start()
    std::chrono::milliseconds last_start_duration() const;  // spawn to first answer

    std::uint16_t port() const;  // 0 before the first start()
    std::string host() const { return "127.0.0.1"; }
    // "http://127.0.0.1:PORT/alice/work/" ("https" with tls) for an absolute `path`.
    std::string url(std::string_view path = "/") const;
    // The CA certificate (PEM) to trust with tls; empty without.
    const std::filesystem::path& ca_file() const;
    const std::filesystem::path& folder() const;
    std::filesystem::path storage() const;                       // filesystem_folder
    std::string log() const;                                     // Radicale's output, all starts
    const std::string& password(const std::string& user) const;  // throws for an unknown user

    // --- what a calendar client does, over agendad's HTTP client with TLS verified ---
    // Paths and hrefs are absolute ("/alice/work/", "/alice/work/e1.ics"); user "" sends no
    // credentials. Each call is a fresh connection: Radicale speaks HTTP/1.0 without keep-alive.
    dav_response request(const std::string& user, const std::string& method,
                         const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& headers = {},
                         const std::string& body = {});
    // MKCALENDAR with a display name and VEVENT as the only component; expects 201.
    void make_calendar(const std::string& user, const std::string& path,
                       const std::string& display_name = "Calendar");
    // PUT text/calendar: with `if_match` empty a create (If-None-Match: *), else If-Match with it
    // ("*" for any existing item). Returns the new ETag; throws on anything but 201/204 (412
    // included: use request() to test preconditions).
    std::string put(const std::string& user, const std::string& href, const std::string& ics,
                    const std::string& if_match = {});
    // GET: the body as Radicale stores it (re-serialised: not byte-equal to what was put) and its
    // ETag; nullopt on 404.
    std::optional<dav_response> get(const std::string& user, const std::string& href);
    // DELETE, with If-Match when `if_match` is given; expects 200/204.
    void remove(const std::string& user, const std::string& href, const std::string& if_match = {});
    // The hrefs of the items in a calendar (PROPFIND Depth: 1), sorted, without the calendar.
    std::vector<std::string> list(const std::string& user, const std::string& calendar_path);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace agendad::test_support
