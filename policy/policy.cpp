#include "policy/policy.h"

namespace agendad::policy {

std::string_view name_of(action a) {
    switch (a) {
        case action::leave:
            return "leave";
        case action::accept:
            return "accept";
        case action::request_agenda:
            return "request_agenda";
        case action::decline:
            return "decline";
    }
    return "leave";
}

std::optional<action> action_from_name(std::string_view name) {
    for (action a : {action::leave, action::accept, action::request_agenda, action::decline}) {
        if (name_of(a) == name) return a;
    }
    return std::nullopt;
}

std::string_view name_of(mode m) {
    return m == mode::enforce ? "enforce" : "dry-run";
}

}  // namespace agendad::policy
