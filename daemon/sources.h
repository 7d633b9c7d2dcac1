// Turns a mailbox's configured source into a calendar::source: shared by `agendad run` and
// `agendad undo`, so that both talk to a calendar the same way.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <map>
#include <memory>
#include <string>

#include "calendar/http/http_client.h"
#include "calendar/source.h"
#include "config/daemon_config.h"
#include "daemon/store.h"
#include "policy/policy.h"

namespace agendad::daemon {

// Makes the sources of one configuration. The mailboxes of one CalDAV source share its HTTP
// client (one connection pool and one TLS context per server).
class source_factory {
  public:
    explicit source_factory(boost::asio::any_io_executor executor)
        : executor_(std::move(executor)) {}

    // nullptr with `error` set when the source cannot be used.
    std::unique_ptr<calendar::source> make(const config::source_config& source,
                                           const config::mailbox_config& mailbox,
                                           std::string& error);

  private:
    boost::asio::any_io_executor executor_;
    std::map<std::string, std::shared_ptr<calendar::http::client>> clients_;  // by source name
};

// A journal entry for meeting `inv` of calendar object `item`, under `key`: the meeting's fields
// filled in, the decision's left to the caller.
journal_entry entry_for(const journal_key& key, const calendar::source_item& item,
                        const calendar::invitation& inv);

// The policy's follow-up reply template `name` (follow_up: in the policy) rendered for `inv`;
// empty when the policy names none.
std::string follow_up_reply(const policy::policy& p, const std::string& name,
                            const calendar::invitation& inv, std::string_view mailbox);

// Lets a source journal the delivery of `entry_id`'s reply in `db` (see
// calendar::delivery_journal).
void journal_deliveries(calendar::response& r, store& db, std::int64_t entry_id);

}  // namespace agendad::daemon
