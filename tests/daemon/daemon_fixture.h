// What the daemon's end-to-end tests share on top of cli_fixture: the journal as
// `agendad decisions --json` prints it, kill -9 at random points, the exactly-once check, the
// labelled set's rows, and waiting for a condition.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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
