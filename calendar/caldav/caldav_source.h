// The CalDAV source (RFC 4791): a calendar on a standards server (Radicale, Nextcloud, SOGo,
// Apple, Fastmail, ...). Discovery (RFC 6764 principal → calendar home → calendar), sync with
// RFC 6578 sync-collection (a token the server no longer accepts means a full listing; servers
// without sync-collection are listed by PROPFIND), objects read with calendar-multiget.
// Answering changes the owner's ATTENDEE PARTSTAT with PUT + If-Match (412: the object changed,
// read it again). A server that schedules (DAV: calendar-auto-schedule, RFC 6638) tells the
// organizer itself; otherwise the iTIP REPLY goes out as iMIP mail (RFC 6047) over SMTP, and the
// daemon's delivery journal keeps it from ever going out twice.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "calendar/http/http_client.h"
#include "calendar/smtp/smtp_client.h"
#include "calendar/source.h"

namespace agendad::calendar {

struct caldav_settings {
    std::string url;       // the server, a principal, a calendar home or the calendar itself
    std::string calendar;  // the calendar (URL or path); empty: discovered from `url`
    std::string user;      // empty: no authentication
    std::string password;
    std::string mailbox;      // the owner's address (lower case)
    std::string source_name;  // for messages: "source 'office'"
    // For replies when the server does not schedule; nullopt: such a server cannot be answered
    // with a reply (silent answers still work).
    std::optional<smtp::settings> smtp;
    std::string smtp_from;            // envelope and From; empty: the mailbox
    std::size_t multiget_batch = 50;  // hrefs per calendar-multiget
};

class caldav_source final : public source {
  public:
    // `http` may be shared by the sources of one server (one connection pool, one TLS context).
    caldav_source(std::shared_ptr<http::client> http, caldav_settings settings);

    std::string_view kind() const override { return "caldav"; }
    std::string describe() const override;
    boost::asio::awaitable<source_result<sync_result>> sync(const std::string& token) override;
    boost::asio::awaitable<source_result<void>> respond(const std::string& item_id,
                                                        const std::string& etag,
                                                        const invitation& inv,
                                                        const response& r) override;
    boost::asio::awaitable<source_result<applied_state>> state(const std::string& item_id,
                                                               const invitation& inv,
                                                               const response& r) override;

    // After discovery: the calendar's URL and whether the server schedules.
    const std::optional<http::url>& calendar_url() const { return calendar_; }
    bool server_schedules() const { return schedules_; }

  private:
    struct exchange;
    boost::asio::awaitable<source_result<http::response>> send(const http::url& where,
                                                               const http::request& r,
                                                               const std::string& doing);
    boost::asio::awaitable<source_result<void>> discover();
    boost::asio::awaitable<source_result<sync_result>> list_by_propfind();
    boost::asio::awaitable<source_result<void>> fetch(const std::vector<std::string>& hrefs,
                                                      std::vector<source_item>& out,
                                                      std::vector<std::string>& missing);
    boost::asio::awaitable<source_result<void>> deliver_reply(const invitation& inv,
                                                              const response& r);
    source_item item_from(const std::string& href, const std::string& etag,
                          const std::string& text) const;
    http::request request(std::string method, std::string target) const;

    std::shared_ptr<http::client> http_;
    caldav_settings settings_;
    std::string authorization_;  // the Authorization header's value, or "" without a user
    std::optional<http::url> base_;
    std::optional<http::url> calendar_;
    bool schedules_ = false;
    bool has_sync_collection_ = true;
    std::map<std::string, source_item> cache_;  // href → last read, to skip unchanged objects
    // The last sync-collection body and the server token it holds: an idle poll sends the same
    // body again.
    std::string sync_body_token_;
    std::string sync_body_;
    // The last answer that listed no change, byte for byte, with the calendar and the server
    // token it answered and the token it gave: an idle poll gets the same bytes again, and they
    // mean the same, so they are not parsed again.
    struct idle_answer {
        std::string calendar;
        std::string asked;
        std::string body;
        std::string token;  // ours, with sync_prefix
    };
    std::optional<idle_answer> idle_answer_;
};

}  // namespace agendad::calendar
