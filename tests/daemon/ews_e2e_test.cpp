// `agendad run` end to end on EWS (Exchange Server on premises): the built binary against the
// in-process fake EWS server (TLS from a test CA, 127.0.0.1 only), signing in with NTLMv2 and
// impersonating the mailbox. The labelled mailbox is served as EWS calendar items
// (support/ews_calendar_items.h): calendar.ics as the calendar's history, then every labelled
// invitation. In enforce mode each invitation must get exactly the response item its label says
// (request_agenda → TentativelyAcceptItem with the agenda request, decline → DeclineItem with
// the policy's reply and SendAndSaveCopy, calendar spam → DeclineItem with SaveOnly, leave →
// nothing), exactly once: also across kill -9, ErrorServerBusy storms, an expired SyncState, a
// new invitation arriving while it runs, and a mailbox the account may not impersonate.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "e2e_fixture.h"
#include "support/ews_calendar_items.h"
#include "support/fake_ews.h"
#include "support/graph_events.h"
#include "support/process.h"

namespace {

namespace fs = std::filesystem;
using agendad::test_support::ews_calendar_items_from_file;
using agendad::test_support::ews_calendar_items_from_ics;
using agendad::test_support::fake_ews;
using agendad::test_support::graph_events_from_file;
using agendad::test_support::eventually;
using agendad::test_support::read_file;
using agendad::test_support::run_result;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

const fs::path labelled = fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations";
const std::string owner = "dana.whitfield@contoso.example";

struct label {
    std::string file;      // "d01.ics"
    std::string expected;  // leave | request_agenda | decline
    bool silent = false;   // a decline without a response
    std::string uid;
    std::string xml;  // the calendar item
    std::string organizer_first;
    std::string subject;
};

std::vector<label> labels() {
    std::vector<label> out;
    for (const auto& row : agendad::test_support::read_labelled_rows(labelled)) {
        label l;
        l.file = row.file;
        l.expected = row.expected;
        l.silent = row.silent;
        const fs::path file = labelled / "invites" / l.file;
        const auto items = ews_calendar_items_from_file(file, owner);
        if (items.size() != 1) {
            ADD_FAILURE() << l.file << ": " << items.size() << " items";
            continue;
        }
        l.uid = items.front().uid;
        l.xml = items.front().xml;
        // Subject and organizer's name as the policy's reply quotes them (the Graph view of the
        // same file has them as plain JSON).
        const auto events = graph_events_from_file(file, owner);
        const auto e = boost::json::parse(events.at(0).json).as_object();
        l.subject = std::string(e.at("subject").as_string());
        const std::string name(
            e.at("organizer").as_object().at("emailAddress").as_object().at("name").as_string());
        l.organizer_first = name.substr(0, name.find(' '));
        out.push_back(l);
    }
    return out;
}

fake_ews::options ntlm_server() {
    fake_ews::options o;
    o.auth = fake_ews::auth_scheme::ntlm;
    o.decline_removes = true;  // as Exchange does: a declined meeting leaves the calendar
    o.stream_keepalive = 1s;
    o.stream_minute = 2s;
    return o;
}

class ews_e2e : public agendad::test_support::e2e_fixture {
  protected:
    void SetUp() override {
        cli_fixture::SetUp();
        fake_.add_mailbox(owner, "Dana Whitfield");
        fake_.grant_impersonation(owner);
        for (const auto& item : ews_calendar_items_from_file(labelled / "calendar.ics", owner)) {
            ids_by_uid_[item.uid] = fake_.add_item(owner, item.xml);
        }
    }

    fs::path config(const std::vector<std::string>& more_mailboxes = {}, int poll_seconds = 1,
                    bool streaming = false) {
        const fs::path secret = write("secrets/ews-password", "test-password\n");
        fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
        std::ostringstream yaml;
        yaml << "state_directory: " << state_dir().string() << "\n"
             << "log_level: info\n"
             << "status: {listen: \"off\"}\n"
             << "defaults: {max_declines_per_hour: 100}\n"
             << "sources:\n"
             << "  exchange:\n"
             << "    kind: ews\n"
             << "    url: " << fake_.ews_url() << "\n"
             << "    auth: ntlm\n"
             << "    user: CONTOSO\\svc-agendad\n"
             << "    password_file: " << secret.string() << "\n"
             << "    ca_file: " << fake_.ca_file().string() << "\n"
             << "    poll_seconds: " << poll_seconds << "\n"
             << "    streaming: " << (streaming ? "true" : "false") << "\n";
        yaml << "mailboxes:\n";
        std::vector<std::string> all{owner};
        all.insert(all.end(), more_mailboxes.begin(), more_mailboxes.end());
        for (const auto& m : all) {
            yaml << "  - address: " << m << "\n"
                 << "    source: exchange\n"
                 << "    org_domains: [contoso.example]\n"
                 << "    mode: enforce\n";
        }
        return write("agendad.yaml", yaml.str());
    }

    void learn_history(const fs::path& cfg) {
        const run_result learned = once(cfg);
        ASSERT_EQ(learned.status, 0) << learned.err;
        EXPECT_TRUE(fake_.responses().empty()) << learned.err;
    }

    // The invitations arrive: new items, or an update of the item they change (same UID).
    void deliver_invitations() {
        for (const auto& l : labels_) {
            if (const auto it = ids_by_uid_.find(l.uid); it != ids_by_uid_.end()) {
                fake_.update_item(owner, it->second, l.xml);
            } else {
                ids_by_uid_[l.uid] = fake_.add_item(owner, l.xml);
            }
        }
    }

    std::size_t expected_response_count() const {
        std::size_t n = 0;
        for (const auto& l : labels_) n += l.expected != "leave";
        return n;
    }

    bool all_answered(std::size_t extra = 0) const {
        return fake_.responses().size() >= expected_response_count() + extra;
    }

    void expect_labelled_outcome() {
        std::map<std::string, std::vector<fake_ews::response_record>> by_id;
        for (const auto& r : fake_.responses()) {
            EXPECT_EQ(r.mailbox, owner);
            by_id[r.item_id].push_back(r);
        }
        std::set<std::string> labelled_ids;
        for (const auto& l : labels_) {
            SCOPED_TRACE(l.file + " (" + l.expected + ")");
            const std::string id = ids_by_uid_.at(l.uid);
            labelled_ids.insert(id);
            const auto& calls = by_id[id];
            if (l.expected == "leave") {
                EXPECT_TRUE(calls.empty()) << calls.size() << " responses, first "
                                           << (calls.empty() ? "" : calls.front().kind);
                continue;
            }
            ASSERT_EQ(calls.size(), 1u) << "answered " << calls.size() << " times";
            const auto& c = calls.front();
            const bool sent = c.disposition == "SendAndSaveCopy";
            if (l.expected == "request_agenda") {
                EXPECT_EQ(c.kind, "TentativelyAcceptItem");
                EXPECT_TRUE(sent) << c.disposition;
                EXPECT_THAT(c.body, HasSubstr("you would like to cover"));
            } else {
                EXPECT_EQ(c.kind, "DeclineItem");
                EXPECT_EQ(sent, !l.silent) << c.disposition;
                if (!sent) {
                    EXPECT_EQ(c.disposition, "SaveOnly");
                }
            }
            if (sent) {
                EXPECT_THAT(c.body, HasSubstr("Hi " + l.organizer_first + ","));
                EXPECT_THAT(c.body, HasSubstr("\"" + l.subject + "\""));
                EXPECT_THAT(c.body, HasSubstr("Dana"));
                EXPECT_EQ(c.body_type, "Text");
            }
        }
        for (const auto& [id, calls] : by_id) {
            EXPECT_TRUE(labelled_ids.count(id) || extra_ids_.count(id))
                << calls.size() << " responses for item " << id << " which is not labelled";
        }
    }


    fake_ews fake_{ntlm_server()};
    std::vector<label> labels_ = labels();
    std::map<std::string, std::string> ids_by_uid_;
    std::set<std::string> extra_ids_;
};

TEST_F(ews_e2e, enforce_answers_every_labelled_invitation_once_through_ews) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    const run_result r = once(cfg);
    ASSERT_EQ(r.status, 0) << r.err;
    expect_labelled_outcome();
    EXPECT_EQ(fake_.responses().size(), expected_response_count());

    const auto decided = journal().size();
    const run_result again = once(cfg);
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(journal().size(), decided);
    expect_labelled_outcome();
    expect_each_version_decided_once();
    // Every request impersonated Dana, anchored on her mailbox, over NTLM-signed connections.
    // (The first leg of an NTLM sign-in has no body: it only asks for the challenge.)
    for (const auto& q : fake_.requests()) {
        EXPECT_EQ(q.path, "/EWS/Exchange.asmx");
        EXPECT_EQ(q.anchor_mailbox, owner) << q.operation;
        if (q.body.empty()) {
            EXPECT_EQ(q.status, 401);
            EXPECT_EQ(q.authorization_scheme, "NTLM");
            continue;
        }
        EXPECT_EQ(q.mailbox, owner) << q.operation;
        EXPECT_TRUE(q.impersonated) << q.operation;
    }
    EXPECT_GE(fake_.ntlm_handshakes(), 1);
    EXPECT_LE(fake_.ntlm_handshakes(), 4) << "a signed-in connection is reused";
    EXPECT_LE(fake_.max_in_flight_per_mailbox(), 2);
}

TEST_F(ews_e2e, no_password_shows_in_logs_metrics_decisions_or_crash_output) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    expect_secrets_never_shown(cfg, dir_ / "secrets/ews-password",
                               {{"test-password", "CONTOSO\\svc-agendad"}},
                               [&] { return all_answered(); }, owner);
}

TEST_F(ews_e2e, a_server_certificate_from_an_unknown_ca_is_refused_and_nothing_is_sent) {
    deliver_invitations();
    expect_untrusted_server_refused(config(), owner);
    EXPECT_TRUE(fake_.requests().empty()) << fake_.requests().front().operation;
}

TEST_F(ews_e2e, kill_9_at_random_points_never_loses_or_repeats_a_response) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    kill_9_repeatedly(run_args(cfg), 8, 50, 600);
    const run_result last = once(cfg);
    ASSERT_EQ(last.status, 0) << last.err;
    expect_labelled_outcome();
    expect_each_version_decided_once();
}

// ErrorServerBusy on every kind of request, a connection reset on a CreateItem (it may have
// been processed: the daemon asks the item's state before answering again), and 503s.
TEST_F(ews_e2e, a_busy_server_delays_answers_and_never_duplicates_them) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    fake_ews::fault busy;
    busy.what = fake_ews::fault::kind::server_busy;
    busy.back_off = 300ms;
    fake_.fail_next("SyncFolderItems", busy, 3);
    fake_.fail_next("GetItem", busy, 3);
    fake_.fail_next("CreateItem", busy, 3);
    fake_ews::fault reset;
    reset.what = fake_ews::fault::kind::reset;
    fake_.fail_next("CreateItem", reset, 2);
    fake_ews::fault unavailable;
    unavailable.what = fake_ews::fault::kind::http_status;
    unavailable.status = 503;
    fake_.fail_next("GetItem", unavailable, 2);
    running d = start(run_args(cfg));
    const bool answered = eventually([&] { return all_answered(); }, 60s);
    std::this_thread::sleep_for(1500ms);
    const run_result r = stop(d);
    EXPECT_TRUE(answered) << r.err.substr(0, 4000);
    EXPECT_EQ(r.status, 0) << r.err;
    expect_labelled_outcome();
    expect_each_version_decided_once();
    // BackOffMilliseconds was waited: after a busy answer (a SOAP fault, HTTP 500), the next
    // request of the same operation came at least 0.3 s later.
    const auto requests = fake_.requests();
    int busy_seen = 0;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        if (requests[i].status != 500) continue;
        ++busy_seen;
        for (std::size_t j = i + 1; j < requests.size(); ++j) {
            if (requests[j].operation != requests[i].operation) continue;
            EXPECT_GE(requests[j].received - requests[i].answered, 290ms) << requests[i].operation;
            break;
        }
    }
    EXPECT_EQ(busy_seen, 9);
    EXPECT_LE(fake_.max_in_flight_per_mailbox(), 2);
}

TEST_F(ews_e2e, an_expired_sync_state_means_a_full_resync_and_no_duplicates) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    running d = start(run_args(cfg));
    ASSERT_TRUE(eventually([&] { return all_answered(); }, 20s)) << read_file(d.err);
    const auto decided = journal().size();
    const auto before = fake_.requests().size();
    fake_.expire_sync_states();
    // A round refused with ErrorInvalidSyncStateData, then one without a SyncState.
    const bool resynced = eventually(
        [&] {
            const auto requests = fake_.requests();
            bool refused = false;
            for (std::size_t i = before; i < requests.size(); ++i) {
                const auto& q = requests[i];
                if (q.operation != "SyncFolderItems") continue;
                if (q.body.find("SyncState>") != std::string::npos && q.status == 200 &&
                    !refused) {
                    continue;
                }
                if (q.body.find("SyncState>") == std::string::npos) refused = true;
                if (refused) return true;
            }
            return false;
        },
        15s);
    EXPECT_TRUE(resynced);
    std::this_thread::sleep_for(2500ms);
    const run_result r = stop(d);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(journal().size(), decided);
    expect_labelled_outcome();
    expect_each_version_decided_once();
}

TEST_F(ews_e2e, a_new_invitation_while_running_is_answered_within_seconds) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    running d = start(run_args(cfg));
    ASSERT_TRUE(eventually([&] { return all_answered(); }, 20s)) << read_file(d.err);

    std::string text = read_file(labelled / "invites" / "d21.ics");
    const auto uid_at = text.find("\nUID:");
    ASSERT_NE(uid_at, std::string::npos);
    text.insert(uid_at + 5, "e2e-new-");
    const auto items = ews_calendar_items_from_ics(text, "new.ics", owner);
    ASSERT_EQ(items.size(), 1u);
    const auto added = std::chrono::steady_clock::now();
    const std::string id = fake_.add_item(owner, items.front().xml);
    extra_ids_.insert(id);
    const bool answered = eventually([&] { return all_answered(1); }, 10s);
    const auto took = std::chrono::steady_clock::now() - added;
    EXPECT_TRUE(answered) << read_file(d.err);
    EXPECT_LT(took, 6s);
    std::this_thread::sleep_for(1500ms);
    const run_result r = stop(d);
    EXPECT_EQ(r.status, 0) << r.err;
    std::vector<fake_ews::response_record> calls;
    for (const auto& c : fake_.responses()) {
        if (c.item_id == id) calls.push_back(c);
    }
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls.front().kind, "DeclineItem");
    EXPECT_EQ(calls.front().disposition, "SendAndSaveCopy");
    expect_labelled_outcome();
    expect_each_version_decided_once();
}

// A poll every 5 minutes: within this test only a streaming notification can bring an item in.
// The fake's "minute" is 2 s, so the daemon's 29-minute streams end and are asked again
// (ConnectionStatus Closed) during the test, and a dropped stream is reconnected.
TEST_F(ews_e2e, a_streaming_notification_brings_an_invitation_in_without_waiting_for_the_poll) {
    const fs::path cfg = config({}, 300, true);
    learn_history(cfg);
    running d = start(run_args(cfg));
    ASSERT_TRUE(eventually([&] { return fake_.open_streams() == 1; }, 10s)) << read_file(d.err);

    const auto deliver_new = [&](const std::string& prefix) {
        std::string text = read_file(labelled / "invites" / "d21.ics");
        text.insert(text.find("\nUID:") + 5, prefix);
        const auto items = ews_calendar_items_from_ics(text, prefix + ".ics", owner);
        const std::string id = fake_.add_item(owner, items.at(0).xml);
        extra_ids_.insert(id);
        return id;
    };
    const auto answered = [&](const std::string& id) {
        for (const auto& c : fake_.responses()) {
            if (c.item_id == id) return true;
        }
        return false;
    };
    auto added = std::chrono::steady_clock::now();
    const std::string first = deliver_new("stream-1-");
    EXPECT_TRUE(eventually([&] { return answered(first); }, 10s)) << read_file(d.err);
    EXPECT_LT(std::chrono::steady_clock::now() - added, 5s);

    // A stream cut off: reconnected, and what came meanwhile is still answered.
    fake_.drop_streams();
    const std::string second = deliver_new("stream-2-");
    added = std::chrono::steady_clock::now();
    EXPECT_TRUE(eventually([&] { return answered(second); }, 15s)) << read_file(d.err);
    EXPECT_LT(std::chrono::steady_clock::now() - added, 10s);
    EXPECT_TRUE(eventually([&] { return fake_.open_streams() == 1; }, 10s));

    const auto stopping = std::chrono::steady_clock::now();
    const run_result r = stop(d);
    EXPECT_LT(std::chrono::steady_clock::now() - stopping, 5s) << "an open stream ends at once";
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(eventually([&] { return fake_.open_streams() == 0; }, 5s));
    int subscribes = 0;
    for (const auto& q : fake_.requests()) subscribes += q.operation == "Subscribe";
    EXPECT_GE(subscribes, 1);
    // Only the two new invitations were answered, once each.
    std::map<std::string, int> per_item;
    for (const auto& c : fake_.responses()) ++per_item[c.item_id];
    EXPECT_EQ(per_item.size(), 2u);
    for (const auto& [id, n] : per_item) EXPECT_EQ(n, 1) << id;
}

// SIGTERM in the middle of a pass: the pass may finish, then the daemon ends at once rather than
// sleeping out its poll interval first (here 5 minutes; the drain would give up after 30 s).
TEST_F(ews_e2e, sigterm_during_a_pass_ends_the_daemon_when_the_pass_is_done) {
    const fs::path cfg = config({}, 300);
    learn_history(cfg);
    fake_ews::fault slow;
    slow.what = fake_ews::fault::kind::delay;
    slow.delay = 2s;
    fake_.fail_next("SyncFolderItems", slow);
    running d = start(run_args(cfg));
    ASSERT_TRUE(eventually([&] { return fake_.faults_given() == 1; }, 10s)) << read_file(d.err);

    const auto stopping = std::chrono::steady_clock::now();
    const run_result r = stop(d);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_LT(std::chrono::steady_clock::now() - stopping, 8s) << r.err;
    EXPECT_THAT(r.err, Not(HasSubstr("drain took too long")));
}

TEST_F(ews_e2e, a_mailbox_the_account_may_not_impersonate_is_named_and_the_others_are_served) {
    const std::string denied = "raj.patel@contoso.example";
    fake_.add_mailbox(denied, "Raj Patel");  // not granted
    learn_history(config());
    deliver_invitations();
    const fs::path cfg = config({denied});
    running d = start(run_args(cfg));
    EXPECT_TRUE(eventually([&] { return all_answered(); }, 20s)) << read_file(d.err);
    std::this_thread::sleep_for(1500ms);
    const run_result r = stop(d);
    EXPECT_EQ(r.status, 0) << r.err;
    expect_labelled_outcome();
    bool named = false;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);) {
        if (line.find(denied) != std::string::npos &&
            line.find("ErrorImpersonateUserDenied") != std::string::npos &&
            line.find("ApplicationImpersonation") != std::string::npos) {
            named = true;
        }
    }
    EXPECT_TRUE(named) << r.err.substr(0, 4000);
    for (const auto& c : fake_.responses()) EXPECT_EQ(c.mailbox, owner);
}

}  // namespace
