// `agendad run` end to end, as the built binary on a folder source: the labelled mailbox in
// enforce mode gets exactly the expected replies, once, across kill -9 and restarts; dry-run
// sends nothing; limits, broken input, a damaged journal, signals and systemd's protocol.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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
#include "daemon_fixture.h"
#include "http_get.h"
#include "support/process.h"

namespace {

namespace fs = std::filesystem;
using agendad::test_support::http_get;
using agendad::test_support::read_file;
using agendad::test_support::replies_in;
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

// The replies that the labelled set must produce in enforce mode: UID → PARTSTAT.
std::map<std::string, std::string> expected_replies() {
    return agendad::test_support::expected_labelled_replies(labelled);
}

class daemon_run_cli : public agendad::test_support::daemon_fixture {
  protected:
    // The labelled mailbox as a folder source, replies into outbox() (daemon_fixture.h).
    fs::path mailbox(const std::string& mode, int max_declines = 100,
                     const std::string& extra_sources = "",
                     const std::string& status_listen = "off") {
        return labelled_mailbox(mode, max_declines, extra_sources, status_listen);
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
    kill_9_repeatedly({"run", "--config", config.string(), "--now", now}, 8, 20, 400);
    const run_result last = run({"run", "--config", config.string(), "--once", "--now", now});
    ASSERT_EQ(last.status, 0) << last.err;
    EXPECT_EQ(replies_in(outbox()), expected_replies());
    expect_each_version_decided_once();
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
            would_send[std::string(e.at("uid").as_string())] =
                e.at("action").as_string() == "decline" ? "DECLINED" : "TENTATIVE";
            EXPECT_FALSE(e.at("reply").is_null());
        }
    }
    EXPECT_EQ(would_send, expected_replies());
}

TEST_F(daemon_run_cli, switching_to_enforce_carries_out_what_dry_run_decided) {
    ASSERT_EQ(run({"run", "--config", mailbox("dry-run").string(), "--once", "--now", now}).status,
              0);
    ASSERT_TRUE(replies_in(outbox()).empty());
    fs::remove(dir_ / "agendad.yaml");
    const run_result r =
        run({"run", "--config", mailbox("enforce").string(), "--once", "--now", now});
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
    write("calendar/invites/zz-broken.ics",
          "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nEND:VCALENDAR\r\n");
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
    const fs::path config =
        write("agendad.yaml", "mailboxes:\n  - address: nobody\n    sourse: x\n");
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

    running d =
        start({"run", "--config", config.string(), "--now", now}, {"NOTIFY_SOCKET=" + socket_path});
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
    for (int i = 0; i < 100 && replies_in(outbox()) != expected_replies(); ++i)
        std::this_thread::sleep_for(100ms);
    ::kill(d.pid, SIGTERM);
    const run_result r = wait(d, 10s);
    EXPECT_EQ(r.status, 0);
    EXPECT_THAT(r.err, HasSubstr("reload refused"));
    EXPECT_EQ(replies_in(outbox()), expected_replies());
}

// The journal entry for a labelled invitation file (by the UID in that file).
std::optional<boost::json::object> entry_for(const std::vector<boost::json::object>& journal,
                                             const std::string& uid,
                                             const std::string& phase = "") {
    for (const auto& e : journal) {
        const auto& p = e.at("phase");
        if (e.at("uid").as_string() == uid &&
            (phase.empty() ? p.is_null() : p.is_string() && p.as_string() == phase)) {
            return e;
        }
    }
    return std::nullopt;
}

std::string uid_of(const fs::path& ics) {
    auto parsed = agendad::calendar::parse_ics_file(ics);
    return parsed && !parsed->events.empty() ? parsed->events.front().uid : std::string();
}

// Rewrites an invitation file as the owner's client (or the organizer) would change it.
void edit(const fs::path& file, const std::string& from, const std::string& to) {
    std::string text = read_file(file);
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from << " not in " << file;
    text.replace(at, from.size(), to);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << text;
}

TEST_F(daemon_run_cli,
       when_the_owner_answers_otherwise_agendad_steps_back_and_trusts_the_organizer) {
    const fs::path config = mailbox("enforce");
    ASSERT_EQ(run({"run", "--config", config.string(), "--once", "--now", now}).status, 0);
    const fs::path d01 = dir_ / "calendar/invites/d01.ics";
    // The owner accepts the meeting agendad declined.
    edit(d01, "PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Dana Whitf",
         "PARTSTAT=ACCEPTED;RSVP=TRUE;CN=Dana Whitf");
    const run_result r = run({"run", "--config", config.string(), "--once", "--now", now});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("the owner overrode a decision"));
    const auto e = entry_for(journal(), uid_of(d01));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->at("state").as_string(), "overridden");
    // From then on the organizer is trusted: a new cold invitation from them is not declined.
    std::string invite = read_file(labelled / "invites/d02.ics");
    invite.replace(invite.find("megan.ross@brightleads.example"), 30,
                   "chris.dalton@pipelinepro.example");
    invite.replace(invite.find("UID:040000008200E00074C5B7101A82E008"), 36,
                   "UID:040000008200E00074C5B7101A82E00X");
    write("calendar/invites/zz-new-from-chris.ics", invite);
    const run_result again = run({"run", "--config", config.string(), "--once", "--now", now});
    ASSERT_EQ(again.status, 0);
    const auto next = entry_for(journal(), uid_of(dir_ / "calendar/invites/zz-new-from-chris.ics"));
    ASSERT_TRUE(next);
    EXPECT_NE(next->at("action").as_string(), "decline") << boost::json::serialize(*next);
}

// A response that failed is retried, but not over an answer the owner gave in the meantime.
TEST_F(daemon_run_cli, a_failed_response_is_not_retried_over_the_owners_own_answer) {
    const fs::path config = mailbox("enforce");
    write("outbox", "a file where the outbox folder should be\n");  // every reply fails
    const run_result failing = run({"run", "--config", config.string(), "--once", "--now", now});
    EXPECT_THAT(failing.err, HasSubstr("response failed; will retry"));
    const fs::path d01 = dir_ / "calendar/invites/d01.ics";
    ASSERT_EQ(entry_for(journal(), uid_of(d01))->at("state").as_string(), "failed");

    edit(d01, "PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Dana Whitf",
         "PARTSTAT=ACCEPTED;RSVP=TRUE;CN=Dana Whitf");
    fs::remove(outbox());
    const run_result r = run({"run", "--config", config.string(), "--once", "--now", now});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(entry_for(journal(), uid_of(d01))->at("state").as_string(), "overridden");
    // Every other failed reply went out; d01's did not.
    auto expected = expected_replies();
    expected.erase(uid_of(d01));
    EXPECT_EQ(replies_in(outbox()), expected);
}

TEST_F(daemon_run_cli, an_unanswered_request_for_an_agenda_is_declined_at_the_deadline) {
    const fs::path config = mailbox("enforce");
    ASSERT_EQ(run({"run", "--config", config.string(), "--once", "--now", now}).status, 0);
    const std::string d07 = uid_of(dir_ / "calendar/invites/d07.ics");  // Mon 23 Nov 16:00 PST
    // Before the deadline (24 h before the start) nothing more happens ...
    ASSERT_EQ(
        run({"run", "--config", config.string(), "--once", "--now", "2026-11-22T23:00:00Z"}).status,
        0);
    EXPECT_FALSE(entry_for(journal(), d07, "agenda_deadline"));
    // ... after it, a decline with the policy's follow-up reply.
    const run_result r =
        run({"run", "--config", config.string(), "--once", "--now", "2026-11-23T01:00:00Z"});
    ASSERT_EQ(r.status, 0) << r.err;
    const auto decline = entry_for(journal(), d07, "agenda_deadline");
    ASSERT_TRUE(decline);
    EXPECT_EQ(decline->at("state").as_string(), "done");
    EXPECT_THAT(std::string(decline->at("reply").as_string()),
                HasSubstr("I had asked for an agenda"));
    EXPECT_EQ(entry_for(journal(), d07)->at("state").as_string(), "superseded");
    std::vector<std::string> replies_for_d07;
    for (const auto& f : fs::directory_iterator(outbox())) {
        auto parsed =
            agendad::calendar::parse_ics_file(f.path(), {"dana.whitfield@contoso.example"});
        if (parsed && !parsed->events.empty() && parsed->events.front().uid == d07) {
            replies_for_d07.emplace_back(
                agendad::calendar::to_string(parsed->events.front().owner->partstat));
        }
    }
    std::sort(replies_for_d07.begin(), replies_for_d07.end());
    EXPECT_EQ(replies_for_d07, (std::vector<std::string>{"DECLINED", "TENTATIVE"}))
        << "the request for an agenda, then the decline";
    // Only d07's deadline has passed; a later run changes nothing more.
    const run_result again =
        run({"run", "--config", config.string(), "--once", "--now", "2026-11-23T01:00:00Z"});
    EXPECT_THAT(again.err, ::testing::Not(HasSubstr("carried out")));
}

TEST_F(daemon_run_cli, an_update_with_an_agenda_clears_the_request) {
    const fs::path config = mailbox("enforce");
    ASSERT_EQ(run({"run", "--config", config.string(), "--once", "--now", now}).status, 0);
    const fs::path d07 = dir_ / "calendar/invites/d07.ics";
    edit(d07, "SEQUENCE:0", "SEQUENCE:1");
    edit(d07, "SUMMARY;LANGUAGE=en-US:Quick sync",
         "DESCRIPTION:Agenda:\\n1. Q4 numbers for the board\\n2. Hiring plan for "
         "EMEA\r\nSUMMARY;LANGUAGE=en-US:Quick sync");
    ASSERT_EQ(run({"run", "--config", config.string(), "--once", "--now", now}).status, 0);
    const auto journal_now = journal();
    const std::string uid = uid_of(d07);
    bool left_v1 = false;
    for (const auto& e : journal_now) {
        if (e.at("uid").as_string() != uid) continue;
        if (e.at("sequence").as_int64() == 0) {
            EXPECT_EQ(e.at("state").as_string(), "superseded");
        }
        if (e.at("sequence").as_int64() == 1) left_v1 = e.at("action").as_string() == "leave";
    }
    EXPECT_TRUE(left_v1) << "an agenda now present leaves the meeting to the owner";
    ASSERT_EQ(
        run({"run", "--config", config.string(), "--once", "--now", "2026-11-23T01:00:00Z"}).status,
        0);
    EXPECT_FALSE(entry_for(journal(), uid, "agenda_deadline")) << "no decline once an agenda came";
}

TEST_F(daemon_run_cli, an_update_without_an_agenda_does_not_ask_twice) {
    const fs::path config = mailbox("enforce");
    ASSERT_EQ(run({"run", "--config", config.string(), "--once", "--now", now}).status, 0);
    const auto before = replies_in(outbox());
    const fs::path d07 = dir_ / "calendar/invites/d07.ics";
    edit(d07, "SEQUENCE:0", "SEQUENCE:1");
    ASSERT_EQ(run({"run", "--config", config.string(), "--once", "--now", now}).status, 0);
    EXPECT_EQ(replies_in(outbox()), before) << "no second request for the same meeting";
    bool silent_v1 = false;
    for (const auto& e : journal()) {
        if (e.at("uid").as_string() == uid_of(d07) && e.at("sequence").as_int64() == 1) {
            silent_v1 =
                e.at("action").as_string() == "request_agenda" && !e.at("send_response").as_bool();
        }
    }
    EXPECT_TRUE(silent_v1);
}

TEST_F(daemon_run_cli, undo_takes_a_decline_back_with_an_apology_and_trusts_the_organizer) {
    const fs::path config = mailbox("enforce");
    ASSERT_EQ(run({"run", "--config", config.string(), "--once", "--now", now}).status, 0);
    const std::string d01 = uid_of(dir_ / "calendar/invites/d01.ics");
    const auto decline = entry_for(journal(), d01);
    ASSERT_TRUE(decline);
    const std::string id = std::to_string(decline->at("id").as_int64());
    const run_result r = run({"undo", id, "--config", config.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("undone"));
    EXPECT_THAT(r.out, HasSubstr("chris.dalton@pipelinepro.example is trusted"));
    EXPECT_EQ(entry_for(journal(), d01)->at("state").as_string(), "undone");
    // The apology went out as a TENTATIVE reply next to the original decline.
    bool apology = false;
    for (const auto& f : fs::directory_iterator(outbox())) {
        const std::string text = read_file(f.path());
        if (f.path().filename().string().find("-undo.ics") != std::string::npos) {
            apology = text.find("PARTSTAT=TENTATIVE") != std::string::npos &&
                      text.find("disregard my earlier reply") != std::string::npos;
        }
    }
    EXPECT_TRUE(apology);
    // Twice is refused, and the daemon leaves the meeting alone from now on.
    const run_result twice = run({"undo", id, "--config", config.string()});
    EXPECT_EQ(twice.status, 1);
    EXPECT_THAT(twice.err, HasSubstr("already undone"));
    const run_result again = run({"run", "--config", config.string(), "--once", "--now", now});
    EXPECT_THAT(again.err, ::testing::Not(HasSubstr("carried out")));
}

TEST_F(daemon_run_cli, undo_refuses_what_was_never_sent) {
    const fs::path config = mailbox("dry-run");
    ASSERT_EQ(run({"run", "--config", config.string(), "--once", "--now", now}).status, 0);
    const auto e = entry_for(journal(), uid_of(dir_ / "calendar/invites/d01.ics"));
    ASSERT_TRUE(e);
    const run_result r =
        run({"undo", std::to_string(e->at("id").as_int64()), "--config", config.string()});
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, HasSubstr("dry-run: nothing was sent"));
    EXPECT_EQ(run({"undo", "999999", "--config", config.string()}).status, 1);
    EXPECT_EQ(run({"undo", "--config", config.string()}).status, 2);
}

TEST_F(daemon_run_cli, the_status_listener_reports_health_metrics_and_decisions) {
    const int port = agendad::test_support::free_loopback_port();
    const fs::path config = mailbox("enforce", 100, "", "127.0.0.1:" + std::to_string(port));
    running d = start({"run", "--config", config.string(), "--now", now});
    std::string metrics;
    for (int i = 0; i < 100; ++i) {
        metrics = http_get(port, "/metrics");
        if (metrics.find("agendad_respond_duration_seconds_count") != std::string::npos) break;
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_THAT(metrics, HasSubstr("HTTP/1.1 200"));
    EXPECT_THAT(metrics, HasSubstr("agendad_mailboxes_watched 1\n"));
    EXPECT_THAT(metrics, HasSubstr("agendad_decisions_total{action=\"decline\""));
    EXPECT_THAT(metrics, HasSubstr("agendad_last_sync_success_timestamp_seconds{mailbox="
                                   "\"dana.whitfield@contoso.example\"}"));
    EXPECT_THAT(http_get(port, "/healthz"), HasSubstr("HTTP/1.1 200"));
    const std::string decisions = http_get(port, "/v1/decisions?limit=1");
    EXPECT_THAT(decisions, HasSubstr("HTTP/1.1 200"));
    EXPECT_THAT(decisions, HasSubstr("\"mailbox\":\"dana.whitfield@contoso.example\""));
    ::kill(d.pid, SIGTERM);
    const run_result r = wait(d, 10s);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("status listener listen=127.0.0.1:" + std::to_string(port)));
    EXPECT_EQ(http_get(port, "/healthz"), "") << "the listener must close with the daemon";
}

TEST_F(daemon_run_cli, a_status_address_in_use_is_a_clear_error_at_start) {
    const agendad::test_support::held_port held;
    const std::string taken = "127.0.0.1:" + std::to_string(held.port());
    const fs::path config = mailbox("enforce", 100, "", taken);
    const run_result r = run({"run", "--config", config.string(), "--now", now});
    EXPECT_NE(r.status, 0);
    EXPECT_THAT(r.err, HasSubstr("cannot start the status listener listen=" + taken));
    EXPECT_TRUE(!fs::exists(outbox()) || fs::is_empty(outbox())) << "nothing may be sent";
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
        const std::string file =
            fs::path(std::string(e.at("item").as_string())).filename().string();
        EXPECT_EQ(e.at("action").as_string(), expected[file]) << file;
        EXPECT_TRUE(e.at("state").as_string() == "dry_run" || e.at("state").as_string() == "left");
        ++decided;
    }
    // Cancellation, FYI and the owner's own meeting are left by guards, without a journal entry.
    EXPECT_EQ(decided, static_cast<int>(expected.size()) - 3);
}

}  // namespace
