#include "support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "support/files.h"

extern char** environ;

namespace agendad::test_support {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool test_verbose() {
    const char* value = std::getenv("AGENDAD_TEST_VERBOSE");
    return value != nullptr && *value != '\0' && std::string_view(value) != "0";
}

void echo_log_if_verbose(const fs::path& log, std::uintmax_t& offset, const std::string& label) {
    if (!test_verbose()) return;
    const std::string text = read_file(log);
    if (text.size() <= offset) return;
    std::istringstream lines(text.substr(offset));
    offset = text.size();
    std::string line;
    while (std::getline(lines, line)) std::cerr << label << ' ' << line << '\n';
    std::cerr.flush();
}

temp_folder::temp_folder(const std::string& prefix) {
    std::string pattern = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
    }
    path_ = pattern;
}

temp_folder::~temp_folder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

namespace {

// A socket bound to 127.0.0.1 on a port the kernel picks, listening when `listen` says so.
int bind_loopback(std::uint16_t& port, bool listen) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0 &&
                    (!listen || ::listen(fd, 1) == 0) &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    if (!ok) {
        const int saved = errno;
        ::close(fd);
        throw std::runtime_error(std::string("bind 127.0.0.1:0: ") + std::strerror(saved));
    }
    port = ntohs(address.sin_port);
    return fd;
}

}  // namespace

std::uint16_t free_loopback_port() {
    std::uint16_t port = 0;
    ::close(bind_loopback(port, false));
    return port;
}

held_port::held_port() {
    fd_ = bind_loopback(port_, true);
}

held_port::~held_port() {
    ::close(fd_);
}

void write_file_atomically(const fs::path& path, const std::string& text) {
    const fs::path temporary = path.string() + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush()) throw std::runtime_error("cannot write " + temporary.string());
    }
    fs::rename(temporary, path);
}

namespace {

// Closes every descriptor from `first` on, in the child between fork and exec (so only
// async-signal-safe calls).
void close_from(int first) {
#ifdef SYS_close_range
    if (::syscall(SYS_close_range, static_cast<unsigned>(first), ~0U, 0U) == 0) return;
#endif
    for (int fd = first; fd < 65536; ++fd) ::close(fd);
}

bool inherited_python_variable(const char* entry) {
    return std::strncmp(entry, "PYTHON", 6) == 0;
}

}  // namespace

child_process::child_process(const std::vector<std::string>& argv, const fs::path& output,
                             const std::vector<std::string>& env) {
    if (argv.empty()) throw std::runtime_error("child_process: no program");
    // Everything the child needs is made before fork: between fork and exec a multi-threaded
    // program may only make async-signal-safe calls (no allocation).
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<char*> environment;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        if (!inherited_python_variable(*e)) environment.push_back(*e);
    }
    for (const auto& e : env) environment.push_back(const_cast<char*>(e.c_str()));
    environment.push_back(nullptr);

    const int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int out = -1;
    if (!output.empty()) {
        out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    }
    int report[2] = {-1, -1};  // the child writes errno here when exec fails
    if (null_in < 0 || (!output.empty() && out < 0) || ::pipe2(report, O_CLOEXEC) != 0) {
        const std::string why = std::strerror(errno);
        for (const int fd : {null_in, out, report[0], report[1]}) {
            if (fd >= 0) ::close(fd);
        }
        throw std::runtime_error("cannot start " + argv[0] + ": " + why);
    }
    sigset_t no_signals;
    sigemptyset(&no_signals);
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid == 0) {
        // The child. It dies with the thread that made it, also when the test crashes.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(125);  // the parent died before prctl
        ::sigprocmask(SIG_SETMASK, &no_signals, nullptr);
        for (const int s : {SIGTERM, SIGINT, SIGPIPE, SIGHUP}) ::signal(s, SIG_DFL);
        int failed = 0;
        if (::dup2(null_in, 0) < 0) failed = errno;
        if (out >= 0 && !failed && (::dup2(out, 1) < 0 || ::dup2(out, 2) < 0)) failed = errno;
        // Keep only 0-2 and the report pipe (moved to 3, still close-on-exec): a listening socket
        // of the test must not live on in a server that outlasts it.
        int report_fd = report[1];
        if (!failed && report_fd != 3) {
            report_fd = ::dup3(report[1], 3, O_CLOEXEC);
            if (report_fd < 0) {
                failed = errno;
                report_fd = report[1];
            }
        }
        if (!failed) {
            close_from(4);
            ::execve(args[0], args.data(), environment.data());
            failed = errno;
        }
        [[maybe_unused]] const ssize_t ignored = ::write(report_fd, &failed, sizeof failed);
        ::_exit(127);
    }
    const int fork_error = errno;
    ::close(null_in);
    if (out >= 0) ::close(out);
    ::close(report[1]);
    if (pid < 0) {
        ::close(report[0]);
        throw std::runtime_error("fork: " + std::string(std::strerror(fork_error)));
    }
    pid_ = pid;
    int exec_error = 0;
    ssize_t n = 0;
    do {
        n = ::read(report[0], &exec_error, sizeof exec_error);
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n > 0) {
        kill();
        throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(exec_error));
    }
}

child_process::~child_process() {
    stop();
}

bool child_process::running() {
    if (pid_ <= 0 || reaped_) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        reaped_ = true;
        wait_status_ = status;
        return false;
    }
    return true;
}

std::string child_process::status() const {
    if (pid_ <= 0) return "not started";
    if (!reaped_) return "running";
    if (WIFEXITED(wait_status_))
        return "exited with status " + std::to_string(WEXITSTATUS(wait_status_));
    if (WIFSIGNALED(wait_status_))
        return "killed by signal " + std::to_string(WTERMSIG(wait_status_));
    return "ended";
}

void child_process::stop(std::chrono::milliseconds grace) {
    if (!running()) return;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!running()) return;
        std::this_thread::sleep_for(5ms);
    }
    kill();
}

void child_process::kill() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    pid_t r = 0;
    do {
        r = ::waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    reaped_ = true;
    wait_status_ = status;
}

}  // namespace agendad::test_support
