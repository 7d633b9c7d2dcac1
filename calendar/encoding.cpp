#include "calendar/encoding.h"

#include <cctype>
#include <cstdio>

#include <algorithm>
#include <array>

namespace agendad::calendar::encoding {
namespace {

enum class reading { strict, lenient };

struct sequence {
    std::size_t length = 0;  // of the sequence, or of the ill-formed part to skip
    bool well_formed = false;
};

// strict: the well-formed sequences of the Unicode Standard (chapter 3, table "Well-Formed UTF-8
// Byte Sequences"), an ill-formed one skipped by its maximal subpart. lenient: see
// decode_utf8_lenient.
sequence decode(std::string_view s, std::size_t i, std::uint32_t& cp, reading r) {
    const bool strict = r == reading::strict;
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char lead = byte(i);
    if (lead < 0x80) {
        cp = lead;
        return {1, true};
    }
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the valid range of the second byte
    if (lead >= (strict ? 0xC2 : 0xC0) && lead <= 0xDF) {
        length = 2;
        cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        cp = lead & 0x0F;
        if (strict && lead == 0xE0) low = 0xA0;   // overlong
        if (strict && lead == 0xED) high = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= (strict ? 0xF4 : 0xF7)) {
        length = 4;
        cp = lead & 0x07;
        if (strict && lead == 0xF0) low = 0x90;   // overlong
        if (strict && lead == 0xF4) high = 0x8F;  // over U+10FFFF
    } else {
        cp = replacement_character;
        return {1, false};
    }
    for (std::size_t k = 1; k < length; ++k) {
        const bool in_range = i + k < s.size() && byte(i + k) >= (k == 1 ? low : 0x80) &&
                              byte(i + k) <= (k == 1 ? high : 0xBF);
        if (!in_range) {
            cp = replacement_character;
            return {strict ? k : 1, false};
        }
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    return {length, true};
}

}  // namespace

void append_utf8(std::string& out, std::uint32_t cp) {
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = replacement_character;
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

std::size_t decode_utf8(std::string_view s, std::size_t i, std::uint32_t& cp) {
    return decode(s, i, cp, reading::strict).length;
}

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    std::uint32_t cp = 0;
    const sequence q = decode(s, i, cp, reading::strict);
    return q.well_formed ? q.length : 0;
}

std::size_t first_invalid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const std::size_t length = utf8_sequence_length(s, i);
        if (length == 0) return i;
        i += length;
    }
    return std::string_view::npos;
}

std::size_t decode_utf8_lenient(std::string_view s, std::size_t i, std::uint32_t& cp) {
    return decode(s, i, cp, reading::lenient).length;
}

std::optional<std::uint32_t> windows1252_code_point(unsigned char byte) {
    // 0 marks the bytes that windows-1252 leaves undefined.
    static constexpr std::array<std::uint16_t, 32> c1 = {
        0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};
    if (byte < 0x80 || byte > 0x9F) return byte;
    if (c1[byte - 0x80] == 0) return std::nullopt;
    return c1[byte - 0x80];
}

std::string base64(std::string_view bytes) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        std::uint32_t chunk = 0;
        for (std::size_t k = 0; k < 3; ++k) {
            chunk <<= 8;
            if (k < n) chunk |= static_cast<unsigned char>(bytes[i + k]);
        }
        for (std::size_t k = 0; k < 4; ++k) {
            out += k <= n ? alphabet[(chunk >> (18 - 6 * k)) & 0x3F] : '=';
        }
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        // Unpadded text: 2 or 3 characters may end it, never 1.
        if (text.find('=') != std::string_view::npos || text.size() % 4 == 1) return std::nullopt;
    } else if (!text.empty()) {
        const std::size_t pad = text.back() != '=' ? 0 : text[text.size() - 2] != '=' ? 1 : 2;
        text.remove_suffix(pad);
    }
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        std::uint32_t v = 0;
        if (c >= 'A' && c <= 'Z') {
            v = static_cast<std::uint32_t>(c - 'A');
        } else if (c >= 'a' && c <= 'z') {
            v = static_cast<std::uint32_t>(c - 'a' + 26);
        } else if (c >= '0' && c <= '9') {
            v = static_cast<std::uint32_t>(c - '0' + 52);
        } else if (c == '+') {
            v = 62;
        } else if (c == '/') {
            v = 63;
        } else {
            return std::nullopt;  // '=' in the middle, white space, anything else
        }
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFFu);
        }
    }
    return out;
}

std::uint64_t fnv1a(std::string_view bytes) {
    std::uint64_t h = 14695981039346656037ULL;  // the FNV-1a 64-bit offset basis
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    return h;
}

std::string fnv1a_hex(std::string_view bytes) {
    char out[17];
    std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(fnv1a(bytes)));
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

}  // namespace agendad::calendar::encoding
