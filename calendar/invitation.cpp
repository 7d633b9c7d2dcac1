#include "calendar/invitation.h"

#include <cctype>
#include <cstdio>

namespace agendad::calendar {

std::string_view to_string(method m) {
    switch (m) {
        case method::none:
            return "";
        case method::publish:
            return "PUBLISH";
        case method::request:
            return "REQUEST";
        case method::reply:
            return "REPLY";
        case method::add:
            return "ADD";
        case method::cancel:
            return "CANCEL";
        case method::refresh:
            return "REFRESH";
        case method::counter:
            return "COUNTER";
        case method::declinecounter:
            return "DECLINECOUNTER";
        case method::other:
            return "X-UNKNOWN";
    }
    return "";
}

std::string_view to_string(partstat p) {
    switch (p) {
        case partstat::none:
            return "";
        case partstat::needs_action:
            return "NEEDS-ACTION";
        case partstat::accepted:
            return "ACCEPTED";
        case partstat::declined:
            return "DECLINED";
        case partstat::tentative:
            return "TENTATIVE";
        case partstat::delegated:
            return "DELEGATED";
        case partstat::other:
            return "X-UNKNOWN";
    }
    return "";
}

std::string_view to_string(role r) {
    switch (r) {
        case role::none:
            return "";
        case role::chair:
            return "CHAIR";
        case role::required:
            return "REQ-PARTICIPANT";
        case role::optional:
            return "OPT-PARTICIPANT";
        case role::non_participant:
            return "NON-PARTICIPANT";
        case role::other:
            return "X-UNKNOWN";
    }
    return "";
}

std::string_view to_string(event_status s) {
    switch (s) {
        case event_status::none:
            return "";
        case event_status::tentative:
            return "TENTATIVE";
        case event_status::confirmed:
            return "CONFIRMED";
        case event_status::cancelled:
            return "CANCELLED";
        case event_status::other:
            return "X-UNKNOWN";
    }
    return "";
}

bool invitation::response_requested() const {
    if (!owner) return false;
    if (owner->role == role::non_participant) return false;
    return owner->rsvp.value_or(true);
}

std::string normalize_address(std::string_view raw) {
    auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!raw.empty() && is_space(raw.front())) raw.remove_prefix(1);
    while (!raw.empty() && is_space(raw.back())) raw.remove_suffix(1);
    // "MAILTO:" in any case, and Yahoo's doubled "mailto:mailto:".
    constexpr std::string_view prefix = "mailto:";
    while (raw.size() >= prefix.size()) {
        bool mailto = true;
        for (size_t i = 0; i < prefix.size(); ++i) {
            if (std::tolower(static_cast<unsigned char>(raw[i])) != prefix[i]) mailto = false;
        }
        if (!mailto) break;
        raw.remove_prefix(prefix.size());
        while (!raw.empty() && is_space(raw.front())) raw.remove_prefix(1);
    }
    // Some producers wrap the address in angle brackets or quotes.
    while (!raw.empty() && (raw.front() == '<' || raw.front() == '"')) raw.remove_prefix(1);
    while (!raw.empty() && (raw.back() == '>' || raw.back() == '"')) raw.remove_suffix(1);
    std::string out(raw);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view domain_of(std::string_view address) {
    auto at = address.rfind('@');
    if (at == std::string_view::npos) return {};
    return address.substr(at + 1);
}

void assign_owner(invitation& inv, std::string_view mailbox) {
    const std::string want = normalize_address(mailbox);
    inv.owner.reset();
    for (const auto& a : inv.attendees) {
        if (a.address == want) {
            inv.owner = a;
            return;
        }
    }
}

std::string format_utc(time_point t) {
    using namespace std::chrono;
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf;
}

std::string format_date(time_point t) {
    return format_utc(t).substr(0, 10);
}

}  // namespace agendad::calendar
