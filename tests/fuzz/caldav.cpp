// The CalDAV source's path from a server's answer to invitations: a 207 multistatus body
// (calendar/caldav/webdav.h parse_multistatus, as sync-collection, PROPFIND and
// calendar-multiget answers are read), then each resource's calendar-data through parse_ics for
// the owner's mailbox, as caldav_source does; and a DAV:error body (error_conditions), as read
// after a refused sync token.
//
// Invariants: no exception escapes; a refused body is an error sentence; every resource has an
// href and an HTTP status (100-599); each calendar-data either parses or is one diagnostic naming
// the href, and its events name the href and carry the owner's own entry only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "calendar/caldav/webdav.h"
#include "calendar/ical/parse.h"
#include "fuzz_support.h"

namespace {

using namespace agendad;
using fuzz::require;

constexpr std::string_view mailbox = "dana.whitfield@contoso.example";

void check_calendar_data(const std::string& href, const std::string& text) {
    const auto parsed = calendar::parse_ics(text, href, calendar::parse_options{std::string(mailbox)});
    if (!parsed) {
        require(parsed.error().file == href, "caldav: a calendar-data error that does not name the href");
        require(!parsed.error().message.empty(), "caldav: a calendar-data error without a message");
        return;
    }
    for (const auto& e : parsed->events) {
        require(e.source.file == href, "caldav: an event that does not name its href");
        if (e.owner) require(e.owner->address == mailbox, "caldav: the owner's entry is someone else's");
    }
    for (const auto& d : parsed->errors) {
        require(d.file == href && !d.message.empty(), "caldav: an event error without file or message");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const auto ms = calendar::caldav::parse_multistatus(body);
    if (!ms) {
        require(!ms.error().empty(), "parse_multistatus: an error without a message");
    } else {
        for (const auto& r : ms->responses) {
            require(!r.href.empty(), "parse_multistatus: a resource without an href");
            require(r.status >= 100 && r.status <= 599, "parse_multistatus: not an HTTP status");
            if (r.calendar_data) check_calendar_data(r.href, *r.calendar_data);
        }
    }
    for (const auto& condition : calendar::caldav::error_conditions(body)) {
        require(!condition.empty(), "error_conditions: an empty condition name");
    }
    return 0;
}
