// `agendad run` end to end, as the built binary on a folder source: the labelled mailbox in
// enforce mode gets exactly the expected replies, once, across kill -9 and restarts; dry-run
// sends nothing; limits, broken input, a damaged journal, signals and systemd's protocol.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "calendar/ical/parse.h"
#include "cli_fixture.h"

namespace {

namespace fs = std::filesystem;
using agendad::test_support::read_file;
using agendad::test_support::run_result;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const fs::path labelled = fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations";
const fs::path samples = fs::path(AGENDAD_SOURCE_DIR) / "config/samples";
constexpr const char* now = "2026-11-20T09:00:00Z";

struct label {
    std::string file;  // "d01.ics"
    std::string expected;
    std::string why;
};

std::vector<label> labels_of(const fs::path& dir) {
    std::vector<label> out;
    std::ifstream in(dir / "labels.tsv");
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
        std::istringstream f(line);
        label l;
        std::getline(f, l.file, '\t');
        std::getline(f, l.expected, '\t');
        std::getline(f, l.why);
        l.file = fs::path(l.file).filename().string();
        out.push_back(l);
    }
    return out;
}

bool silent(const label& l) { return l.why.find("without sending") != std::string::npos; }

// The replies that the labelled set must produce in enforce mode: UID → PARTSTAT.
std::map<std::string, std::string> expected_replies() {
    std::map<std::string, std::string> out;
    for (const auto& l : labels_of(labelled)) {
        if (l.expected == "leave" || silent(l)) continue;
        auto parsed = agendad::calendar::parse_ics_file(labelled / "invites" / l.file);
        EXPECT_TRUE(parsed && !parsed->events.empty()) << l.file;
        if (!parsed || parsed->events.empty()) continue;
        out[parsed->events.front().uid] = l.expected == "decline" ? "DECLINED" : "TENTATIVE";
    }
    return out;
}

// What the outbox holds: UID → PARTSTAT, with a failure for anything that is not a proper REPLY
// from the owner or that answers the same meeting twice.
std::map<std::string, std::string> replies_in(const fs::path& outbox) {
    std::map<std::string, std::string> out;
    if (!fs::exists(outbox)) return out;
    for (const auto& f : fs::directory_iterator(outbox)) {
        if (f.path().extension() != ".ics") {
            ADD_FAILURE() << "unexpected file in the outbox: " << f.path();
            continue;
        }
        const std::string text = read_file(f.path());
        EXPECT_THAT(text, HasSubstr("METHOD:REPLY")) << f.path();
        auto parsed = agendad::calendar::parse_ics(text, f.path().string(), {"dana.whitfield@contoso.example"});
        if (!parsed || parsed->events.size() != 1 || !parsed->errors.empty()) {
            ADD_FAILURE() << "not a readable reply: " << f.path();
            continue;
        }
        const auto& e = parsed->events.front();
        EXPECT_EQ(e.attendees.size(), 1u) << f.path();
        EXPECT_TRUE(e.owner.has_value()) << "the reply must speak for the owner: " << f.path();
        const std::string status(agendad::calendar::to_string(e.owner ? e.owner->partstat : agendad::calendar::partstat::none));
        EXPECT_FALSE(out.count(e.uid)) << "two replies for one meeting: " << e.uid;
        out[e.uid] = status;
    }
    return out;
}

class daemon_run_cli : public agendad::test_support::cli_fixture {
protected:
    // A copy of the labelled mailbox as a folder source, and a configuration for it.
    fs::path mailbox(const std::string& mode, int max_declines = 100, const std::string& extra_sources = "") {
        const fs::path calendar = dir_ / "calendar";
        fs::create_directories(calendar);
        fs::copy(labelled / "invites", calendar / "invites", fs::copy_options::recursive | fs::copy_options::skip_existing);
        fs::copy_file(labelled / "calendar.ics", calendar / "calendar.ics", fs::copy_options::skip_existing);
        std::ostringstream yaml;
        yaml << "state_directory: " << (dir_ / "state").string() << "\n"
             << "log_level: info\n"
             << "status: {listen: \"off\"}\n"
             << "defaults: {max_declines_per_hour: " << max_declines << "}\n"
             << "sources:\n"
             << "  dana-folder:\n"
             << "    kind: folder\n"
             << "    path: " << calendar.string() << "\n"
             << "    outbox: " << outbox().string() << "\n"
             << "    poll_seconds: 1\n"
             << extra_sources
             << "mailboxes:\n"
             << "  - address: dana.whitfield@contoso.example\n"
             << "    source: dana-folder\n"
             << "    org_domains: [contoso.example]\n"
             << "    mode: " << mode << "\n";
        return write("agendad.yaml", yaml.str());
    }
    fs::path outbox() const { return dir_ / "outbox"; }

    std::vector<boost::json::object> journal() {
        const run_result r = run({"decisions", "--state-dir", (dir_ / "state").string(), "--json"});
        EXPECT_EQ(r.status, 0) << r.err;
        std::vector<boost::json::object> out;
        std::istringstream lines(r.out);
        std::string line;
        while (std::getline(lines, line)) out.push_back(boost::json::parse(line).as_object());
        return out;
    }
};

TEST_F(daemon_run_cli, enforce_sends_exactly_the_labelled_replies_and_nothing_else) {
    const fs::path config = mailbox("enforce");
    const run_result r = run({"run", "--config", config.string(), "--once", "--now", now});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(replies_in(outbox()), expected_replies());
    // One decision line per decision, as the audit trail.
    EXPECT_THAT(r.err, HasSubstr("decision mailbox=dana.whitfield@contoso.example"));
    for (const auto& e : journal()) {
        const std::string state(e.at("state").as_string());
        EXPECT_TRUE(state == "done" || state == "left") << boost::json::serialize(e);
    }
}

TEST_F(daemon_run_cli, a_second_run_changes_nothing) {
    const fs::path config = mailbox("enforce");
    ASSERT_EQ(run({"run", "--config", config.string(), "--once", "--now", now}).status, 0);
    const auto before = replies_in(outbox());
    const auto journal_before = journal().size();
    const run_result again = run({"run", "--config", config.string(), "--once", "--now", now});
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(replies_in(outbox()), before);
    EXPECT_EQ(journal().size(), journal_before);
    EXPECT_THAT(again.err, ::testing::Not(HasSubstr("carried out"))) << "nothing may be done twice";
}

TEST_F(daemon_run_cli, kill_9_at_random_points_never_loses_or_repeats_a_reply) {
    const fs::path config = mailbox("enforce");
    std::mt19937 random(20261122);
    for (int round = 0; round < 8; ++round) {
        running d = start({"run", "--config", config.string(), "--now", now});
        std::this_thread::sleep_for(std::chrono::milliseconds(20 + random() % 400));
        ::kill(d.pid, SIGKILL);
        wait(d);
    }
    const run_result last = run({"run", "--config", config.string(), "--once", "--now", now});
    ASSERT_EQ(last.status, 0) << last.err;
    EXPECT_EQ(replies_in(outbox()), expected_replies());
    std::set<std::string> keys;
    for (const auto& e : journal()) {
        const std::string state(e.at("state").as_string());
        EXPECT_TRUE(state == "done" || state == "left") << boost::json::serialize(e);
        const std::string key = std::string(e.at("uid").as_string()) + "#" + std::to_string(e.at("sequence").as_int64());
        EXPECT_TRUE(keys.insert(key).second) << "two decisions for " << key;
    }
}

TEST_F(daemon_run_cli, dry_run_sends_nothing_but_journals_what_enforce_would_send) {
    const fs::path config = mailbox("dry-run");
    ASSERT_EQ(run({"run", "--config", config.string(), "--once", "--now", now}).status, 0);
    EXPECT_FALSE(fs::exists(outbox()) && !fs::is_empty(outbox())) << "dry-run wrote a reply";
    std::map<std::string, std::string> would_send;
    for (const auto& e : journal()) {
        const std::string state(e.at("state").as_string());
        EXPECT_TRUE(state == "dry_run" || state == "left") << boost::json::serialize(e);
        if (state == "dry_run" && e.at("send_response").as_bool()) {
            would_send[std::string(e.at("uid").as_string())] = e.at("action").as_string() == "decline" ? "DECLINED" : "TENTATIVE";
            EXPECT_FALSE(e.at("reply").is_null());
        }
    }
    EXPECT_EQ(would_send, expected_replies());
}

TEST_F(daemon_run_cli, switching_to_enforce_carries_out_what_dry_run_decided) {
    ASSERT_EQ(run({"run", "--config", mailbox("dry-run").string(), "--once", "--now", now}).status, 0);
    ASSERT_TRUE(replies_in(outbox()).empty());
    fs::remove(dir_ / "agendad.yaml");
    const run_result r = run({"run", "--config", mailbox("enforce").string(), "--once", "--now", now});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("enforcing a decision made in dry-run"));
    EXPECT_EQ(replies_in(outbox()), expected_replies());
}

TEST_F(daemon_run_cli, the_decline_limit_holds_and_says_so) {
    const fs::path config = mailbox("enforce", 2);
    const run_result r = run({"run", "--config", config.string(), "--once", "--now", now});
    ASSERT_EQ(r.status, 0) << r.err;
    int declines = 0;
    for (const auto& [uid, status] : replies_in(outbox())) declines += status == "DECLINED";
    EXPECT_EQ(declines, 2);
    EXPECT_THAT(r.err, HasSubstr("decline limit reached"));
    int limited = 0;
    for (const auto& e : journal()) limited += e.at("state").as_string() == "rate_limited";
    EXPECT_GT(limited, 0);
}

TEST_F(daemon_run_cli, an_unreadable_invitation_is_left_alone_and_named) {
    const fs::path config = mailbox("enforce");
    write("calendar/invites/zz-broken.ics", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VCALENDAR\r\n");
    const run_result r = run({"run", "--config", config.string(), "--once", "--now", now});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("invites/zz-broken.ics"));
    EXPECT_THAT(r.err, HasSubstr("left alone"));
    EXPECT_EQ(replies_in(outbox()), expected_replies());
}

TEST_F(daemon_run_cli, a_damaged_journal_is_never_acted_on) {
    const fs::path config = mailbox("enforce");
    write("state/agendad.sqlite3", std::string(8192, '\x5a'));
    const run_result r = run({"run", "--config", config.string(), "--once", "--now", now});
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, HasSubstr("refusing to act"));
    EXPECT_TRUE(replies_in(outbox()).empty());
}

TEST_F(daemon_run_cli, a_broken_configuration_starts_nothing) {
    const fs::path config = write("agendad.yaml", "mailboxes:\n  - address: nobody\n    sourse: x\n");
    const run_result r = run({"run", "--config", config.string(), "--once"});
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.err, HasSubstr("agendad.yaml:3:5"));
    EXPECT_THAT(r.err, HasSubstr("nothing was started"));
}

// systemd's protocol: READY when watching, STOPPING on SIGTERM, and a prompt, clean exit.
TEST_F(daemon_run_cli, tells_systemd_it_is_ready_and_stops_on_sigterm) {
    const fs::path config = mailbox("dry-run");
    const std::string socket_path = (dir_ / "notify").string();
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

    running d = start({"run", "--config", config.string(), "--now", now}, {"NOTIFY_SOCKET=" + socket_path});
    auto receive = [&] {
        char buffer[512];
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
    };
    EXPECT_THAT(receive(), HasSubstr("READY=1"));
    std::this_thread::sleep_for(300ms);
    ::kill(d.pid, SIGTERM);
    EXPECT_THAT(receive(), HasSubstr("STOPPING=1"));
    const run_result r = wait(d, 10s);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("stopping signal=TERM"));
    ::close(fd);
}

TEST_F(daemon_run_cli, sighup_keeps_running_on_a_broken_configuration_and_applies_a_good_one) {
    const fs::path config = mailbox("dry-run");
    running d = start({"run", "--config", config.string(), "--now", now});
    std::this_thread::sleep_for(700ms);
    const std::string good = read_file(config);
    write("agendad.yaml", good + "  - address: broken\n");
    ::kill(d.pid, SIGHUP);
    std::this_thread::sleep_for(700ms);
    ASSERT_EQ(::kill(d.pid, 0), 0) << "agendad must keep running on a broken reload";
    // Now a good one: the same mailbox in enforce mode; the dry-run decisions get carried out.
    std::string enforce = good;
    enforce.replace(enforce.find("mode: dry-run"), 13, "mode: enforce");
    write("agendad.yaml", enforce);
    ::kill(d.pid, SIGHUP);
    for (int i = 0; i < 100 && replies_in(outbox()) != expected_replies(); ++i) std::this_thread::sleep_for(100ms);
    ::kill(d.pid, SIGTERM);
    const run_result r = wait(d, 10s);
    EXPECT_EQ(r.status, 0);
    EXPECT_THAT(r.err, HasSubstr("reload refused"));
    EXPECT_EQ(replies_in(outbox()), expected_replies());
}

TEST_F(daemon_run_cli, the_demo_decides_the_sample_mailbox_as_labelled) {
    const fs::path state = dir_ / "demo";
    const run_result r = run({"run", "--demo", "--once", "--state-dir", state.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    std::map<std::string, std::string> expected;
    for (const auto& l : labels_of(samples)) expected[l.file] = l.expected;
    const run_result listed = run({"decisions", "--state-dir", state.string(), "--json"});
    std::istringstream lines(listed.out);
    std::string line;
    int decided = 0;
    while (std::getline(lines, line)) {
        const auto e = boost::json::parse(line).as_object();
        const std::string file = fs::path(std::string(e.at("item").as_string())).filename().string();
        EXPECT_EQ(e.at("action").as_string(), expected[file]) << file;
        EXPECT_TRUE(e.at("state").as_string() == "dry_run" || e.at("state").as_string() == "left");
        ++decided;
    }
    // Cancellation, FYI and the owner's own meeting are left by guards, without a journal entry.
    EXPECT_EQ(decided, static_cast<int>(expected.size()) - 3);
}

}  // namespace
