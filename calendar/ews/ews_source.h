// The EWS source (Exchange Server on premises): one mailbox's Calendar folder, read with
// SyncFolderItems (its SyncState is the source's token) and GetItem, answered with CreateItem
// of an AcceptItem / TentativelyAcceptItem / DeclineItem referring to the item's Id and
// ChangeKey. The Calendar folder holds single meetings and the masters of series (occurrences
// live inside them), so a series is decided once, on its master. A full sync reads the whole
// folder, past meetings too: the history the policy's trust rules learn from.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "calendar/ews/ews_client.h"
#include "calendar/source.h"

namespace agendad::calendar::ews {

struct ews_settings {
    std::string mailbox;      // the owner's SMTP address (lower case)
    std::string source_name;  // for messages: "source 'exchange'"
    // true: ExchangeImpersonation as the mailbox; false: delegate access to its calendar.
    bool impersonation = true;
    int get_item_batch = 50;  // ids per GetItem request
};

class ews_source final : public source {
  public:
    ews_source(std::shared_ptr<ews_client> client, ews_settings settings);

    std::string_view kind() const override { return "ews"; }
    std::string describe() const override;
    // token "" (or one Exchange answers ErrorInvalidSyncStateData to): the whole folder, full =
    // true. Otherwise "ews1 <SyncState>": the changes since, SyncFolderItems called again while
    // IncludesLastItemInRange is false (512 changes per call). Created and updated calendar
    // items are read with GetItem; an item that is gone by then counts as removed. Items: id =
    // ItemId Id, etag = ChangeKey, the item as its one event.
    boost::asio::awaitable<source_result<sync_result>> sync(const std::string& token) override;
    // Reads the item first: another ChangeKey than `etag` is a conflict (read it again and
    // decide again), nothing is sent. Then CreateItem with SendAndSaveCopy (r.send) or SaveOnly,
    // the reply text as the body. needs_action (a silent undo) becomes TentativelyAcceptItem, as
    // EWS cannot set "not answered" (nothing is done when the meeting is not answered). A stale
    // ChangeKey answer is a conflict, ErrorItemNotFound gone, impersonation errors denied.
    boost::asio::awaitable<source_result<void>> respond(const std::string& item_id,
                                                        const std::string& etag,
                                                        const invitation& inv,
                                                        const response& r) override;
    // MyResponseType of the item: applied when it is r.status (needs_action: tentative or not
    // answered). ErrorItemNotFound: item_exists = false, and applied for a decline (Exchange
    // moves declined meetings out of the calendar).
    boost::asio::awaitable<source_result<applied_state>> state(const std::string& item_id,
                                                               const invitation& inv,
                                                               const response& r) override;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

}  // namespace agendad::calendar::ews
