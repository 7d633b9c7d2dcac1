// `agendad run` end to end on Microsoft Graph: the built binary against the in-process fake Graph
// and token endpoint (TLS from a test CA, 127.0.0.1 only). The labelled mailbox is served as
// Graph events (support/graph_events.h): calendar.ics as the calendar's history, then every
// labelled invitation. In enforce mode each invitation must get exactly the Graph call its label
// says (request_agenda → tentativelyAccept with the agenda request, decline → decline with the
// policy's reply, calendar spam → decline without a response, leave → nothing), exactly once:
// also across kill -9, a throttling storm (429 with Retry-After, 503), an expired delta token,
// a new invitation arriving while it runs, and a second mailbox outside the access policy.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <boost/json.hpp>

#include <cctype>
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

#include "calendar/graph/graph_json.h"
#include "calendar/ical/parse.h"
#include "e2e_fixture.h"
#include "support/fake_graph.h"
#include "support/graph_events.h"
#include "support/process.h"
#include "support/test_ca.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using agendad::test_support::credentials;
using agendad::test_support::fake_graph;
using agendad::test_support::graph_event;
using agendad::test_support::graph_event_id;
using agendad::test_support::graph_events_from_file;
using agendad::test_support::graph_events_from_ics;
using agendad::test_support::eventually;
using agendad::test_support::read_file;
using agendad::test_support::run_result;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const fs::path labelled = fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations";
const std::string owner = "dana.whitfield@contoso.example";

// --- the labelled set -------------------------------------------------------------------------

struct label {
    std::string file;      // "d01.ics"
    std::string expected;  // leave | request_agenda | decline
    bool silent = false;   // a decline without a response
    std::string uid;
    std::string id;               // its Graph event id
    std::string json;             // the Graph event
    std::string organizer_first;  // "Chris"
    std::string subject;
};

std::vector<label> labels() {
    std::vector<label> out;
    for (const auto& row : agendad::test_support::read_labelled_rows(labelled)) {
        label l;
        l.file = row.file;
        l.expected = row.expected;
        l.silent = row.silent;
        const auto events = graph_events_from_file(labelled / "invites" / l.file, owner);
        if (events.size() != 1) {
            ADD_FAILURE() << l.file << ": " << events.size() << " events";
            continue;
        }
        l.uid = events.front().uid;
        l.id = events.front().id;
        l.json = events.front().json;
        const json::object e = json::parse(l.json).as_object();
        l.subject = std::string(e.at("subject").as_string());
        const std::string name(
            e.at("organizer").as_object().at("emailAddress").as_object().at("name").as_string());
        l.organizer_first = name.substr(0, name.find(' '));
        out.push_back(l);
    }
    return out;
}

json::object object_of(const std::string& text) {
    return json::parse(text).as_object();
}

const graph_event& by_file(const std::vector<graph_event>& events, const std::string& uid) {
    for (const auto& e : events) {
        if (e.uid == uid) return e;
    }
    throw std::runtime_error("no event " + uid);
}

// --- graph_events: the conversion itself ----------------------------------------------------

json::object labelled_event(const std::string& file) {
    const auto events = graph_events_from_file(labelled / "invites" / file, owner);
    EXPECT_EQ(events.size(), 1u) << file;
    return object_of(events.at(0).json);
}

std::string str(const json::value& v) {
    return std::string(v.as_string());
}
const json::object& obj(const json::object& o, const char* key) {
    return o.at(key).as_object();
}

TEST(graph_events, an_external_invitation_keeps_organizer_attendees_body_and_times_in_utc) {
    const json::object e = labelled_event("d01.ics");
    EXPECT_EQ(str(e.at("iCalUId")),
              "040000008200E00074C5B7101A82E008000000002FAB3F1C4A222FAD0000000000000000100000000"
              "EFE6A84B57288BD3E45AF98D");
    EXPECT_EQ(str(e.at("id")), graph_event_id(str(e.at("iCalUId"))));
    EXPECT_EQ(str(e.at("subject")), "Quick intro - 15 minutes?");
    EXPECT_EQ(str(obj(obj(e, "organizer"), "emailAddress").at("name")), "Chris Dalton");
    EXPECT_EQ(str(obj(obj(e, "organizer"), "emailAddress").at("address")),
              "chris.dalton@pipelinepro.example");
    const auto& attendees = e.at("attendees").as_array();
    ASSERT_EQ(attendees.size(), 1u);
    const auto& dana = attendees[0].as_object();
    EXPECT_EQ(str(dana.at("type")), "required");
    EXPECT_EQ(str(obj(dana, "status").at("response")), "none");
    EXPECT_EQ(str(obj(dana, "emailAddress").at("address")), owner);
    EXPECT_EQ(str(obj(dana, "emailAddress").at("name")), "Dana Whitfield");
    EXPECT_EQ(str(obj(e, "body").at("contentType")), "text");
    EXPECT_THAT(str(obj(e, "body").at("content")),
                HasSubstr("Would love to grab 15 minutes to connect.\n\nBest,\nChris"));
    // 10:00 Pacific (PST, UTC-8) on 24 November.
    EXPECT_EQ(str(obj(e, "start").at("dateTime")), "2026-11-24T18:00:00.0000000");
    EXPECT_EQ(str(obj(e, "start").at("timeZone")), "UTC");
    EXPECT_EQ(str(obj(e, "end").at("dateTime")), "2026-11-24T18:15:00.0000000");
    EXPECT_EQ(str(e.at("originalStartTimeZone")), "Pacific Standard Time");
    EXPECT_EQ(str(e.at("type")), "singleInstance");
    EXPECT_FALSE(e.at("isAllDay").as_bool());
    EXPECT_FALSE(e.at("isCancelled").as_bool());
    EXPECT_FALSE(e.at("isOrganizer").as_bool());
    EXPECT_TRUE(e.at("responseRequested").as_bool());
    EXPECT_EQ(str(obj(e, "responseStatus").at("response")), "notResponded");
    EXPECT_EQ(str(e.at("showAs")), "tentative");
    EXPECT_EQ(str(obj(e, "location").at("displayName")), "Microsoft Teams Meeting");
    EXPECT_FALSE(str(e.at("changeKey")).empty());
}

TEST(graph_events, html_bodies_series_cancellations_fyi_and_own_meetings) {
    const json::object d20 = labelled_event("d20.ics");  // X-ALT-DESC
    EXPECT_EQ(str(obj(d20, "body").at("contentType")), "html");
    EXPECT_THAT(str(obj(d20, "body").at("content")),
                HasSubstr("<p><b>Agenda</b></p><ul><li>Your current cash-positioning process"));

    const json::object d04 = labelled_event("d04.ics");  // RRULE:FREQ=MONTHLY;BYDAY=2TU
    EXPECT_EQ(str(d04.at("type")), "seriesMaster");
    const auto& pattern = obj(obj(d04, "recurrence"), "pattern");
    EXPECT_EQ(str(pattern.at("type")), "relativeMonthly");
    EXPECT_EQ(str(pattern.at("index")), "second");
    ASSERT_EQ(pattern.at("daysOfWeek").as_array().size(), 1u);
    EXPECT_EQ(str(pattern.at("daysOfWeek").as_array()[0]), "tuesday");
    const auto& range = obj(obj(d04, "recurrence"), "range");
    EXPECT_EQ(str(range.at("type")), "noEnd");
    EXPECT_EQ(str(range.at("startDate")), "2026-12-08");

    const json::object d08 = labelled_event("d08.ics");  // weekly on Thursdays
    EXPECT_EQ(str(obj(obj(d08, "recurrence"), "pattern").at("type")), "weekly");
    EXPECT_EQ(str(obj(obj(d08, "recurrence"), "pattern").at("daysOfWeek").as_array()[0]),
              "thursday");

    EXPECT_TRUE(labelled_event("d14.ics").at("isCancelled").as_bool());  // METHOD:CANCEL

    const json::object d18 = labelled_event("d18.ics");  // Dana organizes it
    EXPECT_TRUE(d18.at("isOrganizer").as_bool());
    EXPECT_EQ(str(obj(d18, "responseStatus").at("response")), "organizer");

    const json::object d19 = labelled_event("d19.ics");  // all day, RSVP=FALSE, transparent
    EXPECT_TRUE(d19.at("isAllDay").as_bool());
    EXPECT_FALSE(d19.at("responseRequested").as_bool());
    EXPECT_EQ(str(d19.at("showAs")), "free");
    EXPECT_EQ(str(obj(d19, "start").at("dateTime")), "2026-11-26T00:00:00.0000000");
    EXPECT_EQ(str(obj(d19, "end").at("dateTime")), "2026-11-27T00:00:00.0000000");

    const json::object d36 = labelled_event("d36.ics");  // Dana is optional, 4 others required
    const auto& attendees = d36.at("attendees").as_array();
    ASSERT_EQ(attendees.size(), 5u);
    EXPECT_EQ(str(attendees[0].as_object().at("type")), "optional");
    EXPECT_EQ(str(attendees[1].as_object().at("type")), "required");
}

TEST(graph_events, the_calendar_keeps_the_owners_answers_and_an_update_keeps_the_id) {
    const auto history = graph_events_from_file(labelled / "calendar.ics", owner);
    ASSERT_EQ(history.size(), 9u);
    std::map<std::string, int> responses;
    for (const auto& e : history) {
        const json::object o = object_of(e.json);
        ++responses[str(obj(o, "responseStatus").at("response"))];
    }
    EXPECT_EQ(responses,
              (std::map<std::string, int>{{"accepted", 6}, {"declined", 2}, {"organizer", 1}}));
    const json::object weekly =
        object_of(by_file(history,
                          "040000008200E00074C5B7101A82E00800000000A454218525BF056C000000000000000"
                          "010000000010125B895986CDEC74525B01")
                      .json);
    EXPECT_EQ(str(weekly.at("type")), "seriesMaster");
    EXPECT_EQ(str(obj(obj(weekly, "recurrence"), "pattern").at("daysOfWeek").as_array()[0]),
              "monday");
    EXPECT_TRUE(weekly.at("isOrganizer").as_bool());

    // d15 updates "Catch up" (accepted): the same event in Graph, a new changeKey.
    const json::object d15 = labelled_event("d15.ics");
    const json::object before = object_of(by_file(history, str(d15.at("iCalUId"))).json);
    EXPECT_EQ(d15.at("id"), before.at("id"));
    EXPECT_NE(d15.at("changeKey"), before.at("changeKey"));
    EXPECT_EQ(str(obj(before, "responseStatus").at("response")), "accepted");
}

// What agendad reads from the Graph event is what it reads from the .ics, for every labelled
// invitation: the same decision inputs.
TEST(graph_events, agendad_reads_each_labelled_event_as_it_reads_the_ics) {
    namespace cal = agendad::calendar;
    for (const auto& l : labels()) {
        SCOPED_TRACE(l.file);
        auto ics = cal::parse_ics_file(labelled / "invites" / l.file, cal::parse_options{owner});
        ASSERT_TRUE(ics && ics->events.size() == 1);
        const cal::invitation& a = ics->events.front();
        std::string error;
        auto g = cal::graph::parse_event(l.json, owner, l.file, error);
        ASSERT_TRUE(g) << error;
        ASSERT_TRUE(g->problems.empty()) << g->problems.front().to_string();
        const cal::invitation& b = g->inv;
        EXPECT_EQ(b.uid, a.uid);
        EXPECT_EQ(b.subject, a.subject);
        EXPECT_EQ(b.organizer.address, a.organizer.address);
        EXPECT_EQ(b.organizer.name, a.organizer.name);
        ASSERT_EQ(b.attendees.size(), a.attendees.size());
        for (std::size_t i = 0; i < a.attendees.size(); ++i) {
            EXPECT_EQ(b.attendees[i].address, a.attendees[i].address);
            EXPECT_EQ(b.attendees[i].partstat, a.attendees[i].partstat) << a.attendees[i].address;
        }
        ASSERT_EQ(b.owner.has_value(), a.owner.has_value());
        if (a.owner) {
            EXPECT_EQ(b.owner->partstat, a.owner->partstat);
            EXPECT_EQ(b.owner->role, a.owner->role);
        }
        EXPECT_EQ(b.response_requested(), a.response_requested());
        EXPECT_EQ(b.start, a.start);
        EXPECT_EQ(b.end, a.end);
        EXPECT_EQ(b.all_day, a.all_day);
        EXPECT_EQ(b.recurrence.kind, a.recurrence.kind);
        EXPECT_EQ(b.recurrence.frequency, a.recurrence.frequency);
        EXPECT_EQ(b.transp, a.transp);
        const bool cancelled_a =
            a.method == cal::method::cancel || a.status == cal::event_status::cancelled;
        EXPECT_EQ(b.status == cal::event_status::cancelled, cancelled_a);
        if (a.description.empty()) {
            EXPECT_TRUE(b.description.empty()) << b.description;
        } else {
            // The body as agendad reads it (HTML converted) says what the .ics says: the same
            // words, whatever the punctuation and line breaks.
            const auto words = [](const std::string& t) {
                std::string w;
                for (char c : t) {
                    if (std::isalnum(static_cast<unsigned char>(c))) w += c;
                }
                return w;
            };
            EXPECT_THAT(words(b.description), HasSubstr(words(a.description).substr(0, 40)));
        }
    }
}

// --- the daemon against the fake --------------------------------------------------------------

class graph_e2e : public agendad::test_support::e2e_fixture {
  protected:
    void SetUp() override {
        cli_fixture::SetUp();
        fake_.add_user(owner);
        // The calendar's past and what Dana already accepted or declined.
        for (const auto& e : graph_events_from_file(labelled / "calendar.ics", owner)) {
            fake_.add_event(owner, e.json);
            history_ids_.insert(e.id);
        }
    }

    // `more_mailboxes`: further mailboxes of the same source, in enforce mode. With
    // `notify_port`, change notifications through a listener on that loopback port.
    fs::path config(const std::vector<std::string>& more_mailboxes = {}, int poll_seconds = 1,
                    std::uint16_t notify_port = 0) {
        const fs::path secret = write("secrets/graph-client-secret", "test-client-secret\n");
        fs::permissions(secret, fs::perms::owner_read | fs::perms::owner_write);
        std::ostringstream yaml;
        yaml << "state_directory: " << state_dir().string() << "\n"
             << "log_level: info\n"
             << "status: {listen: \"off\"}\n"
             << "defaults: {max_declines_per_hour: 100}\n"
             << "sources:\n"
             << "  m365:\n"
             << "    kind: graph\n"
             << "    tenant: contoso-tenant\n"
             << "    client_id: 11111111-2222-3333-4444-555555555555\n"
             << "    client_secret_file: " << secret.string() << "\n"
             << "    authority: " << fake_.authority() << "\n"
             << "    graph_url: " << fake_.graph_url() << "\n"
             << "    ca_file: " << fake_.ca_file().string() << "\n"
             << "    poll_seconds: " << poll_seconds << "\n";
        if (notify_port != 0) {
            const std::string at = "127.0.0.1:" + std::to_string(notify_port);
            yaml << "    notifications:\n"
                 << "      public_url: http://" << at << "/graph\n"
                 << "      listen: " << at << "\n";
        }
        yaml << "mailboxes:\n";
        std::vector<std::string> all{owner};
        all.insert(all.end(), more_mailboxes.begin(), more_mailboxes.end());
        for (const auto& m : all) {
            yaml << "  - address: " << m << "\n"
                 << "    source: m365\n"
                 << "    org_domains: [contoso.example]\n"
                 << "    mode: enforce\n";
        }
        return write("agendad.yaml", yaml.str());
    }

    // The history first, as a running daemon would have learned it before the invitations.
    void learn_history(const fs::path& cfg) {
        const run_result learned = once(cfg);
        ASSERT_EQ(learned.status, 0) << learned.err;
        EXPECT_TRUE(fake_.responses().empty());
    }

    // The invitations arrive: new events, or an update of the event they change (d15).
    void deliver_invitations() {
        for (const auto& l : labels_) {
            if (history_ids_.count(l.id)) {
                fake_.update_event(owner, l.id, l.json);
            } else {
                EXPECT_EQ(fake_.add_event(owner, l.json), l.id);
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

    // Every labelled invitation got the call its label says, once; nothing else was answered.
    void expect_labelled_outcome() {
        std::map<std::string, std::vector<fake_graph::response_call>> by_id;
        for (const auto& r : fake_.responses()) {
            EXPECT_EQ(r.user, owner);
            by_id[r.event_id].push_back(r);
        }
        std::set<std::string> labelled_ids;
        for (const auto& l : labels_) {
            SCOPED_TRACE(l.file + " (" + l.expected + ")");
            labelled_ids.insert(l.id);
            const auto& calls = by_id[l.id];
            if (l.expected == "leave") {
                EXPECT_TRUE(calls.empty()) << calls.size() << " calls, first "
                                           << (calls.empty() ? "" : calls.front().action);
                continue;
            }
            ASSERT_EQ(calls.size(), 1u) << "answered " << calls.size() << " times";
            const auto& c = calls.front();
            if (l.expected == "request_agenda") {
                EXPECT_EQ(c.action, "tentativelyAccept");
                EXPECT_TRUE(c.send_response);
                EXPECT_THAT(c.comment, HasSubstr("you would like to cover"));
            } else {
                EXPECT_EQ(c.action, "decline");
                EXPECT_EQ(c.send_response, !l.silent);
            }
            if (c.send_response) {
                // The policy's reply: addressed to the organizer, about this meeting.
                EXPECT_THAT(c.comment, HasSubstr("Hi " + l.organizer_first + ","));
                EXPECT_THAT(c.comment, HasSubstr("\"" + l.subject + "\""));
                EXPECT_THAT(c.comment, HasSubstr("Dana"));
            }
        }
        for (const auto& [id, calls] : by_id) {
            EXPECT_TRUE(labelled_ids.count(id) || extra_ids_.count(id))
                << calls.size() << " calls for event " << id << " which is not labelled";
        }
    }


    // The app's certificate (for the tests that sign in with it) and the fake that accepts it as
    // well as the client secret.
    static const credentials& app_certificate() {
        static const credentials c = agendad::test_support::self_signed_app_certificate();
        return c;
    }
    static fake_graph::options fake_options() {
        fake_graph::options o;
        o.client_certificate_pem = app_certificate().cert_pem;
        return o;
    }

    // `cfg` signing in with the app certificate (files beside it) instead of the client secret.
    fs::path with_certificate(const fs::path& cfg) {
        const fs::path cert = write("secrets/app.pem", app_certificate().cert_pem);
        const fs::path key = write("secrets/app.key", app_certificate().key_pem);
        fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
        std::string yaml = read_file(cfg);
        const std::string line =
            "    client_secret_file: " + (dir_ / "secrets/graph-client-secret").string() + "\n";
        const auto at = yaml.find(line);
        EXPECT_NE(at, std::string::npos);
        if (at != std::string::npos) {
            yaml.replace(at, line.size(),
                         "    certificate_file: " + cert.string() +
                             "\n    private_key_file: " + key.string() + "\n");
        }
        return write("agendad-certificate.yaml", yaml);
    }

    fake_graph fake_{fake_options()};
    std::vector<label> labels_ = labels();
    std::set<std::string> history_ids_;
    std::set<std::string> extra_ids_;  // invitations a test adds beyond the labelled set
};

TEST_F(graph_e2e, enforce_answers_every_labelled_invitation_once_through_graph) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    const run_result r = once(cfg);
    ASSERT_EQ(r.status, 0) << r.err;
    expect_labelled_outcome();
    EXPECT_EQ(fake_.responses().size(), expected_response_count());

    // Again: nothing new is decided, nothing is sent twice.
    const auto decided = journal().size();
    const run_result again = once(cfg);
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(journal().size(), decided);
    expect_labelled_outcome();
    expect_each_version_decided_once();
    // Only loopback, only the fake's paths.
    for (const auto& q : fake_.requests()) {
        EXPECT_TRUE(q.target.rfind("/v1.0/", 0) == 0 ||
                    q.target.rfind("/contoso-tenant/oauth2/v2.0/token", 0) == 0)
            << q.method << " " << q.target;
    }
}

TEST_F(graph_e2e, no_client_secret_shows_in_logs_metrics_decisions_or_crash_output) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    expect_secrets_never_shown(cfg, dir_ / "secrets/graph-client-secret",
                               {{"test-client-secret", ""}}, [&] { return all_answered(); }, owner);
}

TEST_F(graph_e2e, a_server_certificate_from_an_unknown_ca_is_refused_and_nothing_is_sent) {
    deliver_invitations();
    expect_untrusted_server_refused(config(), owner);
    EXPECT_TRUE(fake_.requests().empty()) << fake_.requests().front().target;
}

// The private key of a certificate sign-in: neither the PEM nor any line of it shows anywhere.
TEST_F(graph_e2e, no_private_key_shows_in_logs_metrics_decisions_or_crash_output) {
    const fs::path cfg = with_certificate(config());
    learn_history(cfg);
    deliver_invitations();
    std::vector<agendad::test_support::test_secret> secrets;
    std::istringstream key(app_certificate().key_pem);
    for (std::string line; std::getline(key, line);) {
        if (line.rfind("-----", 0) != 0 && line.size() >= 16) secrets.push_back({line, ""});
    }
    ASSERT_GE(secrets.size(), 3u);
    expect_secrets_never_shown(cfg, dir_ / "secrets/app.key", secrets,
                               [&] { return all_answered(); }, owner);
}

TEST_F(graph_e2e, kill_9_at_random_points_never_loses_or_repeats_a_response) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    kill_9_repeatedly(run_args(cfg), 8, 50, 600);
    const run_result last = once(cfg);
    ASSERT_EQ(last.status, 0) << last.err;
    expect_labelled_outcome();
    expect_each_version_decided_once();
}

// Eight throttled answers in a row (Retry-After: 1): more than one request's six attempts, so a
// pass gives up and a later one finishes; then 503s, with Retry-After and without (the
// responses: a POST refused with 503 was not carried out and is sent again). Twenty throttled
// answers cost ~50 s: one mailbox's calls are sequential, and each give-up doubles the daemon's
// wait before its next pass. The token endpoint is not throttled here: a 429 from it is not
// retried within the request but fails the whole pass (and doubles the wait), so twenty of them
// would take minutes.
TEST_F(graph_e2e, a_throttling_storm_delays_answers_and_never_duplicates_them) {
    constexpr int throttled_answers = 8;
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    const auto requests_before = fake_.requests().size();
    const fake_graph::fault throttled{429, std::chrono::seconds{1}, {}, {}};
    const fake_graph::fault unavailable{503, std::chrono::seconds{1}, {}, {}};
    const fake_graph::fault unavailable_no_hint{503, std::nullopt, {}, {}};
    fake_.fail_next("/v1.0/", throttled, throttled_answers);
    fake_.fail_next("/v1.0/", unavailable, 2);
    fake_.fail_next("/decline", unavailable_no_hint, 1);
    fake_.fail_next("/tentativelyAccept", unavailable_no_hint, 1);
    const int unavailable_answers = 4;
    running d = start(run_args(cfg));
    const bool answered = eventually([&] { return all_answered(); }, 40s);
    std::this_thread::sleep_for(1500ms);  // another poll: nothing more may be sent
    const run_result r = stop(d);
    EXPECT_TRUE(answered) << r.err;
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.err, HasSubstr("429"));  // the give-up is logged, and said to be retried
    expect_labelled_outcome();
    expect_each_version_decided_once();

    int seen_429 = 0, seen_503 = 0;
    const auto requests = fake_.requests();
    for (std::size_t i = requests_before; i < requests.size(); ++i) {
        seen_429 += requests[i].status == 429;
        seen_503 += requests[i].status == 503;
        // Retry-After was kept: one mailbox's calls are sequential, so the next call is the
        // retry (or a later pass), and it waited at least the second Graph asked for.
        if (requests[i].status == 429 && i + 1 < requests.size()) {
            EXPECT_GE(requests[i + 1].received - requests[i].answered, 900ms)
                << requests[i + 1].method << " " << requests[i + 1].target;
        }
    }
    EXPECT_EQ(seen_429, throttled_answers);
    EXPECT_EQ(seen_503, unavailable_answers);
    EXPECT_LE(fake_.max_in_flight_per_user(), 4);
}

TEST_F(graph_e2e, an_expired_delta_token_means_a_full_resync_and_no_duplicates) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    running d = start(run_args(cfg));
    ASSERT_TRUE(eventually([&] { return all_answered(); }, 20s)) << read_file(d.err);
    const auto decided = journal().size();

    const auto before = fake_.requests().size();
    fake_.expire_delta_tokens();
    // The next round is refused (410), and a new round from the start (startDateTime) succeeds.
    const bool resynced = eventually(
        [&] {
            const auto requests = fake_.requests();
            bool gone = false;
            for (std::size_t i = before; i < requests.size(); ++i) {
                const auto& q = requests[i];
                if (q.target.find("calendarView/delta") == std::string::npos) continue;
                if (q.status == 410) gone = true;
                if (gone && q.status == 200 && q.target.find("startDateTime") != std::string::npos)
                    return true;
            }
            return false;
        },
        15s);
    EXPECT_TRUE(resynced);
    std::this_thread::sleep_for(2500ms);  // the resynced items decided (or not) again
    const run_result r = stop(d);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(journal().size(), decided);
    expect_labelled_outcome();
    expect_each_version_decided_once();
}

TEST_F(graph_e2e, a_new_invitation_while_running_is_answered_within_seconds) {
    const fs::path cfg = config();
    learn_history(cfg);
    deliver_invitations();
    running d = start(run_args(cfg));
    ASSERT_TRUE(eventually([&] { return all_answered(); }, 20s)) << read_file(d.err);

    // d21 again under a new UID: an unknown external organizer without an agenda.
    std::string text = read_file(labelled / "invites" / "d21.ics");
    const auto uid_at = text.find("\nUID:");
    ASSERT_NE(uid_at, std::string::npos);
    text.insert(uid_at + 5, "e2e-new-");
    const auto events = graph_events_from_ics(text, "new.ics", owner);
    ASSERT_EQ(events.size(), 1u);
    extra_ids_.insert(events.front().id);
    const auto added = std::chrono::steady_clock::now();
    fake_.add_event(owner, events.front().json);
    const bool answered = eventually([&] { return all_answered(1); }, 10s);
    const auto took = std::chrono::steady_clock::now() - added;
    EXPECT_TRUE(answered) << read_file(d.err);
    EXPECT_LT(took, 6s);
    std::this_thread::sleep_for(1500ms);
    const run_result r = stop(d);
    EXPECT_EQ(r.status, 0) << r.err;

    std::vector<fake_graph::response_call> calls;
    for (const auto& c : fake_.responses()) {
        if (c.event_id == events.front().id) calls.push_back(c);
    }
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls.front().action, "decline");
    EXPECT_TRUE(calls.front().send_response);
    expect_labelled_outcome();
    expect_each_version_decided_once();
}

TEST_F(graph_e2e, a_change_notification_brings_an_invitation_in_without_waiting_for_the_poll) {
    const std::uint16_t port = agendad::test_support::free_loopback_port();
    // A poll every 5 minutes: within this test only a notification can bring an event in.
    const fs::path cfg = config({}, 300, port);
    learn_history(cfg);
    running d = start(run_args(cfg));
    // The daemon subscribes once the fake has checked the URL with it (the validation
    // handshake).
    ASSERT_TRUE(eventually([&] { return fake_.subscriptions().size() == 1; }, 20s))
        << read_file(d.err);
    const auto sub = fake_.subscriptions().front();
    EXPECT_EQ(sub.notification_url,
              "http://127.0.0.1:" + std::to_string(port) + "/graph/notifications");
    EXPECT_EQ(sub.lifecycle_url, "http://127.0.0.1:" + std::to_string(port) + "/graph/lifecycle");
    EXPECT_EQ(sub.resource, "/users/" + owner + "/events");
    EXPECT_GE(sub.client_state.size(), 32u);  // generated: nobody but Graph knows it
    std::this_thread::sleep_for(2s);          // the passes after start and subscription are over

    std::string text = read_file(labelled / "invites" / "d21.ics");
    const auto uid_at = text.find("\nUID:");
    ASSERT_NE(uid_at, std::string::npos);
    text.insert(uid_at + 5, "e2e-notified-");
    const auto events = graph_events_from_ics(text, "notified.ics", owner);
    ASSERT_EQ(events.size(), 1u);
    extra_ids_.insert(events.front().id);
    fake_.add_event(owner, events.front().json);
    std::this_thread::sleep_for(1500ms);
    EXPECT_TRUE(fake_.responses().empty()) << "answered before any notification";

    const auto notified = std::chrono::steady_clock::now();
    EXPECT_EQ(fake_.notify(owner, events.front().id), 202);
    ASSERT_TRUE(eventually([&] { return fake_.responses().size() == 1; }, 10s)) << read_file(d.err);
    EXPECT_LT(std::chrono::steady_clock::now() - notified, 5s);
    EXPECT_EQ(fake_.responses().front().event_id, events.front().id);
    EXPECT_EQ(fake_.responses().front().action, "decline");

    // A clean stop leaves no subscription behind at Microsoft.
    const run_result r = stop(d);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(fake_.subscriptions().empty());
}

TEST_F(graph_e2e, a_group_member_is_watched_and_undo_reaches_it_through_the_group) {
    const std::string group = "6d1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
    fake_.set_group(group, {owner});
    // The same configuration, with Dana watched as a member of an Entra group.
    fs::path cfg = config();
    std::string yaml = read_file(cfg);
    const std::string entry = "  - address: " + owner + "\n";
    const auto at = yaml.find(entry);
    ASSERT_NE(at, std::string::npos);
    yaml.replace(at, entry.size(), "  - group: " + group + "\n");
    cfg = write("agendad.yaml", yaml);
    learn_history(cfg);
    deliver_invitations();
    const run_result r = once(cfg);
    ASSERT_EQ(r.status, 0) << r.err;
    expect_labelled_outcome();

    // d01 was declined with a reply; undo finds Dana's settings through the group.
    const label& d01 = labels_.front();
    ASSERT_EQ(d01.file, "d01.ics");
    std::int64_t id = 0;
    for (const auto& e : journal()) {
        if (e.at("uid").as_string() == d01.uid && e.at("action").as_string() == "decline")
            id = e.at("id").as_int64();
    }
    ASSERT_NE(id, 0);
    const std::size_t before = fake_.responses().size();
    const run_result undone = run({"undo", std::to_string(id), "--config", cfg.string()});
    ASSERT_EQ(undone.status, 0) << undone.err;
    const auto calls = fake_.responses();
    ASSERT_EQ(calls.size(), before + 1);
    EXPECT_EQ(calls.back().event_id, d01.id);
    EXPECT_EQ(calls.back().action, "tentativelyAccept");
    EXPECT_EQ(calls.back().user, owner);
}

TEST_F(graph_e2e, a_mailbox_outside_the_access_policy_is_named_and_the_others_are_served) {
    const std::string denied = "raj.patel@contoso.example";
    fake_.add_user(denied);
    fake_.deny_user(denied);
    learn_history(config());
    deliver_invitations();
    const fs::path cfg = config({denied});
    running d = start(run_args(cfg));
    EXPECT_TRUE(eventually([&] { return all_answered(); }, 20s)) << read_file(d.err);
    std::this_thread::sleep_for(1500ms);
    const run_result r = stop(d);
    EXPECT_EQ(r.status, 0) << r.err;
    expect_labelled_outcome();
    // The log says which mailbox and why, in words an administrator can act on.
    bool named = false;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);) {
        if (line.find(denied) == std::string::npos) continue;
        if (line.find("ErrorAccessDenied") != std::string::npos ||
            line.find("access policy") != std::string::npos) {
            named = true;
        }
    }
    EXPECT_TRUE(named) << r.err.substr(0, 4000);
    for (const auto& c : fake_.responses()) EXPECT_EQ(c.user, owner);
}

}  // namespace
