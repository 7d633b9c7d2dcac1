#include "calendar/diagnostic.h"

namespace agendad {

std::string diagnostic::to_string() const {
    std::string out = file.empty() ? std::string("<input>") : file;
    if (line > 0) {
        out += ':' + std::to_string(line);
        if (column > 0) out += ':' + std::to_string(column);
    }
    out += ": ";
    out += message;
    return out;
}

}  // namespace agendad
