// Tests for daemon/store: what the daemon relies on its store for. What it learnt and decided
// comes back exactly after a restart or a crash, a decision is never journaled twice, a store
// that cannot be trusted is refused with a sentence that says what to do, and the journal queries
// the executor asks (unfinished work, agenda deadlines, the decline rate limit) answer right.
#include "daemon/store.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace agendad::daemon {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;
using calendar::partstat;
using ::testing::HasSubstr;

// 2026-11-20T09:00:00Z
constexpr time_point t0 = sys_days{2026y / November / 20} + 9h;
constexpr uid_t nobody_id = 65534;

// --- values, written out so that a mismatch shows the field ----------------------------------

std::string epoch(time_point t) {
    return std::to_string(t.time_since_epoch().count());
}
std::string epoch(const std::optional<time_point>& t) {
    return t ? epoch(*t) : "none";
}

// Strings with NUL bytes in them.
template <std::size_t N>
std::string bytes(const char (&s)[N]) {
    return std::string(s, N - 1);
}

std::string describe(const policy::meeting_fact& f) {
    std::ostringstream out;
    out << "uid=" << f.uid << " subject=" << f.subject << " start=" << epoch(f.start)
        << " last_end=" << epoch(f.last_end) << " organizer=" << f.organizer
        << " status=" << calendar::to_string(f.owner_status) << " organizes=" << f.owner_organizes
        << " participants=";
    for (const auto& p : f.participants) out << "[" << p << "]";
    return out.str();
}

std::string describe(const stored_item& item) {
    std::ostringstream out;
    out << "item=" << item.item_id << " etag=" << item.etag << " uid=" << item.uid
        << " status=" << calendar::to_string(item.owner_status) << "\n";
    for (const auto& f : item.facts) out << "  " << describe(f) << "\n";
    return out.str();
}

std::string describe(const std::vector<stored_item>& items) {
    std::string out;
    for (const auto& i : items) out += describe(i);
    return out;
}

// Everything but the id, which the store assigns.
std::string describe(const journal_entry& e) {
    std::ostringstream out;
    out << e.key.mailbox << "|" << e.key.uid << "|" << e.key.recurrence_id << "|" << e.key.sequence
        << "|" << e.item_id << "|" << e.etag << "|" << e.subject << "|" << e.organizer << "|"
        << epoch(e.start) << "|" << e.rule << "|" << e.action << "|" << e.send_response << "|"
        << e.reply << "|" << e.reason << "|" << e.signals << "|" << e.mode << "|"
        << name_of(e.state) << "|" << e.error << "|" << epoch(e.decided_at) << "|"
        << epoch(e.finished_at) << "|" << epoch(e.deadline);
    return out.str();
}

std::vector<std::string> uids_of(const std::vector<journal_entry>& entries) {
    std::vector<std::string> uids;
    for (const auto& e : entries) uids.push_back(e.key.uid);
    return uids;
}

policy::meeting_fact fact(std::string uid, time_point start, std::optional<time_point> last_end,
                          partstat status, std::vector<std::string> participants) {
    policy::meeting_fact f;
    f.uid = std::move(uid);
    f.subject = "Subject of " + f.uid;
    f.start = start;
    f.last_end = last_end;
    f.organizer = participants.empty() ? std::string() : participants.front();
    f.owner_status = status;
    f.participants = std::move(participants);
    return f;
}

stored_item item(std::string id, std::string etag, std::vector<policy::meeting_fact> facts = {}) {
    stored_item i;
    i.item_id = std::move(id);
    i.etag = std::move(etag);
    i.uid = "uid-" + i.item_id;
    i.facts = std::move(facts);
    i.owner_status = partstat::accepted;
    return i;
}

journal_entry entry(std::string mailbox, std::string uid, int sequence, time_point decided,
                    std::string action = "decline", entry_state state = entry_state::intent) {
    journal_entry e;
    e.key = {std::move(mailbox), std::move(uid), "", sequence, ""};
    e.item_id = "item-" + e.key.uid;
    e.etag = "\"1\"";
    e.subject = "Quick sync";
    e.organizer = "stranger@elsewhere.example";
    e.start = decided + 48h;
    e.rule = "unknown-organizer";
    e.action = std::move(action);
    e.send_response = true;
    e.reply = "I am unable to attend.";
    e.reason = "the organizer is unknown";
    e.signals = "unknown_organizer: never met\nno_agenda: empty description";
    e.mode = "enforce";
    e.state = state;
    e.decided_at = decided;
    if (state != entry_state::intent) e.finished_at = decided + 1s;
    return e;
}

// --- the file, behind the store's back ----------------------------------------------------------

// Runs constant SQL on the store's file with a connection of the test's own.
void raw_exec(const fs::path& file, const char* sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(
        sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
        SQLITE_OK);
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    EXPECT_EQ(rc, SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
}

std::string raw_text(const fs::path& file, const char* sql) {
    sqlite3* db = nullptr;
    std::string text;
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW) {
            text = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return text;
}

// --- child processes --------------------------------------------------------------------------

bool write_all(int fd, const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// Reads exactly `size` bytes; false at end of file.
bool read_all(int fd, void* data, std::size_t size) {
    auto* p = static_cast<char*>(data);
    while (size > 0) {
        const ssize_t n = ::read(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// A child process that reports numbers (ids, generations) through a pipe as it commits them.
// The child never returns to the test framework: it leaves with _exit, like a crash would, without
// destructors or the leak check.
class reporting_child {
  public:
    template <class Body>
    explicit reporting_child(Body body) {
        int fds[2];
        if (::pipe(fds) != 0) return;
        pid_ = ::fork();
        if (pid_ == 0) {
            ::close(fds[0]);
            const int out = fds[1];
            body([out](std::int64_t n) { return write_all(out, &n, sizeof n); });
            ::_exit(0);
        }
        ::close(fds[1]);
        fd_ = fds[0];
    }
    ~reporting_child() {
        if (pid_ > 0 && !reaped_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (fd_ >= 0) ::close(fd_);
    }
    reporting_child(const reporting_child&) = delete;
    reporting_child& operator=(const reporting_child&) = delete;

    bool started() const { return pid_ > 0 && fd_ >= 0; }
    // The next reported number; nullopt once the child is gone.
    std::optional<std::int64_t> next() {
        std::int64_t n = 0;
        if (!read_all(fd_, &n, sizeof n)) return std::nullopt;
        return n;
    }
    // The wait status.
    int kill_and_wait() {
        ::kill(pid_, SIGKILL);
        return wait();
    }
    int wait() {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        reaped_ = true;
        return status;
    }

  private:
    pid_t pid_ = -1;
    int fd_ = -1;
    bool reaped_ = false;
};

// The outcome of store::open as an unprivileged user: in a child running as `nobody` when the
// tests run as root, since root ignores permissions.
struct open_outcome {
    bool ran = false;
    bool opened = false;
    std::string error;
};

open_outcome open_unprivileged(const fs::path& dir) {
    if (::geteuid() != 0) {
        auto s = store::open(dir);
        return {true, s.has_value(), s ? std::string() : s.error()};
    }
    int fds[2];
    if (::pipe(fds) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(fds[0]);
        if (::setgroups(0, nullptr) != 0 || ::setgid(nobody_id) != 0 || ::setuid(nobody_id) != 0) {
            ::_exit(2);
        }
        auto s = store::open(dir);
        const std::string message = s ? std::string() : s.error();
        write_all(fds[1], message.data(), message.size());
        ::_exit(s ? 0 : 1);
    }
    ::close(fds[1]);
    std::string message;
    char buffer[512];
    for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) {
        message.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) == 2) return {};
    return {true, WEXITSTATUS(status) == 0, message};
}

// Hands a path to the unprivileged user of open_unprivileged.
void give_away(const fs::path& p) {
    if (::geteuid() == 0) {
        ASSERT_EQ(::chown(p.c_str(), nobody_id, nobody_id), 0) << p;
    }
}

// --- fixture ----------------------------------------------------------------------------------

class store_test : public ::testing::Test {
  protected:
    void SetUp() override {
        static int counter = 0;
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        root_ = fs::temp_directory_path() / ("agendad-store-test-" + std::to_string(::getpid()) +
                                             "-" + std::to_string(counter++) + "-" + info->name());
        fs::remove_all(root_);
        fs::create_directories(root_);
        // Reachable by `nobody` for the permission tests.
        fs::permissions(root_,
                        fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
        dir_ = root_ / "state";
        file_ = dir_ / "agendad.sqlite3";
    }

    void TearDown() override {
        // Some tests take write permission away; give it back so that everything can go.
        std::error_code ec;
        fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
        fs::permissions(file_, fs::perms::owner_read | fs::perms::owner_write,
                        fs::perm_options::add, ec);
        fs::remove_all(root_, ec);
    }

    std::unique_ptr<store> open_store() {
        auto s = store::open(dir_);
        EXPECT_TRUE(s) << s.error();
        return s ? std::move(*s) : nullptr;
    }

    fs::path root_;
    fs::path dir_;
    fs::path file_;
};

// --- opening ----------------------------------------------------------------------------------

TEST_F(store_test, creates_a_private_directory_and_file_in_wal_mode) {
    dir_ = root_ / "var" / "lib" / "agendad";
    file_ = dir_ / "agendad.sqlite3";
    auto s = open_store();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->file(), file_);
    EXPECT_EQ(fs::status(dir_).permissions() & fs::perms::all, fs::perms::owner_all);
    EXPECT_EQ(fs::status(file_).permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    s.reset();
    EXPECT_EQ(raw_text(file_, "PRAGMA journal_mode"), "wal");
}

TEST_F(store_test, accepts_an_existing_directory_and_reopens_its_store) {
    fs::create_directories(dir_);
    ASSERT_TRUE(open_store());
    ASSERT_TRUE(open_store());
}

TEST_F(store_test, refuses_a_state_directory_that_is_a_file) {
    std::ofstream(dir_) << "not a directory";
    auto s = store::open(dir_);
    ASSERT_FALSE(s);
    EXPECT_THAT(s.error(), HasSubstr(dir_.string()));
    EXPECT_THAT(s.error(), HasSubstr("not a directory"));
}

TEST_F(store_test, refuses_a_file_that_is_not_sqlite) {
    fs::create_directories(dir_);
    std::mt19937 random(42);
    std::string noise(64 * 1024, '\0');
    for (auto& b : noise) b = static_cast<char>(random());
    std::ofstream(file_, std::ios::binary) << noise;
    auto s = store::open(dir_);
    ASSERT_FALSE(s);
    EXPECT_THAT(s.error(), HasSubstr(file_.string()));
    EXPECT_THAT(s.error(), HasSubstr("not a database"));
    // Left as it was, for whoever looks at it.
    std::ifstream in(file_, std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), noise);
}

TEST_F(store_test, refuses_another_applications_sqlite_database) {
    fs::create_directories(dir_);
    raw_exec(file_, "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('mine')");
    auto s = store::open(dir_);
    ASSERT_FALSE(s);
    EXPECT_THAT(s.error(), HasSubstr(file_.string()));
    EXPECT_THAT(s.error(), HasSubstr("not an agendad store"));
    // Not switched to WAL behind its owner's back.
    EXPECT_EQ(raw_text(file_, "PRAGMA journal_mode"), "delete");
}

TEST_F(store_test, refuses_a_store_written_by_a_newer_agendad) {
    ASSERT_TRUE(open_store());
    raw_exec(file_, "PRAGMA user_version = 99");
    auto s = store::open(dir_);
    ASSERT_FALSE(s);
    EXPECT_THAT(s.error(), HasSubstr("newer"));
    EXPECT_THAT(s.error(), HasSubstr(file_.string()));
}

TEST_F(store_test, refuses_a_damaged_store) {
    {
        auto s = open_store();
        ASSERT_TRUE(s);
        std::vector<stored_item> items;
        for (int i = 0; i < 500; ++i) {
            items.push_back(item("item-" + std::to_string(i), "e",
                                 {fact("m", t0, t0 + 1h, partstat::accepted,
                                       {"someone-with-a-long-address@example.com"})}));
        }
        ASSERT_TRUE(s->apply_sync("owner@example.com", items, {}, "t", t0));
        for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->record(entry("owner@example.com", "u", i, t0)));
    }  // closing checkpoints the WAL into the file
    ASSERT_GT(fs::file_size(file_), 8 * 4096u);
    {
        // Scribble over every page but the first (the header and the schema).
        std::fstream f(file_, std::ios::in | std::ios::out | std::ios::binary);
        const std::string garbage(4096 * 4, '\x5a');
        f.seekp(4096);
        f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    auto s = store::open(dir_);
    ASSERT_FALSE(s);
    EXPECT_THAT(s.error(), HasSubstr(file_.string()));
    EXPECT_THAT(s.error(), HasSubstr("damaged"));
    EXPECT_THAT(s.error(), HasSubstr("will not act"));
}

TEST_F(store_test, refuses_a_read_only_state_directory) {
    fs::create_directories(dir_);
    give_away(dir_);
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
    const auto outcome = open_unprivileged(dir_);
    if (!outcome.ran) GTEST_SKIP() << "running as root and cannot become nobody to test this";
    EXPECT_FALSE(outcome.opened);
    EXPECT_THAT(outcome.error, HasSubstr(file_.string()));
    EXPECT_THAT(outcome.error, HasSubstr("writable"));
}

TEST_F(store_test, refuses_a_store_in_a_directory_that_became_read_only) {
    ASSERT_TRUE(open_store());
    give_away(dir_);
    give_away(file_);
    fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
    const auto outcome = open_unprivileged(dir_);
    if (!outcome.ran) GTEST_SKIP() << "running as root and cannot become nobody to test this";
    EXPECT_FALSE(outcome.opened);
    EXPECT_THAT(outcome.error, HasSubstr(file_.string()));
}

TEST_F(store_test, refuses_a_read_only_store_file) {
    ASSERT_TRUE(open_store());
    give_away(dir_);
    give_away(file_);
    fs::permissions(file_, fs::perms::owner_read);
    const auto outcome = open_unprivileged(dir_);
    if (!outcome.ran) GTEST_SKIP() << "running as root and cannot become nobody to test this";
    EXPECT_FALSE(outcome.opened);
    EXPECT_THAT(outcome.error, HasSubstr(file_.string()));
    EXPECT_THAT(outcome.error, HasSubstr("read-only"));
}

TEST_F(store_test, two_connections_share_the_store) {
    // The daemon and `agendad decisions` at the same time.
    auto daemon = open_store();
    auto cli = open_store();
    ASSERT_TRUE(daemon && cli);
    auto id = daemon->record(entry("owner@example.com", "u1", 0, t0));
    ASSERT_TRUE(id) << id.error();
    auto seen = cli->entry(*id);
    ASSERT_TRUE(seen) << seen.error();
    EXPECT_TRUE(seen->has_value());
    ASSERT_TRUE(cli->set_state(*id, entry_state::undone, "", t0 + 1h));
    EXPECT_EQ((*daemon->entry(*id))->state, entry_state::undone);
}

// --- calendar state ---------------------------------------------------------------------------

TEST_F(store_test, round_trips_items_with_their_facts) {
    auto s = open_store();
    ASSERT_TRUE(s);
    auto organised = fact("weekly", t0 - 700 * 24h, std::nullopt, partstat::accepted,
                          {"colleague@example.com", "other@example.com"});
    organised.owner_organizes = true;
    auto odd = fact(bytes("bytes\0and\xff\xfe"), t0, t0 + 30min, partstat::other, {});
    odd.subject = bytes("nul\0inside");
    std::vector<stored_item> items{
        item("a", "\"etag-a\"",
             {fact("once", t0, t0 + 1h, partstat::declined, {"boss@example.com"}), organised}),
        item("b", "1700000000-2048", {odd}),
        item("c", "", {}),
    };
    items[1].owner_status = partstat::needs_action;
    items[2].owner_status = partstat::none;
    items[2].uid = "";
    // Times before the epoch and far ahead survive too.
    items[2].facts.push_back(fact("old", time_point{seconds{-86400}},
                                  time_point{seconds{1LL << 40}}, partstat::tentative, {"x@y"}));
    ASSERT_TRUE(s->apply_sync("owner@example.com", items, {}, "token-1", t0));

    auto back = s->items("owner@example.com");
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(describe(*back), describe(items));
    auto other = s->items("someone.else@example.com");
    ASSERT_TRUE(other);
    EXPECT_TRUE(other->empty());
}

TEST_F(store_test, apply_sync_upserts_removes_and_keeps_mailboxes_apart) {
    auto s = open_store();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->apply_sync("a@example.com", {item("1", "v1"), item("2", "v1"), item("3", "v1")},
                              {}, "t1", t0));
    ASSERT_TRUE(s->apply_sync("b@example.com", {item("1", "b")}, {}, "b1", t0));
    auto changed = item("2", "v2", {fact("m", t0, t0 + 1h, partstat::accepted, {"p@q"})});
    ASSERT_TRUE(s->apply_sync("a@example.com", {changed, item("4", "v1")}, {"1", "missing"}, "t2",
                              t0 + 1h));

    auto a = s->items("a@example.com");
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(describe(*a),
              describe(std::vector<stored_item>{changed, item("3", "v1"), item("4", "v1")}));
    auto b = s->items("b@example.com");
    ASSERT_TRUE(b);
    EXPECT_EQ(describe(*b), describe(std::vector<stored_item>{item("1", "b")}));
    EXPECT_EQ(*s->sync_token("a@example.com"), std::optional<std::string>("t2"));
    EXPECT_EQ(*s->last_sync("a@example.com"), std::optional<time_point>(t0 + 1h));
}

TEST_F(store_test, tokens_and_last_sync_round_trip_and_reset_forgets_them) {
    auto s = open_store();
    ASSERT_TRUE(s);
    auto none = s->sync_token("a@example.com");
    ASSERT_TRUE(none) << none.error();
    EXPECT_EQ(*none, std::nullopt);
    EXPECT_EQ(*s->last_sync("a@example.com"), std::nullopt);

    const std::string token = "http://example.com/sync/\"42\"?x=1&y='2'";
    ASSERT_TRUE(s->apply_sync("a@example.com", {item("1", "v")}, {}, token, t0));
    ASSERT_TRUE(s->apply_sync("b@example.com", {item("1", "v")}, {}, "b-token", t0 + 5s));
    EXPECT_EQ(*s->sync_token("a@example.com"), std::optional<std::string>(token));
    EXPECT_EQ(*s->last_sync("b@example.com"), std::optional<time_point>(t0 + 5s));

    ASSERT_TRUE(s->reset_calendar("a@example.com"));
    EXPECT_EQ(*s->sync_token("a@example.com"), std::nullopt);
    EXPECT_EQ(*s->last_sync("a@example.com"), std::nullopt);
    EXPECT_TRUE(s->items("a@example.com")->empty());
    EXPECT_EQ(*s->sync_token("b@example.com"), std::optional<std::string>("b-token"));
    EXPECT_EQ(s->items("b@example.com")->size(), 1u);
}

TEST_F(store_test, facts_that_do_not_decode_are_an_error_naming_mailbox_and_item) {
    {
        auto s = open_store();
        ASSERT_TRUE(s);
        ASSERT_TRUE(s->apply_sync("owner@example.com",
                                  {item("good", "1", {fact("m", t0, t0, partstat::accepted, {})}),
                                   item("bad", "1", {fact("m", t0, t0, partstat::accepted, {})})},
                                  {}, "t", t0));
    }
    // A count of five facts with nothing after it; then a format this binary does not know.
    for (const char* sql : {"UPDATE items SET facts = x'0105' WHERE item_id = 'bad'",
                            "UPDATE items SET facts = x'0900' WHERE item_id = 'bad'"}) {
        raw_exec(file_, sql);
        auto s = open_store();
        ASSERT_TRUE(s);
        auto items = s->items("owner@example.com");
        ASSERT_FALSE(items);
        EXPECT_THAT(items.error(), HasSubstr("owner@example.com"));
        EXPECT_THAT(items.error(), HasSubstr("item bad"));
    }
}

// --- journal ----------------------------------------------------------------------------------

TEST_F(store_test, round_trips_journal_entries_with_every_field) {
    auto s = open_store();
    ASSERT_TRUE(s);
    auto full = entry("owner@example.com", "040000008200E00074C5B7101A82E008", 3, t0,
                      "request_agenda", entry_state::done);
    full.key.recurrence_id = "2026-11-24T18:00:00Z";
    full.subject = bytes("Budget \xe2\x80\x94 Q4 \0 review");
    full.deadline = t0 + 24h;
    full.send_response = false;
    full.error = "previous attempt: 503";
    full.mode = "dry-run";
    auto bare = entry("owner@example.com", "plain", 0, t0 + 1min, "leave", entry_state::intent);
    bare.reply.clear();
    bare.signals.clear();

    auto full_id = s->record(full);
    ASSERT_TRUE(full_id) << full_id.error();
    auto bare_id = s->record(bare);
    ASSERT_TRUE(bare_id) << bare_id.error();
    EXPECT_NE(*full_id, *bare_id);

    for (const auto* e : {&full, &bare}) {
        auto found = s->find(e->key);
        ASSERT_TRUE(found) << found.error();
        ASSERT_TRUE(found->has_value());
        EXPECT_EQ(describe(**found), describe(*e));
        auto by_id = s->entry((*found)->id);
        ASSERT_TRUE(by_id) << by_id.error();
        ASSERT_TRUE(by_id->has_value());
        EXPECT_EQ(describe(**by_id), describe(*e));
    }
    EXPECT_EQ((*s->find(full.key))->id, *full_id);
    EXPECT_EQ(*s->find({"owner@example.com", "nobody", "", 0, ""}), std::nullopt);
    EXPECT_EQ(*s->entry(*bare_id + 100), std::nullopt);
}

TEST_F(store_test, set_state_records_the_outcome) {
    auto s = open_store();
    ASSERT_TRUE(s);
    const auto id = *s->record(entry("owner@example.com", "u", 0, t0));
    ASSERT_TRUE(s->set_state(id, entry_state::failed, "HTTP 503 from the server", t0 + 1s));
    auto e = **s->entry(id);
    EXPECT_EQ(e.state, entry_state::failed);
    EXPECT_EQ(e.error, "HTTP 503 from the server");
    EXPECT_EQ(e.finished_at, std::optional<time_point>(t0 + 1s));

    // Retried: unfinished again, then done.
    ASSERT_TRUE(s->set_state(id, entry_state::intent, "", t0 + 10min));
    EXPECT_EQ((**s->entry(id)).finished_at, std::nullopt);
    ASSERT_TRUE(s->set_state(id, entry_state::done, "", t0 + 11min));
    e = **s->entry(id);
    EXPECT_EQ(e.state, entry_state::done);
    EXPECT_EQ(e.error, "");
    EXPECT_EQ(e.finished_at, std::optional<time_point>(t0 + 11min));

    auto missing = s->set_state(id + 1, entry_state::done, "", t0);
    ASSERT_FALSE(missing);
    EXPECT_THAT(missing.error(), HasSubstr(std::to_string(id + 1)));
}

TEST_F(store_test, a_second_decision_for_the_same_key_is_refused_and_the_first_kept) {
    auto s = open_store();
    ASSERT_TRUE(s);
    const auto first = entry("owner@example.com", "uid-1", 2, t0, "decline");
    const auto id = s->record(first);
    ASSERT_TRUE(id) << id.error();

    auto again = entry("owner@example.com", "uid-1", 2, t0 + 1h, "accept", entry_state::done);
    auto refused = s->record(again);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(),
              "a decision for uid-1 (sequence 2) of owner@example.com is already journaled");

    auto kept = s->find(first.key);
    ASSERT_TRUE(kept && kept->has_value());
    EXPECT_EQ((*kept)->id, *id);
    EXPECT_EQ(describe(**kept), describe(first));
    EXPECT_EQ(s->list({})->size(), 1u);
}

TEST_F(store_test, sequence_recurrence_and_mailbox_make_different_keys) {
    auto s = open_store();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->record(entry("owner@example.com", "uid-1", 0, t0)));
    ASSERT_TRUE(s->record(entry("owner@example.com", "uid-1", 1, t0)));
    auto occurrence = entry("owner@example.com", "uid-1", 0, t0);
    occurrence.key.recurrence_id = "2026-11-24T18:00:00Z";
    ASSERT_TRUE(s->record(occurrence));
    ASSERT_TRUE(s->record(entry("deputy@example.com", "uid-1", 0, t0)));
    EXPECT_EQ(s->list({})->size(), 4u);

    auto twice = s->record(occurrence);
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error(),
              "a decision for uid-1 (occurrence 2026-11-24T18:00:00Z, sequence 0) of "
              "owner@example.com is already journaled");
}

TEST_F(store_test, a_follow_up_on_the_same_version_has_its_own_key) {
    auto s = open_store();
    ASSERT_TRUE(s);
    auto request = entry("owner@example.com", "uid-1", 3, t0, "request_agenda", entry_state::done);
    ASSERT_TRUE(s->record(request));
    auto deadline = entry("owner@example.com", "uid-1", 3, t0 + 24h, "decline");
    deadline.key.phase = "agenda_deadline";
    const auto id = s->record(deadline);
    ASSERT_TRUE(id) << id.error();

    auto found = s->find(deadline.key);
    ASSERT_TRUE(found && found->has_value());
    EXPECT_EQ((*found)->id, *id);
    EXPECT_EQ((*found)->key.phase, "agenda_deadline");
    EXPECT_EQ((*found)->action, "decline");

    // The deadline decline happens once, like any decision.
    auto twice = s->record(deadline);
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error(),
              "a decision for uid-1 (sequence 3, agenda_deadline) of "
              "owner@example.com is already journaled");
}

TEST_F(store_test, entries_for_a_meeting_are_every_version_and_phase_oldest_first) {
    auto s = open_store();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->record(entry("owner@example.com", "uid-1", 0, t0, "request_agenda")));
    ASSERT_TRUE(s->record(entry("owner@example.com", "other", 0, t0 + 1h)));
    ASSERT_TRUE(s->record(entry("deputy@example.com", "uid-1", 0, t0 + 2h)));
    ASSERT_TRUE(s->record(entry("owner@example.com", "uid-1", 1, t0 + 3h, "request_agenda")));
    auto undo = entry("owner@example.com", "uid-1", 1, t0 + 4h, "accept");
    undo.key.phase = "undo";
    ASSERT_TRUE(s->record(undo));

    auto all = s->entries_for("owner@example.com", "uid-1");
    ASSERT_TRUE(all) << all.error();
    std::vector<std::string> seen;
    for (const auto& e : *all) {
        seen.push_back(std::to_string(e.key.sequence) + "/" + e.key.phase + "/" + e.action);
    }
    EXPECT_EQ(seen, (std::vector<std::string>{"0//request_agenda", "1//request_agenda",
                                              "1/undo/accept"}));
    EXPECT_TRUE(s->entries_for("owner@example.com", "nobody-knows")->empty());
}

// A store written by the first release (schema 1: no phase in the journal's key) is upgraded in
// place when opened, keeping every decision and its id.
TEST_F(store_test, upgrades_a_schema_1_store_and_keeps_its_decisions) {
    fs::create_directories(dir_);
    raw_exec(file_, R"sql(
CREATE TABLE items (mailbox TEXT NOT NULL, item_id TEXT NOT NULL, etag TEXT NOT NULL,
    uid TEXT NOT NULL, owner_status TEXT NOT NULL, facts BLOB NOT NULL,
    PRIMARY KEY (mailbox, item_id)) WITHOUT ROWID;
CREATE TABLE sync_state (mailbox TEXT PRIMARY KEY NOT NULL, token TEXT NOT NULL,
    last_sync_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT, mailbox TEXT NOT NULL, uid TEXT NOT NULL,
    recurrence_id TEXT NOT NULL, sequence INTEGER NOT NULL, item_id TEXT NOT NULL,
    etag TEXT NOT NULL, subject TEXT NOT NULL, organizer TEXT NOT NULL,
    start_at INTEGER NOT NULL, rule TEXT NOT NULL, action TEXT NOT NULL,
    send_response INTEGER NOT NULL CHECK (send_response IN (0, 1)), reply TEXT NOT NULL,
    reason TEXT NOT NULL, signals TEXT NOT NULL, mode TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('intent', 'done', 'dry_run', 'left',
        'rate_limited', 'failed', 'overridden', 'undone', 'superseded')),
    error TEXT NOT NULL, decided_at INTEGER NOT NULL, finished_at INTEGER, deadline INTEGER,
    done_at INTEGER, UNIQUE (mailbox, uid, recurrence_id, sequence));
CREATE INDEX journal_by_mailbox_state ON journal (mailbox, state, decided_at);
CREATE INDEX journal_by_decided_at ON journal (decided_at);
CREATE INDEX journal_sent ON journal (mailbox, action, done_at);
CREATE TABLE trusted (mailbox TEXT NOT NULL, address TEXT NOT NULL, reason TEXT NOT NULL,
    since INTEGER NOT NULL, PRIMARY KEY (mailbox, address)) WITHOUT ROWID;
INSERT INTO journal VALUES (7, 'owner@example.com', 'uid-1', '', 2, 'item-uid-1', '"1"',
    'Quick sync', 'stranger@elsewhere.example', 1795000000, 'unknown-organizer', 'decline', 1,
    'I am unable to attend.', 'the organizer is unknown', '', 'enforce', 'done', '', 1794000000,
    1794000001, NULL, 1794000001);
PRAGMA application_id = 1634168420;
PRAGMA user_version = 1;
)sql");
    auto s = open_store();
    ASSERT_TRUE(s);
    EXPECT_EQ(raw_text(file_, "PRAGMA user_version"), "2");

    journal_key key{"owner@example.com", "uid-1", "", 2, ""};
    auto kept = s->find(key);
    ASSERT_TRUE(kept && kept->has_value()) << (kept ? "not found" : kept.error());
    EXPECT_EQ((*kept)->id, 7);
    EXPECT_EQ((*kept)->state, entry_state::done);
    EXPECT_EQ((*kept)->reply, "I am unable to attend.");
    // The sent decline still counts against the rate limit.
    EXPECT_EQ(*s->declines_sent_since("owner@example.com", time_point{seconds{1793999999}}), 1);

    // The new key works: an undo of that decline is a second entry for the same version.
    auto undo = entry("owner@example.com", "uid-1", 2, t0, "accept");
    undo.key.phase = "undo";
    ASSERT_TRUE(s->record(undo));
    EXPECT_FALSE(s->record(entry("owner@example.com", "uid-1", 2, t0)));

    // Opening again does not upgrade twice.
    s.reset();
    auto again = open_store();
    ASSERT_TRUE(again);
    EXPECT_EQ(again->list({})->size(), 2u);
}

TEST_F(store_test, a_delivery_mark_is_kept_across_a_restart_and_never_replaced) {
    {
        auto s = open_store();
        ASSERT_TRUE(s);
        const auto id = s->record(entry("owner@example.com", "uid-1", 0, t0));
        ASSERT_TRUE(id);
        EXPECT_EQ(*s->delivery_started(*id), std::nullopt);
        ASSERT_TRUE(s->mark_delivery(*id, "iMIP to rep@vendor.example", t0 + 1s));
        ASSERT_TRUE(s->mark_delivery(*id, "again", t0 + 5s));
    }
    auto s = open_store();
    ASSERT_TRUE(s);
    EXPECT_EQ(epoch(*s->delivery_started(1)), epoch(t0 + 1s));
    EXPECT_EQ(raw_text(file_, "SELECT what FROM deliveries"), "iMIP to rep@vendor.example");
    EXPECT_EQ(*s->delivery_started(2), std::nullopt);
    // A refusal after the point of no return takes the mark back.
    ASSERT_TRUE(s->clear_delivery(1));
    EXPECT_EQ(*s->delivery_started(1), std::nullopt);
}

TEST_F(store_test, state_names_round_trip) {
    const std::vector<std::pair<entry_state, std::string>> names{
        {entry_state::intent, "intent"},
        {entry_state::done, "done"},
        {entry_state::dry_run, "dry_run"},
        {entry_state::left, "left"},
        {entry_state::rate_limited, "rate_limited"},
        {entry_state::failed, "failed"},
        {entry_state::overridden, "overridden"},
        {entry_state::undone, "undone"},
        {entry_state::superseded, "superseded"},
    };
    for (const auto& [state, name] : names) {
        EXPECT_EQ(name_of(state), name);
        EXPECT_EQ(entry_state_from_name(name), state);
    }
    EXPECT_EQ(entry_state_from_name("Done"), std::nullopt);
    EXPECT_EQ(entry_state_from_name(""), std::nullopt);
}

TEST_F(store_test, every_state_is_stored_and_read_back) {
    auto s = open_store();
    ASSERT_TRUE(s);
    int sequence = 0;
    for (auto state : {entry_state::intent, entry_state::done, entry_state::dry_run,
                       entry_state::left, entry_state::rate_limited, entry_state::failed,
                       entry_state::overridden, entry_state::undone, entry_state::superseded}) {
        const auto id =
            s->record(entry("owner@example.com", "u", sequence++, t0, "decline", state));
        ASSERT_TRUE(id) << id.error();
        EXPECT_EQ((**s->entry(*id)).state, state);
    }
}

TEST_F(store_test, an_unknown_state_read_back_is_an_error) {
    auto s = open_store();
    ASSERT_TRUE(s);
    const auto id = *s->record(entry("owner@example.com", "u", 0, t0));
    // Written behind the store's back, past the CHECK constraint (which quick_check would also
    // report at the next open): reading must refuse the row, not guess a state.
    raw_exec(file_, "PRAGMA ignore_check_constraints = ON; UPDATE journal SET state = 'paused'");
    auto e = s->entry(id);
    ASSERT_FALSE(e);
    EXPECT_THAT(e.error(), HasSubstr("unknown state 'paused'"));
    EXPECT_FALSE(s->list({}));
    s.reset();

    auto reopened = store::open(dir_);
    ASSERT_FALSE(reopened);
    EXPECT_THAT(reopened.error(), HasSubstr("damaged"));
}

// --- journal queries --------------------------------------------------------------------------

TEST_F(store_test, list_filters_and_orders_newest_first) {
    auto s = open_store();
    ASSERT_TRUE(s);
    const std::string a = "a@example.com";
    const std::string b = "b@example.com";
    ASSERT_TRUE(s->record(entry(a, "a1", 0, t0, "decline", entry_state::done)));
    ASSERT_TRUE(s->record(entry(a, "a2", 0, t0 + 2h, "accept", entry_state::dry_run)));
    ASSERT_TRUE(s->record(entry(b, "b1", 0, t0 + 1h, "decline", entry_state::done)));
    // Same time as a2, recorded later: listed before it.
    ASSERT_TRUE(s->record(entry(a, "a3", 0, t0 + 2h, "leave", entry_state::left)));
    ASSERT_TRUE(s->record(entry(a, "a4", 0, t0 - 1h, "decline", entry_state::done)));

    auto all = s->list({});
    ASSERT_TRUE(all) << all.error();
    EXPECT_EQ(uids_of(*all), (std::vector<std::string>{"a3", "a2", "b1", "a1", "a4"}));

    journal_query q;
    q.mailbox = a;
    EXPECT_EQ(uids_of(*s->list(q)), (std::vector<std::string>{"a3", "a2", "a1", "a4"}));
    q.since = t0;  // inclusive
    EXPECT_EQ(uids_of(*s->list(q)), (std::vector<std::string>{"a3", "a2", "a1"}));
    q.state = entry_state::done;
    EXPECT_EQ(uids_of(*s->list(q)), (std::vector<std::string>{"a1"}));

    journal_query by_state;
    by_state.state = entry_state::done;
    EXPECT_EQ(uids_of(*s->list(by_state)), (std::vector<std::string>{"b1", "a1", "a4"}));
    by_state.limit = 2;
    EXPECT_EQ(uids_of(*s->list(by_state)), (std::vector<std::string>{"b1", "a1"}));

    journal_query since_only;
    since_only.since = t0 + 1h;
    EXPECT_EQ(uids_of(*s->list(since_only)), (std::vector<std::string>{"a3", "a2", "b1"}));

    journal_query none;
    none.limit = 0;
    EXPECT_TRUE(s->list(none)->empty());
    journal_query other;
    other.mailbox = "c@example.com";
    EXPECT_TRUE(s->list(other)->empty());
}

TEST_F(store_test, unfinished_lists_intents_of_the_mailbox_oldest_first) {
    auto s = open_store();
    ASSERT_TRUE(s);
    const std::string a = "a@example.com";
    ASSERT_TRUE(s->record(entry(a, "late", 0, t0 + 2h)));
    ASSERT_TRUE(s->record(entry(a, "early", 0, t0)));
    ASSERT_TRUE(s->record(entry(a, "finished", 0, t0, "decline", entry_state::done)));
    ASSERT_TRUE(s->record(entry(a, "failed", 0, t0, "decline", entry_state::failed)));
    ASSERT_TRUE(s->record(entry("b@example.com", "other", 0, t0)));
    const auto resolved = *s->record(entry(a, "resolved", 0, t0 + 1h));
    ASSERT_TRUE(s->set_state(resolved, entry_state::done, "", t0 + 1h));

    auto open = s->unfinished(a);
    ASSERT_TRUE(open) << open.error();
    EXPECT_EQ(uids_of(*open), (std::vector<std::string>{"early", "late"}));
    EXPECT_TRUE(s->unfinished("c@example.com")->empty());
}

TEST_F(store_test, waiting_for_agenda_lists_sent_requests_with_a_deadline) {
    auto s = open_store();
    ASSERT_TRUE(s);
    const std::string a = "a@example.com";
    auto with_deadline = [&](std::string uid, time_point deadline, std::string action,
                             entry_state state, std::string mailbox = "a@example.com") {
        auto e = entry(std::move(mailbox), std::move(uid), 0, t0, std::move(action), state);
        e.deadline = deadline;
        return s->record(e);
    };
    ASSERT_TRUE(with_deadline("later", t0 + 48h, "request_agenda", entry_state::done));
    ASSERT_TRUE(with_deadline("sooner", t0 + 24h, "request_agenda", entry_state::done));
    ASSERT_TRUE(with_deadline("not-sent", t0 + 24h, "request_agenda", entry_state::intent));
    ASSERT_TRUE(with_deadline("dry", t0 + 24h, "request_agenda", entry_state::dry_run));
    ASSERT_TRUE(with_deadline("decline", t0 + 24h, "decline", entry_state::done));
    ASSERT_TRUE(
        with_deadline("elsewhere", t0 + 24h, "request_agenda", entry_state::done, "b@example.com"));
    ASSERT_TRUE(s->record(entry(a, "no-deadline", 0, t0, "request_agenda", entry_state::done)));
    const auto replaced = with_deadline("replaced", t0 + 24h, "request_agenda", entry_state::done);
    ASSERT_TRUE(replaced);
    ASSERT_TRUE(s->set_state(*replaced, entry_state::superseded, "", t0 + 2h));

    auto waiting = s->waiting_for_agenda(a);
    ASSERT_TRUE(waiting) << waiting.error();
    EXPECT_EQ(uids_of(*waiting), (std::vector<std::string>{"sooner", "later"}));
    EXPECT_EQ(uids_of(*s->waiting_for_agenda("b@example.com")),
              (std::vector<std::string>{"elsewhere"}));
}

TEST_F(store_test, declines_sent_since_counts_only_sent_declines_in_the_window) {
    auto s = open_store();
    ASSERT_TRUE(s);
    const std::string a = "a@example.com";
    const time_point since = t0;
    int sequence = 0;
    auto decline = [&](entry_state state, time_point finished, bool send = true,
                       std::string action = "decline", std::string mailbox = "a@example.com") {
        auto e =
            entry(std::move(mailbox), "u", sequence++, finished - 1s, std::move(action), state);
        e.finished_at = finished;
        e.send_response = send;
        auto id = s->record(e);
        EXPECT_TRUE(id) << id.error();
        return id ? *id : 0;
    };
    // Counted: sent in the window, including exactly at its start.
    decline(entry_state::done, since);
    decline(entry_state::done, since + 1h);
    // Sent, then the owner answered otherwise or undid it: it still went out.
    const auto overridden = decline(entry_state::done, since + 2h);
    ASSERT_TRUE(s->set_state(overridden, entry_state::overridden, "", since + 3h));
    // Decided before the window, carried out (sent) within it.
    const auto late = decline(entry_state::intent, since - 1h);
    ASSERT_TRUE(s->set_state(late, entry_state::done, "", since + 4h));

    // Not counted.
    decline(entry_state::done, since - 1s);                          // before the window
    decline(entry_state::done, since + 1h, false);                   // declined silently
    decline(entry_state::dry_run, since + 1h);                       // never sent
    decline(entry_state::rate_limited, since + 1h);                  // held back
    decline(entry_state::failed, since + 1h);                        // the server refused
    decline(entry_state::intent, since + 1h);                        // not carried out yet
    decline(entry_state::done, since + 1h, true, "accept");          // not a decline
    decline(entry_state::done, since + 1h, true, "request_agenda");  // not a decline
    decline(entry_state::done, since + 1h, true, "decline", "b@example.com");  // other mailbox
    const auto retried_before = decline(entry_state::done, since - 1h);
    // A later state change does not move when it was sent.
    ASSERT_TRUE(s->set_state(retried_before, entry_state::undone, "", since + 5h));

    auto count = s->declines_sent_since(a, since);
    ASSERT_TRUE(count) << count.error();
    EXPECT_EQ(*count, 4);
    EXPECT_EQ(*s->declines_sent_since(a, since + 90min), 2);
    EXPECT_EQ(*s->declines_sent_since("b@example.com", since), 1);
    EXPECT_EQ(*s->declines_sent_since("c@example.com", since), 0);
}

// --- the owner's word -------------------------------------------------------------------------

TEST_F(store_test, trust_round_trips_per_mailbox_and_is_idempotent) {
    auto s = open_store();
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->trusted("a@example.com")->empty());
    ASSERT_TRUE(s->trust("a@example.com", "zed@partner.example", "overrode a decline", t0));
    ASSERT_TRUE(s->trust("a@example.com", "amy@partner.example", "undo", t0 + 1h));
    ASSERT_TRUE(s->trust("a@example.com", "zed@partner.example", "undo", t0 + 2h));
    ASSERT_TRUE(s->trust("b@example.com", "bob@partner.example", "undo", t0));
    auto a = s->trusted("a@example.com");
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(*a, (std::vector<std::string>{"amy@partner.example", "zed@partner.example"}));
    EXPECT_EQ(*s->trusted("b@example.com"), std::vector<std::string>{"bob@partner.example"});
}

// --- restarts and crashes ---------------------------------------------------------------------

TEST_F(store_test, everything_survives_a_restart) {
    const auto decided =
        entry("owner@example.com", "u", 1, t0, "request_agenda", entry_state::done);
    const auto items = std::vector<stored_item>{
        item("1", "v", {fact("m", t0, std::nullopt, partstat::accepted, {"p@q"})})};
    {
        auto s = open_store();
        ASSERT_TRUE(s);
        ASSERT_TRUE(s->apply_sync("owner@example.com", items, {}, "token", t0));
        ASSERT_TRUE(s->record(decided));
        ASSERT_TRUE(s->trust("owner@example.com", "p@q", "undo", t0));
    }
    auto s = open_store();
    ASSERT_TRUE(s);
    EXPECT_EQ(describe(*s->items("owner@example.com")), describe(items));
    EXPECT_EQ(*s->sync_token("owner@example.com"), std::optional<std::string>("token"));
    EXPECT_EQ(*s->last_sync("owner@example.com"), std::optional<time_point>(t0));
    EXPECT_EQ(describe(**s->find(decided.key)), describe(decided));
    EXPECT_EQ(*s->trusted("owner@example.com"), std::vector<std::string>{"p@q"});
}

TEST_F(store_test, a_process_that_exits_without_closing_loses_nothing) {
    const auto intent = entry("owner@example.com", "crash", 0, t0);
    reporting_child child([&](auto report) {
        auto s = store::open(dir_);
        if (!s) ::_exit(3);
        if (!(*s)->apply_sync("owner@example.com", {item("1", "v")}, {}, "token", t0)) ::_exit(4);
        auto id = (*s)->record(intent);
        if (!id) ::_exit(5);
        report(*id);
        ::_exit(0);  // no destructor: the connection is never closed, the WAL never checkpointed
    });
    ASSERT_TRUE(child.started());
    const auto id = child.next();
    const int status = child.wait();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    ASSERT_TRUE(id);

    auto s = open_store();
    ASSERT_TRUE(s);
    auto open = s->unfinished("owner@example.com");
    ASSERT_TRUE(open) << open.error();
    ASSERT_EQ(open->size(), 1u);
    EXPECT_EQ(open->front().id, *id);
    EXPECT_EQ(describe(open->front()), describe(intent));
    EXPECT_EQ(*s->sync_token("owner@example.com"), std::optional<std::string>("token"));
    EXPECT_EQ(s->items("owner@example.com")->size(), 1u);
}

TEST_F(store_test, a_process_killed_while_journaling_keeps_every_committed_entry) {
    ASSERT_TRUE(open_store());  // created before the child races it
    reporting_child child([&](auto report) {
        auto s = store::open(dir_);
        if (!s) ::_exit(3);
        for (int sequence = 0;; ++sequence) {
            auto id = (*s)->record(entry("owner@example.com", "loop", sequence, t0));
            if (!id || !report(*id)) ::_exit(4);
        }
    });
    ASSERT_TRUE(child.started());
    std::vector<std::int64_t> committed;
    while (committed.size() < 60) {
        auto id = child.next();
        ASSERT_TRUE(id) << "the child stopped early";
        committed.push_back(*id);
    }
    const int status = child.kill_and_wait();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    while (auto id = child.next()) committed.push_back(*id);  // reported before it died

    auto s = open_store();  // runs quick_check
    ASSERT_TRUE(s);
    journal_query q;
    q.limit = 100000;
    auto all = s->list(q);
    ASSERT_TRUE(all) << all.error();
    // Every reported entry is there; at most one more, committed but not yet reported.
    EXPECT_GE(all->size(), committed.size());
    EXPECT_LE(all->size(), committed.size() + 1);
    for (auto id : committed) {
        auto e = s->entry(id);
        ASSERT_TRUE(e) << e.error();
        EXPECT_TRUE(e->has_value()) << "entry " << id << " was reported committed";
    }
    // And the store still takes new decisions.
    EXPECT_TRUE(s->record(entry("owner@example.com", "after", 0, t0)));
}

TEST_F(store_test, a_process_killed_during_apply_sync_leaves_the_old_state_or_the_new) {
    constexpr int item_count = 2000;
    const std::string mailbox = "owner@example.com";
    // Generation g: every item at etag g, the single extra item "extra-g", token g.
    auto generation = [&](int g) {
        std::vector<stored_item> items;
        for (int i = 0; i < item_count; ++i) {
            items.push_back(item("item-" + std::to_string(i), std::to_string(g),
                                 {fact("m" + std::to_string(i), t0, t0 + 1h, partstat::accepted,
                                       {"someone@example.com", "else@example.com"})}));
        }
        items.push_back(item("extra-" + std::to_string(g), std::to_string(g)));
        return items;
    };
    ASSERT_TRUE(open_store());
    // Killed at different points of its cycle: right away, and a little later.
    for (const auto delay : {0ms, 3ms, 17ms}) {
        reporting_child child([&](auto report) {
            auto s = store::open(dir_);
            if (!s) ::_exit(3);
            auto previous = (*s)->sync_token(mailbox);
            int g = previous && *previous ? std::stoi(**previous) : 0;
            for (;;) {
                ++g;
                const std::vector<std::string> removed{"extra-" + std::to_string(g - 1)};
                if (!(*s)->apply_sync(mailbox, generation(g), removed, std::to_string(g),
                                      t0 + seconds{g})) {
                    ::_exit(4);
                }
                if (!report(g)) ::_exit(5);
            }
        });
        ASSERT_TRUE(child.started());
        std::int64_t last = 0;
        for (int i = 0; i < 3; ++i) {
            auto g = child.next();
            ASSERT_TRUE(g) << "the child stopped early";
            last = *g;
        }
        std::this_thread::sleep_for(delay);
        const int status = child.kill_and_wait();
        ASSERT_TRUE(WIFSIGNALED(status)) << status;
        while (auto g = child.next()) last = *g;

        auto s = open_store();
        ASSERT_TRUE(s);
        auto token = s->sync_token(mailbox);
        ASSERT_TRUE(token && *token) << token.error();
        const int g = std::stoi(**token);
        EXPECT_TRUE(g == last || g == last + 1) << g << " after " << last;
        EXPECT_EQ(*s->last_sync(mailbox), std::optional<time_point>(t0 + seconds{g}));
        auto items = s->items(mailbox);
        ASSERT_TRUE(items) << items.error();
        ASSERT_EQ(items->size(), static_cast<std::size_t>(item_count + 1));
        for (const auto& i : *items) {
            ASSERT_EQ(i.etag, std::to_string(g)) << i.item_id;
            if (i.item_id.starts_with("extra-")) {
                EXPECT_EQ(i.item_id, "extra-" + std::to_string(g));
            }
        }
    }
}

// --- size -------------------------------------------------------------------------------------

TEST_F(store_test, holds_thousands_of_entries_and_items) {
    // Each record() is a durable transaction of its own: one fsync. On tmpfs, where there is one,
    // this test weighs the store's own work rather than the disk's sync latency.
    if (std::error_code ec; fs::is_directory("/dev/shm", ec)) {
        fs::remove_all(root_);
        root_ = fs::path("/dev/shm") / root_.filename();
        ASSERT_TRUE(fs::create_directories(root_));
        dir_ = root_ / "state";
        file_ = dir_ / "agendad.sqlite3";
    }
    auto s = open_store();
    ASSERT_TRUE(s);
    const std::string mailbox = "owner@example.com";
    for (int i = 0; i < 5000; ++i) {
        auto id = s->record(entry(mailbox, "u" + std::to_string(i % 100), i / 100, t0 + seconds{i},
                                  i % 3 == 0 ? "decline" : "accept", entry_state::done));
        ASSERT_TRUE(id) << id.error();
    }
    std::vector<stored_item> items;
    for (int i = 0; i < 20000; ++i) {
        items.push_back(item("item-" + std::to_string(i), "e",
                             {fact("m", t0, t0 + 1h, partstat::accepted, {"a@b", "c@d"})}));
    }
    auto synced = s->apply_sync(mailbox, items, {}, "t", t0);
    ASSERT_TRUE(synced) << synced.error();

    journal_query q;
    q.limit = 10000;
    EXPECT_EQ(s->list(q)->size(), 5000u);
    EXPECT_EQ(s->items(mailbox)->size(), 20000u);
    EXPECT_EQ(*s->declines_sent_since(mailbox, t0), 1667);
}

}  // namespace
}  // namespace agendad::daemon
