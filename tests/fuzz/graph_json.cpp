// Microsoft Graph JSON → invitations (calendar/graph/graph_json.h): the same body read as an
// event (GET /events/{id}), a page of events (delta, calendarView), an error answer and a page of
// group members, as the Graph source reads what Microsoft sends; and the body as the comment of
// a response, as a reply text from a policy would be.
//
// Invariants: nothing throws (each reader documents it); a refused body comes with a message;
// an event's text is well-formed UTF-8 (Boost.JSON refuses anything else, and html_to_text must
// not break it) and it names `where`; an error's code and message are trimmed UTF-8 within 200
// and 1,000 bytes (plus "…"); members have lower-case addresses; response_body is UTF-8.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "calendar/graph/graph_json.h"
#include "fuzz_support.h"

namespace {

using namespace agendad;
using namespace agendad::calendar;
using fuzz::require;

constexpr std::string_view mailbox = "dana.whitfield@contoso.example";
constexpr std::string_view where = "mailbox dana.whitfield@contoso.example, fuzz";

void check_event(const graph::event& e) {
    const invitation& inv = e.inv;
    require(inv.source.file == where, "graph: an event that does not name where it came from");
    fuzz::check_invitation(inv, mailbox, "graph");
    for (const auto& p : e.problems) require(!p.message.empty(), "graph: a problem without a message");
}

bool trimmed(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    return s.empty() || (!space(s.front()) && !space(s.back()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);

    std::string error;
    if (auto e = graph::parse_event(body, mailbox, where, error)) {
        check_event(*e);
    } else {
        require(!error.empty(), "parse_event: refused without a reason");
    }

    const graph::parsed_page page = graph::parse_event_page(body, mailbox, where);
    if (page.value) {
        require(page.value->events.size() <= 10'000, "parse_event_page: over 10,000 items");
        for (const auto& e : page.value->events) check_event(e);
    } else {
        require(!page.error.empty(), "parse_event_page: refused without a reason");
    }

    if (auto ge = graph::parse_error(body)) {
        require(ge->code.size() <= 200 && ge->message.size() <= 1000 + 3,
                "parse_error: code or message over its bound");
        require(fuzz::valid_utf8(ge->code) && fuzz::valid_utf8(ge->message),
                "parse_error: not UTF-8");
        require(trimmed(ge->code) && trimmed(ge->message), "parse_error: not trimmed");
    }

    error.clear();
    if (auto members = graph::parse_member_page(body, error)) {
        for (const auto& m : members->members) {
            require(!m.address.empty(), "parse_member_page: a member without an address");
            require(m.address == encoding::lower(m.address),
                    "parse_member_page: an address not in lower case", m.address);
        }
    } else {
        require(!error.empty(), "parse_member_page: refused without a reason");
    }

    require(fuzz::valid_utf8(graph::response_body(body, size % 2 == 0)),
            "response_body: not UTF-8");
    return 0;
}
