// Tests for `agendad explain`, run as the built binary the way a user runs it: the JSON and human
// output contracts, broken inputs, stdin, usage errors, --policy, and the shipped sample mailbox.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cli_fixture.h"
#include "policy/signal.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

const fs::path shared_dir = fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations";
const fs::path samples_dir = fs::path(AGENDAD_SOURCE_DIR) / "config/samples";
const fs::path data_dir = fs::path(AGENDAD_SOURCE_DIR) / "tests/daemon/data";

class daemon_explain_cli : public agendad::test_support::cli_fixture {};
using agendad::test_support::read_file;
using agendad::test_support::run_result;

// The labelled mailbox's owner, organisation, calendar and evaluation time (see its README).
std::vector<std::string> labelled(std::vector<std::string> rest, bool json = true) {
    std::vector<std::string> args = {"explain",
                                     "--mailbox",
                                     "dana.whitfield@contoso.example",
                                     "--org-domain",
                                     "contoso.example",
                                     "--calendar",
                                     (shared_dir / "calendar.ics").string(),
                                     "--now",
                                     "2026-11-20T09:00:00Z"};
    if (json) args.push_back("--json");
    args.insert(args.end(), rest.begin(), rest.end());
    return args;
}

// Every stdout line must be one JSON object.
std::vector<json::object> json_lines(const std::string& out) {
    std::vector<json::object> objects;
    std::istringstream lines(out);
    std::string line;
    while (std::getline(lines, line)) {
        boost::system::error_code ec;
        const json::value v = json::parse(line, ec);
        if (ec || !v.is_object()) {
            ADD_FAILURE() << "not a JSON object: " << line;
            continue;
        }
        objects.push_back(v.as_object());
    }
    return objects;
}

std::string str(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string base_name(const json::object& o) {
    return fs::path(str(o, "file")).filename().string();
}

std::map<std::string, json::object> by_file(const std::vector<json::object>& objects) {
    std::map<std::string, json::object> out;
    for (const auto& o : objects) out[base_name(o)] = o;
    return out;
}

struct label {
    std::string file;  // base name
    std::string action;
    std::string why;
};

std::vector<label> read_labels(const fs::path& tsv) {
    std::vector<label> out;
    std::istringstream lines(read_file(tsv));
    std::string line;
    std::getline(lines, line);  // header
    while (std::getline(lines, line)) {
        if (line.empty()) continue;
        std::istringstream fields(line);
        label l;
        std::getline(fields, l.file, '\t');
        std::getline(fields, l.action, '\t');
        std::getline(fields, l.why);
        l.file = fs::path(l.file).filename().string();
        out.push_back(l);
    }
    return out;
}

// The organizer's first name as written in the invitation (CN="First Last"), read here
// independently of agendad's parser so that the reply check does not grade itself.
std::string organizer_first_name(const fs::path& ics) {
    std::string text = read_file(ics);
    text = std::regex_replace(text, std::regex("\r?\n[ \t]"), "");  // unfold
    std::smatch m;
    if (!std::regex_search(text, m, std::regex("\nORGANIZER[^\n]*?;CN=\"?([^\";:\r\n]+)")))
        return {};
    const std::string cn = m[1];
    return cn.substr(0, cn.find(' '));
}

// ---- the JSON contract on the labelled invitations ----

TEST_F(daemon_explain_cli, json_lines_have_the_documented_fields) {
    const run_result r = run(labelled({(shared_dir / "invites").string()}));
    EXPECT_EQ(r.status, 0) << r.err;
    const auto objects = json_lines(r.out);
    EXPECT_EQ(objects.size(), read_labels(shared_dir / "labels.tsv").size());
    const std::set<std::string> actions = {"leave", "accept", "request_agenda", "decline"};
    for (const auto& o : objects) {
        SCOPED_TRACE(json::serialize(o));
        EXPECT_FALSE(str(o, "file").empty());
        EXPECT_FALSE(str(o, "uid").empty());
        EXPECT_TRUE(actions.count(str(o, "action")));
        ASSERT_TRUE(o.contains("send_response") && o.at("send_response").is_bool());
        EXPECT_FALSE(str(o, "rule").empty());
        ASSERT_TRUE(o.contains("signals") && o.at("signals").is_array());
        for (const auto& s : o.at("signals").as_array()) {
            ASSERT_TRUE(s.is_object());
            const std::string name = str(s.as_object(), "name");
            EXPECT_TRUE(agendad::policy::signal_from_name(name).has_value()) << name;
            EXPECT_FALSE(str(s.as_object(), "evidence").empty()) << name;
        }
        ASSERT_TRUE(o.contains("reply"));
        EXPECT_TRUE(o.at("reply").is_string() || o.at("reply").is_null());
    }
}

TEST_F(daemon_explain_cli, every_labelled_invitation_gets_its_expected_action) {
    const run_result r = run(labelled({(shared_dir / "invites").string()}));
    EXPECT_EQ(r.status, 0) << r.err;
    const auto decided = by_file(json_lines(r.out));
    for (const auto& l : read_labels(shared_dir / "labels.tsv")) {
        SCOPED_TRACE(l.file + " (" + l.why + ")");
        const auto it = decided.find(l.file);
        ASSERT_NE(it, decided.end()) << "not explained";
        EXPECT_EQ(str(it->second, "action"), l.action) << "rule " << str(it->second, "rule");
    }
}

TEST_F(daemon_explain_cli, calendar_spam_is_declined_without_any_response) {
    const run_result r = run(labelled({(shared_dir / "invites/d13.ics").string()}));
    EXPECT_EQ(r.status, 0) << r.err;
    const auto objects = json_lines(r.out);
    ASSERT_EQ(objects.size(), 1u) << r.out;
    EXPECT_EQ(str(objects[0], "action"), "decline");
    EXPECT_EQ(objects[0].at("send_response"), false);
    EXPECT_TRUE(objects[0].at("reply").is_null());
    EXPECT_EQ(str(objects[0], "rule"), "calendar_spam");
}

TEST_F(daemon_explain_cli, replies_greet_the_organizer_and_are_fully_filled_in) {
    const run_result r = run(labelled({(shared_dir / "invites").string()}));
    EXPECT_EQ(r.status, 0) << r.err;
    const std::regex placeholder(R"(\{[a-z_]+\})");
    int replies = 0;
    for (const auto& o : json_lines(r.out)) {
        SCOPED_TRACE(base_name(o));
        const std::string action = str(o, "action");
        const bool responds = o.at("send_response") == true;
        if (action == "leave") {
            EXPECT_FALSE(responds) << "leaving an invitation never answers it";
        }
        if (!responds) {
            EXPECT_TRUE(o.at("reply").is_null());
            continue;
        }
        if (action != "decline" && action != "request_agenda") continue;
        ++replies;
        ASSERT_TRUE(o.at("reply").is_string());
        const std::string reply = str(o, "reply");
        const std::string first = organizer_first_name(str(o, "file"));
        ASSERT_FALSE(first.empty());
        EXPECT_THAT(reply, StartsWith("Hi " + first + ","));
        EXPECT_FALSE(std::regex_search(reply, placeholder)) << reply;
    }
    EXPECT_GT(replies, 0);
}

// ---- human output ----

TEST_F(daemon_explain_cli, human_output_shows_rule_evidence_action_and_reply) {
    const std::string d11 = (shared_dir / "invites/d11.ics").string();
    const run_result r = run(labelled({d11}, false));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr(d11));
    EXPECT_THAT(r.out, HasSubstr("declined_recently"));
    EXPECT_THAT(r.out, HasSubstr("declined 'Intro: SalesBlaze' on 2026-10-02"));
    EXPECT_THAT(r.out, HasSubstr("decline, sending a response"));

    // The reply shown is the exact text that would be sent.
    const auto objects = json_lines(run(labelled({d11})).out);
    ASSERT_EQ(objects.size(), 1u);
    const std::string reply = str(objects[0], "reply");
    ASSERT_FALSE(reply.empty());
    std::istringstream lines(reply);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.empty()) {
            EXPECT_THAT(r.out, HasSubstr("| " + line));
        }
    }
    EXPECT_THAT(r.out, HasSubstr("| Hi Brad,"));
}

TEST_F(daemon_explain_cli, human_output_says_spam_gets_no_response) {
    const run_result r = run(labelled({(shared_dir / "invites/d13.ics").string()}, false));
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("calendar_spam"));
    EXPECT_THAT(r.out, HasSubstr("decline without sending any response"));
    EXPECT_THAT(r.out, Not(HasSubstr("| Hi ")));
}

// ---- broken invitations ----

// Line 4 opens an event that is never closed; line 10 ends the calendar around it.
constexpr std::string_view unclosed_event =
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "METHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\n"
    "UID:unclosed-1\r\n"
    "ORGANIZER;CN=Chris Dalton:mailto:chris.dalton@pipelinepro.example\r\n"
    "ATTENDEE;RSVP=TRUE:mailto:dana.whitfield@contoso.example\r\n"
    "DTSTART:20261124T180000Z\r\n"
    "SUMMARY:No end\r\n"
    "END:VCALENDAR\r\n";

// Line 8 has a DTSTART that is not a date.
constexpr std::string_view bad_start =
    "BEGIN:VCALENDAR\r\n"
    "VERSION:2.0\r\n"
    "METHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\n"
    "UID:bad-start-1\r\n"
    "ORGANIZER;CN=Chris Dalton:mailto:chris.dalton@pipelinepro.example\r\n"
    "ATTENDEE;RSVP=TRUE:mailto:dana.whitfield@contoso.example\r\n"
    "DTSTART:next Tuesday\r\n"
    "SUMMARY:Bad start\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n";

TEST_F(daemon_explain_cli, broken_files_are_reported_and_the_good_one_still_explained_json) {
    write("inbox/a-good.ics", read_file(shared_dir / "invites/d01.ics"));
    write("inbox/b-unclosed.ics", unclosed_event);
    write("inbox/c-bad-start.ics", bad_start);
    const run_result r = run(labelled({(dir_ / "inbox").string()}));
    EXPECT_EQ(r.status, 1) << "some inputs could not be read";
    const auto decided = by_file(json_lines(r.out));
    ASSERT_EQ(decided.size(), 3u) << r.out;

    const json::object& good = decided.at("a-good.ics");
    EXPECT_EQ(str(good, "action"), "decline");
    EXPECT_FALSE(good.contains("error"));

    for (const auto& [name, line, what] :
         {std::tuple{"b-unclosed.ics", 10, "BEGIN:VEVENT from line 4"},
          std::tuple{"c-bad-start.ics", 8, "DTSTART"}}) {
        SCOPED_TRACE(name);
        const json::object& o = decided.at(name);
        EXPECT_EQ(str(o, "file"), (dir_ / "inbox" / name).string());
        ASSERT_TRUE(o.contains("line") && o.at("line").is_int64());
        EXPECT_EQ(o.at("line").as_int64(), line);
        EXPECT_THAT(str(o, "error"), HasSubstr(what));
        EXPECT_FALSE(o.contains("action")) << "no decision on half an invitation";
    }
}

TEST_F(daemon_explain_cli, broken_files_are_reported_on_stderr_in_human_mode) {
    write("inbox/a-good.ics", read_file(shared_dir / "invites/d01.ics"));
    const fs::path unclosed = write("inbox/b-unclosed.ics", unclosed_event);
    const fs::path bad = write("inbox/c-bad-start.ics", bad_start);
    const run_result r = run(labelled({(dir_ / "inbox").string()}, false));
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.err, HasSubstr("error: " + unclosed.string() + ":10: "));
    EXPECT_THAT(r.err, HasSubstr("error: " + bad.string() + ":8: "));
    EXPECT_THAT(r.out, HasSubstr("a-good.ics"));
    EXPECT_THAT(r.out, HasSubstr("untrusted_without_agenda"));
    EXPECT_THAT(r.out, HasSubstr("2 file(s) could not be read"));
}

// ---- stdin ----

TEST_F(daemon_explain_cli, dash_reads_one_invitation_from_stdin) {
    const run_result r = run(labelled({"-"}), read_file(shared_dir / "invites/d01.ics"));
    EXPECT_EQ(r.status, 0) << r.err;
    const auto objects = json_lines(r.out);
    ASSERT_EQ(objects.size(), 1u) << r.out;
    EXPECT_EQ(str(objects[0], "subject"), "Quick intro - 15 minutes?");
    EXPECT_EQ(str(objects[0], "action"), "decline");
    EXPECT_THAT(str(objects[0], "reply"), StartsWith("Hi Chris,"));
}

// ---- usage errors: exit 2, nothing explained ----

void expect_usage_error(const run_result& r, std::string_view problem) {
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.out, IsEmpty()) << "nothing is explained after a usage error";
    EXPECT_THAT(r.err, HasSubstr(problem));
    EXPECT_THAT(r.err, HasSubstr("--help"));
}

TEST_F(daemon_explain_cli, missing_mailbox_is_a_usage_error) {
    const std::string d01 = (shared_dir / "invites/d01.ics").string();
    expect_usage_error(run({"explain", "--org-domain", "contoso.example", d01}),
                       "--mailbox ADDRESS is required");
}

TEST_F(daemon_explain_cli, mailbox_that_is_not_an_address_is_a_usage_error) {
    const std::string d01 = (shared_dir / "invites/d01.ics").string();
    expect_usage_error(
        run({"explain", "--mailbox", "dana", "--org-domain", "contoso.example", d01}),
        "--mailbox 'dana' is not an e-mail address");
}

TEST_F(daemon_explain_cli, missing_org_domain_is_a_usage_error) {
    const std::string d01 = (shared_dir / "invites/d01.ics").string();
    expect_usage_error(run({"explain", "--mailbox", "dana.whitfield@contoso.example", d01}),
                       "--org-domain DOMAIN is required");
}

TEST_F(daemon_explain_cli, no_inputs_is_a_usage_error) {
    expect_usage_error(run(labelled({})), "no invitations given");
}

TEST_F(daemon_explain_cli, unknown_option_is_a_usage_error) {
    expect_usage_error(run(labelled({"--frobnicate", (shared_dir / "invites/d01.ics").string()})),
                       "unknown option '--frobnicate'");
}

TEST_F(daemon_explain_cli, option_without_value_is_a_usage_error) {
    expect_usage_error(run({"explain", "--mailbox"}), "--mailbox needs a value");
}

TEST_F(daemon_explain_cli, now_that_is_not_a_time_is_a_usage_error) {
    const std::string d01 = (shared_dir / "invites/d01.ics").string();
    expect_usage_error(run({"explain", "--mailbox", "dana.whitfield@contoso.example",
                            "--org-domain", "contoso.example", "--now", "yesterday", d01}),
                       "--now 'yesterday' is not a time");
}

TEST_F(daemon_explain_cli, policy_with_errors_lists_them_and_explains_nothing) {
    const fs::path policy = data_dir / "broken_policy.yaml";
    const run_result r =
        run(labelled({"--policy", policy.string(), (shared_dir / "invites").string()}));
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.out, IsEmpty());
    const std::string p = policy.string();
    EXPECT_THAT(r.err, HasSubstr(p + ":5:17: trust.history_days must be a whole number"));
    EXPECT_THAT(r.err, HasSubstr(p + ":12:5: unknown key 'respnd' in a rule"));
    EXPECT_THAT(r.err, HasSubstr(p + ":15:13: unknown signal 'internal_organiser'"));
    EXPECT_THAT(r.err, HasSubstr(p + ":18:26: reply 'decline_no_agenda': unknown placeholder"));
    EXPECT_THAT(r.err, HasSubstr("nothing was explained"));
}

TEST_F(daemon_explain_cli, missing_policy_file_is_a_usage_error) {
    const fs::path policy = dir_ / "no-such-policy.yaml";
    const run_result r = run(labelled({"--policy", policy.string(), "-"}), "");
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.out, IsEmpty());
    EXPECT_THAT(r.err, HasSubstr(policy.string() + ": no such file"));
}

TEST_F(daemon_explain_cli, broken_calendar_explains_nothing) {
    // A partial history could make agendad decline someone the owner knows.
    const fs::path calendar = write("calendar.ics", unclosed_event);
    const run_result r = run({"explain", "--json", "--mailbox", "dana.whitfield@contoso.example",
                              "--org-domain", "contoso.example", "--calendar", calendar.string(),
                              "--now", "2026-11-20T09:00:00Z", (shared_dir / "invites").string()});
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.out, IsEmpty());
    EXPECT_THAT(r.err, HasSubstr(calendar.string() + ":10: "));
    EXPECT_THAT(r.err, HasSubstr("nothing was explained"));
}

// ---- help and version ----

TEST_F(daemon_explain_cli, top_level_help_lists_the_commands) {
    const run_result r = run({"--help"});
    EXPECT_EQ(r.status, 0);
    for (const char* word : {"explain", "check", "--version", "--help"})
        EXPECT_THAT(r.out, HasSubstr(word));
}

TEST_F(daemon_explain_cli, explain_help_mentions_every_option) {
    const run_result r = run({"explain", "--help"});
    EXPECT_EQ(r.status, 0);
    EXPECT_THAT(r.err, IsEmpty());
    for (const char* option :
         {"--policy", "--mailbox", "--org-domain", "--calendar", "--now", "--json", "--help"}) {
        EXPECT_THAT(r.out, HasSubstr(option));
    }
}

TEST_F(daemon_explain_cli, no_command_prints_usage_and_exits_2) {
    const run_result r = run({});
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.err, HasSubstr("Usage:"));
}

TEST_F(daemon_explain_cli, unknown_command_exits_2) {
    const run_result r = run({"explian"});
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.err, HasSubstr("unknown command 'explian'"));
}

TEST_F(daemon_explain_cli, version_names_agendad) {
    const run_result r = run({"--version"});
    EXPECT_EQ(r.status, 0);
    EXPECT_THAT(r.out, StartsWith("agendad "));
}

// ---- --policy ----

TEST_F(daemon_explain_cli, custom_policy_changes_the_decisions) {
    // The fixture declines every untrusted organizer silently; the shipped policy leaves
    // strangers who state an agenda (d20, d30) and answers the others.
    const run_result r =
        run(labelled({"--policy", (data_dir / "decline_untrusted_silently.yaml").string(),
                      (shared_dir / "invites").string()}));
    EXPECT_EQ(r.status, 0) << r.err;
    const auto decided = by_file(json_lines(r.out));
    for (const char* file : {"d01.ics", "d11.ics", "d13.ics", "d20.ics", "d30.ics"}) {
        SCOPED_TRACE(file);
        ASSERT_TRUE(decided.count(file));
        const json::object& o = decided.at(file);
        EXPECT_EQ(str(o, "rule"), "untrusted_silently");
        EXPECT_EQ(str(o, "action"), "decline");
        EXPECT_EQ(o.at("send_response"), false);
        EXPECT_TRUE(o.at("reply").is_null());
    }
    // Trusted organizers match no rule of this policy and are left alone; guards still apply.
    EXPECT_EQ(str(decided.at("d06.ics"), "action"), "leave");
    EXPECT_EQ(str(decided.at("d07.ics"), "action"), "leave");
    EXPECT_EQ(str(decided.at("d14.ics"), "rule"), "guard_cancelled");
    for (const auto& [file, o] : decided) {
        EXPECT_EQ(o.at("send_response"), false) << file << ": this policy never answers";
    }
}

// ---- the shipped sample mailbox (what .ci/demo runs) ----

TEST_F(daemon_explain_cli, sample_mailbox_gets_its_labelled_actions) {
    const run_result r =
        run({"explain", "--json", "--mailbox", "alex.morgan@fabrikam.example", "--org-domain",
             "fabrikam.example", "--calendar", (samples_dir / "calendar.ics").string(), "--now",
             "2026-11-20T09:00:00Z", (samples_dir / "invitations").string()});
    EXPECT_EQ(r.status, 0) << r.err;
    const auto labels = read_labels(samples_dir / "labels.tsv");
    const auto decided = by_file(json_lines(r.out));
    EXPECT_EQ(decided.size(), labels.size());
    for (const auto& l : labels) {
        SCOPED_TRACE(l.file + " (" + l.why + ")");
        const auto it = decided.find(l.file);
        ASSERT_NE(it, decided.end()) << "not explained";
        EXPECT_EQ(str(it->second, "action"), l.action) << "rule " << str(it->second, "rule");
    }
}

}  // namespace
