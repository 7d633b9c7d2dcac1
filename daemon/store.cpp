// The store: one SQLite file per state directory, in WAL mode with synchronous=FULL, so that a
// decision is on disk before anything acts on it and a crash leaves either the old state or the
// new one. Every statement is prepared with bound parameters; every failure becomes a sentence
// naming what was being done, SQLite's reason and the file.
#include "daemon/store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>
#include <system_error>
#include <utility>

namespace agendad::daemon {
namespace {

namespace fs = std::filesystem;

constexpr const char* file_name = "agendad.sqlite3";
// PRAGMA application_id ("agnd"): tells an agendad store from any other SQLite file, so that a
// misconfigured state directory never has its database altered or trusted.
constexpr std::int64_t application_id = 0x61676e64;
// Bumped by every schema change; a binary refuses a store written by a newer one rather than
// misreading it.
constexpr std::int64_t schema_version = 2;
// The CLI (`agendad decisions`, `agendad undo`) may hold the store briefly while the daemon runs.
constexpr int busy_timeout_ms = 5000;

constexpr std::string_view damaged_advice =
    "; agendad will not act on a damaged journal: move the file (and its -wal and -shm files) "
    "aside to start fresh; decisions already sent are then forgotten";
// After an existing store file that holds nothing: create_store() never leaves one behind.
constexpr std::string_view lost_journal =
    ", but agendad never leaves its store empty: the journal it held was lost (the file was "
    "truncated or replaced), and starting afresh could send replies a second time; agendad will "
    "not act: restore it from a backup, or, to start afresh all the same, delete it (and its "
    "-wal and -shm files)";
constexpr std::string_view writable_advice =
    "; agendad needs a writable state directory and store, and will not act without its journal";
// A full disk is usually passing (logs rotate, someone frees space): nothing is sent that could
// not be journaled first, and a running agendad carries on by itself once there is room.
constexpr std::string_view full_advice =
    "; the file system of the state directory is full: agendad sends nothing it cannot journal "
    "first; free space (a running agendad carries on by itself once there is room)";

// Every state name is in the journal's CHECK constraint; the names are the on-disk form.
constexpr std::array<entry_state, 9> all_states{
    entry_state::intent,     entry_state::done,         entry_state::dry_run,
    entry_state::left,       entry_state::rate_limited, entry_state::failed,
    entry_state::overridden, entry_state::undone,       entry_state::superseded,
};

// The journal's columns and key, shared by the schema and the migration that rebuilds it.
constexpr std::string_view journal_columns_sql = R"sql(
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox       TEXT NOT NULL,
    uid           TEXT NOT NULL,
    recurrence_id TEXT NOT NULL,
    sequence      INTEGER NOT NULL,
    -- "" for the decision on a meeting version; a follow-up action on the same version (the
    -- decline when no agenda arrived by the deadline) has its own phase.
    phase         TEXT NOT NULL DEFAULT '',
    item_id       TEXT NOT NULL,
    etag          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    organizer     TEXT NOT NULL,
    start_at      INTEGER NOT NULL,
    rule          TEXT NOT NULL,
    action        TEXT NOT NULL,
    send_response INTEGER NOT NULL CHECK (send_response IN (0, 1)),
    reply         TEXT NOT NULL,
    reason        TEXT NOT NULL,
    signals       TEXT NOT NULL,
    mode          TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('intent', 'done', 'dry_run', 'left',
                      'rate_limited', 'failed', 'overridden', 'undone', 'superseded')),
    error         TEXT NOT NULL,
    decided_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    deadline      INTEGER,
    -- When the entry first reached `done`. Kept when it later becomes overridden, undone or
    -- superseded: a decline that was sent counts against the rate limit whatever came after.
    done_at       INTEGER,
    UNIQUE (mailbox, uid, recurrence_id, sequence, phase)
)sql";

constexpr std::string_view journal_indexes_sql = R"sql(
CREATE INDEX journal_by_mailbox_state ON journal (mailbox, state, decided_at);
CREATE INDEX journal_by_decided_at ON journal (decided_at);
CREATE INDEX journal_sent ON journal (mailbox, action, done_at);
)sql";

constexpr std::string_view other_tables_sql = R"sql(
CREATE TABLE items (
    mailbox      TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    etag         TEXT NOT NULL,
    uid          TEXT NOT NULL,
    owner_status TEXT NOT NULL,
    facts        BLOB NOT NULL,
    PRIMARY KEY (mailbox, item_id)
) WITHOUT ROWID;

CREATE TABLE sync_state (
    mailbox      TEXT PRIMARY KEY NOT NULL,
    token        TEXT NOT NULL,
    last_sync_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Replies a source delivers outside the calendar (iMIP mail): marked right before the point of
-- no return, so that a crash never sends one twice.
CREATE TABLE deliveries (
    entry_id   INTEGER PRIMARY KEY NOT NULL,
    started_at INTEGER NOT NULL,
    what       TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE trusted (
    mailbox TEXT NOT NULL,
    address TEXT NOT NULL,
    reason  TEXT NOT NULL,
    since   INTEGER NOT NULL,
    PRIMARY KEY (mailbox, address)
) WITHOUT ROWID;
)sql";

std::string schema_sql() {
    return std::string(other_tables_sql) + "CREATE TABLE journal (" +
           std::string(journal_columns_sql) + ");\n" + std::string(journal_indexes_sql);
}

// Schema 1 → 2: the journal's key gained `phase`. SQLite cannot change a table's UNIQUE
// constraint, so the table is rebuilt and its rows copied (ids kept).
std::string migrate_1_to_2_sql() {
    return "CREATE TABLE journal_v2 (" + std::string(journal_columns_sql) + ");\n" +
           R"sql(
INSERT INTO journal_v2 (id, mailbox, uid, recurrence_id, sequence, phase, item_id, etag, subject,
    organizer, start_at, rule, action, send_response, reply, reason, signals, mode, state, error,
    decided_at, finished_at, deadline, done_at)
  SELECT id, mailbox, uid, recurrence_id, sequence, '', item_id, etag, subject, organizer, start_at,
    rule, action, send_response, reply, reason, signals, mode, state, error, decided_at,
    finished_at, deadline, done_at FROM journal;
DROP TABLE journal;
ALTER TABLE journal_v2 RENAME TO journal;
CREATE TABLE deliveries (
    entry_id   INTEGER PRIMARY KEY NOT NULL,
    started_at INTEGER NOT NULL,
    what       TEXT NOT NULL
) WITHOUT ROWID;
)sql" + std::string(journal_indexes_sql) +
           "PRAGMA user_version=2;\n";
}

// --- errors ---------------------------------------------------------------------------------

// The error value of any store_result<T>: `return failure{"..."};`.
struct failure {
    std::string message;
    template <class T>
    operator store_result<T>() const {
        return store_result<T>(boost::system::in_place_error, message);
    }
};

// What to do about SQLite's `rc`; `os_error` is the system's error behind an I/O failure (SQLite
// words every one of them "disk I/O error": a full disk, a read-only file system, ...).
std::string_view advice_for(int rc, int os_error) {
    if (os_error == ENOSPC || os_error == EDQUOT) return full_advice;
    if (os_error == EROFS || os_error == EACCES || os_error == EPERM) return writable_advice;
    switch (rc & 0xff) {
        case SQLITE_NOTADB:
            // Also what a store whose first page (the header) was overwritten looks like.
            return "; it is not an agendad store, or its header is damaged: agendad will not act "
                   "on it; restore it from a backup, move it (and its -wal and -shm files) aside "
                   "to start fresh (decisions already sent are then forgotten), or choose another "
                   "state directory";
        case SQLITE_FULL:
            return full_advice;
        case SQLITE_CORRUPT:
            return damaged_advice;
        case SQLITE_READONLY:
        case SQLITE_CANTOPEN:
        case SQLITE_PERM:
        case SQLITE_AUTH:
            return writable_advice;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return "; another process holds the store (is a second agendad using this state "
                   "directory?)";
        default:
            return {};
    }
}

std::string errno_message(int e) {
    return std::error_code(e, std::system_category()).message();
}

// --- statements and transactions ------------------------------------------------------------

struct db_closer {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using db_ptr = std::unique_ptr<sqlite3, db_closer>;

struct stmt_finalizer {
    void operator()(sqlite3_stmt* s) const noexcept { sqlite3_finalize(s); }
};
using stmt_ptr = std::unique_ptr<sqlite3_stmt, stmt_finalizer>;

std::int64_t seconds_of(time_point t) {
    return t.time_since_epoch().count();
}
time_point time_of(std::int64_t s) {
    return time_point{std::chrono::seconds{s}};
}

// A prepared statement whose parameters are bound in order; the first failed bind is reported by
// step(), so that call sites check one result.
class statement {
  public:
    explicit statement(stmt_ptr s) : s_(std::move(s)) {}

    statement& text(std::string_view v) {
        // A null pointer would bind NULL, not "".
        return check(sqlite3_bind_text64(s_.get(), next_++, v.data() ? v.data() : "", v.size(),
                                         SQLITE_TRANSIENT, SQLITE_UTF8));
    }
    statement& blob(std::string_view v) {
        return check(sqlite3_bind_blob64(s_.get(), next_++, v.data() ? v.data() : "", v.size(),
                                         SQLITE_TRANSIENT));
    }
    statement& integer(std::int64_t v) { return check(sqlite3_bind_int64(s_.get(), next_++, v)); }
    statement& time(time_point t) { return integer(seconds_of(t)); }
    statement& time(const std::optional<time_point>& t) {
        return t ? time(*t) : check(sqlite3_bind_null(s_.get(), next_++));
    }

    // SQLITE_ROW, SQLITE_DONE or an error code.
    int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_.get()); }

    // For the next row of a batch.
    void reset() {
        sqlite3_reset(s_.get());
        sqlite3_clear_bindings(s_.get());
        next_ = 1;
        bind_rc_ = SQLITE_OK;
    }

    std::string column_text(int i) const {
        const auto* p = sqlite3_column_text(s_.get(), i);  // before column_bytes, as documented
        const int n = sqlite3_column_bytes(s_.get(), i);
        return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n))
                 : std::string();
    }
    std::string column_blob(int i) const {
        const void* p = sqlite3_column_blob(s_.get(), i);
        const int n = sqlite3_column_bytes(s_.get(), i);
        return p ? std::string(static_cast<const char*>(p), static_cast<std::size_t>(n))
                 : std::string();
    }
    std::int64_t column_integer(int i) const { return sqlite3_column_int64(s_.get(), i); }
    std::optional<time_point> column_optional_time(int i) const {
        if (sqlite3_column_type(s_.get(), i) == SQLITE_NULL) return std::nullopt;
        return time_of(column_integer(i));
    }

  private:
    statement& check(int rc) {
        if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
        return *this;
    }

    stmt_ptr s_;
    int next_ = 1;
    int bind_rc_ = SQLITE_OK;
};

// The connection and its file, for preparing statements and wording errors.
struct context {
    sqlite3* db;
    const fs::path& file;

    // "<what>: <SQLite's reason> (<file>)", with what to do when there is something to do.
    std::string error(std::string_view what, int rc) const {
        // sqlite3_errmsg describes the last API call; a bind failure is only in its code.
        const char* reason =
            sqlite3_extended_errcode(db) == rc ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        std::string message(what);
        message += ": ";
        message += reason;
        // SQLite keeps the system's error for some I/O and open failures only (not for one at
        // commit): whether the file can still be written is asked of the file system first.
        const int primary = rc & 0xff;
        int os_error = 0;
        if (primary == SQLITE_IOERR && ::access(file.c_str(), W_OK) != 0) os_error = errno;
        if (os_error == 0 && (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN))
            os_error = sqlite3_system_errno(db);
        if (os_error != 0) message += " (" + errno_message(os_error) + ")";
        message += " (" + file.string() + ")";
        message += advice_for(rc, os_error);
        return message;
    }

    store_result<statement> prepare(std::string_view sql, std::string_view what) const {
        sqlite3_stmt* raw = nullptr;
        const int rc =
            sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
        stmt_ptr s(raw);
        if (rc != SQLITE_OK) return failure{error(what, rc)};
        return statement(std::move(s));
    }

    // Runs a statement that returns no rows.
    store_result<void> run(statement& s, std::string_view what) const {
        const int rc = s.step();
        if (rc != SQLITE_DONE && rc != SQLITE_ROW) return failure{error(what, rc)};
        return {};
    }

    // Constant SQL only (schema, transaction control): nothing of the data goes through here.
    store_result<void> exec(const char* sql, std::string_view what) const {
        const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
        if (rc != SQLITE_OK) return failure{error(what, rc)};
        return {};
    }
};

// BEGIN IMMEDIATE takes the write lock up front, so a transaction never fails half-way for
// another writer; anything but an explicit commit rolls back. Declare it before the statements it
// covers, so that they are finalised first.
class transaction {
  public:
    explicit transaction(const context& c) : c_(c) {}
    ~transaction() {
        // SQLite may already have rolled back on its own (disk full, I/O error).
        if (active_ && !sqlite3_get_autocommit(c_.db)) {
            sqlite3_exec(c_.db, "ROLLBACK", nullptr, nullptr, nullptr);
        }
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;

    store_result<void> begin(std::string_view what) {
        auto r = c_.exec("BEGIN IMMEDIATE", what);
        active_ = r.has_value();
        return r;
    }
    store_result<void> commit(std::string_view what) {
        auto r = c_.exec("COMMIT", what);
        if (r) active_ = false;
        return r;
    }

  private:
    const context& c_;
    bool active_ = false;
};

store_result<std::int64_t> pragma_integer(const context& c, std::string_view sql,
                                          std::string_view what) {
    auto s = c.prepare(sql, what);
    if (!s) return failure{s.error()};
    const int rc = s->step();
    if (rc != SQLITE_ROW) return failure{c.error(what, rc)};
    return s->column_integer(0);
}

// --- names ----------------------------------------------------------------------------------

struct partstat_name {
    calendar::partstat value;
    std::string_view name;
};
// The position is also the code in the facts blob: append only.
constexpr std::array<partstat_name, 7> partstat_names{{
    {calendar::partstat::none, "none"},
    {calendar::partstat::needs_action, "needs_action"},
    {calendar::partstat::accepted, "accepted"},
    {calendar::partstat::declined, "declined"},
    {calendar::partstat::tentative, "tentative"},
    {calendar::partstat::delegated, "delegated"},
    {calendar::partstat::other, "other"},
}};

std::optional<std::size_t> partstat_code(calendar::partstat p) {
    for (std::size_t i = 0; i < partstat_names.size(); ++i) {
        if (partstat_names[i].value == p) return i;
    }
    return std::nullopt;
}

std::string_view name_of(calendar::partstat p) {
    const auto code = partstat_code(p);
    return code ? partstat_names[*code].name : std::string_view{};
}

std::optional<calendar::partstat> partstat_from_name(std::string_view name) {
    for (const auto& p : partstat_names) {
        if (p.name == name) return p.value;
    }
    return std::nullopt;
}

// --- history facts blob -----------------------------------------------------------------------
//
// Version 1, all integers little-endian, strings as a varint length and their bytes (any bytes:
// subjects are not guaranteed to be valid UTF-8):
//   u8 version (1), varint count, then per fact:
//   string uid, string subject, i64 start, u8 flags (1: has last_end, 2: owner organizes),
//   [i64 last_end], string organizer, u8 owner status (position in partstat_names),
//   varint participant count, string participants...

constexpr unsigned char facts_format = 1;
constexpr unsigned char flag_has_last_end = 1;
constexpr unsigned char flag_owner_organizes = 2;

void put_varint(std::string& out, std::uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<char>((v & 0x7f) | 0x80));
        v >>= 7;
    }
    out.push_back(static_cast<char>(v));
}

void put_int64(std::string& out, std::int64_t v) {
    auto u = static_cast<std::uint64_t>(v);
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>(u & 0xff));
        u >>= 8;
    }
}

void put_string(std::string& out, std::string_view s) {
    put_varint(out, s.size());
    out.append(s);
}

// Fails for an owner status outside the enum (a value cast from a bad integer).
bool encode_facts(const std::vector<policy::meeting_fact>& facts, std::string& out) {
    out.clear();
    out.push_back(static_cast<char>(facts_format));
    put_varint(out, facts.size());
    for (const auto& f : facts) {
        const auto status = partstat_code(f.owner_status);
        if (!status) return false;
        put_string(out, f.uid);
        put_string(out, f.subject);
        put_int64(out, seconds_of(f.start));
        unsigned char flags = 0;
        if (f.last_end) flags |= flag_has_last_end;
        if (f.owner_organizes) flags |= flag_owner_organizes;
        out.push_back(static_cast<char>(flags));
        if (f.last_end) put_int64(out, seconds_of(*f.last_end));
        put_string(out, f.organizer);
        out.push_back(static_cast<char>(*status));
        put_varint(out, f.participants.size());
        for (const auto& p : f.participants) put_string(out, p);
    }
    return true;
}

// Reads what encode_facts wrote, checking every length against what is left, so that a damaged
// blob is an error and never a huge allocation or a read past the end.
class blob_reader {
  public:
    explicit blob_reader(std::string_view in) : in_(in) {}

    std::size_t remaining() const { return in_.size() - pos_; }

    bool byte(unsigned char& b) {
        if (remaining() < 1) return false;
        b = static_cast<unsigned char>(in_[pos_++]);
        return true;
    }
    bool varint(std::uint64_t& v) {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            unsigned char b = 0;
            if (!byte(b)) return false;
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) return true;
        }
        return false;
    }
    // A count of items that take at least one byte each.
    bool count(std::size_t& n) {
        std::uint64_t v = 0;
        if (!varint(v) || v > remaining()) return false;
        n = static_cast<std::size_t>(v);
        return true;
    }
    bool int64(std::int64_t& v) {
        if (remaining() < 8) return false;
        std::uint64_t u = 0;
        for (int i = 0; i < 8; ++i) {
            u |= static_cast<std::uint64_t>(static_cast<unsigned char>(in_[pos_ + i])) << (8 * i);
        }
        pos_ += 8;
        v = static_cast<std::int64_t>(u);
        return true;
    }
    bool time(time_point& t) {
        std::int64_t s = 0;
        if (!int64(s)) return false;
        t = time_of(s);
        return true;
    }
    bool string(std::string& s) {
        std::size_t n = 0;
        if (!count(n)) return false;
        s.assign(in_.substr(pos_, n));
        pos_ += n;
        return true;
    }

  private:
    std::string_view in_;
    std::size_t pos_ = 0;
};

// The facts, or why they do not decode.
boost::system::result<std::vector<policy::meeting_fact>, std::string> decode_facts(
    std::string_view blob) {
    using decoded = boost::system::result<std::vector<policy::meeting_fact>, std::string>;
    const auto bad = [](std::string why) { return decoded(boost::system::in_place_error, why); };
    blob_reader in(blob);
    unsigned char format = 0;
    if (!in.byte(format)) return bad("empty");
    if (format != facts_format) {
        return bad("format " + std::to_string(format) + ", this binary reads format " +
                   std::to_string(facts_format));
    }
    std::size_t n = 0;
    if (!in.count(n)) return bad("truncated");
    std::vector<policy::meeting_fact> facts(n);
    for (auto& f : facts) {
        unsigned char flags = 0;
        unsigned char status = 0;
        std::size_t participants = 0;
        if (!in.string(f.uid) || !in.string(f.subject) || !in.time(f.start) || !in.byte(flags)) {
            return bad("truncated");
        }
        if (flags & ~(flag_has_last_end | flag_owner_organizes)) return bad("unknown flags");
        f.owner_organizes = (flags & flag_owner_organizes) != 0;
        if (flags & flag_has_last_end) {
            f.last_end.emplace();
            if (!in.time(*f.last_end)) return bad("truncated");
        }
        if (!in.string(f.organizer) || !in.byte(status)) return bad("truncated");
        if (status >= partstat_names.size()) {
            return bad("unknown owner status " + std::to_string(status));
        }
        f.owner_status = partstat_names[status].value;
        if (!in.count(participants)) return bad("truncated");
        f.participants.resize(participants);
        for (auto& p : f.participants) {
            if (!in.string(p)) return bad("truncated");
        }
    }
    if (in.remaining() != 0) return bad("trailing bytes");
    return facts;
}

// --- opening --------------------------------------------------------------------------------

store_result<void> make_state_directory(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return {};
    if (fs::exists(dir, ec)) {
        return failure{"creating the state directory: " + dir.string() +
                       " exists and is not a directory"};
    }
    // "state/" has an empty filename; its parent is the directory itself.
    const fs::path target = dir.has_filename() ? dir : dir.parent_path();
    if (target.has_parent_path()) {
        fs::create_directories(target.parent_path(), ec);
        if (ec) {
            return failure{"creating the state directory " + dir.string() + ": " + ec.message()};
        }
    }
    // Decisions name people and meetings: only the daemon's user may look in.
    if (::mkdir(target.c_str(), 0700) != 0 && errno != EEXIST) {
        return failure{"creating the state directory " + dir.string() + ": " +
                       errno_message(errno) + std::string(writable_advice)};
    }
    return {};
}

// SQLite creates its files 0644 (less the umask) and gives the -wal and -shm files the mode of the
// database: creating the file first makes all three private. `store_file` is the name for errors.
store_result<void> create_private_file(const fs::path& file, const fs::path& store_file) {
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ::close(fd);
        return {};
    }
    if (errno == EEXIST) return {};
    const int e = errno;
    return failure{"creating the store " + store_file.string() + ": " + errno_message(e) +
                   std::string(e == ENOSPC || e == EDQUOT ? full_advice : writable_advice)};
}

// A new name in a directory survives a crash only once the directory is synced.
void sync_directory(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
}

struct identity {
    std::int64_t application = 0;
    std::int64_t version = 0;
    std::int64_t objects = 0;  // tables, indexes, ... of any kind
};

store_result<identity> read_identity(const context& c) {
    constexpr std::string_view what = "reading the store's header";
    auto app = pragma_integer(c, "PRAGMA application_id", what);
    if (!app) return failure{app.error()};
    auto version = pragma_integer(c, "PRAGMA user_version", what);
    if (!version) return failure{version.error()};
    auto objects = pragma_integer(c, "SELECT count(*) FROM sqlite_master", what);
    if (!objects) return failure{objects.error()};
    return identity{*app, *version, *objects};
}

// Refuses what is not an agendad store, or one this binary cannot read.
store_result<void> check_identity(const context& c, const identity& id) {
    const std::string file = c.file.string();
    if (id.application != application_id &&
        (id.application != 0 || id.version != 0 || id.objects != 0)) {
        return failure{"opening the store: " + file +
                       " is an SQLite database of another application, not an agendad store; "
                       "move it aside or choose another state directory"};
    }
    if (id.version > schema_version) {
        return failure{"opening the store: " + file + " was written by a newer agendad (schema " +
                       std::to_string(id.version) + ", this binary knows up to " +
                       std::to_string(schema_version) +
                       "); run the newer agendad, or move the file aside to start fresh "
                       "(decisions already sent are then forgotten)"};
    }
    if (id.application == application_id && id.version < 1) {
        return failure{"opening the store: " + file + " has no schema version" +
                       std::string(damaged_advice)};
    }
    return {};
}

store_result<void> configure(const context& c) {
    {
        constexpr std::string_view what = "setting WAL mode";
        auto s = c.prepare("PRAGMA journal_mode=WAL", what);
        if (!s) return failure{s.error()};
        const int rc = s->step();
        if (rc != SQLITE_ROW) return failure{c.error(what, rc)};
        const std::string mode = s->column_text(0);
        if (mode != "wal") {
            return failure{std::string(what) + ": the store stays in " + mode + " mode (" +
                           c.file.string() + ")"};
        }
    }
    // FULL: a journaled decision survives power loss before anything acts on it.
    if (auto r = c.exec("PRAGMA synchronous=FULL", "setting synchronous=FULL"); !r) return r;
    if (auto r = c.exec("PRAGMA foreign_keys=ON", "enabling foreign keys"); !r) return r;
    return {};
}

store_result<void> quick_check(const context& c) {
    constexpr std::string_view what = "checking the store";
    auto s = c.prepare("PRAGMA quick_check", what);
    if (!s) return failure{s.error()};
    std::string problems;
    int shown = 0;
    for (;;) {
        const int rc = s->step();
        if (rc == SQLITE_DONE) break;
        // A damaged page can stop the check itself: SQLITE_CORRUPT gets the same advice.
        if (rc != SQLITE_ROW) return failure{c.error(what, rc)};
        std::string line = s->column_text(0);
        if (line == "ok") continue;
        if (shown++ < 3) {
            if (!problems.empty()) problems += "; ";
            problems += line;
        }
    }
    if (shown == 0) return {};
    return failure{std::string(what) + ": the store is damaged (" + problems + ") (" +
                   c.file.string() + ")" + std::string(damaged_advice)};
}

store_result<void> create_schema(const context& c) {
    constexpr std::string_view what = "creating the store's tables";
    transaction tx(c);
    if (auto r = tx.begin(what); !r) return r;
    // Only ever an empty file of this process's own (create_store); never build over anything.
    auto id = read_identity(c);
    if (!id) return failure{id.error()};
    if (id->application != 0 || id->version != 0 || id->objects != 0) return {};
    if (auto r = c.exec(schema_sql().c_str(), what); !r) return r;
    const std::string stamp = "PRAGMA application_id=" + std::to_string(application_id) +
                              "; PRAGMA user_version=" + std::to_string(schema_version);
    if (auto r = c.exec(stamp.c_str(), what); !r) return r;
    return tx.commit(what);
}

// A new store is built whole under a temporary name (its schema committed with a rollback
// journal, so that all of it is in the file) and only then linked to its name: the store file
// exists only with its schema. An existing store file that holds nothing is then never a first
// start that was cut short (or found the disk full) but a journal that was lost, which open()
// refuses rather than start afresh and send every reply again.
store_result<void> create_store(const fs::path& file) {
    const fs::path tmp = file.parent_path() /
                         ("." + file.filename().string() + ".new-" + std::to_string(::getpid()));
    const auto discard = [&tmp] {
        std::error_code ignored;
        fs::remove(tmp, ignored);
        fs::remove(tmp.string() + "-journal", ignored);
    };
    discard();  // left by a process with the same pid that stopped half-way
    if (auto r = create_private_file(tmp, file); !r) return r;
    {
        sqlite3* raw = nullptr;
        const int rc = sqlite3_open_v2(tmp.c_str(), &raw,
                                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
        db_ptr db(raw);
        if (!db) {
            discard();
            return failure{"creating the store: out of memory (" + file.string() + ")"};
        }
        const context c{db.get(), file};  // errors name the store, not its temporary name
        sqlite3_extended_result_codes(db.get(), 1);
        store_result<void> built;
        if (rc != SQLITE_OK) built = failure{c.error("creating the store", rc)};
        if (built) built = c.exec("PRAGMA synchronous=FULL", "setting synchronous=FULL");
        if (built) built = create_schema(c);
        if (!built) {
            db.reset();
            discard();
            return built;
        }
    }
    // link, not rename: a store another process made meanwhile is kept (theirs is as good).
    if (::link(tmp.c_str(), file.c_str()) != 0 && errno != EEXIST) {
        const int e = errno;
        discard();
        return failure{"creating the store " + file.string() + ": " + errno_message(e) +
                       std::string(e == ENOSPC || e == EDQUOT ? full_advice : writable_advice)};
    }
    discard();
    sync_directory(file.parent_path());
    return {};
}

// SQLite takes a write-ahead log whose header does not check out for an empty one and goes on
// without the transactions in it, quietly: the decisions journaled since the last checkpoint
// would be forgotten and could be acted on again. SQLite writes and syncs the header before any
// frame that follows it, so a crash never leaves a bad header in front of committed frames: a bad
// one is damage (or a stranger's file), and it is refused. An empty log holds nothing.
store_result<void> check_wal(const fs::path& file) {
    const fs::path wal = file.string() + "-wal";
    const int fd = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int e = errno;
        if (e == ENOENT) return {};
        return failure{"reading the store's write-ahead log " + wal.string() + ": " +
                       errno_message(e) + std::string(writable_advice)};
    }
    std::array<unsigned char, 32> h{};
    ssize_t n = 0;
    while ((n = ::pread(fd, h.data(), h.size(), 0)) < 0 && errno == EINTR) {
    }
    ::close(fd);
    if (n == 0) return {};
    const auto word = [&h](std::size_t at, bool big_endian) {
        std::uint32_t v = 0;
        for (std::size_t i = 0; i < 4; ++i) {
            const std::uint32_t byte = h[at + (big_endian ? i : 3 - i)];
            v = (v << 8) | byte;
        }
        return v;
    };
    // The format of SQLite's wal.c: a big-endian magic (its low bit: the checksum reads words
    // big-endian), version 3007000, and a checksum of the first 24 bytes in the last 8.
    bool ok = n == static_cast<ssize_t>(h.size());
    const std::uint32_t magic = word(0, true);
    ok = ok && (magic == 0x377f0682 || magic == 0x377f0683) && word(4, true) == 3007000;
    if (ok) {
        const bool big_endian = (magic & 1) != 0;
        std::uint32_t s1 = 0;
        std::uint32_t s2 = 0;
        for (std::size_t i = 0; i < 24; i += 8) {
            s1 += word(i, big_endian) + s2;
            s2 += word(i + 4, big_endian) + s1;
        }
        ok = s1 == word(24, true) && s2 == word(28, true);
    }
    if (ok) return {};
    return failure{
        "opening the store: its write-ahead log " + wal.string() +
        " is damaged (its header does not check out), so the decisions journaled in it cannot "
        "be read; agendad will not act on a journal that may be missing decisions: restore the "
        "state directory from a backup, or move the -wal file aside to go on without them "
        "(decisions recorded only in it are then forgotten and may be carried out again)"};
}

// --- journal rows ---------------------------------------------------------------------------

constexpr std::string_view select_entries =
    "SELECT id, mailbox, uid, recurrence_id, sequence, item_id, etag, subject, organizer, "
    "start_at, rule, action, send_response, reply, reason, signals, mode, state, error, "
    "decided_at, finished_at, deadline, phase FROM journal";

store_result<journal_entry> read_entry(const context& c, const statement& s) {
    journal_entry e;
    e.id = s.column_integer(0);
    e.key.mailbox = s.column_text(1);
    e.key.uid = s.column_text(2);
    e.key.recurrence_id = s.column_text(3);
    e.key.sequence = static_cast<int>(s.column_integer(4));
    e.item_id = s.column_text(5);
    e.etag = s.column_text(6);
    e.subject = s.column_text(7);
    e.organizer = s.column_text(8);
    e.start = time_of(s.column_integer(9));
    e.rule = s.column_text(10);
    e.action = s.column_text(11);
    e.send_response = s.column_integer(12) != 0;
    e.reply = s.column_text(13);
    e.reason = s.column_text(14);
    e.signals = s.column_text(15);
    e.mode = s.column_text(16);
    const std::string state = s.column_text(17);
    const auto parsed = entry_state_from_name(state);
    if (!parsed) {
        return failure{"reading journal entry " + std::to_string(e.id) + ": unknown state '" +
                       state + "' (" + c.file.string() +
                       "); was the store written by a newer agendad?"};
    }
    e.state = *parsed;
    e.error = s.column_text(18);
    e.decided_at = time_of(s.column_integer(19));
    e.finished_at = s.column_optional_time(20);
    e.deadline = s.column_optional_time(21);
    e.key.phase = s.column_text(22);
    return e;
}

store_result<std::vector<journal_entry>> read_entries(const context& c, statement& s,
                                                      std::string_view what) {
    std::vector<journal_entry> entries;
    for (;;) {
        const int rc = s.step();
        if (rc == SQLITE_DONE) return entries;
        if (rc != SQLITE_ROW) return failure{c.error(what, rc)};
        auto e = read_entry(c, s);
        if (!e) return failure{e.error()};
        entries.push_back(std::move(*e));
    }
}

store_result<std::optional<journal_entry>> read_one_entry(const context& c, statement& s,
                                                          std::string_view what) {
    const int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<journal_entry>();
    if (rc != SQLITE_ROW) return failure{c.error(what, rc)};
    auto e = read_entry(c, s);
    if (!e) return failure{e.error()};
    return std::optional<journal_entry>(std::move(*e));
}

std::string describe(const journal_key& key) {
    std::string text = key.uid + " (";
    if (!key.recurrence_id.empty()) text += "occurrence " + key.recurrence_id + ", ";
    text += "sequence " + std::to_string(key.sequence);
    if (!key.phase.empty()) text += ", " + key.phase;
    return text + ") of " + key.mailbox;
}

}  // namespace

std::string_view name_of(entry_state s) {
    switch (s) {
        case entry_state::intent:
            return "intent";
        case entry_state::done:
            return "done";
        case entry_state::dry_run:
            return "dry_run";
        case entry_state::left:
            return "left";
        case entry_state::rate_limited:
            return "rate_limited";
        case entry_state::failed:
            return "failed";
        case entry_state::overridden:
            return "overridden";
        case entry_state::undone:
            return "undone";
        case entry_state::superseded:
            return "superseded";
    }
    return {};  // a value cast from an integer outside the enum
}

std::optional<entry_state> entry_state_from_name(std::string_view name) {
    for (entry_state s : all_states) {
        if (name_of(s) == name) return s;
    }
    return std::nullopt;
}

store_result<std::unique_ptr<store>> store::open(const std::filesystem::path& dir) {
    if (dir.empty()) return failure{"opening the store: no state directory given"};
    if (auto r = make_state_directory(dir); !r) return failure{r.error()};
    const fs::path file = dir / file_name;
    std::error_code ec;
    if (!fs::exists(fs::symlink_status(file, ec))) {
        if (auto r = create_store(file); !r) return failure{r.error()};
    }
    // create_store() never leaves an empty store file behind, so an empty one is a journal that
    // was lost (truncated, or replaced by an empty file). Said before SQLite opens it: SQLite
    // deletes the -wal of an empty database file, which may be all that is left of the journal.
    if (fs::is_regular_file(file, ec) && fs::file_size(file, ec) == 0 && !ec) {
        return failure{"opening the store: " + file.string() + " is empty" +
                       std::string(lost_journal)};
    }
    if (auto r = check_wal(file); !r) return failure{r.error()};

    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(file.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    db_ptr db(raw);
    if (!db) return failure{"opening the store: out of memory (" + file.string() + ")"};
    const context c{db.get(), file};
    if (rc != SQLITE_OK) return failure{c.error("opening the store", rc)};
    sqlite3_extended_result_codes(db.get(), 1);
    sqlite3_busy_timeout(db.get(), busy_timeout_ms);
    // Closing the last connection copies the -wal into the file: not for a store that is
    // refused, which is left exactly as it was found (to be restored, or looked at).
    sqlite3_db_config(db.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    // SQLite quietly falls back to read-only when the file cannot be written; the file system
    // says why (a read-only mount, permissions).
    if (sqlite3_db_readonly(db.get(), "main") == 1) {
        std::string why = "the file is read-only";
        if (::access(file.c_str(), W_OK) != 0) {
            const int e = errno;
            why += " (" + errno_message(e) + ")";
        }
        return failure{"opening the store: " + why + " (" + file.string() + ")" +
                       std::string(writable_advice)};
    }

    // Identify the file before changing anything in it (WAL mode is persistent).
    auto id = read_identity(c);
    if (!id) return failure{id.error()};
    if (auto r = check_identity(c, *id); !r) return failure{r.error()};
    if (id->application == 0 && id->version == 0 && id->objects == 0) {
        // A file replaced by a blank database.
        return failure{"opening the store: " + file.string() +
                       " is an SQLite database without agendad's tables" +
                       std::string(lost_journal)};
    }
    if (auto r = configure(c); !r) return failure{r.error()};
    if (auto r = quick_check(c); !r) return failure{r.error()};
    if (id->version == 1) {
        constexpr std::string_view what = "upgrading the store to schema 2";
        transaction tx(c);
        if (auto r = tx.begin(what); !r) return failure{r.error()};
        if (auto again = read_identity(c); again && again->version == 1) {
            if (auto r = c.exec(migrate_1_to_2_sql().c_str(), what); !r) return failure{r.error()};
        }
        if (auto r = tx.commit(what); !r) return failure{r.error()};
    }
    sqlite3_db_config(db.get(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, nullptr);
    return std::unique_ptr<store>(new store(db.release(), file));
}

store::store(sqlite3* db, std::filesystem::path file) : db_(db), file_(std::move(file)) {}

store::~store() {
    sqlite3_close_v2(db_);
}

// --- calendar state -----------------------------------------------------------------------------

store_result<std::optional<std::string>> store::sync_token(std::string_view mailbox) {
    const context c{db_, file_};
    const std::string what = "reading the sync token of " + std::string(mailbox);
    auto s = c.prepare("SELECT token FROM sync_state WHERE mailbox = ?", what);
    if (!s) return failure{s.error()};
    s->text(mailbox);
    const int rc = s->step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return failure{c.error(what, rc)};
    return std::optional<std::string>(s->column_text(0));
}

store_result<void> store::apply_sync(std::string_view mailbox,
                                     const std::vector<stored_item>& upserts,
                                     const std::vector<std::string>& removed_item_ids,
                                     std::string_view token, time_point now) {
    const context c{db_, file_};
    const std::string what = "saving the calendar sync of " + std::string(mailbox);
    transaction tx(c);
    if (auto r = tx.begin(what); !r) return r;

    auto upsert = c.prepare(
        "INSERT INTO items (mailbox, item_id, etag, uid, owner_status, facts) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (mailbox, item_id) DO UPDATE SET "
        "etag = excluded.etag, uid = excluded.uid, owner_status = excluded.owner_status, "
        "facts = excluded.facts",
        what);
    if (!upsert) return failure{upsert.error()};
    std::string blob;
    for (const auto& item : upserts) {
        const std::string_view status = name_of(item.owner_status);
        if (status.empty() || !encode_facts(item.facts, blob)) {
            return failure{what + ": item " + item.item_id + " has an owner status outside " +
                           "calendar::partstat (" + file_.string() + ")"};
        }
        upsert->reset();
        upsert->text(mailbox)
            .text(item.item_id)
            .text(item.etag)
            .text(item.uid)
            .text(status)
            .blob(blob);
        if (auto r = c.run(*upsert, what); !r) return r;
    }

    auto remove = c.prepare("DELETE FROM items WHERE mailbox = ? AND item_id = ?", what);
    if (!remove) return failure{remove.error()};
    for (const auto& id : removed_item_ids) {
        remove->reset();
        remove->text(mailbox).text(id);
        if (auto r = c.run(*remove, what); !r) return r;
    }

    auto state = c.prepare(
        "INSERT INTO sync_state (mailbox, token, last_sync_at) VALUES (?, ?, ?) "
        "ON CONFLICT (mailbox) DO UPDATE SET token = excluded.token, "
        "last_sync_at = excluded.last_sync_at",
        what);
    if (!state) return failure{state.error()};
    state->text(mailbox).text(token).time(now);
    if (auto r = c.run(*state, what); !r) return r;
    return tx.commit(what);
}

store_result<void> store::reset_calendar(std::string_view mailbox) {
    const context c{db_, file_};
    const std::string what = "forgetting the calendar of " + std::string(mailbox);
    transaction tx(c);
    if (auto r = tx.begin(what); !r) return r;
    for (const char* sql :
         {"DELETE FROM items WHERE mailbox = ?", "DELETE FROM sync_state WHERE mailbox = ?"}) {
        auto s = c.prepare(sql, what);
        if (!s) return failure{s.error()};
        s->text(mailbox);
        if (auto r = c.run(*s, what); !r) return r;
    }
    return tx.commit(what);
}

store_result<std::vector<stored_item>> store::items(std::string_view mailbox) {
    const context c{db_, file_};
    const std::string what = "reading the items of " + std::string(mailbox);
    auto s = c.prepare(
        "SELECT item_id, etag, uid, owner_status, facts FROM items WHERE mailbox = ? "
        "ORDER BY item_id",
        what);
    if (!s) return failure{s.error()};
    s->text(mailbox);
    std::vector<stored_item> items;
    for (;;) {
        const int rc = s->step();
        if (rc == SQLITE_DONE) return items;
        if (rc != SQLITE_ROW) return failure{c.error(what, rc)};
        stored_item item;
        item.item_id = s->column_text(0);
        item.etag = s->column_text(1);
        item.uid = s->column_text(2);
        const std::string status = s->column_text(3);
        const auto parsed = partstat_from_name(status);
        if (!parsed) {
            return failure{what + ": item " + item.item_id + " has an unknown owner status '" +
                           status + "' (" + file_.string() + ")"};
        }
        item.owner_status = *parsed;
        auto facts = decode_facts(s->column_blob(4));
        if (!facts) {
            return failure{
                what + ": the history facts of item " + item.item_id + " do not decode (" +
                facts.error() + ") (" + file_.string() +
                "); forgetting the mailbox's calendar state and resyncing rebuilds them"};
        }
        item.facts = std::move(*facts);
        items.push_back(std::move(item));
    }
}

store_result<std::optional<time_point>> store::last_sync(std::string_view mailbox) {
    const context c{db_, file_};
    const std::string what = "reading the last sync time of " + std::string(mailbox);
    auto s = c.prepare("SELECT last_sync_at FROM sync_state WHERE mailbox = ?", what);
    if (!s) return failure{s.error()};
    s->text(mailbox);
    const int rc = s->step();
    if (rc == SQLITE_DONE) return std::optional<time_point>();
    if (rc != SQLITE_ROW) return failure{c.error(what, rc)};
    return s->column_optional_time(0);
}

// --- decision journal ---------------------------------------------------------------------------

store_result<std::optional<journal_entry>> store::find(const journal_key& key) {
    const context c{db_, file_};
    const std::string what = "looking up the decision for " + describe(key);
    auto s = c.prepare(std::string(select_entries) +
                           " WHERE mailbox = ? AND uid = ? AND recurrence_id = ? AND sequence = ?"
                           " AND phase = ?",
                       what);
    if (!s) return failure{s.error()};
    s->text(key.mailbox)
        .text(key.uid)
        .text(key.recurrence_id)
        .integer(key.sequence)
        .text(key.phase);
    return read_one_entry(c, *s, what);
}

store_result<std::vector<journal_entry>> store::entries_for(std::string_view mailbox,
                                                            std::string_view uid) {
    const context c{db_, file_};
    const std::string what = "reading the decisions for " + std::string(uid);
    auto s =
        c.prepare(std::string(select_entries) + " WHERE mailbox = ? AND uid = ? ORDER BY id", what);
    if (!s) return failure{s.error()};
    s->text(mailbox).text(uid);
    return read_entries(c, *s, what);
}

store_result<std::int64_t> store::record(const journal_entry& entry) {
    const context c{db_, file_};
    const std::string what = "journaling the decision for " + describe(entry.key);
    const std::string_view state = name_of(entry.state);
    if (state.empty()) {
        return failure{what + ": the state is outside entry_state (" + file_.string() + ")"};
    }
    auto s = c.prepare(
        "INSERT INTO journal (mailbox, uid, recurrence_id, sequence, item_id, etag, subject, "
        "organizer, start_at, rule, action, send_response, reply, reason, signals, mode, state, "
        "error, decided_at, finished_at, deadline, done_at, phase) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        what);
    if (!s) return failure{s.error()};
    std::optional<time_point> done_at;
    if (entry.state == entry_state::done) done_at = entry.finished_at.value_or(entry.decided_at);
    s->text(entry.key.mailbox)
        .text(entry.key.uid)
        .text(entry.key.recurrence_id)
        .integer(entry.key.sequence)
        .text(entry.item_id)
        .text(entry.etag)
        .text(entry.subject)
        .text(entry.organizer)
        .time(entry.start)
        .text(entry.rule)
        .text(entry.action)
        .integer(entry.send_response ? 1 : 0)
        .text(entry.reply)
        .text(entry.reason)
        .text(entry.signals)
        .text(entry.mode)
        .text(state)
        .text(entry.error)
        .time(entry.decided_at)
        .time(entry.finished_at)
        .time(entry.deadline)
        .time(done_at)
        .text(entry.key.phase);
    const int rc = s->step();
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        return failure{"a decision for " + describe(entry.key) + " is already journaled"};
    }
    if (rc != SQLITE_DONE) return failure{c.error(what, rc)};
    return sqlite3_last_insert_rowid(db_);
}

store_result<void> store::set_state(std::int64_t id, entry_state state, std::string_view error,
                                    time_point when) {
    const context c{db_, file_};
    const std::string what = "setting the state of journal entry " + std::to_string(id);
    const std::string_view name = name_of(state);
    if (name.empty()) {
        return failure{what + ": the state is outside entry_state (" + file_.string() + ")"};
    }
    // An entry back in intent (a retry) is not finished; done_at keeps the first time it was done.
    auto s = c.prepare(
        "UPDATE journal SET state = ?1, error = ?2, "
        "finished_at = CASE WHEN ?1 = 'intent' THEN NULL ELSE ?3 END, "
        "done_at = CASE WHEN ?1 = 'done' AND done_at IS NULL THEN ?3 ELSE done_at END "
        "WHERE id = ?4",
        what);
    if (!s) return failure{s.error()};
    s->text(name).text(error).time(when).integer(id);
    if (auto r = c.run(*s, what); !r) return r;
    if (sqlite3_changes(db_) == 0) {
        return failure{what + ": there is no such entry (" + file_.string() + ")"};
    }
    return {};
}

store_result<std::optional<journal_entry>> store::entry(std::int64_t id) {
    const context c{db_, file_};
    const std::string what = "reading journal entry " + std::to_string(id);
    auto s = c.prepare(std::string(select_entries) + " WHERE id = ?", what);
    if (!s) return failure{s.error()};
    s->integer(id);
    return read_one_entry(c, *s, what);
}

store_result<std::vector<journal_entry>> store::list(const journal_query& query) {
    const context c{db_, file_};
    constexpr std::string_view what = "listing the journal";
    // Only constant fragments go into the SQL; the values are bound below, in the same order.
    std::string sql(select_entries);
    const char* joiner = " WHERE ";
    if (query.mailbox) {
        sql += joiner;
        sql += "mailbox = ?";
        joiner = " AND ";
    }
    if (query.since) {
        sql += joiner;
        sql += "decided_at >= ?";
        joiner = " AND ";
    }
    if (query.state) {
        sql += joiner;
        sql += "state = ?";
    }
    sql += " ORDER BY decided_at DESC, id DESC LIMIT ?";
    auto s = c.prepare(sql, what);
    if (!s) return failure{s.error()};
    if (query.mailbox) s->text(*query.mailbox);
    if (query.since) s->time(*query.since);
    if (query.state) s->text(name_of(*query.state));
    constexpr auto max_limit = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
    s->integer(static_cast<std::int64_t>(std::min(query.limit, max_limit)));
    return read_entries(c, *s, what);
}

store_result<std::vector<journal_entry>> store::unfinished(std::string_view mailbox) {
    const context c{db_, file_};
    const std::string what = "reading the unfinished decisions of " + std::string(mailbox);
    auto s = c.prepare(std::string(select_entries) +
                           " WHERE mailbox = ? AND state = 'intent' ORDER BY decided_at, id",
                       what);
    if (!s) return failure{s.error()};
    s->text(mailbox);
    return read_entries(c, *s, what);
}

store_result<std::vector<journal_entry>> store::waiting_for_agenda(std::string_view mailbox) {
    const context c{db_, file_};
    const std::string what = "reading the agenda requests of " + std::string(mailbox);
    auto s = c.prepare(std::string(select_entries) +
                           " WHERE mailbox = ? AND state = 'done' AND action = 'request_agenda' "
                           "AND deadline IS NOT NULL ORDER BY deadline, id",
                       what);
    if (!s) return failure{s.error()};
    s->text(mailbox);
    return read_entries(c, *s, what);
}

store_result<int> store::declines_sent_since(std::string_view mailbox, time_point since) {
    const context c{db_, file_};
    const std::string what = "counting the declines sent by " + std::string(mailbox);
    // done_at, not state: a decline that went out counts even if it was later overridden, undone
    // or superseded.
    auto s = c.prepare(
        "SELECT count(*) FROM journal WHERE mailbox = ? AND action = 'decline' "
        "AND send_response = 1 AND done_at >= ?",
        what);
    if (!s) return failure{s.error()};
    s->text(mailbox).time(since);
    const int rc = s->step();
    if (rc != SQLITE_ROW) return failure{c.error(what, rc)};
    return static_cast<int>(
        std::min<std::int64_t>(s->column_integer(0), std::numeric_limits<int>::max()));
}

// --- deliveries -------------------------------------------------------------------------------

store_result<void> store::mark_delivery(std::int64_t entry_id, std::string_view what,
                                        time_point when) {
    const context c{db_, file_};
    const std::string doing = "marking the delivery of decision " + std::to_string(entry_id);
    auto s = c.prepare(
        "INSERT INTO deliveries (entry_id, started_at, what) VALUES (?, ?, ?) "
        "ON CONFLICT (entry_id) DO NOTHING",
        doing);
    if (!s) return failure{s.error()};
    s->integer(entry_id).time(when).text(what);
    return c.run(*s, doing);
}

store_result<void> store::clear_delivery(std::int64_t entry_id) {
    const context c{db_, file_};
    const std::string doing = "clearing the delivery of decision " + std::to_string(entry_id);
    auto s = c.prepare("DELETE FROM deliveries WHERE entry_id = ?", doing);
    if (!s) return failure{s.error()};
    s->integer(entry_id);
    return c.run(*s, doing);
}

store_result<std::optional<time_point>> store::delivery_started(std::int64_t entry_id) {
    const context c{db_, file_};
    const std::string doing = "reading the delivery of decision " + std::to_string(entry_id);
    auto s = c.prepare("SELECT started_at FROM deliveries WHERE entry_id = ?", doing);
    if (!s) return failure{s.error()};
    s->integer(entry_id);
    const int rc = s->step();
    if (rc == SQLITE_DONE) return std::optional<time_point>();
    if (rc != SQLITE_ROW) return failure{c.error(doing, rc)};
    return std::optional<time_point>(time_of(s->column_integer(0)));
}

// --- the owner's word ---------------------------------------------------------------------------

store_result<void> store::trust(std::string_view mailbox, std::string_view address,
                                std::string_view reason, time_point when) {
    const context c{db_, file_};
    const std::string what =
        "saving that " + std::string(mailbox) + " trusts " + std::string(address);
    auto s = c.prepare(
        "INSERT INTO trusted (mailbox, address, reason, since) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (mailbox, address) DO UPDATE SET reason = excluded.reason, "
        "since = excluded.since",
        what);
    if (!s) return failure{s.error()};
    s->text(mailbox).text(address).text(reason).time(when);
    return c.run(*s, what);
}

store_result<std::vector<std::string>> store::trusted(std::string_view mailbox) {
    const context c{db_, file_};
    const std::string what = "reading the addresses " + std::string(mailbox) + " trusts";
    auto s = c.prepare("SELECT address FROM trusted WHERE mailbox = ? ORDER BY address", what);
    if (!s) return failure{s.error()};
    s->text(mailbox);
    std::vector<std::string> addresses;
    for (;;) {
        const int rc = s->step();
        if (rc == SQLITE_DONE) return addresses;
        if (rc != SQLITE_ROW) return failure{c.error(what, rc)};
        addresses.push_back(s->column_text(0));
    }
}

}  // namespace agendad::daemon
