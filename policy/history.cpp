#include "policy/history.h"

#include <algorithm>

namespace agendad::policy {
namespace {

std::optional<meeting_fact> fact_from(const calendar::invitation& e, const std::string& owner) {
    if (e.status == calendar::event_status::cancelled || e.method == calendar::method::cancel ||
        !e.has_start) {
        return std::nullopt;
    }
    meeting_fact f;
    f.uid = e.uid;
    f.subject = e.subject;
    f.start = e.start;
    f.organizer = e.organizer.address;
    const auto duration = e.end - e.start;
    switch (e.recurrence.kind) {
        case calendar::recurrence_info::bound::none:
            f.last_end = e.end;
            break;
        case calendar::recurrence_info::bound::until:
            if (e.recurrence.until) f.last_end = *e.recurrence.until + duration;
            break;
        case calendar::recurrence_info::bound::count:
            if (e.recurrence.last_start) f.last_end = *e.recurrence.last_start + duration;
            break;
        case calendar::recurrence_info::bound::open_ended:
            break;
    }
    if (!owner.empty() && e.organizer.address == owner) {
        f.owner_organizes = true;
        f.owner_status = calendar::partstat::accepted;
        return f;
    }
    for (const auto& a : e.attendees) {
        if (a.address == owner) {
            f.owner_status = a.partstat;
            return f;
        }
    }
    return std::nullopt;
}

// Index of the fact with the latest start among `candidates` that satisfy `keep`.
template <class Pred>
const meeting_fact* latest(const std::vector<meeting_fact>& facts,
                           const std::vector<std::size_t>& candidates, Pred keep) {
    const meeting_fact* best = nullptr;
    for (std::size_t i : candidates) {
        const meeting_fact& f = facts[i];
        if (!keep(f)) continue;
        if (!best || f.start > best->start) best = &f;
    }
    return best;
}

}  // namespace

std::optional<meeting_fact> fact_of(const calendar::invitation& event, std::string_view mailbox) {
    const std::string owner = calendar::normalize_address(mailbox);
    auto fact = fact_from(event, owner);
    if (!fact) return std::nullopt;
    if (!event.organizer.address.empty() && event.organizer.address != owner) {
        fact->participants.push_back(event.organizer.address);
    }
    for (const auto& a : event.attendees) {
        if (a.address.empty() || a.address == owner) continue;
        if (std::find(fact->participants.begin(), fact->participants.end(), a.address) ==
            fact->participants.end()) {
            fact->participants.push_back(a.address);
        }
    }
    return fact;
}

history history::from_events(std::span<const calendar::invitation> events,
                             std::string_view mailbox) {
    history h;
    for (const auto& e : events) h.add(e, mailbox);
    return h;
}

void history::add(const calendar::invitation& event, std::string_view mailbox) {
    if (auto fact = fact_of(event, mailbox)) add(std::move(*fact));
}

void history::add(meeting_fact fact) {
    const std::size_t index = facts_.size();
    const bool accepted = fact.owner_organizes || fact.owner_status == calendar::partstat::accepted;
    if (accepted) {
        for (const auto& who : fact.participants) met_by_address_[who].push_back(index);
        if (!fact.uid.empty()) accepted_by_uid_.insert_or_assign(fact.uid, index);
    } else if (fact.owner_status == calendar::partstat::declined && !fact.organizer.empty()) {
        declined_by_organizer_[fact.organizer].push_back(index);
    }
    facts_.push_back(std::move(fact));
}

const meeting_fact* history::met(std::string_view address, time_point since) const {
    auto it = met_by_address_.find(std::string(address));
    if (it == met_by_address_.end()) return nullptr;
    return latest(facts_, it->second,
                  [&](const meeting_fact& f) { return !f.last_end || *f.last_end >= since; });
}

const meeting_fact* history::declined(std::string_view address, time_point since) const {
    auto it = declined_by_organizer_.find(std::string(address));
    if (it == declined_by_organizer_.end()) return nullptr;
    return latest(facts_, it->second, [&](const meeting_fact& f) { return f.start >= since; });
}

const meeting_fact* history::accepted(std::string_view uid) const {
    auto it = accepted_by_uid_.find(std::string(uid));
    return it == accepted_by_uid_.end() ? nullptr : &facts_[it->second];
}

}  // namespace agendad::policy
