// What the end-to-end tests of the calendar sources (CalDAV, Graph, EWS) share on top of
// daemon_fixture: the check that no secret ever shows.
//
// Issue 6: secrets (passwords, client secrets, the status token) never appear in logs, metrics,
// `decisions` or crash output. The check runs the daemon as verbosely as it gets (debug logs)
// with the status listener on, takes everything a person or a log collector can see, and looks
// for each secret in every form it travels in: as written, base64 of "user:secret" (HTTP Basic),
// base64 of the secret alone, and percent-encoded (a form body, an OAuth token request).
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "calendar/encoding.h"
#include "daemon_fixture.h"
#include "http_get.h"
#include "support/process.h"

namespace agendad::test_support {

// A secret as the test wrote it into a secret file, and the user it goes with (for HTTP Basic).
struct test_secret {
    std::string value;
    std::string user;  // empty: not sent with HTTP Basic
};

// Every form in which `s` could leak.
inline std::vector<std::string> leak_forms(const test_secret& s) {
    std::vector<std::string> out{s.value, calendar::encoding::base64(s.value)};
    // base64 drops its padding when embedded in longer text; match without it.
    while (!out.back().empty() && out.back().back() == '=') out.back().pop_back();
    if (!s.user.empty()) out.push_back(calendar::encoding::base64(s.user + ":" + s.value));
    std::string encoded;
    for (unsigned char c : s.value) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            encoded += static_cast<char>(c);
        } else {
            static constexpr char hex[] = "0123456789ABCDEF";
            encoded += '%';
            encoded += hex[c >> 4];
            encoded += hex[c & 15];
        }
    }
    if (encoded != s.value) out.push_back(encoded);
    return out;
}

class e2e_fixture : public daemon_fixture {
  protected:
    // Runs agendad on `cfg` (a configuration with `log_level: info` and `status: {listen: "off"}`
    // lines, as the e2e fixtures write it) at debug level with a status listener and a token, until
    // `worked` holds; reads /metrics and /v1/decisions (with and without the token), `check`,
    // `decisions` and `decisions --json`; kills it with SIGABRT (crash output); runs it once more
    // with a wrong secret in `secret_file`; and reads the state files. None of it may contain any
    // form of `secrets` or of the status token.
    void expect_secrets_never_shown(const std::filesystem::path& cfg,
                                    const std::filesystem::path& secret_file,
                                    std::vector<test_secret> secrets,
                                    const std::function<bool()>& worked,
                                    const std::string& mailbox) {
        const std::string token = "status-T0ken+" + random_hex(12);
        const std::filesystem::path token_file = write("secrets/status-token", token + "\n");
        std::filesystem::permissions(token_file, std::filesystem::perms::owner_read |
                                                     std::filesystem::perms::owner_write);
        secrets.push_back({token, ""});
        const int port = free_loopback_port();
        const std::filesystem::path verbose = verbose_copy(cfg, port, token_file);

        std::vector<std::pair<std::string, std::string>> seen;  // where, what
        const run_result checked = run({"check", verbose.string()});
        EXPECT_EQ(checked.status, 0) << checked.out << checked.err;
        seen.emplace_back("agendad check", checked.out + checked.err);

        running d = start(run_args(verbose));
        EXPECT_TRUE(eventually(worked, std::chrono::seconds{60})) << read_file(d.err);
        const std::string metrics = http_get(port, "/metrics", token);
        EXPECT_THAT(metrics, ::testing::HasSubstr("agendad_decisions_total"));
        seen.emplace_back("/metrics", metrics);
        const std::string decisions = http_get(port, "/v1/decisions", token);
        EXPECT_THAT(decisions, ::testing::HasSubstr("\"mailbox\":\"" + mailbox + "\""));
        seen.emplace_back("/v1/decisions", decisions);
        const std::string refused = http_get(port, "/v1/decisions", "wrong-" + token);
        EXPECT_THAT(refused, ::testing::HasSubstr("HTTP/1.1 401"));
        seen.emplace_back("/v1/decisions with a wrong token", refused);
        seen.emplace_back("/metrics without a token", http_get(port, "/metrics"));
        seen.emplace_back("/healthz", http_get(port, "/healthz"));

        ::kill(d.pid, SIGABRT);
        const run_result crashed = wait(d);
        EXPECT_EQ(crashed.status, 128 + SIGABRT);
        // The log is there to be searched: it holds the decisions, at debug level.
        EXPECT_THAT(crashed.err, ::testing::HasSubstr(mailbox));
        seen.emplace_back("agendad run, debug log up to SIGABRT", crashed.out + crashed.err);

        const run_result listed = run({"decisions", "--state-dir", state_dir().string()});
        EXPECT_EQ(listed.status, 0) << listed.err;
        seen.emplace_back("agendad decisions", listed.out + listed.err);
        const run_result json = run({"decisions", "--state-dir", state_dir().string(), "--json"});
        seen.emplace_back("agendad decisions --json", json.out + json.err);

        // What the server refuses is where a careless error message would quote the secret.
        const std::string good = read_file(secret_file);
        const test_secret wrong{"wrong-Pw+" + random_hex(10), secrets.front().user};
        write_secret(secret_file, wrong.value + "\n");
        const run_result refused_run = once(verbose);
        write_secret(secret_file, good);
        // Refused, and said: for the mailbox (a password the server refuses) or for the file (a
        // key that is not one).
        EXPECT_NE(refused_run.status, 0) << refused_run.err;
        EXPECT_TRUE(refused_run.err.find(mailbox) != std::string::npos ||
                    refused_run.err.find(secret_file.string()) != std::string::npos)
            << refused_run.err;
        seen.emplace_back("agendad run with a wrong secret", refused_run.out + refused_run.err);
        secrets.push_back(wrong);

        // The journal and its -wal and -shm, whatever they are called.
        std::size_t state_files = 0;
        for (const auto& f : std::filesystem::directory_iterator(state_dir())) {
            if (!f.is_regular_file()) continue;
            seen.emplace_back(f.path().string(), read_file(f.path()));
            ++state_files;
        }
        EXPECT_GE(state_files, 1u) << "no state file in " << state_dir();

        for (const auto& s : secrets) {
            for (const auto& form : leak_forms(s)) {
                for (const auto& [where, text] : seen) {
                    EXPECT_EQ(text.find(form), std::string::npos)
                        << "a secret (as \"" << form << "\") shows in " << where;
                }
            }
        }
    }

    // `cfg` without its ca_file line: the server's test CA is then unknown, as a server with a
    // certificate from an untrusted CA would be.
    std::filesystem::path without_ca_file(const std::filesystem::path& cfg) const {
        std::istringstream in(read_file(cfg));
        std::string yaml, line;
        bool dropped = false;
        while (std::getline(in, line)) {
            if (line.find("ca_file:") != std::string::npos) {
                dropped = true;
                continue;
            }
            yaml += line + "\n";
        }
        EXPECT_TRUE(dropped) << "no ca_file line in " << cfg;
        return write("agendad-untrusting.yaml", yaml);
    }

    // One pass with the server's CA unknown: nothing reaches the server, and the log names the
    // mailbox and why.
    void expect_untrusted_server_refused(const std::filesystem::path& cfg,
                                         const std::string& mailbox) {
        const auto started = std::chrono::steady_clock::now();
        const run_result r = once(without_ca_file(cfg));
        EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds{10}) << r.err;
        EXPECT_THAT(r.err, ::testing::HasSubstr(mailbox));
        EXPECT_THAT(r.err, ::testing::HasSubstr(
                               "certificate rejected: unable to get local issuer certificate"));
    }

  private:
    static std::string random_hex(int n) {
        static std::mt19937_64 random{std::random_device{}()};
        std::string out;
        for (int i = 0; i < n; ++i) out += "0123456789abcdef"[random() % 16];
        return out;
    }

    void write_secret(const std::filesystem::path& p, const std::string& text) const {
        std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
        std::filesystem::permissions(
            p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    }

    // `cfg` with debug logs and the status listener on 127.0.0.1:port behind `token_file`.
    std::filesystem::path verbose_copy(const std::filesystem::path& cfg, int port,
                                       const std::filesystem::path& token_file) const {
        std::string yaml = read_file(cfg);
        const auto replace = [&yaml](const std::string& from, const std::string& to) {
            const auto at = yaml.find(from);
            EXPECT_NE(at, std::string::npos) << "no line \"" << from << "\" in the configuration";
            if (at != std::string::npos) yaml.replace(at, from.size(), to);
        };
        replace("log_level: info\n", "log_level: debug\n");
        replace("status: {listen: \"off\"}\n",
                "status: {listen: \"127.0.0.1:" + std::to_string(port) +
                    "\", token_file: " + token_file.string() + "}\n");
        return write("agendad-verbose.yaml", yaml);
    }
};

}  // namespace agendad::test_support
