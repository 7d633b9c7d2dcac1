// iCalendar → Microsoft Graph v1.0 `event` JSON, for tests that serve a labelled mailbox through
// the fake Graph (support/fake_graph.h). Each VEVENT becomes the event as Exchange would show it
// in the owner's calendar: the same organizer, attendees, body, times, recurrence and the owner's
// answer, so that agendad's policy reaches the same decision from the Graph event as from the
// .ics. Times are written in UTC (the fake reads them as UTC); the recurrence pattern keeps the
// organizer's weekdays. Boost.JSON stays in the .cpp.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::test_support {

struct graph_event {
    std::string uid;   // the iCalendar UID (= iCalUId)
    std::string id;    // the Graph id: graph_event_id(uid), or with the instance for exceptions
    std::string json;  // the event object, serialised
};

// A Graph-looking id ("AAMkAD...", URL-safe) that depends only on the UID (and, for an
// exception of a series, its RECURRENCE-ID as "YYYYMMDDTHHMMSSZ").
std::string graph_event_id(std::string_view uid, std::string_view recurrence_id = "");

// Every VEVENT of `ics` as a Graph event of `owner`'s mailbox. METHOD:CANCEL or STATUS:CANCELLED
// give isCancelled; the owner's PARTSTAT gives responseStatus (NEEDS-ACTION → notResponded,
// organizer → organizer), RSVP=FALSE or a NON-PARTICIPANT role responseRequested false; X-ALT-DESC
// (text/html) is the body when present, else DESCRIPTION as text. Throws std::runtime_error
// (naming `file`) when the text cannot be parsed or an event cannot be read.
std::vector<graph_event> graph_events_from_ics(std::string_view ics, std::string_view file,
                                               std::string_view owner);
std::vector<graph_event> graph_events_from_file(const std::filesystem::path& file,
                                                std::string_view owner);

}  // namespace agendad::test_support
