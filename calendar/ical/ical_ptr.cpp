#include "calendar/ical/ical_ptr.h"

#include <mutex>
#include <string>

namespace agendad::calendar::ical {

void ensure_initialised() {
    static std::once_flag once;
    std::call_once(once, [] { icalerror_set_errors_are_fatal(0); });
}

component_ptr parse_string(std::string_view checked_text) {
    ensure_initialised();
    // icalparser_parse_string needs a NUL-terminated buffer.
    const std::string buffer(checked_text);
    component_ptr root{icalparser_parse_string(buffer.c_str())};
    icalerror_clear_errno();
    return root;
}

partstat from_ical(icalparameter_partstat p) {
    switch (p) {
        case ICAL_PARTSTAT_NEEDSACTION:
            return partstat::needs_action;
        case ICAL_PARTSTAT_ACCEPTED:
            return partstat::accepted;
        case ICAL_PARTSTAT_DECLINED:
            return partstat::declined;
        case ICAL_PARTSTAT_TENTATIVE:
            return partstat::tentative;
        case ICAL_PARTSTAT_DELEGATED:
            return partstat::delegated;
        case ICAL_PARTSTAT_NONE:
            return partstat::none;
        default:
            return partstat::other;
    }
}

std::optional<icalparameter_partstat> to_ical(partstat p) {
    switch (p) {
        case partstat::accepted:
            return ICAL_PARTSTAT_ACCEPTED;
        case partstat::declined:
            return ICAL_PARTSTAT_DECLINED;
        case partstat::tentative:
            return ICAL_PARTSTAT_TENTATIVE;
        case partstat::needs_action:
            return ICAL_PARTSTAT_NEEDSACTION;
        case partstat::delegated:
            return ICAL_PARTSTAT_DELEGATED;
        case partstat::none:
        case partstat::other:
            break;
    }
    return std::nullopt;
}

}  // namespace agendad::calendar::ical
