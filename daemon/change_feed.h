// What tells the daemon early that a mailbox changed, beside its poll: Graph change
// notifications, EWS streaming notifications. A feed only wakes a mailbox's worker for a sync
// round; what changed is always read from the source. One feed per source.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <string>
#include <vector>

namespace agendad::daemon {

class change_feed {
  public:
    virtual ~change_feed() = default;
    // The mailboxes to follow now (the source's watched ones); others are let go.
    virtual void set_mailboxes(const std::vector<std::string>& mailboxes) = 0;
    // Follows them until stop(), then cleans up (subscriptions deleted, streams closed).
    virtual boost::asio::awaitable<void> run() = 0;
    virtual void stop() = 0;
};

}  // namespace agendad::daemon
