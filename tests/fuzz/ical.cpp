// iCalendar → invitations (calendar/ical/parse.h), the way the folder source and `agendad
// explain` read a file: parse_ics for the owner's mailbox, primary_event, the calendar history
// built from the events, and the policy's decision on each event.
//
// Invariants: no exception escapes; a failure is one diagnostic naming the file; every event
// names the file, and its text is well-formed UTF-8 (the parser repairs the encoding first, and
// replies and explain's JSON quote these strings); the owner's entry is the mailbox's;
// primary_event is the series master when there is one; every decision passes check_decision.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "calendar/ical/parse.h"
#include "config/policy_loader.h"
#include "decision_checks.h"
#include "fuzz_support.h"
#include "policy/evaluate.h"
#include "policy/history.h"

namespace {

using namespace agendad;
using fuzz::require;

constexpr std::string_view file = "fuzz.ics";
constexpr std::string_view mailbox = "dana.whitfield@contoso.example";

const policy::policy& executive() {
    static const policy::policy p = *config::load_builtin_executive_policy().policy;
    return p;
}

void check_event(const calendar::invitation& e) {
    require(e.source.file == file, "parse_ics: an event that does not name its file");
    require(e.source.line >= 1, "parse_ics: an event without its BEGIN:VEVENT line");
    fuzz::check_invitation(e, mailbox, "parse_ics");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto parsed = calendar::parse_ics(text, file, calendar::parse_options{std::string(mailbox)});
    if (!parsed) {
        require(parsed.error().file == file, "parse_ics: an error that does not name the file");
        require(!parsed.error().message.empty(), "parse_ics: an error without a message");
        return 0;
    }
    for (const auto& d : parsed->errors) {
        require(d.file == file, "parse_ics: an event error that does not name the file");
        require(!d.message.empty(), "parse_ics: an event error without a message");
    }
    for (const auto& e : parsed->events) check_event(e);

    const calendar::invitation* primary = calendar::primary_event(*parsed);
    require((primary == nullptr) == parsed->events.empty(),
            "primary_event: none although there are events, or one although there are none");
    if (primary) {
        const bool has_master =
            std::any_of(parsed->events.begin(), parsed->events.end(),
                        [](const calendar::invitation& e) { return !e.recurrence_id; });
        require(!has_master || !primary->recurrence_id,
                "primary_event: an instance although the series master is there");
    }

    // The same file as the owner's calendar history (explain's --calendar), then every event
    // decided against it, as explain does with signals shown.
    const policy::history known = policy::history::from_events(parsed->events, mailbox);
    policy::context ctx;
    ctx.mailbox = std::string(mailbox);
    ctx.org_domains = {"contoso.example"};
    ctx.now = std::chrono::sys_days{std::chrono::year{2026} / 11 / 20};
    ctx.known = &known;
    const policy::evaluate_options options{true};
    for (const auto& e : parsed->events) {
        fuzz::check_decision(policy::evaluate(executive(), e, ctx, options), options);
    }
    return 0;
}
