#include "calendar/html_to_text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "calendar/encoding.h"

// One forward pass over the input with a handful of flags and counters. Every scan starts where
// the previous one stopped (or at most a small constant further back), so the work is linear in
// the input whatever its shape; nothing recurses, and list nesting is only counted.

namespace agendad::calendar {

namespace {

constexpr std::size_t npos = std::string_view::npos;

// Deeper lists are still counted so that their ends match, but stop adding indentation.
constexpr std::size_t max_list_depth = 16;
// No entity name we know is longer; capping the scan keeps "&aaaa…" linear.
constexpr std::size_t max_entity_name = 32;
// Tag names we act on are short; longer ones are unknown whatever they say.
constexpr std::size_t max_tag_name = 16;
// Longer than any URI scheme in use; bounds the look-ahead at each '<'.
constexpr std::size_t max_scheme_length = 32;

constexpr char32_t replacement_character = 0xFFFD;

// Bytes that are text by themselves: not markup, not whitespace, not a control character, and
// not the first byte of a character that is replaced or removed (U+00A0, U+00AD, U+200B, U+FEFF,
// the C1 controls).
constexpr std::array<bool, 256> is_plain_byte = [] {
    std::array<bool, 256> plain{};
    plain.fill(true);
    for (unsigned char c = 0; c < 0x20; ++c) {
        plain[c] = false;
    }
    plain['<'] = plain['&'] = plain[' '] = plain[0x7F] = false;
    plain[0xC2] = plain[0xE2] = plain[0xEF] = false;
    return plain;
}();

// C0 controls but white space, DEL and C1 controls: not text. Browsers show nothing for them, and
// a terminal would take "&#27;[31m" from a stranger's invitation, once explain prints it, for an
// escape sequence.
bool is_control(char32_t cp) {
    return (cp < 0x20 && !(cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f')) || cp == 0x7F ||
           (cp >= 0x80 && cp <= 0x9F);
}

bool is_html_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

bool is_ascii_alpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool is_ascii_digit(char c) {
    return c >= '0' && c <= '9';
}

bool is_ascii_alnum(char c) {
    return is_ascii_alpha(c) || is_ascii_digit(c);
}

char to_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return to_lower(x) == to_lower(y);
           });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_html_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_html_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::size_t skip_past(std::string_view s, char c, std::size_t from) {
    std::size_t at = s.find(c, from);
    return at == npos ? s.size() : at + 1;
}

using encoding::append_utf8;

// ---------------------------------------------------------------------------------------------
// Character references

struct named_entity {
    std::string_view name;
    char32_t code;
};

// HTML 4's Latin-1, special and a few symbol entities: what mail and calendar producers emit.
// Sorted by byte value so that lookups can bisect.
constexpr std::array named_entities = std::to_array<named_entity>({
    {"AElig", 0xC6},    {"Aacute", 0xC1},   {"Acirc", 0xC2},    {"Agrave", 0xC0},
    {"Aring", 0xC5},    {"Atilde", 0xC3},   {"Auml", 0xC4},     {"Ccedil", 0xC7},
    {"Dagger", 0x2021}, {"ETH", 0xD0},      {"Eacute", 0xC9},   {"Ecirc", 0xCA},
    {"Egrave", 0xC8},   {"Euml", 0xCB},     {"Iacute", 0xCD},   {"Icirc", 0xCE},
    {"Igrave", 0xCC},   {"Iuml", 0xCF},     {"Ntilde", 0xD1},   {"OElig", 0x0152},
    {"Oacute", 0xD3},   {"Ocirc", 0xD4},    {"Ograve", 0xD2},   {"Oslash", 0xD8},
    {"Otilde", 0xD5},   {"Ouml", 0xD6},     {"Prime", 0x2033},  {"Scaron", 0x0160},
    {"THORN", 0xDE},    {"Uacute", 0xDA},   {"Ucirc", 0xDB},    {"Ugrave", 0xD9},
    {"Uuml", 0xDC},     {"Yacute", 0xDD},   {"Yuml", 0x0178},   {"Zcaron", 0x017D},
    {"aacute", 0xE1},   {"acirc", 0xE2},    {"acute", 0xB4},    {"aelig", 0xE6},
    {"agrave", 0xE0},   {"amp", 0x26},      {"apos", 0x27},     {"aring", 0xE5},
    {"atilde", 0xE3},   {"auml", 0xE4},     {"bdquo", 0x201E},  {"brvbar", 0xA6},
    {"bull", 0x2022},   {"ccedil", 0xE7},   {"cedil", 0xB8},    {"cent", 0xA2},
    {"circ", 0x02C6},   {"copy", 0xA9},     {"curren", 0xA4},   {"dagger", 0x2020},
    {"darr", 0x2193},   {"deg", 0xB0},      {"divide", 0xF7},   {"eacute", 0xE9},
    {"ecirc", 0xEA},    {"egrave", 0xE8},   {"emsp", 0x2003},   {"ensp", 0x2002},
    {"eth", 0xF0},      {"euml", 0xEB},     {"euro", 0x20AC},   {"fnof", 0x0192},
    {"frac12", 0xBD},   {"frac14", 0xBC},   {"frac34", 0xBE},   {"gt", 0x3E},
    {"harr", 0x2194},   {"hellip", 0x2026}, {"iacute", 0xED},   {"icirc", 0xEE},
    {"iexcl", 0xA1},    {"igrave", 0xEC},   {"iquest", 0xBF},   {"iuml", 0xEF},
    {"laquo", 0xAB},    {"larr", 0x2190},   {"ldquo", 0x201C},  {"lrm", 0x200E},
    {"lsaquo", 0x2039}, {"lsquo", 0x2018},  {"lt", 0x3C},       {"macr", 0xAF},
    {"mdash", 0x2014},  {"micro", 0xB5},    {"middot", 0xB7},   {"minus", 0x2212},
    {"nbsp", 0xA0},     {"ndash", 0x2013},  {"not", 0xAC},      {"ntilde", 0xF1},
    {"oacute", 0xF3},   {"ocirc", 0xF4},    {"oelig", 0x0153},  {"ograve", 0xF2},
    {"ordf", 0xAA},     {"ordm", 0xBA},     {"oslash", 0xF8},   {"otilde", 0xF5},
    {"ouml", 0xF6},     {"para", 0xB6},     {"permil", 0x2030}, {"plusmn", 0xB1},
    {"pound", 0xA3},    {"prime", 0x2032},  {"quot", 0x22},     {"raquo", 0xBB},
    {"rarr", 0x2192},   {"rdquo", 0x201D},  {"reg", 0xAE},      {"rlm", 0x200F},
    {"rsaquo", 0x203A}, {"rsquo", 0x2019},  {"sbquo", 0x201A},  {"scaron", 0x0161},
    {"sect", 0xA7},     {"shy", 0xAD},      {"sup1", 0xB9},     {"sup2", 0xB2},
    {"sup3", 0xB3},     {"szlig", 0xDF},    {"thinsp", 0x2009}, {"thorn", 0xFE},
    {"tilde", 0x02DC},  {"times", 0xD7},    {"trade", 0x2122},  {"uacute", 0xFA},
    {"uarr", 0x2191},   {"ucirc", 0xFB},    {"ugrave", 0xF9},   {"uml", 0xA8},
    {"uuml", 0xFC},     {"yacute", 0xFD},   {"yen", 0xA5},      {"yuml", 0xFF},
    {"zcaron", 0x017E}, {"zwj", 0x200D},    {"zwnj", 0x200C},
});
static_assert(std::ranges::is_sorted(named_entities, {}, &named_entity::name));

// Browsers accept these without the ';' because old pages left it out.
constexpr std::array<named_entity, 5> legacy_entities{{
    {"nbsp", 0xA0},
    {"quot", 0x22},
    {"amp", 0x26},
    {"lt", 0x3C},
    {"gt", 0x3E},
}};

struct entity_match {
    std::size_t length = 0;  // bytes consumed from the '&'; 0 when this is no reference
    char32_t code = 0;
};

char32_t sanitize_code_point(std::uint32_t value) {
    if (value == 0 || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) {
        return replacement_character;
    }
    // Numeric references in 0x80-0x9F name windows-1252 bytes in practice (Word's &#146; for
    // ’); browsers map them, so do we, but for the five bytes that windows-1252 leaves undefined.
    if (value >= 0x80 && value <= 0x9F) {
        if (const auto cp = encoding::windows1252_code_point(static_cast<unsigned char>(value))) {
            return *cp;
        }
    }
    return value;
}

entity_match decode_numeric(std::string_view s, std::size_t at) {
    // s[at] == '&', s[at + 1] == '#'
    std::size_t i = at + 2;
    bool hex = i < s.size() && (s[i] == 'x' || s[i] == 'X');
    if (hex) {
        ++i;
    }
    std::uint32_t value = 0;
    std::size_t digits_start = i;
    for (; i < s.size(); ++i) {
        char c = s[i];
        std::uint32_t digit = 0;
        if (is_ascii_digit(c)) {
            digit = static_cast<std::uint32_t>(c - '0');
        } else if (hex && c >= 'a' && c <= 'f') {
            digit = static_cast<std::uint32_t>(c - 'a' + 10);
        } else if (hex && c >= 'A' && c <= 'F') {
            digit = static_cast<std::uint32_t>(c - 'A' + 10);
        } else {
            break;
        }
        // Saturate instead of overflowing; anything this large is invalid anyway.
        if (value <= 0x10FFFF) {
            value = value * (hex ? 16 : 10) + digit;
        }
    }
    if (i == digits_start) {
        return {};
    }
    if (i < s.size() && s[i] == ';') {
        ++i;
    }
    return {i - at, sanitize_code_point(value)};
}

// In attribute values a legacy name without ';' is only a reference when nothing that could
// continue a name follows it, so that "?a=1&ltd=2" in a URL survives as written.
entity_match decode_entity(std::string_view s, std::size_t at, bool in_attribute) {
    if (at + 1 >= s.size()) {
        return {};
    }
    if (s[at + 1] == '#') {
        return decode_numeric(s, at);
    }
    std::size_t i = at + 1;
    while (i < s.size() && i - at - 1 <= max_entity_name && is_ascii_alnum(s[i])) {
        ++i;
    }
    std::string_view name = s.substr(at + 1, i - at - 1);
    if (name.empty()) {
        return {};
    }
    if (i < s.size() && s[i] == ';' && name.size() <= max_entity_name) {
        auto it = std::ranges::lower_bound(named_entities, name, {}, &named_entity::name);
        if (it != named_entities.end() && it->name == name) {
            return {name.size() + 2, it->code};
        }
    }
    for (const auto& legacy : legacy_entities) {
        if (in_attribute) {
            bool followed_by_equals = i < s.size() && s[i] == '=';
            if (name == legacy.name && !followed_by_equals) {
                return {name.size() + 1, legacy.code};
            }
        } else if (name.starts_with(legacy.name)) {
            return {legacy.name.size() + 1, legacy.code};
        }
    }
    return {};
}

std::string decode_attribute(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size();) {
        const std::size_t amp = std::min(raw.find('&', i), raw.size());
        out.append(raw, i, amp - i);
        if (amp == raw.size()) {
            break;
        }
        entity_match m = decode_entity(raw, amp, true);
        if (m.length != 0) {
            append_utf8(out, m.code);
            i = amp + m.length;
        } else {
            out += '&';
            i = amp + 1;
        }
    }
    return out;
}

// Browsers drop tabs and line breaks anywhere in a URL and trim the ends; wrapped hrefs in
// generated mail rely on it. Other control characters are percent-encoded, as a browser's URL
// parser does, so that the URL shown in the text holds none.
std::string clean_url(std::string_view raw) {
    std::string url = decode_attribute(trim(raw));
    std::erase_if(url, [](char c) { return c == '\t' || c == '\n' || c == '\r'; });
    const std::string_view trimmed = trim(url);
    std::string out;
    out.reserve(trimmed.size());
    for (std::size_t i = 0; i < trimmed.size(); ++i) {
        const auto c = static_cast<unsigned char>(trimmed[i]);
        const bool c1 = c == 0xC2 && i + 1 < trimmed.size() &&
                        static_cast<unsigned char>(trimmed[i + 1]) >= 0x80 &&
                        static_cast<unsigned char>(trimmed[i + 1]) <= 0x9F;
        if (c < 0x20 || c == 0x7F || c1) {
            constexpr std::string_view hex = "0123456789ABCDEF";
            for (std::size_t k = 0; k < (c1 ? 2U : 1U); ++k) {
                const auto b = static_cast<unsigned char>(trimmed[i + k]);
                out += '%';
                out += hex[b >> 4];
                out += hex[b & 0xF];
            }
            i += c1 ? 1 : 0;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Tags

struct tag_info {
    std::array<char, max_tag_name> name_buffer{};
    std::size_t name_length = 0;
    bool name_too_long = false;
    bool namespaced = false;  // Word's <o:p>, <v:shape>, <w:WordDocument>
    std::string_view href;
    bool has_href = false;
    std::string_view start;
    bool has_start = false;
    std::size_t end = 0;  // index just past the tag

    std::string_view name() const {
        return name_too_long ? std::string_view{}
                             : std::string_view(name_buffer.data(), name_length);
    }
};

// Tokenizes one start or end tag the way the HTML tokenizer does, so that a '>' inside a quoted
// attribute value does not end it. `name_at` is the first character of the name. A tag cut off by
// the end of the input takes the rest of the input with it, as in browsers.
tag_info parse_tag(std::string_view s, std::size_t name_at) {
    tag_info tag;
    const std::size_t n = s.size();
    std::size_t i = name_at;
    for (; i < n && !is_html_space(s[i]) && s[i] != '/' && s[i] != '>'; ++i) {
        char c = to_lower(s[i]);
        tag.namespaced = tag.namespaced || c == ':';
        if (tag.name_length < max_tag_name) {
            tag.name_buffer[tag.name_length++] = c;
        } else {
            tag.name_too_long = true;
        }
    }
    for (;;) {
        while (i < n && (is_html_space(s[i]) || s[i] == '/')) {
            ++i;
        }
        if (i >= n) {
            tag.end = n;
            return tag;
        }
        if (s[i] == '>') {
            tag.end = i + 1;
            return tag;
        }
        std::size_t attribute_start = i++;  // a leading '=' belongs to the name
        while (i < n && !is_html_space(s[i]) && s[i] != '/' && s[i] != '>' && s[i] != '=') {
            ++i;
        }
        std::string_view attribute = s.substr(attribute_start, i - attribute_start);
        while (i < n && is_html_space(s[i])) {
            ++i;
        }
        std::string_view value;
        if (i < n && s[i] == '=') {
            ++i;
            while (i < n && is_html_space(s[i])) {
                ++i;
            }
            if (i < n && (s[i] == '"' || s[i] == '\'')) {
                std::size_t close = s.find(s[i], i + 1);
                if (close == npos) {
                    tag.end = n;
                    return tag;
                }
                value = s.substr(i + 1, close - i - 1);
                i = close + 1;
            } else {
                std::size_t value_start = i;
                while (i < n && !is_html_space(s[i]) && s[i] != '>') {
                    ++i;
                }
                value = s.substr(value_start, i - value_start);
            }
        }
        // The first occurrence wins, as in the DOM.
        if (!tag.has_href && iequals(attribute, "href")) {
            tag.href = value;
            tag.has_href = true;
        } else if (!tag.has_start && iequals(attribute, "start")) {
            tag.start = value;
            tag.has_start = true;
        }
    }
}

// Outlook's plain-text rendering writes links as "text<https://…>" and mail addresses as
// "name<mailto:…>"; when such text ends up inside HTML unescaped, a browser would swallow it as
// an unknown tag, but it is the link the reader is meant to see, so it stays text.
bool is_bracketed_url(std::string_view s, std::size_t at) {
    std::size_t i = at;
    while (i < s.size() && i - at < max_scheme_length &&
           (is_ascii_alnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')) {
        ++i;
    }
    if (i == at || i >= s.size() || s[i] != ':') {
        return false;
    }
    std::string_view scheme = s.substr(at, i - at);
    std::string_view rest = s.substr(i + 1);
    return rest.starts_with("//") || iequals(scheme, "mailto") || iequals(scheme, "tel") ||
           iequals(scheme, "sip") || iequals(scheme, "sips");
}

enum class tag_kind {
    unknown,
    inline_element,  // known but with no effect on the text: b, span, font, img, ...
    line_break,
    paragraph,  // p and h1-h6: a blank line before
    block,      // starts and ends a line
    preformatted,
    rule,
    unordered_list,
    ordered_list,
    list_item,
    cell,
    link,
    dropped,  // never shown: skipped with its content up to the end tag
    head,
    head_only,  // may stay inside <head> without ending it
    html,
    body,
};

struct known_tag {
    std::string_view name;
    tag_kind kind;
    bool marks_html;  // its presence makes looks_like_html true; kept to what prose never writes
};

// Sorted by length, then name, so that a lookup bisects comparing mostly lengths: this runs for
// every tag of every invitation.
constexpr std::array known_tags = std::to_array<known_tag>({
    {"a", tag_kind::link, true},
    {"b", tag_kind::inline_element, true},
    {"i", tag_kind::inline_element, true},
    {"p", tag_kind::paragraph, true},
    {"u", tag_kind::inline_element, true},
    {"br", tag_kind::line_break, true},
    {"dd", tag_kind::block, true},
    {"dl", tag_kind::block, true},
    {"dt", tag_kind::block, true},
    {"em", tag_kind::inline_element, true},
    {"h1", tag_kind::paragraph, true},
    {"h2", tag_kind::paragraph, true},
    {"h3", tag_kind::paragraph, true},
    {"h4", tag_kind::paragraph, true},
    {"h5", tag_kind::paragraph, true},
    {"h6", tag_kind::paragraph, true},
    {"hr", tag_kind::rule, true},
    {"li", tag_kind::list_item, true},
    {"ol", tag_kind::ordered_list, true},
    {"td", tag_kind::cell, true},
    {"th", tag_kind::cell, true},
    {"tr", tag_kind::block, true},
    {"ul", tag_kind::unordered_list, true},
    {"del", tag_kind::inline_element, true},
    {"div", tag_kind::block, true},
    {"img", tag_kind::inline_element, true},
    {"ins", tag_kind::inline_element, true},
    {"nav", tag_kind::block, false},
    {"pre", tag_kind::preformatted, true},
    {"sub", tag_kind::inline_element, true},
    {"sup", tag_kind::inline_element, true},
    {"xml", tag_kind::dropped, false},
    {"base", tag_kind::head_only, false},
    {"body", tag_kind::body, true},
    {"font", tag_kind::inline_element, true},
    {"form", tag_kind::block, false},
    {"head", tag_kind::head, true},
    {"html", tag_kind::html, true},
    {"link", tag_kind::head_only, false},
    {"main", tag_kind::block, false},
    {"meta", tag_kind::head_only, true},
    {"span", tag_kind::inline_element, true},
    {"aside", tag_kind::block, false},
    {"small", tag_kind::inline_element, true},
    {"style", tag_kind::dropped, true},
    {"table", tag_kind::block, true},
    {"tbody", tag_kind::block, true},
    {"tfoot", tag_kind::block, false},
    {"thead", tag_kind::block, true},
    {"title", tag_kind::dropped, true},
    {"center", tag_kind::block, true},
    {"figure", tag_kind::block, false},
    {"footer", tag_kind::block, true},
    {"header", tag_kind::block, true},
    {"iframe", tag_kind::dropped, false},
    {"legend", tag_kind::block, false},
    {"script", tag_kind::dropped, true},
    {"strike", tag_kind::inline_element, true},
    {"strong", tag_kind::inline_element, true},
    {"address", tag_kind::block, false},
    {"article", tag_kind::block, true},
    {"bgsound", tag_kind::head_only, false},
    {"caption", tag_kind::block, false},
    {"details", tag_kind::block, false},
    {"noembed", tag_kind::dropped, false},
    {"section", tag_kind::block, true},
    {"summary", tag_kind::block, false},
    {"basefont", tag_kind::head_only, false},
    {"fieldset", tag_kind::block, false},
    {"noframes", tag_kind::dropped, false},
    {"noscript", tag_kind::dropped, false},
    {"template", tag_kind::dropped, false},
    {"blockquote", tag_kind::block, true},
    {"figcaption", tag_kind::block, false},
});

constexpr bool shorter_or_before(std::string_view a, std::string_view b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
}
static_assert(std::ranges::is_sorted(known_tags, shorter_or_before, &known_tag::name));

const known_tag* find_tag(std::string_view name) {
    auto it = std::ranges::lower_bound(known_tags, name, shorter_or_before, &known_tag::name);
    return it != known_tags.end() && it->name == name ? &*it : nullptr;
}

tag_kind kind_of(std::string_view name) {
    const known_tag* tag = find_tag(name);
    return tag != nullptr ? tag->kind : tag_kind::unknown;
}

// ---------------------------------------------------------------------------------------------
// Output

// Collects visible text and decides where spaces and line breaks go. Breaks and collapsed
// whitespace are only requested, and materialise when the next visible character arrives, which
// is what keeps empty blocks and trailing whitespace from producing blank lines.
class text_writer {
  public:
    explicit text_writer(std::size_t expected) { out_.reserve(expected); }

    // 1: start a new line; 2: also leave a blank line.
    void request_break(int level) { pending_break_ = std::max(pending_break_, level); }

    void request_space() { pending_space_ = true; }

    void content(char c) {
        prepare_content();
        out_ += c;
    }

    void content(std::string_view text) {
        prepare_content();
        out_ += text;
    }

    void hard_newline() {
        flush_break();
        out_ += '\n';
        ++trailing_newlines_;
        line_has_content_ = false;
        pending_space_ = false;
    }

    // A list marker: starts its own line, but does not count as content, so that a block opening
    // right inside the item stays on the marker's line.
    void begin_item(std::string_view marker) {
        request_break(1);
        flush_break();
        if (!out_.empty() && trailing_newlines_ == 0) {
            out_ += '\n';  // an item nested in an item that had no text yet
        }
        out_ += marker;
        trailing_newlines_ = 0;
        line_has_content_ = false;
        pending_space_ = false;
    }

    // Glued to what precedes it, whatever whitespace or breaks are pending (link targets).
    void append_glued(std::string_view text) {
        out_ += text;
        trailing_newlines_ = 0;
        line_has_content_ = true;
    }

    std::size_t size() const { return out_.size(); }
    std::string_view since(std::size_t position) const {
        return std::string_view(out_).substr(position);
    }

    // Right-trims every line, drops leading and trailing blank lines and keeps at most one blank
    // line in a row.
    std::string finish() const {
        std::string result;
        result.reserve(out_.size());
        bool blank_pending = false;
        std::string_view rest = out_;
        while (true) {
            std::size_t newline = rest.find('\n');
            std::string_view line = rest.substr(0, newline);
            while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) {
                line.remove_suffix(1);
            }
            if (line.empty()) {
                blank_pending = !result.empty();
            } else {
                if (!result.empty()) {
                    result += blank_pending ? "\n\n" : "\n";
                }
                blank_pending = false;
                result += line;
            }
            if (newline == npos) {
                break;
            }
            rest.remove_prefix(newline + 1);
        }
        return result;
    }

  private:
    void flush_break() {
        int level = pending_break_;
        pending_break_ = 0;
        // Nothing to separate at the start, and a line holding only a list marker stays open.
        if (level == 0 || out_.empty() || (!line_has_content_ && trailing_newlines_ == 0)) {
            return;
        }
        while (trailing_newlines_ < level) {
            out_ += '\n';
            ++trailing_newlines_;
        }
        line_has_content_ = false;
        pending_space_ = false;
    }

    void prepare_content() {
        flush_break();
        if (pending_space_ && line_has_content_) {
            out_ += ' ';
        }
        pending_space_ = false;
        line_has_content_ = true;
        trailing_newlines_ = 0;
    }

    std::string out_;
    int pending_break_ = 0;
    bool pending_space_ = false;
    bool line_has_content_ = false;
    int trailing_newlines_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Conversion

struct list_level {
    bool ordered = false;
    std::int64_t next = 1;
};

class converter {
  public:
    explicit converter(std::string_view html) : in_(html), out_(html.size()) {}

    std::string run() {
        while (pos_ < in_.size()) {
            char c = in_[pos_];
            if (std::exchange(skip_pre_newline_, false) && (c == '\n' || c == '\r')) {
                // The HTML parser drops the line break right after <pre>.
                pos_ += (c == '\r' && pos_ + 1 < in_.size() && in_[pos_ + 1] == '\n') ? 2 : 1;
                continue;
            }
            if (c == '<') {
                markup();
            } else if (c == '&') {
                character_reference();
            } else {
                pos_ += text(in_, pos_);
            }
        }
        close_link();
        return out_.finish();
    }

  private:
    // ---- text

    // Handles the character at `at` of `s` as text and returns how many bytes it used.
    std::size_t text(std::string_view s, std::size_t at) {
        const auto c = static_cast<unsigned char>(s[at]);
        if (is_html_space(static_cast<char>(c))) {
            whitespace(static_cast<char>(c));
            return (c == '\r' && pre_depth_ > 0 && at + 1 < s.size() && s[at + 1] == '\n') ? 2 : 1;
        }
        if (in_head_) {
            return plain_run(s, at);
        }
        auto next_is = [&](std::size_t offset, unsigned char byte) {
            return at + offset < s.size() && static_cast<unsigned char>(s[at + offset]) == byte;
        };
        if (c == 0xC2 && next_is(1, 0xA0)) {  // no-break space
            out_.content(' ');
            return 2;
        }
        if (c == 0xC2 && next_is(1, 0xAD)) {  // soft hyphen
            return 2;
        }
        if (c < 0x80 && is_control(c)) {
            return 1;
        }
        if (c == 0xC2 && at + 1 < s.size() && static_cast<unsigned char>(s[at + 1]) >= 0x80 &&
            static_cast<unsigned char>(s[at + 1]) <= 0x9F) {
            return 2;  // a C1 control
        }
        if (c == 0xE2 && next_is(1, 0x80) && next_is(2, 0x8B)) {  // zero-width space
            return 3;
        }
        if (c == 0xEF && next_is(1, 0xBB) && next_is(2, 0xBF)) {  // byte-order mark
            return 3;
        }
        // Copying whole words at once rather than byte by byte is most of the speed.
        const std::size_t length = plain_run(s, at);
        out_.content(s.substr(at, length));
        return length;
    }

    // The length of the run from `at` (at least one byte) that needs no special handling.
    static std::size_t plain_run(std::string_view s, std::size_t at) {
        std::size_t end = at + 1;
        while (end < s.size() && is_plain_byte[static_cast<unsigned char>(s[end])]) {
            ++end;
        }
        return end - at;
    }

    // Collapses in normal flow; inside <pre> every character counts.
    void whitespace(char c) {
        if (pre_depth_ == 0) {
            out_.request_space();
        } else if (c == '\n' || c == '\r') {
            out_.hard_newline();
        } else if (c == '\t') {
            out_.content('\t');
        } else {
            out_.content(' ');
        }
    }

    void code_point(char32_t cp) {
        switch (cp) {
            case 0xA0:    // no-break space
            case 0x2002:  // en space
            case 0x2003:  // em space
            case 0x2009:  // thin space
                out_.content(' ');
                return;
            case 0xAD:    // soft hyphen
            case 0x200B:  // zero-width space
            case 0xFEFF:  // byte-order mark
                return;
            default:
                break;
        }
        if (cp < 0x80 && is_html_space(static_cast<char>(cp))) {
            whitespace(static_cast<char>(cp));
            return;
        }
        if (is_control(cp)) {
            return;
        }
        std::string bytes;
        append_utf8(bytes, cp);
        out_.content(bytes);
    }

    void character_reference() {
        entity_match m = decode_entity(in_, pos_, false);
        if (m.length == 0) {
            pos_ += text(in_, pos_);
            return;
        }
        if (!in_head_) {
            code_point(m.code);
        }
        pos_ += m.length;
    }

    // ---- markup

    void markup() {
        const std::size_t n = in_.size();
        const std::size_t at = pos_;
        const char next = at + 1 < n ? in_[at + 1] : '\0';
        if (next == '!') {
            declaration();
        } else if (next == '?') {
            pos_ = skip_past(in_, '>', at + 2);  // processing instruction, e.g. <?xml:namespace>
        } else if (next == '/') {
            const char first = at + 2 < n ? in_[at + 2] : '\0';
            if (first == '>') {
                pos_ = at + 3;
            } else if (is_ascii_alpha(first)) {
                tag_info tag = parse_tag(in_, at + 2);
                pos_ = tag.end;
                end_tag(tag);
            } else if (at + 2 < n) {
                pos_ = skip_past(in_, '>', at + 2);  // "</3>" and the like: a bogus comment
            } else {
                pos_ += text(in_, pos_);
            }
        } else if (is_ascii_alpha(next) && !is_bracketed_url(in_, at + 1)) {
            tag_info tag = parse_tag(in_, at + 1);
            pos_ = tag.end;
            start_tag(tag);
        } else {
            pos_ += text(in_, pos_);  // "a < b", "<3"
        }
    }

    void declaration() {
        const std::string_view rest = in_.substr(pos_);
        if (rest.starts_with("<!--")) {
            // Also covers Word's <!--[if gte mso 9]>…<![endif]-->, which ends the same way.
            std::size_t body = pos_ + 4;
            if (in_.substr(body).starts_with(">")) {
                pos_ = body + 1;
            } else if (in_.substr(body).starts_with("->")) {
                pos_ = body + 2;
            } else {
                std::size_t close = in_.find("-->", body);
                pos_ = close == npos ? in_.size() : close + 3;
            }
            return;
        }
        if (rest.starts_with("<![CDATA[")) {
            std::size_t body = pos_ + 9;
            std::size_t close = in_.find("]]>", body);
            std::size_t body_end = close == npos ? in_.size() : close;
            const std::string_view bounded = in_.substr(0, body_end);
            for (std::size_t i = body; i < body_end;) {
                i += text(bounded, i);
            }
            pos_ = close == npos ? in_.size() : close + 3;
            return;
        }
        // <!DOCTYPE …>, and Word's downlevel-revealed <![if !supportLists]> / <![endif]> whose
        // content in between is shown.
        pos_ = skip_past(in_, '>', pos_ + 2);
    }

    // Skips the content of an element that is never shown, up to its end tag.
    void skip_dropped_content(std::string_view name) {
        for (std::size_t from = pos_;;) {
            std::size_t open = in_.find("</", from);
            if (open == npos) {
                pos_ = in_.size();
                return;
            }
            std::size_t name_at = open + 2;
            std::size_t after = name_at + name.size();
            if (after <= in_.size() && iequals(in_.substr(name_at, name.size()), name) &&
                (after == in_.size() || is_html_space(in_[after]) || in_[after] == '/' ||
                 in_[after] == '>')) {
                pos_ = skip_past(in_, '>', after);
                return;
            }
            from = open + 2;
        }
    }

    void start_tag(const tag_info& tag) {
        const std::string_view name = tag.name();
        if (tag.namespaced || name.empty()) {
            return;
        }
        const tag_kind kind = kind_of(name);
        switch (kind) {
            case tag_kind::dropped:
                skip_dropped_content(name);
                return;
            case tag_kind::head:
                // Only where browsers honour it: before anything of the body, and only once.
                in_head_ = !body_started_ && out_.size() == 0;
                body_started_ = true;
                return;
            case tag_kind::html:
                return;
            case tag_kind::head_only:
                if (in_head_) {
                    return;
                }
                break;
            default:
                break;
        }
        leave_head();
        switch (kind) {
            case tag_kind::line_break:
                out_.hard_newline();
                break;
            case tag_kind::paragraph:
                out_.request_break(2);
                break;
            case tag_kind::block:
                out_.request_break(1);
                break;
            case tag_kind::preformatted:
                out_.request_break(1);
                ++pre_depth_;
                skip_pre_newline_ = true;
                break;
            case tag_kind::rule:
                out_.request_break(1);
                out_.content("----------");
                out_.request_break(1);
                break;
            case tag_kind::unordered_list:
            case tag_kind::ordered_list:
                out_.request_break(1);
                push_list(kind == tag_kind::ordered_list, tag);
                break;
            case tag_kind::list_item:
                list_item();
                break;
            case tag_kind::cell:
                out_.request_space();
                break;
            case tag_kind::link:
                close_link();  // links do not nest; a new one ends the previous
                if (tag.has_href) {
                    open_link(tag.href);
                }
                break;
            default:
                break;
        }
    }

    void end_tag(const tag_info& tag) {
        const std::string_view name = tag.name();
        if (tag.namespaced || name.empty()) {
            return;
        }
        const tag_kind kind = kind_of(name);
        if (in_head_) {
            if (kind == tag_kind::head || kind == tag_kind::body || kind == tag_kind::html) {
                leave_head();
            }
            if (kind != tag_kind::line_break) {
                return;
            }
            leave_head();
        }
        switch (kind) {
            case tag_kind::line_break:
                out_.hard_newline();  // browsers read </br> as <br>
                break;
            case tag_kind::paragraph:
                // Only the start separates by a blank line, so that <li><p>…</p></li> items and
                // a list right after its heading paragraph stay compact.
            case tag_kind::block:
            case tag_kind::list_item:
                out_.request_break(1);
                break;
            case tag_kind::preformatted:
                pre_depth_ = pre_depth_ > 0 ? pre_depth_ - 1 : 0;
                out_.request_break(1);
                break;
            case tag_kind::unordered_list:
            case tag_kind::ordered_list:
                list_depth_ = list_depth_ > 0 ? list_depth_ - 1 : 0;
                out_.request_break(1);
                break;
            case tag_kind::cell:
                out_.request_space();
                break;
            case tag_kind::link:
                close_link();
                break;
            default:
                break;
        }
    }

    // A body element after <head> without </head> ends it, as in the HTML parser, so that a
    // missing </head> cannot hide the body. Stray text inside <head> is dropped with it.
    void leave_head() {
        in_head_ = false;
        body_started_ = true;
    }

    // ---- lists

    list_level& current_list() {
        return list_depth_ <= max_list_depth ? lists_[list_depth_ - 1] : overflow_list_;
    }

    void push_list(bool ordered, const tag_info& tag) {
        ++list_depth_;
        list_level level{ordered, 1};
        if (ordered && tag.has_start) {
            std::string decoded = decode_attribute(tag.start);
            std::string_view digits = trim(decoded);
            std::int64_t start = 1;
            auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), start);
            // Bounded so that counting on can never overflow.
            if (ec == std::errc{} && ptr != digits.data() && start > -1'000'000'000 &&
                start < 1'000'000'000) {
                level.next = start;
            }
        }
        current_list() = level;
    }

    void list_item() {
        std::array<char, 2 * max_list_depth + 32> marker{};
        std::size_t depth = std::min(list_depth_, max_list_depth);
        std::size_t length = depth > 0 ? 2 * (depth - 1) : 0;
        std::fill_n(marker.begin(), length, ' ');
        if (list_depth_ > 0 && current_list().ordered) {
            list_level& level = current_list();
            char* end = marker.data() + marker.size();
            auto [ptr, ec] = std::to_chars(marker.data() + length, end - 2, level.next);
            (void)ec;  // the buffer holds any int64 with room to spare
            length = static_cast<std::size_t>(ptr - marker.data());
            marker[length++] = '.';
            marker[length++] = ' ';
            if (level.next < 2'000'000'000) {
                ++level.next;
            }
        } else {
            marker[length++] = '-';
            marker[length++] = ' ';
        }
        out_.begin_item(std::string_view(marker.data(), length));
    }

    // ---- links

    void open_link(std::string_view raw_href) {
        link_href_ = clean_url(raw_href);
        // An in-page anchor says nothing the reader can use.
        if (link_href_.empty() || link_href_.front() == '#') {
            return;
        }
        link_open_ = true;
        link_start_ = out_.size();
    }

    // Renders the target the way Outlook's plain text does: "text<URL>", just the URL when the
    // text is missing or is the URL itself, and just the text for mail addresses.
    void close_link() {
        if (!link_open_) {
            return;
        }
        link_open_ = false;
        const std::string_view label = trim(out_.since(link_start_));
        if (istarts_with(link_href_, "mailto:")) {
            if (label.empty()) {
                std::string_view address = std::string_view(link_href_).substr(7);
                address = address.substr(0, address.find('?'));
                if (!address.empty()) {
                    out_.content(address);
                }
            }
            return;
        }
        if (label.empty()) {
            out_.content(link_href_);
        } else if (label != link_href_) {
            std::string target;
            target.reserve(link_href_.size() + 2);
            target += '<';
            target += link_href_;
            target += '>';
            out_.append_glued(target);
        }
    }

    std::string_view in_;
    std::size_t pos_ = 0;
    text_writer out_;

    bool in_head_ = false;
    bool body_started_ = false;
    std::size_t pre_depth_ = 0;
    bool skip_pre_newline_ = false;

    std::array<list_level, max_list_depth> lists_{};
    list_level overflow_list_{};
    std::size_t list_depth_ = 0;

    bool link_open_ = false;
    std::string link_href_;
    std::size_t link_start_ = 0;
};

}  // namespace

bool looks_like_html(std::string_view text) {
    for (std::size_t at = text.find('<'); at != npos; at = text.find('<', at + 1)) {
        std::string_view rest = text.substr(at + 1);
        if (rest.starts_with("!--") || istarts_with(rest, "!doctype")) {
            return true;
        }
        bool closing = rest.starts_with("/");
        if (closing) {
            rest.remove_prefix(1);
        }
        std::size_t length = 0;
        while (length < rest.size() && length < 12 &&
               (is_ascii_alnum(rest[length]) || rest[length] == ':')) {
            ++length;
        }
        if (length == 0 || length == rest.size()) {
            continue;
        }
        std::array<char, 12> lowered{};
        std::transform(rest.begin(), rest.begin() + static_cast<std::ptrdiff_t>(length),
                       lowered.begin(), to_lower);
        std::string_view name(lowered.data(), length);
        const char after = rest[length];
        const known_tag* tag = find_tag(name);
        const bool is_marker = (tag != nullptr && tag->marks_html) || name == "o:p";
        if (!is_marker || !(is_html_space(after) || after == '>' || after == '/')) {
            continue;
        }
        if (name == "a" && !closing) {
            // "<a" starts prose too often ("<a lot>"); a link has an href.
            std::string_view attributes = rest.substr(length);
            std::size_t first = attributes.find_first_not_of(" \t\r\n\f");
            if (first == npos || !istarts_with(attributes.substr(first), "href")) {
                continue;
            }
        }
        return true;
    }
    return false;
}

std::string html_to_text(std::string_view html) {
    return converter(html).run();
}

}  // namespace agendad::calendar
