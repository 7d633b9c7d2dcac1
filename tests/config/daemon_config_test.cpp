// Tests for config/daemon_config: the shipped example, a full configuration landing in the struct,
// every validation rule at its exact file:line:column (all problems at once, in file order),
// secret files (modes, missing, empty, never printed), the demo configuration, and
// `agendad check` on daemon configurations.
#include "config/daemon_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "config/policy_loader.h"
#include "daemon/cli_fixture.h"
#include "support/files.h"

namespace agendad::config {
namespace {

namespace fs = std::filesystem;
using agendad::test_support::read_file;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const fs::path data_dir = fs::path(AGENDAD_SOURCE_DIR) / "tests/config/data";
// Every secret file of these tests holds this, so that a leak into a message is easy to find.
constexpr std::string_view secret_text = "s3cr3t-Hunter2-do-not-print";

std::string describe(const std::vector<diagnostic>& list) {
    std::string out;
    for (const auto& d : list) out += "\n    " + d.to_string();
    return out.empty() ? " (none)" : out;
}

// Looks for a diagnostic of agendad.yaml at exactly line:column whose message contains `text`,
// listing every diagnostic when there is none so that a wrong location is obvious.
::testing::AssertionResult has_at(const std::vector<diagnostic>& list, int line, int column,
                                  std::string_view text, std::string_view file = "agendad.yaml") {
    for (const auto& d : list) {
        if (d.file == file && d.line == line && d.column == column &&
            d.message.find(text) != std::string::npos) {
            return ::testing::AssertionSuccess();
        }
    }
    return ::testing::AssertionFailure() << "no diagnostic " << file << ":" << line << ":" << column
                                         << ": ...\"" << text << "\"...; got:" << describe(list);
}

std::vector<std::pair<int, int>> locations(const std::vector<diagnostic>& list) {
    std::vector<std::pair<int, int>> out;
    for (const auto& d : list) out.emplace_back(d.line, d.column);
    return out;
}

void expect_no_secret(const daemon_config_load& r) {
    for (const auto* list : {&r.errors, &r.warnings}) {
        for (const auto& d : *list) {
            EXPECT_THAT(d.to_string(), Not(HasSubstr(std::string(secret_text))));
            // Not even a part of it.
            EXPECT_THAT(d.to_string(), Not(HasSubstr("Hunter2")));
        }
    }
}

fs::path make_temp_dir(const std::string& tag) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::random_device random;
    std::string name = "agendad-config-" + tag + "-" + std::string(info->name());
    std::replace(name.begin(), name.end(), '/', '-');
    const fs::path p = fs::temp_directory_path() / (name + "-" + std::to_string(random()));
    fs::create_directories(p);
    return p;
}

void write_file(const fs::path& p, std::string_view text, fs::perms mode) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    fs::permissions(p, mode, fs::perm_options::replace);
}

constexpr fs::perms owner_only = fs::perms::owner_read | fs::perms::owner_write;
// PEM-shaped stand-ins: the configuration reads them, only `agendad check` parses them.
const std::string certificate_pem =
    "-----BEGIN CERTIFICATE-----\nMIIDazCCAlOgAwIBAgIU\n-----END CERTIFICATE-----\n";
const std::string key_pem =
    "-----BEGIN PRIVATE KEY-----\n" + std::string(secret_text) + "\n-----END PRIVATE KEY-----\n";
constexpr fs::perms world_readable = owner_only | fs::perms::group_read | fs::perms::others_read;

// A folder holding what the configurations of these tests name, relative to it: the sample
// folder, policy files, secret files (good and bad) and a CA file.
class daemon_config_files : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = make_temp_dir("files");
        fs::create_directories(dir_ / "samples");
        fs::create_directories(dir_ / "policy.d");
        fs::copy_file(data_dir / "board.yaml", dir_ / "policy.d/board.yaml");
        fs::copy_file(data_dir / "broken_board.yaml", dir_ / "policy.d/broken_board.yaml");
        fs::copy_file(data_dir / "unused_reply.yaml", dir_ / "policy.d/unused_reply.yaml");
        const std::string with_newline = std::string(secret_text) + "\n";
        write_file(dir_ / "secrets/caldav-password", with_newline, owner_only);
        write_file(dir_ / "secrets/smtp-password", with_newline, owner_only);
        write_file(dir_ / "secrets/status-token", with_newline, owner_only);
        write_file(dir_ / "secrets/world-readable", with_newline, world_readable);
        write_file(dir_ / "secrets/empty", "", owner_only);
        write_file(dir_ / "ca.pem", "-----BEGIN CERTIFICATE-----\n", world_readable);
        write_file(dir_ / "not-a-folder.txt", "x", world_readable);
        // Microsoft Graph: a client secret, a certificate (public) and its key (secret), in
        // separate files and combined; their content only has to look like PEM here (`agendad
        // check` proves that a pair belongs together: tests/daemon/check_cli_test.cpp).
        write_file(dir_ / "secrets/graph-secret", with_newline, owner_only);
        write_file(dir_ / "graph/app.crt", certificate_pem, world_readable);
        write_file(dir_ / "secrets/app.key", key_pem, owner_only);
        write_file(dir_ / "secrets/combined.pem", certificate_pem + key_pem, owner_only);
        write_file(dir_ / "graph/combined.pem", certificate_pem + key_pem, world_readable);
        write_file(dir_ / "secrets/encrypted.key",
                   "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHz\n"
                   "-----END ENCRYPTED PRIVATE KEY-----\n",
                   owner_only);
        write_file(dir_ / "secrets/guid-secret", "0a1b2c3d-1111-2222-3333-444455556666\n",
                   owner_only);
        write_file(dir_ / "secrets/client-state", "a-random-client-state\n", owner_only);
        write_file(dir_ / "secrets/long-client-state", std::string(129, 'x'), owner_only);
    }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    daemon_config_load load(std::string_view yaml) const {
        return load_daemon_config_text(yaml, "agendad.yaml", dir_);
    }

    fs::path dir_;
};

// ---- the shipped example ----

// The example with every absolute path moved under `root`, and the files it names created there
// (folders for `path`, owner-only secrets for *_file, PEM-shaped ones for a certificate and its
// key), so that it loads as written.
std::string rooted_example(const fs::path& root, const std::string& text) {
    std::istringstream in(text);
    std::ostringstream out;
    const std::regex value(R"(^(\s*(?:-\s+)?([a-z_]+):\s+)(/[^\s#]*)(.*)$)");
    std::string line;
    while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_match(line, m, value)) {
            const std::string key = m[2];
            const fs::path moved = root / fs::path(m[3].str()).relative_path();
            if (key == "path") fs::create_directories(moved);
            if (key == "certificate_file")
                write_file(moved, certificate_pem, world_readable);
            else if (key == "private_key_file")
                write_file(moved, key_pem, owner_only);
            else if (key.size() > 5 && key.substr(key.size() - 5) == "_file")
                write_file(moved, std::string(secret_text) + "\n", owner_only);
            line = m[1].str() + moved.string() + m[4].str();
        }
        out << line << '\n';
    }
    return out.str();
}

std::string example_text() {
    return read_file(fs::path(AGENDAD_SOURCE_DIR) / "config/agendad.example.yaml");
}

std::string rooted_example(const fs::path& root) {
    return rooted_example(root, example_text());
}

// The example with its commented-out Microsoft Graph blocks switched on: each block starts
// with a line "  # NAME:" or "  # - group:" (NAME the Graph source) and ends at a blank line;
// one level of "# " is removed, so that the alternatives commented inside stay comments.
std::string example_with(std::initializer_list<std::string_view> block_starts) {
    std::istringstream in(example_text());
    std::ostringstream out;
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        for (std::string_view start : block_starts) {
            if (line == start) inside = true;
        }
        if (line.empty()) inside = false;
        if (inside) {
            const auto hash = line.find("# ");
            if (hash != std::string::npos) line.erase(hash, 2);
        }
        out << line << '\n';
    }
    return out.str();
}

std::string example_with_graph() {
    return example_with({"  # m365:", "  # - group: 1b2c3d4e-0000-4000-8000-123456789abc"});
}

// The same for the EWS source ("  # exchange:") and its mailbox entry.
std::string example_with_ews() {
    return example_with({"  # exchange:", "  # - address: chris.lee@contoso.example"});
}

class daemon_config_example : public ::testing::Test {
  protected:
    void SetUp() override { root_ = make_temp_dir("example"); }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    fs::path root_;
};

TEST_F(daemon_config_example, loads_without_errors_or_warnings) {
    const std::string text = rooted_example(root_);
    const fs::path base = root_ / "etc/agendad";
    fs::create_directories(base / "policy.d");
    fs::copy_file(data_dir / "board.yaml", base / "policy.d/board.yaml");

    const daemon_config_load r = load_daemon_config_text(text, "agendad.example.yaml", base);
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    expect_no_secret(r);
    const daemon_config& c = *r.config;
    EXPECT_EQ(c.mailboxes.size(), 3u);
    EXPECT_EQ(c.sources.size(), 2u);
    EXPECT_TRUE(c.policies.count("board"));
    EXPECT_TRUE(c.status_token.has_value());
    ASSERT_TRUE(c.sources.count("office"));
    ASSERT_TRUE(c.sources.at("office").caldav.smtp.has_value());
}

TEST_F(daemon_config_example, its_graph_example_loads_when_uncommented) {
    const std::string graph = example_with_graph();
    ASSERT_NE(graph, example_text()) << "the example has a commented Microsoft Graph source";
    const fs::path base = root_ / "etc/agendad";
    fs::create_directories(base / "policy.d");
    fs::copy_file(data_dir / "board.yaml", base / "policy.d/board.yaml");

    const daemon_config_load r =
        load_daemon_config_text(rooted_example(root_, graph), "agendad.example.yaml", base);
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    expect_no_secret(r);
    const daemon_config& c = *r.config;
    ASSERT_TRUE(c.sources.count("m365"));
    const source_config& m365 = c.sources.at("m365");
    EXPECT_EQ(m365.kind, source_kind::graph);
    EXPECT_FALSE(m365.graph.certificate_pem.empty()) << "the example shows the certificate";
    EXPECT_TRUE(m365.graph.private_key.has_value());
    EXPECT_FALSE(m365.graph.client_secret.has_value());
    ASSERT_EQ(c.groups.size(), 1u);
    EXPECT_EQ(c.groups[0].group, "1b2c3d4e-0000-4000-8000-123456789abc");
    EXPECT_EQ(c.groups[0].source, "m365");
    EXPECT_EQ(c.mailboxes.size(), 3u);
}

TEST_F(daemon_config_example, its_ews_example_loads_when_uncommented) {
    const std::string ews = example_with_ews();
    ASSERT_NE(ews, example_text()) << "the example has a commented EWS source";
    const fs::path base = root_ / "etc/agendad";
    fs::create_directories(base / "policy.d");
    fs::copy_file(data_dir / "board.yaml", base / "policy.d/board.yaml");

    const daemon_config_load r =
        load_daemon_config_text(rooted_example(root_, ews), "agendad.example.yaml", base);
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    expect_no_secret(r);
    const daemon_config& c = *r.config;
    ASSERT_TRUE(c.sources.count("exchange"));
    const source_config& s = c.sources.at("exchange");
    EXPECT_EQ(s.kind, source_kind::ews);
    EXPECT_EQ(s.ews.url, "https://mail.contoso.example/EWS/Exchange.asmx");
    EXPECT_EQ(s.ews.auth, ews_auth::ntlm);
    EXPECT_EQ(s.ews.user, "CONTOSO\\svc-agendad") << "one backslash, as written";
    ASSERT_TRUE(s.ews.password.has_value());
    EXPECT_TRUE(s.ews.impersonation);
    EXPECT_TRUE(s.ews.streaming);
    ASSERT_EQ(c.mailboxes.size(), 4u);
    EXPECT_EQ(c.mailboxes[3].address, "chris.lee@contoso.example");
    EXPECT_EQ(c.mailboxes[3].source, "exchange");
}

TEST_F(daemon_config_example, documents_every_key_the_loader_knows) {
    // A key the loader accepts but the example never mentions is undocumented.
    const std::string text =
        read_file(fs::path(AGENDAD_SOURCE_DIR) / "config/agendad.example.yaml");
    for (const std::string key : {"state_directory",
                                  "log_level",
                                  "status",
                                  "listen",
                                  "token_file",
                                  "defaults",
                                  "agenda_deadline_hours",
                                  "max_declines_per_hour",
                                  "history_days",
                                  "policies",
                                  "sources",
                                  "kind",
                                  "path",
                                  "outbox",
                                  "poll_seconds",
                                  "request_timeout_seconds",
                                  "url",
                                  "user",
                                  "password_file",
                                  "ca_file",
                                  "smtp",
                                  "host",
                                  "port",
                                  "security",
                                  "from",
                                  "mailboxes",
                                  "address",
                                  "source",
                                  "calendar",
                                  "org_domains",
                                  "policy",
                                  "mode",
                                  "group",
                                  "tenant",
                                  "client_id",
                                  "client_secret_file",
                                  "certificate_file",
                                  "private_key_file",
                                  "authority",
                                  "graph_url",
                                  "window_back_days",
                                  "window_ahead_days",
                                  "max_concurrent_requests",
                                  "per_mailbox_requests",
                                  "group_refresh_seconds",
                                  "notifications",
                                  "public_url",
                                  "client_state_file",
                                  "auth",
                                  "oauth",
                                  "scope",
                                  "impersonation",
                                  "streaming",
                                  "autodiscover"}) {
        EXPECT_THAT(text, HasSubstr(key + ":")) << key;
    }
}

// ---- a full, valid configuration ----

const char* const full_config = R"(state_directory: state
log_level: debug
status:
  listen: 0.0.0.0:9000
  token_file: secrets/status-token
defaults:
  agenda_deadline_hours: 48
  max_declines_per_hour: 0
  history_days: 90
policies:
  board: policy.d/board.yaml
sources:
  samples:
    kind: folder
    path: samples
    poll_seconds: 7
  office:
    kind: caldav
    url: https://cal.example.com/dav/
    user: agendad
    password_file: secrets/caldav-password
    poll_seconds: 120
    ca_file: ca.pem
    smtp:
      host: smtp.example.com
      security: tls
      user: mailer
      password_file: secrets/smtp-password
      from: Agendad@Example.com
      ca_file: ./ca.pem
mailboxes:
  - address: Dana.Whitfield@Contoso.Example
    source: office
    calendar: /dav/calendars/dana/default/
    org_domains: [Contoso.Example, "*.contoso-eu.example"]
    policy: board
    mode: enforce
    agenda_deadline_hours: 12
    max_declines_per_hour: 10
  - address: alex.morgan@fabrikam.example
    source: samples
    org_domains: [fabrikam.example]
    mode: dry_run
)";

TEST_F(daemon_config_files, full_configuration_lands_in_the_struct) {
    const daemon_config_load r = load(full_config);
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    const daemon_config& c = *r.config;
    EXPECT_EQ(c.source_file, "agendad.yaml");
    EXPECT_EQ(c.state_directory, dir_ / "state");
    EXPECT_EQ(c.log, log_level::debug);
    EXPECT_EQ(c.status_listen, "0.0.0.0:9000");
    ASSERT_TRUE(c.status_token.has_value());
    EXPECT_EQ(c.status_token->file, dir_ / "secrets/status-token");
    EXPECT_EQ(c.status_token->value, secret_text) << "one trailing newline is not the secret";
    EXPECT_EQ(c.agenda_deadline_hours, 48);
    EXPECT_EQ(c.max_declines_per_hour, 0);
    EXPECT_EQ(c.history_window, std::chrono::days(90));

    ASSERT_EQ(c.policies.size(), 2u);
    EXPECT_EQ(c.policies.at("board").name, "board");
    EXPECT_EQ(c.policies.at("board").source, (dir_ / "policy.d/board.yaml").string());
    EXPECT_EQ(c.policies.at("board").mode, policy::mode::enforce);
    EXPECT_EQ(c.policies.at("executive").source, builtin_executive_policy_name);

    ASSERT_EQ(c.sources.size(), 2u);
    const source_config& samples = c.sources.at("samples");
    EXPECT_EQ(samples.name, "samples");
    EXPECT_EQ(samples.line, 13);
    EXPECT_EQ(samples.kind, source_kind::folder);
    EXPECT_EQ(samples.folder.path, dir_ / "samples");
    EXPECT_EQ(samples.folder.outbox, dir_ / "state/outbox/samples");
    EXPECT_EQ(samples.folder.poll, std::chrono::seconds(7));

    const source_config& office = c.sources.at("office");
    EXPECT_EQ(office.line, 17);
    EXPECT_EQ(office.kind, source_kind::caldav);
    EXPECT_EQ(office.caldav.url, "https://cal.example.com/dav/");
    EXPECT_EQ(office.caldav.user, "agendad");
    ASSERT_TRUE(office.caldav.password.has_value());
    EXPECT_EQ(office.caldav.password->file, dir_ / "secrets/caldav-password");
    EXPECT_EQ(office.caldav.password->value, secret_text);
    EXPECT_EQ(office.caldav.poll, std::chrono::seconds(120));
    EXPECT_EQ(office.caldav.ca_file, dir_ / "ca.pem");
    ASSERT_TRUE(office.caldav.smtp.has_value());
    const smtp_settings& smtp = *office.caldav.smtp;
    EXPECT_EQ(smtp.host, "smtp.example.com");
    EXPECT_EQ(smtp.security, smtp_security::tls);
    EXPECT_EQ(smtp.port, 465) << "the default port follows the security";
    EXPECT_EQ(smtp.user, "mailer");
    ASSERT_TRUE(smtp.password.has_value());
    EXPECT_EQ(smtp.password->file, dir_ / "secrets/smtp-password");
    EXPECT_EQ(smtp.password->value, secret_text);
    EXPECT_EQ(smtp.from, "agendad@example.com");
    EXPECT_EQ(smtp.ca_file, dir_ / "ca.pem") << "paths are normalised";

    ASSERT_EQ(c.mailboxes.size(), 2u);
    const mailbox_config& dana = c.mailboxes[0];
    EXPECT_EQ(dana.address, "dana.whitfield@contoso.example");
    EXPECT_EQ(dana.line, 32);
    EXPECT_EQ(dana.source, "office");
    EXPECT_EQ(dana.calendar, "/dav/calendars/dana/default/");
    EXPECT_THAT(dana.org_domains, ElementsAre("contoso.example", "contoso-eu.example"));
    EXPECT_EQ(dana.policy, "board");
    EXPECT_EQ(dana.mode, mailbox_mode::enforce);
    EXPECT_EQ(dana.agenda_deadline_hours, 12);
    EXPECT_EQ(dana.max_declines_per_hour, 10);
    const mailbox_config& alex = c.mailboxes[1];
    EXPECT_EQ(alex.address, "alex.morgan@fabrikam.example");
    EXPECT_EQ(alex.line, 40);
    EXPECT_EQ(alex.source, "samples");
    EXPECT_TRUE(alex.calendar.empty());
    EXPECT_EQ(alex.policy, "executive");
    EXPECT_EQ(alex.mode, mailbox_mode::dry_run) << "dry_run is accepted as in policy files";
    EXPECT_FALSE(alex.agenda_deadline_hours.has_value());
    EXPECT_FALSE(alex.max_declines_per_hour.has_value());
    expect_no_secret(r);
}

TEST_F(daemon_config_files, minimal_configuration_gets_the_documented_defaults) {
    const daemon_config_load r = load(
        "sources:\n"
        "  samples: {kind: folder, path: samples}\n"
        "mailboxes:\n"
        "  - address: a@b.example\n"
        "    source: samples\n"
        "    org_domains: [b.example]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    const daemon_config& c = *r.config;
    EXPECT_EQ(c.state_directory, fs::path("/var/lib/agendad"));
    EXPECT_EQ(c.log, log_level::info);
    EXPECT_EQ(c.status_listen, "127.0.0.1:9187");
    EXPECT_FALSE(c.status_token.has_value());
    EXPECT_EQ(c.agenda_deadline_hours, 24);
    EXPECT_EQ(c.max_declines_per_hour, 20);
    EXPECT_EQ(c.history_window, std::chrono::days(365));
    EXPECT_EQ(c.policies.size(), 1u) << "only the built-in executive policy";
    EXPECT_TRUE(c.policies.count("executive"));
    const source_config& s = c.sources.at("samples");
    EXPECT_EQ(s.folder.outbox, fs::path("/var/lib/agendad/outbox/samples"));
    EXPECT_EQ(s.folder.poll, std::chrono::seconds(5));
    ASSERT_EQ(c.mailboxes.size(), 1u);
    EXPECT_EQ(c.mailboxes[0].policy, "executive");
    EXPECT_FALSE(c.mailboxes[0].mode.has_value()) << "absent: the policy's mode";
}

TEST_F(daemon_config_files, caldav_defaults) {
    const daemon_config_load r = load(
        "sources:\n"
        "  office:\n"
        "    kind: caldav\n"
        "    url: http://localhost:5232/\n"
        "    smtp: {host: localhost, security: none}\n"
        "mailboxes:\n"
        "  - {address: a@b.example, source: office, "
        "org_domains: [b.example]}\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    const caldav_source& c = r.config->sources.at("office").caldav;
    EXPECT_EQ(c.poll, std::chrono::seconds(60));
    EXPECT_TRUE(c.user.empty());
    EXPECT_FALSE(c.password.has_value());
    EXPECT_TRUE(c.ca_file.empty());
    ASSERT_TRUE(c.smtp.has_value());
    EXPECT_EQ(c.smtp->port, 25);
    EXPECT_EQ(c.smtp->security, smtp_security::none);
    EXPECT_TRUE(c.smtp->from.empty()) << "default: the mailbox's address, decided by the daemon";
    EXPECT_FALSE(c.smtp->password.has_value());
}

TEST_F(daemon_config_files, smtp_port_defaults_to_587_for_starttls) {
    const daemon_config_load r = load(
        "sources:\n"
        "  office:\n"
        "    kind: caldav\n"
        "    url: https://cal.example.com/\n"
        "    smtp: {host: smtp.example.com}\n"
        "mailboxes:\n"
        "  - {address: a@b.example, source: office, "
        "org_domains: [b.example]}\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_EQ(r.config->sources.at("office").caldav.smtp->security, smtp_security::starttls);
    EXPECT_EQ(r.config->sources.at("office").caldav.smtp->port, 587);
}

TEST_F(daemon_config_files, loopback_urls_may_use_http) {
    for (const std::string url :
         {"http://localhost/dav/", "http://127.0.0.5:5232/", "http://[::1]:5232/dav",
          "HTTP://LOCALHOST", "https://[2001:db8::1]/"}) {
        const daemon_config_load r = load(
            "sources:\n"
            "  office: {kind: caldav, url: \"" +
            url +
            "\"}\n"
            "mailboxes:\n"
            "  - {address: a@b.example, source: office, "
            "org_domains: [b.example]}\n");
        EXPECT_TRUE(r.ok()) << url << describe(r.errors);
    }
}

TEST_F(daemon_config_files, loopback_status_listeners_need_no_token) {
    for (const std::string listen :
         {"127.0.0.1:9187", "127.1.2.3:80", "localhost:9187", "\"[::1]:9187\""}) {
        const daemon_config_load r = load("status: {listen: " + listen +
                                          "}\n"
                                          "sources: {s: {kind: folder, path: samples}}\n"
                                          "mailboxes: [{address: a@b.example, source: s, "
                                          "org_domains: [b.example]}]\n");
        EXPECT_TRUE(r.ok()) << listen << describe(r.errors);
    }
}

TEST_F(daemon_config_files, status_listener_can_be_turned_off) {
    for (const std::string listen : {"\"\"", "off", "''"}) {
        const daemon_config_load r = load(
            "status:\n"
            "  listen: " +
            listen +
            "\n"
            "sources: {s: {kind: folder, path: samples}}\n"
            "mailboxes: [{address: a@b.example, source: s, "
            "org_domains: [b.example]}]\n");
        ASSERT_TRUE(r.ok()) << listen << describe(r.errors);
        EXPECT_EQ(r.config->status_listen, "") << listen;
    }
}

TEST_F(daemon_config_files, empty_sections_are_the_same_as_none) {
    const daemon_config_load r = load(
        "status:\n"
        "defaults:\n"
        "policies:\n"
        "sources:\n"
        "  s: {kind: folder, path: samples}\n"
        "mailboxes: [{address: a@b.example, source: s, "
        "org_domains: [b.example]}]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_EQ(r.config->status_listen, "127.0.0.1:9187");
}

TEST_F(daemon_config_files, loads_from_a_file_relative_to_its_folder) {
    const fs::path file = dir_ / "agendad.yaml";
    write_file(file,
               "policies: {board: policy.d/board.yaml}\n"
               "sources: {s: {kind: folder, path: samples, outbox: out}}\n"
               "mailboxes: [{address: a@b.example, source: s, org_domains: [b.example], "
               "policy: board}]\n",
               world_readable);
    const daemon_config_load r = load_daemon_config_file(file);
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_EQ(r.config->source_file, file.string());
    EXPECT_EQ(r.config->sources.at("s").folder.path, dir_ / "samples");
    EXPECT_EQ(r.config->sources.at("s").folder.outbox, dir_ / "out");
    EXPECT_EQ(r.config->policies.at("board").source, (dir_ / "policy.d/board.yaml").string());
}

TEST_F(daemon_config_files, missing_file_is_one_error_naming_it) {
    const daemon_config_load r = load_daemon_config_file(dir_ / "missing.yaml");
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_EQ(r.errors[0].to_string(), (dir_ / "missing.yaml").string() + ": no such file");
}

// ---- Microsoft Graph ----

const char* const full_graph_config = R"(status: {listen: 127.0.0.1:9187}
sources:
  m365:
    kind: graph
    tenant: 0A1B2C3D-0000-4000-8000-00000000AAAA
    client_id: 11111111-2222-3333-4444-55555555AAAA
    certificate_file: graph/app.crt
    private_key_file: secrets/app.key
    authority: https://login.microsoftonline.us/
    graph_url: https://graph.microsoft.us/v1.0/
    ca_file: ca.pem
    poll_seconds: 30
    window_back_days: 2
    window_ahead_days: 365
    max_concurrent_requests: 16
    per_mailbox_requests: 2
    group_refresh_seconds: 600
    notifications:
      public_url: https://agendad.contoso.example/graph
      listen: 0.0.0.0:9300
      client_state_file: secrets/client-state
mailboxes:
  - group: 1B2C3D4E-0000-4000-8000-123456789ABC
    source: m365
    org_domains: [contoso.example]
    policy: executive
    mode: enforce
    agenda_deadline_hours: 12
    max_declines_per_hour: 5
  - address: Dana@Contoso.Example
    source: m365
    org_domains: [contoso.example]
)";

TEST_F(daemon_config_files, graph_configuration_lands_in_the_struct) {
    const daemon_config_load r = load(full_graph_config);
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    expect_no_secret(r);
    const daemon_config& c = *r.config;
    const source_config& s = c.sources.at("m365");
    EXPECT_EQ(s.kind, source_kind::graph);
    EXPECT_EQ(name_of(s.kind), "graph");
    EXPECT_EQ(s.line, 3);
    EXPECT_EQ(s.column, 3);
    const graph_source& g = s.graph;
    EXPECT_EQ(g.tenant, "0A1B2C3D-0000-4000-8000-00000000AAAA") << "as written";
    EXPECT_EQ(g.client_id, "11111111-2222-3333-4444-55555555AAAA");
    EXPECT_FALSE(g.client_secret.has_value());
    EXPECT_EQ(g.certificate_file, dir_ / "graph/app.crt");
    EXPECT_EQ(g.certificate_pem, certificate_pem);
    EXPECT_EQ(g.certificate_line, 7);
    EXPECT_EQ(g.certificate_column, 23);
    ASSERT_TRUE(g.private_key.has_value());
    EXPECT_EQ(g.private_key->file, dir_ / "secrets/app.key");
    EXPECT_EQ(g.private_key->value + "\n", key_pem);
    EXPECT_EQ(g.authority, "https://login.microsoftonline.us") << "trailing slashes dropped";
    EXPECT_EQ(g.graph_url, "https://graph.microsoft.us/v1.0");
    EXPECT_EQ(g.ca_file, dir_ / "ca.pem");
    EXPECT_EQ(g.poll, std::chrono::seconds(30));
    EXPECT_EQ(poll_interval(s), std::chrono::seconds(30));
    EXPECT_EQ(g.window_back, std::chrono::days(2));
    EXPECT_EQ(g.window_ahead, std::chrono::days(365));
    EXPECT_EQ(g.max_concurrent_requests, 16);
    EXPECT_EQ(g.per_mailbox_requests, 2);
    EXPECT_EQ(g.group_refresh, std::chrono::seconds(600));
    ASSERT_TRUE(g.notifications.has_value());
    EXPECT_EQ(g.notifications->public_url, "https://agendad.contoso.example/graph");
    EXPECT_EQ(g.notifications->listen, "0.0.0.0:9300");
    ASSERT_TRUE(g.notifications->client_state.has_value());
    EXPECT_EQ(g.notifications->client_state->value, "a-random-client-state");

    ASSERT_EQ(c.groups.size(), 1u) << "group entries are listed apart";
    const mailbox_config& group = c.groups[0];
    EXPECT_EQ(group.group, "1b2c3d4e-0000-4000-8000-123456789abc");
    EXPECT_TRUE(group.address.empty());
    EXPECT_EQ(group.line, 23);
    EXPECT_EQ(group.source, "m365");
    EXPECT_THAT(group.org_domains, ElementsAre("contoso.example"));
    EXPECT_EQ(group.mode, mailbox_mode::enforce);
    EXPECT_EQ(group.agenda_deadline_hours, 12);
    EXPECT_EQ(group.max_declines_per_hour, 5);
    ASSERT_EQ(c.mailboxes.size(), 1u) << "mailboxes hold address entries only";
    EXPECT_EQ(c.mailboxes[0].address, "dana@contoso.example");
    EXPECT_TRUE(c.mailboxes[0].group.empty());
}

TEST_F(daemon_config_files, graph_defaults) {
    const daemon_config_load r = load(
        "sources:\n"
        "  m365:\n"
        "    kind: graph\n"
        "    tenant: contoso.onmicrosoft.com\n"
        "    client_id: 11111111-2222-3333-4444-555555555555\n"
        "    client_secret_file: secrets/graph-secret\n"
        "mailboxes: [{address: a@b.example, source: m365, org_domains: [b.example]}]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    expect_no_secret(r);
    const graph_source& g = r.config->sources.at("m365").graph;
    EXPECT_EQ(g.tenant, "contoso.onmicrosoft.com");
    ASSERT_TRUE(g.client_secret.has_value());
    EXPECT_EQ(g.client_secret->value, secret_text);
    EXPECT_TRUE(g.certificate_pem.empty());
    EXPECT_FALSE(g.private_key.has_value());
    EXPECT_EQ(g.authority, "https://login.microsoftonline.com");
    EXPECT_EQ(g.graph_url, "https://graph.microsoft.com/v1.0");
    EXPECT_TRUE(g.ca_file.empty());
    EXPECT_EQ(g.poll, std::chrono::seconds(60));
    EXPECT_EQ(g.window_back, std::chrono::days(1));
    EXPECT_EQ(g.window_ahead, std::chrono::days(180));
    EXPECT_EQ(g.max_concurrent_requests, 64);
    EXPECT_EQ(g.per_mailbox_requests, 4);
    EXPECT_EQ(g.group_refresh, std::chrono::hours(1));
    EXPECT_FALSE(g.notifications.has_value()) << "delta polling only";
    EXPECT_TRUE(r.config->groups.empty());
}

TEST_F(daemon_config_files, graph_notifications_defaults) {
    const daemon_config_load r = load(
        "sources:\n"
        "  m365:\n"
        "    kind: graph\n"
        "    tenant: contoso.example\n"
        "    client_id: 11111111-2222-3333-4444-555555555555\n"
        "    client_secret_file: secrets/graph-secret\n"
        "    notifications: {public_url: \"https://agendad.contoso.example:8443/n\"}\n"
        "mailboxes: [{address: a@b.example, source: m365, org_domains: [b.example]}]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    const auto& n = r.config->sources.at("m365").graph.notifications;
    ASSERT_TRUE(n.has_value());
    EXPECT_EQ(n->listen, "127.0.0.1:9188");
    EXPECT_FALSE(n->client_state.has_value()) << "generated at start";
}

TEST_F(daemon_config_files, graph_certificate_and_key_may_share_one_owner_only_file) {
    const daemon_config_load r = load(
        "sources:\n"
        "  m365:\n"
        "    kind: graph\n"
        "    tenant: contoso.example\n"
        "    client_id: 11111111-2222-3333-4444-555555555555\n"
        "    certificate_file: secrets/combined.pem\n"
        "    private_key_file: secrets/combined.pem\n"
        "mailboxes: [{address: a@b.example, source: m365, org_domains: [b.example]}]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    expect_no_secret(r);
    const graph_source& g = r.config->sources.at("m365").graph;
    EXPECT_EQ(g.certificate_pem, certificate_pem + key_pem);
    ASSERT_TRUE(g.private_key.has_value());
}

TEST_F(daemon_config_files, ews_configuration_lands_in_the_struct) {
    const daemon_config_load r = load(
        "sources:\n"
        "  exchange:\n"
        "    kind: ews\n"
        "    url: https://mail.contoso.example/EWS/Exchange.asmx\n"
        "    auth: basic\n"
        "    user: svc-agendad@contoso.example\n"
        "    password_file: secrets/caldav-password\n"
        "    impersonation: false\n"
        "    ca_file: ca.pem\n"
        "    poll_seconds: 30\n"
        "    streaming: no\n"
        "    max_concurrent_requests: 8\n"
        "    per_mailbox_requests: 1\n"
        "mailboxes: [{address: a@b.example, source: exchange, org_domains: [b.example]}]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    expect_no_secret(r);
    const source_config& s = r.config->sources.at("exchange");
    EXPECT_EQ(s.kind, source_kind::ews);
    EXPECT_EQ(name_of(s.kind), "ews");
    const ews_source& e = s.ews;
    EXPECT_EQ(e.url, "https://mail.contoso.example/EWS/Exchange.asmx");
    EXPECT_EQ(e.auth, ews_auth::basic);
    EXPECT_EQ(name_of(e.auth), "basic");
    EXPECT_EQ(e.user, "svc-agendad@contoso.example");
    ASSERT_TRUE(e.password.has_value());
    EXPECT_EQ(e.password->value, secret_text);
    EXPECT_FALSE(e.impersonation);
    EXPECT_EQ(e.ca_file, dir_ / "ca.pem");
    EXPECT_EQ(e.poll, std::chrono::seconds(30));
    EXPECT_EQ(poll_interval(s), std::chrono::seconds(30));
    EXPECT_FALSE(e.streaming);
    EXPECT_EQ(e.max_concurrent_requests, 8);
    EXPECT_EQ(e.per_mailbox_requests, 1);
}

TEST_F(daemon_config_files, ews_defaults_are_ntlm_impersonation_and_streaming) {
    const daemon_config_load r = load(
        "sources:\n"
        "  exchange:\n"
        "    kind: ews\n"
        "    url: https://mail.contoso.example/EWS/Exchange.asmx\n"
        "    user: CONTOSO\\svc-agendad\n"
        "    password_file: secrets/caldav-password\n"
        "mailboxes: [{address: a@b.example, source: exchange, org_domains: [b.example]}]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    const ews_source& e = r.config->sources.at("exchange").ews;
    EXPECT_EQ(e.auth, ews_auth::ntlm);
    EXPECT_EQ(e.user, "CONTOSO\\svc-agendad");
    EXPECT_TRUE(e.impersonation);
    EXPECT_TRUE(e.streaming);
    EXPECT_TRUE(e.ca_file.empty());
    EXPECT_EQ(e.poll, std::chrono::seconds(60));
    EXPECT_EQ(e.max_concurrent_requests, 16);
    EXPECT_EQ(e.per_mailbox_requests, 2);
    EXPECT_TRUE(e.oauth_scope.empty());
}

// How long one HTTP exchange may take, per source that speaks HTTP; 60 s when not given.
TEST_F(daemon_config_files, request_timeout_is_set_per_http_source_and_defaults_to_a_minute) {
    const daemon_config_load r = load(
        "sources:\n"
        "  office:\n"
        "    kind: caldav\n"
        "    url: http://localhost:5232/\n"
        "    request_timeout_seconds: 5\n"
        "    smtp: {host: localhost, security: none}\n"
        "  home: {kind: caldav, url: \"http://localhost:5233/\", "
        "smtp: {host: localhost, security: none}}\n"
        "  m365:\n"
        "    kind: graph\n"
        "    tenant: contoso.example\n"
        "    client_id: 11111111-2222-3333-4444-555555555555\n"
        "    client_secret_file: secrets/graph-secret\n"
        "    request_timeout_seconds: 3600\n"
        "  exchange:\n"
        "    kind: ews\n"
        "    url: https://mail.contoso.example/EWS/Exchange.asmx\n"
        "    user: CONTOSO\\svc\n"
        "    password_file: secrets/caldav-password\n"
        "    request_timeout_seconds: 1\n"
        "mailboxes:\n"
        "  - {address: a@b.example, source: office, org_domains: [b.example]}\n"
        "  - {address: b@b.example, source: home, org_domains: [b.example]}\n"
        "  - {address: c@b.example, source: m365, org_domains: [b.example]}\n"
        "  - {address: d@b.example, source: exchange, org_domains: [b.example]}\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    const auto& sources = r.config->sources;
    EXPECT_EQ(sources.at("office").caldav.request_timeout, std::chrono::seconds(5));
    EXPECT_EQ(sources.at("home").caldav.request_timeout, std::chrono::seconds(60));
    EXPECT_EQ(sources.at("m365").graph.request_timeout, std::chrono::hours(1));
    EXPECT_EQ(sources.at("exchange").ews.request_timeout, std::chrono::seconds(1));
}

TEST_F(daemon_config_files, ews_with_oauth_reads_the_app_registration) {
    const daemon_config_load r = load(
        "sources:\n"
        "  exchange:\n"
        "    kind: ews\n"
        "    url: https://mail.contoso.example/EWS/Exchange.asmx\n"
        "    auth: oauth\n"
        "    oauth:\n"
        "      tenant: contoso.example\n"
        "      client_id: 11111111-2222-3333-4444-555555555555\n"
        "      certificate_file: graph/app.crt\n"
        "      private_key_file: secrets/app.key\n"
        "      scope: https://mail.contoso.example/.default\n"
        "mailboxes: [{address: a@b.example, source: exchange, org_domains: [b.example]}]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    expect_no_secret(r);
    const ews_source& e = r.config->sources.at("exchange").ews;
    EXPECT_EQ(e.auth, ews_auth::oauth);
    EXPECT_EQ(e.oauth.tenant, "contoso.example");
    EXPECT_EQ(e.oauth.client_id, "11111111-2222-3333-4444-555555555555");
    EXPECT_EQ(e.oauth.certificate_pem, certificate_pem);
    EXPECT_TRUE(e.oauth.private_key.has_value());
    EXPECT_EQ(e.oauth_scope, "https://mail.contoso.example/.default");
    EXPECT_TRUE(e.user.empty());
    EXPECT_FALSE(e.password.has_value());
}

TEST_F(daemon_config_files, ews_autodiscover_instead_of_a_url) {
    const auto load_with = [&](const std::string& line) {
        return load("sources:\n"
                    "  exchange:\n"
                    "    kind: ews\n" +
                    line +
                    "    user: CONTOSO\\svc\n"
                    "    password_file: secrets/caldav-password\n"
                    "mailboxes: [{address: a@b.example, source: exchange, org_domains: "
                    "[b.example]}]\n");
    };
    const daemon_config_load by_domain = load_with("    autodiscover: true\n");
    ASSERT_TRUE(by_domain.ok()) << describe(by_domain.errors);
    const ews_source& d = by_domain.config->sources.at("exchange").ews;
    EXPECT_TRUE(d.autodiscover);
    EXPECT_TRUE(d.url.empty());
    EXPECT_TRUE(d.autodiscover_url.empty());

    const daemon_config_load by_url =
        load_with("    autodiscover: https://mail.contoso.example/autodiscover/autodiscover.xml\n");
    ASSERT_TRUE(by_url.ok()) << describe(by_url.errors);
    EXPECT_EQ(by_url.config->sources.at("exchange").ews.autodiscover_url,
              "https://mail.contoso.example/autodiscover/autodiscover.xml");

    const daemon_config_load both = load_with(
        "    url: https://mail.contoso.example/EWS/Exchange.asmx\n    autodiscover: true\n");
    EXPECT_FALSE(both.ok());
    EXPECT_TRUE(has_at(both.errors, 5, 19, "has both url: and autodiscover:"))
        << describe(both.errors);
}

TEST_F(daemon_config_files, ews_url_without_the_usual_path_is_a_warning) {
    const daemon_config_load r = load(
        "sources:\n"
        "  exchange:\n"
        "    kind: ews\n"
        "    url: https://mail.contoso.example/owa\n"  // 4:10
        "    user: svc\n"
        "    password_file: secrets/caldav-password\n"
        "mailboxes: [{address: a@b.example, source: exchange, org_domains: [b.example]}]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_TRUE(has_at(r.warnings, 4, 10, "does not end in /EWS/Exchange.asmx"))
        << describe(r.warnings);
}

TEST_F(daemon_config_files, graph_loopback_urls_may_use_http) {
    const daemon_config_load r = load(
        "sources:\n"
        "  m365:\n"
        "    kind: graph\n"
        "    tenant: contoso.example\n"
        "    client_id: 11111111-2222-3333-4444-555555555555\n"
        "    client_secret_file: secrets/graph-secret\n"
        "    authority: http://127.0.0.1:8080\n"
        "    graph_url: \"http://[::1]:8080/v1.0\"\n"
        "mailboxes: [{address: a@b.example, source: m365, org_domains: [b.example]}]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_EQ(r.config->sources.at("m365").graph.graph_url, "http://[::1]:8080/v1.0");
}

TEST_F(daemon_config_files, a_client_secret_that_is_a_guid_is_a_warning) {
    const daemon_config_load r = load(
        "sources:\n"
        "  m365:\n"
        "    kind: graph\n"
        "    tenant: contoso.example\n"
        "    client_id: 11111111-2222-3333-4444-555555555555\n"
        "    client_secret_file: secrets/guid-secret\n"  // 6:25
        "mailboxes: [{address: a@b.example, source: m365, org_domains: [b.example]}]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_TRUE(has_at(r.warnings, 6, 25,
                       "holds a GUID: is it the secret's ID rather than its "
                       "Value?"));
    for (const auto& w : r.warnings) EXPECT_THAT(w.message, Not(HasSubstr("0a1b2c3d")));
}

TEST_F(daemon_config_files, group_members_and_addresses_of_several_groups) {
    const daemon_config_load r = load(
        "sources:\n"
        "  m365:\n"
        "    kind: graph\n"
        "    tenant: contoso.example\n"
        "    client_id: 11111111-2222-3333-4444-555555555555\n"
        "    client_secret_file: secrets/graph-secret\n"
        "  other:\n"
        "    kind: graph\n"
        "    tenant: fabrikam.example\n"
        "    client_id: 11111111-2222-3333-4444-555555555555\n"
        "    client_secret_file: secrets/graph-secret\n"
        "mailboxes:\n"
        "  - {group: 1b2c3d4e-0000-4000-8000-123456789abc, source: m365, "
        "org_domains: [contoso.example]}\n"
        "  - {group: 2b2c3d4e-0000-4000-8000-123456789abc, source: m365, "
        "org_domains: [contoso.example], mode: enforce}\n"
        // The same group in another tenant is another group.
        "  - {group: 1b2c3d4e-0000-4000-8000-123456789abc, source: other, "
        "org_domains: [fabrikam.example]}\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    ASSERT_EQ(r.config->groups.size(), 3u);
    EXPECT_EQ(r.config->groups[1].group, "2b2c3d4e-0000-4000-8000-123456789abc");
    EXPECT_EQ(r.config->groups[1].mode, mailbox_mode::enforce);
    EXPECT_EQ(r.config->groups[2].source, "other");
    EXPECT_TRUE(r.config->mailboxes.empty()) << "groups alone are something to watch";
}

// ---- one mistake per document, at an exact location ----

struct bad_case {
    std::string name;
    std::string yaml;
    int line;
    int column;
    std::string message;
    std::size_t errors = 1;  // some mistakes have a second, honest consequence
};

std::ostream& operator<<(std::ostream& os, const bad_case& c) {
    return os << c.name;
}

class bad_config : public daemon_config_files, public ::testing::WithParamInterface<bad_case> {};

TEST_P(bad_config, is_reported_at_its_location) {
    const bad_case& c = GetParam();
    const daemon_config_load r = load(c.yaml);
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(r.config.has_value()) << "a broken configuration must not be usable";
    EXPECT_TRUE(has_at(r.errors, c.line, c.column, c.message));
    EXPECT_EQ(r.errors.size(), c.errors) << describe(r.errors);
    expect_no_secret(r);
}

// A valid source and mailbox, for the cases about other parts.
const std::string sources_ok =
    "sources:\n"
    "  samples: {kind: folder, path: samples}\n";
const std::string mailboxes_ok =
    "mailboxes:\n"
    "  - address: a@b.example\n"
    "    source: samples\n"
    "    org_domains: [b.example]\n";
// A Graph source in pieces (lines 1-3, then one line each), and a mailbox using it.
const std::string graph_head =
    "sources:\n"
    "  m365:\n"
    "    kind: graph\n";
const std::string graph_tenant = "    tenant: contoso.example\n";
const std::string graph_client = "    client_id: 11111111-2222-3333-4444-555555555555\n";
const std::string graph_secret = "    client_secret_file: secrets/graph-secret\n";
const std::string graph_ok = graph_head + graph_tenant + graph_client + graph_secret;  // 6 lines
const std::string graph_mailbox =
    "mailboxes: [{address: a@b.example, source: m365, org_domains: [b.example]}]\n";
const std::string a_group = "1b2c3d4e-0000-4000-8000-123456789abc";

// An EWS source in pieces (lines 1-4, then one line each), and a mailbox using it.
const std::string ews_head =
    "sources:\n"
    "  exchange:\n"
    "    kind: ews\n"
    "    url: https://mail.contoso.example/EWS/Exchange.asmx\n";
const std::string ews_login =
    "    user: CONTOSO\\svc\n"
    "    password_file: secrets/caldav-password\n";
const std::string ews_mailbox =
    "mailboxes: [{address: a@b.example, source: exchange, org_domains: [b.example]}]\n";

const bad_case bad_cases[] = {
    // -- structure and keys
    {"yaml_syntax", "mailboxes: [\n", 2, 1, "YAML syntax"},
    {"empty_document", "# nothing yet\n", 0, 0, "the configuration is empty: nothing to watch"},
    {"not_a_mapping", "- a\n- b\n", 1, 1, "the configuration must be a mapping"},
    {"unknown_top_level_key",
     "log_levle: info\n"  // 1:1
         + sources_ok + mailboxes_ok,
     1, 1, "unknown key 'log_levle' in the configuration (did you mean 'log_level'?)"},
    {"unknown_key_without_suggestion",
     sources_ok + mailboxes_ok + "colour: blue\n",  // 7:1
     7, 1, "unknown key 'colour' in the configuration (known: state_directory, log_level"},
    {"unknown_key_in_status", "status:\n  lisen: 127.0.0.1:1\n" + sources_ok + mailboxes_ok, 2, 3,
     "unknown key 'lisen' in status (did you mean 'listen'?)"},
    {"unknown_key_in_defaults", "defaults:\n  history_day: 30\n" + sources_ok + mailboxes_ok, 2, 3,
     "unknown key 'history_day' in defaults (did you mean 'history_days'?)"},
    {"unknown_key_in_folder_source",
     "sources:\n"
     "  samples:\n"
     "    kind: folder\n"
     "    path: samples\n"
     "    pol_seconds: 5\n"  // 5:5
         + mailboxes_ok,
     5, 5, "unknown key 'pol_seconds' in source 'samples' (did you mean 'poll_seconds'?)"},
    {"caldav_key_in_folder_source",
     "sources:\n"
     "  samples:\n"
     "    kind: folder\n"
     "    path: samples\n"
     "    url: https://cal.example.com/\n"  // 5:5
         + mailboxes_ok,
     5, 5, "unknown key 'url' in source 'samples' (known: kind, path, outbox, poll_seconds)"},
    {"unknown_key_in_smtp",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    smtp:\n"
     "      host: smtp.example.com\n"
     "      securty: tls\n"  // 7:7
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     7, 7, "unknown key 'securty' in sources.office.smtp (did you mean 'security'?)"},
    {"unknown_key_in_mailbox",
     sources_ok + "mailboxes:\n"
                  "  - address: a@b.example\n"
                  "    source: samples\n"
                  "    org_domain: [b.example]\n",  // 6:5; and then org_domains is missing
     6, 5, "unknown key 'org_domain' in a mailbox (did you mean 'org_domains'?)", 2},
    {"repeated_key", sources_ok + mailboxes_ok + "log_level: info\nlog_level: debug\n", 8, 1,
     "'log_level' appears twice in the configuration"},
    {"repeated_source",
     "sources:\n"
     "  samples: {kind: folder, path: samples}\n"
     "  samples: {kind: folder, path: samples}\n"  // 3:3
         + mailboxes_ok,
     3, 3, "'samples' appears twice in sources"},

    // -- types and ranges
    {"mailboxes_not_a_list", sources_ok + "mailboxes:\n  a: b\n", 4, 3, "mailboxes must be a list"},
    {"history_days_not_a_number", "defaults:\n  history_days: ninety\n" + sources_ok + mailboxes_ok,
     2, 17, "defaults.history_days must be a whole number, not 'ninety'"},
    {"history_days_out_of_range", "defaults:\n  history_days: 0\n" + sources_ok + mailboxes_ok, 2,
     17, "defaults.history_days must be between 1 and 3650, not 0"},
    {"deadline_out_of_range",
     "defaults:\n  agenda_deadline_hours: 721\n" + sources_ok + mailboxes_ok, 2, 26,
     "defaults.agenda_deadline_hours must be between 1 and 720, not 721"},
    {"declines_out_of_range",
     "defaults:\n  max_declines_per_hour: -1\n" + sources_ok + mailboxes_ok, 2, 26,
     "defaults.max_declines_per_hour must be between 0 and 10000, not -1"},
    {"poll_out_of_range",
     "sources:\n"
     "  samples: {kind: folder, path: samples, poll_seconds: 86401}\n"  // 2:56
         + mailboxes_ok,
     2, 56, "sources.samples.poll_seconds must be between 1 and 86400, not 86401"},
    {"smtp_port_out_of_range",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    smtp: {host: smtp.example.com, port: 70000}\n"  // 5:42
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     5, 42, "sources.office.smtp.port must be between 1 and 65535, not 70000"},
    {"mailbox_override_out_of_range",
     sources_ok + mailboxes_ok + "    agenda_deadline_hours: 0\n",  // 7:28
     7, 28, "mailbox 'a@b.example' agenda_deadline_hours must be between 1 and 720, not 0"},
    {"mailbox_declines_out_of_range",
     sources_ok + mailboxes_ok + "    max_declines_per_hour: 10001\n",  // 7:28
     7, 28, "mailbox 'a@b.example' max_declines_per_hour must be between 0 and 10000"},
    {"log_level_misspelt", "log_level: warnign\n" + sources_ok + mailboxes_ok, 1, 12,
     "log_level must be debug, info, warning or error, not 'warnign' (did you mean "
     "'warning'?)"},
    {"log_level_unknown", "log_level: verbose\n" + sources_ok + mailboxes_ok, 1, 12,
     "log_level must be debug, info, warning or error, not 'verbose'"},
    {"state_directory_not_text", "state_directory: [a]\n" + sources_ok + mailboxes_ok, 1, 18,
     "state_directory must be a text value"},
    {"mode_misspelt", sources_ok + mailboxes_ok + "    mode: enforced\n", 7, 11,
     "mailbox 'a@b.example' mode must be dry-run or enforce, not 'enforced' (did you mean "
     "'enforce'?)"},

    // -- mailboxes
    {"address_not_an_address",
     sources_ok + "mailboxes:\n"
                  "  - address: dana.whitfield\n"  // 4:14
                  "    source: samples\n"
                  "    org_domains: [b.example]\n",
     4, 14, "'dana.whitfield' is not an e-mail address"},
    {"address_missing",
     sources_ok + "mailboxes:\n"
                  "  - source: samples\n"  // 4:5
                  "    org_domains: [b.example]\n",
     4, 5, "a mailbox needs an address"},
    {"address_repeated_in_other_case",
     sources_ok + mailboxes_ok +
         "  - address: A@B.Example\n"  // 7:14
         "    source: samples\n"
         "    org_domains: [b.example]\n",
     7, 14, "mailbox 'a@b.example' is already defined on line 4 (addresses are case-insensitive)"},
    {"unknown_source",
     "sources:\n"
     "  office: {kind: caldav, url: \"https://cal.example.com/\"}\n"
     "mailboxes:\n"
     "  - address: a@b.example\n"
     "    source: ofice\n"  // 5:13
     "    org_domains: [b.example]\n",
     5, 13, "unknown source 'ofice' (did you mean 'office'?)"},
    {"unknown_source_far_from_any",
     sources_ok + "mailboxes:\n"
                  "  - address: a@b.example\n"
                  "    source: exchange\n"  // 5:13
                  "    org_domains: [b.example]\n",
     5, 13, "unknown source 'exchange' (defined: samples)"},
    {"source_without_sources",
     "mailboxes:\n"
     "  - address: a@b.example\n"
     "    source: samples\n"  // 3:13
     "    org_domains: [b.example]\n",
     3, 13, "unknown source 'samples' (no sources are defined)"},
    {"source_missing",
     sources_ok + "mailboxes:\n"
                  "  - address: a@b.example\n"  // 4:5
                  "    org_domains: [b.example]\n",
     4, 5, "mailbox 'a@b.example' needs a source (one of: samples)"},
    {"unknown_policy",
     "policies:\n"
     "  board: policy.d/board.yaml\n" +
         sources_ok + mailboxes_ok + "    policy: bord\n",  // 9:13
     9, 13, "unknown policy 'bord' (did you mean 'board'?)"},
    {"executive_redefined",
     "policies:\n"
     "  executive: policy.d/board.yaml\n"  // 2:3
         + sources_ok + mailboxes_ok,
     2, 3, "'executive' is the built-in policy and cannot be redefined"},
    {"policy_file_missing",
     "policies:\n"
     "  board: policy.d/bord.yaml\n"  // 2:10
         + sources_ok + mailboxes_ok + "    policy: board\n",
     2, 10, "policy 'board': "},
    {"org_domains_missing",
     sources_ok + "mailboxes:\n"
                  "  - address: a@b.example\n"  // 4:5
                  "    source: samples\n",
     4, 5, "mailbox 'a@b.example' needs org_domains"},
    {"org_domains_empty",
     sources_ok + "mailboxes:\n"
                  "  - address: a@b.example\n"
                  "    source: samples\n"
                  "    org_domains: []\n",  // 6:18
     6, 18, "mailbox 'a@b.example' org_domains must name at least one domain"},
    {"org_domains_not_a_list",
     sources_ok + "mailboxes:\n"
                  "  - address: a@b.example\n"
                  "    source: samples\n"
                  "    org_domains: b.example\n",  // 6:18
     6, 18, "mailbox 'a@b.example' org_domains must be a list"},
    {"org_domain_invalid",
     sources_ok + "mailboxes:\n"
                  "  - address: a@b.example\n"
                  "    source: samples\n"
                  "    org_domains: [b.example, \"con toso.example\"]\n",  // 6:30
     6, 30, "'con toso.example' in mailbox 'a@b.example' org_domains is not a domain name"},
    {"calendar_on_a_folder_source", sources_ok + mailboxes_ok + "    calendar: /dav/x/\n", 7, 15,
     "mailbox 'a@b.example' calendar is only for caldav sources"},
    {"calendar_not_a_url_or_path",
     "sources:\n"
     "  office: {kind: caldav, url: \"https://cal.example.com/\"}\n"
     "mailboxes:\n"
     "  - address: a@b.example\n"
     "    source: office\n"
     "    calendar: default\n"  // 6:15
     "    org_domains: [b.example]\n",
     6, 15, "mailbox 'a@b.example' calendar must be a URL or a path on the server"},
    {"no_mailboxes", sources_ok, 1, 1, "nothing to watch: the configuration has no mailboxes", 1},
    {"empty_mailboxes", sources_ok + "mailboxes: []\n", 3, 12,
     "nothing to watch: the list of mailboxes is empty"},

    // -- sources
    {"kind_missing",
     "sources:\n"
     "  samples:\n"
     "    path: samples\n"  // 3:5
         + mailboxes_ok,
     3, 5, "source 'samples' needs a kind: folder, caldav, graph or ews"},
    {"kind_misspelt",
     "sources:\n"
     "  office:\n"
     "    kind: caldev\n"  // 3:11
     "    url: https://cal.example.com/\n"
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     3, 11,
     "sources.office.kind must be folder, caldav, graph or ews, not 'caldev' (did you mean "
     "'caldav'?)"},
    {"source_name_with_slash",
     "sources:\n"
     "  a/b: {kind: folder, path: samples}\n"  // 2:3
     "mailboxes: [{address: a@b.example, source: a/b, org_domains: [b.example]}]\n",
     2, 3, "source name 'a/b' may contain only letters, digits"},
    {"folder_path_missing",
     "sources:\n"
     "  samples: {kind: folder, path: no-such-folder}\n"  // 2:33
         + mailboxes_ok,
     2, 33, "no-such-folder does not exist"},
    {"folder_path_not_a_folder",
     "sources:\n"
     "  samples: {kind: folder, path: not-a-folder.txt}\n"  // 2:33
         + mailboxes_ok,
     2, 33, "not-a-folder.txt is not a folder"},
    {"folder_without_path",
     "sources:\n"
     "  samples:\n"
     "    kind: folder\n"  // 3:5
         + mailboxes_ok,
     3, 5, "source 'samples' needs a path"},
    {"caldav_without_url",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"  // 3:5
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     3, 5, "source 'office' needs a url"},
    {"caldav_plain_http",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: http://cal.example.com/dav/\n"  // 4:10
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     4, 10,
     "sources.office.url: 'http://cal.example.com/dav/' must use https:// (http:// only to a "
     "loopback host"},
    {"caldav_not_a_url",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: cal.example.com\n"  // 4:10
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     4, 10, "sources.office.url: 'cal.example.com' is not a URL"},
    {"caldav_other_scheme",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: ftp://cal.example.com/\n"  // 4:10
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     4, 10, "must start with https://"},
    {"caldav_bad_port",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com:99999/\n"  // 4:10
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     4, 10, "has an invalid port '99999'"},
    {"caldav_no_host",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https:///dav/\n"  // 4:10
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     4, 10, "has no valid host name"},
    {"caldav_credentials_in_url",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://agendad:s3cr3t-Hunter2-do-not-print@cal.example.com/\n"  // 4:10
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     4, 10, "the URL must not contain a user name or password: use user and password_file"},
    {"caldav_credentials_without_scheme",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: \"agendad:s3cr3t-Hunter2-do-not-print @cal.example.com\"\n"  // 4:10
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     4, 10, "the URL must not contain a user name or password"},
    {"calendar_url_with_credentials",
     "sources:\n"
     "  office: {kind: caldav, url: \"https://cal.example.com/\"}\n"
     "mailboxes:\n"
     "  - address: a@b.example\n"
     "    source: office\n"
     "    calendar: https://a:s3cr3t-Hunter2-do-not-print@cal.example.com/dav/\n"  // 6:15
     "    org_domains: [b.example]\n",
     6, 15, "calendar must be a URL or a path on the server (/...): the URL must not contain"},
    {"caldav_user_without_password",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    user: agendad\n"  // 5:11
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     5, 11, "source 'office' has a user but no password_file"},
    {"caldav_password_without_user",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    password_file: secrets/caldav-password\n"  // 5:20
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     5, 20, "source 'office' has a password_file but no user"},
    {"ca_file_missing",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    ca_file: no-such-ca.pem\n"  // 5:14
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     5, 14, "sources.office.ca_file: "},
    {"smtp_without_host",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    smtp:\n"
     "      port: 587\n"  // 6:7
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     6, 7, "sources.office.smtp needs a host"},
    {"smtp_plain_to_remote_host",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    smtp:\n"
     "      host: smtp.example.com\n"
     "      security: none\n"  // 7:17
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     7, 17, "sources.office.smtp.security none sends the password and the replies in clear"},
    {"smtp_security_misspelt",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    smtp:\n"
     "      host: smtp.example.com\n"
     "      security: startls\n"  // 7:17
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     7, 17, "(did you mean 'starttls'?)"},
    {"smtp_user_without_password",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    smtp:\n"
     "      host: smtp.example.com\n"
     "      user: agendad\n"  // 7:13
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     7, 13, "sources.office.smtp has a user but no password_file"},
    {"smtp_from_not_an_address",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    smtp:\n"
     "      host: smtp.example.com\n"
     "      from: agendad\n"  // 7:13
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     7, 13, "sources.office.smtp.from 'agendad' is not an e-mail address"},

    // -- Microsoft Graph sources
    {"graph_without_tenant", graph_head + graph_client + graph_secret + graph_mailbox, 3, 5,
     "source 'm365' needs a tenant: the directory (tenant) id"},
    {"graph_tenant_common",
     graph_head + "    tenant: common\n"  // 4:13
         + graph_client + graph_secret + graph_mailbox,
     4, 13, "sources.m365.tenant 'common' cannot be used by a daemon"},
    {"graph_tenant_a_url",
     graph_head + "    tenant: https://login.microsoftonline.com/contoso.example\n"  // 4:13
         + graph_client + graph_secret + graph_mailbox,
     4, 13,
     "sources.m365.tenant 'https://login.microsoftonline.com/contoso.example' is neither a "
     "directory (tenant) id (a GUID) nor a domain name"},
    {"graph_type_instead_of_kind",
     "sources:\n"
     "  m365:\n"
     "    type: graph\n"  // 3:5
         + graph_tenant + graph_client + graph_secret + graph_mailbox,
     3, 5, "source 'm365': write kind: instead of type: (kind: folder, caldav, graph or ews)"},
    {"graph_poll_instead_of_poll_seconds",
     graph_ok + "    poll: 30\n"  // 7:5
         + graph_mailbox,
     7, 5, "unknown key 'poll' in source 'm365' (did you mean 'poll_seconds'?)"},
    {"graph_without_client_id", graph_head + graph_tenant + graph_secret + graph_mailbox, 3, 5,
     "source 'm365' needs a client_id: the application (client) id"},
    {"graph_client_id_not_a_guid",
     graph_head + graph_tenant + "    client_id: my-app\n"  // 5:16
         + graph_secret + graph_mailbox,
     5, 16, "sources.m365.client_id 'my-app' is not an application (client) id"},
    {"graph_without_credentials", graph_head + graph_tenant + graph_client + graph_mailbox, 3, 5,
     "source 'm365' needs the app's credential: certificate_file and private_key_file "
     "(recommended), or client_secret_file"},
    {"graph_secret_and_certificate",
     graph_ok  // client_secret_file at 6:25
         + "    certificate_file: graph/app.crt\n"
           "    private_key_file: secrets/app.key\n" +
         graph_mailbox,
     6, 25, "source 'm365' has both client_secret_file and a certificate: use one of the two"},
    {"graph_certificate_without_key",
     graph_head + graph_tenant + graph_client + "    certificate_file: graph/app.crt\n"  // 6:23
         + graph_mailbox,
     6, 23, "source 'm365' has a certificate_file but no private_key_file"},
    {"graph_key_without_certificate",
     graph_head + graph_tenant + graph_client + "    private_key_file: secrets/app.key\n"  // 6:23
         + graph_mailbox,
     6, 23, "source 'm365' has a private_key_file but no certificate_file"},
    {"graph_certificate_missing",
     graph_head + graph_tenant + graph_client +
         "    certificate_file: graph/missing.crt\n"  // 6:23
         "    private_key_file: secrets/app.key\n" +
         graph_mailbox,
     6, 23, "sources.m365.certificate_file: "},
    {"graph_certificate_not_pem",
     graph_head + graph_tenant + graph_client +
         "    certificate_file: not-a-folder.txt\n"  // 6:23
         "    private_key_file: secrets/app.key\n" +
         graph_mailbox,
     6, 23, "not-a-folder.txt holds no PEM certificate (-----BEGIN CERTIFICATE-----)"},
    {"graph_certificate_with_key_readable_by_others",
     graph_head + graph_tenant + graph_client +
         "    certificate_file: graph/combined.pem\n"  // 6:23
         "    private_key_file: secrets/app.key\n" +
         graph_mailbox,
     6, 23, "is readable by other users (mode 0644): chmod 600 "},
    {"graph_key_encrypted",
     graph_head + graph_tenant + graph_client +
         "    certificate_file: graph/app.crt\n"
         "    private_key_file: secrets/encrypted.key\n"  // 7:23
         + graph_mailbox,
     7, 23, "secrets/encrypted.key is encrypted: agendad needs the key without a passphrase"},
    {"graph_key_not_pem",
     graph_head + graph_tenant + graph_client +
         "    certificate_file: graph/app.crt\n"
         "    private_key_file: secrets/graph-secret\n"  // 7:23
         + graph_mailbox,
     7, 23, "secrets/graph-secret holds no PEM private key"},
    {"graph_key_readable_by_others",
     graph_head + graph_tenant + graph_client +
         "    certificate_file: graph/app.crt\n"
         "    private_key_file: graph/combined.pem\n"  // 7:23
         + graph_mailbox,
     7, 23, "graph/combined.pem is readable by other users (mode 0644): chmod 600 "},
    {"graph_secret_readable_by_others",
     graph_head + graph_tenant + graph_client +
         "    client_secret_file: secrets/world-readable\n"  // 6:25
         + graph_mailbox,
     6, 25, "sources.m365.client_secret_file: "},
    {"graph_url_plain_http",
     graph_ok + "    graph_url: http://graph.microsoft.com/v1.0\n"  // 7:16
         + graph_mailbox,
     7, 16,
     "sources.m365.graph_url: 'http://graph.microsoft.com/v1.0' must use https:// (http:// only "
     "to a loopback host"},
    {"graph_authority_not_a_url",
     graph_ok + "    authority: login.microsoftonline.com\n"  // 7:16
         + graph_mailbox,
     7, 16, "sources.m365.authority: 'login.microsoftonline.com' is not a URL"},
    {"graph_url_with_query",
     graph_ok + "    graph_url: https://graph.microsoft.com/v1.0?$top=5\n"  // 7:16
         + graph_mailbox,
     7, 16, "must not have a query or fragment"},
    {"graph_url_with_credentials",
     graph_ok + "    graph_url: https://app:s3cr3t-Hunter2-do-not-print@graph.example/v1.0\n" +
         graph_mailbox,
     7, 16,
     "sources.m365.graph_url: the URL must not contain a user name or password: the app's "
     "credentials go in their own files"},
    {"graph_ca_file_missing", graph_ok + "    ca_file: no-such-ca.pem\n" + graph_mailbox, 7, 14,
     "sources.m365.ca_file: "},
    {"graph_per_mailbox_requests_over_4",
     graph_ok + "    per_mailbox_requests: 5\n"  // 7:27
         + graph_mailbox,
     7, 27, "sources.m365.per_mailbox_requests must be between 1 and 4, not 5"},
    {"graph_window_ahead_zero",
     graph_ok + "    window_ahead_days: 0\n"  // 7:24
         + graph_mailbox,
     7, 24, "sources.m365.window_ahead_days must be between 1 and 1825, not 0"},
    {"graph_group_refresh_zero",
     graph_ok + "    group_refresh_seconds: 0\n"  // 7:28
         + graph_mailbox,
     7, 28, "sources.m365.group_refresh_seconds must be between 1 and 604800, not 0"},
    {"caldav_request_timeout_zero",
     "sources:\n"
     "  office:\n"
     "    kind: caldav\n"
     "    url: https://cal.example.com/\n"
     "    request_timeout_seconds: 0\n"  // 5:30
     "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n",
     5, 30, "sources.office.request_timeout_seconds must be between 1 and 3600, not 0"},
    {"graph_request_timeout_over_an_hour",
     graph_ok + "    request_timeout_seconds: 3601\n"  // 7:30
         + graph_mailbox,
     7, 30, "sources.m365.request_timeout_seconds must be between 1 and 3600, not 3601"},
    {"ews_request_timeout_not_a_number",
     ews_head + ews_login + "    request_timeout_seconds: ten\n"  // 7:30
         + ews_mailbox,
     7, 30, "sources.exchange.request_timeout_seconds must be a whole number, not 'ten'"},
    {"request_timeout_in_folder_source",
     "sources:\n"
     "  samples:\n"
     "    kind: folder\n"
     "    path: samples\n"
     "    request_timeout_seconds: 5\n"  // 5:5: a folder is not read over HTTP
         + mailboxes_ok,
     5, 5,
     "unknown key 'request_timeout_seconds' in source 'samples' (known: kind, path, outbox, "
     "poll_seconds)"},
    {"graph_misspelt_key",
     graph_head + "    tenent: contoso.example\n"  // 4:5; and then tenant is missing
         + graph_client + graph_secret + graph_mailbox,
     4, 5, "unknown key 'tenent' in source 'm365' (did you mean 'tenant'?)", 2},
    {"caldav_key_in_graph_source",
     graph_ok + "    url: https://graph.microsoft.com/\n"  // 7:5
         + graph_mailbox,
     7, 5, "unknown key 'url' in source 'm365' (known: kind, tenant, client_id"},
    {"notifications_without_public_url",
     graph_ok +
         "    notifications:\n"
         "      listen: 127.0.0.1:9300\n"  // the mapping: 8:7
         + graph_mailbox,
     8, 7, "sources.m365.notifications needs a public_url: the https:// address"},
    {"notifications_plain_http",
     graph_ok + "    notifications: {public_url: \"http://agendad.contoso.example/n\"}\n"  // 7:33
         + graph_mailbox,
     7, 33,
     "sources.m365.notifications.public_url: 'http://agendad.contoso.example/n' must use "
     "https:// (http:// only to a loopback host"},
    {"notifications_listen_without_port",
     graph_ok +
         "    notifications:\n"
         "      public_url: https://agendad.contoso.example/n\n"
         "      listen: 127.0.0.1\n"  // 9:15
         + graph_mailbox,
     9, 15, "sources.m365.notifications.listen must be host:port"},
    {"notifications_listen_is_the_status_listener",
     graph_ok +
         "    notifications:\n"
         "      public_url: https://agendad.contoso.example/n\n"
         "      listen: 0.0.0.0:9187\n"  // 9:15
         + graph_mailbox,
     9, 15,
     "sources.m365.notifications.listen 0.0.0.0:9187 is the status listener's address "
     "(status.listen 127.0.0.1:9187)"},
    {"notifications_listen_shared_by_two_sources",
     graph_ok + "    notifications: {public_url: \"https://a.example/n\"}\n" +
         "  m365b:\n"
         "    kind: graph\n" +
         graph_tenant + graph_client + graph_secret +
         "    notifications: {public_url: \"https://b.example/n\"}\n"  // 13:20
         "mailboxes:\n"
         "  - {address: a@b.example, source: m365, org_domains: [b.example]}\n"
         "  - {address: c@b.example, source: m365b, org_domains: [b.example]}\n",
     13, 20, "sources.m365b.notifications.listen 127.0.0.1:9188 is already used by source 'm365'"},
    {"notifications_misspelt_key",
     graph_ok +
         "    notifications:\n"
         "      public_url: https://agendad.contoso.example/n\n"
         "      lisen: 127.0.0.1:9300\n"  // 9:7
         + graph_mailbox,
     9, 7, "unknown key 'lisen' in sources.m365.notifications (did you mean 'listen'?)"},
    {"notifications_client_state_too_long",
     graph_ok +
         "    notifications:\n"
         "      public_url: https://agendad.contoso.example/n\n"
         "      client_state_file: secrets/long-client-state\n"  // 9:26
         + graph_mailbox,
     9, 26, "holds more than 128 characters, the most Graph accepts as clientState"},

    // -- group entries
    {"group_with_a_caldav_source",
     "sources:\n"
     "  office: {kind: caldav, url: \"https://cal.example.com/\"}\n"
     "mailboxes:\n"
     "  - group: " +
         a_group +
         "\n"  // 4:12
         "    source: office\n"
         "    org_domains: [b.example]\n",
     4, 12,
     "group '" + a_group +
         "' is only for graph sources (Entra groups): source 'office' is caldav; list its "
         "mailboxes by address"},
    {"group_with_a_folder_source",
     sources_ok + "mailboxes:\n  - group: " + a_group +
         "\n"  // 4:12
         "    source: samples\n"
         "    org_domains: [b.example]\n",
     4, 12, "source 'samples' is folder"},
    {"group_not_an_object_id",
     graph_ok + "mailboxes:\n"
                "  - group: execs@contoso.example\n"  // 8:12
                "    source: m365\n"
                "    org_domains: [b.example]\n",
     8, 12,
     "group 'execs@contoso.example' is not a group's object id: a GUID such as "
     "1b2c3d4e-0000-4000-8000-123456789abc (Entra admin center"},
    {"group_and_address",
     graph_ok +
         "mailboxes:\n"
         "  - address: a@b.example\n"
         "    group: " +
         a_group +
         "\n"  // 9:12
         "    source: m365\n"
         "    org_domains: [b.example]\n",
     9, 12, "a mailbox has an address or a group, not both"},
    {"group_repeated",
     graph_ok + "mailboxes:\n  - {group: " + a_group +
         ", source: m365, org_domains: [b.example]}\n"
         "  - {group: " +
         a_group + ", source: m365, org_domains: [c.example]}\n",  // 9:13
     9, 13, "group '" + a_group + "' is already listed on line 8 for source 'm365'"},
    {"calendar_on_a_graph_source",
     graph_ok + "mailboxes:\n"
                "  - address: a@b.example\n"
                "    source: m365\n"
                "    calendar: /calendars/a\n"  // 10:15
                "    org_domains: [b.example]\n",
     10, 15,
     "mailbox 'a@b.example' calendar is only for caldav sources: with source 'm365' (Microsoft "
     "Graph) agendad watches the mailbox's default calendar"},
    {"neither_address_nor_group",
     graph_ok + "mailboxes:\n"
                "  - source: m365\n"  // 8:5
                "    org_domains: [b.example]\n",
     8, 5,
     "a mailbox needs an address: the calendar owner's e-mail address (or, with a graph "
     "source, a group: an Entra group's object id)"},

    // -- status listener
    {"status_public_without_token", "status:\n  listen: 0.0.0.0:9187\n" + sources_ok + mailboxes_ok,
     2, 11, "status.listen 0.0.0.0:9187 is reachable from other machines: set status.token_file"},
    {"status_without_port", "status:\n  listen: 127.0.0.1\n" + sources_ok + mailboxes_ok, 2, 11,
     "status.listen must be host:port, e.g. 127.0.0.1:9187"},
    {"status_bad_port", "status:\n  listen: 127.0.0.1:http\n" + sources_ok + mailboxes_ok, 2, 11,
     "status.listen port must be a number between 1 and 65535, not 'http'"},
    {"status_ipv6_without_brackets",
     "status:\n  listen: \"::1:9187\"\n" + sources_ok + mailboxes_ok, 2, 11,
     "IPv6 addresses are written in brackets"},
    // An unquoted [::1]:9187 is not even YAML; [::1] alone is a list.
    {"status_ipv6_unquoted", "status:\n  listen: [::1]:9187\n" + sources_ok + mailboxes_ok, 2, 16,
     "YAML syntax: end of map not found (quote IPv6 addresses, e.g. \"[::1]:9187\")"},
    {"status_listen_a_list", "status:\n  listen: [::1]\n" + sources_ok + mailboxes_ok, 2, 11,
     "status.listen must be a text value; quote IPv6 addresses"},

    // -- secrets
    {"secret_readable_by_others",
     "status:\n"
     "  token_file: secrets/world-readable\n"  // 2:15
         + sources_ok + mailboxes_ok,
     2, 15, "is readable by other users (mode 0644): chmod 600 "},
    {"secret_missing",
     "status:\n"
     "  token_file: secrets/no-such-token\n"  // 2:15
         + sources_ok + mailboxes_ok,
     2, 15, "secrets/no-such-token does not exist"},
    {"secret_empty",
     "status:\n"
     "  token_file: secrets/empty\n"  // 2:15
         + sources_ok + mailboxes_ok,
     2, 15, "secrets/empty is empty"},
    // -- EWS sources
    {"ews_without_url",
     "sources:\n  exchange:\n    kind: ews\n" + ews_login + ews_mailbox, 3, 5,
     "source 'exchange' needs a url: the EWS endpoint"},
    {"ews_without_login", ews_head + ews_mailbox, 3, 5,
     "source 'exchange' needs user: and password_file: for the service account (auth: ntlm)"},
    {"ews_unknown_auth", ews_head + "    auth: kerberos\n" + ews_login + ews_mailbox, 5, 11,
     "sources.exchange.auth"},
    {"ews_basic_over_http",
     "sources:\n  exchange:\n    kind: ews\n"
     "    url: http://mail.contoso.example/EWS/Exchange.asmx\n"
     "    auth: basic\n" +
         ews_login + ews_mailbox,
     4, 10, "sources.exchange.url", 1},
    {"ews_oauth_with_a_user",
     ews_head + "    auth: oauth\n" + ews_login +
         "    oauth: {tenant: contoso.example, client_id: 11111111-2222-3333-4444-555555555555, "
         "client_secret_file: secrets/graph-secret}\n" +
         ews_mailbox,
     6, 5, "uses auth: oauth, which needs no user", 2},
    {"ews_oauth_without_app", ews_head + "    auth: oauth\n" + ews_mailbox, 3, 5,
     "with auth: oauth needs oauth: {tenant, client_id"},
    {"ews_oauth_block_without_oauth_auth",
     ews_head + ews_login + "    oauth: {tenant: contoso.example}\n" + ews_mailbox, 7, 5,
     "has oauth: but auth: ntlm"},
    {"ews_misspelt_key", ews_head + ews_login + "    impersonaton: true\n" + ews_mailbox, 7, 5,
     "unknown key 'impersonaton' in source 'exchange' (did you mean 'impersonation'?)"},
    {"ews_calendar_key",
     ews_head + ews_login +
         "mailboxes: [{address: a@b.example, source: exchange, org_domains: [b.example], "
         "calendar: /x/}]\n",
     7, 90, "calendar is only for caldav sources: with source 'exchange' (EWS)"},
    {"ews_group_entry",
     ews_head + ews_login + "mailboxes: [{group: " + a_group +
         ", source: exchange, org_domains: [b.example]}]\n",
     7, 21, "is only for graph sources (Entra groups): source 'exchange' is ews"},
    {"secret_is_a_folder",
     "status:\n"
     "  token_file: secrets\n"  // 2:15
         + sources_ok + mailboxes_ok,
     2, 15, "secrets is not a regular file"},
    {"secret_path_empty",
     "status:\n"
     "  token_file: \"\"\n"  // 2:15
         + sources_ok + mailboxes_ok,
     2, 15, "status.token_file must not be empty"},
};

INSTANTIATE_TEST_SUITE_P(all, bad_config, ::testing::ValuesIn(bad_cases),
                         [](const auto& param_info) { return param_info.param.name; });

// ---- several problems, secrets, policy files, warnings ----

TEST_F(daemon_config_files, reports_every_problem_in_file_order) {
    const daemon_config_load r = load(
        "log_level: loud\n"  // 1:12
        "status:\n"
        "  listen: 0.0.0.0:9187\n"  // 3:11
        "sources:\n"
        "  office:\n"
        "    kind: caldav\n"
        "    url: http://cal.example.com/\n"         // 7:10
        "    pasword_file: secrets/smtp-password\n"  // 8:5
        "mailboxes:\n"
        "  - address: a@b.example\n"
        "    source: ofice\n"  // 11:13
        "    org_domains: [b.example]\n"
        "    mode: on\n");  // 13:11
    EXPECT_FALSE(r.ok());
    EXPECT_THAT(locations(r.errors),
                ElementsAre(std::pair{1, 12}, std::pair{3, 11}, std::pair{7, 10}, std::pair{8, 5},
                            std::pair{11, 13}, std::pair{13, 11}))
        << describe(r.errors);
    EXPECT_TRUE(has_at(r.errors, 8, 5,
                       "unknown key 'pasword_file' in source 'office' (did you "
                       "mean 'password_file'?)"));
}

TEST_F(daemon_config_files, policy_file_problems_follow_the_line_that_names_the_file) {
    const daemon_config_load r = load(
        "log_level: loud\n"  // 1:12
        "policies:\n"
        "  broken: policy.d/broken_board.yaml\n"  // 3:11
        "  board: policy.d/board.yaml\n" +
        sources_ok + mailboxes_ok +
        "    policy: broken\n"
        "    mode: sometimes\n");  // 12:11
    EXPECT_FALSE(r.ok());
    const std::string broken = (dir_ / "policy.d/broken_board.yaml").string();
    ASSERT_EQ(r.errors.size(), 5u) << describe(r.errors);
    EXPECT_TRUE(has_at(r.errors, 1, 12, "log_level"));
    EXPECT_EQ(r.errors[1].to_string(),
              "agendad.yaml:3:11: policy 'broken': " + broken + " has 2 problems");
    // The policy file's own lines, in its own order.
    EXPECT_EQ(r.errors[2].file, broken);
    EXPECT_EQ(r.errors[2].line, 7);
    EXPECT_THAT(r.errors[2].message, HasSubstr("unknown signal 'untrusted_organiser'"));
    EXPECT_EQ(r.errors[3].file, broken);
    EXPECT_EQ(r.errors[3].line, 9);
    EXPECT_THAT(r.errors[3].message, HasSubstr("unknown key 'respnd'"));
    EXPECT_TRUE(has_at(r.errors, 12, 11, "mode must be dry-run or enforce"));
    EXPECT_EQ(r.errors[4].line, 12);
    // A policy that failed to load is still a defined name: no "unknown policy" on top.
    for (const auto& e : r.errors) EXPECT_THAT(e.message, Not(HasSubstr("unknown policy")));
}

TEST_F(daemon_config_files, missing_policy_file_is_named) {
    const daemon_config_load r = load(
        "policies:\n"
        "  board: policy.d/bord.yaml\n" +
        sources_ok + mailboxes_ok + "    policy: board\n");
    ASSERT_EQ(r.errors.size(), 1u) << describe(r.errors);
    EXPECT_EQ(r.errors[0].to_string(),
              "agendad.yaml:2:10: policy 'board': " + (dir_ / "policy.d/bord.yaml").string() +
                  " does not exist");
}

TEST_F(daemon_config_files, policy_file_warnings_are_included) {
    const daemon_config_load r = load(
        "policies:\n"
        "  spare: policy.d/unused_reply.yaml\n" +
        sources_ok + mailboxes_ok + "    policy: spare\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    ASSERT_EQ(r.warnings.size(), 1u) << describe(r.warnings);
    EXPECT_EQ(r.warnings[0].to_string(), (dir_ / "policy.d/unused_reply.yaml").string() +
                                             ":10:3: reply 'spare' is not used by any rule");
}

TEST_F(daemon_config_files, unused_sources_and_policies_are_warnings) {
    const daemon_config_load r = load(
        "policies:\n"
        "  board: policy.d/board.yaml\n"  // 2:3
        "sources:\n"
        "  samples: {kind: folder, path: samples}\n"
        "  spare: {kind: folder, path: samples}\n"  // 5:3
        "mailboxes:\n"
        "  - address: a@b.example\n"
        "    source: samples\n"
        "    org_domains: [b.example]\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    ASSERT_EQ(r.warnings.size(), 2u) << describe(r.warnings);
    EXPECT_TRUE(has_at(r.warnings, 2, 3, "policy 'board' is not used by any mailbox"));
    EXPECT_TRUE(has_at(r.warnings, 5, 3, "source 'spare' is not used by any mailbox"));
}

TEST_F(daemon_config_files, a_caldav_source_without_smtp_is_a_warning) {
    const daemon_config_load r = load(
        "sources:\n"
        "  office:\n"
        "    kind: caldav\n"  // 3:5, the source's mapping
        "    url: https://cal.example.com/\n"
        "mailboxes:\n"
        "  - {address: a@b.example, source: office, org_domains: [b.example]}\n");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    ASSERT_EQ(r.warnings.size(), 1u) << describe(r.warnings);
    EXPECT_TRUE(has_at(r.warnings, 3, 5,
                       "has no smtp: replies reach organizers only if the "
                       "server schedules itself"))
        << describe(r.warnings);
}

TEST_F(daemon_config_files, token_for_a_disabled_listener_is_a_warning) {
    const daemon_config_load r = load(
        "status:\n"
        "  listen: off\n"
        "  token_file: secrets/status-token\n" +
        sources_ok + mailboxes_ok);
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_TRUE(has_at(r.warnings, 3, 15, "status.token_file is not used"));
}

TEST_F(daemon_config_files, public_listener_with_token_is_fine) {
    const daemon_config_load r = load(
        "status:\n"
        "  listen: \"[2001:db8::1]:9187\"\n"
        "  token_file: secrets/status-token\n" +
        sources_ok + mailboxes_ok);
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_EQ(r.config->status_listen, "[2001:db8::1]:9187");
    EXPECT_EQ(r.config->status_token->value, secret_text);
}

TEST_F(daemon_config_files, secret_values_never_appear_in_any_message) {
    // Every secret setting wrong in some way, plus a URL with a password in it.
    write_file(dir_ / "secrets/open-password", std::string(secret_text), world_readable);
    const daemon_config_load r = load(
        "status:\n"
        "  listen: 0.0.0.0:1\n"
        "  token_file: secrets/world-readable\n"
        "sources:\n"
        "  office:\n"
        "    kind: caldav\n"
        "    url: https://user:s3cr3t-Hunter2-do-not-print@cal.example.com/\n"
        "    user: agendad\n"
        "    password_file: secrets/open-password\n"
        "    smtp: {host: smtp.example.com, user: u, password_file: secrets/empty}\n"
        "mailboxes: [{address: a@b.example, source: office, org_domains: [b.example]}]\n");
    EXPECT_FALSE(r.ok());
    EXPECT_GE(r.errors.size(), 4u) << describe(r.errors);
    expect_no_secret(r);
    EXPECT_TRUE(has_at(r.errors, 3, 15, "(mode 0644): chmod 600 "));
    EXPECT_TRUE(has_at(r.errors, 9, 20, "secrets/open-password is readable by other users"));
    EXPECT_TRUE(has_at(r.errors, 10, 60, "secrets/empty is empty"));
}

// ---- read_secret_file ----

class secret_files : public ::testing::Test {
  protected:
    void SetUp() override { dir_ = make_temp_dir("secrets"); }
    void TearDown() override {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    fs::path dir_;
};

TEST_F(secret_files, reads_an_owner_only_file_without_its_trailing_newline) {
    const fs::path p = dir_ / "token";
    write_file(p, "abc def\n", owner_only);
    std::string error;
    const auto s = read_secret_file(p, error);
    ASSERT_TRUE(s.has_value()) << error;
    EXPECT_EQ(s->value, "abc def");
    EXPECT_EQ(s->file, p);
}

TEST_F(secret_files, trims_only_one_trailing_newline) {
    const fs::path p = dir_ / "token";
    write_file(p, "abc\n\n", owner_only);
    std::string error;
    EXPECT_EQ(read_secret_file(p, error)->value, "abc\n");
    write_file(p, "abc\r\n", owner_only);
    EXPECT_EQ(read_secret_file(p, error)->value, "abc") << "a Windows line end is one newline";
    write_file(p, "abc", owner_only);
    EXPECT_EQ(read_secret_file(p, error)->value, "abc");
}

TEST_F(secret_files, read_only_owner_file_is_fine) {
    const fs::path p = dir_ / "token";
    write_file(p, "abc", fs::perms::owner_read);  // as systemd's LoadCredential= leaves it
    std::string error;
    EXPECT_TRUE(read_secret_file(p, error).has_value()) << error;
}

TEST_F(secret_files, refuses_a_file_others_can_read_with_the_fix) {
    const fs::path p = dir_ / "token";
    write_file(p, std::string(secret_text), world_readable);
    std::string error;
    EXPECT_FALSE(read_secret_file(p, error).has_value());
    EXPECT_EQ(error,
              p.string() + " is readable by other users (mode 0644): chmod 600 " + p.string());
}

TEST_F(secret_files, refuses_group_permissions_too) {
    const fs::path p = dir_ / "token";
    write_file(p, "abc", owner_only | fs::perms::group_read);
    std::string error;
    EXPECT_FALSE(read_secret_file(p, error).has_value());
    EXPECT_THAT(error, HasSubstr("(mode 0640): chmod 600 "));
    write_file(p, "abc", owner_only | fs::perms::others_write);
    EXPECT_FALSE(read_secret_file(p, error).has_value());
    EXPECT_THAT(error, HasSubstr("is writable by other users (mode 0602)"));
}

TEST_F(secret_files, refuses_missing_empty_and_non_regular_files) {
    std::string error;
    EXPECT_FALSE(read_secret_file(dir_ / "missing", error).has_value());
    EXPECT_EQ(error, (dir_ / "missing").string() + " does not exist");

    write_file(dir_ / "empty", "", owner_only);
    EXPECT_FALSE(read_secret_file(dir_ / "empty", error).has_value());
    EXPECT_EQ(error, (dir_ / "empty").string() + " is empty");

    write_file(dir_ / "newline", "\n", owner_only);
    EXPECT_FALSE(read_secret_file(dir_ / "newline", error).has_value());
    EXPECT_EQ(error, (dir_ / "newline").string() + " is empty");

    fs::create_directories(dir_ / "folder");
    fs::permissions(dir_ / "folder", fs::perms::owner_all, fs::perm_options::replace);
    EXPECT_FALSE(read_secret_file(dir_ / "folder", error).has_value());
    EXPECT_EQ(error, (dir_ / "folder").string() + " is not a regular file");

    const fs::path fifo = dir_ / "fifo";
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    EXPECT_FALSE(read_secret_file(fifo, error).has_value()) << "and does not hang";
    EXPECT_EQ(error, fifo.string() + " is not a regular file");
}

// ---- the demo and names ----

TEST(config_demo, has_the_documented_values) {
    const daemon_config c = demo_config("/usr/share/agendad/samples", "/tmp/agendad-demo");
    EXPECT_EQ(c.source_file, "built-in demo");
    EXPECT_EQ(c.state_directory, fs::path("/tmp/agendad-demo"));
    EXPECT_EQ(c.status_listen, "") << "the demo must not clash with a running daemon";
    EXPECT_FALSE(c.status_token.has_value());
    ASSERT_EQ(c.policies.size(), 1u);
    EXPECT_EQ(c.policies.at("executive").source, builtin_executive_policy_name);
    ASSERT_EQ(c.sources.size(), 1u);
    const source_config& s = c.sources.at("samples");
    EXPECT_EQ(s.name, "samples");
    EXPECT_EQ(s.kind, source_kind::folder);
    EXPECT_EQ(s.folder.path, fs::path("/usr/share/agendad/samples"));
    EXPECT_EQ(s.folder.outbox, fs::path("/tmp/agendad-demo/outbox/samples"));
    EXPECT_EQ(s.folder.poll, std::chrono::seconds(2));
    ASSERT_EQ(c.mailboxes.size(), 1u);
    const mailbox_config& m = c.mailboxes[0];
    EXPECT_EQ(m.address, "alex.morgan@fabrikam.example");
    EXPECT_EQ(m.source, "samples");
    EXPECT_THAT(m.org_domains, ElementsAre("fabrikam.example"));
    EXPECT_EQ(m.policy, "executive");
    EXPECT_EQ(m.mode, mailbox_mode::dry_run);
    EXPECT_EQ(c.agenda_deadline_hours, 24);
    EXPECT_EQ(c.max_declines_per_hour, 20);
}

TEST(config_names, log_levels_and_modes_read_as_written_in_the_file) {
    EXPECT_EQ(name_of(log_level::debug), "debug");
    EXPECT_EQ(name_of(log_level::info), "info");
    EXPECT_EQ(name_of(log_level::warning), "warning");
    EXPECT_EQ(name_of(log_level::error), "error");
    EXPECT_EQ(name_of(mailbox_mode::dry_run), "dry-run");
    EXPECT_EQ(name_of(mailbox_mode::enforce), "enforce");
}

// ---- `agendad check` on daemon configurations (the built binary) ----

class daemon_config_check_cli : public agendad::test_support::cli_fixture {};
using agendad::test_support::run_result;

TEST_F(daemon_config_check_cli, example_configuration_is_ok_with_a_summary) {
    const fs::path base = dir_ / "etc/agendad";
    fs::create_directories(base / "policy.d");
    fs::copy_file(data_dir / "board.yaml", base / "policy.d/board.yaml");
    const fs::path file = write("etc/agendad/agendad.yaml", rooted_example(dir_));
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_EQ(r.out, file.string() +
                         ": OK: 3 mailboxes (2 enforce, 1 dry-run), 2 sources, 1 policy file\n");
    EXPECT_THAT(r.out, Not(HasSubstr(std::string(secret_text))));
}

TEST_F(daemon_config_check_cli, config_option_checks_the_file_as_a_configuration) {
    fs::create_directories(dir_ / "samples");
    // No mailboxes or sources: without --config this would be read as a policy.
    const fs::path file = write("agendad.yaml", "log_level: info\n");
    const run_result r = run({"check", "--config", file.string()});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_THAT(r.out, HasSubstr(file.string() +
                                 ":1:1: nothing to watch: the configuration has no mailboxes"));
    EXPECT_THAT(r.out, HasSubstr(file.string() + ": 1 problem(s)"));

    const fs::path good = write("good.yaml",
                                "sources: {s: {kind: folder, path: samples}}\n"
                                "mailboxes: [{address: a@b.example, source: s, "
                                "org_domains: [b.example]}]\n");
    const run_result ok = run({"check", "--config=" + good.string()});
    EXPECT_EQ(ok.status, 0) << ok.out << ok.err;
    EXPECT_EQ(ok.out,
              good.string() + ": OK: 1 mailbox (0 enforce, 1 dry-run), 1 source, 0 policy files\n");
}

TEST_F(daemon_config_check_cli, lists_configuration_and_policy_problems_and_warnings) {
    fs::create_directories(dir_ / "samples");
    fs::copy_file(data_dir / "broken_board.yaml", dir_ / "broken_board.yaml");
    const fs::path file = write("agendad.yaml",
                                "policies:\n"
                                "  broken: broken_board.yaml\n"
                                "sources:\n"
                                "  s: {kind: folder, path: samples}\n"
                                "  spare: {kind: folder, path: samples}\n"
                                "mailboxes:\n"
                                "  - address: a@b.example\n"
                                "    source: s\n"
                                "    org_domains: [b.example]\n"
                                "    policy: broken\n");
    const run_result r = run({"check", file.string()});
    EXPECT_EQ(r.status, 1);
    const std::string broken = (dir_ / "broken_board.yaml").string();
    EXPECT_THAT(r.out, HasSubstr(file.string() + ":2:11: policy 'broken': " + broken +
                                 " has 2 problems\n" + broken + ":7:"));
    EXPECT_THAT(r.out, HasSubstr("warning: " + file.string() +
                                 ":5:3: source 'spare' is not used by any mailbox"));
    EXPECT_THAT(r.out, HasSubstr(file.string() + ": 3 problem(s)"));
}

TEST_F(daemon_config_check_cli, policy_files_are_still_policies) {
    const fs::path policy = write("board.yaml", read_file(data_dir / "board.yaml"));
    const run_result r = run({"check", policy.string()});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr(policy.string() + ": OK: policy 'board'"));
}

TEST_F(daemon_config_check_cli, config_option_without_a_file_is_a_usage_error) {
    const run_result r = run({"check", "--config"});
    EXPECT_EQ(r.status, 2);
    EXPECT_THAT(r.out, IsEmpty());
    EXPECT_THAT(r.err, HasSubstr("--config needs a FILE"));
}

TEST_F(daemon_config_check_cli, help_describes_configurations) {
    const run_result r = run({"check", "--help"});
    EXPECT_EQ(r.status, 0);
    EXPECT_THAT(r.out, HasSubstr("--config FILE"));
    EXPECT_THAT(r.out, HasSubstr("/etc/agendad/agendad.yaml"));
}

TEST_F(daemon_config_check_cli, without_arguments_says_what_it_checks) {
    if (fs::exists(default_config_path)) GTEST_SKIP() << "this machine has a configuration";
    const run_result r = run({"check"});
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_THAT(r.out, HasSubstr("no /etc/agendad/agendad.yaml: checking the built-in executive "
                                 "policy"));
}

}  // namespace
}  // namespace agendad::config
