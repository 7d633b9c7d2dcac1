// A line-numbered structural check of iCalendar text, run before libical parses it.
// libical is lenient and has no line numbers: this pass finds what would make it drop data
// silently or print warnings (unbalanced BEGIN/END, lines that are not content lines, NUL bytes)
// and says where, and it records where each property starts so later errors can name a line.
#pragma once

#include <boost/system/result.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/diagnostic.h"

namespace agendad::calendar::ical {

struct scanned_line {
    int line = 0;              // physical line where the logical (unfolded) line starts
    std::size_t begin = 0;     // offset of the logical line in scan::text()
    std::size_t end = 0;       // one past its last byte, folds included
    std::size_t value_at = 0;  // offset of the first byte after the ':' that starts the value
    // The property name: name_length bytes at `begin` as written (any case), or, when a fold
    // runs through the name, entry `folded_name` of the scan's unfolded names. Read it through
    // scan::name_of / scan::name_is: names are not copied, most are longer than a small string.
    std::size_t name_length = 0;
    int folded_name = -1;
};

struct scanned_component {
    std::string name;       // upper-case ("VEVENT")
    int begin_line = 0;     // line of BEGIN:
    std::size_t first = 0;  // index into scan::lines of the BEGIN line
    std::size_t last = 0;   // index of the END line
    int depth = 0;          // 0 for a root component
};

class scan {
  public:
    // The text to hand to libical: the input without a BOM, with line breaks normalised and
    // invalid UTF-8 re-read as Windows-1252 where that was needed.
    std::string_view text() const { return owned_.empty() ? original_ : std::string_view(owned_); }
    const std::vector<scanned_line>& lines() const { return lines_; }
    const std::vector<scanned_component>& components() const { return components_; }
    const std::vector<std::string>& warnings() const { return warnings_; }

    // The unfolded value of a scanned line (for matching libical's error messages).
    std::string unfolded_value(const scanned_line& l) const;
    // The line's property name as written ("DTSTART", "dtstart", "Agenda").
    std::string_view name_of(const scanned_line& l) const;
    // Whether the name is `upper` (given in upper case), compared case-insensitively.
    bool name_is(const scanned_line& l, std::string_view upper) const;

  private:
    friend boost::system::result<scan, diagnostic> prescan(std::string_view, std::string_view,
                                                           std::size_t);
    std::string_view original_;
    std::string owned_;
    std::vector<scanned_line> lines_;
    std::vector<std::string> folded_names_;
    std::vector<scanned_component> components_;
    std::vector<std::string> warnings_;
};

// Components nest deeper than this only in hostile input; libical frees trees recursively.
inline constexpr int max_component_depth = 16;

// Checks `text` (named `file` in diagnostics). Fails with the first structural problem.
// The result refers to `text`: keep it alive while the scan is used.
boost::system::result<scan, diagnostic> prescan(std::string_view text, std::string_view file,
                                                std::size_t max_bytes);

}  // namespace agendad::calendar::ical
