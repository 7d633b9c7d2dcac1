// Tests for daemon/status_server and daemon/metrics: the status listener answers what monitoring
// and admins ask (health, Prometheus metrics in the exact text format, the journal as JSON),
// refuses what it must (no token off loopback, wrong tokens, oversized or idle clients, other
// methods), and stop() leaves nothing open. The server runs on loopback port 0 on its own thread;
// the client is a few lines of plain sockets with poll() deadlines so that a bug fails, not hangs.
#include "daemon/status_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/metrics.h"
#include "daemon/store.h"

namespace agendad::daemon {
namespace {

namespace fs = std::filesystem;
namespace asio = boost::asio;
using namespace std::chrono;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// 2026-11-20T09:00:00Z
constexpr calendar::time_point t0 = sys_days{2026y / November / 20} + 9h;
constexpr auto deadline = 5s;  // for anything that should take milliseconds

// --- a small HTTP client on plain sockets -------------------------------------------------------

struct http_response {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
    std::string body;

    std::string header(std::string_view name) const {
        for (const auto& [n, v] : headers) {
            if (n == name) return v;
        }
        return {};
    }
    int count(std::string_view name) const {
        int n = 0;
        for (const auto& h : headers) n += h.first == name;
        return n;
    }
};

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

class client {
  public:
    explicit client(unsigned short port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~client() { ::close(fd_); }
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    bool connected() const { return connected_; }

    // False if the server stopped taking bytes (closed, or not reading) before all were sent.
    bool send(std::string_view data) {
        const auto until = steady_clock::now() + deadline;
        while (!data.empty()) {
            if (!wait_for(POLLOUT, until)) return false;
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // One response; nullopt if the connection ended or the deadline passed first. `head`: the
    // response to a HEAD request has no body whatever Content-Length says.
    std::optional<http_response> read_response(bool head = false) {
        const auto until = steady_clock::now() + deadline;
        std::size_t end = 0;
        while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (read_more(until) <= 0) return std::nullopt;
        }
        http_response r;
        std::istringstream lines(buffer_.substr(0, end + 2));
        std::string line;
        std::getline(lines, line);
        if (!line.starts_with("HTTP/1.1 ") || line.size() < 12) return std::nullopt;
        r.status = std::stoi(line.substr(9, 3));
        while (std::getline(lines, line) && line != "\r") {
            const auto colon = line.find(':');
            std::string value = line.substr(colon + 1);
            while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
            while (!value.empty() && (value.back() == '\r' || value.back() == ' '))
                value.pop_back();
            r.headers.emplace_back(lower(line.substr(0, colon)), value);
        }
        buffer_.erase(0, end + 4);
        const std::string length = r.header("content-length");
        const std::size_t size = head || length.empty() ? 0 : std::stoul(length);
        while (buffer_.size() < size) {
            if (read_more(until) <= 0) return std::nullopt;
        }
        r.body = buffer_.substr(0, size);
        buffer_.erase(0, size);
        return r;
    }

    std::optional<http_response> get(std::string_view target, std::string_view extra_headers = "") {
        if (!send("GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" +
                  std::string(extra_headers) + "\r\n"))
            return std::nullopt;
        return read_response();
    }

    // Whether the server closed the connection (EOF or reset) within `limit`, any bytes before
    // that dropped; the time it took in `took`.
    bool closed_within(milliseconds limit, milliseconds* took = nullptr) {
        const auto start = steady_clock::now();
        const auto until = start + limit;
        for (;;) {
            const ssize_t n = read_more(until);
            if (n == 0 || (n < 0 && errno != ETIMEDOUT)) break;
            if (n < 0) return false;
            buffer_.clear();
        }
        if (took) *took = duration_cast<milliseconds>(steady_clock::now() - start);
        return true;
    }

  private:
    bool wait_for(short events, steady_clock::time_point until) {
        for (;;) {
            const auto left = duration_cast<milliseconds>(until - steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, events, 0};
            const int n = ::poll(&p, 1, static_cast<int>(left.count()));
            if (n < 0 && errno == EINTR) continue;
            return n > 0;
        }
    }
    // Bytes read (appended to the buffer), 0 at EOF, -1 on error or timeout (errno ETIMEDOUT).
    ssize_t read_more(steady_clock::time_point until) {
        if (!wait_for(POLLIN, until)) {
            errno = ETIMEDOUT;
            return -1;
        }
        char chunk[8192];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n > 0) buffer_.append(chunk, static_cast<std::size_t>(n));
        return n;
    }

    int fd_ = -1;
    bool connected_ = false;
    std::string buffer_;
};

// --- the fixture: a store in a temporary folder, the server on its own io_context thread -------

journal_entry entry(std::string mailbox, std::string uid, calendar::time_point decided,
                    std::string action, entry_state state) {
    journal_entry e;
    e.key.mailbox = std::move(mailbox);
    e.key.uid = std::move(uid);
    e.item_id = e.key.uid + ".ics";
    e.etag = "\"1\"";
    e.subject = "Quick sync";
    e.organizer = "someone@example.net";
    e.start = decided + 48h;
    e.rule = action == "leave" ? "default" : "untrusted_without_agenda";
    e.action = std::move(action);
    e.send_response = e.action != "leave";
    e.reply = e.send_response ? "Please send an agenda." : "";
    e.reason = "no agenda from an organizer you have not met";
    e.signals = "no_agenda: empty description\nuntrusted_organizer: first meeting";
    e.mode = "enforce";
    e.state = state;
    e.decided_at = decided;
    if (state == entry_state::done) e.finished_at = decided + 2s;
    return e;
}

class status_server_test : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("agendad-status-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
        auto opened = store::open(dir_);
        ASSERT_TRUE(opened) << opened.error();
        db_ = std::move(*opened);
    }
    void TearDown() override {
        stop_server();
        db_.reset();
        fs::remove_all(dir_);
    }

    void start_server(status_options options = {}) {
        if (options.listen == status_options{}.listen) options.listen = "127.0.0.1:0";
        server_ = std::make_unique<status_server>(ioc_.get_executor(), options, metrics_, *db_,
                                                  [this] { return now(); });
        const auto started = server_->start();
        ASSERT_TRUE(started) << started.error();
        ASSERT_NE(server_->port(), 0);
        thread_ = std::thread([this] { ioc_.run(); });
    }

    // The server's objects belong to its thread: everything else touches them through here.
    template <class F>
    void on_server(F f) {
        std::promise<void> done;
        asio::post(ioc_, [&] {
            f();
            done.set_value();
        });
        done.get_future().wait();
    }

    void stop_server() {
        if (thread_.joinable()) {
            on_server([this] { server_->stop(); });
            thread_.join();  // returns once every connection's coroutine has ended
        }
        server_.reset();
    }

    system_clock::time_point now() const { return base_ + seconds{offset_.load()}; }
    void advance_to(seconds since_base) { offset_ = since_base.count(); }

    client connect() { return client(server_->port()); }

    asio::io_context ioc_;
    metrics metrics_;
    fs::path dir_;
    std::unique_ptr<store> db_;
    std::unique_ptr<status_server> server_;
    std::thread thread_;
    // The injected clock: a base and an offset the test moves (read on the server's thread).
    system_clock::time_point base_ = system_clock::time_point{t0};
    std::atomic<std::int64_t> offset_{0};
};

// --- /healthz -----------------------------------------------------------------------------------

TEST_F(status_server_test, healthz_is_ok_while_every_mailbox_syncs_and_names_the_stale_one) {
    // A clock far from the wall clock: health follows the daemon's time only.
    base_ = sys_days{2026y / November / 20} + 9h;
    metrics_.watching({"alice@example.com", "bob@example.com"}, minutes{5}, base_);
    metrics_.sync_succeeded("alice@example.com", 200ms, base_);
    metrics_.sync_succeeded("bob@example.com", 300ms, base_);
    start_server();

    advance_to(10min);
    client c = connect();
    auto r = c.get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok\n");
    EXPECT_THAT(r->header("content-type"), StartsWith("text/plain"));

    // Alice keeps syncing; Bob's last success is now 16 minutes old, past 3 poll intervals.
    on_server([&] { metrics_.sync_succeeded("alice@example.com", 200ms, base_ + 15min); });
    advance_to(16min);
    r = c.get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_THAT(r->body, HasSubstr("bob@example.com has not synced for 16m0s"));
    EXPECT_THAT(r->body, Not(HasSubstr("alice@example.com")));
    EXPECT_TRUE(r->body.ends_with("\n"));

    // Bob recovers.
    on_server([&] { metrics_.sync_succeeded("bob@example.com", 300ms, base_ + 16min); });
    r = c.get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST(metrics_health, a_new_mailbox_has_three_poll_intervals_and_at_least_three_minutes) {
    metrics m;
    const auto start = system_clock::now();
    m.watching({"new@example.com"}, seconds{10}, system_clock::now());
    EXPECT_TRUE(m.healthy(start).ok);
    // 3 × 10 s would be 30 s: the 3-minute floor keeps one slow sync from failing the check.
    EXPECT_TRUE(m.healthy(start + 2min).ok);
    const auto late = m.healthy(start + 4min);
    EXPECT_FALSE(late.ok);
    EXPECT_THAT(late.reason, HasSubstr("new@example.com has not synced since it was watched"));

    // A mailbox no longer watched is no longer checked.
    m.watching({}, seconds{10}, system_clock::now());
    EXPECT_TRUE(m.healthy(start + 4min).ok);
}

// --- /metrics -----------------------------------------------------------------------------------

TEST_F(status_server_test, metrics_are_prometheus_text_with_exact_counters_and_histograms) {
    const std::string alice = "alice@example.com";
    const std::string odd = "o\"dd\\one@example.com";  // a quote and a backslash to escape
    metrics_.watching({alice, odd}, minutes{1}, base_);
    metrics_.decision(alice, "decline", "untrusted_without_agenda", "intent");
    metrics_.decision(odd, "decline", "untrusted_without_agenda", "intent");
    metrics_.decision(alice, "leave", "default", "left");
    // Binary fractions, so that the sums print exactly.
    metrics_.sync_succeeded(alice, duration<double>{0.015625}, base_);
    metrics_.sync_succeeded(alice, duration<double>{0.75}, base_ + 1min);
    metrics_.sync_succeeded(alice, duration<double>{45}, base_ + 2min);
    metrics_.sync_failed(alice, "transient");
    metrics_.sync_failed(alice, "transient");
    metrics_.sync_failed(odd, "denied");
    metrics_.respond_finished(alice, duration<double>{0.125}, true);
    metrics_.respond_finished(alice, duration<double>{3}, false);
    start_server();

    client c = connect();
    const auto r = c.get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const std::string& m = r->body;

    const std::string t =
        std::to_string(duration_cast<seconds>((base_ + 2min).time_since_epoch()).count());
    const std::string expected_lines[] = {
        "agendad_up 1\n",
        "agendad_mailboxes_watched 2\n",
        // Over all mailboxes: a mailbox label would multiply the series.
        "agendad_decisions_total{action=\"decline\",rule=\"untrusted_without_agenda\","
        "state=\"intent\"} 2\n"
        "agendad_decisions_total{action=\"leave\",rule=\"default\",state=\"left\"} 1\n",
        "agendad_sync_errors_total{mailbox=\"alice@example.com\",kind=\"transient\"} 2\n"
        "agendad_sync_errors_total{mailbox=\"o\\\"dd\\\\one@example.com\",kind=\"denied\"} 1\n",
        "agendad_last_sync_success_timestamp_seconds{mailbox=\"alice@example.com\"} " + t + "\n" +
            "agendad_last_sync_success_timestamp_seconds{mailbox=\"o\\\"dd\\\\one@example.com\"} "
            "0\n",
        // Cumulative buckets: 0.015625 ≤ 0.025, 0.75 ≤ 1, 45 only in +Inf.
        "# TYPE agendad_sync_duration_seconds histogram\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"0.005\"} 0\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"0.01\"} 0\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"0.025\"} 1\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"0.05\"} 1\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"0.1\"} 1\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"0.25\"} 1\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"0.5\"} 1\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"1\"} 2\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"2.5\"} 2\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"5\"} 2\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"10\"} 2\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"30\"} 2\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"+Inf\"} 3\n"
        "agendad_sync_duration_seconds_sum{mailbox=\"alice@example.com\"} 45.765625\n"
        "agendad_sync_duration_seconds_count{mailbox=\"alice@example.com\"} 3\n"
        "agendad_sync_duration_seconds_bucket{mailbox=\"o\\\"dd\\\\one@example.com\",le=\"0.005\"} "
        "0\n",
        "agendad_sync_duration_seconds_bucket{mailbox=\"o\\\"dd\\\\one@example.com\",le=\"+Inf\"} "
        "0\n"
        "agendad_sync_duration_seconds_sum{mailbox=\"o\\\"dd\\\\one@example.com\"} 0\n"
        "agendad_sync_duration_seconds_count{mailbox=\"o\\\"dd\\\\one@example.com\"} 0\n",
        "agendad_respond_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"0.1\"} 0\n"
        "agendad_respond_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"0.25\"} 1\n",
        "agendad_respond_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"2.5\"} 1\n"
        "agendad_respond_duration_seconds_bucket{mailbox=\"alice@example.com\",le=\"5\"} 2\n",
        "agendad_respond_duration_seconds_sum{mailbox=\"alice@example.com\"} 3.125\n"
        "agendad_respond_duration_seconds_count{mailbox=\"alice@example.com\"} 2\n",
        "# TYPE agendad_respond_failures_total counter\n"
        "agendad_respond_failures_total{mailbox=\"alice@example.com\"} 1\n"
        "agendad_respond_failures_total{mailbox=\"o\\\"dd\\\\one@example.com\"} 0\n",
    };
    for (const auto& lines : expected_lines) EXPECT_THAT(m, HasSubstr(lines));

    // HELP and TYPE exactly once per family, and before its samples.
    const std::pair<std::string, std::string> families[] = {
        {"agendad_up", "gauge"},
        {"agendad_mailboxes_watched", "gauge"},
        {"agendad_decisions_total", "counter"},
        {"agendad_sync_errors_total", "counter"},
        {"agendad_last_sync_success_timestamp_seconds", "gauge"},
        {"agendad_sync_duration_seconds", "histogram"},
        {"agendad_respond_duration_seconds", "histogram"},
        {"agendad_respond_failures_total", "counter"},
    };
    for (const auto& [name, type] : families) {
        const std::string help = "# HELP " + name + " ";
        const std::string type_line = "# TYPE " + name + " " + type + "\n";
        EXPECT_EQ(m.find(help), m.rfind(help)) << name;
        const auto at = m.find(type_line);
        ASSERT_NE(at, std::string::npos) << name;
        EXPECT_EQ(at, m.rfind(type_line)) << name;
        EXPECT_LT(m.find(help), at) << name;
        EXPECT_LT(at, m.find("\n" + name)) << name;
    }
    // Every line is a comment or "name{labels} value", and the text ends with a newline.
    ASSERT_TRUE(m.ends_with("\n"));
    std::istringstream lines(m);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
        EXPECT_TRUE(line.starts_with("agendad_")) << line;
        const auto space = line.rfind(' ');
        ASSERT_NE(space, std::string::npos) << line;
        const std::string value = line.substr(space + 1);
        char* end = nullptr;
        std::strtod(value.c_str(), &end);
        EXPECT_TRUE(!value.empty() && *end == '\0') << line;
    }

    // The same text twice: ordering is deterministic.
    const auto again = c.get("/metrics");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->body, m);
}

TEST(metrics_render, mailboxes_no_longer_watched_disappear_and_newlines_are_escaped) {
    metrics m;
    m.watching({"a@example.com", "line\nbreak@example.com"}, minutes{1}, system_clock::now());
    m.sync_failed("a@example.com", "transient");
    EXPECT_THAT(m.render(system_clock::time_point{t0}),
                HasSubstr("agendad_last_sync_success_timestamp_seconds{mailbox="
                          "\"line\\nbreak@example.com\"} 0\n"));
    m.watching({"line\nbreak@example.com"}, minutes{1}, system_clock::now());
    const std::string text = m.render(system_clock::time_point{t0});
    EXPECT_THAT(text, Not(HasSubstr("a@example.com")));
    EXPECT_THAT(text, HasSubstr("agendad_mailboxes_watched 1\n"));
}

// --- /v1/decisions ------------------------------------------------------------------------------

class decisions_test : public status_server_test {
  protected:
    void SetUp() override {
        status_server_test::SetUp();
        ASSERT_TRUE(
            db_->record(entry("alice@example.com", "a1", t0, "decline", entry_state::done)));
        ASSERT_TRUE(
            db_->record(entry("bob@example.com", "b1", t0 + 1h, "leave", entry_state::left)));
        ASSERT_TRUE(db_->record(
            entry("alice@example.com", "a2", t0 + 24h, "request_agenda", entry_state::dry_run)));
        start_server();
    }

    // The uids of the decisions listed, in order; fails the test if the answer is not JSON.
    std::vector<std::string> uids(std::string_view target) {
        client c = connect();
        const auto r = c.get(target);
        if (!r || r->status != 200) {
            ADD_FAILURE() << target << ": " << (r ? r->status : 0) << " " << (r ? r->body : "");
            return {};
        }
        EXPECT_EQ(r->header("content-type"), "application/json");
        std::vector<std::string> out;
        const auto body = boost::json::parse(r->body);
        for (const auto& d : body.at("decisions").as_array())
            out.emplace_back(d.at("uid").as_string());
        return out;
    }

    void expect_bad_request(std::string_view target, std::string_view says) {
        client c = connect();
        const auto r = c.get(target);
        ASSERT_TRUE(r) << target;
        EXPECT_EQ(r->status, 400) << target;
        EXPECT_EQ(r->header("content-type"), "application/json");
        const auto body = boost::json::parse(r->body);
        EXPECT_THAT(std::string(body.at("error").as_string()), HasSubstr(says)) << target;
    }
};

TEST_F(decisions_test, lists_newest_first_with_the_fields_of_agendad_decisions_json) {
    client c = connect();
    const auto r = c.get("/v1/decisions");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const auto list = boost::json::parse(r->body).at("decisions").as_array();
    ASSERT_EQ(list.size(), 3u);
    // The field names of `agendad decisions --json` (daemon/decisions_command.cpp).
    const std::set<std::string> cli_fields{
        "id",   "mailbox", "uid",           "recurrence_id", "sequence",   "phase",
        "item", "subject", "organizer",     "start",         "decided_at", "finished_at",
        "rule", "action",  "send_response", "reply",         "reason",     "signals",
        "mode", "state",   "error",         "deadline"};
    for (const auto& d : list) {
        std::set<std::string> fields;
        for (const auto& kv : d.as_object()) fields.emplace(kv.key());
        EXPECT_EQ(fields, cli_fields);
    }
    const auto& newest = list[0].as_object();
    EXPECT_EQ(newest.at("uid").as_string(), "a2");
    EXPECT_EQ(newest.at("mailbox").as_string(), "alice@example.com");
    EXPECT_EQ(newest.at("action").as_string(), "request_agenda");
    EXPECT_EQ(newest.at("state").as_string(), "dry_run");
    EXPECT_EQ(newest.at("decided_at").as_string(), "2026-11-21T09:00:00Z");
    EXPECT_TRUE(newest.at("finished_at").is_null());
    EXPECT_EQ(newest.at("reply").as_string(), "Please send an agenda.");
    const auto& signals = newest.at("signals").as_array();
    ASSERT_EQ(signals.size(), 2u);
    EXPECT_EQ(signals[0].at("name").as_string(), "no_agenda");
    EXPECT_EQ(signals[0].at("evidence").as_string(), "empty description");
    const auto& oldest = list[2].as_object();
    EXPECT_EQ(oldest.at("uid").as_string(), "a1");
    EXPECT_EQ(oldest.at("finished_at").as_string(), "2026-11-20T09:00:02Z");
    EXPECT_TRUE(list[1].at("reply").is_null());  // a leave sends nothing
}

TEST_F(decisions_test, filters_by_mailbox_since_state_and_limit) {
    using v = std::vector<std::string>;
    EXPECT_EQ(uids("/v1/decisions"), (v{"a2", "b1", "a1"}));
    EXPECT_EQ(uids("/v1/decisions?mailbox=alice%40example.com"), (v{"a2", "a1"}));
    EXPECT_EQ(uids("/v1/decisions?mailbox=Bob@Example.com"), (v{"b1"}));  // as the CLI normalises
    EXPECT_EQ(uids("/v1/decisions?mailbox=nobody@example.com"), v{});
    EXPECT_EQ(uids("/v1/decisions?since=2026-11-20T10:00:00Z"), (v{"a2", "b1"}));
    EXPECT_EQ(uids("/v1/decisions?since=2026-11-21"), (v{"a2"}));
    EXPECT_EQ(uids("/v1/decisions?state=left"), (v{"b1"}));
    EXPECT_EQ(uids("/v1/decisions?limit=1"), (v{"a2"}));
    EXPECT_EQ(uids("/v1/decisions?mailbox=alice%40example.com&state=done&since=2026-11-20&limit=5"),
              (v{"a1"}));
}

TEST_F(decisions_test, bad_parameters_are_400_with_a_json_error) {
    expect_bad_request("/v1/decisions?since=yesterday", "since 'yesterday' is not a time");
    expect_bad_request("/v1/decisions?since=2026-13-01", "is not a time");
    expect_bad_request("/v1/decisions?state=maybe", "unknown state 'maybe'");
    expect_bad_request("/v1/decisions?limit=0", "limit '0'");
    expect_bad_request("/v1/decisions?limit=1001", "from 1 to 1000");
    expect_bad_request("/v1/decisions?limit=ten", "limit 'ten'");
    expect_bad_request("/v1/decisions?mailbx=alice@example.com", "unknown parameter 'mailbx'");
    expect_bad_request("/v1/decisions?limit=1&limit=2", "given twice");
    expect_bad_request("/v1/decisions?mailbox=%zz", "%-escape");
}

// --- tokens -------------------------------------------------------------------------------------

TEST_F(status_server_test, with_a_token_everything_but_healthz_needs_it) {
    status_options options;
    options.token = "correct-horse-battery-staple";
    start_server(options);
    client c = connect();
    for (const std::string path : {"/metrics", "/v1/decisions"}) {
        auto r = c.get(path);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 401) << path;
        EXPECT_THAT(r->header("www-authenticate"), StartsWith("Bearer")) << path;

        for (const std::string wrong : {"Bearer wrong", "Bearer correct-horse-battery-stapl",
                                        "Bearer correct-horse-battery-staple-and-more",
                                        "Basic Y29ycmVjdC1ob3JzZQ==", "Bearer "}) {
            r = c.get(path, "Authorization: " + wrong + "\r\n");
            ASSERT_TRUE(r);
            EXPECT_EQ(r->status, 401) << path << " with " << wrong;
            EXPECT_THAT(r->header("www-authenticate"), StartsWith("Bearer")) << path;
        }
        r = c.get(path, "Authorization: Bearer correct-horse-battery-staple\r\n");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << path << ": " << r->body;
        // The scheme is case-insensitive (RFC 7235).
        r = c.get(path, "Authorization: bearer correct-horse-battery-staple\r\n");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200) << path;
    }
    const auto health = c.get("/healthz");
    ASSERT_TRUE(health);
    EXPECT_EQ(health->status, 200);
}

TEST(status_server_start, refuses_anything_but_loopback_without_a_token) {
    asio::io_context ioc;
    metrics m;
    const fs::path dir =
        fs::temp_directory_path() / ("agendad-status-start-" + std::to_string(::getpid()));
    auto db = store::open(dir);
    ASSERT_TRUE(db) << db.error();
    const auto start = [&](const std::string& listen, std::optional<std::string> token) {
        status_options o;
        o.listen = listen;
        o.token = std::move(token);
        auto server = std::make_unique<status_server>(ioc.get_executor(), o, m, **db,
                                                      [] { return system_clock::time_point{t0}; });
        auto r = server->start();
        return std::make_pair(std::move(server), r ? std::string() : r.error());
    };

    EXPECT_EQ(start("0.0.0.0:9187", std::nullopt).second,
              "the status listener on 0.0.0.0:9187 is not loopback: set status.token_file");
    EXPECT_THAT(start("[::]:9187", std::nullopt).second, HasSubstr("is not loopback"));
    EXPECT_THAT(start("192.0.2.1:9187", std::nullopt).second, HasSubstr("is not loopback"));
    EXPECT_THAT(start("0.0.0.0:0", std::string()).second, HasSubstr("token is empty"));
    EXPECT_THAT(start("example.com:80", std::nullopt).second, HasSubstr("IP address"));
    EXPECT_THAT(start("127.0.0.1", std::nullopt).second, HasSubstr("no port"));
    EXPECT_THAT(start("127.0.0.1:65536", std::nullopt).second, HasSubstr("port"));
    EXPECT_THAT(start("::1:9187", std::nullopt).second, HasSubstr("brackets"));

    {
        auto [server, error] = start("localhost:0", std::nullopt);
        EXPECT_EQ(error, "");
        EXPECT_NE(server->port(), 0);
        // The port is taken now: a second listener says so instead of sharing it.
        const auto second = start("127.0.0.1:" + std::to_string(server->port()), std::nullopt);
        EXPECT_THAT(second.second, HasSubstr("cannot bind"));
    }
    // With a token, any address will do (last: the sandbox may forbid it).
    auto [server, error] = start("0.0.0.0:0", std::string("a-token"));
    const bool forbidden = error.find("ermission") != std::string::npos;
    if (!forbidden) {
        EXPECT_EQ(error, "");
        EXPECT_NE(server->port(), 0);
    }
    server.reset();
    db->reset();
    fs::remove_all(dir);
    if (forbidden) GTEST_SKIP() << "the sandbox forbids binding 0.0.0.0: " << error;
}

// --- limits, methods, keep-alive ----------------------------------------------------------------

TEST_F(status_server_test, an_oversized_header_is_refused_and_the_connection_closed) {
    start_server();
    client c = connect();
    const std::string big(100 * 1024, 'a');
    // The server may stop reading before all of it is sent; the answer is what counts.
    c.send("GET /metrics HTTP/1.1\r\nHost: localhost\r\nX-Big: " + big + "\r\n\r\n");
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->status == 431 || r->status == 413) << r->status;
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_TRUE(c.closed_within(2s));
}

TEST_F(status_server_test, a_client_that_sends_nothing_is_closed_after_the_timeout) {
    status_options options;
    options.timeout = 300ms;
    start_server(options);
    client c = connect();
    ASSERT_TRUE(c.connected());
    milliseconds took{};
    EXPECT_TRUE(c.closed_within(2s, &took));
    EXPECT_GE(took, 250ms);

    // A client that stops halfway through its request gets no more time.
    client slow = connect();
    ASSERT_TRUE(slow.send("GET /metrics HTTP/1.1\r\nHost: loc"));
    EXPECT_TRUE(slow.closed_within(2s));
}

TEST_F(status_server_test, only_get_and_head_and_only_known_paths) {
    start_server();
    client c = connect();
    ASSERT_TRUE(
        c.send("POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405);
    EXPECT_EQ(r->header("allow"), "GET, HEAD");

    r = c.get("/nothing-here");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
    r = c.get("/metrics/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);

    // HEAD: the headers of GET, Content-Length included, and no body (the next response on the
    // connection starts right after the headers).
    const auto get = c.get("/metrics");
    ASSERT_TRUE(get);
    ASSERT_TRUE(c.send("HEAD /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    r = c.read_response(/*head=*/true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("content-length"), std::to_string(get->body.size()));
    r = c.get("/healthz");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok\n");
}

TEST_F(status_server_test, a_body_over_the_limit_is_413) {
    status_options options;
    options.max_request_bytes = 1024;
    start_server(options);
    client c = connect();
    c.send("POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4096\r\n\r\n" +
           std::string(4096, 'x'));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_TRUE(c.closed_within(2s));
}

TEST_F(status_server_test, keep_alive_serves_several_requests_on_one_connection) {
    start_server();
    client c = connect();
    const auto first = c.get("/healthz");
    ASSERT_TRUE(first);
    EXPECT_EQ(first->status, 200);
    EXPECT_NE(first->header("connection"), "close");
    const auto second = c.get("/metrics");
    ASSERT_TRUE(second);
    EXPECT_EQ(second->status, 200);
    EXPECT_THAT(second->body, HasSubstr("agendad_up 1\n"));

    // Connection: close is honoured.
    const auto last = c.get("/healthz", "Connection: close\r\n");
    ASSERT_TRUE(last);
    EXPECT_EQ(last->header("connection"), "close");
    EXPECT_TRUE(c.closed_within(2s));

    // Garbage is a 400, then the connection ends.
    client bad = connect();
    ASSERT_TRUE(bad.send("HELLO\r\n\r\n"));
    const auto r = bad.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_TRUE(bad.closed_within(2s));
}

// --- stop() -------------------------------------------------------------------------------------

TEST_F(status_server_test, stop_closes_the_listener_and_every_connection) {
    start_server();
    client idle = connect();
    const auto r = idle.get("/healthz");  // accepted and served, now idle in keep-alive
    ASSERT_TRUE(r);
    client fresh = connect();  // accepted, no request yet
    ASSERT_TRUE(fresh.connected());
    const unsigned short port = server_->port();

    on_server([this] { server_->stop(); });
    EXPECT_TRUE(idle.closed_within(2s));
    EXPECT_TRUE(fresh.closed_within(2s));
    client refused(port);
    EXPECT_FALSE(refused.connected());
    thread_.join();  // nothing left running on the io_context
}

}  // namespace
}  // namespace agendad::daemon
