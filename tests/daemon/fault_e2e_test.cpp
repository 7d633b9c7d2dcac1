// `agendad run` against servers that misbehave, on every calendar source (issue 6, "Fault
// injection"): the built binary in enforce mode with two mailboxes on one source, a victim whose
// requests get a fault (support/faults.h) and a bystander served normally, each with four
// labelled invitations (a decline with a reply, a request for an agenda, a silent decline of
// calendar spam, one to leave alone). CalDAV is a real Radicale behind the fault proxy with a
// real SMTP server for the iMIP replies; Graph and EWS are the in-process fakes, whose TLS server
// core injects the faults. For each source and fault:
//   - the bystander's replies all arrive, exactly once, while the victim is faulted;
//   - the log names the victim with a clear error (for text that is not UTF-8 from CalDAV,
//     which is read as Windows-1252, the workaround), and never the bystander;
//   - every faulted request ends within the configured request timeout, the daemon's peak RSS
//     stays bounded, and it stops cleanly when asked;
//   - once the fault is cleared the victim's replies all arrive, exactly once (also when the
//     server processed a response whose answer never arrived: reset, trickle), and what is to be
//     left alone is never touched.
// Each case appends its row (faults injected, decisions lost, replies duplicated) to the
// hardening report: <AGENDAD_REPORT_DIR>/fault_e2e-<case>.tsv.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "calendar/encoding.h"
#include "calendar/ical/parse.h"
#include "daemon_fixture.h"
#include "support/ews_calendar_items.h"
#include "support/fake_ews.h"
#include "support/fake_graph.h"
#include "support/fault_proxy.h"
#include "support/faults.h"
#include "support/graph_events.h"
#include "support/radicale.h"
#include "support/smtp_sink.h"

#if defined(__SANITIZE_ADDRESS__)
#define AGENDAD_FAULT_E2E_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AGENDAD_FAULT_E2E_ASAN 1
#endif
#endif

namespace {

namespace fs = std::filesystem;
namespace ts = agendad::test_support;
using ts::fault;
using ts::fault_match;
using ts::fault_plan;
using ts::fault_rule;
using ts::read_file;
using ts::run_result;
using namespace std::chrono_literals;

const fs::path labelled = fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations";
const std::string bystander = "dana.whitfield@contoso.example";
const std::string victim = "lee.chen@contoso.example";
// A decline with a reply, a request for an agenda, one to leave alone, and calendar spam
// (declined without a reply).
const std::vector<std::string> invitation_files{"d01.ics", "d06.ics", "d07.ics", "d13.ics"};

constexpr int request_timeout_seconds = 2;
#ifdef AGENDAD_FAULT_E2E_ASAN
// AddressSanitizer's shadow memory and quarantine count in the RSS, and everything is slower.
constexpr long max_peak_rss_kb = 700 * 1024;
constexpr auto slack = 4s;
#else
constexpr long max_peak_rss_kb = 150 * 1024;
constexpr auto slack = 1500ms;
#endif

// --- the invitations, in each mailbox -----------------------------------------------------------

struct invitation {
    std::string mailbox;
    std::string file;      // "d01.ics"
    std::string expected;  // leave | request_agenda | decline
    bool silent = false;   // a decline without a reply
    std::string uid;
    std::string ics;  // as the mailbox got it
    std::string id;   // the source's id: the CalDAV href, the Graph event id, the EWS item id
};

std::string name_of_owner(const std::string& mailbox) {
    return mailbox == victim ? "Lee Chen" : "Dana Whitfield";
}

// iCalendar text with its folded lines joined (RFC 5545 §3.1).
std::string unfold(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\r' && i + 2 < text.size() && text[i + 1] == '\n' &&
            (text[i + 2] == ' ' || text[i + 2] == '\t')) {
            i += 2;
            continue;
        }
        out += text[i];
    }
    return out;
}

// The labelled invitation as `mailbox` got it: the owner's address and name are the mailbox's.
// (Unfolded first: the owner's name is folded in the files.)
std::string ics_for(const std::string& file, const std::string& mailbox) {
    std::string unfolded = unfold(read_file(labelled / "invites" / file));
    const auto replace_all = [&unfolded](const std::string& from, const std::string& to) {
        for (auto at = unfolded.find(from); at != std::string::npos;
             at = unfolded.find(from, at + to.size())) {
            unfolded.replace(at, from.size(), to);
        }
    };
    replace_all("mailto:" + bystander, "mailto:" + mailbox);
    replace_all("CN=Dana Whitfield", "CN=" + name_of_owner(mailbox));
    return unfolded;
}

std::vector<invitation> invitations() {
    std::vector<invitation> out;
    for (const auto& row : ts::read_labelled_rows(labelled)) {
        if (std::find(invitation_files.begin(), invitation_files.end(), row.file) ==
            invitation_files.end()) {
            continue;
        }
        for (const std::string& mailbox : {bystander, victim}) {
            invitation inv;
            inv.mailbox = mailbox;
            inv.file = row.file;
            inv.expected = row.expected;
            inv.silent = row.silent;
            inv.ics = ics_for(row.file, mailbox);
            auto parsed = agendad::calendar::parse_ics(inv.ics, row.file,
                                                       agendad::calendar::parse_options{mailbox});
            if (parsed && !parsed->events.empty()) inv.uid = parsed->events.front().uid;
            out.push_back(inv);
        }
    }
    EXPECT_EQ(out.size(), 2 * invitation_files.size());
    return out;
}

// --- the sources under test ---------------------------------------------------------------------

enum class phase {
    sync,     // the requests that read the calendar
    respond,  // the requests that answer an invitation (PUT, POST decline, CreateItem)
};

// What a source shows of one invitation at the end: the replies it carried (or mailed) and the
// answer left on the calendar ("declined", "tentative", "none").
struct seen {
    int replies = 0;
    std::string answer = "none";
};

class source_under_test {
  public:
    virtual ~source_under_test() = default;
    virtual std::string subject() const = 0;  // the report's: caldav | graph | ews
    // Starts the servers with both mailboxes' invitations (setting their ids); every request
    // is shown to `plan` first.
    virtual void start(const std::shared_ptr<fault_plan>& plan, std::vector<invitation>& all,
                       const fs::path& dir) = 0;
    virtual std::string source_yaml(const fs::path& dir) const = 0;  // the `sources:` entry
    virtual std::string mailbox_yaml(const std::string& mailbox) const = 0;  // its extra keys
    // The victim's requests of `p` (for `kind`: some faults need an answer with text).
    virtual fault_match victim_requests(phase p, fault kind) const = 0;
    // What an answer made up by a fault says it is.
    virtual int made_up_status(phase p) const = 0;
    virtual std::string made_up_content_type() const = 0;
    virtual seen observe(const invitation& inv) = 0;
    // How many replies a correct run leaves for `inv` in observe().
    virtual int expected_replies(const invitation& inv) const = 0;
};

fs::path secret_file(const fs::path& dir, const std::string& name, const std::string& text) {
    const fs::path p = dir / "secrets" / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text << "\n";
    fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
    return p;
}

std::string answer_of(agendad::calendar::partstat p) {
    if (p == agendad::calendar::partstat::declined) return "declined";
    if (p == agendad::calendar::partstat::tentative) return "tentative";
    return "none";
}

// A real Radicale (one account, a calendar per mailbox) behind the fault proxy; iMIP replies
// through a real SMTP server.
class caldav_under_test final : public source_under_test {
  public:
    std::string subject() const override { return "caldav"; }

    static std::string calendar_of(const std::string& mailbox) {
        return "/agendad/" + mailbox.substr(0, mailbox.find('@')) + "/";
    }

    void start(const std::shared_ptr<fault_plan>& plan, std::vector<invitation>& all,
               const fs::path&) override {
        server_.start();
        for (const std::string& m : {bystander, victim})
            server_.make_calendar("agendad", calendar_of(m), name_of_owner(m));
        for (auto& inv : all) {
            inv.id = calendar_of(inv.mailbox) + inv.file;
            std::string stored;  // as a calendar client stores an invitation: without METHOD
            std::istringstream lines(inv.ics);
            for (std::string line; std::getline(lines, line);) {
                if (line.rfind("METHOD:", 0) != 0) stored += line + "\n";
            }
            server_.put("agendad", inv.id, stored);
        }
        sink_.start();
        proxy_ = std::make_unique<ts::fault_proxy>(server_.port(), plan);
    }

    std::string source_yaml(const fs::path& dir) const override {
        std::ostringstream y;
        y << "  office:\n"
          << "    kind: caldav\n"
          << "    url: " << proxy_->url("/") << "\n"
          << "    user: agendad\n"
          << "    password_file: "
          << secret_file(dir, "caldav-password", "agendad-secret").string() << "\n"
          << "    poll_seconds: 1\n"
          << "    request_timeout_seconds: " << request_timeout_seconds << "\n"
          << "    smtp: {host: 127.0.0.1, port: " << sink_.port() << ", security: none}\n";
        return y.str();
    }

    std::string mailbox_yaml(const std::string& mailbox) const override {
        return "    source: office\n    calendar: " + calendar_of(mailbox) + "\n";
    }

    fault_match victim_requests(phase p, fault kind) const override {
        fault_match m;
        m.target_contains = calendar_of(victim);
        m.method = p == phase::sync ? "REPORT" : "PUT";
        // The calendar data comes with calendar-multiget; sync-collection lists hrefs only.
        if (kind == fault::invalid_utf8) m.body_contains = "calendar-multiget";
        return m;
    }
    int made_up_status(phase p) const override { return p == phase::sync ? 207 : 200; }
    std::string made_up_content_type() const override { return "application/xml; charset=utf-8"; }

    seen observe(const invitation& inv) override {
        seen s;
        if (auto got = server_.get("agendad", inv.id)) {
            auto parsed = agendad::calendar::parse_ics(
                got->body, inv.file, agendad::calendar::parse_options{inv.mailbox});
            if (parsed && !parsed->events.empty() && parsed->events.front().owner)
                s.answer = answer_of(parsed->events.front().owner->partstat);
        }
        for (const auto& m : sink_.messages()) {
            if (m.from == inv.mailbox && reply_uid(m.content) == inv.uid) ++s.replies;
        }
        return s;
    }

    int expected_replies(const invitation& inv) const override {
        return inv.expected == "request_agenda" || (inv.expected == "decline" && !inv.silent);
    }

  private:
    // The UID of the iTIP REPLY in an iMIP mail (its base64 text/calendar part).
    static std::string reply_uid(const std::string& content) {
        const auto part = content.find("Content-Type: text/calendar");
        if (part == std::string::npos) return "";
        const auto body = content.find("\r\n\r\n", part);
        const auto end = content.find("\r\n--", body);
        if (body == std::string::npos || end == std::string::npos) return "";
        std::string base64;
        for (char c : content.substr(body + 4, end - body - 4)) {
            if (!std::isspace(static_cast<unsigned char>(c))) base64 += c;
        }
        const auto ics = agendad::calendar::encoding::base64_decode(base64);
        if (!ics) return "";
        std::string uid;
        std::istringstream lines(unfold(*ics));
        for (std::string line; std::getline(lines, line);) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.rfind("UID:", 0) == 0) uid = line.substr(4);
        }
        return uid;
    }

    ts::radicale server_{ts::radicale_options{{{"agendad", "agendad-secret"}}}};
    ts::smtp_sink sink_;
    std::unique_ptr<ts::fault_proxy> proxy_;
};

// The fake Graph, faults injected by its server core.
class graph_under_test final : public source_under_test {
  public:
    std::string subject() const override { return "graph"; }

    void start(const std::shared_ptr<fault_plan>& plan, std::vector<invitation>& all,
               const fs::path&) override {
        ts::fake_graph::options o;
        o.faults = plan;
        fake_ = std::make_unique<ts::fake_graph>(o);
        for (const std::string& m : {bystander, victim}) fake_->add_user(m);
        for (auto& inv : all) {
            const auto events = ts::graph_events_from_ics(inv.ics, inv.file, inv.mailbox);
            ASSERT_EQ(events.size(), 1u) << inv.file;
            inv.id = fake_->add_event(inv.mailbox, events.front().json);
        }
    }

    std::string source_yaml(const fs::path& dir) const override {
        std::ostringstream y;
        y << "  m365:\n"
          << "    kind: graph\n"
          << "    tenant: contoso-tenant\n"
          << "    client_id: 11111111-2222-3333-4444-555555555555\n"
          << "    client_secret_file: "
          << secret_file(dir, "graph-client-secret", "test-client-secret").string() << "\n"
          << "    authority: " << fake_->authority() << "\n"
          << "    graph_url: " << fake_->graph_url() << "\n"
          << "    ca_file: " << fake_->ca_file().string() << "\n"
          << "    poll_seconds: 1\n"
          << "    request_timeout_seconds: " << request_timeout_seconds << "\n";
        return y.str();
    }

    std::string mailbox_yaml(const std::string&) const override { return "    source: m365\n"; }

    fault_match victim_requests(phase p, fault) const override {
        fault_match m;
        m.target_contains = "/users/" + victim + "/";
        m.method = p == phase::sync ? "GET" : "POST";
        return m;
    }
    int made_up_status(phase) const override { return 200; }
    std::string made_up_content_type() const override { return "application/json"; }

    seen observe(const invitation& inv) override {
        seen s;
        for (const auto& c : fake_->responses()) {
            if (c.user != inv.mailbox || c.event_id != inv.id) continue;
            ++s.replies;
            s.answer = c.action == "decline" ? "declined"
                       : c.action == "tentativelyAccept" ? "tentative"
                                                         : c.action;
        }
        return s;
    }

    int expected_replies(const invitation& inv) const override {
        return inv.expected != "leave";  // a silent decline is a decline call too
    }

  private:
    std::unique_ptr<ts::fake_graph> fake_;
};

// The fake EWS (NTLM, impersonation, declined meetings leave the calendar as in Exchange),
// faults injected by its server core.
class ews_under_test final : public source_under_test {
  public:
    std::string subject() const override { return "ews"; }

    void start(const std::shared_ptr<fault_plan>& plan, std::vector<invitation>& all,
               const fs::path&) override {
        ts::fake_ews::options o;
        o.auth = ts::fake_ews::auth_scheme::ntlm;
        o.decline_removes = true;
        o.faults = plan;
        fake_ = std::make_unique<ts::fake_ews>(o);
        for (const std::string& m : {bystander, victim}) {
            fake_->add_mailbox(m, name_of_owner(m));
            fake_->grant_impersonation(m);
        }
        for (auto& inv : all) {
            const auto items = ts::ews_calendar_items_from_ics(inv.ics, inv.file, inv.mailbox);
            ASSERT_EQ(items.size(), 1u) << inv.file;
            inv.id = fake_->add_item(inv.mailbox, items.front().xml);
        }
    }

    std::string source_yaml(const fs::path& dir) const override {
        std::ostringstream y;
        y << "  exchange:\n"
          << "    kind: ews\n"
          << "    url: " << fake_->ews_url() << "\n"
          << "    auth: ntlm\n"
          << "    user: CONTOSO\\svc-agendad\n"
          << "    password_file: " << secret_file(dir, "ews-password", "test-password").string()
          << "\n"
          << "    ca_file: " << fake_->ca_file().string() << "\n"
          << "    poll_seconds: 1\n"
          << "    request_timeout_seconds: " << request_timeout_seconds << "\n"
          << "    streaming: false\n";
        return y.str();
    }

    std::string mailbox_yaml(const std::string&) const override {
        return "    source: exchange\n";
    }

    fault_match victim_requests(phase p, fault kind) const override {
        fault_match m;
        m.header = "X-AnchorMailbox";
        m.header_contains = victim;
        if (p == phase::respond) {
            m.body_contains = "<m:CreateItem";
        } else {
            // Subjects and bodies come with GetItem; SyncFolderItems lists changes.
            m.body_contains = kind == fault::invalid_utf8 ? "<m:GetItem" : "<m:SyncFolderItems";
        }
        return m;
    }
    int made_up_status(phase) const override { return 200; }
    std::string made_up_content_type() const override { return "text/xml; charset=utf-8"; }

    seen observe(const invitation& inv) override {
        seen s;
        for (const auto& r : fake_->responses()) {
            if (r.mailbox != inv.mailbox || r.item_id != inv.id) continue;
            ++s.replies;
            s.answer = r.kind == "DeclineItem"             ? "declined"
                       : r.kind == "TentativelyAcceptItem" ? "tentative"
                                                           : r.kind;
        }
        return s;
    }

    int expected_replies(const invitation& inv) const override {
        return inv.expected != "leave";  // a silent decline is a DeclineItem (SaveOnly)
    }

  private:
    std::unique_ptr<ts::fake_ews> fake_;
};

std::unique_ptr<source_under_test> make_source(const std::string& subject) {
    if (subject == "caldav") return std::make_unique<caldav_under_test>();
    if (subject == "graph") return std::make_unique<graph_under_test>();
    return std::make_unique<ews_under_test>();
}

// --- the cases ----------------------------------------------------------------------------------

struct fault_case {
    std::string subject;  // caldav | graph | ews
    std::string name;     // the report's case
    // Injected in this order into the victim's requests of `where`: each but the last once, the
    // last until the plan is cleared.
    std::vector<fault> faults;
    phase where = phase::sync;
    // Injections before the plan is cleared (once the bystander is served too).
    int need = 1;
    // The victim's warning in the log says one of these.
    std::vector<std::string> says;
    // The faulty answers are refused (the victim waits for the fault to end), rather than read
    // with a workaround.
    bool refused = true;
};

std::ostream& operator<<(std::ostream& os, const fault_case& c) {
    return os << c.subject << "_" << c.name;
}

std::string case_name(const ::testing::TestParamInfo<fault_case>& info) {
    return info.param.subject + "_" + info.param.name;
}

// --- the test -----------------------------------------------------------------------------------

class fault_e2e : public ts::daemon_fixture, public ::testing::WithParamInterface<fault_case> {
  protected:
    void SetUp() override {
        cli_fixture::SetUp();
        source_ = make_source(GetParam().subject);
        source_->start(plan_, invitations_, dir_);
    }

    fs::path config() {
        std::ostringstream y;
        y << "state_directory: " << state_dir().string() << "\n"
          << "log_level: info\n"
          << "status: {listen: \"off\"}\n"
          << "defaults: {max_declines_per_hour: 100}\n"
          << "sources:\n"
          << source_->source_yaml(dir_) << "mailboxes:\n";
        for (const std::string& m : {bystander, victim}) {
            y << "  - address: " << m << "\n"
              << source_->mailbox_yaml(m) << "    org_domains: [contoso.example]\n"
              << "    mode: enforce\n";
        }
        return write("agendad.yaml", y.str());
    }

    void add_faults() {
        const fault_case& c = GetParam();
        for (std::size_t i = 0; i < c.faults.size(); ++i) {
            fault_rule r;
            r.kind = c.faults[i];
            r.match = source_->victim_requests(c.where, r.kind);
            r.times = i + 1 < c.faults.size() ? 1 : -1;
            r.status = source_->made_up_status(c.where);
            r.content_type = source_->made_up_content_type();
            plan_->add(r);
        }
    }

    // Every invitation of `mailbox` answered as its label says.
    bool served(const std::string& mailbox) {
        for (const auto& inv : invitations_) {
            if (inv.mailbox != mailbox) continue;
            if (source_->observe(inv).replies < source_->expected_replies(inv)) return false;
        }
        return true;
    }

    // Every invitation decided, and every decision done or left alone.
    bool settled() {
        const auto entries = journal();
        return entries.size() == invitations_.size() &&
               std::all_of(entries.begin(), entries.end(), [](const boost::json::object& e) {
                   return e.at("state").as_string() == "done" ||
                          e.at("state").as_string() == "left";
               });
    }

    static long peak_rss_kb(pid_t pid) {
        std::ifstream status("/proc/" + std::to_string(pid) + "/status");
        for (std::string line; std::getline(status, line);) {
            if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
        }
        return -1;
    }

    // The warnings and errors of the log that name `mailbox`.
    static std::vector<std::string> complaints(const std::string& log, const std::string& mailbox) {
        std::vector<std::string> out;
        std::istringstream lines(log);
        for (std::string line; std::getline(lines, line);) {
            if (line.find("mailbox=" + mailbox) == std::string::npos) continue;
            if (line.find(" warning ") != std::string::npos ||
                line.find(" error ") != std::string::npos) {
                out.push_back(line);
            }
        }
        return out;
    }

    void write_report_row(int tried, int lost, int duplicated) {
        const char* from_env = std::getenv("AGENDAD_REPORT_DIR");
        const fs::path folder = from_env && *from_env ? fs::path(from_env)
                                                      : fs::path(AGENDAD_REPORT_DIR);
        std::error_code ec;
        fs::create_directories(folder, ec);
        const fault_case& c = GetParam();
        std::ofstream out(folder / ("fault_e2e-" + c.subject + "_" + c.name + ".tsv"),
                          std::ios::trunc);
        out << "area\tsubject\tcase\ttried\tlost\tduplicated\n"
            << "source\t" << c.subject << "\t" << c.name << "\t" << tried << "\t" << lost << "\t"
            << duplicated << "\n";
        EXPECT_TRUE(out.good()) << "cannot write the report in " << folder;
    }

    std::shared_ptr<fault_plan> plan_ = std::make_shared<fault_plan>();
    std::unique_ptr<source_under_test> source_;
    std::vector<invitation> invitations_ = invitations();
};

TEST_P(fault_e2e, the_victim_fails_alone_and_recovers_with_every_reply_sent_once) {
    const fault_case& c = GetParam();
    const fs::path cfg = config();
    add_faults();
    const auto started = std::chrono::steady_clock::now();
    running d = start(run_args(cfg));

    // While the victim is faulted, the bystander is served.
    const bool bystander_served = ts::eventually([&] { return served(bystander); }, 20s);
    const auto bystander_took = std::chrono::steady_clock::now() - started;
    const bool faulted =
        ts::eventually([&] { return plan_->injected() >= c.need; }, 30s + c.need * 3s);
    EXPECT_TRUE(bystander_served) << "the bystander's replies did not all arrive";
    EXPECT_TRUE(faulted) << "only " << plan_->injected() << " faults injected, " << c.need
                         << " needed:\n"
                         << read_file(d.err).substr(0, 6000);
    // (A fault that mangles the answer to a response comes after the server carried it out.)
    if (c.refused && !(c.where == phase::respond && ts::mangles(c.faults.front()))) {
        EXPECT_FALSE(served(victim)) << "the victim was served while faulted";
    }
    plan_->clear();

    // Then the victim catches up, and every decision is finished (a response whose answer was
    // lost is checked on the next pass).
    const bool victim_served = ts::eventually([&] { return served(victim); }, 40s);
    ts::eventually([&] { return settled(); }, 20s);
    std::this_thread::sleep_for(1500ms);  // another poll: nothing more may be sent
    const long peak_kb = peak_rss_kb(d.pid);
    const run_result r = stop(d);
    if (ts::test_verbose()) std::cerr << r.err << "peak RSS " << peak_kb << " kB\n";
    EXPECT_EQ(r.status, 0) << r.err.substr(0, 4000);
    EXPECT_THAT(r.err, ::testing::Not(::testing::HasSubstr("Sanitizer")));
    EXPECT_THAT(r.err, ::testing::Not(::testing::HasSubstr("runtime error:")));
    EXPECT_TRUE(victim_served) << "the victim's replies did not all arrive after the fault:\n"
                               << r.err.substr(0, 6000);
    EXPECT_LT(bystander_took, 6s + 2 * slack) << "the bystander waited for the victim";

    // Bounded: memory, and every faulted request given up within the request timeout.
    EXPECT_GT(peak_kb, 0);
    EXPECT_LT(peak_kb, max_peak_rss_kb) << "peak RSS " << peak_kb << " kB";
    for (const auto& i : plan_->injections()) {
        ASSERT_TRUE(i.ended) << ts::name_of(i.kind) << " " << i.method << " " << i.target
                             << " never ended: the client did not give up";
        EXPECT_LE(*i.ended - i.started, std::chrono::seconds{request_timeout_seconds} + slack)
            << ts::name_of(i.kind) << " " << i.method << " " << i.target;
    }

    // Retry-After is honoured: a throttled request is not sent again sooner than it says.
    if (c.faults.front() == fault::throttle_429) {
        const auto storm = plan_->injections();
        for (std::size_t i = 1; i < storm.size(); ++i) {
            EXPECT_GE(storm[i].started - *storm[i - 1].ended, 900ms)
                << "request " << i + 1 << " of the storm came before Retry-After: 1 was over";
        }
    }

    // The log names the victim, with what went wrong; the bystander never.
    const auto about_victim = complaints(r.err, victim);
    bool clear = false;
    for (const auto& line : about_victim) {
        for (const auto& word : c.says) clear = clear || line.find(word) != std::string::npos;
    }
    std::string shown;
    for (const auto& line : about_victim) shown += line + "\n";
    EXPECT_TRUE(clear) << "no warning about " << victim << " says "
                       << ::testing::PrintToString(c.says) << ":\n"
                       << shown;
    EXPECT_THAT(complaints(r.err, bystander), ::testing::IsEmpty());

    // Every reply exactly once, on both mailboxes; nothing to leave alone touched.
    int lost = 0;
    int duplicated = 0;
    for (const auto& inv : invitations_) {
        SCOPED_TRACE(inv.mailbox + " " + inv.file + " (" + inv.expected + ")");
        const seen s = source_->observe(inv);
        const int expected = source_->expected_replies(inv);
        const std::string answer = inv.expected == "decline"          ? "declined"
                                   : inv.expected == "request_agenda" ? "tentative"
                                                                      : "none";
        EXPECT_EQ(s.answer, answer);
        EXPECT_EQ(s.replies, expected);
        if (s.replies < expected || (s.answer != answer && inv.expected != "leave")) ++lost;
        if (s.replies > expected && expected > 0) duplicated += s.replies - expected;
    }
    std::set<std::string> decided;
    for (const auto& e : journal()) {
        const std::string state(e.at("state").as_string());
        EXPECT_TRUE(state == "done" || state == "left") << boost::json::serialize(e);
        const std::string key = std::string(e.at("mailbox").as_string()) + " " +
                                std::string(e.at("uid").as_string()) + "#" +
                                std::to_string(e.at("sequence").as_int64());
        EXPECT_TRUE(decided.insert(key).second) << "two decisions for " << key;
    }
    EXPECT_EQ(decided.size(), invitations_.size());
    write_report_row(plan_->injected(), lost, duplicated);
}

const std::vector<std::string> timed_out{"timed out"};

std::vector<fault_case> all_cases() {
    std::vector<fault_case> out;
    for (const std::string subject : {"caldav", "graph", "ews"}) {
        // A server that accepts and never answers: CalDAV while reading (nothing retries it
        // within the pass); Graph and EWS on the response (their reads are retried within the
        // pass, six times).
        out.push_back({subject,
                       "hang",
                       {fault::hang},
                       subject == "caldav" ? phase::sync : phase::respond,
                       1,
                       timed_out});
        // The response was processed; its answer comes a byte at a time.
        out.push_back({subject, "trickle", {fault::trickle}, phase::respond, 1, timed_out});
        // The response was processed; its answer stops midway with a reset.
        out.push_back({subject,
                       "reset_mid_body",
                       {fault::reset_mid_body},
                       phase::respond,
                       1,
                       {"reset", "truncated", "end of stream", "short read"}});
        out.push_back({subject,
                       "oversize",
                       {fault::oversize_length, fault::oversize_chunked},
                       phase::sync,
                       2,
                       {"over the limit"}});
        // CalDAV reads iCalendar that is not UTF-8 as Windows-1252 (and says so); Graph and EWS
        // refuse JSON and XML that is not UTF-8.
        fault_case utf8{subject, "invalid_utf8", {fault::invalid_utf8}, phase::sync, 1,
                        {"not valid UTF-8"}};
        utf8.refused = subject != "caldav";
        out.push_back(utf8);
        const std::vector<std::string> unreadable{"not well-formed", "not JSON",
                                                  "not a SOAP", "cannot be read"};
        out.push_back({subject,
                       "garbage",
                       {fault::garbage_random, fault::garbage_html},
                       phase::sync,
                       2,
                       unreadable});
        out.push_back({subject,
                       "garbage_truncated",
                       {fault::garbage_truncated},
                       phase::sync,
                       1,
                       unreadable});
        out.push_back({subject, "error_500_loop", {fault::error_500}, phase::sync, 2, {"500"}});
        // Graph and EWS retry a throttled request six times within the pass: the storm outlasts
        // that.
        out.push_back({subject,
                       "throttle_429_storm",
                       {fault::throttle_429},
                       phase::sync,
                       subject == "caldav" ? 1 : 6,
                       {"429", "throttled"}});
    }
    return out;
}

INSTANTIATE_TEST_SUITE_P(every_source_and_fault, fault_e2e, ::testing::ValuesIn(all_cases()),
                         case_name);

}  // namespace
