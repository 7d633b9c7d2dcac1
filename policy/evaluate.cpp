#include "policy/evaluate.h"

#include "calendar/encoding.h"

#include <algorithm>
#include <set>

#include "policy/reply.h"
#include "policy/text.h"

namespace agendad::policy {
namespace {

using calendar::invitation;
using calendar::time_point;

using calendar::encoding::lower;

bool domain_matches(std::string_view domain, std::string_view base) {
    if (base.empty() || domain.size() < base.size()) return false;
    if (domain.size() == base.size()) return domain == base;
    return domain.substr(domain.size() - base.size()) == base &&
           domain[domain.size() - base.size() - 1] == '.';
}

bool in_list(std::string_view value, const std::vector<std::string>& list) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

std::string days_ago(time_point then, time_point now) {
    const auto d = std::chrono::floor<std::chrono::days>(now - then).count();
    if (d < 0) return "upcoming";
    if (d == 0) return "today";
    if (d == 1) return "1 day ago";
    return std::to_string(d) + " days ago";
}

// Words that name people or companies in this invitation: they state no purpose in a subject.
std::vector<std::string> names_in(const invitation& inv, std::string_view owner) {
    std::vector<std::string> out;
    auto add_words = [&](std::string_view text) {
        const std::string folded = text::fold(text);
        for (auto t : text::split_tokens(folded)) out.emplace_back(t);
    };
    auto add_domain = [&](std::string_view address) {
        std::string_view domain = calendar::domain_of(address);
        // "pipelinepro.example" → "pipelinepro"; "eu.contoso.example" → "eu", "contoso".
        while (!domain.empty()) {
            const auto dot = domain.find('.');
            if (dot == std::string_view::npos) break;  // the last label is the TLD
            add_words(domain.substr(0, dot));
            domain.remove_prefix(dot + 1);
        }
    };
    add_words(inv.organizer.name);
    add_domain(inv.organizer.address);
    add_words(inv.organizer.address.substr(0, inv.organizer.address.find('@')));
    add_domain(owner);
    for (const auto& a : inv.attendees) {
        add_words(a.name);
        add_domain(a.address);
    }
    return out;
}

struct guard_result {
    std::string name;
    std::string reason;
};

std::optional<guard_result> run_guards(const invitation& inv, const context& ctx,
                                       const std::string& owner, const calendar::attendee* me) {
    using calendar::method;
    if (inv.method == method::cancel || inv.status == calendar::event_status::cancelled) {
        return guard_result{"guard_cancelled", inv.method == method::cancel
                                                   ? "METHOD:CANCEL: the meeting is cancelled"
                                                   : "STATUS:CANCELLED"};
    }
    if (inv.method != method::request && inv.method != method::none) {
        return guard_result{
            "guard_not_a_request",
            "METHOD:" + std::string(calendar::to_string(inv.method)) + " is not a meeting request"};
    }
    if (inv.organizer.address.empty()) {
        return guard_result{"guard_no_organizer",
                            "no ORGANIZER: an appointment, not an invitation"};
    }
    if (inv.organizer.address == owner || inv.organizer.sent_by == owner) {
        return guard_result{"guard_own_meeting", "the mailbox owner organizes this meeting"};
    }
    if (!me) {
        return guard_result{
            "guard_not_invited",
            owner + " is not on the attendee list (invited through a group, or forwarded)"};
    }
    if (me->role == calendar::role::non_participant) {
        return guard_result{"guard_no_response_requested",
                            "the owner is a NON-PARTICIPANT (for information)"};
    }
    if (me->rsvp && !*me->rsvp) {
        return guard_result{"guard_no_response_requested",
                            "RSVP=FALSE: the organizer asks for no answer"};
    }
    if (me->partstat != calendar::partstat::needs_action &&
        me->partstat != calendar::partstat::none) {
        return guard_result{
            "guard_already_responded",
            "the owner's PARTSTAT is already " + std::string(calendar::to_string(me->partstat))};
    }
    if (!inv.has_start)
        return guard_result{"guard_no_start", "no DTSTART: the meeting has no time"};
    // Over when the last occurrence has ended; a series without end is never over.
    std::optional<time_point> over_at;
    const auto duration = inv.end - inv.start;
    switch (inv.recurrence.kind) {
        case calendar::recurrence_info::bound::none:
            over_at = inv.end;
            break;
        case calendar::recurrence_info::bound::until:
            if (inv.recurrence.until) over_at = *inv.recurrence.until + duration;
            break;
        case calendar::recurrence_info::bound::count:
            if (inv.recurrence.last_start) over_at = *inv.recurrence.last_start + duration;
            break;
        case calendar::recurrence_info::bound::open_ended:
            break;
    }
    if (inv.recurrence.has_rdate) over_at.reset();  // extra dates may lie ahead
    if (over_at && *over_at <= ctx.now) {
        return guard_result{"guard_past_event",
                            "the event ended on " + calendar::format_utc(*over_at)};
    }
    if (ctx.known && !inv.uid.empty()) {
        if (const meeting_fact* f = ctx.known->accepted(inv.uid)) {
            return guard_result{"guard_already_accepted",
                                "an update of '" + f->subject + "' (" +
                                    calendar::format_date(f->start) +
                                    "), already accepted in the calendar"};
        }
    }
    if (inv.uid.empty())
        return guard_result{"guard_no_uid",
                            "no UID: a response could not be matched to the meeting"};
    return std::nullopt;
}

}  // namespace

bool is_org_domain(std::string_view domain, const std::vector<std::string>& org_domains) {
    const std::string d = lower(domain);
    return std::any_of(org_domains.begin(), org_domains.end(),
                       [&](const std::string& base) { return domain_matches(d, lower(base)); });
}

std::vector<signal> compute_signals(const policy& p, const invitation& inv, const context& ctx) {
    std::vector<signal> out;
    auto fire = [&](signal_id id, std::string evidence) {
        out.push_back(signal{id, std::move(evidence)});
    };

    const std::string owner = calendar::normalize_address(ctx.mailbox);
    std::vector<std::string> org = ctx.org_domains;
    org.insert(org.end(), p.trust.org_domains.begin(), p.trust.org_domains.end());
    for (auto& d : org) d = lower(d);

    const std::string& organizer = inv.organizer.address;
    const std::string organizer_domain(calendar::domain_of(organizer));
    const bool internal = !organizer_domain.empty() && is_org_domain(organizer_domain, org);
    if (internal)
        fire(signal_id::internal_organizer, organizer_domain + " is an organisation domain");
    else
        fire(signal_id::external_organizer,
             (organizer_domain.empty() ? organizer : organizer_domain) +
                 " is not an organisation domain");

    bool known = false;
    if (ctx.known && !organizer.empty()) {
        const time_point since = ctx.now - std::chrono::days{p.trust.history_days};
        if (const meeting_fact* f = ctx.known->met(organizer, since)) {
            known = true;
            const bool past = f->start <= ctx.now;
            const std::string when = calendar::format_date(f->start);
            fire(signal_id::known_organizer,
                 f->owner_organizes ? "in the owner's meeting '" + f->subject + "' on " + when
                 : past             ? "met on " + when + " in '" + f->subject + "'"
                                    : "accepted '" + f->subject + "' on " + when);
        }
    }

    bool vouched = false;
    if (p.trust.vouching) {
        std::string who;
        for (const auto& a : inv.attendees) {
            if (a.address == owner || a.address == organizer) continue;
            if (a.partstat != calendar::partstat::accepted) continue;
            if (!is_org_domain(calendar::domain_of(a.address), org)) continue;
            who += (who.empty() ? "" : ", ") + a.address;
        }
        if (!who.empty()) {
            vouched = true;
            fire(signal_id::vouched_organizer, "internal invitee(s) already accepted: " + who);
        }
    }

    const auto listed = [&](const std::vector<std::string>& addresses,
                            const std::vector<std::string>& domains) -> std::optional<std::string> {
        if (in_list(organizer, addresses)) return organizer + " is listed";
        for (const auto& d : domains) {
            if (domain_matches(organizer_domain, lower(d))) return "domain " + d + " is listed";
        }
        return std::nullopt;
    };
    auto allowed = listed(p.trust.allow_addresses, p.trust.allow_domains);
    if (!allowed && in_list(organizer, ctx.trusted_by_owner)) {
        allowed = "the owner overrode or undid an earlier decision for " + organizer;
    }
    if (allowed) fire(signal_id::allowlisted_organizer, *allowed);
    const auto denied = listed(p.trust.deny_addresses, p.trust.deny_domains);
    if (denied) fire(signal_id::denylisted_organizer, *denied);

    const bool trusted = (internal || known || vouched || allowed) && !denied;
    if (trusted) {
        std::string why = internal  ? "internal"
                          : known   ? "known"
                          : vouched ? "vouched for"
                                    : "allow-listed";
        fire(signal_id::trusted_organizer, organizer + " is " + why);
    } else {
        std::string why = denied ? "deny-listed"
                                 : "external, not met in the last " +
                                       std::to_string(p.trust.history_days) +
                                       " days, not vouched for, not allow-listed";
        fire(signal_id::untrusted_organizer, organizer + ": " + why);
    }

    if (ctx.known && !organizer.empty()) {
        const time_point since = ctx.now - std::chrono::days{p.trust.declined_within_days};
        if (const meeting_fact* f = ctx.known->declined(organizer, since)) {
            fire(signal_id::declined_recently, "declined '" + f->subject + "' on " +
                                                   calendar::format_date(f->start) + " (" +
                                                   days_ago(f->start, ctx.now) + ")");
        }
    }

    const text::description_analysis d =
        text::analyze_description(inv.description, inv.has_attachments);
    if (d.agenda)
        fire(signal_id::agenda, d.evidence);
    else
        fire(signal_id::no_agenda, d.evidence);

    if (auto c = text::find_checkin(inv.subject, [&] { return names_in(inv, owner); }))
        fire(signal_id::checkin_phrasing, c->explanation);

    if (inv.recurrence.kind == calendar::recurrence_info::bound::open_ended) {
        fire(signal_id::open_ended_recurrence,
             "RRULE:" + inv.recurrence.rule + " has no COUNT or UNTIL");
    }
    if (inv.is_recurring()) fire(signal_id::recurring, "RRULE:" + inv.recurrence.rule);

    if (auto l = text::find_lure_in_subject(inv.subject)) {
        fire(signal_id::spam_lure, l->explanation);
    } else if (d.lure) {
        fire(signal_id::spam_lure, d.lure->explanation);
    }

    {
        int external = 0;
        std::set<std::string> domains;
        for (const auto& a : inv.attendees) {
            if (a.address == owner || a.cutype == "ROOM" || a.cutype == "RESOURCE") continue;
            const std::string dom(calendar::domain_of(a.address));
            if (dom.empty() || is_org_domain(dom, org)) continue;
            ++external;
            domains.insert(dom);
        }
        if (external >= p.spam.mass_invite_min_external &&
            static_cast<int>(domains.size()) >= p.spam.mass_invite_min_domains) {
            fire(signal_id::mass_external_invite, std::to_string(external) +
                                                      " external invitees from " +
                                                      std::to_string(domains.size()) + " domains");
        }
    }

    if (d.join_lines > 0) {
        std::string services;
        for (const auto& s : d.join_services) services += (services.empty() ? "" : ", ") + s;
        fire(signal_id::online_meeting, services + " join text (" + std::to_string(d.join_lines) +
                                            " lines) set aside before reading the description");
    }
    for (const auto& a : inv.attendees) {
        if (a.address == owner && a.role == calendar::role::optional) {
            fire(signal_id::optional_attendee, "the owner is an OPT-PARTICIPANT");
            break;
        }
    }

    std::sort(out.begin(), out.end(), [](const signal& a, const signal& b) { return a.id < b.id; });
    return out;
}

decision evaluate(const policy& p, const invitation& inv, const context& ctx,
                  const evaluate_options& options) {
    decision dec;
    const std::string owner = calendar::normalize_address(ctx.mailbox);
    const calendar::attendee* me = nullptr;
    for (const auto& a : inv.attendees) {
        if (a.address == owner) {
            me = &a;
            break;
        }
    }
    // A guard decides alone: its reason is the evidence, and no signal could change the outcome.
    if (auto g = run_guards(inv, ctx, owner, me)) {
        dec.rule = g->name;
        dec.reason = g->reason;
        dec.by_guard = true;
        if (options.signals_when_guarded) {
            dec.signals = compute_signals(p, inv, ctx);
            for (const auto& s : dec.signals) dec.fired.set(static_cast<std::size_t>(s.id));
        }
        return dec;
    }
    dec.signals = compute_signals(p, inv, ctx);
    for (const auto& s : dec.signals) dec.fired.set(static_cast<std::size_t>(s.id));

    for (const rule& r : p.rules) {
        if (!r.when.matches(dec.fired)) continue;
        dec.rule = r.name;
        dec.action = r.action;
        dec.reason = r.description;
        dec.send_response = r.respond && r.action != action::leave;
        if (dec.send_response && !r.reply.empty()) {
            dec.reply_template = r.reply;
            if (auto it = p.replies.find(r.reply); it != p.replies.end()) {
                dec.reply = render_reply(it->second, inv, ctx.mailbox);
            }
        }
        return dec;
    }
    dec.rule = "no_rule_matched";
    dec.reason = "no rule matched: left for the owner";
    return dec;
}

}  // namespace agendad::policy
