// Tests for `agendad check`, run as the built binary: the built-in policy, good and broken policy
// files (every problem as FILE:LINE:COLUMN), warnings, --list-signals and usage errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
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
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const fs::path data_dir = fs::path(AGENDAD_SOURCE_DIR) / "tests/daemon/data";

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) out.push_back(line);
    return out;
}

class daemon_check_cli : public agendad::test_support::cli_fixture {};
using agendad::test_support::read_file;
using agendad::test_support::run_result;

TEST_F(daemon_check_cli, without_files_checks_the_builtin_policy) {
    const run_result r = run({"check"});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("executive.yaml (built in): OK"));
    EXPECT_THAT(r.out, Not(HasSubstr("warning")));
}

TEST_F(daemon_check_cli, shipped_policy_file_is_ok) {
    const fs::path shipped = fs::path(AGENDAD_SOURCE_DIR) / "config/policies/executive.yaml";
    const run_result r = run({"check", shipped.string()});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr(shipped.string() + ": OK"));
}

TEST_F(daemon_check_cli, lists_every_problem_of_a_bad_file_and_ok_for_a_good_one) {
    const std::string good = (data_dir / "decline_untrusted_silently.yaml").string();
    const std::string bad = (data_dir / "broken_policy.yaml").string();
    const run_result r = run({"check", good, bad});
    EXPECT_EQ(r.status, 1) << "one of the files has problems";
    EXPECT_THAT(r.out, HasSubstr(good + ": OK"));

    const std::vector<std::string> expected = {
        bad + ":5:17: trust.history_days must be a whole number, not 'ninety'",
        bad + ":12:5: unknown key 'respnd' in a rule (did you mean 'respond'?)",
        bad +
            ":15:13: unknown signal 'internal_organiser' in rule 'colleagues' when.all (did you "
            "mean 'internal_organizer'?)",
        bad + ":18:26: reply 'decline_no_agenda': unknown placeholder {organiser_name}",
    };
    std::vector<std::string> problems;
    for (const auto& line : lines_of(r.out)) {
        if (line.rfind(bad + ":", 0) == 0 && line.find(" problem(s)") == std::string::npos)
            problems.push_back(line);
    }
    ASSERT_EQ(problems.size(), expected.size()) << r.out;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        // The unknown placeholder message goes on to list the known ones.
        EXPECT_EQ(problems[i].substr(0, expected[i].size()), expected[i]);
    }
    EXPECT_THAT(r.out, HasSubstr(bad + ": 4 problem(s)"));
}

TEST_F(daemon_check_cli, every_problem_line_reads_file_line_column_message) {
    const std::string bad = (data_dir / "broken_policy.yaml").string();
    const run_result r = run({"check", bad});
    EXPECT_EQ(r.status, 1);
    const std::regex located("^.+:[0-9]+:[0-9]+: .+$");
    int problems = 0;
    for (const auto& line : lines_of(r.out)) {
        if (line == bad + ": 4 problem(s)") continue;
        EXPECT_TRUE(std::regex_match(line, located)) << line;
        ++problems;
    }
    EXPECT_EQ(problems, 4) << r.out;
}

TEST_F(daemon_check_cli, warnings_do_not_fail_the_check) {
    const fs::path file = write("spare.yaml",
                                "rules:\n"
                                "  - name: everything\n"
                                "    action: leave\n"
                                "replies:\n"
                                "  spare: Hello\n");
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("warning: " + file.string() +
                                 ":5:3: reply 'spare' is not used by any rule"));
    EXPECT_THAT(r.out, HasSubstr(file.string() + ": OK"));
}

TEST_F(daemon_check_cli, missing_file_fails_naming_it) {
    const fs::path missing = dir_ / "missing.yaml";
    const run_result r = run({"check", missing.string()});
    EXPECT_EQ(r.status, 1);
    EXPECT_THAT(r.out, HasSubstr(missing.string() + ": no such file"));
}

TEST_F(daemon_check_cli, list_signals_names_every_signal_and_guard) {
    const run_result r = run({"check", "--list-signals"});
    EXPECT_EQ(r.status, 0);
    std::set<std::string> listed;
    const std::regex entry("^  ([a-z_]+) .*$");
    for (const auto& line : lines_of(r.out)) {
        std::smatch m;
        if (std::regex_match(line, m, entry)) listed.insert(m[1]);
    }
    for (std::size_t i = 0; i < agendad::policy::signal_count; ++i) {
        const std::string name(
            agendad::policy::name_of(static_cast<agendad::policy::signal_id>(i)));
        EXPECT_TRUE(listed.count(name)) << name << " is not listed";
    }

    // Every guard the engine can decide by, as named in explain output: the documented ones,
    // plus any string literal "guard_..." in policy/ so that a new guard cannot go unlisted.
    std::set<std::string> guards = {
        "guard_cancelled",         "guard_not_a_request", "guard_no_organizer",
        "guard_own_meeting",       "guard_not_invited",   "guard_no_response_requested",
        "guard_already_responded", "guard_no_start",      "guard_past_event",
        "guard_already_accepted",  "guard_no_uid"};
    const std::regex literal("\"(guard_[a-z_]+)\"");
    for (const auto& entry_file : fs::directory_iterator(fs::path(AGENDAD_SOURCE_DIR) / "policy")) {
        if (entry_file.path().extension() != ".cpp") continue;
        const std::string text = read_file(entry_file.path());
        for (std::sregex_iterator it(text.begin(), text.end(), literal), end; it != end; ++it)
            guards.insert((*it)[1]);
    }
    for (const auto& guard : guards) EXPECT_TRUE(listed.count(guard)) << guard << " is not listed";
}

TEST_F(daemon_check_cli, help_mentions_its_options) {
    const run_result r = run({"check", "--help"});
    EXPECT_EQ(r.status, 0);
    EXPECT_THAT(r.out, HasSubstr("--list-signals"));
    EXPECT_THAT(r.out, HasSubstr("--help"));
}

TEST_F(daemon_check_cli, unknown_option_is_a_usage_error) {
    const run_result r = run({"check", "--strict"});
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.out, IsEmpty());
    EXPECT_THAT(r.err, HasSubstr("unknown option '--strict'"));
    EXPECT_THAT(r.err, HasSubstr("--help"));
}

}  // namespace
