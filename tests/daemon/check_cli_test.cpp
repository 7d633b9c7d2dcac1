// Tests for `agendad check`, run as the built binary: the built-in policy, good and broken policy
// files (every problem as FILE:LINE:COLUMN), warnings, --list-signals and usage errors; Microsoft
// Graph sources checked offline (the certificate and its key, expiry, polling without
// notifications).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

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

// ---- Microsoft Graph sources ----

struct pem_pair {
    std::string cert;
    std::string key;
};

std::string pem_of(const std::function<int(BIO*)>& write) {
    const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    if (!bio || write(bio.get()) != 1) throw std::runtime_error("PEM_write");
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

// A self-signed certificate as an admin makes for an app registration: RSA 2048 (or an EC key,
// which Microsoft's RS256 assertions cannot use), valid between the given days from now.
pem_pair make_certificate(bool rsa = true, long not_before_days = -1, long not_after_days = 365) {
    const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"), &EVP_PKEY_free);
    const std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), &X509_free);
    if (!key || !cert) throw std::runtime_error("key or certificate");
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), not_before_days * 86400);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), not_after_days * 86400);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("agendad"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    X509_set_pubkey(cert.get(), key.get());
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) throw std::runtime_error("sign");
    return {pem_of([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()); }), pem_of([&](BIO* b) {
                return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr,
                                                nullptr);
            })};
}

class daemon_check_graph : public agendad::test_support::cli_fixture {
  protected:
    fs::path secret(const std::string& name, const std::string& text) {
        const fs::path p = write(name, text);
        fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write,
                        fs::perm_options::replace);
        return p;
    }

    // A configuration with one Graph source whose credential lines are `credentials`
    // (starting on line 6) and `extra` lines after them.
    fs::path config(const std::string& credentials, const std::string& extra = "",
                    const std::string& mailboxes =
                        "  - {address: ceo@contoso.example, source: m365, "
                        "org_domains: [contoso.example]}\n") {
        return write("agendad.yaml",
                     "sources:\n"
                     "  m365:\n"
                     "    kind: graph\n"
                     "    tenant: contoso.example\n"
                     "    client_id: 11111111-2222-3333-4444-555555555555\n" +
                         credentials + extra + "mailboxes:\n" + mailboxes);
    }

    std::string pair_lines(const pem_pair& p) {
        const fs::path cert = write("graph/app.crt", p.cert);
        const fs::path key = secret("secrets/app.key", p.key);
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
    const fs::path file = config(pair_lines(make_certificate()),
                                 "    poll_seconds: 30\n"
                                 "    notifications: {public_url: \"https://a.example/graph\"}\n");
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_THAT(r.out, Not(HasSubstr("warning"))) << "notifications are configured";
    EXPECT_THAT(r.out, HasSubstr(": OK: 1 mailbox"));
    EXPECT_THAT(r.out, Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(daemon_check_graph, a_key_of_another_certificate_is_an_error_at_certificate_file) {
    const pem_pair one = make_certificate();
    const pem_pair other = make_certificate();
    const fs::path file = config(pair_lines({one.cert, other.key}));
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(file.string() + ":6:23: sources.m365: certificate_file "));
    EXPECT_THAT(r.out, HasSubstr("cannot sign a client assertion: the private key does not belong "
                                 "to the certificate"));
    EXPECT_THAT(r.out, HasSubstr(file.string() + ": 1 problem(s)"));
    EXPECT_THAT(r.out, Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(daemon_check_graph, an_ec_key_cannot_sign_rs256_assertions) {
    const fs::path file = config(pair_lines(make_certificate(false)));
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(file.string() + ":6:23: sources.m365: "));
    EXPECT_THAT(r.out, HasSubstr("RSA"));
}

TEST_F(daemon_check_graph, an_expired_certificate_is_an_error_and_one_expiring_soon_a_warning) {
    const fs::path expired = config(pair_lines(make_certificate(true, -30, -1)));
    const run_result r = run({"check", expired.string()});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(expired.string() + ":6:23: sources.m365.certificate_file: "));
    EXPECT_THAT(r.out, HasSubstr("has expired: Microsoft refuses it"));

    const fs::path soon = config(pair_lines(make_certificate(true, -30, 10)));
    const run_result w = run({"check", soon.string()});
    EXPECT_EQ(w.status, 0) << w.out << w.err;
    EXPECT_THAT(w.out,
                HasSubstr("warning: " + soon.string() + ":6:23: sources.m365.certificate_file: "));
    EXPECT_THAT(w.out, HasSubstr(" day(s): upload a new one to the app registration"));
}

// EWS with hybrid modern auth signs in with an app registration's certificate: checked the
// same way, at its line under oauth:.
TEST_F(daemon_check_graph, an_ews_source_with_oauth_has_its_certificate_checked) {
    const pem_pair one = make_certificate();
    const pem_pair other = make_certificate();
    const fs::path cert = write("ews/app.crt", one.cert);
    const fs::path key = secret("secrets/ews.key", other.key);
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
