// The Microsoft Graph source (Exchange Online): one mailbox's calendar through
// /users/{id}/calendarView/delta over a window, answered with accept / tentativelyAccept /
// decline. A recurring series is decided once, on its master (calendarView lists occurrences;
// the master is read with GET /events/{id}). History for trust comes from calendarView over
// the past days, read on a full sync.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "calendar/graph/graph_client.h"
#include "calendar/source.h"

namespace agendad::calendar::graph {

struct graph_settings {
    std::string mailbox;                  // the owner's address (lower case); also the {id} in URLs
    std::string source_name;              // for messages: "source 'm365'"
    std::chrono::days window_back{1};     // delta window: now - back ...
    std::chrono::days window_ahead{180};  // ... now + ahead
    std::chrono::days history{365};       // calendarView over the past, on a full sync
    std::function<std::chrono::sys_seconds()> now;  // the daemon's clock
};

class graph_source final : public source {
  public:
    graph_source(std::shared_ptr<graph_client> client, graph_settings settings);

    std::string_view kind() const override { return "graph"; }
    std::string describe() const override;
    // token "" (or one Graph answers 410 / SyncStateNotFound / resyncRequired to, or one whose
    // window began more than a day before today's): history + a new delta round, full = true.
    // Otherwise the deltaLink stored last time: what changed. The token is
    // "graph1 <unix seconds of the window start> <deltaLink>"; a round without changes gives
    // back the token it was given. Items: a single event by its id; a series by its master's
    // id, etag = the master's changeKey, the master alone as its event (with the recurrence).
    boost::asio::awaitable<source_result<sync_result>> sync(const std::string& token) override;
    // POST accept / tentativelyAccept / decline ({"comment", "sendResponse"}), after a GET
    // that compares the event's changeKey with `etag`: another version is a conflict (read it
    // again and decide again), nothing is sent. needs_action (a silent undo) becomes
    // tentativelyAccept, as Graph cannot set "not answered" (nothing is sent when the meeting
    // is not answered). 404 → gone; 403 ErrorAccessDenied → denied (application access policy).
    boost::asio::awaitable<source_result<void>> respond(const std::string& item_id,
                                                        const std::string& etag,
                                                        const invitation& inv,
                                                        const response& r) override;
    // responseStatus of the event: applied when it is r.status (needs_action: tentative or not
    // answered). 404: item_exists = false, and applied for a decline (Exchange removes declined
    // meetings from the calendar; a vanished meeting is what a decline wants).
    boost::asio::awaitable<source_result<applied_state>> state(const std::string& item_id,
                                                               const invitation& inv,
                                                               const response& r) override;

  private:
    struct impl;
    // The client, the settings, and what the last rounds saw of series (masters read, their
    // occurrences and changeKeys), so that a master is read again only when it changed.
    std::shared_ptr<impl> impl_;
};

}  // namespace agendad::calendar::graph
