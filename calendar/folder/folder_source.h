// The folder source: every *.ics below a folder is an object of the owner's calendar (invitations,
// events, whole exports), never modified; replies are written as iTIP REPLY files into an outbox
// folder, one per response, named after the decision so that writing one twice is impossible.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "calendar/source.h"

namespace agendad::calendar {

class folder_source final : public source {
  public:
    folder_source(std::filesystem::path folder, std::filesystem::path outbox, std::string mailbox);

    std::string_view kind() const override { return "folder"; }
    std::string describe() const override {
        return "folder " + folder_.string() + ", replies into " + outbox_.string();
    }
    boost::asio::awaitable<source_result<sync_result>> sync(const std::string& token) override;
    boost::asio::awaitable<source_result<void>> respond(const std::string& item_id,
                                                        const std::string& etag,
                                                        const invitation& inv,
                                                        const response& r) override;
    boost::asio::awaitable<source_result<applied_state>> state(const std::string& item_id,
                                                               const invitation& inv,
                                                               const response& r) override;

    // Where the reply for `inv` with `status` (and the response's tag) is (or would be) written.
    std::filesystem::path reply_path(const invitation& inv, partstat status,
                                     const std::string& tag = {}) const;

  private:
    struct cached {
        std::string etag;
        source_item item;
    };
    std::filesystem::path folder_;
    std::filesystem::path outbox_;
    std::string mailbox_;
    std::map<std::string, cached>
        cache_;  // item_id → last parse, so unchanged files are not re-read
};

}  // namespace agendad::calendar
