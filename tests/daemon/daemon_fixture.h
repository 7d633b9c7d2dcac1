// What the daemon's end-to-end tests share on top of cli_fixture: the journal as
// `agendad decisions --json` prints it, kill -9 at random points, the exactly-once check, the
// labelled set's rows, and waiting for a condition.
// Also the labelled mailbox as a folder source: its configuration, the replies it must produce
// and what its outbox holds (shared by run_cli_test and store_faults_test).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "calendar/ical/parse.h"
#include "cli_fixture.h"

namespace agendad::test_support {

// One row of ../shared/labeled-invitations/labels.tsv that says what to do.
struct labelled_row {
    std::string file;      // "d01.ics" (under invites/)
    std::string expected;  // leave | request_agenda | decline
    bool silent = false;   // a decline without a response ("without sending" in the reason)
};

inline std::vector<labelled_row> read_labelled_rows(const std::filesystem::path& labelled) {
    std::vector<labelled_row> out;
    std::ifstream in(labelled / "labels.tsv");
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::istringstream f(line);
        labelled_row row;
        std::string why;
        std::getline(f, row.file, '\t');
        std::getline(f, row.expected, '\t');
        std::getline(f, why);
        if (row.expected.empty()) continue;  // no action given: not part of the set
        row.file = std::filesystem::path(row.file).filename().string();
        row.silent = why.find("without sending") != std::string::npos;
        out.push_back(row);
    }
    return out;
}

// The labelled set's owner: the mailbox its invitations are addressed to.
inline constexpr const char* labelled_owner = "dana.whitfield@contoso.example";

// The replies the labelled set in `labelled` must produce in enforce mode: UID → PARTSTAT.
inline std::map<std::string, std::string> expected_labelled_replies(
    const std::filesystem::path& labelled) {
    std::map<std::string, std::string> out;
    for (const auto& row : read_labelled_rows(labelled)) {
        if (row.expected == "leave" || row.silent) continue;
        auto parsed = calendar::parse_ics_file(labelled / "invites" / row.file);
        EXPECT_TRUE(parsed && !parsed->events.empty()) << row.file;
        if (!parsed || parsed->events.empty()) continue;
        out[parsed->events.front().uid] = row.expected == "decline" ? "DECLINED" : "TENTATIVE";
    }
    return out;
}

// What a folder source's outbox holds: UID → PARTSTAT, with a failure for anything that is not
// a proper REPLY from the labelled owner or that answers the same meeting twice.
inline std::map<std::string, std::string> replies_in(const std::filesystem::path& outbox) {
    std::map<std::string, std::string> out;
    if (!std::filesystem::exists(outbox)) return out;
    for (const auto& f : std::filesystem::directory_iterator(outbox)) {
        // A reply being written is a dot-file until it is renamed into place, whole.
        if (f.path().filename().string().front() == '.') continue;
        if (f.path().extension() != ".ics") {
            ADD_FAILURE() << "unexpected file in the outbox: " << f.path();
            continue;
        }
        const std::string text = read_file(f.path());
        EXPECT_NE(text.find("METHOD:REPLY"), std::string::npos) << f.path();
        auto parsed = calendar::parse_ics(text, f.path().string(), {labelled_owner});
        if (!parsed || parsed->events.size() != 1 || !parsed->errors.empty()) {
            ADD_FAILURE() << "not a readable reply: " << f.path();
            continue;
        }
        const auto& e = parsed->events.front();
        EXPECT_EQ(e.attendees.size(), 1u) << f.path();
        EXPECT_TRUE(e.owner.has_value()) << "the reply must speak for the owner: " << f.path();
        const std::string status(
            calendar::to_string(e.owner ? e.owner->partstat : calendar::partstat::none));
        EXPECT_FALSE(out.count(e.uid)) << "two replies for one meeting: " << e.uid;
        out[e.uid] = status;
    }
    return out;
}

// Polls `done` every 50 ms until it holds or `limit` passes.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return done();
}

// The labelled set's clock: its invitations are judged as of this time.
inline constexpr const char* labelled_now = "2026-11-20T09:00:00Z";

class daemon_fixture : public cli_fixture {
  protected:
    std::filesystem::path state_dir() const { return dir_ / "state"; }

    // A copy of the labelled mailbox as a folder source (replies into outbox()), and a
    // configuration for it with the state in state_dir().
    std::filesystem::path labelled_mailbox(const std::string& mode, int max_declines = 100,
                                           const std::string& extra_sources = "",
                                           const std::string& status_listen = "off") {
        const std::filesystem::path labelled =
            std::filesystem::path(AGENDAD_SHARED_DIR) / "labeled-invitations";
        const std::filesystem::path calendar = dir_ / "calendar";
        std::filesystem::create_directories(calendar);
        std::filesystem::copy(labelled / "invites", calendar / "invites",
                              std::filesystem::copy_options::recursive |
                                  std::filesystem::copy_options::skip_existing);
        std::filesystem::copy_file(labelled / "calendar.ics", calendar / "calendar.ics",
                                   std::filesystem::copy_options::skip_existing);
        std::ostringstream yaml;
        yaml << "state_directory: " << state_dir().string() << "\n"
             << "log_level: info\n"
             << "status: {listen: \"" << status_listen << "\"}\n"
             << "defaults: {max_declines_per_hour: " << max_declines << "}\n"
             << "sources:\n"
             << "  dana-folder:\n"
             << "    kind: folder\n"
             << "    path: " << calendar.string() << "\n"
             << "    outbox: " << outbox().string() << "\n"
             << "    poll_seconds: 1\n"
             << extra_sources << "mailboxes:\n"
             << "  - address: " << labelled_owner << "\n"
             << "    source: dana-folder\n"
             << "    org_domains: [contoso.example]\n"
             << "    mode: " << mode << "\n";
        return write("agendad.yaml", yaml.str());
    }
    std::filesystem::path outbox() const { return dir_ / "outbox"; }

    // `agendad run` with configuration `cfg` at the labelled set's clock.
    static std::vector<std::string> run_args(const std::filesystem::path& cfg) {
        return {"run", "--config", cfg.string(), "--now", labelled_now};
    }

    // One pass (--once) and its exit status.
    run_result once(const std::filesystem::path& cfg) {
        auto args = run_args(cfg);
        args.push_back("--once");
        return run(args);
    }

    // SIGTERM to a daemon started with start(), and its exit status.
    run_result stop(running& d) {
        ::kill(d.pid, SIGTERM);
        return wait(d);
    }

    // Every journal entry, newest first.
    std::vector<boost::json::object> journal() {
        const run_result r = run({"decisions", "--state-dir", state_dir().string(), "--json"});
        EXPECT_EQ(r.status, 0) << r.err;
        std::vector<boost::json::object> out;
        std::istringstream lines(r.out);
        std::string line;
        while (std::getline(lines, line)) out.push_back(boost::json::parse(line).as_object());
        return out;
    }

    // Starts `agendad args` `rounds` times and kills it with SIGKILL after a random time in
    // [min_ms, min_ms + spread_ms): a crash anywhere in its work.
    void kill_9_repeatedly(const std::vector<std::string>& args, int rounds, int min_ms,
                           int spread_ms) {
        std::mt19937 random(20261122);
        for (int round = 0; round < rounds; ++round) {
            running d = start(args);
            std::this_thread::sleep_for(
                std::chrono::milliseconds(min_ms + static_cast<int>(random() % spread_ms)));
            ::kill(d.pid, SIGKILL);
            wait(d);
        }
    }

    // Every decision finished (done, or left alone), and one per meeting version.
    void expect_each_version_decided_once() {
        std::set<std::string> keys;
        for (const auto& e : journal()) {
            const std::string state(e.at("state").as_string());
            EXPECT_TRUE(state == "done" || state == "left") << boost::json::serialize(e);
            const std::string key = std::string(e.at("uid").as_string()) + "#" +
                                    std::to_string(e.at("sequence").as_int64());
            EXPECT_TRUE(keys.insert(key).second) << "two decisions for " << key;
        }
    }
};

}  // namespace agendad::test_support
