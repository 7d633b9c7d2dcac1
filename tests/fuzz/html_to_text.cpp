// HTML → text (calendar/html_to_text.h), as every source converts an organizer's HTML body
// before the policy reads it and explain or a reply quotes it.
//
// Invariants, for input that is well-formed UTF-8 without control characters other than white
// space (what the sources hand over: the iCalendar parser repairs the encoding, Boost.JSON
// refuses anything else): the text is well-formed UTF-8 (no character cut in two, no reference
// turned into a surrogate) and holds no control character but '\n' and '\t', so that nothing a
// stranger writes as "&#27;" reaches a terminal as an escape sequence. For any input: no '\r'
// and no crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "calendar/html_to_text.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace agendad;
    const std::string_view html(reinterpret_cast<const char*>(data), size);
    (void)calendar::looks_like_html(html);
    const std::string text = calendar::html_to_text(html);
    fuzz::require(text.find('\r') == std::string::npos, "html_to_text: a carriage return");
    if (fuzz::valid_utf8(html)) {
        fuzz::require(fuzz::valid_utf8(text), "html_to_text: UTF-8 in, not UTF-8 out");
        if (!fuzz::has_control(html, "\t\n\r\f")) {
            fuzz::require(!fuzz::has_control(text, "\t\n"), "html_to_text: a control character");
        }
    }
    return 0;
}
