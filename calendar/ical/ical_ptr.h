// RAII owners for libical objects, and the one place that initialises libical's error mode.
// Only calendar/ical/*.cpp include this: libical must not leak into the model's headers.
#pragma once

#include <libical/ical.h>

#include <memory>
#include <optional>
#include <string_view>

#include "calendar/invitation.h"

namespace agendad::calendar::ical {

struct component_deleter {
    void operator()(icalcomponent* c) const noexcept { icalcomponent_free(c); }
};
// Owns a root component (and so its whole tree: properties, parameters, sub-components).
using component_ptr = std::unique_ptr<icalcomponent, component_deleter>;

struct recur_iterator_deleter {
    void operator()(icalrecur_iterator* it) const noexcept { icalrecur_iterator_free(it); }
};
using recur_iterator_ptr = std::unique_ptr<icalrecur_iterator, recur_iterator_deleter>;

struct string_deleter {
    void operator()(char* s) const noexcept { icalmemory_free_buffer(s); }
};
// A string that libical allocated for the caller (the *_r functions).
using owned_string = std::unique_ptr<char, string_deleter>;

// Makes libical report errors as values instead of aborting; idempotent, cheap after the first
// call.
void ensure_initialised();

// Parses text that prescan() has checked; never returns a tree with unbalanced components.
component_ptr parse_string(std::string_view checked_text);

// PARTSTAT between libical and the model. An answer an attendee can give (accepted, declined,
// tentative, needs_action, delegated) has a libical value; none and other have not.
partstat from_ical(icalparameter_partstat p);
std::optional<icalparameter_partstat> to_ical(partstat p);

}  // namespace agendad::calendar::ical
