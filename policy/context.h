// Facts about the world that a decision depends on, passed in by the caller (explain or the
// daemon): who the owner is, which domains are the organisation's, the time, the history.
#pragma once

#include <string>
#include <vector>

#include "calendar/invitation.h"
#include "policy/history.h"

namespace agendad::policy {

struct context {
    std::string mailbox;                   // the owner's address, any case
    std::vector<std::string> org_domains;  // merged with the policy's trust.org_domains
    calendar::time_point now{};
    const history* known = nullptr;  // nullptr: an empty calendar
    // Organizers the owner vouched for by overriding or undoing a decision (lower case).
    std::vector<std::string> trusted_by_owner;
};

}  // namespace agendad::policy
