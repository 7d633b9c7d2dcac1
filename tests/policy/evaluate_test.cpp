// The policy engine on hand-built invitations: built-in guards, trust (domains, history, vouching,
// allow/deny lists), decline windows, spam counts, first-match rules and replies. Pure.
#include <gtest/gtest.h>

#include <random>

#include "policy/evaluate.h"

namespace {

using namespace agendad;
using calendar::attendee;
using calendar::invitation;
using calendar::partstat;
using calendar::time_point;
using policy::action;
using policy::signal_id;

constexpr const char* owner = "dana@contoso.example";

time_point at(int y, unsigned m, unsigned d, int h = 9) {
    using namespace std::chrono;
    return time_point{sys_days{year{y} / month{m} / day{d}}} + hours{h};
}

const time_point now = at(2026, 11, 20);

invitation make(std::string organizer, std::string subject = "Quick sync",
                std::string description = "") {
    invitation inv;
    inv.method = calendar::method::request;
    inv.uid = "uid-" + organizer + subject;
    inv.organizer.address = organizer;
    inv.organizer.name = "Chris Dalton";
    inv.attendees.push_back(attendee{owner, "Dana Whitfield", calendar::role::required,
                                     partstat::needs_action, true, ""});
    inv.subject = std::move(subject);
    inv.description = std::move(description);
    inv.start = at(2026, 11, 24, 18);
    inv.end = inv.start + std::chrono::minutes{30};
    inv.start_local = {2026, 11, 24, 10, 0, "Pacific Standard Time"};
    return inv;
}

invitation past_meeting(std::string organizer, time_point start, partstat status,
                        std::string uid = "") {
    invitation inv = make(std::move(organizer), "Board meeting Q3");
    inv.method = calendar::method::none;
    inv.uid = uid.empty() ? "past-" + inv.organizer.address + calendar::format_utc(start) : uid;
    inv.attendees.front().partstat = status;
    inv.start = start;
    inv.end = start + std::chrono::hours{1};
    return inv;
}

// A policy that declines everything, so that a "leave" can only come from a guard.
policy::policy decline_everything() {
    policy::policy p;
    policy::rule r;
    r.name = "decline_all";
    r.action = action::decline;
    r.reply = "no";
    p.rules.push_back(r);
    p.replies["no"] = "Hi {organizer_first_name}, no to \"{subject}\" on {start}. {owner_name}";
    return p;
}

struct fixture {
    policy::history known;
    policy::context ctx;
    explicit fixture(std::vector<invitation> history = {}) {
        known = policy::history::from_events(history, owner);
        ctx.mailbox = owner;
        ctx.org_domains = {"contoso.example"};
        ctx.now = now;
        ctx.known = &known;
    }
    policy::decision decide(const invitation& inv,
                            const policy::policy& p = decline_everything()) const {
        return policy::evaluate(p, inv, ctx);
    }
    bool fired(const invitation& inv, signal_id id,
               const policy::policy& p = decline_everything()) const {
        return decide(inv, p).fired.test(static_cast<std::size_t>(id));
    }
    std::string evidence(const invitation& inv, signal_id id) const {
        for (const auto& s : decide(inv).signals) {
            if (s.id == id) return s.evidence;
        }
        return {};
    }
};

// ---------------------------------------------------------------------------------------------
// Guards: never act, whatever the rules say.

struct guard_row {
    const char* name;
    std::function<void(invitation&)> change;
    const char* guard;
};

void PrintTo(const guard_row& r, std::ostream* os) {
    *os << r.name;
}

class guards : public ::testing::TestWithParam<guard_row> {};

TEST_P(guards, leave_the_invitation_alone) {
    invitation inv = make("rep@vendor.example");
    GetParam().change(inv);
    const fixture f({past_meeting("amir@northwind.example", at(2026, 10, 8), partstat::accepted,
                                  "accepted-uid")});
    const auto d = f.decide(inv);
    EXPECT_EQ(d.rule, GetParam().guard) << d.reason;
    EXPECT_TRUE(d.by_guard);
    EXPECT_EQ(d.action, action::leave);
    EXPECT_FALSE(d.send_response);
    EXPECT_TRUE(d.reply.empty());
    EXPECT_FALSE(d.reason.empty());
}

INSTANTIATE_TEST_SUITE_P(
    builtin, guards,
    ::testing::Values(
        guard_row{"cancel_method", [](invitation& i) { i.method = calendar::method::cancel; },
                  "guard_cancelled"},
        guard_row{"cancelled_status",
                  [](invitation& i) { i.status = calendar::event_status::cancelled; },
                  "guard_cancelled"},
        guard_row{"reply_method", [](invitation& i) { i.method = calendar::method::reply; },
                  "guard_not_a_request"},
        guard_row{"publish_method", [](invitation& i) { i.method = calendar::method::publish; },
                  "guard_not_a_request"},
        guard_row{"no_organizer", [](invitation& i) { i.organizer = {}; }, "guard_no_organizer"},
        guard_row{"own_meeting", [](invitation& i) { i.organizer.address = owner; },
                  "guard_own_meeting"},
        guard_row{"own_meeting_sent_by_owner", [](invitation& i) { i.organizer.sent_by = owner; },
                  "guard_own_meeting"},
        guard_row{"not_invited", [](invitation& i) { i.attendees.clear(); }, "guard_not_invited"},
        guard_row{"rsvp_false", [](invitation& i) { i.attendees.front().rsvp = false; },
                  "guard_no_response_requested"},
        guard_row{"non_participant",
                  [](invitation& i) { i.attendees.front().role = calendar::role::non_participant; },
                  "guard_no_response_requested"},
        guard_row{"already_accepted_partstat",
                  [](invitation& i) { i.attendees.front().partstat = partstat::accepted; },
                  "guard_already_responded"},
        guard_row{"already_declined_partstat",
                  [](invitation& i) { i.attendees.front().partstat = partstat::declined; },
                  "guard_already_responded"},
        guard_row{"no_start", [](invitation& i) { i.has_start = false; }, "guard_no_start"},
        guard_row{"past_single",
                  [](invitation& i) {
                      i.start = at(2026, 11, 10);
                      i.end = at(2026, 11, 10, 10);
                  },
                  "guard_past_event"},
        guard_row{"past_series_until",
                  [](invitation& i) {
                      i.start = at(2026, 9, 1);
                      i.end = at(2026, 9, 1, 10);
                      i.recurrence.kind = calendar::recurrence_info::bound::until;
                      i.recurrence.until = at(2026, 10, 29);
                  },
                  "guard_past_event"},
        guard_row{"past_series_count",
                  [](invitation& i) {
                      i.start = at(2026, 9, 1);
                      i.end = at(2026, 9, 1, 10);
                      i.recurrence.kind = calendar::recurrence_info::bound::count;
                      i.recurrence.count = 3;
                      i.recurrence.last_start = at(2026, 9, 15);
                  },
                  "guard_past_event"},
        guard_row{"update_of_accepted_meeting", [](invitation& i) { i.uid = "accepted-uid"; },
                  "guard_already_accepted"},
        guard_row{"no_uid", [](invitation& i) { i.uid.clear(); }, "guard_no_uid"}),
    [](const auto& row_info) { return std::string(row_info.param.name); });

TEST(guards, decide_alone_and_explain_can_still_ask_for_the_signals) {
    invitation inv = make("rep@vendor.example");
    inv.method = calendar::method::cancel;
    const fixture f;
    EXPECT_TRUE(f.decide(inv).signals.empty())
        << "the daemon's path computes nothing a guard ignores";
    const auto shown =
        policy::evaluate(decline_everything(), inv, f.ctx, {.signals_when_guarded = true});
    EXPECT_EQ(shown.rule, "guard_cancelled");
    EXPECT_EQ(shown.action, action::leave);
    EXPECT_TRUE(shown.fired.test(static_cast<std::size_t>(signal_id::untrusted_organizer)));
}

TEST(guards, open_ended_series_that_began_in_the_past_is_not_over) {
    invitation inv = make("rep@vendor.example");
    inv.start = at(2026, 1, 5);
    inv.end = at(2026, 1, 5, 10);
    inv.recurrence.kind = calendar::recurrence_info::bound::open_ended;
    const fixture f;
    EXPECT_FALSE(f.decide(inv).by_guard);
}

TEST(guards, a_series_with_extra_dates_is_not_taken_as_over) {
    invitation inv = make("rep@vendor.example");
    inv.start = at(2026, 1, 5);
    inv.end = at(2026, 1, 5, 10);
    inv.recurrence.has_rdate = true;
    EXPECT_FALSE(fixture().decide(inv).by_guard);
}

// ---------------------------------------------------------------------------------------------
// Trust.

TEST(trust, organisation_domains_and_their_sub_domains_are_internal) {
    const fixture f;
    EXPECT_TRUE(f.fired(make("raj@contoso.example"), signal_id::internal_organizer));
    EXPECT_TRUE(f.fired(make("sam@eu.contoso.example"), signal_id::internal_organizer));
    EXPECT_TRUE(f.fired(make("sam@EU.Contoso.Example"), signal_id::internal_organizer));
    EXPECT_FALSE(f.fired(make("eve@notcontoso.example"), signal_id::internal_organizer));
    EXPECT_FALSE(f.fired(make("eve@contoso.example.evil.example"), signal_id::internal_organizer));
    EXPECT_TRUE(f.fired(make("eve@notcontoso.example"), signal_id::untrusted_organizer));
}

TEST(trust, someone_met_in_an_accepted_meeting_is_known_with_its_evidence) {
    invitation with_attendee =
        past_meeting("helen@parkventures.example", at(2026, 9, 15), partstat::accepted);
    with_attendee.attendees.push_back(attendee{
        "advisor@lexpartners.example", "", calendar::role::required, partstat::accepted, true, ""});
    const fixture f({with_attendee});
    const auto organizer = make("helen@parkventures.example");
    EXPECT_TRUE(f.fired(organizer, signal_id::known_organizer));
    EXPECT_TRUE(f.fired(organizer, signal_id::trusted_organizer));
    EXPECT_EQ(f.evidence(organizer, signal_id::known_organizer),
              "met on 2026-09-15 in 'Board meeting Q3'");
    // Another invitee of that meeting is known too.
    EXPECT_TRUE(f.fired(make("advisor@lexpartners.example"), signal_id::known_organizer));
}

TEST(trust, only_accepted_or_own_meetings_make_someone_known) {
    const fixture f({past_meeting("a@tentative.example", at(2026, 9, 1), partstat::tentative),
                     past_meeting("b@declined.example", at(2026, 9, 1), partstat::declined),
                     past_meeting("c@needs.example", at(2026, 9, 1), partstat::needs_action)});
    for (const char* who : {"a@tentative.example", "b@declined.example", "c@needs.example"}) {
        EXPECT_FALSE(f.fired(make(who), signal_id::known_organizer)) << who;
    }
    invitation own = past_meeting(owner, at(2026, 9, 1), partstat::none);
    own.attendees.push_back(attendee{"guest@partner.example", "", calendar::role::required,
                                     partstat::accepted, true, ""});
    EXPECT_TRUE(fixture({own}).fired(make("guest@partner.example"), signal_id::known_organizer));
}

TEST(trust, the_history_window_is_365_days_but_an_ongoing_series_counts) {
    const fixture old({past_meeting("old@vendor.example", at(2025, 11, 1), partstat::accepted)});
    EXPECT_FALSE(old.fired(make("old@vendor.example"), signal_id::known_organizer));
    invitation series = past_meeting("weekly@vendor.example", at(2024, 1, 5), partstat::accepted);
    series.recurrence.kind = calendar::recurrence_info::bound::open_ended;
    EXPECT_TRUE(fixture({series}).fired(make("weekly@vendor.example"), signal_id::known_organizer));
}

TEST(trust, an_internal_invitee_who_accepted_vouches_for_the_organizer) {
    const fixture f;
    invitation inv = make("owen@cloudscale.example");
    inv.attendees.push_back(attendee{"maria@contoso.example", "", calendar::role::required,
                                     partstat::tentative, true, ""});
    inv.attendees.push_back(
        attendee{"x@partner.example", "", calendar::role::required, partstat::accepted, true, ""});
    EXPECT_FALSE(f.fired(inv, signal_id::vouched_organizer))
        << "tentative or external acceptance is no vouching";
    inv.attendees.push_back(attendee{"raj@contoso.example", "", calendar::role::required,
                                     partstat::accepted, true, ""});
    EXPECT_TRUE(f.fired(inv, signal_id::vouched_organizer));
    EXPECT_TRUE(f.fired(inv, signal_id::trusted_organizer));
    policy::policy no_vouching = decline_everything();
    no_vouching.trust.vouching = false;
    EXPECT_FALSE(f.fired(inv, signal_id::vouched_organizer, no_vouching));
}

TEST(trust, allow_lists_trust_and_deny_lists_win) {
    const fixture f({past_meeting("known@vendor.example", at(2026, 9, 1), partstat::accepted)});
    policy::policy p = decline_everything();
    p.trust.allow_domains = {"partner.example"};
    p.trust.deny_addresses = {"known@vendor.example", "raj@contoso.example"};
    EXPECT_TRUE(f.fired(make("x@sub.partner.example"), signal_id::trusted_organizer, p));
    EXPECT_TRUE(f.fired(make("known@vendor.example"), signal_id::untrusted_organizer, p));
    EXPECT_TRUE(f.fired(make("raj@contoso.example"), signal_id::untrusted_organizer, p));
    EXPECT_TRUE(f.fired(make("raj@contoso.example"), signal_id::denylisted_organizer, p));
}

TEST(trust, a_decline_counts_within_the_window_only) {
    const fixture f({past_meeting("brad@salesblaze.example", at(2026, 8, 23), partstat::declined),
                     past_meeting("old@salesblaze.example", at(2026, 8, 21), partstat::declined)});
    EXPECT_TRUE(f.fired(make("brad@salesblaze.example"), signal_id::declined_recently));  // 89 days
    EXPECT_FALSE(f.fired(make("old@salesblaze.example"), signal_id::declined_recently));  // 91 days
    EXPECT_EQ(f.evidence(make("brad@salesblaze.example"), signal_id::declined_recently),
              "declined 'Board meeting Q3' on 2026-08-23 (89 days ago)");
}

TEST(spam, many_external_invitees_from_several_domains) {
    const fixture f;
    invitation inv = make("rewards@prize.example", "Webinar");
    for (int i = 0; i < 9; ++i) {
        inv.attendees.push_back(
            attendee{"u" + std::to_string(i) + "@d" + std::to_string(i % 3) + ".example", "",
                     calendar::role::required, partstat::needs_action, true, ""});
    }
    inv.attendees.push_back(attendee{"room@contoso.example", "", calendar::role::required,
                                     partstat::needs_action, true, "ROOM"});
    inv.attendees.push_back(attendee{"raj@contoso.example", "", calendar::role::required,
                                     partstat::needs_action, true, ""});
    EXPECT_FALSE(f.fired(inv, signal_id::mass_external_invite)) << "9 external invitees";
    inv.attendees.push_back(
        attendee{"u9@d0.example", "", calendar::role::required, partstat::needs_action, true, ""});
    EXPECT_TRUE(f.fired(inv, signal_id::mass_external_invite));
    EXPECT_EQ(f.evidence(inv, signal_id::mass_external_invite),
              "10 external invitees from 3 domains");
}

// ---------------------------------------------------------------------------------------------
// Rules and replies.

policy::rule rule(std::string name, std::vector<signal_id> all, action a, bool respond = true,
                  std::string reply = "") {
    policy::rule r;
    r.name = std::move(name);
    for (auto id : all) r.when.all.set(static_cast<std::size_t>(id));
    r.action = a;
    r.respond = respond;
    r.reply = std::move(reply);
    return r;
}

TEST(rules, the_first_matching_rule_decides) {
    policy::policy p;
    p.rules = {
        rule("internal_leave", {signal_id::internal_organizer}, action::leave, false),
        rule("untrusted_decline", {signal_id::untrusted_organizer}, action::decline, true, "t"),
        rule("catch_all", {}, action::request_agenda, true, "t")};
    p.replies["t"] = "Hi {organizer_first_name}: {subject} on {start} -- {owner_first_name}";
    const fixture f;
    EXPECT_EQ(f.decide(make("raj@contoso.example"), p).rule, "internal_leave");
    const auto d = f.decide(make("rep@vendor.example", "Quick sync"), p);
    EXPECT_EQ(d.rule, "untrusted_decline");
    EXPECT_EQ(d.action, action::decline);
    EXPECT_TRUE(d.send_response);
    EXPECT_EQ(
        d.reply,
        "Hi Chris: Quick sync on Tuesday 24 November 2026, 10:00 (Pacific Standard Time) -- Dana");
}

TEST(rules, a_silent_rule_sends_nothing) {
    policy::policy p;
    p.rules = {rule("silent", {}, action::decline, false, "")};
    const auto d = fixture().decide(make("rep@vendor.example"), p);
    EXPECT_EQ(d.action, action::decline);
    EXPECT_FALSE(d.send_response);
    EXPECT_TRUE(d.reply.empty());
}

TEST(rules, no_matching_rule_leaves_the_invitation) {
    policy::policy p;
    p.rules = {rule("only_internal", {signal_id::internal_organizer}, action::decline)};
    const auto d = fixture().decide(make("rep@vendor.example"), p);
    EXPECT_EQ(d.action, action::leave);
    EXPECT_EQ(d.rule, "no_rule_matched");
    EXPECT_FALSE(d.send_response);
}

TEST(rules, any_and_none_conditions) {
    policy::condition c;
    c.any.set(static_cast<std::size_t>(signal_id::checkin_phrasing));
    c.any.set(static_cast<std::size_t>(signal_id::open_ended_recurrence));
    c.none.set(static_cast<std::size_t>(signal_id::agenda));
    policy::signal_set s;
    EXPECT_FALSE(c.matches(s));
    s.set(static_cast<std::size_t>(signal_id::open_ended_recurrence));
    EXPECT_TRUE(c.matches(s));
    s.set(static_cast<std::size_t>(signal_id::agenda));
    EXPECT_FALSE(c.matches(s));
}

TEST(signals, come_out_in_a_stable_order_with_evidence) {
    const auto d = fixture().decide(make("rep@vendor.example", "Coffee?"));
    ASSERT_FALSE(d.signals.empty());
    for (std::size_t i = 1; i < d.signals.size(); ++i)
        EXPECT_LT(d.signals[i - 1].id, d.signals[i].id);
    for (const auto& s : d.signals) EXPECT_FALSE(s.evidence.empty()) << policy::name_of(s.id);
}

// evaluate must never throw or crash, whatever the invitation holds.
TEST(robustness, arbitrary_invitations_are_evaluated) {
    std::mt19937 rng(20261122);
    auto junk = [&](std::size_t max) {
        std::string s(rng() % max, '\0');
        for (char& c : s) c = static_cast<char>(rng() % 256);
        return s;
    };
    const fixture f({past_meeting("a@b.example", at(2026, 9, 1), partstat::accepted)});
    for (int i = 0; i < 3000; ++i) {
        invitation inv;
        inv.method = static_cast<calendar::method>(rng() % 10);
        inv.uid = junk(8);
        inv.organizer.address = junk(12) + (rng() % 2 ? "@" + junk(6) : "");
        inv.organizer.name = junk(12);
        for (unsigned k = rng() % 15; k > 0; --k) {
            inv.attendees.push_back(attendee{
                rng() % 3 ? junk(10) : owner, junk(5), static_cast<calendar::role>(rng() % 6),
                static_cast<partstat>(rng() % 7), std::nullopt, junk(3)});
        }
        inv.subject = junk(60);
        inv.description = junk(600);
        inv.start = now + std::chrono::seconds{static_cast<long>(rng() % 100000000) - 50000000};
        inv.end = inv.start;
        inv.recurrence.kind = static_cast<calendar::recurrence_info::bound>(rng() % 4);
        EXPECT_NO_THROW(f.decide(inv));
    }
}

}  // namespace
