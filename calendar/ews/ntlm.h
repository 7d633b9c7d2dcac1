// NTLMv2 over HTTP ([MS-NLMP], [MS-NTHT]): the three-message handshake on-premises Exchange asks
// for with "WWW-Authenticate: NTLM". NEGOTIATE (type 1) → the server's CHALLENGE (type 2, in a
// 401) → AUTHENTICATE (type 3) with the NTLMv2 response, on the same connection. Only NTLMv2:
// LM and NTLMv1 responses are never sent (a server that offers nothing else is refused). No
// signing or sealing: HTTP carries it over TLS. Pure: no I/O, never logs a secret. MD4 (for the
// NT hash) is our own, as OpenSSL 3 keeps it in the legacy provider; HMAC-MD5 is OpenSSL's.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agendad::calendar::ews::ntlm {

// Negotiate flags used here ([MS-NLMP] 2.2.2.5).
inline constexpr std::uint32_t negotiate_unicode = 0x00000001;
inline constexpr std::uint32_t negotiate_oem = 0x00000002;
inline constexpr std::uint32_t request_target = 0x00000004;
inline constexpr std::uint32_t negotiate_ntlm = 0x00000200;
inline constexpr std::uint32_t negotiate_always_sign = 0x00008000;
inline constexpr std::uint32_t negotiate_extended_session_security = 0x00080000;
inline constexpr std::uint32_t negotiate_target_info = 0x00800000;
inline constexpr std::uint32_t negotiate_version = 0x02000000;
inline constexpr std::uint32_t negotiate_128 = 0x20000000;
inline constexpr std::uint32_t negotiate_56 = 0x80000000;

struct credentials {
    std::string user;         // "svc-agendad"
    std::string domain;       // "CONTOSO" (may be empty: the server's domain is then used)
    std::string password;     // never logged
    std::string workstation;  // may be empty
};

// "CONTOSO\svc-agendad" → {user svc-agendad, domain CONTOSO}; "svc-agendad@contoso.com" (a UPN)
// → {user svc-agendad@contoso.com, domain ""} as Windows sends it; "svc-agendad" → no domain.
credentials split_account(std::string_view account, std::string password);

// MD4 (RFC 1320) of `bytes`: 16 bytes.
std::array<std::uint8_t, 16> md4(std::string_view bytes);
// NTOWFv2 ([MS-NLMP] 3.3.2): HMAC-MD5(MD4(UTF-16LE(password)), UTF-16LE(upper(user) + domain)).
// `user` is upper-cased by the simple case mapping of ASCII, Latin-1, Latin Extended-A, basic
// Greek and basic Cyrillic (other characters unchanged); UTF-8 in, invalid bytes as U+FFFD.
std::array<std::uint8_t, 16> ntowfv2(std::string_view password, std::string_view user,
                                     std::string_view domain);

// The NEGOTIATE message (type 1): unicode, NTLM, extended session security, target info,
// request target, 128/56, always sign; no domain or workstation fields (they are optional).
std::string negotiate_message();

// A CHALLENGE message (type 2) as read from the server.
struct challenge {
    std::uint32_t flags = 0;
    std::array<std::uint8_t, 8> server_challenge{};
    std::string target_name;  // UTF-8 (from UTF-16LE when the unicode flag is set)
    std::string target_info;  // the raw AV_PAIR list, bytes as sent (echoed in the response)
    std::optional<std::uint64_t> timestamp;  // MsvAvTimestamp (FILETIME) when present
    std::string nb_domain_name;              // MsvAvNbDomainName, UTF-8, when present
};
// Parses the bytes of a type 2 message; nullopt with `error` (a sentence, no bytes of the
// message) when it is not one: short, wrong signature or type, offsets or lengths outside the
// message, an AV_PAIR list without MsvAvEOL or running past its end.
std::optional<challenge> parse_challenge(std::string_view bytes, std::string& error);

// The AUTHENTICATE message (type 3) answering `c` with an NTLMv2 response ([MS-NLMP] 3.3.2):
// the blob holds `filetime` (the challenge's MsvAvTimestamp when it has one, else the caller's
// "now" as a FILETIME: 100 ns ticks since 1601-01-01 UTC), the client challenge and
// c.target_info; the LmChallengeResponse is LMv2 (or 24 zero bytes when the challenge has a
// timestamp, as the spec says); domain = creds.domain or, when empty, c.nb_domain_name (but
// empty for a user principal name "svc@contoso.com", as Windows sends it); unicode strings; no
// MIC, no session key exchange.
std::string authenticate_message(const challenge& c, const credentials& creds,
                                 const std::array<std::uint8_t, 8>& client_challenge,
                                 std::uint64_t filetime_now);

// FILETIME of a Unix time in seconds.
std::uint64_t filetime_from_unix(std::int64_t unix_seconds);

// "NTLM " + base64(message): an Authorization header's value.
std::string authorization_value(std::string_view message);
// The type 2 bytes from one WWW-Authenticate header value ("NTLM TlRMTVNTUAACAAAA..."; the
// scheme case-insensitive; a value listing several challenges separated by commas is searched
// for the NTLM one); nullopt when the value carries no NTLM token (a bare "NTLM" offers NTLM
// without a challenge yet).
std::optional<std::string> token_from_header(std::string_view www_authenticate);
// Whether a WWW-Authenticate value offers NTLM at all ("NTLM", "Negotiate" does not count).
bool offers_ntlm(std::string_view www_authenticate);

// --- the server's side, for checking a client (tests, the fake EWS server) ---

// A CHALLENGE message with these contents: signature, type 2, flags, target name (UTF-16LE),
// the server challenge, and a target info list with MsvAvNbDomainName, MsvAvNbComputerName,
// MsvAvDnsDomainName, MsvAvDnsComputerName, MsvAvTimestamp (when given) and MsvAvEOL.
std::string challenge_message(const std::array<std::uint8_t, 8>& server_challenge,
                              std::string_view nb_domain, std::string_view nb_computer,
                              std::optional<std::uint64_t> timestamp);

struct authenticate {
    std::uint32_t flags = 0;
    std::string user;         // UTF-8
    std::string domain;       // UTF-8
    std::string workstation;  // UTF-8
    std::string lm_response;  // bytes
    std::string nt_response;  // bytes: NTProofStr (16) + blob
};
// Parses a type 3 message; nullopt with `error` when it is not one.
std::optional<authenticate> parse_authenticate(std::string_view bytes, std::string& error);

// Whether `a` carries a valid NTLMv2 response to `server_challenge` for `password` (the user
// and domain as `a` names them): NTProofStr recomputed from the blob and compared in constant
// time. An NTLMv1 response (24 bytes) is never valid.
bool verify_ntlmv2(const authenticate& a, const std::array<std::uint8_t, 8>& server_challenge,
                   std::string_view password);

}  // namespace agendad::calendar::ews::ntlm
