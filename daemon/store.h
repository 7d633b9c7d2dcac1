// The daemon's memory, in SQLite (WAL) under the state directory: per mailbox the sync token and
// what the calendar taught (history facts), and the decision journal that makes every action
// happen exactly once. Errors are values: a store that cannot be trusted makes the caller stop
// acting, never guess.
#pragma once

#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/invitation.h"
#include "policy/history.h"

struct sqlite3;

namespace agendad::daemon {

using calendar::time_point;

template <class T>
using store_result = boost::system::result<T, std::string>;  // error: a sentence for the log

// What the calendar holds, one row per calendar object (a .ics file, a CalDAV href, a Graph
// event): enough to rebuild the history after a restart without reading the calendar again.
struct stored_item {
    std::string item_id;  // source's id
    std::string etag;     // version as the source reports it (ETag, change key, mtime+size)
    std::string uid;
    std::vector<policy::meeting_fact> facts;  // one per event of the object that teaches something
    calendar::partstat owner_status = calendar::partstat::none;  // the owner's answer as stored
};

// A decision's idempotency key: one decision per version of a meeting.
struct journal_key {
    std::string mailbox;  // lower case
    std::string uid;
    std::string recurrence_id;  // "" for a whole meeting or series, else format_utc(...)
    int sequence = 0;
    // "" for the decision on this version of the meeting; a follow-up on the same version has its
    // own phase: "agenda_deadline" (declined because no agenda came), "undo".
    std::string phase;
};

enum class entry_state {
    intent,        // decided and about to be carried out: a crash here is resolved on restart
    done,          // carried out (response sent, or PARTSTAT changed silently)
    dry_run,       // journaled exactly as enforce would have sent it; nothing was sent
    left,          // the decision was `leave`: nothing to do
    rate_limited,  // over the mailbox's decline limit: journaled, not sent
    failed,        // the source refused; `error` says why (retried on a later pass)
    overridden,    // the owner answered differently afterwards: never touched again
    undone,        // reversed by `agendad undo`
    superseded,    // a newer version of the meeting (higher SEQUENCE) was decided
};
std::string_view name_of(entry_state s);
std::optional<entry_state> entry_state_from_name(std::string_view name);

struct journal_entry {
    std::int64_t id = 0;
    journal_key key;
    std::string item_id;
    std::string etag;     // the item's version the decision was made on
    std::string subject;  // shown by `agendad decisions`; never logged above debug
    std::string organizer;
    time_point start{};
    std::string rule;
    std::string action;  // leave | accept | request_agenda | decline
    bool send_response = false;
    std::string reply;  // exact text sent (or that would be)
    std::string reason;
    std::string signals;  // "name: evidence" lines
    std::string mode;     // dry-run | enforce
    entry_state state = entry_state::intent;
    std::string error;
    time_point decided_at{};
    std::optional<time_point> finished_at;
    // request_agenda: when to decline if no agenda has arrived (start − agenda_deadline_hours).
    std::optional<time_point> deadline;
};

struct journal_query {
    std::optional<std::string> mailbox;
    std::optional<time_point> since;  // decided_at >= since
    std::optional<entry_state> state;
    std::size_t limit = 1000;  // newest first
};

class store {
  public:
    // Opens (creating the folder, the file and the schema if needed) <dir>/agendad.sqlite3 in WAL
    // mode. Refuses a file that is not an agendad store, is corrupt (PRAGMA quick_check), or
    // whose schema is newer than this binary; the error says which and what to do.
    static store_result<std::unique_ptr<store>> open(const std::filesystem::path& dir);
    ~store();
    store(const store&) = delete;
    store& operator=(const store&) = delete;

    const std::filesystem::path& file() const { return file_; }

    // --- calendar state, per mailbox ---
    store_result<std::optional<std::string>> sync_token(std::string_view mailbox);
    // One transaction: items upserted and removed, then the new token (and last_sync_at = now).
    // A crash leaves either the old state or the new one.
    store_result<void> apply_sync(std::string_view mailbox, const std::vector<stored_item>& upserts,
                                  const std::vector<std::string>& removed_item_ids,
                                  std::string_view token, time_point now);
    // Forgets every item and the token (a full resync follows).
    store_result<void> reset_calendar(std::string_view mailbox);
    store_result<std::vector<stored_item>> items(std::string_view mailbox);
    store_result<std::optional<time_point>> last_sync(std::string_view mailbox);

    // --- decision journal ---
    store_result<std::optional<journal_entry>> find(const journal_key& key);
    // Every entry for a meeting (all versions and phases), oldest first.
    store_result<std::vector<journal_entry>> entries_for(std::string_view mailbox,
                                                         std::string_view uid);
    // Inserts the entry (state intent, or any final state for dry-run/leave/rate-limited) and
    // returns its id; a second entry with the same key is an error (never two decisions).
    store_result<std::int64_t> record(const journal_entry& entry);
    store_result<void> set_state(std::int64_t id, entry_state state, std::string_view error,
                                 time_point when);
    store_result<std::optional<journal_entry>> entry(std::int64_t id);
    store_result<std::vector<journal_entry>> list(const journal_query& query);
    // Entries left in `intent` (a crash between deciding and finishing).
    store_result<std::vector<journal_entry>> unfinished(std::string_view mailbox);
    // request_agenda entries still waiting for an agenda (done, deadline set, not superseded).
    store_result<std::vector<journal_entry>> waiting_for_agenda(std::string_view mailbox);
    // Declines actually sent by this mailbox since `since` (for the rate limit), whatever the
    // entry's state is now: a decline later undone or overridden did go out.
    store_result<int> declines_sent_since(std::string_view mailbox, time_point since);

    // --- replies delivered outside the calendar (iMIP mail) ---
    // Records durably, right before a source's point of no return, that the reply of entry
    // `entry_id` may now be delivered; a second mark keeps the first.
    store_result<void> mark_delivery(std::int64_t entry_id, std::string_view what, time_point when);
    // Forgets the mark: the server refused the message, it was certainly not delivered.
    store_result<void> clear_delivery(std::int64_t entry_id);
    // When the delivery of `entry_id`'s reply was marked; nullopt: never (safe to send).
    store_result<std::optional<time_point>> delivery_started(std::int64_t entry_id);

    // --- the owner's word ---
    // The owner trusts `address` from now on (they overrode a decision, or undid one).
    store_result<void> trust(std::string_view mailbox, std::string_view address,
                             std::string_view reason, time_point when);
    store_result<std::vector<std::string>> trusted(std::string_view mailbox);

  private:
    store(sqlite3* db, std::filesystem::path file);
    sqlite3* db_;
    std::filesystem::path file_;
};

}  // namespace agendad::daemon
