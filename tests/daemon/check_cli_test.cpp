// Tests for `agendad check`, run as the built binary: the built-in policy, good and broken policy
// files (every problem as FILE:LINE:COLUMN), warnings, --list-signals and usage errors; Microsoft
// Graph sources checked offline (the certificate and its key, expiry, polling without
// notifications).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_fixture.h"
#include "policy/signal.h"
#include "support/test_ca.h"

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
using agendad::test_support::credentials;
using agendad::test_support::read_file;
using agendad::test_support::run_result;
using agendad::test_support::self_signed_app_certificate;

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

// ---- Microsoft Graph sources ----

class daemon_check_graph : public agendad::test_support::cli_fixture {
  protected:
    fs::path secret(const std::string& name, const std::string& text) {
        const fs::path p = write(name, text);
        fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write,
                        fs::perm_options::replace);
        return p;
    }

    // A configuration with one Graph source whose credential lines are `credential_lines`
    // (starting on line 6) and `extra` lines after them.
    fs::path config(const std::string& credential_lines, const std::string& extra = "",
                    const std::string& mailboxes =
                        "  - {address: ceo@contoso.example, source: m365, "
                        "org_domains: [contoso.example]}\n") {
        return write("agendad.yaml",
                     "sources:\n"
                     "  m365:\n"
                     "    kind: graph\n"
                     "    tenant: contoso.example\n"
                     "    client_id: 11111111-2222-3333-4444-555555555555\n" +
                         credential_lines + extra + "mailboxes:\n" + mailboxes);
    }

    std::string pair_lines(const credentials& p) {
        const fs::path cert = write("graph/app.crt", p.cert_pem);
        const fs::path key = secret("secrets/app.key", p.key_pem);
        return "    certificate_file: " + cert.string() +
               "\n    private_key_file: " + key.string() + "\n";
    }
};

TEST_F(daemon_check_graph, a_client_secret_is_fine_and_polling_is_a_warning) {
    const fs::path s = secret("secrets/graph-secret", "s3cr3t-Hunter2\n");
    const fs::path file = config("    client_secret_file: " + s.string() + "\n");
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr("warning: " + file.string() +
                                 ":2:3: source 'm365' has no notifications: changes are seen by "
                                 "delta polling every 60 s"));
    EXPECT_THAT(r.out, HasSubstr(file.string() +
                                 ": OK: 1 mailbox (0 enforce, 1 dry-run), 1 source, 0 policy "
                                 "files\n"));
    EXPECT_THAT(r.out, Not(HasSubstr("Hunter2")));
}

TEST_F(daemon_check_graph, a_certificate_and_its_key_are_proven_to_belong_together) {
    const fs::path file = config(pair_lines(self_signed_app_certificate()),
                                 "    poll_seconds: 30\n"
                                 "    notifications: {public_url: \"https://a.example/graph\"}\n");
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, Not(HasSubstr("warning"))) << "notifications are configured";
    EXPECT_THAT(r.out, HasSubstr(": OK: 1 mailbox"));
    EXPECT_THAT(r.out, Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(daemon_check_graph, a_key_of_another_certificate_is_an_error_at_certificate_file) {
    const credentials one = self_signed_app_certificate();
    const credentials other = self_signed_app_certificate();
    const fs::path file = config(pair_lines({one.cert_pem, other.key_pem}));
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(file.string() + ":6:23: sources.m365: certificate_file "));
    EXPECT_THAT(r.out, HasSubstr("cannot sign a client assertion: the private key does not belong "
                                 "to the certificate"));
    EXPECT_THAT(r.out, HasSubstr(file.string() + ": 1 problem(s)"));
    EXPECT_THAT(r.out, Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(daemon_check_graph, an_ec_key_cannot_sign_rs256_assertions) {
    const fs::path file = config(pair_lines(self_signed_app_certificate(false)));
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(file.string() + ":6:23: sources.m365: "));
    EXPECT_THAT(r.out, HasSubstr("RSA"));
}

TEST_F(daemon_check_graph, an_expired_certificate_is_an_error_and_one_expiring_soon_a_warning) {
    const fs::path expired = config(pair_lines(self_signed_app_certificate(true, -30, -1)));
    const run_result r = run({"check", expired.string()});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(expired.string() + ":6:23: sources.m365.certificate_file: "));
    EXPECT_THAT(r.out, HasSubstr("has expired: Microsoft refuses it"));

    const fs::path soon = config(pair_lines(self_signed_app_certificate(true, -30, 10)));
    const run_result w = run({"check", soon.string()});
    EXPECT_EQ(w.status, 0) << w.out << w.err;
    EXPECT_THAT(w.out,
                HasSubstr("warning: " + soon.string() + ":6:23: sources.m365.certificate_file: "));
    EXPECT_THAT(w.out, HasSubstr(" day(s): upload a new one to the app registration"));
}

// EWS with hybrid modern auth signs in with an app registration's certificate: checked the
// same way, at its line under oauth:.
TEST_F(daemon_check_graph, an_ews_source_with_oauth_has_its_certificate_checked) {
    const credentials one = self_signed_app_certificate();
    const credentials other = self_signed_app_certificate();
    const fs::path cert = write("ews/app.crt", one.cert_pem);
    const fs::path key = secret("secrets/ews.key", other.key_pem);
    const fs::path file = write("agendad.yaml",
                                "sources:\n"
                                "  exchange:\n"
                                "    kind: ews\n"
                                "    url: https://mail.contoso.example/EWS/Exchange.asmx\n"
                                "    auth: oauth\n"
                                "    oauth:\n"
                                "      tenant: contoso.example\n"
                                "      client_id: 11111111-2222-3333-4444-555555555555\n"
                                "      certificate_file: " +
                                    cert.string() + "\n      private_key_file: " + key.string() +
                                    "\n"
                                    "mailboxes:\n"
                                    "  - {address: ceo@contoso.example, source: exchange, "
                                    "org_domains: [contoso.example]}\n");
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out,
                HasSubstr(file.string() + ":9:25: sources.exchange.oauth: certificate_file "));
    EXPECT_THAT(r.out, HasSubstr("the private key does not belong to the certificate"));
    EXPECT_THAT(r.out, Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(daemon_check_graph, the_summary_counts_group_entries) {
    const fs::path s = secret("secrets/graph-secret", "s3cr3t-Hunter2\n");
    const fs::path file = config(
        "    client_secret_file: " + s.string() + "\n", "",
        "  - {group: 1b2c3d4e-0000-4000-8000-123456789abc, source: m365, "
        "org_domains: [contoso.example], mode: enforce}\n"
        "  - {address: ceo@contoso.example, source: m365, org_domains: [contoso.example]}\n");
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(": OK: 1 mailbox (0 enforce, 1 dry-run), 1 group (1 enforce, 0 "
                                 "dry-run), 1 source, 0 policy files\n"));
}

TEST_F(daemon_check_graph, a_group_with_a_folder_source_is_an_error) {
    fs::create_directories(dir_ / "samples");
    const fs::path file =
        write("agendad.yaml", "sources: {s: {kind: folder, path: " + (dir_ / "samples").string() +
                                  "}}\n"
                                  "mailboxes:\n"
                                  "  - group: 1b2c3d4e-0000-4000-8000-123456789abc\n"
                                  "    source: s\n"
                                  "    org_domains: [contoso.example]\n");
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(file.string() +
                                 ":3:12: group '1b2c3d4e-0000-4000-8000-123456789abc' is only "
                                 "for graph sources"));
}

}  // namespace
