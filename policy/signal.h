// The signals the policy engine computes, with the evidence that made each one fire.
// Signal names are product vocabulary: they appear in policy files, explain output and logs.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::policy {

enum class signal_id : std::uint8_t {
    internal_organizer,     // organizer's domain is an organisation domain or a sub-domain of one
    external_organizer,     // the opposite
    known_organizer,        // met in a meeting the owner accepted (or organised) within the history
                            // window
    vouched_organizer,      // an internal invitee has already accepted this invitation
    allowlisted_organizer,  // on the policy's allow list (address or domain)
    denylisted_organizer,   // on the policy's deny list: never trusted
    trusted_organizer,      // internal, known, vouched or allow-listed, and not deny-listed
    untrusted_organizer,    // not trusted
    declined_recently,  // the owner declined a meeting of this organizer within the decline window
    agenda,             // the description states what will be discussed or decided
    no_agenda,          // it does not (empty, only join text, pleasantries)
    checkin_phrasing,   // the subject is about checking in / catching up, or purpose-free social
    open_ended_recurrence,  // RRULE without COUNT or UNTIL
    recurring,              // any recurrence
    spam_lure,              // prize, gift-card, invoice or account lure
    mass_external_invite,   // many external invitees from several domains
    online_meeting,     // the description carries online-meeting join text (removed for analysis)
    optional_attendee,  // the owner is invited as an optional participant
    count_
};

inline constexpr std::size_t signal_count = static_cast<std::size_t>(signal_id::count_);
using signal_set = std::bitset<signal_count>;

std::string_view name_of(signal_id id);
std::optional<signal_id> signal_from_name(std::string_view name);
// One sentence on what the signal means, for `agendad check --list-signals` and docs.
std::string_view meaning_of(signal_id id);

struct signal {
    signal_id id;
    std::string
        evidence;  // human-readable: the phrase matched, the meeting that made someone known, ...
};

}  // namespace agendad::policy
