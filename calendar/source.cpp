#include "calendar/source.h"

namespace agendad::calendar {

std::string_view name_of(source_failure f) {
    switch (f) {
        case source_failure::transient:
            return "transient";
        case source_failure::conflict:
            return "conflict";
        case source_failure::gone:
            return "gone";
        case source_failure::denied:
            return "denied";
        case source_failure::invalid:
            return "invalid";
    }
    return "unknown";
}

}  // namespace agendad::calendar
