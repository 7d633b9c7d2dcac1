// The iMIP message builder (calendar/imip.h build_imip) on what a reply is made of: names,
// addresses and a subject taken from invitations (strangers' text), the reply text from a policy
// and the iTIP object, as the CalDAV source mails a reply through SMTP.
//
// Input: the message's fields, read with byte_reader (each either a plausible value or bytes
// from the input), then the reply text.
// Invariants: build_imip refuses a From or To that is not a plain address, and otherwise builds
// a message in which nothing can be injected: CRLF line ends only, no line over 998 characters
// or starting with '.', exactly the documented header fields once each (a continuation line
// starts with white space), two parts with their own two fields, the closing boundary last; the
// calendar part decodes to the calendar exactly, and the text part decodes to the text (for text
// that is UTF-8 with LF line ends).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/encoding.h"
#include "calendar/imip.h"
#include "fuzz_support.h"

namespace {

using namespace agendad;
using fuzz::require;

constexpr std::string_view addresses[] = {"dana.whitfield@contoso.example",
                                          "brianna.cole@veritycloud.example",
                                          "a@b",
                                          "o'neil+tag@sub.example.org"};
constexpr std::string_view names[] = {"", "Dana Whitfield", "Cole, Brianna", "Zoë Ångström",
                                      "\"Quoted\" \\ Name", "=?UTF-8?B?SGk=?="};
constexpr std::string_view subjects[] = {"Declined: Quick sync", "Déclinée : réunion",
                                         "Tentative: Q3 planning — budget", ""};
constexpr std::string_view methods[] = {"REPLY", "reply", "REQUEST", "CANCEL"};
constexpr std::string_view message_ids[] = {"0123456789abcdef@agendad", "x.y@agendad.example"};

std::vector<std::string_view> lines_of(std::string_view s) {
    std::vector<std::string_view> out;
    while (!s.empty()) {
        const auto end = s.find("\r\n");
        out.push_back(s.substr(0, end));
        if (end == std::string_view::npos) break;
        s.remove_prefix(end + 2);
    }
    return out;
}

bool is_plain_address(std::string_view a) {
    return a.find('@') != std::string_view::npos &&
           a.find_first_of(std::string_view(" \t\r\n<>\",;:\0", 11)) == std::string_view::npos;
}

// Quoted-printable (RFC 2045 §6.7) back to bytes, hard line breaks as LF.
std::string decode_qp(std::string_view qp) {
    std::string out;
    for (std::size_t i = 0; i < qp.size(); ++i) {
        if (qp.substr(i, 3) == "=\r\n") {
            i += 2;
        } else if (qp.substr(i, 2) == "\r\n") {
            out += '\n';
            ++i;
        } else if (qp[i] == '=') {
            require(i + 2 < qp.size(), "build_imip: '=' at the end of the text part");
            out += static_cast<char>(std::stoi(std::string(qp.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += qp[i];
        }
    }
    return out;
}

// One part's fields and body, from after its boundary line to the next boundary line.
std::string_view part_body(std::string_view part, std::string_view encoding) {
    const auto end = part.find("\r\n\r\n");
    require(end != std::string_view::npos, "build_imip: a part without a blank line");
    std::map<std::string, int> seen;
    for (std::string_view l : lines_of(part.substr(0, end))) {
        if (l.front() == ' ' || l.front() == '\t') continue;
        const auto colon = l.find(':');
        require(colon != std::string_view::npos, "build_imip: a part's field without a colon", l);
        ++seen[std::string(l.substr(0, colon))];
    }
    require(seen == std::map<std::string, int>{{"Content-Type", 1}, {"Content-Transfer-Encoding", 1}},
            "build_imip: a part with other fields");
    require(part.substr(0, end).find(encoding) != std::string_view::npos,
            "build_imip: a part in another encoding", encoding);
    return part.substr(end + 4);
}

void check_message(const calendar::imip_message& m, const std::string& out) {
    for (std::size_t i = 0; i < out.size(); ++i) {
        if (out[i] == '\n') require(i > 0 && out[i - 1] == '\r', "build_imip: a bare LF");
        if (out[i] == '\r') require(i + 1 < out.size() && out[i + 1] == '\n', "build_imip: a bare CR");
    }
    require(out.ends_with("\r\n"), "build_imip: the message does not end with CRLF");
    for (std::string_view l : lines_of(out)) {
        require(l.size() <= 998, "build_imip: a line over 998 characters");
        require(!l.starts_with("."), "build_imip: a line starting with '.'", l);
    }
    const auto header_end = out.find("\r\n\r\n");
    require(header_end != std::string::npos, "build_imip: no end of the header");
    std::map<std::string, int> fields;
    std::string boundary;
    std::string_view last_field;
    for (std::string_view l : lines_of(std::string_view(out).substr(0, header_end))) {
        require(!l.empty(), "build_imip: an empty header line");
        if (l.front() == ' ' || l.front() == '\t') {
            require(!last_field.empty(), "build_imip: a continuation before any field");
            if (last_field == "Content-Type" && l.find("boundary=\"") != std::string_view::npos) {
                const auto b = l.find("boundary=\"") + 10;
                boundary = std::string(l.substr(b, l.find('"', b) - b));
            }
            continue;
        }
        const auto colon = l.find(':');
        require(colon != std::string_view::npos, "build_imip: a header line without a colon", l);
        last_field = l.substr(0, colon);
        ++fields[std::string(last_field)];
        if (last_field == "Content-Type" && l.find("boundary=\"") != std::string_view::npos) {
            const auto b = l.find("boundary=\"") + 10;
            boundary = std::string(l.substr(b, l.find('"', b) - b));
        }
    }
    const std::map<std::string, int> expected{
        {"Date", 1},    {"From", 1},         {"To", 1},           {"Subject", 1},
        {"Message-ID", 1}, {"Auto-Submitted", 1}, {"MIME-Version", 1}, {"Content-Type", 1}};
    require(fields == expected, "build_imip: header fields other than the documented ones");
    require(!boundary.empty(), "build_imip: no boundary");

    const std::string open = "\r\n--" + boundary + "\r\n";
    const std::string close = "\r\n--" + boundary + "--\r\n";
    const std::string_view body = std::string_view(out).substr(header_end + 2);
    require(body.starts_with(open), "build_imip: the body does not open with the boundary");
    require(body.ends_with(close), "build_imip: the body does not end with the closing boundary");
    const std::string_view inner = body.substr(open.size(), body.size() - open.size() - close.size());
    const auto split = inner.find(open);
    require(split != std::string_view::npos, "build_imip: not two parts");
    require(inner.find(open, split + 1) == std::string_view::npos, "build_imip: more than two parts");
    require(inner.find("--" + boundary + "--") == std::string_view::npos,
            "build_imip: the closing boundary inside a part");

    const std::string text = decode_qp(part_body(inner.substr(0, split), "quoted-printable"));
    if (fuzz::valid_utf8(m.text) && m.text.find('\r') == std::string::npos) {
        require(text == m.text, "build_imip: the text part does not decode to the text");
    }
    std::string b64;
    for (char c : part_body(inner.substr(split + open.size()), "base64")) {
        if (c != '\r' && c != '\n') b64 += c;
    }
    const auto calendar = calendar::encoding::base64_decode(b64);
    require(calendar && *calendar == m.calendar, "build_imip: the calendar part is not the calendar");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::byte_reader in(data, size);
    calendar::imip_message m;
    m.from = in.pick(addresses);
    m.from_name = in.pick(names);
    m.to = in.pick(addresses);
    m.to_name = in.pick(names);
    m.subject = in.pick(subjects);
    m.method = in.pick(methods);
    m.message_id = in.pick(message_ids);
    // Any moment a clock can give, from 1970 to the end of year 9999.
    m.date = calendar::time_point{std::chrono::seconds{in.in_range(0, 253402300799)}};
    if (in.flag()) {
        // Usually a calendar whose METHOD matches, so that the rest of the message is built.
        m.calendar = "BEGIN:VCALENDAR\r\nMETHOD:" + m.method + "\r\n" + in.string() +
                     "\r\nEND:VCALENDAR\r\n";
    } else {
        m.calendar = in.string();
    }
    m.text = in.rest();

    const auto built = calendar::build_imip(m);
    if (!is_plain_address(m.from) || !is_plain_address(m.to)) {
        require(!built, "build_imip: accepted an address that is not one", m.from + " / " + m.to);
    }
    if (!built) {
        require(!built.error().empty(), "build_imip: refused without a reason");
        return 0;
    }
    check_message(m, *built);
    return 0;
}
