// EWS streaming notifications for the mailboxes of one EWS source: per mailbox, a streaming
// subscription on its Calendar folder and a GetStreamingEvents connection kept open (asked
// again when Exchange closes it at its ConnectionTimeout, subscribed again when the
// subscription is gone, reconnected with a backoff after failures). Any event wakes the
// mailbox's worker for a SyncFolderItems round, and so does every reconnection after a broken
// stream (events may have been missed): a notification is never trusted for content, and
// polling stays the safety net. Delegate access cannot stream (Exchange refuses it): such a
// source is polled only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "calendar/ews/ews_client.h"
#include "daemon/change_feed.h"

namespace agendad::daemon {

struct ews_stream_settings {
    std::string source_name;    // for logs: "exchange"
    bool impersonation = true;  // as the source's mailboxes are reached
    // GetStreamingEvents' ConnectionTimeout (1..30 minutes): Exchange ends the answer then and
    // agendad asks again at once.
    int connection_minutes = 29;
    // A stream silent for this long is taken as dead (Exchange writes a keep-alive envelope
    // while a connection is idle) and opened again.
    std::chrono::milliseconds idle_timeout{std::chrono::minutes{3}};
    std::chrono::milliseconds first_retry{std::chrono::seconds{1}};
    std::chrono::milliseconds max_retry{std::chrono::minutes{5}};
};

class ews_streams final : public change_feed {
  public:
    using wake_fn = std::function<void(const std::string& mailbox)>;
    ews_streams(boost::asio::any_io_executor executor, ews_stream_settings settings,
                std::shared_ptr<calendar::ews::ews_client> client, wake_fn wake);
    ~ews_streams() override;

    void set_mailboxes(const std::vector<std::string>& mailboxes) override;
    boost::asio::awaitable<void> run() override;
    void stop() override;

    int open_streams() const;    // GetStreamingEvents answers being read now
    long long events() const;    // notification events received
    long long wakes() const;     // workers woken

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace agendad::daemon
