#include "support/radicale.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pugixml.hpp>

#include "calendar/xml/xml.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "calendar/http/http_client.h"
#include "support/files.h"
#include "support/test_ca.h"

extern char** environ;

namespace agendad::test_support {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace http = agendad::calendar::http;
using namespace std::chrono_literals;

// --- Radicale ---

namespace {

// The end of a log, for an exception message: enough to see why, not the whole history.
std::string tail(const std::string& text, std::size_t bytes = 6000) {
    if (text.size() <= bytes) return text;
    return "..." + text.substr(text.size() - bytes);
}

std::string excerpt(const std::string& text, std::size_t bytes = 600) {
    return text.size() <= bytes ? text : text.substr(0, bytes) + "...";
}

// Runs a coroutine that returns a value to completion on `io`.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> work) {
    std::optional<T> out;
    std::exception_ptr failure;
    asio::co_spawn(io, std::move(work), [&](std::exception_ptr e, T value) {
        if (e) {
            failure = e;
            return;
        }
        out.emplace(std::move(value));
    });
    io.restart();
    io.run();
    if (failure) std::rethrow_exception(failure);
    if (!out) throw std::runtime_error("radicale harness: a request did not complete");
    return std::move(*out);
}

const char* const mkcalendar_template =
    R"(<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set>
    <D:prop>
      <D:displayname>NAME</D:displayname>
      <C:supported-calendar-component-set><C:comp name="VEVENT"/></C:supported-calendar-component-set>
    </D:prop>
  </D:set>
</C:mkcalendar>
)";

}  // namespace

struct radicale::impl {
    radicale_options options;
    temp_folder folder{"agendad-radicale"};
    std::unique_ptr<test_ca> own_ca;
    fs::path ca_file;
    std::uint16_t port = 0;
    std::optional<child_process> process;
    pid_t last_pid = -1;
    int starts = 0;
    std::chrono::milliseconds start_duration{0};
    asio::io_context io;
    std::unique_ptr<http::client> client;  // one per start: no connection outlives a server

    fs::path log_file() const { return folder.path() / "radicale.log"; }

    void write_config() const {
        std::ostringstream users;
        for (const auto& [name, password] : options.users) {
            if (name.empty() || name.find_first_of(":/\n\r") != std::string::npos ||
                password.find_first_of("\n\r") != std::string::npos) {
                throw std::runtime_error("radicale: a user name or password it cannot store: " +
                                         name);
            }
            users << name << ':' << password << '\n';
        }
        write_file_atomically(folder.path() / "users", users.str());

        std::ostringstream config;
        config << "[server]\n"
               << "hosts = 127.0.0.1:" << port << "\n"
               << "max_connections = 20\n"
               << "timeout = 30\n";
        if (options.tls) {
            config << "ssl = True\n"
                   << "certificate = " << (folder.path() / "server.pem").string() << "\n"
                   << "key = " << (folder.path() / "server.key").string() << "\n";
        }
        config << "[auth]\n"
               << "type = htpasswd\n"
               << "htpasswd_filename = " << (folder.path() / "users").string() << "\n"
               << "htpasswd_encryption = plain\n"
               // A failed login costs 0.5-1.5 s by default: tests of wrong passwords need none.
               << "delay = 0\n"
               << "[rights]\n"
               << "type = owner_only\n"
               << "[storage]\n"
               << "filesystem_folder = " << (folder.path() / "collections").string() << "\n"
               << "[web]\n"
               << "type = none\n"
               << "[logging]\n"
               << "level = " << (test_verbose() ? "debug" : "warning") << "\n"
               << "mask_passwords = True\n";
        write_file_atomically(folder.path() / "config", config.str());
    }

    // `patient` false: for probing a server that is starting, which answers at once or not yet.
    void make_client(bool patient) {
        http::tls_options tls;
        tls.ca_file = ca_file;
        http::limits limits;
        limits.connect_timeout = patient ? 2s : 500ms;
        limits.request_timeout = patient ? 10s : 1s;
        client = std::make_unique<http::client>(io.get_executor(), tls, limits);
    }

    std::string origin() const {
        return std::string(options.tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port);
    }

    http::result<http::response> exchange(
        const std::string& user, const std::string& method, const std::string& path,
        const std::vector<std::pair<std::string, std::string>>& headers, const std::string& body) {
        if (!client) throw std::runtime_error("radicale: not started");
        const auto base = http::url::parse(origin() + path);
        if (!base) throw std::runtime_error("radicale: not a path for a URL: " + path);
        http::request r;
        r.method = method;
        for (const auto& [name, value] : headers) r.headers.push_back({name, value});
        if (!user.empty()) {
            const auto found = options.users.find(user);
            if (found == options.users.end()) throw std::runtime_error("radicale: no user " + user);
            r.headers.push_back({"Authorization", http::basic_authorization(user, found->second)});
        }
        r.body = body;
        return run(io, client->send(*base, r));
    }

    std::string log() const { return read_file(log_file()); }

    std::uintmax_t echoed = 0;  // how much of the log went to stderr (AGENDAD_TEST_VERBOSE)
    void echo_log() { echo_log_if_verbose(log_file(), echoed, "[radicale]"); }

    // One attempt: spawn, then wait for an HTTP answer. Returns an empty string when it is up,
    // otherwise why not (the process is gone then).
    std::string try_start() {
        write_config();
        const auto began = std::chrono::steady_clock::now();
        const std::string config = (folder.path() / "config").string();
        if (options.keep_alive) {
            process.emplace(
                std::vector<std::string>{"/usr/bin/python3", "-m", "waitress",
                                         "--listen=127.0.0.1:" + std::to_string(port),
                                         "--threads=8", "radicale:application"},
                log_file(),
                std::vector<std::string>{"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1",
                                         "RADICALE_CONFIG=" + config});
        } else {
            process.emplace(
                std::vector<std::string>{"/usr/bin/python3", "-m", "radicale", "--config", config},
                log_file(),
                std::vector<std::string>{"PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1"});
        }
        last_pid = process->pid();
        make_client(false);
        const auto deadline = began + options.start_timeout;
        std::string last_error = "no answer yet";
        for (;;) {
            if (!process->running()) {
                return "Radicale " + process->status() + " while starting";
            }
            auto answer = exchange("", "OPTIONS", "/", {}, {});
            if (answer.has_value()) {
                start_duration = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - began);
                make_client(true);
                return {};
            }
            last_error = answer.error().message;
            if (std::chrono::steady_clock::now() >= deadline) break;
            std::this_thread::sleep_for(20ms);
        }
        process->stop(1s);
        return "Radicale did not answer within " + std::to_string(options.start_timeout.count()) +
               " ms (" + last_error + ")";
    }
};

radicale::radicale(radicale_options options) : impl_(std::make_unique<impl>()) {
    impl_->options = std::move(options);
    impl_->port = impl_->options.port;
    if (impl_->options.tls && impl_->options.keep_alive)
        throw std::runtime_error("radicale: keep_alive (waitress) serves plain HTTP only");
    fs::create_directories(impl_->folder.path() / "collections");
    if (impl_->options.tls) {
        const test_ca* ca = impl_->options.ca;
        if (ca == nullptr) {
            impl_->own_ca = std::make_unique<test_ca>("agendad Radicale test CA");
            ca = impl_->own_ca.get();
        }
        impl_->ca_file = ca->write_loopback_server_files(impl_->folder.path());
    }
}

radicale::~radicale() {
    try {
        stop();
    } catch (...) {
        // A destructor cannot report: the process is reaped by child_process in any case.
    }
}

void radicale::start() {
    if (running()) return;
    auto& d = *impl_;
    const bool choose_port = d.port == 0;
    std::string why;
    // A port chosen here can be taken by someone else before Radicale binds it: choose again.
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (choose_port && attempt > 0) d.port = 0;
        if (d.port == 0) d.port = free_loopback_port();
        ++d.starts;
        std::ofstream(d.log_file(), std::ios::app)
            << "--- agendad test harness: start " << d.starts << " on port " << d.port << " ---\n";
        std::error_code ignored;
        const std::size_t offset = static_cast<std::size_t>(fs::file_size(d.log_file(), ignored));
        why = d.try_start();
        if (why.empty()) return;
        const std::string log = d.log();
        const std::string this_run = offset < log.size() ? log.substr(offset) : log;
        why += "\n--- Radicale's output ---\n" + tail(this_run);
        if (!choose_port || this_run.find("Address already in use") == std::string::npos) break;
    }
    d.client.reset();
    d.echo_log();
    const bool missing = why.find("No module named") != std::string::npos;
    throw std::runtime_error(
        "radicale: cannot start /usr/bin/python3 -m radicale --config " +
        (d.folder.path() / "config").string() +
        (missing ? " (install Debian's radicale: apt-get install radicale)" : "") + ": " + why);
}

void radicale::stop() {
    if (impl_->process) impl_->process->stop();
    impl_->client.reset();
    impl_->echo_log();
}

void radicale::kill() {
    if (impl_->process) impl_->process->kill();
    impl_->client.reset();
    impl_->echo_log();
}

bool radicale::running() {
    return impl_->process && impl_->process->running();
}

pid_t radicale::pid() const {
    return impl_->last_pid;
}

std::chrono::milliseconds radicale::last_start_duration() const {
    return impl_->start_duration;
}

std::uint16_t radicale::port() const {
    return impl_->port;
}

std::string radicale::url(std::string_view path) const {
    return impl_->origin() + std::string(path);
}

const fs::path& radicale::ca_file() const {
    return impl_->ca_file;
}

const fs::path& radicale::folder() const {
    return impl_->folder.path();
}

fs::path radicale::storage() const {
    return impl_->folder.path() / "collections";
}

std::string radicale::log() const {
    return impl_->log();
}

const std::string& radicale::password(const std::string& user) const {
    const auto found = impl_->options.users.find(user);
    if (found == impl_->options.users.end()) throw std::runtime_error("radicale: no user " + user);
    return found->second;
}

dav_response radicale::request(const std::string& user, const std::string& method,
                               const std::string& path,
                               const std::vector<std::pair<std::string, std::string>>& headers,
                               const std::string& body) {
    auto answer = impl_->exchange(user, method, path, headers, body);
    if (!answer) {
        throw std::runtime_error("radicale: " + method + " " + path + ": " +
                                 answer.error().message + "\n--- Radicale's output ---\n" +
                                 tail(impl_->log()));
    }
    dav_response out;
    out.status = answer->status;
    if (const auto etag = answer->find("ETag")) out.etag = std::string(*etag);
    out.body = std::move(answer->body);
    return out;
}

namespace {

[[noreturn]] void unexpected(const std::string& what, const std::string& user,
                             const dav_response& r) {
    throw std::runtime_error("radicale: " + what + (user.empty() ? "" : " as " + user) +
                             ": unexpected status " + std::to_string(r.status) + ": " +
                             excerpt(r.body));
}

}  // namespace

void radicale::make_calendar(const std::string& user, const std::string& path,
                             const std::string& display_name) {
    std::string body = mkcalendar_template;
    body.replace(body.find("NAME"), 4, agendad::calendar::xml::escape(display_name));
    const auto r = request(user, "MKCALENDAR", path,
                           {{"Content-Type", "application/xml; charset=utf-8"}}, body);
    if (r.status != 201) unexpected("MKCALENDAR " + path, user, r);
}

std::string radicale::put(const std::string& user, const std::string& href, const std::string& ics,
                          const std::string& if_match) {
    std::vector<std::pair<std::string, std::string>> headers{
        {"Content-Type", "text/calendar; charset=utf-8"}};
    if (if_match.empty()) {
        headers.emplace_back("If-None-Match", "*");
    } else {
        headers.emplace_back("If-Match", if_match);
    }
    const auto r = request(user, "PUT", href, headers, ics);
    if (r.status != 201 && r.status != 204) unexpected("PUT " + href, user, r);
    if (r.etag.empty()) unexpected("PUT " + href + " (no ETag)", user, r);
    return r.etag;
}

std::optional<dav_response> radicale::get(const std::string& user, const std::string& href) {
    auto r = request(user, "GET", href);
    if (r.status == 404) return std::nullopt;
    if (r.status != 200) unexpected("GET " + href, user, r);
    return r;
}

void radicale::remove(const std::string& user, const std::string& href,
                      const std::string& if_match) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!if_match.empty()) headers.emplace_back("If-Match", if_match);
    const auto r = request(user, "DELETE", href, headers);
    if (r.status != 200 && r.status != 204) unexpected("DELETE " + href, user, r);
}

std::vector<std::string> radicale::list(const std::string& user, const std::string& calendar_path) {
    const std::string body =
        R"(<?xml version="1.0" encoding="utf-8"?>)"
        R"(<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>)";
    const auto r =
        request(user, "PROPFIND", calendar_path,
                {{"Depth", "1"}, {"Content-Type", "application/xml; charset=utf-8"}}, body);
    if (r.status != 207) unexpected("PROPFIND " + calendar_path, user, r);
    pugi::xml_document document;
    if (!document.load_buffer(r.body.data(), r.body.size())) {
        unexpected("PROPFIND " + calendar_path + " (not XML)", user, r);
    }
    const auto trimmed = [](std::string s) {
        while (!s.empty() && s.back() == '/') s.pop_back();
        return s;
    };
    std::vector<std::string> hrefs;
    for (const auto& node : document.select_nodes("//*[local-name()='href']")) {
        const std::string href = node.node().child_value();
        if (trimmed(href) != trimmed(calendar_path)) hrefs.push_back(href);
    }
    std::sort(hrefs.begin(), hrefs.end());
    return hrefs;
}

}  // namespace agendad::test_support
