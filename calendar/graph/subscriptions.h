// Microsoft Graph change notifications for calendars: subscriptions on /users/{id}/events
// (create, renew, delete) and the notification bodies Graph POSTs to the subscriber
// (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks). A notification
// only says "this mailbox changed": the daemon answers it with a delta round, never trusts its
// content.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/graph/graph_client.h"

namespace agendad::calendar::graph {

// Asked for on create and renewal. Outlook resources allow 4230 minutes (Graph v1.0 documents
// up to 10080 today); the older, shorter limit works under both.
inline constexpr std::chrono::minutes subscription_lifetime{4230 - 30};

struct subscription {
    std::string id;
    std::string mailbox;
    std::chrono::sys_seconds expires{};
};

struct subscription_request {
    std::string mailbox;
    std::string notification_url;  // https://.../graph/notifications
    std::string lifecycle_url;     // https://.../graph/lifecycle; empty: none
    std::string client_state;      // secret echoed in every notification (at most 128 chars)
};

// POST /subscriptions for created, updated and deleted events of the mailbox. Graph checks the
// notification URL first (the validation handshake) before it answers.
boost::asio::awaitable<source_result<subscription>> subscribe(graph_client& client,
                                                              const subscription_request& r,
                                                              const std::chrono::sys_seconds& now);
// PATCH /subscriptions/{id} with a new expiration; gone when Graph no longer has it.
boost::asio::awaitable<source_result<subscription>> renew(graph_client& client,
                                                          const subscription& s,
                                                          const std::chrono::sys_seconds& now);
// DELETE /subscriptions/{id}; a subscription Graph no longer has counts as deleted.
boost::asio::awaitable<source_result<void>> unsubscribe(graph_client& client,
                                                        const subscription& s);

// One item of a notification POST: a change notification, or a lifecycle notification when
// lifecycle_event is set (reauthorizationRequired, subscriptionRemoved, missed).
struct notification {
    std::string subscription_id;
    std::string client_state;
    std::string change_type;
    std::string resource;
    std::string lifecycle_event;
};

// {"value": [...]}; nullopt (with `error`) when the body is not that. Bounded and never throws.
std::optional<std::vector<notification>> parse_notifications(std::string_view json,
                                                             std::string& error);

// "2026-11-25T10:00:00Z" as Graph writes and reads expirationDateTime (fractions accepted).
std::string iso8601(std::chrono::sys_seconds t);
std::optional<std::chrono::sys_seconds> parse_iso8601(std::string_view text);

}  // namespace agendad::calendar::graph
