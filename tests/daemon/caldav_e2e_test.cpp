// `agendad run` end to end on CalDAV: the built binary against a real Radicale (over TLS, trusted
// through a test CA) and a real SMTP server (aiosmtpd). The labelled mailbox is loaded into a
// Radicale calendar; in enforce mode every invitation must end with the owner's PARTSTAT on the
// server and the iMIP reply in the mail server that its label says: none for silent declines and
// for `leave`, exactly one otherwise. Also across kill -9, Radicale going away mid-run, a sync
// token the daemon's journal holds but the server forgot, and a mail server that refuses.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "calendar/ical/parse.h"
#include "e2e_fixture.h"
#include "support/radicale.h"
#include "support/smtp_sink.h"
#include "support/test_ca.h"

namespace {

namespace fs = std::filesystem;
using agendad::calendar::parse_ics;
using agendad::calendar::parse_options;
using agendad::test_support::radicale;
using agendad::test_support::radicale_options;
using agendad::test_support::read_file;
using agendad::test_support::run_result;
using agendad::test_support::smtp_sink;
using agendad::test_support::smtp_stage;
using agendad::test_support::test_ca;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const fs::path labelled = fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations";
const std::string owner = "dana.whitfield@contoso.example";
const std::string calendar_path = "/dana/calendar/";

// --- the labelled set -------------------------------------------------------------------------

struct label {
    std::string file;      // "d01.ics"
    std::string expected;  // leave | request_agenda | decline
    bool silent = false;   // a decline without a response
    std::string uid;
};

std::vector<label> labels() {
    std::vector<label> out;
    for (const auto& row : agendad::test_support::read_labelled_rows(labelled)) {
        label l;
        l.file = row.file;
        l.expected = row.expected;
        l.silent = row.silent;
        auto parsed = agendad::calendar::parse_ics_file(labelled / "invites" / l.file);
        if (parsed && !parsed->events.empty()) l.uid = parsed->events.front().uid;
        out.push_back(l);
    }
    return out;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

// The value of the first `name:` property of unfolded iCalendar lines.
std::string property(const std::vector<std::string>& unfolded, const std::string& name) {
    for (const auto& l : unfolded) {
        if (l.rfind(name + ":", 0) == 0) return l.substr(name.size() + 1);
        if (l.rfind(name + ";", 0) == 0) return l.substr(l.find(':') + 1);
    }
    return "";
}

std::vector<std::string> unfold(const std::vector<std::string>& lines) {
    std::vector<std::string> out;
    for (const auto& l : lines) {
        if (!l.empty() && (l[0] == ' ' || l[0] == '\t') && !out.empty())
            out.back() += l.substr(1);
        else
            out.push_back(l);
    }
    return out;
}

// calendar.ics as a CalDAV server holds it: one resource per UID (RFC 4791 §4.1), each with the
// time zones, no METHOD. UID → text.
std::map<std::string, std::string> split_by_uid(const std::string& text) {
    const auto lines = lines_of(text);
    std::vector<std::string> head, zones;
    std::map<std::string, std::vector<std::string>> events;
    std::vector<std::string> block;
    std::string in;  // the component being read: VTIMEZONE, VEVENT or ""
    for (const auto& l : lines) {
        if (in.empty() && (l == "BEGIN:VTIMEZONE" || l == "BEGIN:VEVENT")) {
            in = l.substr(6);
            block = {l};
            continue;
        }
        if (!in.empty()) {
            block.push_back(l);
            if (l == "END:" + in) {
                if (in == "VTIMEZONE") {
                    zones.insert(zones.end(), block.begin(), block.end());
                } else {
                    const std::string uid = property(unfold(block), "UID");
                    events[uid].insert(events[uid].end(), block.begin(), block.end());
                }
                in.clear();
            }
            continue;
        }
        if (l == "END:VCALENDAR" || l.rfind("METHOD:", 0) == 0) continue;
        head.push_back(l);
    }
    std::map<std::string, std::string> out;
    for (const auto& [uid, event] : events) {
        std::string text_out;
        for (const auto* part :
             std::initializer_list<const std::vector<std::string>*>{&head, &zones, &event}) {
            for (const auto& l : *part) text_out += l + "\r\n";
        }
        out[uid] = text_out + "END:VCALENDAR\r\n";
    }
    return out;
}

// An invitation file as a calendar client stores it: without METHOD.
std::string stored_form(const fs::path& file) {
    std::string text;
    for (const auto& l : lines_of(read_file(file))) {
        if (l.rfind("METHOD:", 0) != 0) text += l + "\r\n";
    }
    return text;
}

// A resource name for a UID that is safe in a URL.
std::string href_for(const std::string& uid) {
    std::string name;
    for (char c : uid) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return calendar_path + name.substr(0, 60) + ".ics";
}

// --- mail ---------------------------------------------------------------------------------------

std::string base64_decode(const std::string& text) {
    std::string clean;
    for (char c : text) {
        if (!std::isspace(static_cast<unsigned char>(c))) clean += c;
    }
    std::string out(clean.size() / 4 * 3 + 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(clean.data()),
                                  static_cast<int>(clean.size()));
    if (n < 0) return "";
    out.resize(static_cast<std::size_t>(n));
    while (!clean.empty() && clean.back() == '=') {  // EVP_DecodeBlock keeps padding bytes
        clean.pop_back();
        out.pop_back();
    }
    return out;
}

struct reply_mail {
    std::string to;
    std::string uid;
    std::string partstat;
    std::string method;
};

// The iTIP REPLY inside an iMIP mail (the base64 text/calendar part).
reply_mail read_reply(const agendad::test_support::received_mail& m) {
    reply_mail r;
    r.to = m.recipients.empty() ? "" : m.recipients.front();
    const auto part = m.content.find("Content-Type: text/calendar");
    if (part == std::string::npos) return r;
    const auto body = m.content.find("\r\n\r\n", part);
    const auto end = m.content.find("\r\n--", body);
    const std::string ics = base64_decode(m.content.substr(body + 4, end - body - 4));
    const auto unfolded = unfold(lines_of(ics));
    r.uid = property(unfolded, "UID");
    r.method = property(unfolded, "METHOD");
    for (const auto& l : unfolded) {
        if (l.rfind("ATTENDEE", 0) == 0) {
            const auto at = l.find("PARTSTAT=");
            if (at != std::string::npos)
                r.partstat = l.substr(at + 9, l.find_first_of(";:", at) - at - 9);
        }
    }
    return r;
}

// --- the fixture --------------------------------------------------------------------------------

class caldav_e2e : public agendad::test_support::e2e_fixture {
  protected:
    caldav_e2e() : server_(radicale_options{{{"dana", "dana-secret"}}, true, &ca_}) {}

    void SetUp() override {
        cli_fixture::SetUp();
        server_.start();
        server_.make_calendar("dana", calendar_path, "Dana");
        sink_.start();
        // The calendar's past: whom Dana met, accepted and declined.
        for (const auto& [uid, text] : split_by_uid(read_file(labelled / "calendar.ics"))) {
            server_.put("dana", href_for(uid), text);
            history_uids_.insert(uid);
        }
    }

    fs::path config(const std::string& mode = "enforce") {
        const fs::path password = write("secrets/caldav-password", "dana-secret\n");
        fs::permissions(password, fs::perms::owner_read | fs::perms::owner_write);
        std::ostringstream yaml;
        yaml << "state_directory: " << (dir_ / "state").string() << "\n"
             << "log_level: info\n"
             << "status: {listen: \"off\"}\n"
             << "defaults: {max_declines_per_hour: 100}\n"
             << "sources:\n"
             << "  office:\n"
             << "    kind: caldav\n"
             << "    url: " << server_.url("/") << "\n"
             << "    user: dana\n"
             << "    password_file: " << password.string() << "\n"
             << "    ca_file: " << server_.ca_file().string() << "\n"
             << "    poll_seconds: 1\n"
             << "    smtp: {host: 127.0.0.1, port: " << sink_.port() << ", security: none}\n"
             << "mailboxes:\n"
             << "  - address: " << owner << "\n"
             << "    source: office\n"
             << "    org_domains: [contoso.example]\n"
             << "    mode: " << mode << "\n";
        return write("agendad.yaml", yaml.str());
    }

    // The invitations arrive: each stored as its own resource, or over the meeting it updates.
    void deliver_invitations() {
        for (const auto& l : labels_) {
            const std::string href = href_for(l.uid);
            std::string etag;
            if (history_uids_.count(l.uid)) etag = server_.get("dana", href)->etag;
            server_.put("dana", href, stored_form(labelled / "invites" / l.file), etag);
        }
    }

    // The owner's PARTSTAT on the server for the labelled invitation.
    std::string on_server(const label& l) {
        auto got = server_.get("dana", href_for(l.uid));
        if (!got) return "gone";
        auto parsed = parse_ics(got->body, l.file, parse_options{owner});
        if (!parsed || parsed->events.empty()) return "unreadable";
        const auto& e = parsed->events.front();
        return e.owner ? std::string(agendad::calendar::to_string(e.owner->partstat)) : "no owner";
    }

    std::map<std::string, std::string> mails_by_uid(bool expect_unique = true) {
        std::map<std::string, std::string> out;
        for (const auto& m : sink_.messages()) {
            const reply_mail r = read_reply(m);
            EXPECT_EQ(r.method, "REPLY");
            if (expect_unique) {
                EXPECT_FALSE(out.count(r.uid)) << "two replies for " << r.uid;
            }
            out[r.uid] = r.partstat;
        }
        return out;
    }

    // Every labelled invitation as its label says, on the server and in the mail server.
    void expect_labelled_outcome() {
        std::map<std::string, std::string> expected_mails;
        std::map<std::string, std::string> organizers;
        for (const auto& l : labels_) {
            SCOPED_TRACE(l.file + " (" + l.expected + ")");
            const std::string state = on_server(l);
            if (l.expected == "decline") {
                EXPECT_EQ(state, "DECLINED");
            } else if (l.expected == "request_agenda") {
                EXPECT_EQ(state, "TENTATIVE");
            } else {
                EXPECT_NE(state, "DECLINED");
                EXPECT_NE(state, "TENTATIVE");
            }
            if (l.expected == "decline" && !l.silent) expected_mails[l.uid] = "DECLINED";
            if (l.expected == "request_agenda") expected_mails[l.uid] = "TENTATIVE";
        }
        sink_.wait_for(expected_mails.size(), 5s);
        EXPECT_EQ(mails_by_uid(), expected_mails);
    }

    test_ca ca_;
    radicale server_;
    smtp_sink sink_;
    std::vector<label> labels_ = labels();
    std::set<std::string> history_uids_;
};

TEST_F(caldav_e2e, enforce_answers_every_labelled_invitation_on_the_server_and_by_mail) {
    const fs::path cfg = config();
    const run_result learned = once(cfg);  // the history first, as a running daemon would
    ASSERT_EQ(learned.status, 0) << learned.err;
    EXPECT_THAT(learned.err, HasSubstr("replies by iMIP mail through 127.0.0.1"));
    deliver_invitations();
    const run_result r = once(cfg);
    ASSERT_EQ(r.status, 0) << r.err;
    expect_labelled_outcome();

    // Again: nothing new is decided, nothing is sent twice.
    const auto decided = journal().size();
    const run_result again = once(cfg);
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_THAT(again.err, ::testing::Not(HasSubstr("carried out")));
    EXPECT_EQ(journal().size(), decided);
    expect_labelled_outcome();
}

TEST_F(caldav_e2e, no_password_shows_in_logs_metrics_decisions_or_crash_output) {
    const fs::path cfg = config();
    ASSERT_EQ(once(cfg).status, 0);
    deliver_invitations();
    std::size_t mails = 0;
    for (const auto& l : labels_) {
        mails += l.expected == "request_agenda" || (l.expected == "decline" && !l.silent);
    }
    expect_secrets_never_shown(cfg, dir_ / "secrets/caldav-password", {{"dana-secret", "dana"}},
                               [&] { return sink_.messages().size() >= mails; }, owner);
}

TEST_F(caldav_e2e, a_server_certificate_from_an_unknown_ca_is_refused_and_nothing_is_sent) {
    deliver_invitations();
    expect_untrusted_server_refused(config(), owner);
    for (const auto& l : labels_) EXPECT_NE(on_server(l), "DECLINED") << l.file;
    EXPECT_TRUE(sink_.messages().empty());
}

TEST_F(caldav_e2e, undo_puts_the_meeting_back_to_tentative_with_an_apology) {
    const fs::path cfg = config();
    ASSERT_EQ(once(cfg).status, 0);
    deliver_invitations();
    ASSERT_EQ(once(cfg).status, 0);
    const label& d01 = labels_.front();
    ASSERT_EQ(d01.file, "d01.ics");
    ASSERT_EQ(on_server(d01), "DECLINED");
    std::int64_t id = 0;
    for (const auto& e : journal()) {
        if (e.at("uid").as_string() == d01.uid) id = e.at("id").as_int64();
    }
    ASSERT_NE(id, 0);
    const std::size_t mails_before = sink_.messages().size();

    const run_result r = run({"undo", std::to_string(id), "--config", cfg.string()});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(on_server(d01), "TENTATIVE");
    ASSERT_TRUE(sink_.wait_for(mails_before + 1));
    const auto mails = sink_.messages();
    ASSERT_EQ(mails.size(), mails_before + 1);
    const reply_mail apology = read_reply(mails.back());
    EXPECT_EQ(apology.uid, d01.uid);
    EXPECT_EQ(apology.partstat, "TENTATIVE");
    EXPECT_EQ(apology.to, "chris.dalton@pipelinepro.example");
    EXPECT_THAT(mails.back().content, HasSubstr("Subject: Tentative: Quick intro"));

    // The daemon leaves the meeting alone from now on, and nothing is sent again.
    const run_result again = once(cfg);
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(on_server(d01), "TENTATIVE");
    EXPECT_FALSE(sink_.wait_for(mails_before + 2, 1s));
}

TEST_F(caldav_e2e, kill_9_at_random_points_never_loses_or_repeats_a_reply) {
    const fs::path cfg = config();
    ASSERT_EQ(once(cfg).status, 0);
    deliver_invitations();
    kill_9_repeatedly(run_args(cfg), 8, 50, 600);
    const run_result last = once(cfg);
    ASSERT_EQ(last.status, 0) << last.err;
    expect_labelled_outcome();
    expect_each_version_decided_once();
}

TEST_F(caldav_e2e, radicale_stopped_and_restarted_mid_run_loses_nothing) {
    const fs::path cfg = config();
    ASSERT_EQ(once(cfg).status, 0);
    running d = start(run_args(cfg));
    std::this_thread::sleep_for(500ms);
    server_.stop();
    std::this_thread::sleep_for(2500ms);  // a few failed polls
    server_.start();
    deliver_invitations();
    std::size_t replies = 0;
    for (const auto& l : labels_)
        replies += l.expected == "request_agenda" || (l.expected == "decline" && !l.silent);
    sink_.wait_for(replies, 30s);
    std::this_thread::sleep_for(1500ms);  // one more poll: nothing more may arrive
    const run_result r = stop(d);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("sync failed"));
    expect_labelled_outcome();
}

TEST_F(caldav_e2e, a_sync_token_the_server_forgot_means_a_full_resync_and_no_duplicates) {
    const fs::path cfg = config();
    ASSERT_EQ(once(cfg).status, 0);
    deliver_invitations();
    ASSERT_EQ(once(cfg).status, 0);
    const auto decided = journal().size();
    // The journal holds a token the server never issued (a server restored from backup).
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ / "state/agendad.sqlite3").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "UPDATE sync_state SET token = 's:http://radicale.org/ns/sync/0'",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
    // Keep the daemon on its stored token: a running daemon's second pass uses it.
    running d = start(run_args(cfg));
    std::this_thread::sleep_for(2500ms);
    const run_result r = stop(d);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(journal().size(), decided);
    expect_labelled_outcome();
}

TEST_F(caldav_e2e, a_refusing_mail_server_delays_replies_and_never_duplicates_them) {
    const fs::path cfg = config();
    ASSERT_EQ(once(cfg).status, 0);
    deliver_invitations();
    sink_.refuse(smtp_stage::rcpt, 451);
    const run_result refused = once(cfg);
    EXPECT_THAT(refused.err, HasSubstr("response failed; will retry"));
    EXPECT_TRUE(sink_.messages().empty());
    bool failed = false;
    for (const auto& e : journal()) failed = failed || e.at("state").as_string() == "failed";
    EXPECT_TRUE(failed);

    sink_.accept();
    const run_result r = once(cfg);
    ASSERT_EQ(r.status, 0) << r.err;
    expect_labelled_outcome();
}

}  // namespace
