// A problem found in an input file, located as precisely as the input allows.
// Shared by the iCalendar parser and the config loader so that every error reads the same way.
#pragma once

#include <string>

namespace agendad {

struct diagnostic {
    std::string file;     // path or source name as the user gave it
    int line = 0;         // 1-based; 0 when unknown
    int column = 0;       // 1-based; 0 when unknown
    std::string message;  // what is wrong, without the location

    // "file:line:column: message", leaving out the parts that are unknown.
    std::string to_string() const;
};

}  // namespace agendad
