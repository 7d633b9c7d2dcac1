// EWS SOAP → invitations (calendar/ews/soap.h, calendar/ews/ews_items.h): one body read the way
// the EWS source reads every answer: parse_response, the overall code and its class, each
// operation's reader (SyncFolderItems, GetItem, CreateItem, Unsubscribe, Subscribe,
// GetStreamingEvents), every CalendarItem they hand out mapped by parse_calendar_item, the whole
// body through parse_calendar_items, and as a POX Autodiscover answer.
//
// Invariants: nothing throws (each reader documents it); refusals are sentences that start with
// `where` where documented; ResponseClass is Success, Warning or Error; MessageText and
// faultstring stay within 1,000 bytes (plus "…"); back-offs lie between 0 and a day; ids the
// readers promise are never empty; owners' entries are the mailbox's; Autodiscover gives a URL or
// a redirect target when it says it does.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "calendar/ews/ews_items.h"
#include "calendar/ews/soap.h"
#include "fuzz_support.h"

namespace {

using namespace agendad;
using namespace agendad::calendar;
using fuzz::require;

constexpr std::string_view mailbox = "dana.whitfield@contoso.example";
constexpr std::string_view where = "mailbox dana.whitfield@contoso.example, fuzz";

void check_back_off(const std::optional<std::chrono::milliseconds>& b) {
    if (b) require(b->count() >= 0 && *b <= ews::max_back_off, "ews: a back-off out of range");
}

void check_message(const ews::response_message& m) {
    require(m.response_class == "Success" || m.response_class == "Warning" ||
                m.response_class == "Error",
            "ews: an unknown ResponseClass", m.response_class);
    require(m.text.size() <= ews::max_message_text_bytes + 3, "ews: MessageText over its bound");
    check_back_off(m.back_off);
}

void check_item(const ews::calendar_item& item) {
    if (item.inv.owner) {
        require(item.inv.owner->address == mailbox, "ews: the owner's entry is someone else's",
                item.inv.owner->address);
    }
    for (const auto& p : item.problems) require(!p.message.empty(), "ews: a problem without a message");
}

// A node a reader hands out, mapped as the EWS source maps it when it is a calendar item.
void map_node(pugi::xml_node node) {
    std::string error;
    if (auto item = ews::parse_calendar_item(node, mailbox, where, error)) {
        check_item(*item);
    } else {
        require(!error.empty(), "parse_calendar_item: refused without a reason");
    }
}

template <class R>
void check_refusal(const R& r, std::string_view reader, bool starts_with_where) {
    if (r) return;
    require(!r.error().empty(), "ews: a refusal without a reason", reader);
    if (starts_with_where) {
        require(r.error().starts_with(where), "ews: a refusal that does not start with where",
                reader);
    }
}

void read_envelope(std::string_view body) {
    const auto response = ews::parse_response(body, where);
    check_refusal(response, "parse_response", true);
    if (!response) return;
    for (const auto& m : response->messages) check_message(m);
    if (response->fault) {
        require(response->fault->text.size() <= ews::max_message_text_bytes + 3,
                "ews: faultstring over its bound");
        check_back_off(response->fault->back_off);
    }
    (void)ews::to_string(ews::classify(ews::overall_code(*response)));

    const auto sync = ews::read_sync_folder_items(*response, where);
    check_refusal(sync, "read_sync_folder_items", true);
    if (sync) {
        if (ews::classify(sync->message.code) == ews::code_class::ok)
            require(!sync->sync_state.empty(), "read_sync_folder_items: Success without SyncState");
        for (const auto& c : sync->changes) {
            if (c.kind == ews::change_kind::create || c.kind == ews::change_kind::update ||
                c.kind == ews::change_kind::remove) {
                require(!c.id.id.empty(), "read_sync_folder_items: a change without an item id");
            }
            if (c.kind == ews::change_kind::create || c.kind == ews::change_kind::update)
                map_node(c.node);
        }
    }
    const auto got = ews::read_get_item(*response, where);
    check_refusal(got, "read_get_item", false);
    if (got) {
        for (const auto& f : got->items) {
            check_message(f.message);
            if (f.node) {
                require(!f.id.id.empty(), "read_get_item: an item without an id");
                map_node(f.node);
            }
        }
    }
    const auto created = ews::read_create_item(*response, where);
    check_refusal(created, "read_create_item", false);
    if (created) {
        for (const auto& id : created->items) require(!id.id.empty(), "read_create_item: an empty id");
    }
    check_refusal(ews::read_single_message(*response, "Unsubscribe", where), "read_single_message",
                  false);
    const auto subscribed = ews::read_subscribe(*response, where);
    check_refusal(subscribed, "read_subscribe", false);
    if (subscribed && subscribed->message.response_class == "Success") {
        require(!subscribed->id.empty(), "read_subscribe: Success without a subscription id");
    }
    const auto streamed = ews::read_streaming_events(*response, where);
    check_refusal(streamed, "read_streaming_events", false);
    if (streamed) {
        for (const auto& m : streamed->messages) {
            check_message(m.message);
            for (const auto& n : m.notifications) {
                require(!n.subscription_id.empty(), "read_streaming_events: no subscription id");
                for (const auto& e : n.events) {
                    for (const auto* id : {&e.item, &e.folder, &e.parent_folder, &e.old_item,
                                           &e.old_folder, &e.old_parent_folder}) {
                        if (*id) require(!(*id)->id.empty(), "read_streaming_events: an empty id");
                    }
                }
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    read_envelope(body);

    std::string error = "left over";
    const auto items = ews::parse_calendar_items(body, mailbox, where, error);
    require(items.empty() || error.empty(), "parse_calendar_items: items and an error");
    require(items.size() <= ews::max_items, "parse_calendar_items: over max_items");
    for (const auto& item : items) check_item(item);

    const auto ad = ews::parse_autodiscover(body, where);
    check_refusal(ad, "parse_autodiscover", true);
    if (ad) {
        using kind = ews::autodiscover_result::kind;
        if (ad->action == kind::settings)
            require(!ad->ews_url.empty(), "parse_autodiscover: settings without an EWS URL");
        if (ad->action == kind::redirect_address || ad->action == kind::redirect_url)
            require(!ad->redirect.empty(), "parse_autodiscover: a redirect to nowhere");
        require(ad->error_message.size() <= ews::max_message_text_bytes + 3,
                "parse_autodiscover: the error message over its bound");
    }
    return 0;
}
