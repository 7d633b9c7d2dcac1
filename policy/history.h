// What the mailbox's calendar says about people: whom the owner met or accepted, whom the owner
// declined and when, which meetings are already accepted. Built from normalised events; pure.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "calendar/invitation.h"

namespace agendad::policy {

using calendar::time_point;

struct meeting_fact {
    std::string uid;
    std::string subject;
    time_point start{};
    // When the meeting (the last occurrence of a bounded series) is over; nullopt for a series
    // without end. Used for the history window: a weekly meeting that began two years ago and
    // still runs is recent.
    std::optional<time_point> last_end;
    std::string organizer;
    calendar::partstat owner_status = calendar::partstat::none;
    bool owner_organizes = false;
    // Everyone else in the meeting (organizer and attendees, not the owner), lower-case.
    std::vector<std::string> participants;
};

// What one calendar event teaches about people, as seen from `mailbox`; nullopt for events that
// teach nothing (cancelled, without a time, without the owner). The daemon stores these facts.
std::optional<meeting_fact> fact_of(const calendar::invitation& event, std::string_view mailbox);

class history {
  public:
    history() = default;
    // Indexes `events` as seen from `mailbox`. Cancelled events and events without the owner
    // teach nothing and are skipped.
    static history from_events(std::span<const calendar::invitation> events,
                               std::string_view mailbox);

    // Adds one event's fact, if it has one.
    void add(const calendar::invitation& event, std::string_view mailbox);
    void add(meeting_fact fact);

    // The most recent meeting that the owner accepted or organised, with `address` as organizer
    // or attendee, that is not over before `since`.
    const meeting_fact* met(std::string_view address, time_point since) const;
    // The most recent meeting organised by `address` that the owner declined, starting on or
    // after `since`.
    const meeting_fact* declined(std::string_view address, time_point since) const;
    // The accepted (or owner-organised) meeting with this UID, if any.
    const meeting_fact* accepted(std::string_view uid) const;

    std::size_t size() const { return facts_.size(); }

  private:
    std::vector<meeting_fact> facts_;
    std::unordered_map<std::string, std::vector<std::size_t>> met_by_address_;
    std::unordered_map<std::string, std::vector<std::size_t>> declined_by_organizer_;
    std::unordered_map<std::string, std::size_t> accepted_by_uid_;
};

}  // namespace agendad::policy
