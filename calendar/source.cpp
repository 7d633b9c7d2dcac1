#include "calendar/source.h"

#include "calendar/http/http_client.h"

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

source_failure failure_kind_of(http::failure f) {
    switch (f) {
        case http::failure::tls:
            return source_failure::denied;
        case http::failure::too_large:
            return source_failure::invalid;
        case http::failure::resolve:
        case http::failure::connect:
        case http::failure::timeout:
        case http::failure::protocol:
            return source_failure::transient;
    }
    return source_failure::transient;
}

}  // namespace agendad::calendar
