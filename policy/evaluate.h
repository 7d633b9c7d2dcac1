// The policy engine's entry point: one invitation, one decision, with every signal's evidence.
// Pure: no I/O, no clock, no logging; `now` and the calendar history come in through context.
#pragma once

#include "calendar/invitation.h"
#include "policy/context.h"
#include "policy/decision.h"
#include "policy/policy.h"

namespace agendad::policy {

// Built-in guards run before any rule and always leave the invitation alone: cancellations and
// other methods, the owner's own meetings, invitations without the owner or without a request
// for an answer, answered or past events, and updates of meetings already accepted.
struct evaluate_options {
    // Compute the signals even when a built-in guard decides: they cannot change the outcome,
    // but `agendad explain` shows them. The daemon leaves this off.
    bool signals_when_guarded = false;
};

decision evaluate(const policy& p, const calendar::invitation& inv, const context& ctx,
                  const evaluate_options& options = {});

// The signals alone (evaluate() calls this); exposed for tests and tools.
std::vector<signal> compute_signals(const policy& p, const calendar::invitation& inv,
                                    const context& ctx);

// Whether `domain` is one of `org_domains` or a sub-domain of one (case-insensitive).
bool is_org_domain(std::string_view domain, const std::vector<std::string>& org_domains);

}  // namespace agendad::policy
