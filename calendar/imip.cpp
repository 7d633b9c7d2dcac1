#include "calendar/imip.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/encoding.h"

namespace agendad::calendar {
namespace {

using boost::system::result;
using imip_result = result<std::string, std::string>;

// RFC 5322 §2.1.1: lines SHOULD stay within 78 characters (without CRLF).
constexpr std::size_t max_line = 78;
// RFC 2047 §2: an encoded-word is at most 75 characters.
constexpr std::size_t max_encoded_word = 75;
// RFC 2045 §6.7: quoted-printable lines are at most 76 characters, the soft break's '=' included.
constexpr std::size_t max_qp_line = 76;
// RFC 5321 §4.5.3.1.3: a path is at most 256 octets, i.e. an address at most 254.
constexpr std::size_t max_address = 254;

imip_result fail(std::string message) {
    return imip_result(boost::system::in_place_error, std::move(message));
}

// --- UTF-8 (the same rules as calendar/ical/itip.cpp: replacing invalid bytes keeps what we
// declare as charset=UTF-8 true) ---

using encoding::append_utf8;
using encoding::decode_utf8;

// Length of the character at s[i] in text that is valid UTF-8.
std::size_t char_length(std::string_view s, std::size_t i) {
    const auto lead = static_cast<unsigned char>(s[i]);
    if (lead < 0x80) return 1;
    if (lead < 0xE0) return 2;
    if (lead < 0xF0) return 3;
    return 4;
}

// A display name or subject as it may appear in a header: valid UTF-8, and every control
// character (C0, DEL, C1), Unicode line and paragraph separator and run of white space one
// space, trimmed. No CR or LF survives, so nothing can start a header of its own.
std::string header_text(std::string_view in) {
    std::string out;
    bool pending_space = false;
    for (std::size_t i = 0; i < in.size();) {
        std::uint32_t cp = 0;
        i += decode_utf8(in, i, cp);
        const bool space =
            cp <= 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
        if (space) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        append_utf8(out, cp);
    }
    return out;
}

// The human text: valid UTF-8 with LF line ends (CRLF and CR become LF); the quoted-printable
// encoder turns them into CRLF, the canonical line break of text/plain (RFC 2046 §4.1.1).
std::string body_text(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size();) {
        std::uint32_t cp = 0;
        const std::size_t length = decode_utf8(in, i, cp);
        if (cp == '\r') {
            if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
            cp = '\n';
        }
        append_utf8(out, cp);
        i += length;
    }
    return out;
}

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return (c & 0x80) == 0; });
}

// RFC 5322 atext: what an atom (and a dot-atom's parts) may contain.
bool is_atext(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

// dot-atom-text: atext runs separated by single dots.
bool is_dot_atom(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    if (s.find("..") != std::string_view::npos) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return c == '.' || is_atext(c); });
}

bool is_domain(std::string_view s) {
    if (s.empty() || s.front() == '.' || s.back() == '.' || s.front() == '-') return false;
    if (s.find("..") != std::string_view::npos) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.';
    });
}

// local@domain as SMTP without SMTPUTF8 can carry it: a dot-atom local part (no quoted local
// parts, which would need '"') and a host name. That excludes everything that could end the
// address or the header: spaces, controls, '<', '>', '"', ',', ';', ':' and non-ASCII.
bool is_address(std::string_view s) {
    const auto at = s.find('@');
    if (at == std::string_view::npos || s.size() > max_address) return false;
    return is_dot_atom(s.substr(0, at)) && is_domain(s.substr(at + 1));
}

// A message-id's two halves are dot-atoms too (RFC 5322 §3.6.4, without the obsolete forms and
// domain literals).
bool is_message_id(std::string_view s) {
    const auto at = s.find('@');
    if (at == std::string_view::npos || s.size() > max_address) return false;
    return is_dot_atom(s.substr(0, at)) && is_dot_atom(s.substr(at + 1));
}

// Text from a stranger, for an error message that is logged: printable ASCII as is, every other
// byte (and the quote and backslash) as \xNN, so the message stays one harmless line.
std::string shown(std::string_view s) {
    constexpr std::size_t max_shown = 200;
    std::string out;
    for (const char c : s.substr(0, max_shown)) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x20 && b < 0x7F && c != '\\' && c != '\'') {
            out += c;
        } else {
            std::array<char, 8> hex{};
            std::snprintf(hex.data(), hex.size(), "\\x%02X", b);
            out += hex.data();
        }
    }
    if (s.size() > max_shown) out += "...";
    return out;
}

using encoding::base64;

// Base64 in lines of 76 characters (RFC 2045 §6.8), CRLF between them.
std::string base64_body(std::string_view in) {
    constexpr std::size_t line = 76;
    const std::string encoded = base64(in);
    std::string out;
    for (std::size_t i = 0; i < encoded.size(); i += line) {
        if (i > 0) out += "\r\n";
        out.append(encoded, i, line);
    }
    return out;
}

// Quoted-printable (RFC 2045 §6.7) of text with LF line ends: hard line breaks become CRLF, lines
// are soft-broken to 76 characters, and a '.' that would start a line is encoded, so that a
// transport that forgets SMTP's dot-stuffing cannot end the message early.
std::string quoted_printable(std::string_view text) {
    std::string out;
    std::size_t column = 0;
    auto emit = [&](std::string_view token) {
        // The soft break's '=' needs a column of its own.
        if (column + token.size() > max_qp_line - 1) {
            out += "=\r\n";
            column = 0;
        }
        out += token;
        column += token.size();
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '\n') {
            out += "\r\n";
            column = 0;
            continue;
        }
        const auto b = static_cast<unsigned char>(c);
        const bool at_line_end = i + 1 == text.size() || text[i + 1] == '\n';
        const bool literal =
            (b >= 33 && b <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
        // A literal '.' would start a line at column 0, or after the soft break emit() is about
        // to insert.
        const bool starts_line = column == 0 || column + 1 > max_qp_line - 1;
        if (literal && !(c == '.' && starts_line)) {
            emit(std::string_view(&text[i], 1));
        } else {
            std::array<char, 4> hex{};
            std::snprintf(hex.data(), hex.size(), "=%02X", b);
            emit(hex.data());
        }
    }
    return out;
}

// One header field, folded (RFC 5322 §2.2.3) before a token that would pass column 78. The
// field ends (CRLF) when the object goes out of scope, so that no path can leave it open.
class header_field final {
  public:
    header_field(std::string& out, std::string_view name) : out_(out) {
        out_ += name;
        out_ += ':';
        column_ = name.size() + 1;
    }
    ~header_field() { out_ += "\r\n"; }
    header_field(const header_field&) = delete;
    header_field& operator=(const header_field&) = delete;

    // Appends " token", folding first when it would not fit.
    void token(std::string_view t) {
        if (column_ + 1 + t.size() > max_line) fold();
        out_ += ' ';
        out_ += t;
        column_ += 1 + t.size();
    }
    // Room for a token on the current line, after its separating space.
    std::size_t room() const { return column_ + 1 < max_line ? max_line - column_ - 1 : 0; }
    void fold() {
        out_ += "\r\n";
        column_ = 0;
    }

  private:
    std::string& out_;
    std::size_t column_ = 0;
};

// Words separated by single spaces (header_text leaves no other white space).
std::vector<std::string_view> words(std::string_view s) {
    std::vector<std::string_view> out;
    while (!s.empty()) {
        const auto space = s.find(' ');
        out.push_back(s.substr(0, space));
        if (space == std::string_view::npos) break;
        s.remove_prefix(space + 1);
    }
    return out;
}

// Whether text can go out as it is: ASCII, nothing a decoder would take for an encoded-word, and
// no word too long to fold.
bool fits_as_is(std::string_view text) {
    if (!is_ascii(text) || text.find("=?") != std::string_view::npos) return false;
    const auto all = words(text);
    return std::all_of(all.begin(), all.end(),
                       [](std::string_view w) { return w.size() + 1 <= max_line; });
}

// RFC 2047 B encoded-words in UTF-8, each at most 75 characters and a whole number of
// characters (§5), as many bytes per word as the line has room for. White space between
// encoded-words is not part of the text, so the folds add nothing.
void encoded_words(header_field& field, std::string_view utf8) {
    constexpr std::string_view prefix = "=?UTF-8?B?", suffix = "?=";
    constexpr std::size_t overhead = prefix.size() + suffix.size();
    for (std::size_t i = 0; i < utf8.size();) {
        const std::size_t width = std::min(max_encoded_word, field.room());
        const std::size_t budget = width > overhead ? (width - overhead) / 4 * 3 : 0;
        std::size_t end = i;
        while (end < utf8.size() && end + char_length(utf8, end) - i <= budget) {
            end += char_length(utf8, end);
        }
        if (end == i) {  // not even one character fits on this line
            field.fold();
            continue;
        }
        std::string word(prefix);
        word += base64(utf8.substr(i, end - i));
        word += suffix;
        field.token(word);
        i = end;
    }
}

// A display name (RFC 5322 phrase): atoms as they are, other ASCII as a quoted-string, anything
// else (or too long to fold) as encoded-words.
void display_name(header_field& field, std::string_view name) {
    const bool atoms =
        std::all_of(name.begin(), name.end(), [](char c) { return c == ' ' || is_atext(c); });
    std::string text;
    if (atoms) {
        text = name;
    } else {
        text = "\"";
        for (char c : name) {
            if (c == '"' || c == '\\') text += '\\';
            text += c;
        }
        text += '"';
    }
    if (fits_as_is(text)) {
        for (std::string_view w : words(text)) field.token(w);
    } else {
        encoded_words(field, name);
    }
}

void mailbox_field(std::string& out, std::string_view header, std::string_view name,
                   std::string_view address) {
    header_field field(out, header);
    const std::string clean_name = header_text(name);
    if (clean_name.empty()) {
        field.token(address);
        return;
    }
    display_name(field, clean_name);
    field.token("<" + std::string(address) + ">");
}

void subject_field(std::string& out, std::string_view subject) {
    header_field field(out, "Subject");
    const std::string text = header_text(subject);
    if (fits_as_is(text)) {
        for (std::string_view w : words(text)) {
            if (!w.empty()) field.token(w);
        }
    } else {
        encoded_words(field, text);
    }
}

// "Tue, 24 Nov 2026 18:00:00 +0000" (RFC 5322 §3.3).
std::string rfc5322_date(time_point t) {
    using namespace std::chrono;
    static constexpr std::array<const char*, 7> day_names = {"Sun", "Mon", "Tue", "Wed",
                                                             "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> month_names = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto day_point = floor<days>(t);
    const year_month_day ymd{day_point};
    const weekday wd{day_point};
    const hh_mm_ss hms{t - day_point};
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%s, %02u %s %04d %02d:%02d:%02d +0000",
                  day_names[wd.c_encoding()], static_cast<unsigned>(ymd.day()),
                  month_names[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf.data();
}

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    return out;
}

// An iTIP method is an iana-token (RFC 5545 §3.7.2): letters, digits and '-'.
bool is_method(std::string_view s) {
    return !s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    });
}

// The value of the calendar's METHOD property, upper-case; empty when there is none.
std::string calendar_method(std::string_view calendar) {
    std::string unfolded;
    unfolded.reserve(calendar.size());
    for (std::size_t i = 0; i < calendar.size(); ++i) {
        if (calendar[i] == '\r' && i + 2 < calendar.size() && calendar[i + 1] == '\n' &&
            (calendar[i + 2] == ' ' || calendar[i + 2] == '\t')) {
            i += 2;
            continue;
        }
        unfolded += calendar[i];
    }
    std::string_view rest = unfolded;
    while (!rest.empty()) {
        const auto end = rest.find('\n');
        std::string_view line = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.size() > 6 && upper(line.substr(0, 6)) == "METHOD" &&
            (line[6] == ':' || line[6] == ';')) {
            const auto colon = line.find(':');
            return colon == std::string_view::npos ? std::string() : upper(line.substr(colon + 1));
        }
    }
    return {};
}

// FNV-1a: a stable hash of the message id for the boundary, so that the same message is built
// the same way every time.
std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 14695981039346656037ULL;
    for (const char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ULL;
    }
    return h;
}

// "=_" can occur in neither quoted-printable ('=' starts a hex pair or a soft break) nor base64
// ('=' is only padding), so the first candidate always works; the check keeps it so should an
// encoding change.
std::string boundary_for(std::string_view message_id, std::string_view text_part,
                         std::string_view calendar_part) {
    std::array<char, 17> hash{};
    std::snprintf(hash.data(), hash.size(), "%016llx",
                  static_cast<unsigned long long>(fnv1a(message_id)));
    for (unsigned counter = 0;; ++counter) {
        std::string boundary =
            "=_agendad_" + std::string(hash.data()) + "_" + std::to_string(counter);
        if (text_part.find(boundary) == std::string_view::npos &&
            calendar_part.find(boundary) == std::string_view::npos) {
            return boundary;
        }
    }
}

}  // namespace

boost::system::result<std::string, std::string> build_imip(const imip_message& message) {
    if (!is_address(message.from))
        return fail("not an e-mail address: '" + shown(message.from) + "'");
    if (!is_address(message.to)) return fail("not an e-mail address: '" + shown(message.to) + "'");
    if (!is_message_id(message.message_id)) {
        return fail("not a message id: '" + shown(message.message_id) + "'");
    }
    const std::string method = upper(message.method);
    if (!is_method(method)) return fail("not an iTIP method: '" + shown(message.method) + "'");
    // RFC 6047 §2.4: the Content-Type's method must be the METHOD of the iCalendar object.
    if (const std::string inside = calendar_method(message.calendar); inside != method) {
        return fail("the calendar's METHOD is '" + shown(inside) + "', not '" + method + "'");
    }

    const std::string text_part = quoted_printable(body_text(message.text));
    const std::string calendar_part = base64_body(message.calendar);
    const std::string boundary = boundary_for(message.message_id, text_part, calendar_part);

    std::string out;
    out.reserve(1024 + text_part.size() + calendar_part.size());
    header_field(out, "Date").token(rfc5322_date(message.date));
    mailbox_field(out, "From", message.from_name, message.from);
    mailbox_field(out, "To", message.to_name, message.to);
    subject_field(out, message.subject);
    header_field(out, "Message-ID").token("<" + message.message_id + ">");
    // Generated in answer to a message (RFC 3834): autoresponders must not answer it, which keeps
    // two automatons from replying to each other forever.
    header_field(out, "Auto-Submitted").token("auto-replied");
    header_field(out, "MIME-Version").token("1.0");
    {
        header_field field(out, "Content-Type");
        field.token("multipart/alternative;");
        field.token("boundary=\"" + boundary + "\"");
    }
    out += "\r\n";

    out += "--" + boundary + "\r\n";
    {
        header_field field(out, "Content-Type");
        field.token("text/plain;");
        field.token("charset=UTF-8");
    }
    header_field(out, "Content-Transfer-Encoding").token("quoted-printable");
    out += "\r\n";
    out += text_part;
    out += "\r\n--" + boundary + "\r\n";
    {
        header_field field(out, "Content-Type");
        field.token("text/calendar;");
        field.token("charset=UTF-8;");
        field.token("method=" + method);
    }
    header_field(out, "Content-Transfer-Encoding").token("base64");
    out += "\r\n";
    out += calendar_part;
    out += "\r\n--" + boundary + "--\r\n";
    // Value and error are both strings: say which.
    return imip_result(boost::system::in_place_value, std::move(out));
}

std::string reply_subject(partstat status, std::string_view subject) {
    std::string_view prefix;
    switch (status) {
        case partstat::accepted:
            prefix = "Accepted";
            break;
        case partstat::declined:
            prefix = "Declined";
            break;
        case partstat::tentative:
            prefix = "Tentative";
            break;
        default:
            prefix = "Reply";
            break;
    }
    while (!subject.empty() && (subject.front() == ' ' || subject.front() == '\t')) {
        subject.remove_prefix(1);
    }
    while (!subject.empty() && (subject.back() == ' ' || subject.back() == '\t')) {
        subject.remove_suffix(1);
    }
    if (subject.empty()) return std::string(prefix);
    return std::string(prefix) + ": " + std::string(subject);
}

}  // namespace agendad::calendar
