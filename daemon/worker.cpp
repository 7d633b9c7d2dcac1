#include "daemon/worker.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <random>
#include <set>

#include "daemon/log.h"
#include "daemon/poll_schedule.h"
#include "daemon/sources.h"
#include "policy/evaluate.h"
#include "policy/reply.h"

namespace agendad::daemon {
namespace {

using calendar::partstat;
using calendar::time_point;
namespace asio = boost::asio;

std::string key_text(const journal_key& k) {
    return k.uid + (k.recurrence_id.empty() ? "" : "@" + k.recurrence_id) + "#" +
           std::to_string(k.sequence);
}

// The owner's answer that an action leaves on the calendar.
partstat status_for(std::string_view action, bool sent) {
    if (action == "accept") return partstat::accepted;
    if (action == "request_agenda") return partstat::tentative;  // answer, but do not commit
    // Undo goes back to "not answered", or to tentative when the organizer had been told.
    if (action == "undo") return sent ? partstat::tentative : partstat::needs_action;
    return partstat::declined;
}

std::string signals_text(const policy::decision& d) {
    std::string out;
    for (const auto& s : d.signals) {
        if (!out.empty()) out += '\n';
        out += std::string(policy::name_of(s.id)) + ": " + s.evidence;
    }
    return out;
}

// The owner's answer in the object as the source holds it (the primary event's).
partstat owner_status_of(const calendar::source_item& item) {
    for (const auto& e : item.events) {
        if (!e.recurrence_id && e.owner) return e.owner->partstat;
    }
    return item.events.empty() || !item.events.front().owner ? partstat::none
                                                             : item.events.front().owner->partstat;
}

// One decision per meeting in an object: the series master stands for its exceptions.
std::vector<const calendar::invitation*> meetings_of(const calendar::source_item& item) {
    std::vector<const calendar::invitation*> out;
    for (const auto& e : item.events) {
        const auto same = [&](const calendar::invitation* m) { return m->uid == e.uid; };
        auto it = std::find_if(out.begin(), out.end(), same);
        if (it == out.end())
            out.push_back(&e);
        else if ((*it)->recurrence_id && !e.recurrence_id)
            *it = &e;
    }
    return out;
}

}  // namespace

time_point clock::now() const {
    return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) + offset;
}

clock clock::starting_at(time_point start) {
    clock c;
    c.offset = start - std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    return c;
}

mailbox_worker::mailbox_worker(mailbox_setup setup, std::unique_ptr<calendar::source> source,
                               store& db, const clock& clk, metrics* m)
    : setup_(std::move(setup)), source_(std::move(source)), db_(db), clock_(clk), metrics_(m) {}

void mailbox_worker::count_decision(const journal_entry& e) {
    if (metrics_) metrics_->decision(address(), e.action, e.rule, name_of(e.state));
}

void mailbox_worker::stop() {
    stopping_ = true;
    if (timer_) timer_->cancel();
}

bool mailbox_worker::rebuild_history() {
    auto items = db_.items(address());
    if (!items) {
        log::error("cannot read the calendar state",
                   {{"mailbox", address()}, {"error", items.error()}});
        return false;
    }
    history_ = policy::history{};
    for (const auto& item : *items) {
        for (const auto& fact : item.facts) history_.add(fact);
    }
    auto trusted = db_.trusted(address());
    if (trusted) trusted_ = std::move(*trusted);
    return true;
}

asio::awaitable<pass_report> mailbox_worker::pass() {
    pass_report report;
    // Only this worker writes its mailbox's token: read once, then kept with each apply_sync.
    if (!token_) {
        auto token = db_.sync_token(address());
        if (!token) {
            log::error("cannot read the sync state; not acting",
                       {{"mailbox", address()}, {"error", token.error()}});
            co_return report;
        }
        token_ = token->value_or("");
    }
    // The first pass of a worker reads everything and decides everything again: what changed
    // while agendad was down, a new policy after a reload, dry-run decisions to enforce now. The
    // journal keeps that from ever acting twice.
    const std::string from = first_pass_ ? std::string() : *token_;
    const auto sync_started = std::chrono::steady_clock::now();
    auto synced = co_await source_->sync(from);
    if (!synced) {
        ++failures_;
        if (metrics_) metrics_->sync_failed(address(), calendar::name_of(synced.error().kind));
        log::warning("sync failed", {{"mailbox", address()},
                                     {"source", std::string(source_->kind())},
                                     {"error", synced.error().message}});
        co_return report;
    }
    if (first_pass_ || failures_ > 0) {
        log::info("reading the calendar",
                  {{"mailbox", address()}, {"calendar", source_->describe()}});
    }
    failures_ = 0;
    report.synced = true;
    // A sync counts as successful (for /healthz and the last-success metric) only once what it
    // read is recorded: a mailbox whose store cannot be written (a full disk) is not healthy.
    const auto sync_took = std::chrono::steady_clock::now() - sync_started;
    const auto succeeded = [&] {
        if (metrics_) metrics_->sync_succeeded(address(), sync_took, clock_.now());
    };

    // Nothing changed (the usual answer of a poll): no store work at all, and the journal is
    // only read again while it has something waiting (a deadline, a retry). This is what keeps
    // an idle daemon watching many calendars near 0% CPU.
    const bool unchanged = !first_pass_ && !synced->full && synced->items.empty() &&
                           synced->removed.empty() && synced->token == *token_;
    if (unchanged) {
        succeeded();
        if (!stopping_ && !follow_ups_idle_) co_await follow_up_agenda_requests(report);
        if (!stopping_ && !unfinished_idle_) co_await resume_unfinished(report);
        co_return report;
    }

    auto stored = db_.items(address());
    if (!stored) {
        log::error("cannot read the calendar state; not acting",
                   {{"mailbox", address()}, {"error", stored.error()}});
        if (metrics_) metrics_->sync_failed(address(), "store");
        co_return report;
    }
    std::map<std::string, const stored_item*> before;
    for (const auto& s : *stored) before.emplace(s.item_id, &s);

    std::vector<const calendar::source_item*> changed;
    std::vector<std::string> removed;
    if (synced->full) {
        std::set<std::string> present;
        for (const auto& item : synced->items) present.insert(item.item_id);
        for (const auto& [id, s] : before) {
            if (!present.count(id)) removed.push_back(id);
        }
        items_.clear();
    } else {
        removed = synced->removed;
        for (const auto& id : removed) items_.erase(id);
    }
    for (auto& item : synced->items) {
        auto it = before.find(item.item_id);
        const bool is_new = first_pass_ || it == before.end() || it->second->etag != item.etag;
        auto [pos, inserted] = items_.insert_or_assign(item.item_id, std::move(item));
        if (is_new) changed.push_back(&pos->second);
    }

    std::vector<stored_item> upserts;
    for (const calendar::source_item* item : changed) {
        stored_item s;
        s.item_id = item->item_id;
        s.etag = item->etag;
        s.owner_status = owner_status_of(*item);
        for (const auto& e : item->events) {
            if (s.uid.empty()) s.uid = e.uid;
            if (auto fact = policy::fact_of(e, address())) s.facts.push_back(std::move(*fact));
        }
        // An organizer's update resets the owner's answer to NEEDS-ACTION in the same object;
        // that the owner had accepted the meeting must survive it (updates of accepted meetings
        // are never acted on).
        if (auto old = before.find(item->item_id);
            old != before.end() && old->second->uid == s.uid) {
            for (const auto& fact : old->second->facts) {
                const bool accepted =
                    fact.owner_organizes || fact.owner_status == partstat::accepted;
                if (accepted && std::none_of(s.facts.begin(), s.facts.end(), [&](const auto& f) {
                        return f.uid == fact.uid && f.owner_status == partstat::accepted;
                    })) {
                    s.facts.push_back(fact);
                }
            }
        }
        upserts.push_back(std::move(s));
        ++report.items_read;
    }
    if (auto applied = db_.apply_sync(address(), upserts, removed, synced->token, clock_.now());
        !applied) {
        log::error("cannot record the calendar state; not acting",
                   {{"mailbox", address()}, {"error", applied.error()}});
        if (metrics_) metrics_->sync_failed(address(), "store");
        co_return report;
    }
    succeeded();
    token_ = synced->token;
    if (!rebuild_history()) co_return report;
    // A decision that could not be journaled (a full disk, a read-only store) was not made, and
    // the calendar will not show its item as changed again: such a failure sets first_pass_
    // back, so that the next pass decides everything again, as a restart would. The journal
    // keeps that from acting twice.
    first_pass_ = false;

    for (const calendar::source_item* item : changed) {
        if (stopping_) break;
        co_await decide(*item, report);
    }
    if (!stopping_) co_await follow_up_agenda_requests(report);
    if (!stopping_) co_await resume_unfinished(report);
    co_return report;
}

asio::awaitable<void> mailbox_worker::decide(const calendar::source_item& item,
                                             pass_report& report) {
    if (!item.problems.empty()) {
        // Never half an invitation: an object that cannot be read is left alone, and said so.
        log::warning("cannot read a calendar object; left alone",
                     {{"mailbox", address()},
                      {"item", item.item_id},
                      {"problem", item.problems.front().to_string()}});
        co_return;
    }
    policy::context ctx;
    ctx.mailbox = address();
    ctx.org_domains = setup_.mailbox.org_domains;
    ctx.now = clock_.now();
    ctx.known = &history_;
    ctx.trusted_by_owner = trusted_;
    for (const calendar::invitation* inv : meetings_of(item)) {
        // Decided on, but read with a workaround (text that is not UTF-8, an unknown time zone):
        // the server (or something in between) sends what it should not, and an admin should
        // know.
        for (const auto& quirk : inv->warnings) {
            log::warning("read with a workaround",
                         {{"mailbox", address()}, {"item", item.item_id}, {"quirk", quirk}});
        }
        auto earlier = db_.entries_for(address(), inv->uid);
        if (!earlier) {
            log::error("cannot read the journal; not acting",
                       {{"mailbox", address()}, {"error", earlier.error()}});
            first_pass_ = true;  // not journaled, so not decided: again next pass
            continue;
        }
        if (hands_off(*inv, *earlier)) continue;
        ctx.trusted_by_owner = trusted_;
        const policy::decision d = policy::evaluate(*setup_.policy, *inv, ctx);
        if (d.by_guard) {
            log::debug("left by a guard",
                       {{"mailbox", address()}, {"uid", inv->uid}, {"rule", d.rule}});
            continue;
        }
        co_await act(item, *inv, d, *earlier, report);
    }
}

bool mailbox_worker::hands_off(const calendar::invitation& inv,
                               const std::vector<journal_entry>& earlier) {
    for (const auto& e : earlier) {
        if (e.state == entry_state::overridden || e.state == entry_state::undone) return true;
    }
    // What agendad last did to the meeting, and whether the owner has answered otherwise since.
    const journal_entry* last = nullptr;
    for (const auto& e : earlier) {
        if (e.state == entry_state::done && e.action != "leave") last = &e;
    }
    if (!last || !inv.owner) return false;
    const partstat now = inv.owner->partstat;
    if (now == partstat::needs_action || now == partstat::none ||
        now == status_for(last->action, last->send_response)) {
        return false;
    }
    step_back(*last, inv, now);
    return true;
}

bool mailbox_worker::answered_by_owner(const journal_entry& entry, partstat owner_status) {
    if (owner_status == partstat::none || owner_status == partstat::needs_action) return false;
    if (owner_status == status_for(entry.action, entry.send_response)) return false;
    // An answer agendad itself gave earlier (tentative while waiting for an agenda) is not the
    // owner's.
    auto earlier = db_.entries_for(address(), entry.key.uid);
    if (!earlier) return true;  // cannot tell: do not touch the meeting
    return std::none_of(earlier->begin(), earlier->end(), [&](const journal_entry& e) {
        return e.id != entry.id && e.state != entry_state::dry_run &&
               e.state != entry_state::left &&
               status_for(e.action, e.send_response) == owner_status;
    });
}

void mailbox_worker::step_back(const journal_entry& entry, const calendar::invitation& inv,
                               partstat owner_status) {
    const time_point when = clock_.now();
    const std::string answered(calendar::to_string(owner_status));
    if (auto set = db_.set_state(entry.id, entry_state::overridden,
                                 "the owner answered " + answered, when);
        !set) {
        log::error("cannot record the owner's override",
                   {{"mailbox", address()}, {"error", set.error()}});
    }
    if (!inv.organizer.address.empty()) {
        if (auto t = db_.trust(address(), inv.organizer.address,
                               "the owner answered '" + inv.subject + "' " + answered, when);
            t) {
            trusted_.push_back(inv.organizer.address);
        }
    }
    log::info(
        "the owner overrode a decision: agendad leaves this meeting alone and trusts its organizer",
        {{"mailbox", address()},
         {"uid", inv.uid},
         {"owner_answer", answered},
         {"organizer", inv.organizer.address}});
}

const calendar::invitation* mailbox_worker::current_meeting(std::string_view uid) const {
    const calendar::invitation* found = nullptr;
    for (const auto& [id, item] : items_) {
        for (const auto* m : meetings_of(item)) {
            if (m->uid == uid && (!found || m->sequence > found->sequence)) found = m;
        }
    }
    return found;
}

const calendar::source_item* mailbox_worker::item_of(std::string_view uid) const {
    for (const auto& [id, item] : items_) {
        for (const auto& e : item.events) {
            if (e.uid == uid) return &item;
        }
    }
    return nullptr;
}

calendar::response mailbox_worker::response_for(const journal_entry& entry) const {
    calendar::response r;
    r.status = status_for(entry.action, entry.send_response);
    r.tag = entry.key.phase;
    r.comment = entry.reply;
    r.send = entry.send_response;
    r.now = clock_.now();
    journal_deliveries(r, db_, entry.id);
    // The owner's name for the reply, as the invitation lists it.
    if (auto it = items_.find(entry.item_id); it != items_.end()) {
        for (const auto& e : it->second.events) {
            if (e.uid == entry.key.uid && e.owner && !e.owner->name.empty())
                r.owner_name = e.owner->name;
        }
    }
    if (r.owner_name.empty()) r.owner_name = policy::name_from_address(address());
    return r;
}

asio::awaitable<void> mailbox_worker::act(const calendar::source_item& item,
                                          const calendar::invitation& inv,
                                          const policy::decision& d,
                                          const std::vector<journal_entry>& earlier,
                                          pass_report& report) {
    journal_key key{address(), inv.uid,
                    inv.recurrence_id ? calendar::format_utc(*inv.recurrence_id) : "", inv.sequence,
                    ""};
    auto existing = db_.find(key);
    if (!existing) {
        log::error("cannot read the journal; not acting",
                   {{"mailbox", address()}, {"error", existing.error()}});
        first_pass_ = true;  // not journaled, so not decided: again next pass
        co_return;
    }
    if (*existing) {
        // This version of the meeting was decided before: finish it if it is not finished.
        journal_entry& prior = **existing;
        if (prior.state == entry_state::intent || prior.state == entry_state::failed) {
            co_await carry_out(prior, inv, report, /*verify_first=*/true);
        }
        // A mailbox switched from dry-run to enforce: what dry-run journaled is carried out now,
        // if today's decision is still the same and the meeting has not begun.
        const bool same =
            prior.action == policy::name_of(d.action) && prior.send_response == d.send_response;
        if (prior.state == entry_state::dry_run && setup_.mode == config::mailbox_mode::enforce &&
            same && inv.start > clock_.now()) {
            if (auto set = db_.set_state(prior.id, entry_state::intent, "", clock_.now()); !set) {
                log::error("cannot journal a decision; not acting",
                           {{"mailbox", address()}, {"error", set.error()}});
                first_pass_ = true;  // not journaled, so not decided: again next pass
                co_return;
            }
            prior.state = entry_state::intent;
            log::info("enforcing a decision made in dry-run",
                      {{"mailbox", address()}, {"uid", key_text(key)}});
            co_await carry_out(prior, inv, report, /*verify_first=*/true);
        }
        co_return;
    }

    journal_entry e = entry_for(key, item, inv);
    e.rule = d.rule;
    e.action = std::string(policy::name_of(d.action));
    e.send_response = d.send_response;
    e.reply = d.reply;
    e.reason = d.reason;
    e.signals = signals_text(d);
    e.mode = std::string(config::name_of(setup_.mode));
    e.decided_at = clock_.now();
    if (d.action == policy::action::request_agenda) {
        e.deadline = inv.start - std::chrono::hours{setup_.agenda_deadline_hours};
        // An update without an agenda: the request already made still stands; say nothing again.
        for (const auto& prior : earlier) {
            if (prior.action == "request_agenda" && prior.key.phase.empty() &&
                prior.send_response &&
                (prior.state == entry_state::done || prior.state == entry_state::superseded)) {
                e.send_response = false;
                e.reply.clear();
                e.reason = "the organizer updated the meeting without an agenda; the request of " +
                           calendar::format_date(prior.decided_at) + " still stands";
            }
        }
    }
    if (d.action == policy::action::leave) {
        e.state = entry_state::left;
    } else if (setup_.mode == config::mailbox_mode::dry_run) {
        e.state = entry_state::dry_run;
    } else if (d.action == policy::action::decline && d.send_response) {
        auto sent = db_.declines_sent_since(address(), e.decided_at - std::chrono::hours{1});
        if (!sent) {
            log::error("cannot read the journal; not acting",
                       {{"mailbox", address()}, {"error", sent.error()}});
            first_pass_ = true;  // not journaled, so not decided: again next pass
            co_return;
        }
        e.state =
            *sent >= setup_.max_declines_per_hour ? entry_state::rate_limited : entry_state::intent;
    } else {
        e.state = entry_state::intent;
    }

    auto id = db_.record(e);
    if (!id) {
        log::error("cannot journal a decision; not acting",
                   {{"mailbox", address()}, {"uid", inv.uid}, {"error", id.error()}});
        first_pass_ = true;  // not journaled, so not decided: again next pass
        co_return;
    }
    e.id = *id;
    ++report.decided;
    count_decision(e);
    // A request for an agenda on an earlier version is answered by this decision.
    for (const auto& prior : earlier) {
        if (prior.action == "request_agenda" && prior.state == entry_state::done &&
            prior.deadline && prior.key.sequence < key.sequence) {
            db_.set_state(prior.id, entry_state::superseded, "the organizer sent a new version",
                          e.decided_at);
        }
    }
    log::info("decision", {{"mailbox", address()},
                           {"uid", key_text(key)},
                           {"rule", e.rule},
                           {"action", e.action},
                           {"respond", e.send_response ? "yes" : "no"},
                           {"mode", e.mode},
                           {"state", std::string(name_of(e.state))}});
    log::debug("decision detail",
               {{"mailbox", address()}, {"uid", inv.uid}, {"subject", inv.subject}});
    if (e.state == entry_state::rate_limited) {
        log::warning("decline limit reached: decision journaled, not sent",
                     {{"mailbox", address()},
                      {"uid", key_text(key)},
                      {"limit_per_hour", std::to_string(setup_.max_declines_per_hour)}});
    }
    if (e.state == entry_state::intent) co_await carry_out(e, inv, report, /*verify_first=*/false);
}

asio::awaitable<void> mailbox_worker::carry_out(const journal_entry& entry,
                                                const calendar::invitation& inv,
                                                pass_report& report, bool verify_first) {
    const calendar::response r = response_for(entry);
    // The calendar object as last read: a response changes that version (an older one would be
    // refused as stale by a server that checks versions).
    const std::string& item_id = inv.source.item_id.empty() ? entry.item_id : inv.source.item_id;
    const std::string& etag = inv.source.change_key.empty() ? entry.etag : inv.source.change_key;
    // Anything but a decision made a moment ago may already have taken effect (a crash, or a
    // failure whose outcome was unknown): ask the source before acting, never act twice.
    if (verify_first) {
        auto state = co_await source_->state(item_id, inv, r);
        if (state && state->applied) {
            if (auto set = db_.set_state(entry.id, entry_state::done, "", clock_.now()); !set) {
                log::error("cannot record a response",
                           {{"mailbox", address()}, {"error", set.error()}});
            }
            log::info("already carried out",
                      {{"mailbox", address()}, {"uid", key_text(entry.key)}});
            co_return;
        }
        // The owner answered before agendad could (while a response failed, or during a
        // crash): their answer wins, and is never overwritten.
        if (state && entry.key.phase != "undo" && answered_by_owner(entry, state->owner_status)) {
            step_back(entry, inv, state->owner_status);
            co_return;
        }
    }
    const auto respond_started = std::chrono::steady_clock::now();
    auto done = co_await source_->respond(item_id, etag, inv, r);
    const time_point now = clock_.now();
    if (metrics_) {
        metrics_->respond_finished(address(), std::chrono::steady_clock::now() - respond_started,
                                   done.has_value());
    }
    if (done) {
        ++report.carried_out;
        if (auto set = db_.set_state(entry.id, entry_state::done, "", now); !set) {
            log::error("response sent but not recorded",
                       {{"mailbox", address()}, {"error", set.error()}});
        }
        log::info("carried out", {{"mailbox", address()},
                                  {"uid", key_text(entry.key)},
                                  {"action", entry.action},
                                  {"respond", entry.send_response ? "yes" : "no"}});
        co_return;
    }
    ++report.failed;
    if (auto set = db_.set_state(entry.id, entry_state::failed, done.error().message, now); !set) {
        log::error("cannot record a failure", {{"mailbox", address()}, {"error", set.error()}});
    }
    log::warning(
        "response failed; will retry",
        {{"mailbox", address()}, {"uid", key_text(entry.key)}, {"error", done.error().message}});
}

asio::awaitable<void> mailbox_worker::follow_up_agenda_requests(pass_report& report) {
    auto waiting = db_.waiting_for_agenda(address());
    if (!waiting) {
        log::error("cannot read the journal", {{"mailbox", address()}, {"error", waiting.error()}});
        co_return;
    }
    // Until the calendar changes, an empty list stays empty: only decisions add to it.
    follow_ups_idle_ = waiting->empty();
    const time_point now = clock_.now();
    for (const journal_entry& w : *waiting) {
        if (stopping_) co_return;
        const calendar::invitation* inv = current_meeting(w.key.uid);
        const calendar::source_item* item = item_of(w.key.uid);
        if (!inv || !item) {
            db_.set_state(w.id, entry_state::superseded, "the meeting is no longer in the calendar",
                          now);
            continue;
        }
        // A new version is decided on its own (and an agenda in it clears the request).
        if (inv->sequence > w.key.sequence) {
            db_.set_state(w.id, entry_state::superseded, "the organizer sent a new version", now);
            continue;
        }
        if (!w.deadline || *w.deadline > now) continue;

        journal_key key = w.key;
        key.phase = "agenda_deadline";
        auto existing = db_.find(key);
        if (!existing) {
            log::error("cannot read the journal; not acting",
                       {{"mailbox", address()}, {"error", existing.error()}});
            continue;
        }
        if (*existing) {
            if ((*existing)->state == entry_state::intent ||
                (*existing)->state == entry_state::failed) {
                co_await carry_out(**existing, *inv, report, /*verify_first=*/true);
            } else {
                db_.set_state(w.id, entry_state::superseded,
                              "declined at the deadline: no agenda arrived", now);
            }
            continue;
        }
        journal_entry e = entry_for(key, *item, *inv);
        e.rule = "agenda_deadline";
        e.action = "decline";
        e.send_response = true;
        e.reply = follow_up_reply(*setup_.policy, setup_.policy->no_agenda_by_deadline_reply, *inv,
                                  address());
        e.reason =
            "no agenda arrived by the deadline, " + std::to_string(setup_.agenda_deadline_hours) +
            " h before the meeting (requested on " + calendar::format_date(w.decided_at) + ")";
        e.mode = std::string(config::name_of(setup_.mode));
        e.decided_at = now;
        e.state = entry_state::intent;
        if (setup_.mode == config::mailbox_mode::dry_run) {
            e.state = entry_state::dry_run;
        } else if (auto sent = db_.declines_sent_since(address(), now - std::chrono::hours{1});
                   sent && *sent >= setup_.max_declines_per_hour) {
            e.state = entry_state::rate_limited;
        }
        auto id = db_.record(e);
        if (!id) {
            log::error("cannot journal a decision; not acting",
                       {{"mailbox", address()}, {"error", id.error()}});
            continue;
        }
        e.id = *id;
        ++report.decided;
        count_decision(e);
        db_.set_state(w.id, entry_state::superseded, "declined at the deadline: no agenda arrived",
                      now);
        log::info("decision", {{"mailbox", address()},
                               {"uid", key_text(key)},
                               {"rule", e.rule},
                               {"action", e.action},
                               {"respond", "yes"},
                               {"mode", e.mode},
                               {"state", std::string(name_of(e.state))}});
        if (e.state == entry_state::intent)
            co_await carry_out(e, *inv, report, /*verify_first=*/false);
    }
}

asio::awaitable<void> mailbox_worker::resume_unfinished(pass_report& report) {
    std::vector<journal_entry> pending;
    if (auto unfinished = db_.unfinished(address())) {
        pending = std::move(*unfinished);
    } else {
        log::error("cannot read the journal",
                   {{"mailbox", address()}, {"error", unfinished.error()}});
        co_return;
    }
    journal_query failed;
    failed.mailbox = address();
    failed.state = entry_state::failed;
    if (auto more = db_.list(failed)) {
        pending.insert(pending.end(), more->begin(), more->end());
        // Until the calendar changes, nothing new can be unfinished or failed.
        unfinished_idle_ = pending.empty();
    }

    for (auto& entry : pending) {
        if (stopping_) co_return;
        const calendar::invitation* inv = nullptr;
        if (auto it = items_.find(entry.item_id); it != items_.end()) {
            for (const auto* m : meetings_of(it->second)) {
                if (m->uid == entry.key.uid) inv = m;
            }
        }
        if (!inv) {
            db_.set_state(entry.id, entry_state::superseded,
                          "the meeting is no longer in the calendar", clock_.now());
            log::info("meeting gone; nothing to finish",
                      {{"mailbox", address()}, {"uid", key_text(entry.key)}});
            continue;
        }
        if (inv->sequence > entry.key.sequence) {
            db_.set_state(entry.id, entry_state::superseded,
                          "a newer version of the meeting arrived", clock_.now());
            continue;
        }
        co_await carry_out(entry, *inv, report, /*verify_first=*/true);
    }
}

asio::awaitable<void> mailbox_worker::run(bool once) {
    timer_ = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
    std::mt19937 jitter(std::random_device{}());
    while (!stopping_) {
        wake_requested_ = false;
        const pass_report r = co_await pass();
        // Every poll of every mailbox comes here: the fields are made only when they are logged.
        if (log::enabled(config::log_level::debug)) {
            log::debug("pass", {{"mailbox", address()},
                                {"synced", r.synced ? "yes" : "no"},
                                {"read", std::to_string(r.items_read)},
                                {"decided", std::to_string(r.decided)},
                                {"carried_out", std::to_string(r.carried_out)},
                                {"failed", std::to_string(r.failed)}});
        }
        // Asked to stop during the pass: end now, not after a poll interval's sleep (the drain
        // would wait for it, and give up after 30 s).
        if (once || stopping_) break;
        // A wake during the pass asks for another one at once (unless the source is failing).
        if (wake_requested_ && failures_ == 0) continue;
        if (failures_ > 0) {
            // Back off, with jitter so that many mailboxes do not retry in step.
            const auto factor = 1 << std::min(failures_, 6);
            auto delay =
                std::min<std::chrono::seconds>(setup_.poll * factor, std::chrono::minutes{15});
            delay +=
                std::chrono::seconds{jitter() % (static_cast<unsigned>(delay.count()) / 4 + 1)};
            timer_->expires_after(delay);
        } else {
            // On the mailbox's slot of the interval: the mailboxes of a slot share one wakeup.
            timer_->expires_at(next_poll(std::chrono::steady_clock::now(), setup_.poll, address()));
        }
        co_await timer_->async_wait(asio::as_tuple(asio::use_awaitable));
    }
}

void mailbox_worker::wake() {
    wake_requested_ = true;
    if (timer_ && failures_ == 0) timer_->cancel();
}

}  // namespace agendad::daemon
