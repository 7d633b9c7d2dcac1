// What must hold of every decision, whatever the invitation: the engine never throws (an
// exception is a crash here), names a known action and the rule or guard that decided, and a
// guard or a "leave" sends nothing.
#pragma once

#include <algorithm>

#include "fuzz_support.h"
#include "policy/evaluate.h"

namespace agendad::fuzz {

inline void check_decision(const policy::decision& d, const policy::evaluate_options& options) {
    using policy::action;
    const auto a = static_cast<int>(d.action);
    require(a >= static_cast<int>(action::leave) && a <= static_cast<int>(action::decline),
            "evaluate: an unknown action");
    require(!d.rule.empty(), "evaluate: a decision without a rule name");
    if (d.by_guard) {
        require(d.rule.starts_with("guard_"), "evaluate: a guard's rule is not named guard_*",
                d.rule);
        require(d.action == action::leave && !d.send_response,
                "evaluate: a built-in guard did something other than leave", d.rule);
        require(options.signals_when_guarded || d.signals.empty(),
                "evaluate: signals for a guarded decision nobody asked for", d.rule);
    }
    if (d.action == action::leave) {
        require(!d.send_response, "evaluate: leave with a response", d.rule);
    }
    require(d.reply.empty() || d.send_response, "evaluate: a reply that is not sent", d.rule);
    // Signals: in id order, each once, and `fired` says exactly which.
    policy::signal_set seen;
    for (std::size_t i = 0; i < d.signals.size(); ++i) {
        const auto id = static_cast<std::size_t>(d.signals[i].id);
        require(id < policy::signal_count, "evaluate: an unknown signal");
        require(!seen.test(id), "evaluate: a signal fired twice", policy::name_of(d.signals[i].id));
        seen.set(id);
        require(i == 0 || d.signals[i - 1].id < d.signals[i].id, "evaluate: signals out of order");
    }
    require(seen == d.fired, "evaluate: `fired` differs from the signals");
    if (!d.signals.empty()) {
        // Each pair of opposites: exactly one of them.
        const auto one_of = [&](policy::signal_id x, policy::signal_id y) {
            return seen.test(static_cast<std::size_t>(x)) != seen.test(static_cast<std::size_t>(y));
        };
        using policy::signal_id;
        require(one_of(signal_id::internal_organizer, signal_id::external_organizer),
                "evaluate: organizer neither or both internal and external");
        require(one_of(signal_id::trusted_organizer, signal_id::untrusted_organizer),
                "evaluate: organizer neither or both trusted and untrusted");
        require(one_of(signal_id::agenda, signal_id::no_agenda),
                "evaluate: description neither or both with and without agenda");
    }
}

}  // namespace agendad::fuzz
