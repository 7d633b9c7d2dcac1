// The Microsoft Graph source: calendarView (history) and calendarView/delta (the window) read
// page by page, series folded onto their masters, answers through accept / tentativelyAccept /
// decline after a changeKey check.
//
// Sync token (ours, opaque to the daemon): "graph1 <unix seconds of the window start> <deltaLink>".
// The window start is now - window_back when the round began; once it is more than a day behind
// the current one, the next sync is a full one, so that the window slides with time. A round
// without changes gives back the token it was given (Graph accepts a deltaLink again), so that
// the daemon sees an unchanged token and does no work. Any other
// token (empty, another format, a deltaLink Graph no longer knows: 410 Gone, SyncStateNotFound,
// resyncRequired) means a full sync.
//
// Series: Graph lists a series as its occurrences (and exceptions), each with its own id and
// seriesMasterId. Their item is the master: item_id = the master's id, etag = its changeKey,
// events = the master alone (it carries the recurrence), so that a series is decided once and
// answered on the master. A master is read with GET /events/{id} when one of its occurrences is
// new or has a new changeKey (or the master is not known yet), at most once per round; otherwise
// the master read before is used again. Occurrences → master are remembered between rounds:
// a removed occurrence makes its master read again, and when every occurrence known of a master
// is removed (or the master answers 404) the master is reported removed.
#include "calendar/graph/graph_source.h"
#include "calendar/encoding.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/graph/graph_json.h"

namespace agendad::calendar::graph {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using std::chrono::sys_seconds;

using void_result = source_result<void>;

// Named, not literals: arguments of a coroutine call stay alive across its co_await (GCC 12).
const std::string get_method = "GET";
const std::string post_method = "POST";

constexpr std::string_view token_prefix = "graph1 ";
// A window start this far behind the current one makes the next sync a full one.
constexpr std::chrono::hours rebaseline_after{24};
// Pages of one round at most: a server that links on forever is an error, not a loop.
constexpr int max_pages = 10000;
// $top for calendarView (the history); Graph caps it at 1000.
constexpr int history_page_size = 100;

source_error failure(source_failure kind, std::string message) {
    return source_error{kind, std::move(message)};
}

using encoding::iequals;

// A path segment percent-encoded: unreserved characters and '@' stay, every other byte is %XX
// (Graph ids may hold '/', '+' and '=').
std::string segment(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (std::isalnum(b) || c == '-' || c == '.' || c == '_' || c == '~' || c == '@') {
            out += c;
        } else {
            out += '%';
            out += hex[b >> 4];
            out += hex[b & 15];
        }
    }
    return out;
}

struct sync_token {
    sys_seconds window_start;
    std::string link;
};

std::string make_token(sys_seconds window_start, const std::string& link) {
    return std::string(token_prefix) + std::to_string(window_start.time_since_epoch().count()) +
           " " + link;
}

std::optional<sync_token> read_token(const std::string& token) {
    if (!token.starts_with(token_prefix)) return std::nullopt;
    const std::string_view rest = std::string_view(token).substr(token_prefix.size());
    const auto space = rest.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 >= rest.size())
        return std::nullopt;
    long long seconds = 0;
    const auto [end, ec] = std::from_chars(rest.data(), rest.data() + space, seconds);
    if (ec != std::errc() || end != rest.data() + space) return std::nullopt;
    return sync_token{sys_seconds{std::chrono::seconds{seconds}},
                      std::string(rest.substr(space + 1))};
}

// What state() and the check before answering need of an event (asked with $select).
struct event_status {
    std::string change_key;
    std::string response;  // responseStatus.response
    bool cancelled = false;
};

std::optional<event_status> read_status(std::string_view body) {
    if (body.size() > max_json_bytes) return std::nullopt;
    boost::system::error_code ec;
    json::value v = json::parse(body, ec);
    if (ec || !v.is_object()) return std::nullopt;
    const json::object& o = v.get_object();
    event_status out;
    if (const auto* key = o.if_contains("changeKey"); key && key->is_string()) {
        out.change_key = std::string(key->get_string());
    } else if (const auto* etag = o.if_contains("@odata.etag"); etag && etag->is_string()) {
        // W/"EZ9r3czxY0m2jz8c45czkwAALZu97w==": the changeKey in an ETag's clothes.
        std::string_view e = etag->get_string();
        if (e.starts_with("W/")) e.remove_prefix(2);
        if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
        out.change_key = std::string(e);
    }
    if (const auto* rs = o.if_contains("responseStatus"); rs && rs->is_object()) {
        if (const auto* r = rs->get_object().if_contains("response"); r && r->is_string())
            out.response = std::string(r->get_string());
    }
    if (const auto* c = o.if_contains("isCancelled"); c && c->is_bool())
        out.cancelled = c->get_bool();
    return out;
}

// responseStatus.response → the owner's PARTSTAT (as graph_json maps it).
partstat partstat_of(std::string_view response) {
    if (iequals(response, "accepted") || iequals(response, "organizer")) return partstat::accepted;
    if (iequals(response, "tentativelyAccepted")) return partstat::tentative;
    if (iequals(response, "declined")) return partstat::declined;
    if (iequals(response, "notResponded") || iequals(response, "none"))
        return partstat::needs_action;
    return response.empty() ? partstat::none : partstat::other;
}

// Graph has no "not answered again": an undo (needs_action) is carried out as tentativelyAccept
// (with sendResponse as asked; the daemon asks needs_action only for silent undos, so the
// organizer is not told). Such an undo has taken effect when the owner's answer is tentative,
// or still "not answered".
bool response_matches(partstat wanted, std::string_view response) {
    const partstat now = partstat_of(response);
    if (wanted == partstat::needs_action)
        return now == partstat::tentative || now == partstat::needs_action;
    return now == wanted && !iequals(response, "organizer");
}

const char* action_for(partstat status) {
    switch (status) {
        case partstat::accepted:
            return "accept";
        case partstat::tentative:
        case partstat::needs_action:
            return "tentativelyAccept";
        case partstat::declined:
            return "decline";
        default:
            return nullptr;
    }
}

// A delta round Graph no longer knows: start a new one.
bool sync_state_lost(const graph_client::answer& a) {
    if (a.status == 410) return true;
    if (a.status < 400) return false;
    const auto e = parse_error(a.body);
    return e && (iequals(e->code, "syncStateNotFound") || iequals(e->code, "syncStateInvalid") ||
                 iequals(e->code, "resyncRequired"));
}

bool is_instance(const event& e) {
    return (e.type == "occurrence" || e.type == "exception") && !e.series_master_id.empty();
}

source_item item_of(const event& e) {
    source_item item;
    item.item_id = e.id;
    if (item.item_id.empty()) {
        // Never dropped silently: an item that names what could not be read.
        std::string text;
        for (const auto& p : e.problems) text += p.to_string() + "\n";
        item.item_id = "unreadable-" + encoding::fnv1a_hex(text);
    }
    item.etag = e.change_key;
    item.events.push_back(e.inv);
    item.problems = e.problems;
    return item;
}

}  // namespace

struct graph_source::impl {
    std::shared_ptr<graph_client> client;
    graph_settings settings;

    struct occurrence {
        std::string master;
        std::string change_key;
    };
    struct series {
        source_item item;  // the master as last read (empty item_id: not read)
        std::set<std::string> occurrences;
    };
    // What the last round saw: every occurrence of a series with its master, and the masters.
    struct cache {
        std::map<std::string, occurrence> occurrences;
        std::map<std::string, series> masters;

        void forget_master(const std::string& id) {
            masters.erase(id);
            for (auto it = occurrences.begin(); it != occurrences.end();) {
                if (it->second.master == id)
                    it = occurrences.erase(it);
                else
                    ++it;
            }
        }
    };
    cache known;

    struct round {
        std::vector<event> events;
        std::vector<std::string> removed;
        std::string delta_link;
        bool lost = false;  // Graph no longer knows the deltaLink
    };

    std::string who() const { return "mailbox " + settings.mailbox; }
    std::string user_path() const { return "/users/" + segment(settings.mailbox); }
    std::string event_path(const std::string& id) const {
        return user_path() + "/events/" + segment(id);
    }
    sys_seconds now() const {
        if (settings.now) return settings.now();
        return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    }

    asio::awaitable<void_result> read_pages(const std::string& first, bool delta,
                                            const std::string& doing, round& out);
    asio::awaitable<source_result<std::optional<source_item>>> read_master(const std::string& id);
    asio::awaitable<source_result<sync_result>> full();
    asio::awaitable<source_result<std::optional<sync_result>>> changes(const sync_token& t);
    asio::awaitable<source_result<std::optional<event_status>>> read_event_status(
        const std::string& item_id, const std::string& doing);
};

// Reads `first` and the pages its @odata.nextLink leads to; a delta round ends with a deltaLink.
asio::awaitable<void_result> graph_source::impl::read_pages(const std::string& first, bool delta,
                                                            const std::string& doing, round& out) {
    std::string link = first;
    const std::string empty;
    for (int pages = 0;; ++pages) {
        if (pages >= max_pages) {
            co_return failure(source_failure::invalid, doing + ": more than " +
                                                           std::to_string(max_pages) +
                                                           " pages; giving up on this round");
        }
        auto got = co_await client->send(settings.mailbox, get_method, link, empty, doing);
        if (!got) co_return got.error();
        if (delta && sync_state_lost(*got)) {
            out.lost = true;
            co_return void_result();
        }
        if (got->status != 200) co_return graph_failure(*got, doing);
        parsed_page parsed = parse_event_page(got->body, settings.mailbox, who());
        if (!parsed.value) co_return failure(source_failure::invalid, doing + ": " + parsed.error);
        page& p = *parsed.value;
        for (auto& e : p.events) out.events.push_back(std::move(e));
        for (auto& id : p.removed) out.removed.push_back(std::move(id));
        if (!p.next_link.empty()) {
            link = std::move(p.next_link);
            continue;
        }
        if (delta) {
            if (p.delta_link.empty()) {
                co_return failure(source_failure::invalid,
                                  doing +
                                      ": the last page has neither @odata.nextLink nor "
                                      "@odata.deltaLink");
            }
            out.delta_link = std::move(p.delta_link);
        }
        co_return void_result();
    }
}

// The series master `id` as an item; nullopt when Graph no longer has it (404).
asio::awaitable<source_result<std::optional<source_item>>> graph_source::impl::read_master(
    const std::string& id) {
    const std::string where = who() + ", series master " + id;
    const std::string doing = who() + ": reading the series master " + id;
    const std::string target = event_path(id);
    const std::string empty;
    auto got = co_await client->send(settings.mailbox, get_method, target, empty, doing);
    if (!got) co_return got.error();
    if (got->status == 404 || got->status == 410) co_return std::optional<source_item>();
    if (got->status != 200) co_return graph_failure(*got, doing);
    std::string error;
    std::optional<event> e = parse_event(got->body, settings.mailbox, where, error);
    source_item item;
    if (!e) {
        item.item_id = id;
        item.problems.push_back(diagnostic{where, 0, 0, error});
        co_return std::optional<source_item>(std::move(item));
    }
    item = item_of(*e);
    item.item_id = id;
    co_return std::optional<source_item>(std::move(item));
}

asio::awaitable<source_result<sync_result>> graph_source::impl::full() {
    const sys_seconds at = now();
    const sys_seconds window_start = at - settings.window_back;
    const sys_seconds window_end = at + settings.window_ahead;
    const sys_seconds history_start = at - settings.history;

    // (1) The past, for the trust history: calendarView (no delta), paged.
    round past;
    if (history_start < window_start) {
        const std::string link = user_path() +
                                 "/calendarView?startDateTime=" + format_utc(history_start) +
                                 "&endDateTime=" + format_utc(window_start) +
                                 "&$top=" + std::to_string(history_page_size);
        const std::string doing =
            who() + ": reading the history since " + format_date(history_start);
        auto got = co_await read_pages(link, false, doing, past);
        if (!got) co_return got.error();
    }

    // (2) A new delta round over the window.
    round window;
    {
        const std::string link = user_path() +
                                 "/calendarView/delta?startDateTime=" + format_utc(window_start) +
                                 "&endDateTime=" + format_utc(window_end);
        const std::string doing = who() + ": the delta round";
        auto got = co_await read_pages(link, true, doing, window);
        if (!got) co_return got.error();
        if (window.lost) {
            co_return failure(source_failure::transient,
                              doing +
                                  ": Graph lost the state of a round it had just begun; "
                                  "trying again later");
        }
    }

    cache next;
    std::map<std::string, source_item> items;
    std::set<std::string> series_ids;     // masters of the occurrences listed
    std::set<std::string> stale_masters;  // ... of which these must be read again
    const auto take = [&](const event& e) {
        if (is_instance(e)) {
            const std::string& master = e.series_master_id;
            next.occurrences[e.id] = occurrence{master, e.change_key};
            next.masters[master].occurrences.insert(e.id);
            series_ids.insert(master);
            const auto old = known.occurrences.find(e.id);
            if (e.change_key.empty() || old == known.occurrences.end() ||
                old->second.change_key != e.change_key || old->second.master != master) {
                stale_masters.insert(master);
            }
            return;
        }
        source_item item = item_of(e);
        if (e.type == "seriesMaster" && !e.id.empty()) next.masters[e.id].item = item;
        items.insert_or_assign(item.item_id, std::move(item));
    };
    // The window's version of an event that is in both wins.
    for (const auto& e : past.events) take(e);
    for (const auto& e : window.events) take(e);

    for (const std::string& id : series_ids) {
        if (items.count(id)) continue;  // the master was listed itself
        const auto cached = known.masters.find(id);
        if (!stale_masters.count(id) && cached != known.masters.end() &&
            !cached->second.item.item_id.empty()) {
            next.masters[id].item = cached->second.item;
            items.emplace(id, cached->second.item);
            continue;
        }
        auto master = co_await read_master(id);
        if (!master) co_return master.error();
        if (!*master) {
            next.forget_master(id);  // occurrences listed, master gone: nothing to answer
            continue;
        }
        next.masters[id].item = **master;
        items.emplace(id, std::move(**master));
    }

    known = std::move(next);
    sync_result out;
    out.full = true;
    out.token = make_token(window_start, window.delta_link);
    out.items.reserve(items.size());
    for (auto& [id, item] : items) out.items.push_back(std::move(item));
    co_return out;
}

// What changed since the deltaLink of `t`; nullopt when Graph no longer knows it.
asio::awaitable<source_result<std::optional<sync_result>>> graph_source::impl::changes(
    const sync_token& t) {
    round r;
    const std::string doing = who() + ": the delta round";
    auto got = co_await read_pages(t.link, true, doing, r);
    if (!got) co_return got.error();
    if (r.lost) co_return std::optional<sync_result>();

    // Worked on a copy: a round that fails half-way leaves the cache as it was, and the same
    // deltaLink gives the same changes next time.
    cache next = known;
    std::map<std::string, source_item> items;
    std::vector<std::string> removed;
    std::set<std::string> touched;  // masters to read again (or to report removed)
    for (const auto& e : r.events) {
        if (is_instance(e)) {
            next.occurrences[e.id] = occurrence{e.series_master_id, e.change_key};
            next.masters[e.series_master_id].occurrences.insert(e.id);
            touched.insert(e.series_master_id);
            continue;
        }
        source_item item = item_of(e);
        if (e.type == "seriesMaster" && !e.id.empty()) {
            next.masters[e.id].item = item;
            touched.erase(e.id);
        }
        items.insert_or_assign(item.item_id, std::move(item));
    }
    for (const auto& id : r.removed) {
        if (const auto occ = next.occurrences.find(id); occ != next.occurrences.end()) {
            const std::string master = occ->second.master;
            next.occurrences.erase(occ);
            next.masters[master].occurrences.erase(id);
            touched.insert(master);
            continue;
        }
        if (next.masters.count(id)) {
            next.forget_master(id);
            touched.erase(id);
        }
        items.erase(id);
        removed.push_back(id);
    }
    for (const std::string& id : touched) {
        if (items.count(id)) continue;
        const auto it = next.masters.find(id);
        if (it != next.masters.end() && it->second.occurrences.empty()) {
            // Every occurrence known of the series is gone: so is the series.
            next.forget_master(id);
            removed.push_back(id);
            continue;
        }
        auto master = co_await read_master(id);
        if (!master) co_return master.error();
        if (!*master) {
            next.forget_master(id);
            removed.push_back(id);
            continue;
        }
        next.masters[id].item = **master;
        items.emplace(id, std::move(**master));
    }

    known = std::move(next);
    sync_result out;
    out.full = false;
    // A round without changes keeps the token it was given (a deltaLink may be used again): to
    // the daemon an unchanged token means "nothing to do", no store work at all.
    const bool quiet = items.empty() && removed.empty();
    out.token = make_token(t.window_start, quiet ? t.link : r.delta_link);
    out.removed = std::move(removed);
    out.items.reserve(items.size());
    for (auto& [id, item] : items) out.items.push_back(std::move(item));
    co_return std::optional<sync_result>(std::move(out));
}

// The event's changeKey and the owner's answer; nullopt when Graph no longer has it.
asio::awaitable<source_result<std::optional<event_status>>> graph_source::impl::read_event_status(
    const std::string& item_id, const std::string& doing) {
    const std::string target =
        event_path(item_id) + "?$select=responseStatus,isCancelled,changeKey";
    const std::string empty;
    auto got = co_await client->send(settings.mailbox, get_method, target, empty, doing);
    if (!got) co_return got.error();
    if (got->status == 404 || got->status == 410) co_return std::optional<event_status>();
    if (got->status != 200) co_return graph_failure(*got, doing);
    auto status = read_status(got->body);
    if (!status) {
        co_return failure(
            source_failure::invalid,
            doing + ": the answer is not an event object [request-id " + got->request_id + "]");
    }
    co_return std::optional<event_status>(std::move(*status));
}

graph_source::graph_source(std::shared_ptr<graph_client> client, graph_settings settings)
    : impl_(std::make_shared<impl>()) {
    impl_->client = std::move(client);
    impl_->settings = std::move(settings);
}

std::string graph_source::describe() const {
    std::string text = "Microsoft Graph mailbox " + impl_->settings.mailbox + " via " +
                       (impl_->client ? impl_->client->graph_url() : std::string("(no client)"));
    if (!impl_->settings.source_name.empty()) text += " (" + impl_->settings.source_name + ")";
    return text;
}

asio::awaitable<source_result<sync_result>> graph_source::sync(const std::string& token) {
    impl& s = *impl_;
    if (const auto t = read_token(token)) {
        const sys_seconds window_start = s.now() - s.settings.window_back;
        // The window slides: a round begun more than a day ago (or "in the future", after the
        // clock went back) gives way to a full sync over today's window.
        const bool current =
            t->window_start <= window_start && window_start - t->window_start <= rebaseline_after;
        if (current) {
            auto changed = co_await s.changes(*t);
            if (!changed) co_return changed.error();
            if (*changed) co_return std::move(**changed);
            // Graph forgot the round (410 Gone): everything again.
        }
    }
    co_return co_await s.full();
}

asio::awaitable<source_result<void>> graph_source::respond(const std::string& item_id,
                                                           const std::string& etag,
                                                           const invitation& inv,
                                                           const response& r) {
    (void)inv;  // Graph answers by id; the invitation adds nothing
    impl& s = *impl_;
    const char* action = action_for(r.status);
    if (!action) {
        co_return failure(source_failure::invalid, s.who() + ": cannot answer event " + item_id +
                                                       " with " + std::string(to_string(r.status)));
    }
    if (item_id.empty()) {
        co_return failure(source_failure::invalid, s.who() + ": no event id to answer");
    }

    // Graph's accept/decline take no If-Match: the changeKey is compared first, so that only
    // the version that was decided on is answered (a new one is read and decided again).
    const std::string reading = s.who() + ": reading event " + item_id + " before answering it";
    auto current = co_await s.read_event_status(item_id, reading);
    if (!current) co_return current.error();
    if (!*current) {
        co_return failure(source_failure::gone,
                          s.who() + ": event " + item_id + " is no longer in the calendar");
    }
    const event_status& now = **current;
    if (!etag.empty() && !now.change_key.empty() && now.change_key != etag) {
        co_return failure(source_failure::conflict, s.who() + ": event " + item_id +
                                                        " changed since it was read (changeKey " +
                                                        etag + ", now " + now.change_key +
                                                        "): it is read and decided again");
    }
    // An undo to "not answered" of a meeting still not answered: nothing to change.
    if (r.status == partstat::needs_action && partstat_of(now.response) == partstat::needs_action)
        co_return void_result();

    const std::string target = s.event_path(item_id) + "/" + action;
    const std::string body = response_body(r.comment, r.send);
    const std::string doing = s.who() + ": " + action + " event " + item_id;
    auto got = co_await s.client->send(s.settings.mailbox, post_method, target, body, doing);
    if (!got) co_return got.error();
    if (got->status == 200 || got->status == 202 || got->status == 204) co_return void_result();
    co_return graph_failure(*got, doing);
}

asio::awaitable<source_result<applied_state>> graph_source::state(const std::string& item_id,
                                                                  const invitation& inv,
                                                                  const response& r) {
    (void)inv;
    impl& s = *impl_;
    const std::string doing = s.who() + ": reading the answer to event " + item_id;
    auto current = co_await s.read_event_status(item_id, doing);
    if (!current) co_return current.error();
    applied_state out;
    if (!*current) {
        out.item_exists = false;
        // Exchange takes a declined meeting out of the calendar (by default), so a decline that
        // took effect reads as 404, as does a meeting the organizer cancelled or the owner
        // deleted. For a decline all of these are the outcome it wants, and answering again is
        // impossible anyway (a POST answers 404): it counts as applied, which never sends twice
        // and records the decision as done. Any other answer to a vanished event did not take
        // effect (applied = false); the daemon then drops it as no longer in the calendar.
        out.applied = r.status == partstat::declined;
        co_return out;
    }
    out.owner_status = partstat_of((*current)->response);
    out.applied = response_matches(r.status, (*current)->response);
    co_return out;
}

}  // namespace agendad::calendar::graph
