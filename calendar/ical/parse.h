// iCalendar text → normalised invitations, through libical. Every VEVENT becomes one
// `invitation`; problems are diagnostics that name the file and line, never crashes or exceptions.
#pragma once

#include <boost/system/result.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/diagnostic.h"
#include "calendar/invitation.h"

namespace agendad::calendar {

struct parse_options {
    // When set, each invitation's `owner` is the attendee entry with this address.
    std::string mailbox;
    // Larger inputs are refused before parsing.
    std::size_t max_bytes = std::size_t{64} << 20;
};

struct parsed_calendar {
    // One per VEVENT that could be normalised, in file order.
    std::vector<invitation> events;
    // One per VEVENT that could not (a DTSTART libical could not read, ...). Such an event is
    // left out of `events`: nobody should act on half an invitation.
    std::vector<diagnostic> errors;
    // Non-fatal notes about the file as a whole (encoding repaired, ...).
    std::vector<std::string> warnings;
};

// Parses `text`; `file` names it in diagnostics. Fails as a whole only when the text is not
// iCalendar at all or is structurally broken (unbalanced BEGIN/END, a line that is not a
// content line, NUL bytes, over max_bytes).
boost::system::result<parsed_calendar, diagnostic> parse_ics(std::string_view text,
                                                             std::string_view file,
                                                             const parse_options& options = {});

// Reads and parses a file; read errors are diagnostics too.
boost::system::result<parsed_calendar, diagnostic> parse_ics_file(
    const std::filesystem::path& path, const parse_options& options = {});

// The event that stands for a whole scheduling message: the series master (no RECURRENCE-ID)
// if there is one, else the first event; nullptr when there are no events.
const invitation* primary_event(const parsed_calendar& calendar);

}  // namespace agendad::calendar
