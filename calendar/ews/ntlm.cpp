// NTLMv2 for the EWS source ([MS-NLMP], [MS-NTHT]): the three messages of the handshake, the
// NTOWFv2 key and the NTLMv2 response, and the server's side of it for tests and the fake EWS
// server. The CHALLENGE message comes from the network: every length and offset in it is checked
// against the message before anything is read, and a message that does not hold together is
// refused with a sentence saying which field is wrong (never its bytes, never a secret).
#include "calendar/ews/ntlm.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>

#include "calendar/encoding.h"

namespace agendad::calendar::ews::ntlm {
namespace {

using digest = std::array<std::uint8_t, 16>;

constexpr std::string_view signature{"NTLMSSP\0", 8};
constexpr std::uint32_t type_negotiate = 1, type_challenge = 2, type_authenticate = 3;

// Flags read but not exported by the header ([MS-NLMP] 2.2.2.5).
constexpr std::uint32_t target_type_domain = 0x00010000;

// What we ask for in the NEGOTIATE message; the AUTHENTICATE message repeats what the server
// kept of it.
constexpr std::uint32_t client_flags = negotiate_unicode | request_target | negotiate_ntlm |
                                       negotiate_always_sign | negotiate_extended_session_security |
                                       negotiate_target_info | negotiate_128 | negotiate_56;

// Fixed parts ([MS-NLMP] 2.2.1.2, 2.2.1.3): the CHALLENGE message before the optional Version
// field, its older form without Reserved and TargetInfoFields, and the AUTHENTICATE message
// without Version and MIC.
constexpr std::size_t challenge_header = 48;
constexpr std::size_t challenge_header_without_target_info = 32;
constexpr std::size_t authenticate_header = 64;

// AvId values ([MS-NLMP] 2.2.2.1).
constexpr std::uint16_t av_eol = 0, av_nb_computer_name = 1, av_nb_domain_name = 2,
                        av_dns_computer_name = 3, av_dns_domain_name = 4, av_timestamp = 7;

// Servers send a few hundred bytes of target info (the two Exchange servers of the corpus 216
// and 224). The limit keeps the NTLMv2 blob that echoes it inside a 16-bit length field.
constexpr std::size_t max_target_info = 16'384;
// A user, domain or workstation name longer than this many UTF-16 code units is cut: no account
// name is anywhere near it, and the message's 16-bit length fields must hold it.
constexpr std::size_t max_name_units = 1024;

// NTLMv2_CLIENT_CHALLENGE ([MS-NLMP] 2.2.2.7) before its AvPairs: RespType, HiRespType,
// Reserved1, Reserved2, TimeStamp, ChallengeFromClient, Reserved3.
constexpr std::size_t blob_header = 28;

// ---------------------------------------------------------------------------------------------
// Little-endian fields

void put16(std::string& out, std::uint16_t v) {
    out += static_cast<char>(v & 0xFF);
    out += static_cast<char>(v >> 8);
}

void put32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

void put64(std::string& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

void set16(std::string& out, std::size_t at, std::uint16_t v) {
    out[at] = static_cast<char>(v & 0xFF);
    out[at + 1] = static_cast<char>(v >> 8);
}

void set32(std::string& out, std::size_t at, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) out[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

// Callers check the bounds first.
std::uint16_t get16(std::string_view s, std::size_t at) {
    return static_cast<std::uint16_t>(static_cast<unsigned char>(s[at]) |
                                      (static_cast<unsigned char>(s[at + 1]) << 8));
}

std::uint32_t get32(std::string_view s, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i)
        v |= static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
    return v;
}

std::uint64_t get64(std::string_view s, std::size_t at) {
    return get32(s, at) | (static_cast<std::uint64_t>(get32(s, at + 4)) << 32);
}

std::string_view bytes_of(const auto& array) {
    return {reinterpret_cast<const char*>(array.data()), array.size()};
}

// ---------------------------------------------------------------------------------------------
// Text

// The simple upper-case mapping of the scripts account names are written in: ASCII, Latin-1
// (U+00E0..U+00FE except U+00F7; U+00FF → U+0178), Latin Extended-A (the case pairs of
// U+0100..U+017E; dotless i and long s are left as they are), basic Greek (U+03B1..U+03C9, final
// sigma → U+03A3) and basic Cyrillic (U+0430..U+045F). Anything else is left unchanged.
std::uint32_t upper(std::uint32_t cp) {
    if (cp >= 'a' && cp <= 'z') return cp - 0x20;
    if (cp < 0x80) return cp;
    if (cp >= 0xE0 && cp <= 0xFE && cp != 0xF7) return cp - 0x20;
    if (cp == 0xFF) return 0x178;
    // Latin Extended-A: upper case at even code points, lower at odd, except in
    // U+0139..U+0148 and U+0179..U+017E where it is the other way round.
    if ((cp >= 0x100 && cp <= 0x137 && cp != 0x131) || (cp >= 0x14A && cp <= 0x177))
        return (cp & 1) != 0 ? cp - 1 : cp;
    if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E))
        return (cp & 1) == 0 ? cp - 1 : cp;
    if (cp == 0x3C2) return 0x3A3;
    if (cp >= 0x3B1 && cp <= 0x3C9) return cp - 0x20;
    if (cp >= 0x430 && cp <= 0x44F) return cp - 0x20;
    if (cp >= 0x450 && cp <= 0x45F) return cp - 0x50;
    return cp;
}

// UTF-16LE of UTF-8 text (ill-formed bytes as U+FFFD), optionally upper-cased, cut after
// `max_units` code units.
std::string utf16le(std::string_view utf8, bool to_upper = false,
                    std::size_t max_units = std::numeric_limits<std::size_t>::max()) {
    std::string out;
    out.reserve(utf8.size() * 2);
    std::size_t units = 0;
    for (std::size_t i = 0; i < utf8.size();) {
        std::uint32_t cp = 0;
        i += encoding::decode_utf8(utf8, i, cp);
        if (to_upper) cp = upper(cp);
        if (cp > 0xFFFF) {
            if (units + 2 > max_units) break;
            cp -= 0x10000;
            put16(out, static_cast<std::uint16_t>(0xD800 + (cp >> 10)));
            put16(out, static_cast<std::uint16_t>(0xDC00 + (cp & 0x3FF)));
            units += 2;
        } else {
            if (units + 1 > max_units) break;
            put16(out, static_cast<std::uint16_t>(cp));
            units += 1;
        }
    }
    return out;
}

// UTF-8 of UTF-16LE bytes (even length, checked by the caller); a lone surrogate becomes U+FFFD.
std::string utf8_of_utf16le(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() / 2);
    for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
        std::uint32_t cp = get16(bytes, i);
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 3 < bytes.size()) {
            const std::uint32_t low = get16(bytes, i + 2);
            if (low >= 0xDC00 && low <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                i += 2;
            }
        }
        encoding::append_utf8(out, cp);  // a lone surrogate is written as U+FFFD
    }
    return out;
}

// UTF-8 of an OEM string (the unicode flag clear). The OEM code page is the server's and is not
// sent, so only ASCII is read; other bytes become U+FFFD.
std::string utf8_of_oem(std::string_view bytes) {
    std::string out;
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        if (b < 0x80)
            out += c;
        else
            encoding::append_utf8(out, encoding::replacement_character);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Crypto

digest hmac_md5(std::string_view key, std::string_view data) {
    digest out{};
    unsigned int length = 0;
    const unsigned char* r =
        HMAC(EVP_md5(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &length);
    // HMAC-MD5 is in OpenSSL's default provider; without it nothing here can work.
    if (r == nullptr || length != out.size()) throw std::runtime_error("HMAC-MD5 is unavailable");
    return out;
}

std::uint32_t rotl(std::uint32_t x, int s) {
    return (x << s) | (x >> (32 - s));
}

// ---------------------------------------------------------------------------------------------
// Security buffers ([MS-NLMP] 2.2.1: Len, MaxLen, BufferOffset)

struct field {
    std::uint32_t offset = 0;
    std::uint16_t length = 0;
};

field field_at(std::string_view message, std::size_t at) {
    return {get32(message, at + 4), get16(message, at)};
}

// The bytes a buffer points at, or nullopt with `error` when they are not inside the message
// after its fixed header. An empty buffer is valid wherever it points.
std::optional<std::string_view> buffer(std::string_view message, const field& f, std::size_t header,
                                       std::string_view name, std::string& error) {
    if (f.length == 0) return std::string_view{};
    const std::uint64_t end = std::uint64_t{f.offset} + f.length;
    if (end > message.size()) {
        error = std::string(name) + " (offset " + std::to_string(f.offset) + ", " +
                std::to_string(f.length) + " bytes) runs past the end of the " +
                std::to_string(message.size()) + "-byte message";
        return std::nullopt;
    }
    if (f.offset < header) {
        error = std::string(name) + " (offset " + std::to_string(f.offset) +
                ") overlaps the message's " + std::to_string(header) + "-byte header";
        return std::nullopt;
    }
    return message.substr(f.offset, f.length);
}

bool overlap(const field& a, const field& b) {
    if (a.length == 0 || b.length == 0) return false;
    return a.offset < std::uint64_t{b.offset} + b.length &&
           b.offset < std::uint64_t{a.offset} + a.length;
}

// The text of a string field in the message's character set.
std::optional<std::string> text_of(std::string_view bytes, bool unicode, std::string_view name,
                                   std::string& error) {
    if (!unicode) return utf8_of_oem(bytes);
    if (bytes.size() % 2 != 0) {
        error = std::string(name) + " has an odd length (" + std::to_string(bytes.size()) +
                " bytes) for UTF-16";
        return std::nullopt;
    }
    return utf8_of_utf16le(bytes);
}

// Appends a payload and writes its buffer fields at `at`.
void append_payload(std::string& message, std::size_t at, std::string_view payload) {
    set16(message, at, static_cast<std::uint16_t>(payload.size()));
    set16(message, at + 2, static_cast<std::uint16_t>(payload.size()));
    set32(message, at + 4, static_cast<std::uint32_t>(message.size()));
    message.append(payload);
}

// ---------------------------------------------------------------------------------------------
// AV_PAIR lists ([MS-NLMP] 2.2.2.1)

bool read_target_info(std::string_view list, challenge& c, std::string& error) {
    std::size_t at = 0;
    bool have_domain = false;
    for (;;) {
        if (list.size() - at < 4) {
            error = "target info ends at byte " + std::to_string(at) + " without MsvAvEOL";
            return false;
        }
        const std::uint16_t id = get16(list, at);
        const std::uint16_t length = get16(list, at + 2);
        if (id == av_eol) return true;
        if (length > list.size() - at - 4) {
            error = "AV pair " + std::to_string(id) + " at byte " + std::to_string(at) +
                    " of the target info (" + std::to_string(length) +
                    " bytes) runs past the end of the list";
            return false;
        }
        const std::string_view value = list.substr(at + 4, length);
        if (id == av_timestamp) {
            if (length != 8) {
                error = "MsvAvTimestamp at byte " + std::to_string(at) +
                        " of the target info has " + std::to_string(length) + " bytes, not 8";
                return false;
            }
            if (!c.timestamp) c.timestamp = get64(value, 0);
        } else if (id == av_nb_domain_name && !have_domain) {
            auto name = text_of(value, true, "MsvAvNbDomainName", error);
            if (!name) return false;
            c.nb_domain_name = std::move(*name);
            have_domain = true;
        }
        at += 4 + std::size_t{length};
    }
}

void put_av(std::string& out, std::uint16_t id, std::string_view value) {
    put16(out, id);
    put16(out, static_cast<std::uint16_t>(value.size()));
    out.append(value);
}

std::string header_of(std::uint32_t type) {
    std::string out(signature);
    put32(out, type);
    return out;
}

bool has_header(std::string_view bytes, std::uint32_t type, std::string_view what,
                std::string& error) {
    if (bytes.size() < 12) {
        error = "the " + std::string(what) + " message is " + std::to_string(bytes.size()) +
                " bytes long, too short for an NTLM message";
        return false;
    }
    if (bytes.substr(0, 8) != signature) {
        error = "the " + std::string(what) + " message does not start with \"NTLMSSP\"";
        return false;
    }
    if (get32(bytes, 8) != type) {
        error = "the " + std::string(what) + " message has message type " +
                std::to_string(get32(bytes, 8)) + ", not " + std::to_string(type);
        return false;
    }
    return true;
}

std::string ntlmv2_blob(std::uint64_t filetime, const std::array<std::uint8_t, 8>& client,
                        std::string_view target_info) {
    std::string blob;
    blob.reserve(blob_header + target_info.size() + 8);
    blob += '\x01';  // RespType
    blob += '\x01';  // HiRespType
    put16(blob, 0);  // Reserved1
    put32(blob, 0);  // Reserved2
    put64(blob, filetime);
    blob.append(bytes_of(client));
    put32(blob, 0);  // Reserved3
    blob.append(target_info);
    // A challenge without target info still gets a terminated (empty) AV_PAIR list.
    if (target_info.empty()) put32(blob, 0);
    put32(blob, 0);  // the trailing reserved field of [MS-NLMP] 3.3.2's temp
    return blob;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

credentials split_account(std::string_view account, std::string password) {
    credentials c;
    c.password = std::move(password);
    if (const auto slash = account.find('\\'); slash != std::string_view::npos) {
        c.domain = std::string(account.substr(0, slash));
        c.user = std::string(account.substr(slash + 1));
    } else {
        c.user = std::string(account);
    }
    return c;
}

std::array<std::uint8_t, 16> md4(std::string_view bytes) {
    // RFC 1320 §3: pad with 0x80 and zeros to 56 mod 64 bytes, append the bit length (64 bits,
    // little-endian), then run the three rounds over each 16-word block.
    std::string m(bytes);
    m += '\x80';
    while (m.size() % 64 != 56) m += '\0';
    put64(m, static_cast<std::uint64_t>(bytes.size()) * 8);

    std::uint32_t a = 0x67452301, b = 0xefcdab89, c = 0x98badcfe, d = 0x10325476;
    const auto f = [](std::uint32_t x, std::uint32_t y, std::uint32_t z) {
        return (x & y) | (~x & z);
    };
    const auto g = [](std::uint32_t x, std::uint32_t y, std::uint32_t z) {
        return (x & y) | (x & z) | (y & z);
    };
    const auto h = [](std::uint32_t x, std::uint32_t y, std::uint32_t z) { return x ^ y ^ z; };
    for (std::size_t block = 0; block < m.size(); block += 64) {
        std::array<std::uint32_t, 16> x{};
        for (std::size_t i = 0; i < 16; ++i) x[i] = get32(m, block + 4 * i);
        const std::uint32_t aa = a, bb = b, cc = c, dd = d;
        // Each step updates the four registers in turn: a, d, c, b.
        const auto round = [&](auto fn, std::uint32_t constant, const std::array<int, 16>& order,
                               const std::array<int, 4>& shifts) {
            for (std::size_t i = 0; i < 16; i += 4) {
                a = rotl(a + fn(b, c, d) + x[static_cast<std::size_t>(order[i])] + constant,
                         shifts[0]);
                d = rotl(d + fn(a, b, c) + x[static_cast<std::size_t>(order[i + 1])] + constant,
                         shifts[1]);
                c = rotl(c + fn(d, a, b) + x[static_cast<std::size_t>(order[i + 2])] + constant,
                         shifts[2]);
                b = rotl(b + fn(c, d, a) + x[static_cast<std::size_t>(order[i + 3])] + constant,
                         shifts[3]);
            }
        };
        round(f, 0, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, {3, 7, 11, 19});
        round(g, 0x5A827999, {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15}, {3, 5, 9, 13});
        round(h, 0x6ED9EBA1, {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15},
              {3, 9, 11, 15});
        a += aa;
        b += bb;
        c += cc;
        d += dd;
    }
    std::string out;
    for (const std::uint32_t v : {a, b, c, d}) put32(out, v);
    std::array<std::uint8_t, 16> result{};
    for (std::size_t i = 0; i < 16; ++i) result[i] = static_cast<std::uint8_t>(out[i]);
    return result;
}

std::array<std::uint8_t, 16> ntowfv2(std::string_view password, std::string_view user,
                                     std::string_view domain) {
    const digest nt_hash = md4(utf16le(password));
    return hmac_md5(bytes_of(nt_hash), utf16le(user, true) + utf16le(domain));
}

std::string negotiate_message() {
    // No Version field (its flag is not set) and empty DomainNameFields and WorkstationFields:
    // the offsets of empty fields point at the end of the header.
    std::string out = header_of(type_negotiate);
    put32(out, client_flags);
    for (int i = 0; i < 2; ++i) {
        put16(out, 0);
        put16(out, 0);
        put32(out, 32);
    }
    return out;
}

std::optional<challenge> parse_challenge(std::string_view bytes, std::string& error) {
    if (!has_header(bytes, type_challenge, "CHALLENGE", error)) return std::nullopt;
    if (bytes.size() < challenge_header_without_target_info) {
        error = "the CHALLENGE message is " + std::to_string(bytes.size()) +
                " bytes long, shorter than its " +
                std::to_string(challenge_header_without_target_info) + "-byte header";
        return std::nullopt;
    }
    challenge c;
    c.flags = get32(bytes, 20);
    for (std::size_t i = 0; i < 8; ++i)
        c.server_challenge[i] = static_cast<std::uint8_t>(bytes[24 + i]);

    // Old servers end the message after the server challenge; one that announces target info
    // must carry the fields that locate it.
    const bool announces_target_info = (c.flags & negotiate_target_info) != 0;
    std::size_t header = challenge_header_without_target_info;
    field info_field;
    if (bytes.size() >= challenge_header) {
        header = challenge_header;
        info_field = field_at(bytes, 40);
    } else if (announces_target_info) {
        error = "the CHALLENGE message is " + std::to_string(bytes.size()) +
                " bytes long but announces target info, whose fields end at byte " +
                std::to_string(challenge_header);
        return std::nullopt;
    }
    const field name_field = field_at(bytes, 12);
    const auto name = buffer(bytes, name_field, header, "the target name", error);
    if (!name) return std::nullopt;
    const auto info = buffer(bytes, info_field, header, "the target info", error);
    if (!info) return std::nullopt;
    if (overlap(name_field, info_field)) {
        error = "the target name and the target info of the CHALLENGE message overlap";
        return std::nullopt;
    }
    const bool unicode = (c.flags & negotiate_unicode) != 0;
    auto target_name = text_of(*name, unicode, "the target name", error);
    if (!target_name) return std::nullopt;
    c.target_name = std::move(*target_name);

    if (info->size() > max_target_info) {
        error = "the target info of the CHALLENGE message is " + std::to_string(info->size()) +
                " bytes long, more than the " + std::to_string(max_target_info) + " accepted";
        return std::nullopt;
    }
    if (!info->empty()) {
        if (!read_target_info(*info, c, error)) return std::nullopt;
        c.target_info = std::string(*info);
    }
    return c;
}

std::string authenticate_message(const challenge& c, const credentials& creds,
                                 const std::array<std::uint8_t, 8>& client_challenge,
                                 std::uint64_t filetime_now) {
    // A user principal name ("svc@contoso.com") names its domain itself: Windows sends it with
    // an empty domain, and the key is computed with the empty domain as well.
    const bool upn = creds.user.find('@') != std::string::npos;
    const std::string& domain = creds.domain.empty() && !upn ? c.nb_domain_name : creds.domain;
    const digest key = ntowfv2(creds.password, creds.user, domain);
    const std::string_view server = bytes_of(c.server_challenge);

    // NTLMv2 response ([MS-NLMP] 3.3.2): NTProofStr = HMAC-MD5(key, server challenge + blob).
    const std::string blob =
        ntlmv2_blob(c.timestamp.value_or(filetime_now), client_challenge, c.target_info);
    std::string nt_response(bytes_of(hmac_md5(bytes_of(key), std::string(server) + blob)));
    nt_response += blob;

    // LMv2 response, or 24 zero bytes when the server sent a timestamp (a client that can send
    // the MIC does; the server then ignores the LM response).
    std::string lm_response(24, '\0');
    if (!c.timestamp) {
        const std::string_view client = bytes_of(client_challenge);
        lm_response = std::string(
            bytes_of(hmac_md5(bytes_of(key), std::string(server) + std::string(client))));
        lm_response += client;
    }

    // The flags the server kept of ours; unicode and NTLM always (the strings below are UTF-16).
    const std::uint32_t flags = (c.flags & client_flags) | negotiate_unicode | negotiate_ntlm;

    std::string out = header_of(type_authenticate);
    out.resize(authenticate_header, '\0');
    set32(out, 60, flags);
    // Payload in Windows's order; the field headers are at 12 (LM), 20 (NT), 28 (domain), 36
    // (user), 44 (workstation) and 52 (session key, empty: no key exchange).
    append_payload(out, 28, utf16le(domain, false, max_name_units));
    append_payload(out, 36, utf16le(creds.user, false, max_name_units));
    append_payload(out, 44, utf16le(creds.workstation, false, max_name_units));
    append_payload(out, 12, lm_response);
    append_payload(out, 20, nt_response);
    append_payload(out, 52, {});
    return out;
}

std::uint64_t filetime_from_unix(std::int64_t unix_seconds) {
    constexpr std::int64_t seconds_1601_to_1970 = 11'644'473'600;
    constexpr std::uint64_t ticks_per_second = 10'000'000;
    if (unix_seconds < -seconds_1601_to_1970) return 0;
    const auto seconds = static_cast<std::uint64_t>(unix_seconds + seconds_1601_to_1970);
    if (seconds > std::numeric_limits<std::uint64_t>::max() / ticks_per_second)
        return std::numeric_limits<std::uint64_t>::max();
    return seconds * ticks_per_second;
}

std::string authorization_value(std::string_view message) {
    return "NTLM " + encoding::base64(message);
}

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

// Calls `fn(scheme, rest)` for each comma-separated challenge of a WWW-Authenticate value until
// it returns true. Auth-params of other schemes ("realm=x") come out as schemes of their own,
// which no caller here mistakes for NTLM.
template <typename Fn>
bool for_each_challenge(std::string_view value, Fn fn) {
    while (!value.empty()) {
        const std::size_t comma = value.find(',');
        const std::string_view item = trim(value.substr(0, comma));
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        const std::size_t space = item.find_first_of(" \t");
        const std::string_view scheme = item.substr(0, space);
        const std::string_view rest =
            space == std::string_view::npos ? std::string_view{} : trim(item.substr(space));
        if (fn(scheme, rest)) return true;
    }
    return false;
}

}  // namespace

std::optional<std::string> token_from_header(std::string_view www_authenticate) {
    std::optional<std::string> token;
    for_each_challenge(www_authenticate, [&](std::string_view scheme, std::string_view rest) {
        if (!encoding::iequals(scheme, "NTLM") || rest.empty()) return false;
        token = encoding::base64_decode(rest);
        return token.has_value();
    });
    return token;
}

bool offers_ntlm(std::string_view www_authenticate) {
    return for_each_challenge(www_authenticate, [](std::string_view scheme, std::string_view) {
        return encoding::iequals(scheme, "NTLM");
    });
}

std::string challenge_message(const std::array<std::uint8_t, 8>& server_challenge,
                              std::string_view nb_domain, std::string_view nb_computer,
                              std::optional<std::uint64_t> timestamp) {
    // The DNS names are made up from the NetBIOS ones, as a test domain would have them:
    // "contoso", "ex01.contoso".
    const std::string dns_domain = encoding::lower(nb_domain);
    const std::string dns_computer = encoding::lower(nb_computer) + "." + dns_domain;
    std::string info;
    put_av(info, av_nb_domain_name, utf16le(nb_domain, false, max_name_units));
    put_av(info, av_nb_computer_name, utf16le(nb_computer, false, max_name_units));
    put_av(info, av_dns_domain_name, utf16le(dns_domain, false, max_name_units));
    put_av(info, av_dns_computer_name, utf16le(dns_computer, false, max_name_units));
    if (timestamp) {
        std::string value;
        put64(value, *timestamp);
        put_av(info, av_timestamp, value);
    }
    put_av(info, av_eol, {});

    std::string out = header_of(type_challenge);
    out.resize(challenge_header, '\0');
    set32(out, 20,
          negotiate_unicode | request_target | negotiate_ntlm | negotiate_always_sign |
              target_type_domain | negotiate_extended_session_security | negotiate_target_info |
              negotiate_128 | negotiate_56);
    for (std::size_t i = 0; i < 8; ++i) out[24 + i] = static_cast<char>(server_challenge[i]);
    append_payload(out, 12, utf16le(nb_domain, false, max_name_units));
    append_payload(out, 40, info);
    return out;
}

std::optional<authenticate> parse_authenticate(std::string_view bytes, std::string& error) {
    if (!has_header(bytes, type_authenticate, "AUTHENTICATE", error)) return std::nullopt;
    if (bytes.size() < authenticate_header) {
        error = "the AUTHENTICATE message is " + std::to_string(bytes.size()) +
                " bytes long, shorter than its " + std::to_string(authenticate_header) +
                "-byte header";
        return std::nullopt;
    }
    authenticate a;
    a.flags = get32(bytes, 60);
    const bool unicode = (a.flags & negotiate_unicode) != 0;
    const auto lm =
        buffer(bytes, field_at(bytes, 12), authenticate_header, "the LM response", error);
    if (!lm) return std::nullopt;
    const auto nt =
        buffer(bytes, field_at(bytes, 20), authenticate_header, "the NT response", error);
    if (!nt) return std::nullopt;
    const auto domain =
        buffer(bytes, field_at(bytes, 28), authenticate_header, "the domain name", error);
    if (!domain) return std::nullopt;
    const auto user =
        buffer(bytes, field_at(bytes, 36), authenticate_header, "the user name", error);
    if (!user) return std::nullopt;
    const auto workstation =
        buffer(bytes, field_at(bytes, 44), authenticate_header, "the workstation name", error);
    if (!workstation) return std::nullopt;
    auto domain_text = text_of(*domain, unicode, "the domain name", error);
    if (!domain_text) return std::nullopt;
    auto user_text = text_of(*user, unicode, "the user name", error);
    if (!user_text) return std::nullopt;
    auto workstation_text = text_of(*workstation, unicode, "the workstation name", error);
    if (!workstation_text) return std::nullopt;
    a.domain = std::move(*domain_text);
    a.user = std::move(*user_text);
    a.workstation = std::move(*workstation_text);
    a.lm_response = std::string(*lm);
    a.nt_response = std::string(*nt);
    return a;
}

bool verify_ntlmv2(const authenticate& a, const std::array<std::uint8_t, 8>& server_challenge,
                   std::string_view password) {
    // NTProofStr, the blob's fixed part and at least an MsvAvEOL and the trailing reserved field.
    // An NTLMv1 response is 24 bytes and never gets here.
    if (a.nt_response.size() < 16 + blob_header + 8) return false;
    const std::string_view proof = std::string_view(a.nt_response).substr(0, 16);
    const std::string_view blob = std::string_view(a.nt_response).substr(16);
    if (blob[0] != '\x01' || blob[1] != '\x01') return false;
    const digest key = ntowfv2(password, a.user, a.domain);
    const digest expected =
        hmac_md5(bytes_of(key), std::string(bytes_of(server_challenge)) + std::string(blob));
    return CRYPTO_memcmp(expected.data(), proof.data(), expected.size()) == 0;
}

}  // namespace agendad::calendar::ews::ntlm
