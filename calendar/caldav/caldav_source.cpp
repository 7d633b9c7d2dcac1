#include "calendar/caldav/caldav_source.h"

#include "calendar/encoding.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>
#include <utility>

#include "calendar/caldav/webdav.h"
#include "calendar/ical/itip.h"
#include "calendar/ical/parse.h"
#include "calendar/ical/partstat.h"
#include "calendar/imip.h"

namespace agendad::calendar {
namespace {

namespace asio = boost::asio;

using void_result = source_result<void>;

source_error failure(source_failure kind, std::string message) {
    return source_error{kind, std::move(message)};
}

// Our sync token: "s:" + the server's sync-collection token, or "p:" for a PROPFIND listing
// (no server token: always a full listing). Anything else means "start over".
constexpr std::string_view sync_prefix = "s:";
constexpr std::string_view listing_token = "p:";

// Redirects followed during discovery (/.well-known/caldav, a moved principal), same origin only.
constexpr int max_redirects = 3;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "/cal/d%C3%A4na/" → "/cal/däna/": hrefs are compared decoded, sent as the server wrote them.
std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
            hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// The path of an href, which a server may write as a path or as an absolute URL.
std::string path_of(std::string_view href) {
    if (href.starts_with("http://") || href.starts_with("https://")) {
        if (auto u = http::url::parse(href)) return u->target;
    }
    return std::string(href);
}

// Two hrefs name the same resource: same decoded path, a trailing slash aside.
std::string comparable(std::string_view href) {
    std::string p = percent_decode(path_of(href));
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
}

std::string status_text(const http::response& r) {
    return "HTTP " + std::to_string(r.status);
}

// What an unexpected HTTP status means for the daemon.
source_error from_status(const http::response& r, const std::string& doing) {
    const std::string what = doing + ": the server answered " + status_text(r);
    if (r.status == 401)
        return failure(source_failure::denied, what + " (the user name or password is wrong)");
    if (r.status == 403)
        return failure(source_failure::denied, what + " (the account may not do this)");
    if (r.status == 404 || r.status == 410) return failure(source_failure::gone, what);
    if (r.status == 412)
        return failure(source_failure::conflict, what + " (it changed since it was read)");
    if (r.status == 429 || r.status >= 500) return failure(source_failure::transient, what);
    return failure(source_failure::invalid, what);
}

source_error from_http(const http::error& e, const std::string& doing) {
    return failure(failure_kind_of(e.kind), doing + ": " + e.message);
}

bool has_vevent(const caldav::dav_resource& r) {
    return r.components.empty() ||
           std::find(r.components.begin(), r.components.end(), "VEVENT") != r.components.end();
}

bool dav_header_has(const http::response& r, std::string_view token) {
    for (const auto& h : r.headers) {
        if (h.name.size() != 3 || std::tolower(static_cast<unsigned char>(h.name[0])) != 'd' ||
            std::tolower(static_cast<unsigned char>(h.name[1])) != 'a' ||
            std::tolower(static_cast<unsigned char>(h.name[2])) != 'v') {
            continue;
        }
        std::string value = h.value;
        std::size_t start = 0;
        while (start <= value.size()) {
            std::size_t end = value.find(',', start);
            if (end == std::string::npos) end = value.size();
            std::string_view part(value.data() + start, end - start);
            while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front())))
                part.remove_prefix(1);
            while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back())))
                part.remove_suffix(1);
            if (part == token) return true;
            start = end + 1;
        }
    }
    return false;
}

// The invitation for `inv`'s meeting in a parsed object: same UID and RECURRENCE-ID.
const invitation* same_meeting(const parsed_calendar& parsed, const invitation& inv) {
    for (const auto& e : parsed.events) {
        if (e.uid == inv.uid && e.recurrence_id == inv.recurrence_id) return &e;
    }
    return nullptr;
}

}  // namespace

caldav_source::caldav_source(std::shared_ptr<http::client> http, caldav_settings settings)
    : http_(std::move(http)), settings_(std::move(settings)) {
    // Made once: it goes with every request, and every poll is one.
    if (!settings_.user.empty())
        authorization_ = http::basic_authorization(settings_.user, settings_.password);
}

std::string caldav_source::describe() const {
    std::string text = "CalDAV calendar " + (calendar_ ? calendar_->origin() + calendar_->target
                                                       : settings_.url + " (not yet found)");
    if (schedules_) return text + ", the server sends replies (calendar-auto-schedule)";
    if (settings_.smtp)
        return text + ", replies by iMIP mail through " + settings_.smtp->host + ":" +
               settings_.smtp->port;
    return text + ", no SMTP for replies: only silent answers are possible";
}

http::request caldav_source::request(std::string method, std::string target) const {
    http::request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.headers.reserve(4);  // with Depth, Content-Type and If-Match at most
    if (!authorization_.empty()) r.headers.push_back({"Authorization", authorization_});
    return r;
}

asio::awaitable<source_result<http::response>> caldav_source::send(const http::url& where,
                                                                   const http::request& r,
                                                                   const std::string& doing) {
    auto answer = co_await http_->send(where, r);
    if (!answer) co_return from_http(answer.error(), doing);
    co_return std::move(*answer);
}

// --- discovery -------------------------------------------------------------------------------

asio::awaitable<void_result> caldav_source::discover() {
    if (!base_) {
        base_ = http::url::parse(settings_.url);
        if (!base_) {
            co_return failure(source_failure::invalid,
                              settings_.source_name + ": url '" + settings_.url + "' is not a URL");
        }
    }
    const std::string propfind = caldav::propfind_discovery_body();

    // PROPFIND Depth 0 on `where`, following same-origin redirects.
    struct found {
        http::url where;
        caldav::dav_resource resource;
    };
    // Parameters by reference: GCC 12 miscopies by-value class parameters of coroutines.
    auto look = [&](const http::url& start,
                    const std::string& doing) -> asio::awaitable<source_result<found>> {
        http::url where = start;
        for (int hop = 0;; ++hop) {
            http::request r = request("PROPFIND", where.target);
            r.headers.push_back({"Depth", "0"});
            r.headers.push_back({"Content-Type", "application/xml; charset=utf-8"});
            r.body = propfind;
            auto answer = co_await send(where, r, doing);
            if (!answer) co_return answer.error();
            if (answer->status >= 300 && answer->status < 400 && hop < max_redirects) {
                const auto location = answer->find("Location");
                std::optional<http::url> next;
                if (location) next = where.resolve(*location);
                if (!next || next->origin() != where.origin()) {
                    co_return failure(source_failure::invalid,
                                      doing + ": redirected to another server (" +
                                          std::string(location.value_or("nowhere")) +
                                          "); configure that URL instead");
                }
                where = *next;
                continue;
            }
            if (answer->status != 207) co_return from_status(*answer, doing);
            auto parsed = caldav::parse_multistatus(answer->body);
            if (!parsed) co_return failure(source_failure::invalid, doing + ": " + parsed.error());
            for (auto& resource : parsed->responses) {
                if (resource.status >= 200 && resource.status < 300)
                    co_return found{where, std::move(resource)};
            }
            co_return failure(source_failure::invalid, doing + ": the answer lists nothing");
        }
    };

    const std::string who = settings_.source_name + " (" + settings_.mailbox + ")";
    if (!settings_.calendar.empty()) {
        auto where = base_->resolve(settings_.calendar);
        if (!where) {
            co_return failure(source_failure::invalid,
                              who + ": calendar '" + settings_.calendar + "' is not a URL or path");
        }
        const std::string doing = "reading the calendar " + where->target;
        auto c = co_await look(*where, doing);
        if (!c) co_return c.error();
        if (!c->resource.is_calendar) {
            co_return failure(source_failure::invalid,
                              who + ": " + c->where.target + " is not a calendar collection");
        }
        calendar_ = c->where;
    } else {
        const std::string doing = "finding the calendar at " + settings_.url;
        auto start = co_await look(*base_, doing);
        if (!start) co_return start.error();
        if (start->resource.is_calendar) {
            calendar_ = start->where;
        } else {
            // Principal → calendar home (RFC 4791 §6.2.1, RFC 5397).
            std::optional<http::url> home;
            if (!start->resource.calendar_home_set.empty())
                home = start->where.resolve(start->resource.calendar_home_set.front());
            if (!home && start->resource.current_user_principal) {
                auto principal = start->where.resolve(*start->resource.current_user_principal);
                if (!principal) {
                    co_return failure(source_failure::invalid,
                                      who + ": the server's principal '" +
                                          *start->resource.current_user_principal +
                                          "' is not a URL");
                }
                const std::string reading = "reading the principal " + principal->target;
                auto p = co_await look(*principal, reading);
                if (!p) co_return p.error();
                if (!p->resource.calendar_home_set.empty())
                    home = p->where.resolve(p->resource.calendar_home_set.front());
            }
            if (!home) {
                co_return failure(source_failure::invalid,
                                  who + ": " + settings_.url +
                                      " names no calendar home; set the mailbox's calendar: to "
                                      "the calendar's URL");
            }
            http::request r = request("PROPFIND", home->target);
            r.headers.push_back({"Depth", "1"});
            r.headers.push_back({"Content-Type", "application/xml; charset=utf-8"});
            r.body = caldav::propfind_calendars_body();
            const std::string listing = "listing the calendars in " + home->target;
            auto answer = co_await send(*home, r, listing);
            if (!answer) co_return answer.error();
            if (answer->status != 207) co_return from_status(*answer, listing);
            auto listed = caldav::parse_multistatus(answer->body);
            if (!listed)
                co_return failure(source_failure::invalid, listing + ": " + listed.error());
            std::vector<http::url> calendars;
            std::string names;
            for (const auto& c : listed->responses) {
                if (!c.is_calendar || !has_vevent(c)) continue;
                if (auto u = home->resolve(c.href)) {
                    calendars.push_back(*u);
                    names += (names.empty() ? "" : ", ") + u->target;
                }
            }
            if (calendars.empty()) {
                co_return failure(source_failure::invalid,
                                  who + ": no calendar for events in " + home->target);
            }
            if (calendars.size() > 1) {
                co_return failure(source_failure::invalid,
                                  who + ": " + std::to_string(calendars.size()) + " calendars in " +
                                      home->target + " (" + names +
                                      "); set the mailbox's calendar: to the one to watch");
            }
            calendar_ = calendars.front();
        }
    }
    // Does the server schedule (RFC 6638 §2)? Then it sends the organizer the reply itself.
    const std::string doing = "asking " + calendar_->target + " what the server supports";
    auto options = co_await send(*calendar_, request("OPTIONS", calendar_->target), doing);
    if (!options) co_return options.error();
    if (options->status >= 300) co_return from_status(*options, doing);
    schedules_ = dav_header_has(*options, "calendar-auto-schedule");
    co_return void_result();
}

// --- reading -----------------------------------------------------------------------------------

source_item caldav_source::item_from(const std::string& href, const std::string& etag,
                                     const std::string& text) const {
    source_item item;
    item.item_id = href;
    item.etag = etag;
    auto parsed = parse_ics(text, href, parse_options{settings_.mailbox});
    if (!parsed) {
        item.problems.push_back(parsed.error());
        return item;
    }
    item.events = std::move(parsed->events);
    item.problems = std::move(parsed->errors);
    for (auto& e : item.events) {
        e.source.item_id = href;
        e.source.change_key = etag;
        // What was worked around in the whole object (text that is not UTF-8, read as
        // Windows-1252) concerns each of its events, as explain shows it.
        e.warnings.insert(e.warnings.end(), parsed->warnings.begin(), parsed->warnings.end());
    }
    return item;
}

asio::awaitable<void_result> caldav_source::fetch(const std::vector<std::string>& hrefs,
                                                  std::vector<source_item>& out,
                                                  std::vector<std::string>& missing) {
    const std::size_t batch = std::max<std::size_t>(1, settings_.multiget_batch);
    for (std::size_t first = 0; first < hrefs.size(); first += batch) {
        const std::vector<std::string> part(
            hrefs.begin() + static_cast<std::ptrdiff_t>(first),
            hrefs.begin() + static_cast<std::ptrdiff_t>(std::min(hrefs.size(), first + batch)));
        http::request r = request("REPORT", calendar_->target);
        r.headers.push_back({"Depth", "1"});
        r.headers.push_back({"Content-Type", "application/xml; charset=utf-8"});
        r.body = caldav::multiget_body(part);
        const std::string doing =
            "reading " + std::to_string(part.size()) + " object(s) of " + calendar_->target;
        auto answer = co_await send(*calendar_, r, doing);
        if (!answer) co_return answer.error();
        if (answer->status != 207) co_return from_status(*answer, doing);
        auto parsed = caldav::parse_multistatus(answer->body);
        if (!parsed) co_return failure(source_failure::invalid, doing + ": " + parsed.error());
        std::map<std::string, const caldav::dav_resource*> by_path;
        for (const auto& resource : parsed->responses)
            by_path[comparable(resource.href)] = &resource;
        for (const auto& href : part) {
            auto it = by_path.find(comparable(href));
            if (it == by_path.end() || it->second->status == 404 || !it->second->calendar_data) {
                missing.push_back(href);  // deleted between the listing and now
                continue;
            }
            out.push_back(
                item_from(href, it->second->etag.value_or(""), *it->second->calendar_data));
        }
    }
    co_return void_result();
}

asio::awaitable<source_result<sync_result>> caldav_source::list_by_propfind() {
    http::request r = request("PROPFIND", calendar_->target);
    r.headers.push_back({"Depth", "1"});
    r.headers.push_back({"Content-Type", "application/xml; charset=utf-8"});
    r.body = caldav::propfind_etags_body();
    const std::string doing = "listing " + calendar_->target;
    auto answer = co_await send(*calendar_, r, doing);
    if (!answer) co_return answer.error();
    if (answer->status != 207) co_return from_status(*answer, doing);
    auto parsed = caldav::parse_multistatus(answer->body);
    if (!parsed) co_return failure(source_failure::invalid, doing + ": " + parsed.error());
    sync_result out;
    out.full = true;
    out.token = std::string(listing_token);
    std::vector<std::string> stale;
    std::map<std::string, source_item> next;
    const std::string self = comparable(calendar_->target);
    for (const auto& m : parsed->responses) {
        if (m.is_collection || comparable(m.href) == self || !m.etag) continue;
        const std::string href = path_of(m.href);
        if (auto it = cache_.find(href); it != cache_.end() && it->second.etag == *m.etag)
            next.emplace(href, it->second);
        else
            stale.push_back(href);
    }
    std::vector<source_item> fetched;
    std::vector<std::string> missing;
    auto got = co_await fetch(stale, fetched, missing);
    if (!got) co_return got.error();
    for (auto& item : fetched) next.insert_or_assign(item.item_id, std::move(item));
    cache_ = std::move(next);
    for (const auto& [href, item] : cache_) out.items.push_back(item);
    co_return out;
}

asio::awaitable<source_result<sync_result>> caldav_source::sync(const std::string& token) {
    if (!calendar_) {
        auto found = co_await discover();
        if (!found) co_return found.error();
    }
    if (!has_sync_collection_) co_return co_await list_by_propfind();

    // A token of ours with the server's token in it: changes since then; else everything.
    std::string server_token;
    const bool incremental = token.starts_with(sync_prefix) && token.size() > sync_prefix.size();
    if (incremental) server_token = token.substr(sync_prefix.size());  // else "": everything

    http::request r = request("REPORT", calendar_->target);
    r.headers.push_back({"Depth", "0"});
    r.headers.push_back({"Content-Type", "application/xml; charset=utf-8"});
    if (sync_body_.empty() || sync_body_token_ != server_token) {
        sync_body_ = caldav::sync_collection_body(server_token);
        sync_body_token_ = server_token;
    }
    r.body = sync_body_;
    const std::string doing = "syncing " + calendar_->target;
    auto answer = co_await send(*calendar_, r, doing);
    if (!answer) co_return answer.error();

    if (incremental && (answer->status == 403 || answer->status == 409)) {
        const auto conditions = caldav::error_conditions(answer->body);
        if (std::find(conditions.begin(), conditions.end(), "valid-sync-token") !=
            conditions.end()) {
            // The server forgot our place (RFC 6578 §3.8): list everything again.
            const std::string none;
            co_return co_await sync(none);
        }
    }
    if (answer->status == 404) {
        calendar_.reset();  // moved or deleted: find it again next time
        co_return from_status(*answer, doing);
    }
    if (!incremental && (answer->status == 400 || answer->status == 403 || answer->status == 405 ||
                         answer->status == 501)) {
        // No sync-collection here: list by PROPFIND from now on.
        has_sync_collection_ = false;
        co_return co_await list_by_propfind();
    }
    if (answer->status != 207) co_return from_status(*answer, doing);
    if (incremental && idle_answer_ && idle_answer_->body == answer->body &&
        idle_answer_->asked == server_token && idle_answer_->calendar == calendar_->target) {
        sync_result nothing;
        nothing.token = idle_answer_->token;
        co_return nothing;
    }
    auto parsed = caldav::parse_multistatus(answer->body);
    if (!parsed) co_return failure(source_failure::invalid, doing + ": " + parsed.error());
    if (!parsed->sync_token || parsed->sync_token->empty()) {
        has_sync_collection_ = false;
        co_return co_await list_by_propfind();
    }

    sync_result out;
    out.full = !incremental;
    out.token = std::string(sync_prefix) + *parsed->sync_token;
    std::vector<std::string> stale;
    std::vector<std::string> removed;
    // A full listing replaces the cache; changes are applied to it in place (an idle poll lists
    // nothing and so touches nothing), and only once everything they need was read.
    std::map<std::string, source_item> listed;
    const std::string self = comparable(calendar_->target);
    for (const auto& m : parsed->responses) {
        if (comparable(m.href) == self || m.is_collection) continue;
        const std::string href = path_of(m.href);
        if (m.status == 404) {
            removed.push_back(href);
            continue;
        }
        if (auto it = cache_.find(href);
            it != cache_.end() && m.etag && it->second.etag == *m.etag) {
            if (incremental) {
                out.items.push_back(it->second);
            } else {
                listed.insert_or_assign(href, it->second);
            }
        } else {
            stale.push_back(href);
        }
    }
    std::vector<source_item> fetched;
    std::vector<std::string> missing;
    auto got = co_await fetch(stale, fetched, missing);
    if (!got) co_return got.error();
    removed.insert(removed.end(), missing.begin(), missing.end());
    if (incremental && stale.empty() && removed.empty() && out.items.empty()) {
        idle_answer_ =
            idle_answer{calendar_->target, server_token, std::move(answer->body), out.token};
    }
    if (incremental) {
        for (const auto& href : removed) cache_.erase(href);
        for (auto& item : fetched) {
            out.items.push_back(item);
            cache_.insert_or_assign(item.item_id, std::move(item));
        }
        out.removed = std::move(removed);
    } else {
        for (const auto& href : removed) listed.erase(href);
        for (auto& item : fetched) listed.insert_or_assign(item.item_id, std::move(item));
        cache_ = std::move(listed);
        for (const auto& [href, item] : cache_) out.items.push_back(item);
    }
    co_return out;
}

// --- answering ---------------------------------------------------------------------------------

asio::awaitable<source_result<applied_state>> caldav_source::state(const std::string& item_id,
                                                                   const invitation& inv,
                                                                   const response& r) {
    if (!calendar_) {
        auto found = co_await discover();
        if (!found) co_return found.error();
    }
    auto where = calendar_->resolve(item_id);
    if (!where) co_return failure(source_failure::invalid, item_id + " is not an href");
    const std::string doing = "reading " + item_id;
    auto answer = co_await send(*where, request("GET", where->target), doing);
    if (!answer) co_return answer.error();
    applied_state out;
    if (answer->status == 404 || answer->status == 410) {
        out.item_exists = false;
        co_return out;
    }
    if (answer->status != 200) co_return from_status(*answer, doing);
    auto parsed = parse_ics(answer->body, item_id, parse_options{settings_.mailbox});
    if (!parsed)
        co_return failure(source_failure::invalid, doing + ": " + parsed.error().to_string());
    const invitation* now = same_meeting(*parsed, inv);
    if (!now) {
        out.item_exists = false;
        co_return out;
    }
    out.owner_status = now->owner ? now->owner->partstat : partstat::none;
    out.applied = out.owner_status == r.status;
    if (out.applied && r.send && !schedules_) {
        // The answer is on the server; the mail may not have gone out yet.
        std::optional<bool> started = r.delivery.started ? r.delivery.started() : false;
        if (!started)
            co_return failure(source_failure::transient,
                              "cannot read the delivery journal for " + item_id);
        out.applied = *started;
    }
    co_return out;
}

asio::awaitable<source_result<void>> caldav_source::respond(const std::string& item_id,
                                                            const std::string& etag,
                                                            const invitation& inv,
                                                            const response& r) {
    if (!calendar_) {
        auto found = co_await discover();
        if (!found) co_return found.error();
    }
    const bool mail = r.send && !schedules_;
    if (mail && !settings_.smtp) {
        co_return failure(source_failure::invalid,
                          settings_.source_name + ": cannot send the reply for " + item_id +
                              ": the server does not deliver replies itself (no "
                              "calendar-auto-schedule) and the source has no smtp settings");
    }
    auto where = calendar_->resolve(item_id);
    if (!where) co_return failure(source_failure::invalid, item_id + " is not an href");

    // The object as it is now; it must still be the version that was decided on.
    const std::string reading = "reading " + item_id;
    auto current = co_await send(*where, request("GET", where->target), reading);
    if (!current) co_return current.error();
    if (current->status != 200) co_return from_status(*current, reading);
    const auto now_etag = current->find("ETag");
    if (now_etag && !etag.empty() && *now_etag != etag) {
        co_return failure(source_failure::conflict, item_id + " changed since it was read (ETag " +
                                                        etag + ", now " + std::string(*now_etag) +
                                                        "): it is read and decided again");
    }
    const std::string if_match = now_etag ? std::string(*now_etag) : etag;

    partstat_change change;
    change.owner_address = settings_.mailbox;
    change.uid = inv.uid;
    change.recurrence_id = inv.recurrence_id;
    change.status = r.status;
    auto changed = set_owner_partstat(current->body, change);
    if (!changed) co_return failure(source_failure::invalid, item_id + ": " + changed.error());

    if (changed->changed > 0) {
        http::request put = request("PUT", where->target);
        put.headers.push_back({"Content-Type", "text/calendar; charset=utf-8"});
        if (!if_match.empty()) put.headers.push_back({"If-Match", if_match});
        // A scheduling server tells the organizer unless asked not to (RFC 6638 §8.1).
        if (schedules_ && !r.send) put.headers.push_back({"Schedule-Reply", "F"});
        put.body = std::move(changed->text);
        const std::string writing = "answering " + item_id;
        auto written = co_await send(*where, put, writing);
        if (!written) co_return written.error();
        if (written->status == 412) {
            co_return failure(source_failure::conflict,
                              item_id +
                                  " changed while it was answered (412): it is read and "
                                  "decided again");
        }
        if (written->status < 200 || written->status >= 300)
            co_return from_status(*written, writing);
    }
    if (!mail) co_return void_result();
    co_return co_await deliver_reply(inv, r);
}

asio::awaitable<void_result> caldav_source::deliver_reply(const invitation& inv,
                                                          const response& r) {
    std::optional<bool> started = r.delivery.started ? r.delivery.started() : false;
    if (!started)
        co_return failure(source_failure::transient,
                          "cannot read the delivery journal for " + inv.uid);
    if (*started) co_return void_result();  // it may have gone out already: never twice
    if (inv.organizer.address.empty()) {
        co_return failure(source_failure::invalid,
                          inv.uid + " has no organizer address to send the reply to");
    }

    reply_options options;
    options.owner_address = settings_.mailbox;
    options.owner_name = r.owner_name;
    options.status = r.status;
    options.comment = r.comment;
    options.now = r.now;
    imip_message m;
    m.from = settings_.smtp_from.empty() ? settings_.mailbox : settings_.smtp_from;
    m.from_name = r.owner_name;
    m.to = inv.organizer.address;
    m.to_name = inv.organizer.name;
    m.subject = reply_subject(r.status, inv.subject);
    m.text = r.comment;
    m.calendar = build_reply(inv, options);
    m.date = r.now;
    // The same decision always has the same Message-ID, so that a mail system can tell copies.
    m.message_id = encoding::fnv1a_hex(settings_.mailbox + "\n" + inv.uid + "\n" +
                                       (inv.recurrence_id ? format_utc(*inv.recurrence_id) : "") +
                                       "\n" + std::to_string(inv.sequence) + "\n" +
                                       std::string(to_string(r.status)) + "\n" + r.tag) +
                   ".agendad@" + std::string(domain_of(settings_.mailbox));
    auto message = build_imip(m);
    if (!message) co_return failure(source_failure::invalid, inv.uid + ": " + message.error());

    const std::string what = "iMIP " + std::string(to_string(r.status)) + " to " + m.to +
                             ", Message-ID <" + m.message_id + ">";
    const std::vector<std::string> recipients{m.to};
    bool marked = false;
    smtp::send_options send;
    send.before_final_dot = [&r, &what, &marked] {
        marked = r.delivery.mark ? r.delivery.mark(what) : true;
        return marked;
    };
    auto sent = co_await smtp::send_mail(*settings_.smtp, m.from, recipients, *message, send);
    if (sent) co_return void_result();
    const smtp::error& e = sent.error();
    // After the final dot the server may have taken it: at most once, so it counts as sent.
    if (e.maybe_delivered) co_return void_result();
    // Refused after the dot (a 4xx/5xx to the data): certainly not delivered, so not marked.
    // When even that cannot be journaled, the mark stays (never twice), and the log says that
    // this reply now needs a person.
    std::string doing = "sending the reply for " + inv.uid + " to " + m.to;
    if (marked && r.delivery.clear && !r.delivery.clear()) {
        doing += " (refused, and the refusal could not be journaled: agendad will not send this "
                 "reply again; send it by hand)";
    }
    doing += ": ";
    switch (e.kind) {
        case smtp::failure::auth:
        case smtp::failure::tls:
            co_return failure(source_failure::denied, doing + e.message);
        case smtp::failure::rejected:
        case smtp::failure::invalid:
            co_return failure(source_failure::invalid, doing + e.message);
        default:
            co_return failure(source_failure::transient, doing + e.message);
    }
}

}  // namespace agendad::calendar
