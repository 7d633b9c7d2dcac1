// What the policy decided for one invitation, and why: the unit that explain prints, the
// daemon journals and carries out. Pure value.
#pragma once

#include <string>
#include <vector>

#include "policy/policy.h"
#include "policy/signal.h"

namespace agendad::policy {

struct decision {
    ::agendad::policy::action action = ::agendad::policy::action::leave;
    bool send_response = false;
    std::string rule;            // the rule or built-in guard that decided ("guard_cancelled", ...)
    bool by_guard = false;       // decided by a built-in guard before any rule
    std::string reason;          // one sentence: why this rule applied (the guard's evidence, ...)
    std::string reply_template;  // template used, empty if none
    std::string reply;           // the exact text that would be sent; empty when nothing is sent
    // Every signal that fired, in signal_id order; when a built-in guard decided, only if the
    // caller asked for them (evaluate_options), since no signal could change that outcome.
    std::vector<signal> signals;
    signal_set fired;
};

}  // namespace agendad::policy
