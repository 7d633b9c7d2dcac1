// The daemon end to end on CalDAV, as the issue measures it: the built `agendad` binary in
// enforce mode against a real Radicale on loopback (poll_seconds 1) and a real SMTP server
// (aiosmtpd). Two figures:
//
//   - latency: from an invitation's PUT (its completion) to the moment the owner's PARTSTAT on the
//     server becomes DECLINED (the daemon's PUT storing it), p50/p90/p99/max, against an ideal
//     1 s poller (uniform phase, no work: 500 ms mean) and the floor of the measurement (one PUT
//     plus one GET round trip to the same Radicale, measured in the same run);
//   - idle: CPU% and RSS of the daemon watching N mailboxes (default 100) once everything is
//     answered, against the same daemon watching one mailbox, measured in the same run. "Idle"
//     still polls every calendar every second: N sync REPORTs per second to Radicale.
//
// It prints its figures and PASS/FAIL against the issue's targets, for information: exit status
// 0 whenever it could measure, 2 when it could not (no Radicale, no binary, a bad option, ...).

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "calendar/caldav/webdav.h"
#include "calendar/http/http_client.h"
#include "calendar/ical/parse.h"
#include "calendar/invitation.h"
#include "daemon/poll_schedule.h"
#include "support/files.h"
#include "support/process.h"
#include "support/radicale.h"
#include "support/smtp_sink.h"

namespace {

using namespace agendad::bench;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using agendad::test_support::child_process;
using agendad::test_support::radicale;
using agendad::test_support::radicale_options;
using agendad::test_support::read_file;
using agendad::test_support::smtp_sink;
using steady = std::chrono::steady_clock;
using wall = std::chrono::system_clock;

constexpr int exit_cannot_run = 2;

// The issue's targets.
constexpr double target_p50_ms = 1500;
constexpr double target_idle_cpu_percent = 1.0;
constexpr double target_rss_mb = 50;  // decimal megabytes: 50,000,000 bytes

constexpr int poll_seconds = 1;
constexpr double ideal_mean_ms = poll_seconds * 1000.0 / 2;

const std::string user = "bench";
const std::string password = "bench-secret";
const std::string org_domain = "contoso.example";

// Anything that keeps the bench from measuring.
struct cannot_measure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct options {
    int mailboxes = 100;
    int samples = 60;
    int idle_seconds = 20;
    bool keep = false;
    bool tls = false;
    bool keep_alive = false;
    std::string agendad = AGENDAD_BINARY;
};

constexpr std::string_view usage =
    R"(Usage: agendad_caldav_bench [--mailboxes N] [--samples N] [--idle-seconds S] [--tls | --keep-alive] [--keep]
                            [--agendad PATH]

The built agendad (enforce, poll_seconds 1) against a real Radicale and aiosmtpd on 127.0.0.1:
invitation-to-PARTSTAT latency, and idle CPU/RSS with N mailboxes against 1 mailbox.

  --mailboxes N     mailboxes watched (one Radicale calendar each), default 100
  --samples N       invitations timed, default 60
  --idle-seconds S  length of each idle window (1 mailbox, then N), default 20
  --tls             Radicale over HTTPS (a test CA) instead of plain HTTP
  --keep-alive      Radicale behind waitress (python3-waitress), a WSGI server with HTTP/1.1
                    keep-alive, as production deployments run it, instead of its built-in
                    HTTP/1.0 server (a new connection for every request)
  --keep            keep the folder with the configurations, journals and logs
  --agendad PATH    the agendad binary to measure (default: the one built with this bench)
)";

// --- small helpers
// --------------------------------------------------------------------------------

std::string mailbox_name(int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "mb%03d", i);
    return buf;
}

double median(std::vector<double> v) {
    return percentile(std::move(v), 50);
}

double ms_between(wall::time_point from, wall::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
}

// TcpExt ListenOverflows of /proc/net/netstat: connections a full accept queue turned away, on
// the whole machine (other programs' included).
long long listen_overflows() {
    std::istringstream in(read_file("/proc/net/netstat"));
    std::string names, values;
    while (std::getline(in, names) && std::getline(in, values)) {
        if (!names.starts_with("TcpExt:")) continue;
        std::istringstream n(names), v(values);
        std::string name, value;
        while (n >> name && v >> value) {
            if (name == "ListenOverflows") return std::stoll(value);
        }
    }
    return 0;
}

// --- the invitation -----------------------------------------------------------------------------

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t') && !lines.empty())
            lines.back() += line.substr(1);
        else
            lines.push_back(line);
    }
    return lines;
}

// Folded at 75 octets (RFC 5545 §3.1), CRLF.
std::string folded(const std::string& line) {
    std::string out;
    std::size_t at = 0;
    std::size_t width = 75;
    while (line.size() - at > width) {
        std::size_t cut = at + width;
        // Never inside a UTF-8 sequence.
        while (cut > at && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
        out += line.substr(at, cut - at) + "\r\n ";
        at = cut;
        width = 74;
    }
    return out + line.substr(at) + "\r\n";
}

// labeled-invitations/invites/d01.ics (an unknown external organizer without an agenda: the
// default policy declines it with a reply), as a calendar client stores it (no METHOD), for any
// mailbox, UID and day.
class invitation_template {
  public:
    explicit invitation_template(const fs::path& file) : lines_(lines_of(read_file(file))) {
        bool uid = false, attendee = false, start = false;
        for (const auto& l : lines_) {
            uid = uid || l.starts_with("UID:");
            attendee = attendee || (l.starts_with("ATTENDEE") &&
                                    l.find("dana.whitfield@contoso.example") != std::string::npos);
            start = start || l.starts_with("DTSTART;TZID=");
        }
        if (!uid || !attendee || !start)
            throw cannot_measure(file.string() + ": not the invitation this bench expects");
    }

    // `day`: YYYYMMDD, the meeting's date in its own time zone (10:00-10:15 Pacific).
    std::string make(const std::string& uid, const std::string& address, const std::string& name,
                     const std::string& day) const {
        std::string out;
        for (const auto& l : lines_) {
            if (l.starts_with("METHOD:")) continue;
            if (l.starts_with("UID:")) {
                out += folded("UID:" + uid);
            } else if (l.starts_with("ATTENDEE") &&
                       l.find("dana.whitfield@contoso.example") != std::string::npos) {
                out += folded("ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=" +
                              name + ":mailto:" + address);
            } else if (l.starts_with("DTSTART;TZID=") || l.starts_with("DTEND;TZID=")) {
                const auto colon = l.find(':');
                out += folded(l.substr(0, colon + 1) + day + l.substr(colon + 9));
            } else {
                out += folded(l);
            }
        }
        return out;
    }

  private:
    std::vector<std::string> lines_;
};

// Two days from now (UTC), as YYYYMMDD: 10:00 Pacific on that day is in the future.
std::string meeting_day() {
    const std::time_t t = wall::to_time_t(wall::now() + 48h);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y%m%d", &tm);
    return buf;
}

// --- what the server holds --------------------------------------------------------------------

struct file_stamp {
    bool exists = false;
    wall::time_point mtime;
    bool operator==(const file_stamp&) const = default;
};

file_stamp stamp_of(const fs::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return {};
    const auto since_epoch =
        std::chrono::seconds{st.st_mtim.tv_sec} + std::chrono::nanoseconds{st.st_mtim.tv_nsec};
    return {true, wall::time_point{std::chrono::duration_cast<wall::duration>(since_epoch)}};
}

std::optional<agendad::calendar::partstat> owner_partstat(const std::string& text,
                                                          const std::string& address) {
    auto parsed =
        agendad::calendar::parse_ics(text, "bench", agendad::calendar::parse_options{address});
    if (!parsed || parsed->events.empty() || !parsed->events.front().owner) return std::nullopt;
    return parsed->events.front().owner->partstat;
}

bool declined_in(const std::string& text, const std::string& address) {
    return owner_partstat(text, address) == agendad::calendar::partstat::declined;
}

// --- one calendar per mailbox on the server -----------------------------------------------------

struct mailbox {
    std::string local;     // mb001
    std::string address;   // mb001@contoso.example
    std::string name;      // "Mailbox 001"
    std::string calendar;  // /bench/mb001/
};

class server {
  public:
    server(bool tls, bool keep_alive, const invitation_template& invite)
        : radicale_(options_for(tls, keep_alive)), invite_(invite), tls_(tls) {
        radicale_.start();
        sink_.start();
    }

    radicale& dav() { return radicale_; }
    smtp_sink& smtp() { return sink_; }
    bool tls() const { return tls_; }

    static radicale_options options_for(bool tls, bool keep_alive) {
        radicale_options o;
        o.users = {{user, password}};
        o.tls = tls;
        o.keep_alive = keep_alive;
        return o;
    }

    mailbox add_mailbox(const std::string& local, const std::string& display) {
        mailbox m{local, local + "@" + org_domain, display, "/" + user + "/" + local + "/"};
        radicale_.make_calendar(user, m.calendar, display);
        return m;
    }

    std::string href_for(const mailbox& m, const std::string& uid) const {
        return m.calendar + uid + ".ics";
    }

    // Radicale's filesystem storage: <filesystem_folder>/collection-root/<path>.
    fs::path stored_file(const std::string& href) const {
        return radicale_.storage() / "collection-root" / href.substr(1);
    }

    // Stores an invitation for `m`; returns its href. The completion time is taken by the caller.
    std::string deliver(const mailbox& m, const std::string& uid, const std::string& day) {
        const std::string href = href_for(m, uid);
        radicale_.put(user, href, invite_.make(uid, m.address, m.name, day));
        return href;
    }

  private:
    radicale radicale_;
    smtp_sink sink_;
    const invitation_template& invite_;
    bool tls_;
};

// --- the daemon as a process ------------------------------------------------------------------

struct proc_sample {
    steady::time_point at;
    double cpu_seconds = 0;  // time on a CPU, every thread
    double rss_mb = 0;       // VmRSS
    double hwm_mb = 0;       // VmHWM
};

// `threads_ns`: CPU time from the live threads' schedstat (ns); for a process whose threads live
// on (the daemon's: the event loop and asio's resolver). Else from /proc/PID/stat (10 ms ticks,
// but exited threads included: Radicale runs a thread per request).
proc_sample sample_process(pid_t pid, bool threads_ns) {
    proc_sample s;
    s.at = steady::now();
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos)
        throw cannot_measure("cannot read /proc/" + std::to_string(pid));
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f;
    std::string x;
    while (fields >> x) f.push_back(x);
    if (f.size() < 13) throw cannot_measure("unexpected /proc/PID/stat");
    // After "(comm) ": state is field 3; utime and stime are fields 14 and 15.
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    s.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    // The scheduler's own account, in nanoseconds (utime/stime are in ticks of 10 ms): the sum
    // over the live threads' /proc/PID/task/TID/schedstat.
    double ns = 0;
    bool all = true;
    std::error_code ec;
    for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::istringstream first(read_file(task.path() / "schedstat"));
        double run = -1;
        if (!(first >> run) || run < 0) all = false;
        ns += std::max(run, 0.0);
    }
    if (threads_ns && !ec && all && ns > 0) s.cpu_seconds = ns / 1e9;
    std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
    std::string line;
    while (std::getline(status, line)) {
        const auto kb = [&] { return std::stod(line.substr(line.find(':') + 1)) * 1024 / 1e6; };
        if (line.starts_with("VmRSS:")) s.rss_mb = kb();
        if (line.starts_with("VmHWM:")) s.hwm_mb = kb();
    }
    return s;
}

struct sync_counts {
    double syncs = 0;        // sum of agendad_sync_duration_seconds_count over mailboxes
    double seconds = 0;      // sum of agendad_sync_duration_seconds_sum
    double sync_errors = 0;  // sum of agendad_sync_errors_total
    bool ok = false;
};

sync_counts scrape(std::uint16_t port) {
    sync_counts c;
    std::istringstream in(http_get(port, "/metrics"));
    std::string line;
    const auto value = [&] { return std::stod(line.substr(line.rfind(' ') + 1)); };
    while (std::getline(in, line)) {
        if (line.starts_with("agendad_sync_duration_seconds_count{")) {
            c.syncs += value();
            c.ok = true;
        } else if (line.starts_with("agendad_sync_duration_seconds_sum{")) {
            c.seconds += value();
        } else if (line.starts_with("agendad_sync_errors_total{")) {
            c.sync_errors += value();
        }
    }
    return c;
}

struct daemon_run {
    std::vector<mailbox> mailboxes;
    fs::path folder;
    fs::path log;
    std::uint16_t status_port = 0;
    std::unique_ptr<child_process> process;

    void check_alive() {
        if (!process->running()) {
            throw cannot_measure("agendad " + process->status() + "; its log:\n" + tail_of(log));
        }
    }

    // Waits until `done()` or the daemon dies or `timeout` passes.
    template <class F>
    void wait_until(F done, std::chrono::milliseconds timeout, const std::string& what) {
        const auto until = steady::now() + timeout;
        while (!done()) {
            check_alive();
            if (steady::now() > until)
                throw cannot_measure("timed out waiting for " + what + "; agendad's log:\n" +
                                     tail_of(log));
            std::this_thread::sleep_for(20ms);
        }
    }

    std::size_t log_count(std::string_view needle) const {
        std::istringstream in(read_file(log));
        std::string line;
        std::size_t n = 0;
        while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
        return n;
    }
};

daemon_run start_daemon(server& s, const std::string& binary, const fs::path& folder,
                        const std::vector<mailbox>& mailboxes) {
    daemon_run d;
    d.mailboxes = mailboxes;
    d.folder = folder;
    d.log = folder / "agendad.log";
    fs::create_directories(folder);
    const fs::path secret = folder / "caldav-password";
    agendad::test_support::write_file_atomically(secret, password + "\n");
    fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
    d.status_port = agendad::test_support::free_loopback_port();

    std::ostringstream yaml;
    yaml << "state_directory: " << (folder / "state").string() << "\n"
         << "log_level: info\n"
         << "status: {listen: \"127.0.0.1:" << d.status_port << "\"}\n"
         << "defaults: {max_declines_per_hour: 10000}\n"
         << "sources:\n"
         << "  radicale:\n"
         << "    kind: caldav\n"
         << "    url: " << s.dav().url("/") << "\n"
         << "    user: " << user << "\n"
         << "    password_file: " << secret.string() << "\n";
    if (s.tls()) yaml << "    ca_file: " << s.dav().ca_file().string() << "\n";
    yaml << "    poll_seconds: " << poll_seconds << "\n"
         << "    smtp: {host: 127.0.0.1, port: " << s.smtp().port() << ", security: none}\n"
         << "mailboxes:\n";
    for (const auto& m : mailboxes) {
        yaml << "  - address: " << m.address << "\n"
             << "    source: radicale\n"
             << "    calendar: " << m.calendar << "\n"
             << "    org_domains: [" << org_domain << "]\n"
             << "    mode: enforce\n";
    }
    const fs::path config = folder / "agendad.yaml";
    agendad::test_support::write_file_atomically(config, yaml.str());
    d.process = std::make_unique<child_process>(
        std::vector<std::string>{binary, "run", "--config", config.string()}, d.log);
    return d;
}

// --- phases -----------------------------------------------------------------------------------

struct idle_figures {
    int mailboxes = 0;
    double seconds = 0;
    double cpu_percent = 0;
    double rss_mb = 0;
    double hwm_mb = 0;
    double radicale_cpu_percent = 0;
    double syncs_per_second = 0;  // 0 when the metrics could not be read
    double mean_sync_ms = 0;
    double sync_errors = 0;
};

// The daemon left alone (nothing to decide, every calendar polled every second).
idle_figures measure_idle(daemon_run& d, server& s, int seconds) {
    d.check_alive();
    const sync_counts m0 = scrape(d.status_port);
    const proc_sample a0 = sample_process(d.process->pid(), true);
    const proc_sample r0 = sample_process(s.dav().pid(), false);
    std::this_thread::sleep_for(std::chrono::seconds{seconds});
    const proc_sample a1 = sample_process(d.process->pid(), true);
    const proc_sample r1 = sample_process(s.dav().pid(), false);
    const sync_counts m1 = scrape(d.status_port);
    d.check_alive();

    idle_figures f;
    f.mailboxes = static_cast<int>(d.mailboxes.size());
    f.seconds = std::chrono::duration<double>(a1.at - a0.at).count();
    f.cpu_percent = 100 * (a1.cpu_seconds - a0.cpu_seconds) / f.seconds;
    f.rss_mb = a1.rss_mb;
    f.hwm_mb = a1.hwm_mb;
    const double radicale_seconds = std::chrono::duration<double>(r1.at - r0.at).count();
    f.radicale_cpu_percent = 100 * (r1.cpu_seconds - r0.cpu_seconds) / radicale_seconds;
    if (m0.ok && m1.ok && m1.syncs > m0.syncs) {
        f.syncs_per_second = (m1.syncs - m0.syncs) / f.seconds;
        f.mean_sync_ms = 1000 * (m1.seconds - m0.seconds) / (m1.syncs - m0.syncs);
    }
    f.sync_errors = m1.sync_errors - m0.sync_errors;
    return f;
}

// Puts one warm-up invitation into every calendar (before the daemon starts: its first pass
// answers them) and returns them with their hrefs.
std::vector<std::pair<mailbox, std::string>> warm_up_invitations(
    server& s, const std::vector<mailbox>& mailboxes, const std::string& run_id,
    const std::string& day) {
    std::vector<std::pair<mailbox, std::string>> out;
    for (const auto& m : mailboxes) {
        const std::string uid = "agendad-bench-" + run_id + "-warmup-" + m.local;
        out.emplace_back(m, s.deliver(m, uid, day));
    }
    return out;
}

void wait_for_answers(daemon_run& d, server& s,
                      const std::vector<std::pair<mailbox, std::string>>& hrefs,
                      std::size_t mails_before) {
    std::vector<bool> done(hrefs.size(), false);
    std::size_t remaining = hrefs.size();
    d.wait_until(
        [&] {
            for (std::size_t i = 0; i < hrefs.size(); ++i) {
                if (done[i]) continue;
                const std::string text = read_file(s.stored_file(hrefs[i].second));
                if (declined_in(text, hrefs[i].first.address)) {
                    done[i] = true;
                    --remaining;
                }
            }
            return remaining == 0;
        },
        120s, "the warm-up invitations to be declined");
    d.wait_until([&] { return s.smtp().messages().size() >= mails_before + hrefs.size(); }, 60s,
                 "the warm-up replies to reach the mail server");
}

struct latency_figures {
    std::vector<double> ms;  // PUT completion → DECLINED stored, per sample
    int confirmed_by_get = 0;
    double floor_ms = 0;           // median PUT + GET, while the daemon runs
    double floor_unloaded_ms = 0;  // the same before any daemon ran
    double span_seconds = 0;
};

// Median of `count` PUT + GET round trips to calendar `m` (the daemon does not watch it).
double put_get_round_trip(server& s, const mailbox& m, const std::string& run_id,
                          const std::string& day, int count, const std::string& tag) {
    std::vector<double> ms;
    for (int i = 0; i < count; ++i) {
        const std::string uid =
            "agendad-bench-" + run_id + "-floor-" + tag + "-" + std::to_string(i);
        const auto t0 = wall::now();
        const std::string href = s.deliver(m, uid, day);
        auto got = s.dav().get(user, href);
        const auto t1 = wall::now();
        if (!got) throw cannot_measure("GET " + href + " after its PUT: 404");
        ms.push_back(ms_between(t0, t1));
    }
    return median(ms);
}

latency_figures measure_latency(daemon_run& d, server& s, int samples, const std::string& run_id,
                                const std::string& day, std::mt19937& random) {
    latency_figures f;
    // Distinct mailboxes while possible, in random order.
    std::vector<const mailbox*> order;
    while (static_cast<int>(order.size()) < samples) {
        std::vector<const mailbox*> round;
        for (const auto& m : d.mailboxes) round.push_back(&m);
        std::shuffle(round.begin(), round.end(), random);
        for (const auto* m : round) {
            if (static_cast<int>(order.size()) < samples) order.push_back(m);
        }
    }
    // Gaps of 150-450 ms (not a multiple of the poll interval): invitations land at every phase
    // of the daemon's poll cycle, a few in flight at a time.
    std::uniform_int_distribution<int> gap_ms(150, 450);

    struct pending {
        const mailbox* m = nullptr;
        std::string href;
        fs::path file;
        wall::time_point put_done;
        file_stamp put_stamp;
        bool done = false;
    };
    std::vector<pending> all;
    all.reserve(order.size());
    const auto started = steady::now();
    auto next_put = steady::now();
    std::size_t remaining = order.size();
    auto deadline = steady::now() + std::chrono::seconds{60};
    while (remaining > 0) {
        if (all.size() < order.size() && steady::now() >= next_put) {
            const mailbox* m = order[all.size()];
            pending p;
            p.m = m;
            const std::string uid =
                "agendad-bench-" + run_id + "-sample-" + std::to_string(all.size());
            p.href = s.deliver(*m, uid, day);
            p.put_done = wall::now();
            p.file = s.stored_file(p.href);
            p.put_stamp = stamp_of(p.file);
            if (!p.put_stamp.exists)
                throw cannot_measure("Radicale did not store " + p.href + " as " + p.file.string() +
                                     " (another storage layout?)");
            all.push_back(std::move(p));
            next_put = steady::now() + std::chrono::milliseconds{gap_ms(random)};
            deadline = steady::now() + std::chrono::seconds{30};
        }
        // The daemon's PUT rewrites the file: its mtime is when the server stored the answer.
        for (auto& p : all) {
            if (p.done) continue;
            const file_stamp now = stamp_of(p.file);
            if (now == p.put_stamp) continue;
            p.put_stamp = now;
            if (!declined_in(read_file(p.file), p.m->address)) continue;
            f.ms.push_back(ms_between(p.put_done, now.mtime));
            p.done = true;
            --remaining;
        }
        if (steady::now() > deadline) {
            throw cannot_measure(std::to_string(remaining) +
                                 " invitation(s) not declined within 30 s; agendad's log:\n" +
                                 tail_of(d.log));
        }
        d.check_alive();
        std::this_thread::sleep_for(2ms);
    }
    f.span_seconds = std::chrono::duration<double>(steady::now() - started).count();
    // What a client sees: every answer over HTTP (not timed).
    for (const auto& p : all) {
        auto got = s.dav().get(user, p.href);
        if (got && declined_in(got->body, p.m->address)) ++f.confirmed_by_get;
    }
    return f;
}

// --- the report -------------------------------------------------------------------------------

std::string pass_fail(bool ok) {
    return ok ? "PASS" : "FAIL";
}

void print_latency(const latency_figures& f, int mailboxes) {
    const double p50 = percentile(f.ms, 50), p90 = percentile(f.ms, 90), p99 = percentile(f.ms, 99),
                 mx = percentile(f.ms, 100),
                 mean = std::accumulate(f.ms.begin(), f.ms.end(), 0.0) /
                        static_cast<double>(std::max<std::size_t>(f.ms.size(), 1));
    const double ideal = poll_seconds * 1000.0;
    std::cout
        << "\nlatency: invitation PUT done -> owner's PARTSTAT=DECLINED stored on the server\n"
        << "  " << f.ms.size() << " invitations over " << mailboxes << " mailboxes in "
        << fmt(f.span_seconds) << " s; " << f.confirmed_by_get << "/" << f.ms.size()
        << " confirmed DECLINED by GET afterwards\n\n";
    const auto row = [](const std::string& name, double a, double b, double c, double d, double e) {
        std::cout << "  " << pad(name, 34, true) << pad(fmt(a, 0), 8) << pad(fmt(b, 0), 8)
                  << pad(fmt(c, 0), 8) << pad(fmt(d, 0), 8) << pad(fmt(e, 0), 8) << '\n';
    };
    std::cout << "  " << pad("ms", 34, true) << pad("p50", 8) << pad("p90", 8) << pad("p99", 8)
              << pad("max", 8) << pad("mean", 8) << '\n';
    row("agendad", p50, p90, p99, mx, mean);
    row("ideal 1 s poller (no work)", ideal * 0.5, ideal * 0.9, ideal * 0.99, ideal, ideal * 0.5);
    row("ideal 1 s poller + PUT/GET floor", ideal * 0.5 + f.floor_ms, ideal * 0.9 + f.floor_ms,
        ideal * 0.99 + f.floor_ms, ideal + f.floor_ms, ideal * 0.5 + f.floor_ms);
    std::cout << "\n  floor of the measurement (one PUT + one GET round trip, median of 50): "
              << fmt(f.floor_ms) << " ms with the daemon running, " << fmt(f.floor_unloaded_ms)
              << " ms before\n"
              << "  p50 " << fmt(p50, 0) << " ms = " << fmt(p50 / ideal_mean_ms, 2)
              << "x the ideal 1 s poller's " << fmt(ideal_mean_ms, 0)
              << " ms = " << fmt(p50 / f.floor_ms, 0) << "x the PUT+GET floor; mean "
              << fmt(mean - ideal_mean_ms, 0) << " ms above the ideal poller's\n"
              << "  (with " << f.ms.size() << " samples p99 is close to the maximum)\n"
              << "  latency p50 " << fmt(p50, 0) << " ms (target < " << fmt(target_p50_ms, 0)
              << " ms): " << pass_fail(p50 < target_p50_ms) << '\n';
}

// The floor under any poller of this Radicale: the CPU that the same number of requests a
// second costs a minimal blocking client (one new connection per request, as Radicale's
// HTTP/1.0 needs; a PROPFIND of each calendar's sync-token instead of agendad's REPORT), in
// this process, with the daemon stopped. Plain HTTP only.
struct floor_figures {
    double cpu_percent = 0;
    double requests_per_second = 0;
    int failed = 0;
    std::string how;  // "a new connection each", ...
};

floor_figures measure_connection_floor(server& s, const std::vector<mailbox>& mailboxes,
                                       int seconds) {
    const std::string auth = agendad::calendar::http::basic_authorization(user, password);
    const std::string body =
        "<?xml version=\"1.0\"?><propfind xmlns=\"DAV:\"><prop><sync-token/></prop></propfind>";
    std::vector<std::string> requests;
    for (const auto& m : mailboxes) {
        requests.push_back("PROPFIND " + m.calendar +
                           " HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: " + auth +
                           "\r\nDepth: 0\r\nContent-Type: application/xml\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body);
    }
    floor_figures f;
    long long sent = 0;
    const double cpu0 = thread_cpu_seconds();
    const auto start = steady::now();
    for (int second = 0; second < seconds; ++second) {
        for (const auto& r : requests) {
            const std::string answer = round_trip(s.dav().port(), r);
            if (!answer.starts_with("HTTP/1.0 207") && !answer.starts_with("HTTP/1.1 207"))
                ++f.failed;
            ++sent;
        }
        std::this_thread::sleep_until(start + std::chrono::seconds{second + 1});
    }
    const double wall_seconds = std::chrono::duration<double>(steady::now() - start).count();
    f.cpu_percent = 100 * (thread_cpu_seconds() - cpu0) / wall_seconds;
    f.requests_per_second = static_cast<double>(sent) / wall_seconds;
    f.how = "a new connection each";
    return f;
}

// One HTTP/1.1 response read from a kept-alive connection (framed by Content-Length, which
// Radicale always sends); its status, or 0 when it could not be read.
int read_response(int fd, std::string& buffer, std::string& body) {
    std::size_t header_end = std::string::npos;
    char chunk[16384];
    for (;;) {
        header_end = buffer.find("\r\n\r\n");
        if (header_end != std::string::npos) break;
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return 0;
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
    std::string head = buffer.substr(0, header_end);
    for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto field = head.find("\r\ncontent-length:");
    if (field == std::string::npos || head.size() < 12) return 0;
    const std::size_t length = std::strtoul(head.c_str() + field + 17, nullptr, 10);
    const std::size_t total = header_end + 4 + length;
    while (buffer.size() < total) {
        const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return 0;
        buffer.append(chunk, static_cast<std::size_t>(n));
    }
    body = buffer.substr(header_end + 4, length);
    const int status = std::atoi(head.c_str() + 9);  // "http/1.1 207 ..."
    buffer.erase(0, total);
    return status;
}

// The floor under any keep-alive poller of this Radicale: the requests agendad makes when idle
// (each calendar's sync REPORT with its current token, the body made by agendad's own function),
// once a second on the slots of the second that agendad's schedule gives each mailbox
// (daemon/poll_schedule.h), over kept-alive connections shared as agendad's pool shares them (a
// slot's requests go out together, each on a connection of its own), by a minimal blocking client
// in this process (one thread, no event loop, nothing parsed but the framing), with the daemon
// stopped.
floor_figures measure_keep_alive_floor(server& s, const std::vector<mailbox>& mailboxes,
                                       int seconds) {
    const std::string auth = agendad::calendar::http::basic_authorization(user, password);
    const auto request = [&](const mailbox& m, const std::string& token) {
        const std::string body = agendad::calendar::caldav::sync_collection_body(token);
        return "REPORT " + m.calendar + " HTTP/1.1\r\nHost: 127.0.0.1:" +
               std::to_string(s.dav().port()) + "\r\nAuthorization: " + auth +
               "\r\nDepth: 0\r\nContent-Type: application/xml; charset=utf-8\r\n"
               "Connection: keep-alive\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
    };
    struct connection {
        int fd = -1;
        std::string buffer;
    };
    floor_figures f;
    f.how = "kept-alive connections, on agendad's poll slots";
    const int slot_count = agendad::daemon::poll_slots(std::chrono::seconds{poll_seconds});
    std::vector<std::vector<std::string>> slots(static_cast<std::size_t>(slot_count));
    std::size_t widest = 1;
    for (const auto& m : mailboxes) {
        auto& slot =
            slots[static_cast<std::size_t>(agendad::daemon::poll_slot(m.address, slot_count))];
        slot.push_back(m.calendar);  // its request once the token is known
        widest = std::max(widest, slot.size());
    }
    std::vector<connection> pool(widest);
    for (auto& c : pool) c.fd = connect_loopback(s.dav().port());
    // Untimed: each calendar's current token (a full listing gives it).
    std::string body;
    for (auto& slot : slots) {
        for (std::string& calendar : slot) {
            const auto m = std::find_if(mailboxes.begin(), mailboxes.end(),
                                        [&](const mailbox& x) { return x.calendar == calendar; });
            const std::string first = request(*m, "");
            connection& c = pool.front();
            std::optional<agendad::calendar::caldav::multistatus> parsed;
            if (c.fd >= 0 &&
                ::send(c.fd, first.data(), first.size(), MSG_NOSIGNAL) ==
                    static_cast<ssize_t>(first.size()) &&
                read_response(c.fd, c.buffer, body) == 207) {
                if (auto p = agendad::calendar::caldav::parse_multistatus(body)) parsed = *p;
            }
            if (!parsed || !parsed->sync_token) {
                ++f.failed;
                calendar.clear();
                continue;
            }
            calendar = request(*m, *parsed->sync_token);
        }
    }
    long long sent = 0;
    const double cpu0 = thread_cpu_seconds();
    const auto start = steady::now();
    const auto slot_length = std::chrono::milliseconds{poll_seconds * 1000} / slots.size();
    for (int second = 0; second < seconds; ++second) {
        for (std::size_t k = 0; k < slots.size(); ++k) {
            std::this_thread::sleep_until(start + std::chrono::seconds{second} + slot_length * k);
            // As agendad does: the slot's requests all go out, then the answers are read.
            const auto& slot = slots[k];
            for (std::size_t i = 0; i < slot.size(); ++i) {
                if (slot[i].empty()) continue;
                if (::send(pool[i].fd, slot[i].data(), slot[i].size(), MSG_NOSIGNAL) !=
                    static_cast<ssize_t>(slot[i].size()))
                    ++f.failed;
                ++sent;
            }
            for (std::size_t i = 0; i < slot.size(); ++i) {
                if (!slot[i].empty() && read_response(pool[i].fd, pool[i].buffer, body) != 207)
                    ++f.failed;
            }
        }
    }
    std::this_thread::sleep_until(start + std::chrono::seconds{seconds});
    const double wall_seconds = std::chrono::duration<double>(steady::now() - start).count();
    f.cpu_percent = 100 * (thread_cpu_seconds() - cpu0) / wall_seconds;
    f.requests_per_second = static_cast<double>(sent) / wall_seconds;
    for (auto& c : pool) {
        if (c.fd >= 0) ::close(c.fd);
    }
    return f;
}

void print_idle(const idle_figures& one, const idle_figures& many,
                const std::optional<floor_figures>& floor, bool keep_alive) {
    std::cout << "\nidle: nothing to decide; every calendar is still polled every " << poll_seconds
              << " s (" << many.mailboxes << " mailboxes: " << many.mailboxes
              << " sync REPORTs/s to Radicale"
              << (keep_alive ? ")\n\n"
                             : ", a new connection each: Radicale's own server speaks HTTP/1.0)\n\n");
    std::cout << "  " << pad("mailboxes", 10) << pad("window s", 10) << pad("CPU %", 9)
              << pad("RSS MB", 9) << pad("peak MB", 9) << pad("syncs/s", 9) << pad("sync ms", 9)
              << pad("errors", 8) << pad("Radicale CPU %", 16) << '\n';
    for (const idle_figures* f : {&one, &many}) {
        std::cout << "  " << pad(std::to_string(f->mailboxes), 10) << pad(fmt(f->seconds), 10)
                  << pad(fmt(f->cpu_percent, 2), 9) << pad(fmt(f->rss_mb), 9)
                  << pad(fmt(f->hwm_mb), 9) << pad(fmt(f->syncs_per_second), 9)
                  << pad(fmt(f->mean_sync_ms, 2), 9) << pad(fmt(f->sync_errors, 0), 8)
                  << pad(fmt(f->radicale_cpu_percent, 1), 16) << '\n';
    }
    const double extra = std::max(1, many.mailboxes - one.mailboxes);
    std::cout << "\n  per extra mailbox: +" << fmt((many.cpu_percent - one.cpu_percent) / extra, 4)
              << " % CPU, +" << fmt(1000 * (many.rss_mb - one.rss_mb) / extra, 0) << " kB RSS\n"
              << "  " << many.mailboxes << " mailboxes against 1: CPU "
              << fmt(many.cpu_percent / std::max(one.cpu_percent, 0.001), 1) << "x, RSS "
              << fmt(many.rss_mb / one.rss_mb, 2) << "x\n"
              << "  (syncs/s and sync ms from the daemon's /metrics, read at both ends of the "
                 "window; sync ms is one mailbox's REPORT round, its wait for Radicale included)\n"
              << "  idle CPU with " << many.mailboxes << " mailboxes " << fmt(many.cpu_percent, 2)
              << " % (target < " << fmt(target_idle_cpu_percent, 0)
              << " %): " << pass_fail(many.cpu_percent < target_idle_cpu_percent) << '\n'
              << "  RSS with " << many.mailboxes << " mailboxes " << fmt(many.rss_mb)
              << " MB, peak " << fmt(many.hwm_mb) << " MB (target < " << fmt(target_rss_mb, 0)
              << " MB): " << pass_fail(many.hwm_mb < target_rss_mb) << '\n';
    if (floor) {
        std::cout << "  floor: a minimal blocking client making the same "
                  << fmt(floor->requests_per_second) << " requests/s (" << floor->how << ") uses "
                  << fmt(floor->cpu_percent, 2) << " % CPU (" << floor->failed
                  << " failed); agendad uses "
                  << fmt(many.cpu_percent / std::max(floor->cpu_percent, 0.001), 1) << "x that\n";
    } else {
        std::cout << "  floor: not measured (plain HTTP only)\n";
    }
}

int run(const options& opt) {
    const auto bench_started = steady::now();
    const fs::path template_file =
        fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations" / "invites" / "d01.ics";
    if (!fs::exists(opt.agendad)) throw cannot_measure("no agendad binary at " + opt.agendad);
    const invitation_template invite(template_file);
    const std::string day = meeting_day();
    std::mt19937 random(std::random_device{}());
    const std::string run_id = std::to_string(wall::now().time_since_epoch().count() % 1000000007);

    agendad::test_support::temp_folder own("agendad-caldav-bench");
    fs::path folder = own.path();
    if (opt.keep) {
        folder = fs::temp_directory_path() / ("agendad-caldav-bench-" + run_id);
        fs::create_directories(folder);
    }

    if (opt.tls && opt.keep_alive) {
        std::cerr << "agendad_caldav_bench: --keep-alive serves plain HTTP only; not with --tls\n";
        return exit_cannot_run;
    }
    std::cout << "agendad CalDAV daemon benchmark: " << opt.agendad
              << " run (enforce, poll_seconds " << poll_seconds << ")\n"
              << "  against Radicale on 127.0.0.1 ("
              << (opt.tls          ? "HTTPS, a test CA"
                  : opt.keep_alive ? "plain HTTP, behind waitress: HTTP/1.1 keep-alive"
                                   : "plain HTTP, its built-in HTTP/1.0 server")
              << ") and aiosmtpd (plain SMTP); invitation: " << template_file.filename().string()
              << " (declined with a reply by the executive policy), meeting on " << day << "\n"
              << "  machine: " << std::thread::hardware_concurrency() << " cores, load average "
              << load_average() << "\n"
              << std::flush;

    server s(opt.tls, opt.keep_alive, invite);
    std::vector<mailbox> mailboxes;
    for (int i = 1; i <= opt.mailboxes; ++i)
        mailboxes.push_back(s.add_mailbox(mailbox_name(i), "Mailbox " + mailbox_name(i).substr(2)));
    const mailbox solo = s.add_mailbox("solo", "Solo Owner");
    const mailbox floor_calendar = s.add_mailbox("floor", "Floor");
    latency_figures latency;
    latency.floor_unloaded_ms = put_get_round_trip(s, floor_calendar, run_id, day, 50, "unloaded");
    std::cout << "  setup: " << opt.mailboxes + 2 << " calendars in "
              << fmt(std::chrono::duration<double>(steady::now() - bench_started).count()) << " s\n"
              << std::flush;

    // Baseline: the same daemon watching one mailbox.
    idle_figures one;
    {
        const auto warm = warm_up_invitations(s, {solo}, run_id, day);
        daemon_run d = start_daemon(s, opt.agendad, folder / "one-mailbox", {solo});
        wait_for_answers(d, s, warm, 0);
        std::this_thread::sleep_for(2s);  // the reply's journal writes settle
        std::cout << "  1 mailbox: idle " << opt.idle_seconds << " s ...\n" << std::flush;
        one = measure_idle(d, s, opt.idle_seconds);
        d.process->stop(10s);
    }

    idle_figures many;
    std::size_t sync_failures = 0, response_failures = 0, startup_failures = 0;
    double startup_seconds = 0;
    {
        const std::size_t mails_before = s.smtp().messages().size();
        const auto warm = warm_up_invitations(s, mailboxes, run_id, day);
        const auto overflows_before = listen_overflows();
        const auto daemon_started = steady::now();
        daemon_run d = start_daemon(s, opt.agendad, folder / "many-mailboxes", mailboxes);
        wait_for_answers(d, s, warm, mails_before);
        startup_seconds = std::chrono::duration<double>(steady::now() - daemon_started).count();
        startup_failures = d.log_count("sync failed");
        const auto overflows = listen_overflows() - overflows_before;
        std::cout << "  " << opt.mailboxes << " mailboxes: started, synced and answered "
                  << opt.mailboxes << " warm-up invitations in " << fmt(startup_seconds) << " s ("
                  << startup_failures << " failed sync(s); " << overflows
                  << " TCP listen-queue overflow(s) on this machine meanwhile)\n"
                  << std::flush;
        std::this_thread::sleep_for(2s);
        latency.floor_ms = put_get_round_trip(s, floor_calendar, run_id, day, 50, "loaded");
        std::cout << "  " << opt.mailboxes << " mailboxes: timing " << opt.samples
                  << " invitations ...\n"
                  << std::flush;
        const auto floor_ms = latency.floor_ms, unloaded = latency.floor_unloaded_ms;
        latency = measure_latency(d, s, opt.samples, run_id, day, random);
        latency.floor_ms = floor_ms;
        latency.floor_unloaded_ms = unloaded;
        const std::size_t expected_mails =
            mails_before + d.mailboxes.size() + static_cast<std::size_t>(opt.samples);
        d.wait_until([&] { return s.smtp().messages().size() >= expected_mails; }, 60s,
                     "the sampled invitations' replies to reach the mail server");
        std::this_thread::sleep_for(2s);
        std::cout << "  " << opt.mailboxes << " mailboxes: idle " << opt.idle_seconds << " s ...\n"
                  << std::flush;
        many = measure_idle(d, s, opt.idle_seconds);
        sync_failures = d.log_count("sync failed");
        response_failures = d.log_count("response failed");
        d.process->stop(10s);
        if (d.process->status() != "exited with status 0")
            std::cout << "  note: agendad " << d.process->status() << " after SIGTERM\n";
    }

    print_latency(latency, opt.mailboxes);
    std::optional<floor_figures> floor;
    if (!opt.tls) {
        std::cout << "  floor: a minimal client, " << opt.idle_seconds << " s ...\n" << std::flush;
        floor = opt.keep_alive ? measure_keep_alive_floor(s, mailboxes, opt.idle_seconds)
                               : measure_connection_floor(s, mailboxes, opt.idle_seconds);
    }
    print_idle(one, many, floor, opt.keep_alive);
    std::cout << "\nstart-up: " << opt.mailboxes << " mailboxes synced and their warm-up "
              << "invitations answered " << fmt(startup_seconds) << " s after the start\n"
              << "  agendad's log, " << opt.mailboxes << " mailboxes: " << sync_failures
              << " failed sync(s) (" << startup_failures << " during start-up), "
              << response_failures << " failed response(s); " << s.smtp().messages().size()
              << " iMIP replies received in all\n"
              << "  whole run: "
              << fmt(std::chrono::duration<double>(steady::now() - bench_started).count(), 0)
              << " s";
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
                std::cerr << "agendad_caldav_bench: " << a << " needs a number from " << lo
                          << " to " << hi << "\n"
                          << usage;
                std::exit(exit_cannot_run);
            }
            ++i;
        };
        if (a == "--mailboxes") {
            value(1, 999, opt.mailboxes);
        } else if (a == "--samples") {
            value(1, 10000, opt.samples);
        } else if (a == "--idle-seconds") {
            value(1, 3600, opt.idle_seconds);
        } else if (a == "--keep") {
            opt.keep = true;
        } else if (a == "--tls") {
            opt.tls = true;
        } else if (a == "--keep-alive") {
            opt.keep_alive = true;
        } else if (a == "--agendad") {
            if (i + 1 >= argc) {
                std::cerr << "agendad_caldav_bench: --agendad needs a path\n" << usage;
                return exit_cannot_run;
            }
            opt.agendad = argv[++i];
        } else if (a == "-h" || a == "--help") {
            std::cout << usage;
            return 0;
        } else {
            std::cerr << "agendad_caldav_bench: unknown option " << a << "\n" << usage;
            return exit_cannot_run;
        }
    }
    try {
        return run(opt);
    } catch (const std::exception& e) {
        std::cerr << "agendad_caldav_bench: cannot measure: " << e.what() << "\n";
        return exit_cannot_run;
    }
}
