#include "daemon/explain.h"

#include <algorithm>
#include <iterator>

#include "policy/evaluate.h"

namespace agendad::daemon {

std::vector<explained> decide_all(const calendar::parsed_calendar& file,
                                  const policy::policy& policy, const policy::context& context,
                                  const policy::evaluate_options& options) {
    std::vector<explained> out;
    std::vector<std::string_view> seen;
    for (const auto& event : file.events) {
        if (std::find(seen.begin(), seen.end(), event.uid) != seen.end()) continue;
        seen.push_back(event.uid);
        const calendar::invitation* primary = &event;
        for (const auto& other : file.events) {
            if (other.uid == event.uid && !other.recurrence_id) {
                primary = &other;
                break;
            }
        }
        explained e{*primary, {}};
        e.invitation.warnings.insert(e.invitation.warnings.end(), file.warnings.begin(),
                                     file.warnings.end());
        e.decision = policy::evaluate(policy, e.invitation, context, options);
        out.push_back(std::move(e));
    }
    return out;
}

history_load load_history_files(std::span<const std::string> files, std::string_view mailbox) {
    history_load out;
    calendar::parse_options options;
    options.mailbox = std::string(mailbox);
    for (const auto& file : files) {
        auto parsed = calendar::parse_ics_file(file, options);
        if (!parsed) {
            out.errors.push_back(parsed.error());
            continue;
        }
        out.errors.insert(out.errors.end(), parsed->errors.begin(), parsed->errors.end());
        std::move(parsed->events.begin(), parsed->events.end(), std::back_inserter(out.events));
    }
    return out;
}

}  // namespace agendad::daemon
