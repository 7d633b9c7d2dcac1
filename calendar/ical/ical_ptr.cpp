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

}  // namespace agendad::calendar::ical
