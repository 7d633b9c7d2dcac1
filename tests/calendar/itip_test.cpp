// Tests for calendar/ical/itip (the iTIP REPLY) and calendar/imip (the mail that carries it):
// each asserts what a receiving calendar or mail program would see, read back by parse_ics or by
// the small, independent readers below (content lines, MIME parts, RFC 2047, QP, base64).
#include "calendar/ical/itip.h"
#include "calendar/imip.h"
#include "support/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/ical/parse.h"

namespace agendad::calendar {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

const fs::path invites_dir = fs::path(AGENDAD_SHARED_DIR) / "labeled-invitations" / "invites";
constexpr std::string_view owner_mailbox = "dana.whitfield@contoso.example";
constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

time_point at(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
    using namespace std::chrono;
    return time_point{sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi}};
}

const time_point evaluation_time = at(2026, 11, 20, 9, 0);

std::string crlf(std::string_view lf_text) {
    std::string out;
    for (const char c : lf_text) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Reading iCalendar back

// The one invitation of a file, parsed for the mailbox owner.
invitation invite(const std::string& file) {
    parse_options options;
    options.mailbox = std::string(owner_mailbox);
    auto parsed = parse_ics_file(invites_dir / file, options);
    EXPECT_TRUE(parsed.has_value()) << file;
    if (!parsed.has_value() || parsed->events.empty()) {
        ADD_FAILURE() << file << ": no event";
        return {};
    }
    return *primary_event(*parsed);
}

invitation invite_from_text(std::string_view lf_text, bool want_instance) {
    parse_options options;
    options.mailbox = std::string(owner_mailbox);
    auto parsed = parse_ics(crlf(lf_text), "inline.ics", options);
    EXPECT_TRUE(parsed.has_value());
    if (!parsed.has_value()) return {};
    EXPECT_THAT(parsed->errors, IsEmpty());
    for (const auto& e : parsed->events) {
        if (e.recurrence_id.has_value() == want_instance) return e;
    }
    ADD_FAILURE() << "no matching event";
    return {};
}

// What a receiving calendar reads: exactly one event, with nothing to complain about.
invitation read_back(const std::string& reply) {
    auto parsed = parse_ics(reply, "reply.ics");
    EXPECT_TRUE(parsed.has_value()) << (parsed.has_value() ? "" : parsed.error().message);
    if (!parsed.has_value()) return {};
    EXPECT_THAT(parsed->errors, IsEmpty());
    EXPECT_THAT(parsed->warnings, IsEmpty());
    EXPECT_EQ(parsed->events.size(), 1u);
    if (parsed->events.empty()) return {};
    EXPECT_THAT(parsed->events.front().warnings, IsEmpty());
    return parsed->events.front();
}

struct content_line {
    std::string name;
    std::map<std::string, std::string> params;  // values without their quotes
    std::string value;                          // as written (still escaped)
};

// Unfolds (RFC 5545 §3.1) and splits into content lines; expects CRLF line ends.
std::vector<content_line> content_lines(std::string_view text) {
    std::string unfolded;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text.substr(i, 2) == "\r\n" && i + 2 < text.size() &&
            (text[i + 2] == ' ' || text[i + 2] == '\t')) {
            i += 2;
            continue;
        }
        unfolded += text[i];
    }
    std::vector<content_line> out;
    std::string_view rest = unfolded;
    while (!rest.empty()) {
        const auto end = rest.find("\r\n");
        const std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 2);
        content_line cl;
        std::size_t i = 0;
        while (i < line.size() && line[i] != ';' && line[i] != ':') cl.name += line[i++];
        while (i < line.size() && line[i] == ';') {
            ++i;
            std::string param;
            while (i < line.size() && line[i] != '=') param += line[i++];
            ++i;
            std::string value;
            bool quoted = false;
            while (i < line.size() && (quoted || (line[i] != ';' && line[i] != ':'))) {
                if (line[i] == '"')
                    quoted = !quoted;
                else
                    value += line[i];
                ++i;
            }
            cl.params[param] = value;
        }
        if (i < line.size()) cl.value = std::string(line.substr(i + 1));
        out.push_back(std::move(cl));
    }
    return out;
}

std::vector<content_line> named(const std::vector<content_line>& lines, std::string_view name) {
    std::vector<content_line> out;
    std::copy_if(lines.begin(), lines.end(), std::back_inserter(out),
                 [&](const content_line& l) { return l.name == name; });
    return out;
}

// RFC 5545 §3.3.11 TEXT unescaping.
std::string unescape_text(std::string_view v) {
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) {
            const char next = v[++i];
            out += (next == 'n' || next == 'N') ? '\n' : next;
        } else {
            out += v[i];
        }
    }
    return out;
}

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t n = b < 0x80                 ? 1
                        : b >= 0xC2 && b <= 0xDF ? 2
                        : b >= 0xE0 && b <= 0xEF ? 3
                        : b >= 0xF0 && b <= 0xF4 ? 4
                                                 : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        }
        if (n == 3) {
            const auto second = static_cast<unsigned char>(s[i + 1]);
            if ((b == 0xE0 && second < 0xA0) || (b == 0xED && second > 0x9F)) return false;
        }
        if (n == 4) {
            const auto second = static_cast<unsigned char>(s[i + 1]);
            if ((b == 0xF0 && second < 0x90) || (b == 0xF4 && second > 0x8F)) return false;
        }
        i += n;
    }
    return true;
}

// CRLF after every line and nowhere else, no line over `max_octets`, no control characters
// other than the line ends and tabs.
void expect_wire_format(std::string_view text, std::size_t max_octets) {
    ASSERT_TRUE(text.ends_with("\r\n"));
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto b = static_cast<unsigned char>(text[i]);
        if (text[i] == '\r') {
            ASSERT_TRUE(i + 1 < text.size() && text[i + 1] == '\n') << "bare CR at " << i;
            EXPECT_LE(i - start, max_octets) << "line: " << text.substr(start, i - start);
            start = i + 2;
            ++i;
            continue;
        }
        ASSERT_NE(text[i], '\n') << "bare LF at " << i;
        EXPECT_FALSE((b < 0x20 && b != '\t') || b == 0x7F) << "control " << int{b} << " at " << i;
    }
}

reply_options options_for(partstat status, std::string_view comment) {
    reply_options o;
    o.owner_address = owner_mailbox;
    o.owner_name = "Dana Whitfield";
    o.status = status;
    o.comment = comment;
    o.now = evaluation_time;
    return o;
}

// ---------------------------------------------------------------------------------------------
// build_reply

constexpr std::string_view decline_text =
    "Hi Chris,\nthanks for the invitation; I can't make it.\nBest, Dana";

TEST(build_reply, declines_d01_as_a_receiving_calendar_reads_it) {
    const invitation inv = invite("d01.ics");
    const std::string reply = build_reply(inv, options_for(partstat::declined, decline_text));
    expect_wire_format(reply, 75);

    const invitation back = read_back(reply);
    EXPECT_EQ(back.method, method::reply);
    EXPECT_EQ(back.uid, inv.uid);
    EXPECT_EQ(back.sequence, inv.sequence);
    EXPECT_EQ(back.organizer.address, "chris.dalton@pipelinepro.example");
    EXPECT_EQ(back.organizer.name, "Chris Dalton");
    EXPECT_THAT(back.organizer.sent_by, IsEmpty());
    ASSERT_EQ(back.attendees.size(), 1u);
    EXPECT_EQ(back.attendees[0].address, owner_mailbox);
    EXPECT_EQ(back.attendees[0].name, "Dana Whitfield");
    EXPECT_EQ(back.attendees[0].partstat, partstat::declined);
    EXPECT_EQ(back.subject, "Quick intro - 15 minutes?");
    EXPECT_EQ(back.start, at(2026, 11, 24, 18, 0));
    EXPECT_EQ(back.end, at(2026, 11, 24, 18, 15));
    EXPECT_FALSE(back.recurrence_id.has_value());

    const auto lines = content_lines(reply);
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines.front().name, "BEGIN");
    EXPECT_EQ(lines.front().value, "VCALENDAR");
    ASSERT_EQ(named(lines, "METHOD").size(), 1u);
    EXPECT_EQ(named(lines, "METHOD")[0].value, "REPLY");
    ASSERT_EQ(named(lines, "VERSION").size(), 1u);
    EXPECT_EQ(named(lines, "VERSION")[0].value, "2.0");
    ASSERT_EQ(named(lines, "PRODID").size(), 1u);
    EXPECT_EQ(named(lines, "PRODID")[0].value, "-//agendad//agendad//EN");
    ASSERT_EQ(named(lines, "DTSTART").size(), 1u);
    EXPECT_EQ(named(lines, "DTSTART")[0].value, "20261124T180000Z");
    ASSERT_EQ(named(lines, "DTSTAMP").size(), 1u);
    EXPECT_EQ(named(lines, "DTSTAMP")[0].value, "20261120T090000Z");
    ASSERT_EQ(named(lines, "SEQUENCE").size(), 1u);
    EXPECT_EQ(named(lines, "SEQUENCE")[0].value, "0");
    ASSERT_EQ(named(lines, "COMMENT").size(), 1u);
    EXPECT_EQ(unescape_text(named(lines, "COMMENT")[0].value), decline_text);
    ASSERT_EQ(named(lines, "ORGANIZER").size(), 1u);
    EXPECT_EQ(named(lines, "ORGANIZER")[0].params.count("SENT-BY"), 0u);
    ASSERT_EQ(named(lines, "ATTENDEE").size(), 1u);
    EXPECT_EQ(named(lines, "ATTENDEE")[0].params.at("PARTSTAT"), "DECLINED");
    EXPECT_EQ(named(lines, "ATTENDEE")[0].value, "mailto:dana.whitfield@contoso.example");
    // A reply speaks for one attendee and carries nothing else of the request.
    EXPECT_THAT(named(lines, "DESCRIPTION"), IsEmpty());
    EXPECT_THAT(named(lines, "LOCATION"), IsEmpty());
    EXPECT_THAT(named(lines, "RRULE"), IsEmpty());
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                            [](const content_line& l) { return l.name == "BEGIN"; }),
              2);
}

TEST(build_reply, accepts_one_instance_of_a_series_by_its_recurrence_id) {
    const invitation inv = invite_from_text(R"(BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
METHOD:REQUEST
BEGIN:VEVENT
UID:weekly-1@example.com
SEQUENCE:3
DTSTAMP:20261120T080000Z
DTSTART;TZID=Europe/Berlin:20261201T100000
DTEND;TZID=Europe/Berlin:20261201T103000
RECURRENCE-ID;TZID=Europe/Berlin:20261201T100000
SUMMARY:Weekly planning (moved)
ORGANIZER;CN="Dalton, Chris":mailto:chris.dalton@pipelinepro.example
ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:Dana.Whitfield@contoso.example
ATTENDEE;PARTSTAT=ACCEPTED:mailto:someone.else@contoso.example
END:VEVENT
END:VCALENDAR
)",
                                            true);
    const std::string reply = build_reply(inv, options_for(partstat::accepted, ""));
    expect_wire_format(reply, 75);

    const invitation back = read_back(reply);
    ASSERT_TRUE(back.recurrence_id.has_value());
    EXPECT_EQ(*back.recurrence_id, at(2026, 12, 1, 9, 0));
    EXPECT_EQ(back.sequence, 3);
    EXPECT_EQ(back.uid, "weekly-1@example.com");
    EXPECT_EQ(back.organizer.name, "Dalton, Chris");
    ASSERT_EQ(back.attendees.size(), 1u);
    EXPECT_EQ(back.attendees[0].partstat, partstat::accepted);

    const auto lines = content_lines(reply);
    ASSERT_EQ(named(lines, "RECURRENCE-ID").size(), 1u);
    EXPECT_EQ(named(lines, "RECURRENCE-ID")[0].value, "20261201T090000Z");
    EXPECT_EQ(named(lines, "SEQUENCE")[0].value, "3");
    // No answer text: no COMMENT at all rather than an empty one.
    EXPECT_THAT(named(lines, "COMMENT"), IsEmpty());
}

TEST(build_reply, answers_an_all_day_event_tentatively_with_dates) {
    const invitation inv = invite("d19.ics");
    ASSERT_TRUE(inv.all_day);
    const std::string reply = build_reply(inv, options_for(partstat::tentative, "Maybe."));
    expect_wire_format(reply, 75);

    const invitation back = read_back(reply);
    EXPECT_TRUE(back.all_day);
    EXPECT_EQ(back.start, at(2026, 11, 26));
    EXPECT_EQ(back.end, at(2026, 11, 27));
    ASSERT_EQ(back.attendees.size(), 1u);
    EXPECT_EQ(back.attendees[0].partstat, partstat::tentative);

    const auto lines = content_lines(reply);
    ASSERT_EQ(named(lines, "DTSTART").size(), 1u);
    EXPECT_EQ(named(lines, "DTSTART")[0].params.at("VALUE"), "DATE");
    EXPECT_EQ(named(lines, "DTSTART")[0].value, "20261126");
    ASSERT_EQ(named(lines, "DTEND").size(), 1u);
    EXPECT_EQ(named(lines, "DTEND")[0].value, "20261127");
}

TEST(build_reply, names_an_all_day_instance_by_its_date) {
    const invitation inv = invite_from_text(R"(BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
METHOD:REQUEST
BEGIN:VEVENT
UID:offsite@example.com
DTSTAMP:20261120T080000Z
DTSTART;VALUE=DATE:20261208
DTEND;VALUE=DATE:20261210
RECURRENCE-ID;VALUE=DATE:20261207
SUMMARY:Offsite
ORGANIZER:mailto:chris.dalton@pipelinepro.example
ATTENDEE:mailto:dana.whitfield@contoso.example
END:VEVENT
END:VCALENDAR
)",
                                            true);
    const std::string reply = build_reply(inv, options_for(partstat::declined, ""));
    const invitation back = read_back(reply);
    EXPECT_EQ(back.recurrence_id, at(2026, 12, 7));
    EXPECT_EQ(back.end, at(2026, 12, 10));

    const auto lines = content_lines(reply);
    ASSERT_EQ(named(lines, "RECURRENCE-ID").size(), 1u);
    EXPECT_EQ(named(lines, "RECURRENCE-ID")[0].params.at("VALUE"), "DATE");
    EXPECT_EQ(named(lines, "RECURRENCE-ID")[0].value, "20261207");
    EXPECT_EQ(named(lines, "DTEND")[0].value, "20261210");
    // No CN for an organizer without a name.
    EXPECT_EQ(named(lines, "ORGANIZER")[0].params.count("CN"), 0u);
}

TEST(build_reply, leaves_out_what_the_invitation_does_not_have) {
    invitation inv;
    inv.uid = "no-start@example.com";
    inv.has_start = false;
    inv.sequence = 2;
    const std::string reply = build_reply(inv, options_for(partstat::declined, ""));
    expect_wire_format(reply, 75);
    const auto lines = content_lines(reply);
    EXPECT_THAT(named(lines, "DTSTART"), IsEmpty());
    EXPECT_THAT(named(lines, "DTEND"), IsEmpty());
    EXPECT_THAT(named(lines, "ORGANIZER"), IsEmpty());
    EXPECT_THAT(named(lines, "SUMMARY"), IsEmpty());
    ASSERT_EQ(named(lines, "UID").size(), 1u);
    EXPECT_EQ(named(lines, "SEQUENCE")[0].value, "2");
    ASSERT_EQ(named(lines, "ATTENDEE").size(), 1u);
    EXPECT_EQ(named(lines, "ATTENDEE")[0].params.count("CN"), 1u);
}

TEST(build_reply, hostile_text_comes_back_as_text) {
    invitation inv = invite("d01.ics");
    // Escapes, a line break that tries to start a property, invalid UTF-8 (a stray continuation
    // byte, a truncated sequence, an overlong '/', a surrogate), NUL and other controls.
    inv.subject = "Hi\r\nATTENDEE:mailto:evil@example.com\nEND:VEVENT; a,b \\n \\ end \xC3";
    const std::string long_part(10000, 'x');
    const std::string comment =
        "Line one\r\nLine two\rLine three\nsemi; comma, back\\slash \\n "
        "\x80 bad \xE2\x82 cut \xC0\xAF over \xED\xA0\x80 surrogate "
        "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\x85 nul\0bell\a"
        "tab\tend "s +
        long_part;
    const std::string reply = build_reply(inv, options_for(partstat::declined, comment));
    expect_wire_format(reply, 75);
    EXPECT_TRUE(valid_utf8(reply));

    const invitation back = read_back(reply);
    ASSERT_EQ(back.attendees.size(), 1u);
    EXPECT_EQ(back.attendees[0].address, owner_mailbox);
    const std::string r(replacement);
    EXPECT_EQ(back.subject,
              "Hi\nATTENDEE:mailto:evil@example.com\nEND:VEVENT; a,b \\n \\ end " + r);

    const auto lines = content_lines(reply);
    ASSERT_EQ(named(lines, "COMMENT").size(), 1u);
    EXPECT_EQ(unescape_text(named(lines, "COMMENT")[0].value),
              "Line one\nLine two\nLine three\nsemi; comma, back\\slash \\n " + r + " bad " + r +
                  " cut " + r + r + " over " + r + r + r +
                  " surrogate caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x93\x85 nul bell "
                  "tab\tend " +
                  long_part);
    EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                            [](const content_line& l) { return l.name == "END"; }),
              2);
}

TEST(build_reply, hostile_names_and_addresses_stay_in_their_parameters) {
    invitation inv = invite("d01.ics");
    inv.organizer.name = "Chris \"The Closer\" Dalton; CEO: ^nobody^ \r\nX-EVIL:1";
    inv.organizer.address = "chris.dalton@pipelinepro.example\r\nATTENDEE:mailto:evil@example.com";
    reply_options o = options_for(partstat::declined, "");
    o.owner_name = "Dana \xFF Whitfield\n";
    const std::string reply = build_reply(inv, o);
    expect_wire_format(reply, 75);
    EXPECT_TRUE(valid_utf8(reply));

    const invitation back = read_back(reply);
    EXPECT_EQ(back.organizer.name, "Chris \"The Closer\" Dalton; CEO: ^nobody^  X-EVIL:1");
    EXPECT_EQ(back.organizer.address,
              "chris.dalton@pipelinepro.exampleattendee:mailto:evil@example.com");
    ASSERT_EQ(back.attendees.size(), 1u);
    EXPECT_EQ(back.attendees[0].name, "Dana " + std::string(replacement) + " Whitfield");
    const auto lines = content_lines(reply);
    EXPECT_THAT(named(lines, "X-EVIL"), IsEmpty());
}

// ---------------------------------------------------------------------------------------------
// Reading mail back

std::string decode_base64(std::string_view in) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    std::uint32_t bits = 0;
    int count = 0;
    for (const char c : in) {
        const int v = value(c);
        if (v < 0) continue;  // line breaks and padding
        bits = (bits << 6) | static_cast<std::uint32_t>(v);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out += static_cast<char>((bits >> count) & 0xFF);
        }
    }
    return out;
}

std::string decode_quoted_printable(std::string_view in) {
    auto hex = [](char c) { return c <= '9' ? c - '0' : c - 'A' + 10; };
    std::string out;
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '=') {
            out += in[i];
        } else if (in.substr(i + 1, 2) == "\r\n") {
            i += 2;  // soft line break
        } else {
            out += static_cast<char>(hex(in[i + 1]) * 16 + hex(in[i + 2]));
            i += 2;
        }
    }
    return out;
}

// RFC 2047: encoded-words decoded, the white space between two of them dropped.
std::string decode_words(std::string_view v) {
    constexpr std::string_view start = "=?UTF-8?B?";
    std::string out, pending_space;
    bool after_word = false;
    for (std::size_t i = 0; i < v.size();) {
        if (v.substr(i, start.size()) == start) {
            const auto end = v.find("?=", i + start.size());
            EXPECT_NE(end, std::string_view::npos);
            EXPECT_LE(end + 2 - i, 75u) << "encoded-word too long";
            if (!after_word) out += pending_space;
            pending_space.clear();
            out += decode_base64(v.substr(i + start.size(), end - i - start.size()));
            after_word = true;
            i = end + 2;
        } else if (v[i] == ' ' || v[i] == '\t') {
            pending_space += v[i++];
        } else {
            out += pending_space;
            pending_space.clear();
            out += v[i++];
            after_word = false;
        }
    }
    return out + pending_space;
}

// A display name as a mail program shows it: quoted-string unquoted, encoded-words decoded.
std::string decode_phrase(std::string_view v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
        std::string out;
        for (std::size_t i = 1; i + 1 < v.size(); ++i) {
            if (v[i] == '\\') ++i;
            out += v[i];
        }
        return out;
    }
    return decode_words(v);
}

struct mail_part {
    std::vector<std::pair<std::string, std::string>> headers;  // name, unfolded value
    std::string body;

    std::vector<std::string> values(std::string_view name) const {
        std::vector<std::string> out;
        for (const auto& [n, v] : headers) {
            if (n == name) out.push_back(v);
        }
        return out;
    }
    std::string value(std::string_view name) const {
        const auto all = values(name);
        EXPECT_EQ(all.size(), 1u) << name;
        return all.empty() ? std::string() : all.front();
    }
};

std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> out;
    while (true) {
        const auto end = text.find("\r\n");
        out.emplace_back(text.substr(0, end));
        if (end == std::string_view::npos) break;
        text.remove_prefix(end + 2);
    }
    return out;
}

// Headers (unfolded: the CRLF before white space removed), a blank line, the body.
mail_part read_part(std::string_view text) {
    mail_part part;
    const auto blank = text.find("\r\n\r\n");
    EXPECT_NE(blank, std::string_view::npos);
    for (const std::string& line : split_lines(text.substr(0, blank))) {
        if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
            EXPECT_FALSE(part.headers.empty());
            if (!part.headers.empty()) part.headers.back().second += line;
            continue;
        }
        const auto colon = line.find(':');
        EXPECT_NE(colon, std::string::npos) << line;
        if (colon == std::string::npos) continue;
        std::string value = line.substr(colon + 1);
        part.headers.emplace_back(line.substr(0, colon), value);
    }
    for (auto& [name, value] : part.headers) {
        value.erase(0, value.find_first_not_of(" \t"));
    }
    if (blank != std::string_view::npos) part.body = std::string(text.substr(blank + 4));
    return part;
}

std::string parameter(std::string_view header_value, std::string_view name) {
    const std::string key = std::string(name) + "=";
    auto at = header_value.find(key);
    if (at == std::string_view::npos) return {};
    std::string_view rest = header_value.substr(at + key.size());
    if (!rest.empty() && rest.front() == '"')
        return std::string(rest.substr(1, rest.find('"', 1) - 1));
    return std::string(rest.substr(0, rest.find(';')));
}

struct mail {
    mail_part top;
    std::vector<mail_part> parts;
    std::string boundary;
};

// The message as a MIME reader splits it: boundary delimiters on lines of their own, the CRLF
// before each delimiter belonging to it (RFC 2046 §5.1.1).
mail read_mail(std::string_view text) {
    mail m;
    m.top = read_part(text);
    m.boundary = parameter(m.top.value("Content-Type"), "boundary");
    EXPECT_FALSE(m.boundary.empty());
    const std::string delimiter = "--" + m.boundary;
    std::string_view body = m.top.body;
    EXPECT_TRUE(body.starts_with(delimiter + "\r\n"));
    EXPECT_TRUE(body.ends_with("\r\n" + delimiter + "--\r\n"));
    if (!body.starts_with(delimiter + "\r\n")) return m;
    body.remove_prefix(delimiter.size() + 2);
    while (true) {
        const auto next = body.find("\r\n" + delimiter);
        if (next == std::string_view::npos) break;
        m.parts.push_back(read_part(body.substr(0, next)));
        body.remove_prefix(next + 2 + delimiter.size());
        if (body.starts_with("--")) break;
        body.remove_prefix(2);  // the CRLF after the delimiter
    }
    return m;
}

// Every line ends in CRLF and has at most 78 characters, and all is 7-bit ASCII.
void expect_mail_wire_format(std::string_view text) {
    expect_wire_format(text, 78);
    EXPECT_TRUE(std::all_of(text.begin(), text.end(), [](char c) { return (c & 0x80) == 0; }));
}

std::string header_block(std::string_view text) {
    return std::string(text.substr(0, text.find("\r\n\r\n") + 2));
}

std::string display_name_of(std::string_view mailbox) {
    const auto open = mailbox.rfind(" <");
    return open == std::string_view::npos ? std::string() : decode_phrase(mailbox.substr(0, open));
}

std::string address_of(std::string_view mailbox) {
    const auto open = mailbox.rfind('<');
    if (open == std::string_view::npos) return std::string(mailbox);
    return std::string(mailbox.substr(open + 1, mailbox.rfind('>') - open - 1));
}

imip_message d01_decline() {
    const invitation inv = invite("d01.ics");
    imip_message m;
    m.from = "dana.whitfield@contoso.example";
    m.from_name = "Dana Whitfield";
    m.to = inv.organizer.address;
    m.to_name = inv.organizer.name;
    m.subject = reply_subject(partstat::declined, inv.subject);
    m.text = std::string(decline_text);
    m.calendar = build_reply(inv, options_for(partstat::declined, decline_text));
    m.date = at(2026, 11, 20, 9, 0) + std::chrono::seconds{7};
    m.message_id = "3f2a9c01.d01@agendad";
    return m;
}

std::string built(const imip_message& m) {
    auto r = build_imip(m);
    EXPECT_TRUE(r.has_value()) << (r.has_value() ? "" : r.error());
    return r.has_value() ? *r : std::string();
}

// ---------------------------------------------------------------------------------------------
// build_imip

TEST(build_imip, carries_the_reply_as_rfc6047_wants) {
    const imip_message m = d01_decline();
    const std::string text = built(m);
    expect_mail_wire_format(text);

    const mail parsed = read_mail(text);
    std::vector<std::string> names;
    for (const auto& [name, value] : parsed.top.headers) names.push_back(name);
    EXPECT_EQ(names, (std::vector<std::string>{"Date", "From", "To", "Subject", "Message-ID",
                                               "Auto-Submitted", "MIME-Version", "Content-Type"}));
    EXPECT_EQ(parsed.top.value("Date"), "Fri, 20 Nov 2026 09:00:07 +0000");
    EXPECT_EQ(parsed.top.value("From"), "Dana Whitfield <dana.whitfield@contoso.example>");
    EXPECT_EQ(parsed.top.value("To"), "Chris Dalton <chris.dalton@pipelinepro.example>");
    EXPECT_EQ(parsed.top.value("Subject"), "Declined: Quick intro - 15 minutes?");
    EXPECT_EQ(parsed.top.value("Message-ID"), "<3f2a9c01.d01@agendad>");
    EXPECT_EQ(parsed.top.value("Auto-Submitted"), "auto-replied");
    EXPECT_EQ(parsed.top.value("MIME-Version"), "1.0");
    EXPECT_THAT(parsed.top.value("Content-Type"), StartsWith("multipart/alternative;"));

    ASSERT_EQ(parsed.parts.size(), 2u);
    const mail_part& plain = parsed.parts[0];
    EXPECT_EQ(plain.value("Content-Type"), "text/plain; charset=UTF-8");
    EXPECT_EQ(plain.value("Content-Transfer-Encoding"), "quoted-printable");
    EXPECT_EQ(decode_quoted_printable(plain.body), crlf(decline_text));

    const mail_part& calendar = parsed.parts[1];
    EXPECT_EQ(calendar.value("Content-Type"), "text/calendar; charset=UTF-8; method=REPLY");
    EXPECT_EQ(parameter(calendar.value("Content-Type"), "method"), "REPLY");
    EXPECT_EQ(calendar.value("Content-Transfer-Encoding"), "base64");
    for (const std::string& line : split_lines(calendar.body)) EXPECT_LE(line.size(), 76u);
    const std::string ics = decode_base64(calendar.body);
    EXPECT_EQ(ics, m.calendar);
    const invitation back = read_back(ics);
    EXPECT_EQ(back.method, method::reply);
    ASSERT_EQ(back.attendees.size(), 1u);
    EXPECT_EQ(back.attendees[0].partstat, partstat::declined);

    // The boundary occurs only as the three delimiters.
    std::size_t count = 0;
    for (auto at = text.find(parsed.boundary); at != std::string::npos;
         at = text.find(parsed.boundary, at + 1)) {
        ++count;
    }
    EXPECT_EQ(count, 4u);  // Content-Type, two part delimiters, the close delimiter

    // Pure: the same message is built the same way.
    EXPECT_EQ(built(m), text);
}

TEST(build_imip, encodes_non_ascii_names_and_subjects_decodably) {
    imip_message m = d01_decline();
    m.from_name = "Zoë Ångström-Łukasiewicz";
    m.to_name = "Dalton, Chris (Sales) \"CD\" \\o/";
    std::string subject = "Absage: Kaffee mit Jörg – 日本語の会議 📅";
    for (int i = 0; i < 4; ++i) subject += " und noch ein langer Satz über Ärger";
    m.subject = subject;
    const std::string text = built(m);
    expect_mail_wire_format(text);

    const mail parsed = read_mail(text);
    EXPECT_EQ(display_name_of(parsed.top.value("From")), m.from_name);
    EXPECT_EQ(address_of(parsed.top.value("From")), m.from);
    EXPECT_EQ(display_name_of(parsed.top.value("To")), m.to_name);
    EXPECT_EQ(address_of(parsed.top.value("To")), m.to);
    EXPECT_EQ(decode_words(parsed.top.value("Subject")), subject);
    // Folded over several lines, each encoded-word a whole number of characters (so each
    // decodes to valid UTF-8 on its own).
    EXPECT_THAT(header_block(text), HasSubstr("?=\r\n =?UTF-8?B?"));
    for (const std::string& line : split_lines(header_block(text))) {
        for (auto at = line.find("=?UTF-8?B?"); at != std::string::npos;
             at = line.find("=?UTF-8?B?", at + 1)) {
            const auto end = line.find("?=", at + 10);
            EXPECT_TRUE(valid_utf8(decode_base64(line.substr(at + 10, end - at - 10)))) << line;
        }
    }
}

TEST(build_imip, folds_long_ascii_subjects_and_encodes_what_cannot_be_folded) {
    imip_message m = d01_decline();
    std::string words;
    for (int i = 0; i < 30; ++i) words += "Quarterly planning session " + std::to_string(i) + " ";
    words.pop_back();
    m.subject = words;
    std::string text = built(m);
    expect_mail_wire_format(text);
    EXPECT_EQ(read_mail(text).top.value("Subject"), words);
    EXPECT_THAT(header_block(text), Not(HasSubstr("=?UTF-8?")));

    // A word longer than a line, and text a decoder would take for an encoded-word.
    for (const std::string& subject :
         {std::string(200, 'y'), "=?UTF-8?B?SGk=?= is not encoded"s, ""s}) {
        m.subject = subject;
        text = built(m);
        expect_mail_wire_format(text);
        EXPECT_EQ(decode_words(read_mail(text).top.value("Subject")), subject);
    }
}

TEST(build_imip, header_injection_in_names_and_subject_adds_no_header) {
    imip_message m = d01_decline();
    m.subject = "Hi\r\nBcc: victim@example.com\r\n\r\nbody";
    m.from_name = "Eve\r\nBcc: victim@example.com";
    m.to_name = "Chris\nBcc: victim@example.com\0"s;
    m.subject += "\r"s + "\0"s + "\x1b[31m \xC2\x85 next\xE2\x80\xA8line";
    const std::string text = built(m);
    expect_mail_wire_format(text);
    for (const std::string& line : split_lines(text)) {
        EXPECT_THAT(line, Not(StartsWith("Bcc:")));
        EXPECT_THAT(line, Not(StartsWith("bcc:")));
    }
    const mail parsed = read_mail(text);
    EXPECT_EQ(parsed.top.headers.size(), 8u);
    EXPECT_EQ(decode_words(parsed.top.value("Subject")),
              "Hi Bcc: victim@example.com body [31m next line");
    EXPECT_EQ(display_name_of(parsed.top.value("From")), "Eve Bcc: victim@example.com");
    EXPECT_EQ(display_name_of(parsed.top.value("To")), "Chris Bcc: victim@example.com");
    EXPECT_EQ(parsed.parts.size(), 2u);
}

TEST(build_imip, quoted_printable_text_decodes_exactly) {
    imip_message m = d01_decline();
    std::string long_line;
    for (int i = 0; i < 40; ++i) long_line += "word=" + std::to_string(i) + " ";
    m.text = "Hi Chris,\n\n" + long_line + "\n.\n.leading dot\ntrailing space \ntab\t\n" +
             "Grüße, 日本 📅 " + std::string(300, 'z') + "\r\nCRLF\rCR \x80 end";
    const std::string text = built(m);
    expect_mail_wire_format(text);
    const mail parsed = read_mail(text);
    ASSERT_EQ(parsed.parts.size(), 2u);
    for (const std::string& line : split_lines(parsed.parts[0].body)) {
        EXPECT_LE(line.size(), 76u);
        EXPECT_FALSE(line.starts_with(".")) << line;
        EXPECT_FALSE(line.ends_with(" ") || line.ends_with("\t")) << line;
    }
    EXPECT_EQ(decode_quoted_printable(parsed.parts[0].body),
              crlf("Hi Chris,\n\n" + long_line + "\n.\n.leading dot\ntrailing space \ntab\t\n" +
                   "Grüße, 日本 📅 " + std::string(300, 'z') + "\nCRLF\nCR " +
                   std::string(replacement) + " end"));
}

TEST(build_imip, names_without_display_name_and_with_specials) {
    imip_message m = d01_decline();
    m.from_name = "";
    m.to_name = "O'Brien, Pat";
    const std::string text = built(m);
    expect_mail_wire_format(text);
    const mail parsed = read_mail(text);
    EXPECT_EQ(parsed.top.value("From"), "dana.whitfield@contoso.example");
    EXPECT_EQ(parsed.top.value("To"), "\"O'Brien, Pat\" <chris.dalton@pipelinepro.example>");
    EXPECT_EQ(display_name_of(parsed.top.value("To")), "O'Brien, Pat");
}

TEST(build_imip, the_method_parameter_must_match_the_calendar) {
    imip_message m = d01_decline();
    m.method = "reply";  // iTIP method names compare without case
    EXPECT_TRUE(build_imip(m).has_value());

    m.method = "REQUEST";
    auto r = build_imip(m);
    ASSERT_FALSE(r.has_value());
    EXPECT_THAT(r.error(), HasSubstr("METHOD"));

    m.method = "REPLY\r\nBcc: x@example.com";
    EXPECT_FALSE(build_imip(m).has_value());

    m = d01_decline();
    m.calendar = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
    EXPECT_FALSE(build_imip(m).has_value());
}

TEST(build_imip, refuses_a_bad_message_id) {
    for (const std::string& id :
         {""s, "no-at-sign"s, "<a@b>"s, "a b@c"s, "a@b\r\nBcc: x@example.com"s}) {
        imip_message m = d01_decline();
        m.message_id = id;
        auto r = build_imip(m);
        ASSERT_FALSE(r.has_value()) << id;
        EXPECT_THAT(r.error(), StartsWith("not a message id: '"));
    }
}

struct address_case {
    std::string name;
    std::string address;
    std::string shown;  // how the error shows it
};

class bad_address : public testing::TestWithParam<address_case> {};

TEST_P(bad_address, is_an_error_value_naming_it_safely) {
    const address_case& c = GetParam();
    for (const bool as_sender : {true, false}) {
        imip_message m = d01_decline();
        (as_sender ? m.from : m.to) = c.address;
        auto r = build_imip(m);
        ASSERT_FALSE(r.has_value()) << c.address;
        // result::error() returns a copy: take one, so that begin() and end() are of the same
        // string.
        const std::string error = r.error();
        EXPECT_EQ(error, "not an e-mail address: '" + c.shown + "'");
        EXPECT_TRUE(std::all_of(error.begin(), error.end(), [](char ch) {
            return static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7F;
        }));
    }
}

INSTANTIATE_TEST_SUITE_P(
    addresses, bad_address,
    testing::Values(
        address_case{"empty", "", ""}, address_case{"no_at", "dana", "dana"},
        address_case{"no_domain", "dana@", "dana@"},
        address_case{"no_local_part", "@contoso.example", "@contoso.example"},
        address_case{"two_at", "a@b@c.example", "a@b@c.example"},
        address_case{"space", "dana whitfield@contoso.example", "dana whitfield@contoso.example"},
        address_case{"line_break", "dana@contoso.example\r\nBcc: v@x.example",
                     "dana@contoso.example\\x0D\\x0ABcc: v@x.example"},
        address_case{"nul", "dana@contoso.example\0x"s, "dana@contoso.example\\x00x"},
        address_case{"angle_brackets", "<dana@contoso.example>", "<dana@contoso.example>"},
        address_case{"quote", "\"dana\"@contoso.example", "\"dana\"@contoso.example"},
        address_case{"comma", "a@x.example,b@y.example", "a@x.example,b@y.example"},
        address_case{"semicolon", "a@x.example;b@y.example", "a@x.example;b@y.example"},
        address_case{"non_ascii", "j\xC3\xB6rg@x.example", "j\\xC3\\xB6rg@x.example"},
        address_case{"backslash_and_apostrophe", "a\\'b@x.example", "a\\x5C\\x27b@x.example"},
        address_case{"double_dot", "dana..w@contoso.example", "dana..w@contoso.example"},
        address_case{"too_long", std::string(250, 'a') + "@x.example",
                     std::string(200, 'a') + "..."}),
    [](const testing::TestParamInfo<address_case>& row) { return row.param.name; });

// ---------------------------------------------------------------------------------------------
// reply_subject

struct subject_case {
    std::string name;
    partstat status;
    std::string subject;
    std::string expected;
};

class reply_subject_case : public testing::TestWithParam<subject_case> {};

TEST_P(reply_subject_case, words_it_as_outlook_does) {
    const subject_case& c = GetParam();
    EXPECT_EQ(reply_subject(c.status, c.subject), c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    statuses, reply_subject_case,
    testing::Values(
        subject_case{"declined", partstat::declined, "Quick sync", "Declined: Quick sync"},
        subject_case{"tentative", partstat::tentative, "Quick sync", "Tentative: Quick sync"},
        subject_case{"accepted", partstat::accepted, "Quick sync", "Accepted: Quick sync"},
        subject_case{"other", partstat::needs_action, "Quick sync", "Reply: Quick sync"},
        subject_case{"delegated", partstat::delegated, "Quick sync", "Reply: Quick sync"},
        subject_case{"empty_subject", partstat::declined, "", "Declined"},
        subject_case{"blank_subject", partstat::accepted, "  ", "Accepted"},
        subject_case{"trimmed", partstat::declined, " Lunch ", "Declined: Lunch"},
        subject_case{"non_ascii_kept", partstat::tentative, "Kaffee mit Jörg",
                     "Tentative: Kaffee mit Jörg"}),
    [](const testing::TestParamInfo<subject_case>& row) { return row.param.name; });

}  // namespace
}  // namespace agendad::calendar
