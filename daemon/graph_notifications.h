// Microsoft Graph change notifications for the mailboxes of one Graph source: a subscription per
// mailbox on /users/{id}/events, kept alive (renewed before it expires, made again when Graph
// removes it), and the endpoint Graph POSTs to: the validation handshake (the validationToken
// echoed as text/plain), then notifications whose clientState is checked in constant time and
// which only wake the mailbox's worker for a delta round. A notification is never trusted for
// content; a lost one costs nothing but the poll interval.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "calendar/graph/graph_client.h"
#include "daemon/change_feed.h"

namespace agendad::daemon {

struct graph_notification_settings {
    std::string source_name;  // for logs: "m365"
    std::string listen = "127.0.0.1:9188";
    // Where Graph reaches the listener (a reverse proxy terminating TLS in front of it):
    // notifications go to <public_url>/notifications, lifecycle events to <public_url>/lifecycle.
    std::string public_url;
    std::string client_state;  // the secret every notification must carry
    std::chrono::seconds check_every{60};
    std::chrono::hours renew_before{24};
};

class graph_notifications final : public change_feed {
  public:
    using wake_fn = std::function<void(const std::string& mailbox)>;
    graph_notifications(boost::asio::any_io_executor executor, graph_notification_settings settings,
                        std::shared_ptr<calendar::graph::graph_client> client, wake_fn wake,
                        std::function<std::chrono::sys_seconds()> now);
    ~graph_notifications() override;

    // Starts the listener (before subscribing: Graph validates the URL while subscribing).
    boost::system::result<void, std::string> start();
    // The mailboxes to keep subscriptions for; the maintenance loop subscribes new ones and
    // deletes the subscriptions of those no longer listed.
    void set_mailboxes(const std::vector<std::string>& mailboxes) override;
    // Keeps the subscriptions until stop(); then deletes them (a clean shutdown leaves none).
    boost::asio::awaitable<void> run() override;
    void stop() override;

    unsigned short port() const;
    int subscribed() const;           // mailboxes with a live subscription
    long long notifications() const;  // accepted change notifications
    long long rejected() const;       // notifications with an unknown subscription or clientState

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace agendad::daemon
