// Pieces the test harnesses share: temporary folders, free loopback ports, and child processes
// that never outlive the test (real servers such as Radicale and aiosmtpd run as children).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace agendad::test_support {

// AGENDAD_TEST_VERBOSE is set (and not "0"): servers log at debug level, and their log is copied
// to the test's stderr whenever they stop. Otherwise they log warnings, only into their folder.
bool test_verbose();

// With AGENDAD_TEST_VERBOSE, copies what `log` gained since `offset` to stderr, each line after
// `label`, and moves `offset` to the end; without, does nothing.
void echo_log_if_verbose(const std::filesystem::path& log, std::uintmax_t& offset,
                         const std::string& label);

// A fresh folder under the system's temporary directory, removed with everything in it.
class temp_folder final {
  public:
    explicit temp_folder(const std::string& prefix = "agendad-test");
    ~temp_folder();
    temp_folder(const temp_folder&) = delete;
    temp_folder& operator=(const temp_folder&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then closed). Another process
// may take it before we do: starting servers retry on "address in use".
std::uint16_t free_loopback_port();

// A port on 127.0.0.1 that the test holds with a listening socket: taken for anyone else (a
// server told to use it must fail to start) until this goes.
class held_port final {
  public:
    held_port();  // throws std::runtime_error when no port can be bound
    ~held_port();
    held_port(const held_port&) = delete;
    held_port& operator=(const held_port&) = delete;
    std::uint16_t port() const { return port_; }

  private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

// Writes `text` to `path` atomically (a temporary file renamed over it).
void write_file_atomically(const std::filesystem::path& path, const std::string& text);

// A child process that never outlives the test: it gets SIGKILL when the thread that started it
// exits (PR_SET_PDEATHSIG; so start it from the test's main thread, as gtest runs tests), it does
// not inherit the test's sockets or files, and it is always reaped. stdin is /dev/null; stdout and
// stderr are appended to a file, so that no pipe can fill up and block it.
class child_process final {
  public:
    // argv[0] is a path (PATH is not searched). `output` empty: the test's own stdout/stderr.
    // The environment is the test's without PYTHON* variables (a pyenv's PYTHONPATH would break
    // Debian's /usr/bin/python3), plus `env` ("NAME=value"). Throws std::runtime_error when the
    // program cannot be started (exec failures included).
    child_process(const std::vector<std::string>& argv, const std::filesystem::path& output,
                  const std::vector<std::string>& env = {});
    ~child_process();  // stop()
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const { return pid_; }  // stays valid (for messages) after it is reaped
    bool running();                     // false once it has exited; reaps it then
    std::string status() const;         // "running", "exited with status 3", "killed by signal 9"
    // SIGTERM, then SIGKILL if it is still there after `grace`; reaps it.
    void stop(std::chrono::milliseconds grace = std::chrono::seconds{5});
    void kill();  // SIGKILL now; reaps it

  private:
    pid_t pid_ = -1;
    bool reaped_ = false;
    int wait_status_ = 0;
};

}  // namespace agendad::test_support
