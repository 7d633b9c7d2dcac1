// What the daemon counts, for Prometheus (the text exposition format, served by the status
// listener) and for the health check. Single-threaded like the daemon; no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace agendad::daemon {

class metrics {
  public:
    // A decision journaled: action (leave/accept/request_agenda/decline), rule, and the state it
    // was journaled in (intent: to be carried out; dry_run, left, rate_limited). Whether carrying
    // it out worked is respond_finished's business.
    void decision(std::string_view mailbox, std::string_view action, std::string_view rule,
                  std::string_view state);
    // A sync round: how long it took; on failure, the error kind.
    void sync_succeeded(std::string_view mailbox, std::chrono::duration<double> took,
                        std::chrono::system_clock::time_point at);
    void sync_failed(std::string_view mailbox, std::string_view kind);
    // A response sent to the calendar (PUT, reply file, Graph call): how long it took.
    void respond_finished(std::string_view mailbox, std::chrono::duration<double> took, bool ok);
    // The mailboxes being watched since `now` (forgets mailboxes no longer watched).
    void watching(const std::vector<std::string>& mailboxes, std::chrono::seconds poll_interval,
                  std::chrono::system_clock::time_point now);

    // Prometheus text exposition format (version 0.0.4), with HELP and TYPE lines.
    std::string render(std::chrono::system_clock::time_point now) const;

    struct health {
        bool ok = true;
        std::string reason;  // why not ok: which mailbox has not synced for how long
    };
    // Healthy when every watched mailbox synced within max(3 poll intervals, 3 minutes) of `now`,
    // or has been watched for less than that.
    health healthy(std::chrono::system_clock::time_point now) const;

  private:
    struct histogram {
        std::vector<double> bounds;
        std::vector<std::uint64_t> buckets;  // cumulative counts are computed when rendering
        std::uint64_t count = 0;
        double sum = 0;
        void observe(double seconds);
    };
    struct mailbox_state {
        std::chrono::system_clock::time_point watched_since{};
        std::chrono::system_clock::time_point last_success{};
        bool ever_synced = false;
        std::uint64_t sync_errors = 0;
        std::map<std::string, std::uint64_t> sync_errors_by_kind;
        histogram sync_seconds;
        histogram respond_seconds;
        std::uint64_t respond_failures = 0;
    };
    mailbox_state& state(std::string_view mailbox);
    std::map<std::string, mailbox_state, std::less<>> mailboxes_;
    // (action, rule, state) → count, over all mailboxes (mailbox labels would multiply series).
    std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> decisions_;
    std::chrono::seconds poll_{60};
};

}  // namespace agendad::daemon
