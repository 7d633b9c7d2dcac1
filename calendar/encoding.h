// Low-level text encodings, one copy for all of agendad: UTF-8 (RFC 3629, with Unicode's rules
// for ill-formed input), the Windows-1252 bytes 0x80-0x9F and base64 (RFC 4648). The standard
// library only (no libical, no Boost), so that policy/ may use it as well as calendar/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agendad::calendar::encoding {

inline constexpr std::uint32_t replacement_character = 0xFFFD;

// --- UTF-8 ---

// Appends cp as UTF-8 (1 to 4 bytes). A value that is not a Unicode scalar value (a surrogate
// U+D800..U+DFFF, or over U+10FFFF) is written as U+FFFD, so the output is always well-formed.
void append_utf8(std::string& out, std::uint32_t cp);

// Decodes the UTF-8 sequence at s[i] (i < s.size()) into cp and returns its length. An ill-formed
// sequence (an overlong form, a surrogate, a value over U+10FFFF, a byte that starts nothing, a
// sequence cut short) gives cp = U+FFFD and the length of its maximal subpart, at least 1: one
// U+FFFD for a truncated sequence, one for each byte that cannot start one (the Unicode
// Standard, chapter 3, "U+FFFD Substitution of Maximal Subparts").
std::size_t decode_utf8(std::string_view s, std::size_t i, std::uint32_t& cp);

// The length of the well-formed UTF-8 sequence at s[i] (i < s.size()), or 0 when none starts
// there.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

// The offset of the first byte that does not start a well-formed UTF-8 sequence, or npos when s
// is all well-formed UTF-8.
std::size_t first_invalid_utf8(std::string_view s);

// The lenient reading that policy/text.cpp has always used: any lead byte 0xC0..0xF7 followed by
// enough continuation bytes is decoded by its bits alone, so overlong forms, surrogates and
// values up to U+1FFFFF pass. Anything else (a stray continuation byte, 0xF8..0xFF, a sequence
// cut short) gives cp = U+FFFD for its first byte alone: the length is then 1. Not for text that
// leaves agendad: use decode_utf8.
std::size_t decode_utf8_lenient(std::string_view s, std::size_t i, std::uint32_t& cp);

// --- Windows-1252 ---

// The code point Windows-1252 gives a byte: the byte's value for 0x00..0x7F and 0xA0..0xFF, the
// table's for 0x80..0x9F (0x80 is U+20AC), none for the five bytes it leaves undefined (0x81,
// 0x8D, 0x8F, 0x90, 0x9D).
std::optional<std::uint32_t> windows1252_code_point(unsigned char byte);

// --- base64 ---

// base64 with the standard alphabet and '=' padding, all on one line (RFC 4648 §4).
std::string base64(std::string_view bytes);
// The bytes of base64 text with the standard alphabet (RFC 4648 §4); '=' padding optional but,
// when present, complete. nullopt for anything else: other characters (white space included),
// a length that cannot be base64, padding in the middle.
std::optional<std::string> base64_decode(std::string_view text);

// --- ASCII case ---

// `s` with A-Z lowered (protocol tokens, addresses, header names); other bytes unchanged.
std::string lower(std::string_view s);
// Whether a and b are equal ignoring the case of A-Z.
bool iequals(std::string_view a, std::string_view b);

// --- fingerprints ---

// 64-bit FNV-1a of `bytes`: a stable number for a text, the same in every run (not a security
// measure).
std::uint64_t fnv1a(std::string_view bytes);
// The same as 16 lower-case hex digits: a short, stable name for a text.
std::string fnv1a_hex(std::string_view bytes);

}  // namespace agendad::calendar::encoding
