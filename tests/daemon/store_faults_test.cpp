// The state store's faults with the real agendad (issue 6, "the state store"): a full disk and a
// read-only file system, at start and in the middle of a run (also with kill -9), made real for
// the unmodified binary by the LD_PRELOAD shim support/fs_faults.c (so that they work as root too,
// where chmod takes nothing away), and a store damaged in several ways before a start. agendad
// must never send a reply it could not journal first, never send one twice, and say what is wrong
// and what to do, naming the file or directory. Each case writes its row of the hardening report
// (producer store_faults, one file per case: ctest runs the cases as separate processes).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <chrono>
#include <cstdlib>
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

#include "daemon_fixture.h"
#include "http_get.h"
#include "support/process.h"

namespace {

namespace fs = std::filesystem;
using agendad::test_support::eventually;
using agendad::test_support::expected_labelled_replies;
using agendad::test_support::free_loopback_port;
using agendad::test_support::http_get;
using agendad::test_support::labelled_owner;
using agendad::test_support::read_file;
using agendad::test_support::replies_in;
using agendad::test_support::run_result;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

const fs::path labelled = fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations";
constexpr std::size_t page_size = 4096;  // SQLite's default, which agendad keeps

// The value of `name=` in a log line ("" when absent).
std::string field(const std::string& line, const std::string& name) {
    const auto at = line.find(" " + name + "=");
    if (at == std::string::npos) return {};
    const auto from = at + name.size() + 2;
    return line.substr(from, line.find(' ', from) - from);
}

// Replies carried out more than once, as the audit trail tells: "carried out ... uid=U#S
// action=A respond=yes" lines, per meeting version and action, over every run's log. The folder
// source never writes a reply file twice (its name is the decision's key), but a source that
// mails would have mailed each of these again.
int replies_carried_out_twice(const std::vector<std::string>& logs) {
    std::map<std::string, int> count;
    for (const auto& log : logs) {
        std::istringstream lines(log);
        std::string line;
        while (std::getline(lines, line)) {
            if (line.find(" info carried out ") == std::string::npos) continue;
            if (field(line, "respond") != "yes") continue;
            ++count[field(line, "uid") + " " + field(line, "action")];
        }
    }
    int twice = 0;
    for (const auto& [key, n] : count) twice += n > 1 ? n - 1 : 0;
    return twice;
}

// Writes this case's row of the hardening report, whole.
void report(const std::string& slug, const std::string& case_name, int tried, int lost,
            int duplicated) {
    const char* env = std::getenv("AGENDAD_REPORT_DIR");
    const fs::path dir = env && *env ? fs::path(env) : fs::path(AGENDAD_REPORT_DIR);
    fs::create_directories(dir);
    std::ofstream out(dir / ("store_faults-" + slug + ".tsv"), std::ios::trunc);
    out << "area\tsubject\tcase\ttried\tlost\tduplicated\n"
        << "store\tstate store\t" << case_name << '\t' << tried << '\t' << lost << '\t'
        << duplicated << '\n';
}

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 random(seed);
    std::string out(n, '\0');
    for (auto& b : out) b = static_cast<char>(random());
    return out;
}

// Overwrites `bytes.size()` bytes of `file` at `offset`, keeping the rest.
void overwrite(const fs::path& file, std::size_t offset, const std::string& bytes) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f) << file;
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class store_faults : public agendad::test_support::daemon_fixture {
  protected:
    void SetUp() override {
        daemon_fixture::SetUp();
        control_ = dir_ / "fs-fault";
        // The shim is preloaded ahead of a sanitizer's runtime, which otherwise refuses to
        // start; set here so that every child inherits it, also those started without the shim.
        const char* asan = std::getenv("ASAN_OPTIONS");
        std::string options = asan ? asan : "";
        if (options.find("verify_asan_link_order") == std::string::npos) {
            options += options.empty() ? "" : ":";
            options += "verify_asan_link_order=0";
            ::setenv("ASAN_OPTIONS", options.c_str(), 1);
        }
        expected_ = expected_labelled_replies(labelled);
        ASSERT_FALSE(expected_.empty());
    }
    void TearDown() override {
        // A daemon a failed assertion left running (never reaped, so its pid is still its own).
        for (const pid_t pid : unreaped_) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        daemon_fixture::TearDown();
    }

    fs::path store_file() const { return state_dir() / "agendad.sqlite3"; }

    std::vector<std::string> once_args(const fs::path& cfg) const {
        auto args = run_args(cfg);
        args.push_back("--once");
        return args;
    }

    // From now on the shim fails writes under state_dir() with `fault` ("enospc", "erofs").
    void inject(const std::string& fault) {
        // Whole or not at all: the shim reads the file on every call it wraps.
        const fs::path tmp = dir_ / ".fs-fault.tmp";
        std::ofstream(tmp) << fault << '\n';
        fs::rename(tmp, control_);
        ++injected_;
    }
    void heal() { fs::remove(control_); }

    // agendad with the shim loaded; it injects nothing until inject().
    running start_with_shim(const std::vector<std::string>& args) {
        return launch(args, {std::string("LD_PRELOAD=") + AGENDAD_FS_FAULTS_LIB,
                             "AGENDAD_FS_FAULTS_DIR=" + state_dir().string(),
                             "AGENDAD_FS_FAULTS_CONTROL=" + control_.string()});
    }
    running launch(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
        running d = start(args, env);
        if (d.pid > 0) unreaped_.insert(d.pid);
        return d;
    }
    // A started agendad's exit and output; its log is kept for the count of duplicates.
    run_result finish(running& d, std::chrono::milliseconds limit = 60s) {
        unreaped_.erase(d.pid);
        run_result r = wait(d, limit);
        const bool sanitizer_report = r.err.find("Sanitizer") != std::string::npos ||
                                      r.err.find("runtime error:") != std::string::npos;
        EXPECT_FALSE(sanitizer_report) << r.err.substr(0, 3000);
        logs_.push_back(r.err);
        return r;
    }
    run_result run_with_shim(const std::vector<std::string>& args) {
        running d = start_with_shim(args);
        return finish(d);
    }
    run_result run_logged(const std::vector<std::string>& args) {
        run_result r = run(args);
        logs_.push_back(r.err);
        return r;
    }

    // Whether a started agendad is still running (without reaping it).
    static bool alive(const running& d) {
        siginfo_t info{};
        return ::waitid(P_PID, static_cast<id_t>(d.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               info.si_pid == 0;
    }

    // Replies in the outbox, counted without reading them (a tight loop watches it).
    std::size_t reply_files() const {
        std::error_code ec;
        std::size_t n = 0;
        for (fs::directory_iterator it(outbox(), ec), end; !ec && it != end; it.increment(ec)) {
            n += it->path().filename().string().front() != '.';
        }
        return n;
    }

    // Every reply in `replies` (a look at the outbox, taken before this call) has its decision
    // in the journal, read now: nothing went out that had not been journaled first.
    void expect_every_reply_journaled(const std::map<std::string, std::string>& replies) {
        std::map<std::string, std::set<std::string>> journaled;  // UID → answers it may send
        for (const auto& e : journal()) {
            const std::string state(e.at("state").as_string());
            if (!e.at("send_response").as_bool() || state == "dry_run" || state == "rate_limited") {
                continue;
            }
            journaled[std::string(e.at("uid").as_string())].insert(
                e.at("action").as_string() == "decline" ? "DECLINED" : "TENTATIVE");
        }
        for (const auto& [uid, status] : replies) {
            EXPECT_TRUE(journaled[uid].count(status))
                << "a " << status << " reply for " << uid
                << " is in the outbox, but no journaled decision says to send it";
        }
    }

    // Expected replies missing from the outbox (or answered otherwise).
    int lost() const {
        const auto got = replies_in(outbox());
        int missing = 0;
        for (const auto& [uid, status] : expected_) {
            const auto it = got.find(uid);
            missing += it == got.end() || it->second != status;
        }
        return missing;
    }

    // The end of every case: the row of the report, then every expected reply exactly once
    // (and, when the journal can be read, one finished decision per meeting version).
    void expect_exactly_once(const std::string& slug, const std::string& case_name,
                             bool journal_readable = true) {
        const int missing = lost();
        const int twice = replies_carried_out_twice(logs_);
        report(slug, case_name, injected_, missing, twice);
        EXPECT_EQ(replies_in(outbox()), expected_);
        EXPECT_EQ(missing, 0);
        EXPECT_EQ(twice, 0) << "replies carried out twice";
        if (journal_readable) expect_each_version_decided_once();
    }

    // A fault that comes while the first pass is sending replies: nothing is sent that could
    // not be journaled, the log says why for the mailbox, the daemon keeps running (the fault is
    // usually passing: a disk gets space back, a file system is remounted) and, once the fault
    // is gone, carries on by itself to every expected reply, each once.
    void fault_in_the_middle_of_a_run(const std::string& fault, const std::string& reason,
                                      const std::string& slug, const std::string& case_name) {
        const int port = free_loopback_port();
        const fs::path cfg =
            labelled_mailbox("enforce", 100, "", "127.0.0.1:" + std::to_string(port));
        running d = start_with_shim(run_args(cfg));
        // The first reply out: the pass is under way. A tight loop, so that the fault comes
        // while most replies are still to be sent.
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (reply_files() == 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(1ms);
        ASSERT_GT(reply_files(), 0u) << read_file(d.err);
        inject(fault);
        const std::size_t out_at_fault = reply_files();

        const std::string not_acting = "; not acting mailbox=" + std::string(labelled_owner);
        ASSERT_TRUE(
            eventually([&] { return read_file(d.err).find(not_acting) != std::string::npos; }, 15s))
            << read_file(d.err);
        const std::string log = read_file(d.err);
        EXPECT_THAT(log, HasSubstr(store_file().string()));
        EXPECT_THAT(log, HasSubstr(reason));
        expect_every_reply_journaled(replies_in(outbox()));
        // Passes go on (one a second) while the fault lasts, and send nothing unjournaled.
        std::this_thread::sleep_for(2500ms);
        EXPECT_TRUE(alive(d)) << "agendad must keep running through a passing store fault";
        expect_every_reply_journaled(replies_in(outbox()));
        // A pass whose calendar state cannot be recorded is a failed sync, not a healthy one.
        EXPECT_THAT(http_get(port, "/metrics"),
                    HasSubstr("agendad_sync_errors_total{mailbox=\"" + std::string(labelled_owner) +
                              "\",kind=\"store\"}"));

        heal();
        EXPECT_TRUE(eventually([&] { return replies_in(outbox()) == expected_; }, 30s))
            << "after the fault, agendad must carry on by itself";
        ::kill(d.pid, SIGTERM);
        const run_result r = finish(d);
        EXPECT_EQ(r.status, 0) << r.err;
        expect_exactly_once(slug, case_name);
        EXPECT_LT(out_at_fault, expected_.size())
            << "the pass ended before the fault: the middle of a run was not tested";
    }

    // A start with `fault` on: agendad refuses to act, says "refusing to act" and each of `said`,
    // and sends nothing (`also` checks more while the fault is on); once the fault is gone, the
    // next start sends each expected reply once.
    void refused_at_start_then_exactly_once(const fs::path& cfg, const std::string& fault,
                                            const std::vector<std::string>& said,
                                            const std::string& slug, const std::string& case_name,
                                            const std::function<void()>& also = {}) {
        inject(fault);
        const run_result r = run_with_shim(once_args(cfg));
        EXPECT_EQ(r.status, 1) << r.err;
        EXPECT_THAT(r.err, HasSubstr("refusing to act"));
        for (const auto& words : said) EXPECT_THAT(r.err, HasSubstr(words));
        EXPECT_TRUE(replies_in(outbox()).empty()) << "nothing may be sent without a journal";
        if (also) also();

        heal();
        const run_result again = run_with_shim(once_args(cfg));
        EXPECT_EQ(again.status, 0) << again.err;
        expect_exactly_once(slug, case_name);
    }

    fs::path control_;
    int injected_ = 0;
    std::map<std::string, std::string> expected_;
    std::vector<std::string> logs_;  // every run's stderr
    std::set<pid_t> unreaped_;
};

// --- a full disk ------------------------------------------------------------------------------

TEST_F(store_faults, a_full_disk_at_the_first_start_sends_nothing_and_leaves_no_half_store) {
    refused_at_start_then_exactly_once(
        labelled_mailbox("enforce"), "enospc",
        {store_file().string(), "disk is full", "free space"}, "disk-full-first-start",
        "disk full at first start", [&] {
            // Nothing that the next start could mistake for a store (or for a lost journal).
            for (const auto& f : fs::directory_iterator(state_dir()))
                ADD_FAILURE() << "left: " << f.path();
        });
}

TEST_F(store_faults, a_full_disk_at_start_with_a_journal_refuses_to_act_and_says_why) {
    // A journal of what dry-run decided; enforce would carry all of it out now.
    ASSERT_EQ(run_logged(once_args(labelled_mailbox("dry-run"))).status, 0);
    refused_at_start_then_exactly_once(
        labelled_mailbox("enforce"), "enospc",
        {store_file().string(), "No space left on device", "free space"}, "disk-full-at-start",
        "disk full at start");
}

TEST_F(store_faults, a_disk_that_fills_in_the_middle_of_a_run_loses_and_repeats_nothing) {
    fault_in_the_middle_of_a_run("enospc", "disk is full", "disk-full-mid-run",
                                 "disk full mid-run");
}

TEST_F(store_faults, kill_9_while_the_disk_is_full_then_a_restart_sends_each_reply_once) {
    const fs::path cfg = labelled_mailbox("enforce");
    std::mt19937 random(20261122);
    for (int round = 0; round < 3; ++round) {
        running d = start_with_shim(run_args(cfg));
        // Anywhere in the first pass (or its start), then as long as the disk stays full.
        std::this_thread::sleep_for(std::chrono::milliseconds(20 + random() % 400));
        inject("enospc");
        EXPECT_TRUE(eventually(
            [&] { return read_file(d.err).find("is full") != std::string::npos || !alive(d); },
            15s))
            << read_file(d.err);
        ::kill(d.pid, SIGKILL);
        finish(d);
        expect_every_reply_journaled(replies_in(outbox()));
        heal();
    }
    const run_result r = run_with_shim(once_args(cfg));
    EXPECT_EQ(r.status, 0) << r.err;
    expect_exactly_once("disk-full-kill-9", "disk full mid-run + kill -9");
}

// --- a read-only file system --------------------------------------------------------------------

TEST_F(store_faults, a_read_only_file_system_at_the_first_start_names_the_state_directory) {
    refused_at_start_then_exactly_once(
        labelled_mailbox("enforce"), "erofs",
        {"creating the state directory " + state_dir().string(), "Read-only file system",
         "needs a writable state directory"},
        "read-only-first-start", "read-only dir at first start",
        [&] { EXPECT_FALSE(fs::exists(state_dir())); });
}

TEST_F(store_faults, a_read_only_state_directory_with_a_journal_refuses_to_act) {
    ASSERT_EQ(run_logged(once_args(labelled_mailbox("dry-run"))).status, 0);
    refused_at_start_then_exactly_once(
        labelled_mailbox("enforce"), "erofs",
        {store_file().string(), "Read-only file system", "needs a writable state directory"},
        "read-only-at-start", "read-only dir at start");
}

TEST_F(store_faults, a_state_directory_that_turns_read_only_while_running_is_like_a_full_disk) {
    fault_in_the_middle_of_a_run("erofs", "Read-only file system", "read-only-mid-run",
                                 "read-only dir mid-run");
}

// --- a damaged store at start -----------------------------------------------------------------

// How the store looked before the damage: closed cleanly (everything checkpointed into the
// file, no -wal) or killed with -9 (the decisions since the last checkpoint live in the -wal).
enum class before { stopped, killed };

struct damage {
    std::string slug;
    std::string name;  // the report's case
    before state;
    // Damages the store whose file is `file`.
    std::function<void(const fs::path& file)> apply;
    // Refused with these in the message (each one of the alternatives in a group); empty:
    // provably harmless, so agendad goes on.
    std::vector<std::vector<std::string>> refusal;
};

std::ostream& operator<<(std::ostream& os, const damage& d) {
    return os << d.slug;
}

class damaged_store : public store_faults, public ::testing::WithParamInterface<damage> {};

TEST_P(damaged_store, is_refused_or_safely_recovered) {
    const damage& dmg = GetParam();
    const fs::path cfg = labelled_mailbox("enforce");
    if (dmg.state == before::stopped) {
        ASSERT_EQ(run_logged(once_args(cfg)).status, 0);
    } else {
        running d = launch(run_args(cfg));
        ASSERT_TRUE(eventually([&] { return replies_in(outbox()) == expected_; }, 30s));
        ::kill(d.pid, SIGKILL);
        finish(d);
        const fs::path wal = store_file().string() + "-wal";
        ASSERT_TRUE(fs::exists(wal) && fs::file_size(wal) > 0) << "the journal is not in a -wal";
    }
    ASSERT_EQ(replies_in(outbox()), expected_);

    dmg.apply(store_file());
    ++injected_;
    // What agendad found, byte for byte (the -shm is SQLite's index of the -wal, rebuilt at will).
    std::map<fs::path, std::string> damaged;
    for (const auto& f : fs::directory_iterator(state_dir())) {
        if (f.path().extension() != ".sqlite3-shm") damaged[f.path()] = read_file(f.path());
    }

    const run_result r = run_logged(once_args(cfg));
    if (!dmg.refusal.empty()) {
        EXPECT_EQ(r.status, 1) << r.err;
        EXPECT_THAT(r.err, HasSubstr("refusing to act"));
        EXPECT_THAT(r.err, HasSubstr(store_file().string()));  // or its -wal
        for (const auto& group : dmg.refusal) {
            std::vector<::testing::Matcher<const std::string&>> any;
            for (const auto& text : group) any.push_back(HasSubstr(text));
            EXPECT_THAT(r.err, ::testing::AnyOfArray(any));
        }
        // Left as it was found, for whoever looks at it (or restores it).
        for (const auto& [path, bytes] : damaged) {
            EXPECT_TRUE(fs::exists(path) && read_file(path) == bytes) << path << " was changed";
        }
    } else {
        EXPECT_EQ(r.status, 0) << r.err;
    }
    EXPECT_THAT(r.err, ::testing::Not(HasSubstr(" info carried out ")))
        << "a reply sent before the damage was sent again";
    expect_exactly_once(dmg.slug, dmg.name, dmg.refusal.empty());
}

// The first btree leaf page of a table from the middle of the file on (its first byte is 0x0d):
// rows of the journal or the calendar state, which PRAGMA quick_check reads.
std::size_t middle_table_page(const fs::path& file) {
    const std::string bytes = read_file(file);
    const std::size_t pages = bytes.size() / page_size;
    for (std::size_t p = pages / 2; p < pages; ++p) {
        if (static_cast<unsigned char>(bytes[p * page_size]) == 0x0d) return p;
    }
    ADD_FAILURE() << "no table page in the second half of " << file;
    return pages - 1;
}

// What to do: a file that cannot be trusted is moved aside or restored.
const std::vector<std::string> what_to_do{"move it", "move the file", "move the -wal file aside",
                                          "delete it"};

INSTANTIATE_TEST_SUITE_P(
    store_faults, damaged_store,
    ::testing::Values(
        damage{"garbage-header",
               "damaged: garbage header",
               before::stopped,
               [](const fs::path& file) { overwrite(file, 0, random_bytes(100, 1)); },
               {{"file is not a database"}, {"header is damaged"}, what_to_do}},
        damage{"truncated",
               "damaged: truncated file",
               before::stopped,
               [](const fs::path& file) {
                   fs::resize_file(file, fs::file_size(file) / 2 / page_size * page_size);
               },
               {{"malformed", "damaged"}, {"will not act"}, what_to_do}},
        damage{"damaged-page",
               "damaged: bad page in the middle",
               before::stopped,
               [](const fs::path& file) {
                   overwrite(file, middle_table_page(file) * page_size,
                             std::string(page_size, '\x5a'));
               },
               {{"damaged", "malformed"}, {"will not act"}, what_to_do}},
        damage{"garbage-wal",
               "damaged: garbage -wal, good store",
               before::stopped,
               [](const fs::path& file) {
                   std::ofstream(file.string() + "-wal", std::ios::binary)
                       << random_bytes(64 * 1024, 2);
               },
               {{"agendad.sqlite3-wal is damaged"}, {"will not act"}, what_to_do}},
        damage{"garbage-wal-with-the-journal",
               "damaged: garbage -wal holding journal",
               before::killed,
               [](const fs::path& file) {
                   const fs::path wal = file.string() + "-wal";
                   const auto size = static_cast<std::size_t>(fs::file_size(wal));
                   std::ofstream(wal, std::ios::binary | std::ios::trunc) << random_bytes(size, 3);
               },
               {{"agendad.sqlite3-wal is damaged"}, {"will not act"}, what_to_do}},
        damage{"empty-store",
               "damaged: empty store file",
               before::stopped,
               [](const fs::path& file) { fs::resize_file(file, 0); },
               {{"is empty"}, {"the journal it held was lost"}, what_to_do}},
        damage{"empty-store-with-its-wal",
               "damaged: empty store file, -wal kept",
               before::killed,
               [](const fs::path& file) { fs::resize_file(file, 0); },
               {{"is empty"}, {"the journal it held was lost"}, what_to_do}},
        damage{"empty-shm",
               "damaged: zero-length -shm (recovered)",
               before::killed,
               [](const fs::path& file) { fs::resize_file(file.string() + "-shm", 0); },
               {}},
        damage{"random-shm",
               "damaged: random -shm (recovered)",
               before::killed,
               [](const fs::path& file) {
                   const fs::path shm = file.string() + "-shm";
                   const auto size = static_cast<std::size_t>(fs::file_size(shm));
                   ASSERT_GT(size, 0u);
                   std::ofstream(shm, std::ios::binary | std::ios::trunc) << random_bytes(size, 4);
               },
               {}}),
    [](const ::testing::TestParamInfo<damage>& tested) {
        std::string name = tested.param.slug;
        for (auto& c : name) c = c == '-' ? '_' : c;
        return name;
    });

}  // namespace
