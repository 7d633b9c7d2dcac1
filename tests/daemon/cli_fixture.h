// Runs the built agendad the way a user does, for the command-line tests: a per-test directory
// for inputs and captured output, the exit status, stdout and stderr, and sanitizer reports.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/files.h"

extern char** environ;

namespace agendad::test_support {

struct run_result {
    int status = -1;  // exit status, or 128 + signal number
    std::string out;
    std::string err;
};

class cli_fixture : public ::testing::Test {
  protected:
    void SetUp() override {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::random_device random;
        dir_ = std::filesystem::temp_directory_path() /
               ("agendad-" + std::string(info->test_suite_name()) + "-" +
                std::string(info->name()) + "-" + std::to_string(random()));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::filesystem::path write(const std::string& name, std::string_view text) const {
        const std::filesystem::path p = dir_ / name;
        std::filesystem::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }

    // Runs the built agendad. Output goes to files rather than pipes so that a chatty child can
    // never block on a full pipe; `input`, when given, is its stdin (else /dev/null).
    run_result run(const std::vector<std::string>& args,
                   const std::optional<std::string>& input = std::nullopt) {
        const std::string tag = std::to_string(++runs_);
        const std::filesystem::path out_path = dir_ / (".stdout-" + tag);
        const std::filesystem::path err_path = dir_ / (".stderr-" + tag);
        const std::filesystem::path in_path =
            input ? write(".stdin-" + tag, *input) : std::filesystem::path("/dev/null");

        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, in_path.c_str(), O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, out_path.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(),
                                         O_WRONLY | O_CREAT | O_TRUNC, 0600);
        std::vector<std::string> argv_text{AGENDAD_BINARY};
        argv_text.insert(argv_text.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_text) argv.push_back(a.data());
        argv.push_back(nullptr);

        run_result r;
        pid_t pid = 0;
        const int spawned =
            posix_spawn(&pid, AGENDAD_BINARY, &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (spawned != 0) {
            ADD_FAILURE() << "cannot run " << AGENDAD_BINARY << ": " << std::strerror(spawned);
            return r;
        }
        int wstatus = 0;
        while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
        }
        r.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
        r.out = read_file(out_path);
        r.err = read_file(err_path);
        // In the sanitizer build a report is a failure even with a good status.
        const bool sanitizer_report = r.err.find("Sanitizer") != std::string::npos ||
                                      r.err.find("runtime error:") != std::string::npos;
        EXPECT_FALSE(sanitizer_report) << "agendad " << ::testing::PrintToString(args) << ":\n"
                                       << r.err.substr(0, 3000);
        return r;
    }

    // A daemon started in the background: its pid and where its output goes.
    struct running {
        pid_t pid = -1;
        std::filesystem::path out, err;
    };

    // Starts the built agendad without waiting; `env` entries ("NAME=value") are added to the
    // environment.
    running start(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
        const std::string tag = std::to_string(++runs_);
        running r{-1, dir_ / (".stdout-" + tag), dir_ / (".stderr-" + tag)};
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, r.out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_addopen(&actions, 2, r.err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        std::vector<std::string> argv_text{AGENDAD_BINARY};
        argv_text.insert(argv_text.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& a : argv_text) argv.push_back(a.data());
        argv.push_back(nullptr);
        std::vector<std::string> env_text;
        for (char** e = environ; *e; ++e) env_text.emplace_back(*e);
        env_text.insert(env_text.end(), env.begin(), env.end());
        std::vector<char*> envp;
        for (auto& e : env_text) envp.push_back(e.data());
        envp.push_back(nullptr);
        const int spawned = posix_spawn(&r.pid, AGENDAD_BINARY, &actions, nullptr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        if (spawned != 0) ADD_FAILURE() << "cannot run " << AGENDAD_BINARY << ": " << std::strerror(spawned);
        return r;
    }

    // Waits for a started daemon (at most `limit`, then kills it and fails) and collects its output.
    run_result wait(running& r, std::chrono::milliseconds limit = std::chrono::seconds{20}) {
        run_result out;
        const auto deadline = std::chrono::steady_clock::now() + limit;
        int wstatus = 0;
        while (true) {
            const pid_t done = waitpid(r.pid, &wstatus, WNOHANG);
            if (done == r.pid) break;
            if (std::chrono::steady_clock::now() > deadline) {
                ::kill(r.pid, SIGKILL);
                waitpid(r.pid, &wstatus, 0);
                ADD_FAILURE() << "agendad did not stop within " << limit.count() << " ms";
                break;
            }
            ::usleep(10000);
        }
        out.status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
        out.out = read_file(r.out);
        out.err = read_file(r.err);
        r.pid = -1;
        return out;
    }

    std::filesystem::path dir_;
    int runs_ = 0;
};

}  // namespace agendad::test_support
