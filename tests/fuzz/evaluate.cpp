// The policy engine (policy/evaluate.h) on arbitrary invitations: any method, status, organizer,
// attendee list, text, times and recurrence a source could hand over, decided by the shipped
// executive policy against a calendar history made of more such invitations, with and without
// the signals for guarded decisions (explain asks for them, the daemon does not).
//
// Input: byte_reader fields. Times lie within the years 1 to 9999, the range every source's date
// parser produces; everything else is unrestricted.
// Invariants: check_decision (no exception, a known action, a rule or guard name, guards and
// "leave" send nothing, signals consistent), and the same invitation decided twice gives the same
// decision (the engine is pure).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/policy_loader.h"
#include "decision_checks.h"
#include "fuzz_support.h"
#include "policy/evaluate.h"
#include "policy/history.h"

namespace {

using namespace agendad;
using calendar::time_point;
using fuzz::require;

constexpr std::string_view owner = "dana.whitfield@contoso.example";
constexpr std::string_view people[] = {"dana.whitfield@contoso.example",
                                       "sam.lee@contoso.example",
                                       "brianna.cole@veritycloud.example",
                                       "rewards@prize-claims.example",
                                       "chris@eu.contoso.example",
                                       ""};
constexpr std::string_view subjects[] = {"Quick sync",
                                         "Congratulations! Claim your $500 gift card",
                                         "Catch up?",
                                         "Q3 budget review: decide headcount",
                                         ""};
constexpr std::string_view descriptions[] = {
    "Agenda:\n1. Budget\n2. Hiring",
    "Hope you're well! I'd love 15 minutes to connect.",
    "________________________________________________________________________________\n"
    "Microsoft Teams meeting\nJoin on your computer or mobile app\nClick here to join the meeting\n",
    ""};
constexpr std::string_view zones[] = {"Pacific Standard Time", "Europe/London", "UTC", ""};

const policy::policy& executive() {
    static const policy::policy p = *config::load_builtin_executive_policy().policy;
    return p;
}

// 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
time_point any_time(fuzz::byte_reader& in) {
    return time_point{std::chrono::seconds{in.in_range(-62135596800, 253402300799)}};
}

calendar::invitation any_invitation(fuzz::byte_reader& in) {
    calendar::invitation inv;
    inv.method = static_cast<calendar::method>(in.below(10));
    inv.status = static_cast<calendar::event_status>(in.below(5));
    inv.transp = in.flag() ? calendar::transparency::transparent : calendar::transparency::opaque;
    inv.uid = in.flag() ? in.string() : "uid-" + std::to_string(in.byte());
    if (in.flag()) inv.recurrence_id = any_time(in);
    inv.sequence = static_cast<int>(in.u32());
    inv.organizer.address = in.pick(people);
    inv.organizer.name = in.string();
    if (in.flag()) inv.organizer.sent_by = in.pick(people);
    const std::size_t attendees = in.below(16);
    for (std::size_t i = 0; i < attendees; ++i) {
        calendar::attendee a;
        a.address = in.pick(people);
        a.name = in.string(40);
        a.role = static_cast<calendar::role>(in.below(6));
        a.partstat = static_cast<calendar::partstat>(in.below(7));
        const std::uint8_t rsvp = in.byte() % 3;
        if (rsvp != 2) a.rsvp = rsvp == 1;
        constexpr std::string_view cutypes[] = {"", "INDIVIDUAL", "ROOM", "RESOURCE", "GROUP"};
        a.cutype = in.pick(cutypes);
        inv.attendees.push_back(std::move(a));
    }
    if (in.flag()) calendar::assign_owner(inv, owner);
    inv.subject = in.pick(subjects);
    inv.description = in.pick(descriptions);
    inv.location = in.string(40);
    inv.has_attachments = in.flag();
    inv.has_start = in.byte() % 8 != 0;
    inv.start = any_time(in);
    inv.end = in.flag() ? any_time(in) : inv.start + std::chrono::minutes{in.byte()};
    inv.all_day = in.flag();
    inv.start_local = {static_cast<int>(in.u32()), static_cast<int>(in.u32()),
                       static_cast<int>(in.u32()), static_cast<int>(in.u32()),
                       static_cast<int>(in.u32()), in.pick(zones)};
    inv.recurrence.kind = static_cast<calendar::recurrence_info::bound>(in.below(4));
    inv.recurrence.rule = in.string(40);
    inv.recurrence.count = static_cast<int>(in.u32());
    if (in.flag()) inv.recurrence.until = any_time(in);
    if (in.flag()) inv.recurrence.last_start = any_time(in);
    inv.recurrence.has_rdate = in.flag();
    return inv;
}

bool same(const policy::decision& a, const policy::decision& b) {
    if (a.action != b.action || a.send_response != b.send_response || a.rule != b.rule ||
        a.by_guard != b.by_guard || a.reason != b.reason || a.reply != b.reply ||
        a.fired != b.fired || a.signals.size() != b.signals.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.signals.size(); ++i) {
        if (a.signals[i].evidence != b.signals[i].evidence) return false;
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::byte_reader in(data, size);
    policy::context ctx;
    ctx.mailbox = in.flag() ? std::string(owner) : "Dana.Whitfield@Contoso.Example";
    ctx.org_domains = {"contoso.example"};
    if (in.flag()) ctx.org_domains.push_back(in.string(20));
    ctx.now = any_time(in);
    if (in.flag()) ctx.trusted_by_owner.push_back(in.pick(people));
    const policy::evaluate_options options{in.flag()};

    std::vector<calendar::invitation> past(in.below(4));
    for (auto& e : past) e = any_invitation(in);
    const policy::history known = policy::history::from_events(past, ctx.mailbox);
    if (in.flag()) ctx.known = &known;

    const calendar::invitation inv = any_invitation(in);
    const policy::decision d = policy::evaluate(executive(), inv, ctx, options);
    fuzz::check_decision(d, options);
    require(same(d, policy::evaluate(executive(), inv, ctx, options)),
            "evaluate: two decisions for the same invitation");
    return 0;
}
