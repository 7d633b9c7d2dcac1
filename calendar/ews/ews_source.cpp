// The EWS source: SyncFolderItems rounds on the Calendar folder, GetItem for what changed,
// CreateItem response objects to answer. See ews_source.h.
#include "calendar/ews/ews_source.h"

#include <boost/system/result.hpp>

#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "calendar/encoding.h"
#include "calendar/ews/ews_items.h"
#include "calendar/ews/soap.h"

namespace agendad::calendar::ews {
namespace {

namespace asio = boost::asio;
using encoding::iequals;

constexpr std::string_view token_prefix = "ews1 ";
// A folder whose changes need more rounds than this is read again from scratch next time
// (512 changes a round: half a million changes).
constexpr int max_rounds = 1000;

source_error failure(source_failure kind, std::string message) {
    return source_error{kind, std::move(message)};
}

// MyResponseType → the owner's PARTSTAT, as the items are mapped.
partstat partstat_of(std::string_view response) {
    if (const auto p = partstat_of_response(response)) return *p;
    return response.empty() ? partstat::none : partstat::other;
}

// EWS has no "not answered again": an undo (needs_action) is carried out as a tentative
// acceptance; it has taken effect when the answer is tentative or still "not answered".
bool response_matches(partstat wanted, std::string_view response) {
    const partstat now = partstat_of(response);
    if (wanted == partstat::needs_action)
        return now == partstat::tentative || now == partstat::needs_action;
    return now == wanted && !iequals(response, "Organizer");
}

std::optional<response_kind> kind_for(partstat status) {
    switch (status) {
        case partstat::accepted:
            return response_kind::accept;
        case partstat::tentative:
        case partstat::needs_action:
            return response_kind::tentative;
        case partstat::declined:
            return response_kind::decline;
        default:
            return std::nullopt;
    }
}

std::string_view element_for(response_kind k) {
    switch (k) {
        case response_kind::accept:
            return "AcceptItem";
        case response_kind::tentative:
            return "TentativelyAcceptItem";
        case response_kind::decline:
            return "DeclineItem";
    }
    return "DeclineItem";
}

// What GetItem said about one item.
struct read_item {
    std::string id;
    bool exists = true;
    std::optional<calendar_item> item;  // set when it exists and is a calendar item
    std::string other_kind;             // an item that is not a CalendarItem: its kind
    std::string problem;                // a CalendarItem element that could not be mapped
};

}  // namespace

struct ews_source::impl {
    std::shared_ptr<ews_client> client;
    ews_settings settings;

    std::string who() const {
        return "mailbox " + settings.mailbox +
               (settings.source_name.empty() ? std::string() : " (" + settings.source_name + ")");
    }

    request_context context() const {
        request_context c;
        c.mailbox = settings.mailbox;
        c.impersonate = settings.impersonation;
        return c;
    }

    // GetItem of `ids` in batches; one entry per id, in order.
    asio::awaitable<source_result<std::vector<read_item>>> get_items(
        const std::vector<ews::item_id>& ids, const std::string& doing) {
        std::vector<read_item> out;
        const std::size_t batch = static_cast<std::size_t>(std::max(1, settings.get_item_batch));
        for (std::size_t at = 0; at < ids.size(); at += batch) {
            const std::vector<ews::item_id> part(
                ids.begin() + static_cast<std::ptrdiff_t>(at),
                ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), at + batch)));
            const std::string envelope = ews::get_items(context(), part);
            auto answer = co_await client->call(settings.mailbox, envelope, true, doing);
            if (!answer) co_return answer.error();
            if (auto fault = fault_failure(*answer, doing)) co_return std::move(*fault);
            auto got = read_get_item(*answer, doing);
            if (!got) co_return failure(source_failure::invalid, got.error());
            if (got->items.size() != part.size()) {
                co_return failure(source_failure::invalid,
                                  doing + ": Exchange answered " +
                                      std::to_string(got->items.size()) + " messages for " +
                                      std::to_string(part.size()) + " items");
            }
            for (std::size_t i = 0; i < part.size(); ++i) {
                const fetched_item& f = got->items[i];
                read_item r;
                r.id = part[i].id;
                const code_class c = classify(f.message.code);
                if (c == code_class::gone) {
                    r.exists = false;
                } else if (c != code_class::ok) {
                    co_return ews_failure(c, f.message.code, f.message.text,
                                          doing + " (item " + part[i].id + ")");
                } else if (f.item_kind != "CalendarItem") {
                    r.other_kind = f.item_kind;
                } else {
                    const std::string where = who() + ", item " + part[i].id;
                    std::string error;
                    r.item = parse_calendar_item(f.node, settings.mailbox, where, error);
                    if (!r.item) r.problem = error;
                }
                out.push_back(std::move(r));
            }
        }
        co_return out;
    }

    // The owner's answer to an item and its ChangeKey; nullopt when the item is gone.
    struct item_status {
        std::string change_key;
        std::string my_response_type;
    };
    asio::awaitable<source_result<std::optional<item_status>>> status_of(
        const std::string& id, const std::string& doing) {
        const std::vector<ews::item_id> ids{ews::item_id{id, {}}};
        auto got = co_await get_items(ids, doing);
        if (!got) co_return got.error();
        const read_item& r = got->front();
        if (!r.exists) co_return std::optional<item_status>();
        if (!r.item) {
            co_return failure(source_failure::invalid,
                              doing + ": item " + id + " is " +
                                  (r.problem.empty() ? "a " + r.other_kind + ", not a meeting"
                                                     : "unreadable: " + r.problem));
        }
        co_return std::optional<item_status>(
            item_status{r.item->change_key, r.item->my_response_type});
    }
};

ews_source::ews_source(std::shared_ptr<ews_client> client, ews_settings settings)
    : impl_(std::make_shared<impl>()) {
    impl_->client = std::move(client);
    impl_->settings = std::move(settings);
}

std::string ews_source::describe() const {
    const impl& s = *impl_;
    std::string at = s.client ? s.client->url() : std::string("(no client)");
    if (at.empty() && s.client && s.client->autodiscovers()) at = "(the URL Autodiscover finds)";
    std::string text = "EWS mailbox " + s.settings.mailbox + " at " + at;
    if (s.client) text += ", " + s.client->describe_sign_in();
    text += s.settings.impersonation ? ", impersonating it" : ", as a delegate";
    if (!s.settings.source_name.empty()) text += " (" + s.settings.source_name + ")";
    return text;
}

asio::awaitable<source_result<sync_result>> ews_source::sync(const std::string& token) {
    auto self = impl_;
    impl& s = *self;
    std::string state;
    if (token.size() > token_prefix.size() && token.starts_with(token_prefix)) {
        state = token.substr(token_prefix.size());
    }
    bool full = state.empty();

    // The changes of the rounds, in order: the last word on an id wins.
    std::map<std::string, ews::item_id> changed;  // created or updated
    std::set<std::string> removed;
    for (int round = 1;; ++round) {
        if (round > max_rounds) {
            co_return failure(source_failure::transient,
                              s.who() + ": the calendar's changes did not end after " +
                                  std::to_string(max_rounds) +
                                  " SyncFolderItems rounds; starting over next time");
        }
        const std::string doing = s.who() + ": SyncFolderItems on the calendar";
        const std::string envelope = sync_folder_items(s.context(), state);
        auto answer = co_await s.client->call(s.settings.mailbox, envelope, true, doing);
        if (!answer) co_return answer.error();
        if (auto fault = fault_failure(*answer, doing)) co_return std::move(*fault);
        auto got = read_sync_folder_items(*answer, doing);
        if (!got) co_return failure(source_failure::invalid, got.error());
        const code_class c = classify(got->message.code);
        if (c == code_class::resync && !state.empty()) {
            // The state is no good (expired, or from another server): read everything again.
            state.clear();
            full = true;
            changed.clear();
            removed.clear();
            continue;
        }
        if (c != code_class::ok) {
            co_return ews_failure(c, got->message.code, got->message.text, doing);
        }
        for (const sync_change& change : got->changes) {
            switch (change.kind) {
                case change_kind::create:
                case change_kind::update:
                    removed.erase(change.id.id);
                    changed[change.id.id] = change.id;
                    break;
                case change_kind::remove:
                    changed.erase(change.id.id);
                    removed.insert(change.id.id);
                    break;
                case change_kind::read_flag_change:
                case change_kind::other:
                    break;
            }
        }
        state = got->sync_state;
        if (got->includes_last_item_in_range) break;
    }

    sync_result out;
    out.full = full;
    out.token = std::string(token_prefix) + state;
    std::vector<ews::item_id> ids;
    ids.reserve(changed.size());
    for (const auto& [id, ref] : changed) ids.push_back(ews::item_id{ref.id, {}});
    const std::string doing = s.who() + ": reading " + std::to_string(ids.size()) +
                              " changed calendar item(s) with GetItem";
    auto read = co_await s.get_items(ids, doing);
    if (!read) co_return read.error();
    for (read_item& r : *read) {
        if (!r.exists) {
            if (!full) out.removed.push_back(r.id);
            continue;
        }
        if (!r.item && r.problem.empty()) continue;  // not a meeting (a note in the calendar)
        source_item item;
        item.item_id = r.id;
        if (r.item) {
            item.etag = r.item->change_key;
            item.events.push_back(std::move(r.item->inv));
            item.problems = std::move(r.item->problems);
        } else {
            item.problems.push_back(diagnostic{s.who() + ", item " + r.id, 0, 0, r.problem});
        }
        out.items.push_back(std::move(item));
    }
    if (!full) {
        for (const auto& id : removed) out.removed.push_back(id);
    }
    co_return out;
}

asio::awaitable<source_result<void>> ews_source::respond(const std::string& item_id,
                                                         const std::string& etag,
                                                         const invitation& inv,
                                                         const response& r) {
    (void)inv;  // EWS answers by id; the invitation adds nothing
    auto self = impl_;
    impl& s = *self;
    const auto kind = kind_for(r.status);
    if (!kind) {
        co_return failure(source_failure::invalid, s.who() + ": cannot answer item " + item_id +
                                                       " with " + std::string(to_string(r.status)));
    }
    if (item_id.empty()) co_return failure(source_failure::invalid, s.who() + ": no item to answer");

    // Only the version that was decided on is answered: a new ChangeKey is read and decided
    // again.
    const std::string reading = s.who() + ": reading item " + item_id + " before answering it";
    auto current = co_await s.status_of(item_id, reading);
    if (!current) co_return current.error();
    if (!*current) {
        co_return failure(source_failure::gone,
                          s.who() + ": item " + item_id + " is no longer in the calendar");
    }
    const impl::item_status& now = **current;
    if (!etag.empty() && !now.change_key.empty() && now.change_key != etag) {
        co_return failure(source_failure::conflict, s.who() + ": item " + item_id +
                                                        " changed since it was read (ChangeKey " +
                                                        etag + ", now " + now.change_key +
                                                        "): it is read and decided again");
    }
    if (r.status == partstat::needs_action &&
        partstat_of(now.my_response_type) == partstat::needs_action) {
        co_return boost::system::result<void, source_error>();
    }

    const std::string doing =
        s.who() + ": CreateItem " + std::string(element_for(*kind)) + " for item " + item_id;
    const std::string envelope =
        ews::respond(s.context(), *kind, ews::item_id{item_id, now.change_key}, r.comment, r.send);
    auto answer = co_await s.client->call(s.settings.mailbox, envelope, false, doing);
    if (!answer) co_return answer.error();
    if (auto fault = fault_failure(*answer, doing)) co_return std::move(*fault);
    auto created = read_create_item(*answer, doing);
    if (!created) co_return failure(source_failure::invalid, created.error());
    const code_class c = classify(created->message.code);
    if (c == code_class::ok) co_return boost::system::result<void, source_error>();
    co_return ews_failure(c, created->message.code, created->message.text, doing);
}

asio::awaitable<source_result<applied_state>> ews_source::state(const std::string& item_id,
                                                                const invitation& inv,
                                                                const response& r) {
    (void)inv;
    auto self = impl_;
    impl& s = *self;
    const std::string doing = s.who() + ": reading the answer to item " + item_id;
    auto current = co_await s.status_of(item_id, doing);
    if (!current) co_return current.error();
    applied_state out;
    if (!*current) {
        out.item_exists = false;
        // Exchange moves a declined meeting to Deleted Items, so a decline that took effect
        // reads as gone, as does a meeting cancelled or deleted: for a decline each is the
        // outcome it wants (and answering again is impossible): applied, never sent twice.
        out.applied = r.status == partstat::declined;
        co_return out;
    }
    out.owner_status = partstat_of((*current)->my_response_type);
    out.applied = response_matches(r.status, (*current)->my_response_type);
    co_return out;
}

}  // namespace agendad::calendar::ews
