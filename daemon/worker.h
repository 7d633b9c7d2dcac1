// One watched mailbox: sync → normalise → context → evaluate → act → record, as one coroutine.
// The journal is written before anything is carried out, so that a crash is resolved on restart
// by asking the source, never by acting twice.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "calendar/source.h"
#include "config/daemon_config.h"
#include "daemon/metrics.h"
#include "daemon/store.h"
#include "policy/decision.h"
#include "policy/history.h"
#include "policy/policy.h"

namespace agendad::daemon {

// The daemon's clock: the system clock, optionally shifted so that it starts at a given time
// (`agendad run --now`, for demos and tests). Decisions never read the clock themselves.
struct clock {
    std::chrono::seconds offset{0};
    calendar::time_point now() const;
    static clock starting_at(calendar::time_point start);
};

struct mailbox_setup {
    config::mailbox_config mailbox;
    const policy::policy* policy = nullptr;
    config::mailbox_mode mode = config::mailbox_mode::dry_run;  // effective
    int agenda_deadline_hours = 24;
    int max_declines_per_hour = 20;
    std::chrono::seconds poll{60};
};

// Counts of one pass, for logs and tests.
struct pass_report {
    bool synced = false;  // the source answered
    int items_read = 0;   // objects whose content was (re)read
    int decided = 0;      // decisions journaled
    int carried_out = 0;  // responses that took effect
    int failed = 0;       // responses the source refused (retried later)
};

class mailbox_worker {
  public:
    // `m` (optional) counts syncs, decisions and responses for /metrics and /healthz.
    mailbox_worker(mailbox_setup setup, std::unique_ptr<calendar::source> source, store& db,
                   const clock& clk, metrics* m = nullptr);

    const std::string& address() const { return setup_.mailbox.address; }
    const mailbox_setup& setup() const { return setup_; }

    // One round. Never throws for source or store trouble: they are logged and reported.
    boost::asio::awaitable<pass_report> pass();
    // Passes every poll interval (backing off after failures) until stop() or, with `once`, one.
    boost::asio::awaitable<void> run(bool once);
    // Ends run() after the pass under way; safe to call from a signal handler's completion.
    void stop();
    // Asks for a pass now (a change notification said the calendar changed), or right after the
    // one under way. While the source is failing the backoff stands.
    void wake();
    bool stopping() const { return stopping_; }

  private:
    struct meeting;
    boost::asio::awaitable<void> decide(const calendar::source_item& item, pass_report& report);
    boost::asio::awaitable<void> act(const calendar::source_item& item,
                                     const calendar::invitation& inv, const policy::decision& d,
                                     const std::vector<journal_entry>& earlier,
                                     pass_report& report);
    // Requests for an agenda: superseded by a new version, or declined at their deadline.
    boost::asio::awaitable<void> follow_up_agenda_requests(pass_report& report);
    // Whether the owner has taken the meeting over (answered otherwise, or undid a decision):
    // then agendad never touches it again and trusts its organizer.
    bool hands_off(const calendar::invitation& inv, const std::vector<journal_entry>& earlier);
    // Whether `owner_status` (as the source has it now) is an answer the owner gave rather than
    // one agendad gave or none.
    bool answered_by_owner(const journal_entry& entry, calendar::partstat owner_status);
    // Marks `entry` overridden and trusts the meeting's organizer.
    void step_back(const journal_entry& entry, const calendar::invitation& inv,
                   calendar::partstat owner_status);
    // The latest version of a meeting among the calendar's objects, and the object holding it.
    const calendar::invitation* current_meeting(std::string_view uid) const;
    const calendar::source_item* item_of(std::string_view uid) const;
    // Carries out a journaled decision; `verify_first` asks the source whether it already took
    // effect (after a crash or a failure whose outcome is unknown).
    boost::asio::awaitable<void> carry_out(const journal_entry& entry,
                                           const calendar::invitation& inv, pass_report& report,
                                           bool verify_first);
    boost::asio::awaitable<void> resume_unfinished(pass_report& report);
    calendar::response response_for(const journal_entry& entry) const;
    bool rebuild_history();
    void count_decision(const journal_entry& e);

    mailbox_setup setup_;
    std::unique_ptr<calendar::source> source_;
    store& db_;
    const clock& clock_;
    metrics* metrics_;
    policy::history history_;
    std::vector<std::string> trusted_;
    std::map<std::string, calendar::source_item> items_;  // the latest of each object, by item id
    std::unique_ptr<boost::asio::steady_timer> timer_;
    bool stopping_ = false;
    bool first_pass_ = true;
    std::optional<std::string> token_;  // the sync token last stored
    // The last look found nothing waiting for an agenda / nothing unfinished or failed: skip
    // the journal queries until the calendar changes.
    bool follow_ups_idle_ = false;
    bool unfinished_idle_ = false;
    bool wake_requested_ = false;
    int failures_ = 0;
};

}  // namespace agendad::daemon
