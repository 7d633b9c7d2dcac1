#include "calendar/graph/subscriptions.h"

#include <boost/json.hpp>

#include "calendar/invitation.h"

#include <cstdio>
#include <exception>

namespace agendad::calendar::graph {
namespace {

namespace json = boost::json;

constexpr std::size_t max_notification_bytes = std::size_t{1} << 20;
constexpr std::size_t max_notifications = 1000;

source_error invalid(std::string message) {
    return source_error{source_failure::invalid, std::move(message)};
}

std::string string_field(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) return {};
    return std::string(v->as_string());
}

// The subscription in a create or update answer.
source_result<subscription> subscription_from(const graph_client::answer& a,
                                              const std::string& mailbox,
                                              const std::string& doing) {
    json::error_code ec;
    json::parse_options options;
    options.max_depth = 32;
    const json::value v = json::parse(a.body, ec, {}, options);
    if (ec || !v.is_object()) return invalid(doing + ": Graph answered something that is not JSON");
    const json::object& o = v.as_object();
    subscription s;
    s.mailbox = mailbox;
    s.id = string_field(o, "id");
    const auto expires = parse_iso8601(string_field(o, "expirationDateTime"));
    if (s.id.empty() || !expires)
        return invalid(doing + ": Graph's answer has no subscription id or expiration");
    s.expires = *expires;
    return s;
}

}  // namespace

std::string iso8601(std::chrono::sys_seconds t) {
    return format_utc(t);
}

std::optional<std::chrono::sys_seconds> parse_iso8601(std::string_view text) {
    // YYYY-MM-DDTHH:MM:SS, then optional fractions, then Z or +00:00 (Graph writes UTC).
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (text.size() < 19 || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
        text[13] != ':' || text[16] != ':')
        return std::nullopt;
    const auto number = [&](std::size_t at, std::size_t n, int& out) {
        out = 0;
        for (std::size_t i = at; i < at + n; ++i) {
            if (text[i] < '0' || text[i] > '9') return false;
            out = out * 10 + (text[i] - '0');
        }
        return true;
    };
    if (!number(0, 4, y) || !number(5, 2, mo) || !number(8, 2, d) || !number(11, 2, h) ||
        !number(14, 2, mi) || !number(17, 2, s))
        return std::nullopt;
    std::size_t at = 19;
    if (at < text.size() && text[at] == '.') {
        ++at;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    }
    const std::string_view zone = text.substr(at);
    if (zone != "Z" && zone != "+00:00" && !zone.empty()) return std::nullopt;
    const std::chrono::year_month_day ymd{std::chrono::year{y},
                                          std::chrono::month{static_cast<unsigned>(mo)},
                                          std::chrono::day{static_cast<unsigned>(d)}};
    if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
    return std::chrono::sys_days(ymd) + std::chrono::hours{h} + std::chrono::minutes{mi} +
           std::chrono::seconds{s};
}

boost::asio::awaitable<source_result<subscription>> subscribe(graph_client& client,
                                                              const subscription_request& r,
                                                              const std::chrono::sys_seconds& now) {
    json::object body{{"changeType", "created,updated,deleted"},
                      {"notificationUrl", r.notification_url},
                      {"resource", "/users/" + r.mailbox + "/events"},
                      {"expirationDateTime", iso8601(now + subscription_lifetime)},
                      {"clientState", r.client_state}};
    if (!r.lifecycle_url.empty()) body["lifecycleNotificationUrl"] = r.lifecycle_url;
    const std::string doing = "mailbox " + r.mailbox + ": subscribing to change notifications";
    const std::string text = json::serialize(body);
    auto sent = co_await client.send(r.mailbox, "POST", "/subscriptions", text, doing);
    if (!sent) co_return sent.error();
    if (sent->status != 201 && sent->status != 200) co_return graph_failure(*sent, doing);
    co_return subscription_from(*sent, r.mailbox, doing);
}

boost::asio::awaitable<source_result<subscription>> renew(graph_client& client,
                                                          const subscription& s,
                                                          const std::chrono::sys_seconds& now) {
    const std::string doing = "mailbox " + s.mailbox + ": renewing subscription " + s.id;
    const std::string text =
        json::serialize(json::object{{"expirationDateTime", iso8601(now + subscription_lifetime)}});
    auto sent = co_await client.send(s.mailbox, "PATCH", "/subscriptions/" + s.id, text, doing);
    if (!sent) co_return sent.error();
    if (sent->status != 200) co_return graph_failure(*sent, doing);
    co_return subscription_from(*sent, s.mailbox, doing);
}

boost::asio::awaitable<source_result<void>> unsubscribe(graph_client& client,
                                                        const subscription& s) {
    const std::string doing = "mailbox " + s.mailbox + ": deleting subscription " + s.id;
    auto sent = co_await client.send(s.mailbox, "DELETE", "/subscriptions/" + s.id, "", doing);
    if (!sent) co_return sent.error();
    if (sent->status == 204 || sent->status == 200 || sent->status == 404)
        co_return source_result<void>{};
    co_return graph_failure(*sent, doing);
}

std::optional<std::vector<notification>> parse_notifications(std::string_view text,
                                                             std::string& error) {
    if (text.size() > max_notification_bytes) {
        error =
            "the notification body is over " + std::to_string(max_notification_bytes) + " bytes";
        return std::nullopt;
    }
    try {
        json::error_code ec;
        json::parse_options options;
        options.max_depth = 32;
        const json::value v = json::parse(text, ec, {}, options);
        if (ec || !v.is_object()) {
            error = "the notification body is not a JSON object";
            return std::nullopt;
        }
        const auto* value = v.as_object().if_contains("value");
        if (value == nullptr || !value->is_array()) {
            error = "the notification body has no \"value\" array";
            return std::nullopt;
        }
        std::vector<notification> out;
        for (const json::value& item : value->as_array()) {
            if (out.size() >= max_notifications) break;
            if (!item.is_object()) continue;
            const json::object& o = item.as_object();
            notification n;
            n.subscription_id = string_field(o, "subscriptionId");
            n.client_state = string_field(o, "clientState");
            n.change_type = string_field(o, "changeType");
            n.resource = string_field(o, "resource");
            n.lifecycle_event = string_field(o, "lifecycleEvent");
            out.push_back(std::move(n));
        }
        return out;
    } catch (const std::exception& e) {
        error = std::string("the notification body cannot be read: ") + e.what();
        return std::nullopt;
    }
}

}  // namespace agendad::calendar::graph
