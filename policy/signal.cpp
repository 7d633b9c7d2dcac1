#include "policy/signal.h"

#include <array>

namespace agendad::policy {
namespace {

struct signal_info {
    std::string_view name;
    std::string_view meaning;
};

constexpr std::array<signal_info, signal_count> infos = {{
    {"internal_organizer",
     "the organizer's domain is an organisation domain or a sub-domain of one"},
    {"external_organizer", "the organizer is outside the organisation domains"},
    {"known_organizer",
     "the owner met the organizer in an accepted meeting within the history window"},
    {"vouched_organizer", "an internal invitee has already accepted this invitation"},
    {"allowlisted_organizer", "the organizer's address or domain is on the policy's allow list"},
    {"denylisted_organizer", "the organizer's address or domain is on the policy's deny list"},
    {"trusted_organizer", "internal, known, vouched or allow-listed, and not deny-listed"},
    {"untrusted_organizer", "none of the reasons to trust the organizer holds"},
    {"declined_recently",
     "the owner declined a meeting of this organizer within the decline window"},
    {"agenda", "the description states what will be discussed or decided"},
    {"no_agenda", "the description states no agenda (empty, join text only, pleasantries)"},
    {"checkin_phrasing",
     "the subject is about checking in or catching up, or a social meeting without purpose"},
    {"open_ended_recurrence", "the meeting repeats with no end (RRULE without COUNT or UNTIL)"},
    {"recurring", "the meeting repeats"},
    {"spam_lure", "the subject or description is a prize, gift-card, invoice or account lure"},
    {"mass_external_invite", "many external invitees from several domains"},
    {"online_meeting", "the description carries online-meeting join text"},
    {"optional_attendee", "the owner is invited as an optional participant"},
}};

}  // namespace

std::string_view name_of(signal_id id) {
    return infos[static_cast<std::size_t>(id)].name;
}
std::string_view meaning_of(signal_id id) {
    return infos[static_cast<std::size_t>(id)].meaning;
}

std::optional<signal_id> signal_from_name(std::string_view name) {
    for (std::size_t i = 0; i < infos.size(); ++i) {
        if (infos[i].name == name) return static_cast<signal_id>(i);
    }
    return std::nullopt;
}

}  // namespace agendad::policy
