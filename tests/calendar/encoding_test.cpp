// Tests for calendar/encoding: UTF-8 at every boundary of the encoding form and on the ill-formed
// examples of the Unicode Standard (chapter 3, "U+FFFD Substitution of Maximal Subparts"),
// Windows-1252 against glibc's iconv, and base64 against the test vectors of RFC 4648 §10.
#include "calendar/encoding.h"

#include <gtest/gtest.h>

#include <iconv.h>

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agendad::calendar::encoding {
namespace {

using namespace std::string_literals;

constexpr std::uint32_t fffd = replacement_character;

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        if (!out.empty()) out += ' ';
        out += digits[b >> 4];
        out += digits[b & 0x0F];
    }
    return out;
}

// --- append_utf8 ---

TEST(append_utf8, writes_each_length_at_its_boundaries) {
    const std::vector<std::pair<std::uint32_t, std::string>> cases = {
        {0x0000, "\x00"s},
        {0x0041, "A"},
        {0x007F, "\x7F"},
        {0x0080, "\xC2\x80"},
        {0x00E9, "\xC3\xA9"},
        {0x07FF, "\xDF\xBF"},
        {0x0800, "\xE0\xA0\x80"},
        {0xD7FF, "\xED\x9F\xBF"},
        {0xE000, "\xEE\x80\x80"},
        {0xFFFD, "\xEF\xBF\xBD"},
        {0xFFFF, "\xEF\xBF\xBF"},
        {0x10000, "\xF0\x90\x80\x80"},
        {0x1F600, "\xF0\x9F\x98\x80"},
        {0x10FFFF, "\xF4\x8F\xBF\xBF"},
    };
    for (const auto& [cp, bytes] : cases) {
        std::string out;
        append_utf8(out, cp);
        EXPECT_EQ(hex(out), hex(bytes)) << "U+" << std::hex << cp;
    }
}

TEST(append_utf8, writes_u_fffd_for_what_is_not_a_scalar_value) {
    for (const std::uint32_t cp :
         {0xD800u, 0xDBFFu, 0xDC00u, 0xDFFFu, 0x110000u, 0x1FFFFFu, 0xFFFFFFFFu}) {
        std::string out;
        append_utf8(out, cp);
        EXPECT_EQ(hex(out), "EF BF BD") << std::hex << cp;
    }
}

TEST(append_utf8, appends) {
    std::string out = "caf";
    append_utf8(out, 0xE9);
    append_utf8(out, '!');
    EXPECT_EQ(out, "caf\xC3\xA9!");
}

// Every scalar value goes out and comes back as itself, in the bytes the length says.
TEST(append_utf8, round_trips_every_scalar_value_through_decode_utf8) {
    for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        std::string bytes;
        append_utf8(bytes, cp);
        const std::size_t expected = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        std::uint32_t back = 0;
        ASSERT_EQ(bytes.size(), expected) << std::hex << cp;
        ASSERT_EQ(decode_utf8(bytes, 0, back), expected) << std::hex << cp;
        ASSERT_EQ(back, cp);
        ASSERT_EQ(utf8_sequence_length(bytes, 0), expected) << std::hex << cp;
        ASSERT_EQ(decode_utf8_lenient(bytes, 0, back), expected) << std::hex << cp;
        ASSERT_EQ(back, cp);
    }
}

// --- decode_utf8 (strict, maximal subparts) and decode_utf8_lenient ---

// What a decoder reads from a whole string, one "code point/bytes taken" per step, in hex:
// "41/1 FFFD/2" is 'A' and then one U+FFFD for two bytes.
template <std::size_t (*Decode)(std::string_view, std::size_t, std::uint32_t&)>
std::string decode_all(std::string_view s) {
    std::ostringstream out;
    out << std::hex << std::uppercase;
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        const std::size_t length = Decode(s, i, cp);
        out << (i == 0 ? "" : " ") << cp << '/' << length;
        if (length == 0) break;  // a bug; do not loop forever
        i += length;
    }
    return out.str();
}

struct decode_case {
    std::string bytes;
    std::string strict;   // what decode_utf8 reads
    std::string lenient;  // what decode_utf8_lenient reads
};

const std::vector<decode_case>& decode_cases() {
    static const std::vector<decode_case> cases = {
        // Well-formed: both read the same, at each boundary of the encoding form.
        {"A", "41/1", "41/1"},
        {"\x00"s, "0/1", "0/1"},
        {"\x7F", "7F/1", "7F/1"},
        {"\xC2\x80", "80/2", "80/2"},
        {"\xDF\xBF", "7FF/2", "7FF/2"},
        {"\xE0\xA0\x80", "800/3", "800/3"},
        {"\xED\x9F\xBF", "D7FF/3", "D7FF/3"},
        {"\xEE\x80\x80", "E000/3", "E000/3"},
        {"\xEF\xBF\xBD", "FFFD/3", "FFFD/3"},
        {"\xEF\xBF\xBF", "FFFF/3", "FFFF/3"},
        {"\xF0\x90\x80\x80", "10000/4", "10000/4"},
        {"\xF4\x8F\xBF\xBF", "10FFFF/4", "10FFFF/4"},
        {"a\xC3\xA9z", "61/1 E9/2 7A/1", "61/1 E9/2 7A/1"},

        // Overlong forms (C0, C1, E0 80..9F, F0 80..8F): strict, one U+FFFD per byte, for none
        // of them starts a well-formed sequence; lenient decodes them by their bits.
        {"\xC0\x80", "FFFD/1 FFFD/1", "0/2"},
        {"\xC1\xBF", "FFFD/1 FFFD/1", "7F/2"},
        {"\xE0\x80\x80", "FFFD/1 FFFD/1 FFFD/1", "0/3"},
        {"\xE0\x9F\xBF", "FFFD/1 FFFD/1 FFFD/1", "7FF/3"},
        {"\xF0\x80\x80\x80", "FFFD/1 FFFD/1 FFFD/1 FFFD/1", "0/4"},
        {"\xF0\x8F\xBF\xBF", "FFFD/1 FFFD/1 FFFD/1 FFFD/1", "FFFF/4"},

        // Surrogates D800..DFFF.
        {"\xED\xA0\x80", "FFFD/1 FFFD/1 FFFD/1", "D800/3"},
        {"\xED\xBF\xBF", "FFFD/1 FFFD/1 FFFD/1", "DFFF/3"},

        // Over U+10FFFF: F4 90.. and the lead bytes F5..FF.
        {"\xF4\x90\x80\x80", "FFFD/1 FFFD/1 FFFD/1 FFFD/1", "110000/4"},
        {"\xF5\x80\x80\x80", "FFFD/1 FFFD/1 FFFD/1 FFFD/1", "140000/4"},
        {"\xF7\xBF\xBF\xBF", "FFFD/1 FFFD/1 FFFD/1 FFFD/1", "1FFFFF/4"},
        {"\xF8\x88\x80\x80\x80", "FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1",
         "FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1"},
        {"\xFE\xFF", "FFFD/1 FFFD/1", "FFFD/1 FFFD/1"},

        // Stray continuation bytes.
        {"\x80", "FFFD/1", "FFFD/1"},
        {"\xBF\x41", "FFFD/1 41/1", "FFFD/1 41/1"},

        // Cut short at the end of the string: strict, one U+FFFD for what there is; lenient,
        // one per byte.
        {"\xC2", "FFFD/1", "FFFD/1"},
        {"\xE2\x82", "FFFD/2", "FFFD/1 FFFD/1"},
        {"\xF0\x9F\x98", "FFFD/3", "FFFD/1 FFFD/1 FFFD/1"},
        {"\xF4\x8F", "FFFD/2", "FFFD/1 FFFD/1"},
        {"a\xE0", "61/1 FFFD/1", "61/1 FFFD/1"},
        // ... and cut short by the next character.
        {"\xE2\x82\x41", "FFFD/2 41/1", "FFFD/1 FFFD/1 41/1"},
        {"\xF0\x9F\x98\xC3\xA9", "FFFD/3 E9/2", "FFFD/1 FFFD/1 FFFD/1 E9/2"},

        // The Unicode Standard's examples (chapter 3, Table 3-8 and the tables after it). Table
        // 3-8: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
        {"\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64",
         "61/1 FFFD/3 FFFD/2 FFFD/1 62/1 FFFD/1 63/1 FFFD/1 FFFD/1 64/1",
         "61/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 62/1 FFFD/1 63/1 FFFD/1 FFFD/1 64/1"},
        // Non-shortest forms: C0 AF E0 80 BF F0 81 82 41.
        {"\xC0\xAF\xE0\x80\xBF\xF0\x81\x82\x41",
         "FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 41/1",
         "2F/2 3F/3 FFFD/1 FFFD/1 FFFD/1 41/1"},
        // Ill-formed sequences for surrogates: ED A0 80 ED BF BF ED AF 41.
        {"\xED\xA0\x80\xED\xBF\xBF\xED\xAF\x41",
         "FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 41/1",
         "D800/3 DFFF/3 FFFD/1 FFFD/1 41/1"},
        // Other ill-formed sequences: F4 91 92 93 FF 41 80 BF 42.
        {"\xF4\x91\x92\x93\xFF\x41\x80\xBF\x42",
         "FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 41/1 FFFD/1 FFFD/1 42/1",
         "111493/4 FFFD/1 41/1 FFFD/1 FFFD/1 42/1"},
        // Truncated sequences: E1 80 E2 F0 91 92 F1 BF 41.
        {"\xE1\x80\xE2\xF0\x91\x92\xF1\xBF\x41", "FFFD/2 FFFD/1 FFFD/3 FFFD/2 41/1",
         "FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 FFFD/1 41/1"},
    };
    return cases;
}

TEST(decode_utf8, replaces_each_maximal_subpart_with_one_u_fffd) {
    for (const auto& c : decode_cases()) {
        EXPECT_EQ(decode_all<decode_utf8>(c.bytes), c.strict) << hex(c.bytes);
    }
}

TEST(decode_utf8, reads_at_an_offset_without_looking_before_it) {
    const std::string s = "\xC3\xA9\xE2\x82\xAC";
    std::uint32_t cp = 0;
    EXPECT_EQ(decode_utf8(s, 2, cp), 3u);
    EXPECT_EQ(cp, 0x20ACu);
    EXPECT_EQ(decode_utf8(s, 1, cp), 1u);  // a continuation byte by itself
    EXPECT_EQ(cp, fffd);
}

TEST(decode_utf8_lenient, decodes_by_the_bits_and_replaces_one_byte_at_a_time) {
    for (const auto& c : decode_cases()) {
        EXPECT_EQ(decode_all<decode_utf8_lenient>(c.bytes), c.lenient) << hex(c.bytes);
    }
}

// --- utf8_sequence_length, first_invalid_utf8 ---

TEST(utf8_sequence_length, is_the_length_of_a_well_formed_sequence_or_0) {
    // Where decode_utf8 did not replace anything it read a well-formed sequence; U+FFFD itself is
    // the one well-formed sequence that decodes to U+FFFD.
    for (const auto& c : decode_cases()) {
        std::istringstream steps(c.strict);
        std::size_t i = 0;
        for (std::string step; steps >> step;) {
            const std::size_t length = std::stoul(step.substr(step.find('/') + 1));
            const bool well_formed =
                !step.starts_with("FFFD/") || c.bytes.substr(i, length) == "\xEF\xBF\xBD";
            EXPECT_EQ(utf8_sequence_length(c.bytes, i), well_formed ? length : 0)
                << hex(c.bytes) << " at " << i;
            i += length;
        }
    }
    EXPECT_EQ(utf8_sequence_length("\xF0\x90\x80", 0), 0u);  // cut short
    EXPECT_EQ(utf8_sequence_length("\xF0\x90\x80\x80", 0), 4u);
}

TEST(first_invalid_utf8, is_the_offset_of_the_first_ill_formed_byte) {
    const std::vector<std::pair<std::string, std::size_t>> cases = {
        {"", std::string_view::npos},
        {"plain ASCII", std::string_view::npos},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF", std::string_view::npos},
        {"\x80", 0},
        {"ab\xFF", 2},
        {"a\xC3", 1},                             // cut short at the end
        {"a\xE2\x82z", 1},                        // cut short by the next character
        {"\xC3\xA9\xC0\x80", 2},                  // overlong
        {"\xC3\xA9\xE0\x9F\xBF", 2},              // overlong
        {"\xF0\x9F\x98\x80\xF0\x8F\xBF\xBF", 4},  // overlong
        {"x\xED\xA0\x80", 1},                     // surrogate
        {"x\xED\x9F\xBF\xED\xBF\xBF", 4},         // D7FF is fine, DFFF is not
        {"xy\xF4\x90\x80\x80", 2},                // over U+10FFFF
        {"xy\xF5\x80\x80\x80", 2},
    };
    for (const auto& [bytes, offset] : cases) {
        EXPECT_EQ(first_invalid_utf8(bytes), offset) << hex(bytes);
    }
}

// --- Windows-1252 ---

// glibc's CP1252 is the reference: the same code point for every byte, and an error for the five
// that are undefined.
TEST(windows1252_code_point, agrees_with_iconv_for_every_byte) {
    iconv_t cd = iconv_open("UTF-8", "CP1252");
    ASSERT_NE(cd, reinterpret_cast<iconv_t>(static_cast<std::intptr_t>(-1)))
        << "glibc without CP1252";
    for (int b = 0; b < 256; ++b) {
        char in[1] = {static_cast<char>(b)};
        char out[8] = {};
        char* in_at = in;
        char* out_at = out;
        std::size_t in_left = 1, out_left = sizeof out;
        iconv(cd, nullptr, nullptr, nullptr, nullptr);
        const bool defined =
            iconv(cd, &in_at, &in_left, &out_at, &out_left) != static_cast<std::size_t>(-1);
        const auto cp = windows1252_code_point(static_cast<unsigned char>(b));
        ASSERT_EQ(cp.has_value(), defined) << "byte " << b;
        if (!cp) continue;
        std::string ours;
        append_utf8(ours, *cp);
        EXPECT_EQ(hex(ours), hex(std::string_view(out, static_cast<std::size_t>(out_at - out))))
            << "byte " << b;
    }
    iconv_close(cd);
}

TEST(windows1252_code_point, names_the_c1_bytes_and_leaves_five_undefined) {
    EXPECT_EQ(windows1252_code_point(0x41), 0x41u);
    EXPECT_EQ(windows1252_code_point(0x7F), 0x7Fu);
    EXPECT_EQ(windows1252_code_point(0x80), 0x20ACu);  // €
    EXPECT_EQ(windows1252_code_point(0x92), 0x2019u);  // ’
    EXPECT_EQ(windows1252_code_point(0x9F), 0x0178u);  // Ÿ
    EXPECT_EQ(windows1252_code_point(0xA0), 0xA0u);
    EXPECT_EQ(windows1252_code_point(0xFF), 0xFFu);
    for (const unsigned char b : {0x81, 0x8D, 0x8F, 0x90, 0x9D}) {
        EXPECT_EQ(windows1252_code_point(b), std::nullopt) << int{b};
    }
}

// --- base64 ---

TEST(base64, encodes_the_test_vectors_of_rfc_4648) {
    EXPECT_EQ(base64(""), "");
    EXPECT_EQ(base64("f"), "Zg==");
    EXPECT_EQ(base64("fo"), "Zm8=");
    EXPECT_EQ(base64("foo"), "Zm9v");
    EXPECT_EQ(base64("foob"), "Zm9vYg==");
    EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
    EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
}

TEST(base64, uses_every_letter_of_the_alphabet_in_order) {
    const std::string bytes =
        "\x00\x10\x83\x10\x51\x87\x20\x92\x8B\x30\xD3\x8F\x41\x14\x93\x51\x55\x97\x61\x96\x9B\x71"
        "\xD7\x9F\x82\x18\xA3\x92\x59\xA7\xA2\x9A\xAB\xB2\xDB\xAF\xC3\x1C\xB3\xD3\x5D\xB7\xE3\x9E"
        "\xBB\xF3\xDF\xBF"s;
    EXPECT_EQ(base64(bytes), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
}

TEST(base64_decode, reverses_the_test_vectors_of_rfc_4648_padded_or_not) {
    for (const std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
        const std::string encoded = base64(text);
        EXPECT_EQ(base64_decode(encoded), text) << encoded;
        std::string unpadded = encoded;
        while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
        EXPECT_EQ(base64_decode(unpadded), text) << unpadded;
    }
    EXPECT_EQ(base64_decode("AGFsaWNlAHMzY3JldA=="), "\0alice\0s3cret"s);
}

TEST(base64_decode, refuses_what_is_not_base64) {
    EXPECT_EQ(base64_decode("Zm9v YmFy"), std::nullopt);  // white space
    EXPECT_EQ(base64_decode("Zm9v\nYmFy"), std::nullopt);
    EXPECT_EQ(base64_decode("Zg==Zg=="), std::nullopt);   // padding in the middle
    EXPECT_EQ(base64_decode("Z"), std::nullopt);          // one character cannot be base64
    EXPECT_EQ(base64_decode("Zg="), std::nullopt);        // incomplete padding
    EXPECT_EQ(base64_decode("Zm9v_-"), std::nullopt);     // base64url is another alphabet
}

TEST(base64, keeps_nul_bytes_and_writes_one_line) {
    EXPECT_EQ(base64("\0alice\0s3cret"s), "AGFsaWNlAHMzY3JldA==");  // SMTP AUTH PLAIN
    const std::string long_text(100, 'x');
    const std::string encoded = base64(long_text);
    EXPECT_EQ(encoded.size(), 136u);
    EXPECT_EQ(encoded.find_first_of("\r\n"), std::string::npos);
}

TEST(Fnv1a, MatchesTheReferenceVectors) {
    // FNV-1a 64-bit, from the algorithm's authors' test vectors.
    EXPECT_EQ(fnv1a_hex(""), "cbf29ce484222325");
    EXPECT_EQ(fnv1a_hex("a"), "af63dc4c8601ec8c");
    EXPECT_EQ(fnv1a_hex("foobar"), "85944171f73967e8");
    EXPECT_EQ(fnv1a(""), 0xcbf29ce484222325ULL);
    EXPECT_EQ(fnv1a("foobar"), 0x85944171f73967e8ULL);
}

TEST(AsciiCase, LowersAndComparesOnlyAsciiLetters) {
    EXPECT_EQ(lower("MAILTO:Dana@Contoso.EXAMPLE"), "mailto:dana@contoso.example");
    EXPECT_EQ(lower("\xC3\x89T\xC3\x89"), "\xC3\x89t\xC3\x89");  // UTF-8 bytes untouched
    EXPECT_TRUE(iequals("Content-Type", "content-TYPE"));
    EXPECT_FALSE(iequals("Content-Type", "Content-Typ"));
    EXPECT_FALSE(iequals("abc", "abd"));
}

}  // namespace
}  // namespace agendad::calendar::encoding
