// The daemon end to end on Microsoft Graph, as the issue measures it: the built `agendad` binary
// in enforce mode (poll_seconds 60 by default) against the in-process fake Graph and token
// endpoint (support/fake_graph.h, TLS from a test CA, 127.0.0.1) serving N mailboxes (default
// 2000), each with three events: an accepted internal meeting in the past, an accepted internal
// meeting to come, and labeled-invitations/invites/d01.ics (an unknown external organizer
// without an agenda: the executive policy declines it with a reply). Figures:
//
//   - first sync: from the daemon's spawn to the moment every mailbox has completed one sync
//     round (its agendad_sync_duration_seconds_count on /metrics, read every second), and from
//     the fake's side, to the moment every mailbox's first delta round was answered;
//   - steady state: Graph requests per mailbox per hour, counted by the fake in the idle window
//     after the first sync, against the ideal of one delta request per mailbox per poll;
//   - idle: CPU% and RSS of the daemon with N mailboxes against the same with 100, measured in
//     the same run (the same fake, other mailboxes);
//   - concurrency: the fake's highest number of requests in flight for one mailbox (at most 4).
//
// The fake serves every connection from one thread of this process: its CPU (this process's
// time minus the main thread's) and its request latency are printed so that a fake at its limit
// is not mistaken for a slow daemon.
//
// It prints its figures and PASS/FAIL against the issue's targets, for information: exit status
// 0 whenever it could measure, 2 when it could not (no binary, a bad option, ...).

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "support/fake_graph.h"
#include "support/files.h"
#include "support/graph_events.h"
#include "support/process.h"

namespace {

using namespace agendad::bench;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using agendad::test_support::child_process;
using agendad::test_support::fake_graph;
using agendad::test_support::read_file;
using steady = std::chrono::steady_clock;

constexpr int exit_cannot_run = 2;

// The issue's targets.
constexpr double target_rss_mb = 200;  // decimal megabytes
constexpr double target_idle_cpu_percent = 2.0;
constexpr int target_in_flight = 4;

constexpr const char* now = "2026-11-20T09:00:00Z";  // the labelled set's world
const std::string org_domain = "contoso.example";
const std::string invited = "dana.whitfield@contoso.example";  // the attendee in d01.ics

struct cannot_measure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct options {
    int mailboxes = 2000;
    int baseline = 100;
    int idle_seconds = 130;
    int poll_seconds = 60;
    bool keep = false;
    std::string agendad = AGENDAD_BINARY;
};

constexpr std::string_view usage =
    R"(Usage: agendad_graph_bench [--mailboxes N] [--baseline N] [--idle-seconds S] [--poll-seconds S]
                           [--keep] [--agendad PATH]

The built agendad (enforce) against the in-process fake Microsoft Graph on 127.0.0.1: time to
the first complete sync of every mailbox, steady-state Graph requests per mailbox per hour, idle
CPU/RSS with N mailboxes against a baseline, and the highest concurrency per mailbox.

  --mailboxes N     mailboxes served and watched, default 2000
  --baseline N      mailboxes of the baseline daemon (measured first, same run), default 100
  --idle-seconds S  length of each idle window after the first sync, default 130
  --poll-seconds S  the source's poll_seconds, default 60
  --keep            keep the folder with the configurations, journals and logs
  --agendad PATH    the agendad binary to measure (default: the one built with this bench)
)";

// --- small helpers ----------------------------------------------------------------------------

const char* pass_fail(bool ok) {
    return ok ? "PASS" : "FAIL";
}

double seconds_between(steady::time_point from, steady::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

std::string mailbox_address(const std::string& prefix, int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%04d", prefix.c_str(), i);
    return buf + ("@" + org_domain);
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
    for (std::size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
}

// --- processes --------------------------------------------------------------------------------

struct proc_sample {
    steady::time_point at;
    double cpu_seconds = 0;
    double rss_mb = 0;
    double hwm_mb = 0;
};

// CPU time of every live thread (schedstat, ns) and VmRSS/VmHWM.
proc_sample sample_process(const std::string& pid) {
    proc_sample s;
    s.at = steady::now();
    const std::string proc = "/proc/" + pid;
    double ns = 0;
    std::error_code ec;
    for (const auto& task : fs::directory_iterator(proc + "/task", ec)) {
        std::istringstream first(read_file(task.path() / "schedstat"));
        double run = 0;
        if (first >> run) ns += run;
    }
    if (ec) throw cannot_measure("cannot read " + proc + "/task");
    s.cpu_seconds = ns / 1e9;
    std::istringstream status(read_file(proc + "/status"));
    std::string line;
    while (std::getline(status, line)) {
        const auto mb = [&] { return std::stod(line.substr(line.find(':') + 1)) * 1024 / 1e6; };
        if (line.starts_with("VmRSS:")) s.rss_mb = mb();
        if (line.starts_with("VmHWM:")) s.hwm_mb = mb();
    }
    return s;
}

// The fake's CPU: this process's threads but the main one (which only sleeps, scrapes and counts).
struct fake_cpu {
    steady::time_point at;
    double others = 0;
};

fake_cpu sample_fake() {
    const double main_thread = thread_cpu_seconds();
    const proc_sample self = sample_process("self");
    return {self.at, self.cpu_seconds - main_thread};
}

double fake_cpu_percent(const fake_cpu& a, const fake_cpu& b) {
    return 100 * (b.others - a.others) / std::max(seconds_between(a.at, b.at), 1e-9);
}

struct sync_counts {
    int mailboxes_synced = 0;  // mailboxes with at least one completed sync round
    double syncs = 0;
    double seconds = 0;
    double errors = 0;
    bool ok = false;
};

sync_counts scrape(std::uint16_t port) {
    sync_counts c;
    std::istringstream in(http_get(port, "/metrics", 10));
    std::string line;
    const auto value = [&] { return std::stod(line.substr(line.rfind(' ') + 1)); };
    while (std::getline(in, line)) {
        if (line.starts_with("agendad_sync_duration_seconds_count{")) {
            const double v = value();
            c.syncs += v;
            c.mailboxes_synced += v >= 1;
            c.ok = true;
        } else if (line.starts_with("agendad_sync_duration_seconds_sum{")) {
            c.seconds += value();
        } else if (line.starts_with("agendad_sync_errors_total{")) {
            c.errors += value();
        }
    }
    return c;
}

// --- the mailboxes ----------------------------------------------------------------------------

// d01.ics for `owner`, with a UID of its own; and two internal meetings Dana's world would hold.
class mailbox_events {
  public:
    explicit mailbox_events(const fs::path& file) : file_(file), ics_(read_file(file)) {
        if (ics_.find(invited) == std::string::npos || ics_.find("\nUID:") == std::string::npos)
            throw cannot_measure(file.string() + ": not the invitation this bench expects");
        const auto uid_at = ics_.find("\nUID:") + 5;
        uid_ = ics_.substr(uid_at, ics_.find_first_of("\r\n", uid_at) - uid_at);
    }

    void add_to(fake_graph& fake, const std::string& owner, int n) const {
        std::string ics = ics_;
        replace_all(ics, invited, owner);
        replace_all(ics, "UID:" + uid_,
                    "UID:agendad-graph-bench-" + std::to_string(n) + "-" + uid_);
        const auto events =
            agendad::test_support::graph_events_from_ics(ics, file_.filename().string(), owner);
        if (events.size() != 1) throw cannot_measure(file_.string() + ": not one event");
        fake.add_event(owner, events.front().json);
        fake.add_event(owner, internal(owner, n, "past", "2026-11-18T15:00:00.0000000",
                                       "2026-11-18T15:30:00.0000000"));
        fake.add_event(owner, internal(owner, n, "next", "2026-11-23T16:00:00.0000000",
                                       "2026-11-23T16:30:00.0000000"));
    }

  private:
    static std::string internal(const std::string& owner, int n, const std::string& which,
                                const std::string& start, const std::string& end) {
        const std::string colleague = "lee.morgan@" + org_domain;
        return R"({"iCalUId":"agendad-graph-bench-)" + which + "-" + std::to_string(n) +
               R"(","subject":"Weekly planning","bodyPreview":"Agenda: roadmap, hiring",)"
               R"("body":{"contentType":"text","content":"Agenda:\n1. Roadmap\n2. Hiring"},)"
               R"("start":{"dateTime":")" +
               start + R"(","timeZone":"UTC"},"end":{"dateTime":")" + end +
               R"(","timeZone":"UTC"},"isAllDay":false,"isCancelled":false,"isOrganizer":false,)"
               R"("responseRequested":true,"showAs":"busy",)"
               R"("responseStatus":{"response":"accepted","time":"2026-11-10T10:00:00Z"},)"
               R"("location":{"displayName":"Room 4"},)"
               R"("organizer":{"emailAddress":{"name":"Lee Morgan","address":")" +
               colleague +
               R"("}},"attendees":[{"type":"required","status":{"response":)"
               R"("accepted","time":"2026-11-10T10:00:00Z"},"emailAddress":{)"
               R"("name":"Owner","address":")" +
               owner + R"("}}]})";
    }

    fs::path file_;
    std::string ics_;
    std::string uid_;
};

// --- one daemon run ---------------------------------------------------------------------------

struct phase_figures {
    int mailboxes = 0;
    // first sync
    double first_sync_s = 0;         // every mailbox's sync count >= 1 on /metrics (1 s grain)
    double first_delta_s = 0;        // every mailbox's first delta answered, by the fake's log
    double startup_fake_cpu = 0;     // % of one core, spawn to first sync
    double startup_latency_p50 = 0;  // ms, the fake's receive-to-answer, spawn to first sync
    double startup_latency_p99 = 0;
    std::size_t startup_requests = 0;
    // idle window
    double idle_s = 0;
    double cpu_percent = 0;
    double rss_mb = 0;
    double hwm_mb = 0;
    double fake_cpu_percent = 0;
    std::size_t idle_requests = 0;  // Graph calls (not the token endpoint) in the window
    std::size_t idle_token_requests = 0;
    double requests_per_mailbox_hour = 0;
    double syncs_per_mailbox_hour = 0;
    double sync_errors = 0;
    // work done
    std::size_t declines = 0;
    std::size_t other_responses = 0;
    std::size_t error_lines = 0;
    std::size_t non_2xx = 0;
};

bool token_request(const fake_graph::request_record& r) {
    return r.target.find("/oauth2/v2.0/token") != std::string::npos;
}

class daemon_run {
  public:
    daemon_run(fake_graph& fake, const options& opt, const fs::path& folder,
               const std::vector<std::string>& mailboxes)
        : fake_(fake), mailboxes_(mailboxes), log_(folder / "agendad.log") {
        fs::create_directories(folder);
        const fs::path secret = folder / "graph-client-secret";
        agendad::test_support::write_file_atomically(secret, "test-client-secret\n");
        fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
        status_port_ = agendad::test_support::free_loopback_port();
        std::ostringstream yaml;
        yaml << "state_directory: " << (folder / "state").string() << "\n"
             << "log_level: info\n"
             << "status: {listen: \"127.0.0.1:" << status_port_ << "\"}\n"
             << "defaults: {max_declines_per_hour: 10000}\n"
             << "sources:\n"
             << "  m365:\n"
             << "    kind: graph\n"
             << "    tenant: contoso-tenant\n"
             << "    client_id: 11111111-2222-3333-4444-555555555555\n"
             << "    client_secret_file: " << secret.string() << "\n"
             << "    authority: " << fake.authority() << "\n"
             << "    graph_url: " << fake.graph_url() << "\n"
             << "    ca_file: " << fake.ca_file().string() << "\n"
             << "    poll_seconds: " << opt.poll_seconds << "\n"
             << "mailboxes:\n";
        for (const auto& m : mailboxes) {
            yaml << "  - address: " << m << "\n"
                 << "    source: m365\n"
                 << "    org_domains: [" << org_domain << "]\n"
                 << "    mode: enforce\n";
        }
        const fs::path config = folder / "agendad.yaml";
        agendad::test_support::write_file_atomically(config, yaml.str());
        requests_before_ = fake.requests().size();
        responses_before_ = fake.responses().size();
        spawned_ = steady::now();
        fake_at_spawn_ = sample_fake();
        process_ = std::make_unique<child_process>(
            std::vector<std::string>{opt.agendad, "run", "--config", config.string(), "--now", now},
            log_);
    }

    void check_alive() {
        if (!process_->running())
            throw cannot_measure("agendad " + process_->status() + "; its log:\n" + tail_of(log_));
    }

    phase_figures measure(int idle_seconds) {
        phase_figures f;
        f.mailboxes = static_cast<int>(mailboxes_.size());
        const std::string pid = std::to_string(process_->pid());

        // 1. Every mailbox synced once.
        const auto deadline = spawned_ + 15min;
        int last_reported = -1;
        auto next_report = steady::now() + 15s;
        for (;;) {
            check_alive();
            const sync_counts c = scrape(status_port_);
            if (c.ok && c.mailboxes_synced >= f.mailboxes) break;
            if (steady::now() > deadline)
                throw cannot_measure("timed out waiting for the first sync of every mailbox (" +
                                     std::to_string(c.mailboxes_synced) + " of " +
                                     std::to_string(f.mailboxes) + "); agendad's log:\n" +
                                     tail_of(log_));
            if (steady::now() > next_report && c.mailboxes_synced != last_reported) {
                std::cout << "    " << c.mailboxes_synced << " of " << f.mailboxes
                          << " mailboxes synced after "
                          << fmt(seconds_between(spawned_, steady::now()), 0) << " s\n"
                          << std::flush;
                last_reported = c.mailboxes_synced;
                next_report = steady::now() + 15s;
            }
            std::this_thread::sleep_for(1s);
        }
        const auto synced_at = steady::now();
        const fake_cpu fake_synced = sample_fake();
        f.first_sync_s = seconds_between(spawned_, synced_at);
        f.startup_fake_cpu = fake_cpu_percent(fake_at_spawn_, fake_synced);
        {
            const auto all = fake_.requests();
            const std::set<std::string> mine = lower_set();
            std::map<std::string, steady::time_point> first_delta;
            std::vector<double> latency_ms;
            for (std::size_t i = requests_before_; i < all.size(); ++i) {
                const auto& r = all[i];
                if (r.answered > synced_at) continue;
                latency_ms.push_back(
                    std::chrono::duration<double, std::milli>(r.answered - r.received).count());
                ++f.startup_requests;
                if (r.status == 200 && r.target.find("/calendarView/delta") != std::string::npos &&
                    mine.count(r.user) && !first_delta.count(r.user))
                    first_delta[r.user] = r.answered;
            }
            steady::time_point last = spawned_;
            for (const auto& [user, at] : first_delta) last = std::max(last, at);
            f.first_delta_s =
                first_delta.size() == mine.size() ? seconds_between(spawned_, last) : -1;
            f.startup_latency_p50 = percentile(latency_ms, 50);
            f.startup_latency_p99 = percentile(latency_ms, 99);
        }
        std::cout << "    every mailbox synced " << fmt(f.first_sync_s)
                  << " s after the start; idle " << idle_seconds << " s ...\n"
                  << std::flush;

        // 2. Idle: a few seconds for the first round's responses to settle, then the window.
        std::this_thread::sleep_for(3s);
        check_alive();
        const std::size_t requests0 = fake_.requests().size();
        const sync_counts m0 = scrape(status_port_);
        const proc_sample a0 = sample_process(pid);
        const fake_cpu g0 = sample_fake();
        std::this_thread::sleep_for(std::chrono::seconds{idle_seconds});
        const proc_sample a1 = sample_process(pid);
        const fake_cpu g1 = sample_fake();
        const sync_counts m1 = scrape(status_port_);
        const auto all = fake_.requests();
        check_alive();
        f.idle_s = seconds_between(a0.at, a1.at);
        f.cpu_percent = 100 * (a1.cpu_seconds - a0.cpu_seconds) / f.idle_s;
        f.rss_mb = a1.rss_mb;
        f.hwm_mb = a1.hwm_mb;
        f.fake_cpu_percent = fake_cpu_percent(g0, g1);
        for (std::size_t i = requests0; i < all.size(); ++i) {
            if (token_request(all[i]))
                ++f.idle_token_requests;
            else
                ++f.idle_requests;
        }
        const double scale = 3600.0 / f.idle_s / f.mailboxes;
        f.requests_per_mailbox_hour = static_cast<double>(f.idle_requests) * scale;
        if (m0.ok && m1.ok) f.syncs_per_mailbox_hour = (m1.syncs - m0.syncs) * scale;
        f.sync_errors = m1.errors;
        for (std::size_t i = requests_before_; i < all.size(); ++i)
            f.non_2xx += all[i].status < 200 || all[i].status > 299;
        const auto responses = fake_.responses();
        for (std::size_t i = responses_before_; i < responses.size(); ++i) {
            if (responses[i].action == "decline")
                ++f.declines;
            else
                ++f.other_responses;
        }
        f.error_lines = log_count("error") + log_count("warn");
        return f;
    }

    void stop() {
        process_->stop(20s);
        if (process_->status() != "exited with status 0")
            std::cout << "    note: agendad " << process_->status() << " after SIGTERM\n";
    }

    std::string first_error_lines(std::size_t n) const {
        std::istringstream in(read_file(log_));
        std::string line, out;
        while (std::getline(in, line) && n > 0) {
            if (line.find("error") != std::string::npos || line.find("warn") != std::string::npos) {
                out += "      " + line.substr(0, 200) + "\n";
                --n;
            }
        }
        return out;
    }

  private:
    std::set<std::string> lower_set() const {
        std::set<std::string> out;
        for (std::string m : mailboxes_) {
            std::transform(m.begin(), m.end(), m.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            out.insert(m);
        }
        return out;
    }

    std::size_t log_count(std::string_view needle) const {
        std::istringstream in(read_file(log_));
        std::string line;
        std::size_t n = 0;
        while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
        return n;
    }

    fake_graph& fake_;
    std::vector<std::string> mailboxes_;
    fs::path log_;
    std::uint16_t status_port_ = 0;
    std::size_t requests_before_ = 0;
    std::size_t responses_before_ = 0;
    steady::time_point spawned_;
    fake_cpu fake_at_spawn_;
    std::unique_ptr<child_process> process_;
};

// --- output -----------------------------------------------------------------------------------

void print(const options& opt, const phase_figures& base, const phase_figures& many, int in_flight,
           int tokens) {
    const double ideal = 3600.0 / opt.poll_seconds;
    std::cout << "\nfirst complete sync (from the spawn; /metrics read every second)\n\n"
              << "  " << pad("mailboxes", 10) << pad("synced s", 10) << pad("deltas s", 10)
              << pad("requests", 10) << pad("fake p50 ms", 13) << pad("fake p99 ms", 13)
              << pad("fake CPU %", 12) << '\n';
    for (const phase_figures* f : {&base, &many}) {
        std::cout << "  " << pad(std::to_string(f->mailboxes), 10) << pad(fmt(f->first_sync_s), 10)
                  << pad(fmt(f->first_delta_s), 10) << pad(std::to_string(f->startup_requests), 10)
                  << pad(fmt(f->startup_latency_p50, 2), 13)
                  << pad(fmt(f->startup_latency_p99, 2), 13) << pad(fmt(f->startup_fake_cpu), 12)
                  << '\n';
    }
    std::cout << "  (deltas s: every mailbox's first calendarView/delta answered, by the fake's "
                 "log; fake CPU: its one serving thread, 100 % = saturated)\n";
    if (many.startup_fake_cpu > 80)
        std::cout << "  note: the fake Graph was near one full core during the first sync: the "
                     "start-up figure is bounded by the fake, not only by agendad\n";

    std::cout << "\nidle after the first sync (poll_seconds " << opt.poll_seconds << ")\n\n"
              << "  " << pad("mailboxes", 10) << pad("window s", 10) << pad("CPU %", 9)
              << pad("RSS MB", 9) << pad("peak MB", 9) << pad("req/mbx/h", 11)
              << pad("syncs/mbx/h", 13) << pad("tokens", 8) << pad("fake CPU %", 12) << '\n';
    for (const phase_figures* f : {&base, &many}) {
        std::cout << "  " << pad(std::to_string(f->mailboxes), 10) << pad(fmt(f->idle_s), 10)
                  << pad(fmt(f->cpu_percent, 2), 9) << pad(fmt(f->rss_mb), 9)
                  << pad(fmt(f->hwm_mb), 9) << pad(fmt(f->requests_per_mailbox_hour), 11)
                  << pad(fmt(f->syncs_per_mailbox_hour), 13)
                  << pad(std::to_string(f->idle_token_requests), 8)
                  << pad(fmt(f->fake_cpu_percent, 2), 12) << '\n';
    }
    const double extra = std::max(1, many.mailboxes - base.mailboxes);
    std::cout << "\n  " << many.mailboxes << " against " << base.mailboxes << " mailboxes: CPU "
              << fmt(many.cpu_percent / std::max(base.cpu_percent, 0.001), 1) << "x, RSS "
              << fmt(many.rss_mb / std::max(base.rss_mb, 0.001), 2) << "x; per extra mailbox +"
              << fmt(1000 * (many.rss_mb - base.rss_mb) / extra, 1) << " kB RSS\n"
              << "  Graph requests per mailbox per hour " << fmt(many.requests_per_mailbox_hour)
              << " against the ideal " << fmt(ideal, 0)
              << " (one delta request per poll): " << fmt(many.requests_per_mailbox_hour / ideal, 2)
              << "x\n";

    std::cout << "\nwork done: " << many.declines << " declines for " << many.mailboxes
              << " mailboxes (" << base.declines << " for " << base.mailboxes << "), "
              << many.other_responses + base.other_responses << " other responses; " << tokens
              << " tokens issued; " << many.non_2xx << " non-2xx answers; " << many.sync_errors
              << " sync errors on /metrics; " << many.error_lines
              << " warning/error lines in agendad's log\n";

    std::cout << "\n  idle CPU with " << many.mailboxes << " mailboxes " << fmt(many.cpu_percent, 2)
              << " % (target < " << fmt(target_idle_cpu_percent, 0)
              << " %): " << pass_fail(many.cpu_percent < target_idle_cpu_percent) << '\n'
              << "  RSS with " << many.mailboxes << " mailboxes " << fmt(many.rss_mb)
              << " MB, peak " << fmt(many.hwm_mb) << " MB (target < " << fmt(target_rss_mb, 0)
              << " MB): " << pass_fail(many.hwm_mb < target_rss_mb) << '\n'
              << "  concurrent requests per mailbox, highest " << in_flight
              << " (target <= " << target_in_flight
              << "): " << pass_fail(in_flight <= target_in_flight) << '\n'
              << "  declines " << many.declines << " = mailboxes " << many.mailboxes << ": "
              << pass_fail(many.declines == static_cast<std::size_t>(many.mailboxes)) << '\n';
}

int run(const options& opt) {
    const auto bench_started = steady::now();
    if (!fs::exists(opt.agendad)) throw cannot_measure("no agendad binary at " + opt.agendad);
    const fs::path invite =
        fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations" / "invites" / "d01.ics";
    const mailbox_events events(invite);

    agendad::test_support::temp_folder own("agendad-graph-bench");
    fs::path folder = own.path();
    if (opt.keep) {
        folder = fs::temp_directory_path() / ("agendad-graph-bench-" + std::to_string(::getpid()));
        fs::create_directories(folder);
    }

    std::cout << "agendad Graph daemon benchmark: " << opt.agendad << " run (enforce, poll_seconds "
              << opt.poll_seconds << ", --now " << now << ")\n"
              << "  against the in-process fake Graph on 127.0.0.1 (TLS, one serving thread); "
                 "3 events per mailbox, one of them "
              << invite.filename().string() << " (declined with a reply)\n"
              << "  machine: " << std::thread::hardware_concurrency() << " cores, load average "
              << load_average() << "\n"
              << std::flush;

    fake_graph::options fo;
    fo.folder = folder / "fake-graph";
    fake_graph fake(fo);
    std::vector<std::string> base_mailboxes, many_mailboxes;
    for (int i = 1; i <= opt.baseline; ++i) {
        base_mailboxes.push_back(mailbox_address("base", i));
        events.add_to(fake, base_mailboxes.back(), i);
    }
    for (int i = 1; i <= opt.mailboxes; ++i) {
        many_mailboxes.push_back(mailbox_address("mbx", i));
        events.add_to(fake, many_mailboxes.back(), opt.baseline + i);
    }
    std::cout << "  setup: " << opt.baseline + opt.mailboxes << " mailboxes in "
              << fmt(seconds_between(bench_started, steady::now())) << " s\n"
              << std::flush;

    phase_figures base, many;
    {
        std::cout << "  " << opt.baseline << " mailboxes (baseline):\n" << std::flush;
        daemon_run d(fake, opt, folder / "baseline", base_mailboxes);
        base = d.measure(opt.idle_seconds);
        d.stop();
    }
    std::string errors;
    {
        std::cout << "  " << opt.mailboxes << " mailboxes:\n" << std::flush;
        daemon_run d(fake, opt, folder / "many", many_mailboxes);
        many = d.measure(opt.idle_seconds);
        errors = d.first_error_lines(5);
        d.stop();
    }
    print(opt, base, many, fake.max_in_flight_per_user(), fake.tokens_issued());
    if (!errors.empty()) std::cout << "  agendad's first warning/error lines:\n" << errors;
    std::cout << "  whole run: " << fmt(seconds_between(bench_started, steady::now()), 0) << " s";
    if (opt.keep) std::cout << "; kept in " << folder.string();
    std::cout << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        const auto value = [&](int lo, int hi, int& out) {
            if (i + 1 >= argc || !parse_int(argv[i + 1], lo, hi, out)) {
                std::cerr << "agendad_graph_bench: " << a << " needs a number from " << lo << " to "
                          << hi << "\n"
                          << usage;
                std::exit(exit_cannot_run);
            }
            ++i;
        };
        if (a == "--mailboxes") {
            value(1, 20000, opt.mailboxes);
        } else if (a == "--baseline") {
            value(1, 20000, opt.baseline);
        } else if (a == "--idle-seconds") {
            value(1, 3600, opt.idle_seconds);
        } else if (a == "--poll-seconds") {
            value(1, 3600, opt.poll_seconds);
        } else if (a == "--keep") {
            opt.keep = true;
        } else if (a == "--agendad") {
            if (i + 1 >= argc) {
                std::cerr << "agendad_graph_bench: --agendad needs a path\n" << usage;
                return exit_cannot_run;
            }
            opt.agendad = argv[++i];
        } else if (a == "-h" || a == "--help") {
            std::cout << usage;
            return 0;
        } else {
            std::cerr << "agendad_graph_bench: unknown option " << a << "\n" << usage;
            return exit_cannot_run;
        }
    }
    try {
        return run(opt);
    } catch (const std::exception& e) {
        std::cerr << "agendad_graph_bench: cannot measure: " << e.what() << "\n";
        return exit_cannot_run;
    }
}
