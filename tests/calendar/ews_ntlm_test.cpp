// Tests for calendar/ews/ntlm: MD4 against RFC 1320's test suite, NTOWFv2 and the NTLMv2
// response against [MS-NLMP] 4.2.4, the CHALLENGE messages of two real Exchange servers (2007 SP1
// and 2010 SP2, from evolution-ews's libsoup traces) answered and verified, the header helpers,
// and hostile CHALLENGE messages that must be refused without reading outside them.
#include "calendar/ews/ntlm.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "calendar/encoding.h"

namespace agendad::calendar::ews::ntlm {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;

const fs::path traces_dir = fs::path(AGENDAD_SHARED_DIR) / "corpus" / "evolution-ews-traces";

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4];
        out += digits[b & 0x0F];
    }
    return out;
}

std::string hex(const std::array<std::uint8_t, 16>& d) {
    return hex(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
}

std::string le16(std::uint16_t v) {
    return {static_cast<char>(v & 0xFF), static_cast<char>(v >> 8)};
}
std::string le32(std::uint32_t v) {
    return le16(static_cast<std::uint16_t>(v & 0xFFFF)) + le16(static_cast<std::uint16_t>(v >> 16));
}

// ASCII as UTF-16LE.
std::string utf16(std::string_view ascii) {
    std::string out;
    for (const char c : ascii) {
        out += c;
        out += '\0';
    }
    return out;
}

std::string av(std::uint16_t id, std::string_view value) {
    return le16(id) + le16(static_cast<std::uint16_t>(value.size())) + std::string(value);
}

// A CHALLENGE message laid out by hand: 48-byte header, target name, then target info.
std::string hand_challenge(std::uint32_t flags, std::string_view server_challenge,
                           std::string_view target_name, std::string_view target_info) {
    const auto name_offset = 48u;
    const auto info_offset = static_cast<std::uint32_t>(48 + target_name.size());
    std::string m = "NTLMSSP\0"s + le32(2);
    m += le16(static_cast<std::uint16_t>(target_name.size())) +
         le16(static_cast<std::uint16_t>(target_name.size())) + le32(name_offset);
    m += le32(flags);
    m += server_challenge;
    m += std::string(8, '\0');
    m += le16(static_cast<std::uint16_t>(target_info.size())) +
         le16(static_cast<std::uint16_t>(target_info.size())) + le32(info_offset);
    m += target_name;
    m += target_info;
    return m;
}

const std::array<std::uint8_t, 8> spec_server_challenge{0x01, 0x23, 0x45, 0x67,
                                                        0x89, 0xab, 0xcd, 0xef};
const std::array<std::uint8_t, 8> spec_client_challenge{0xaa, 0xaa, 0xaa, 0xaa,
                                                        0xaa, 0xaa, 0xaa, 0xaa};

std::string_view view(const std::array<std::uint8_t, 8>& a) {
    return {reinterpret_cast<const char*>(a.data()), a.size()};
}

// --- MD4 ---

TEST(md4, matches_the_rfc_1320_test_suite) {
    const std::vector<std::pair<std::string, std::string>> suite = {
        {"", "31d6cfe0d16ae931b73c59d7e0c089c0"},
        {"a", "bde52cb31de33e46245e05fbdbd6fb24"},
        {"abc", "a448017aaf21d8525fc10ae87aa6729d"},
        {"message digest", "d9130a8164549fe818874806e1c7014b"},
        {"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "043f8582f241db351ce627e153e7f0e4"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "e33b4ddc9c38f2199c3e7b164fcc0536"},
    };
    for (const auto& [input, expected] : suite)
        EXPECT_EQ(hex(md4(input)), expected) << '"' << input << '"';
}

TEST(md4, gives_the_nt_hash_of_the_spec_password) {
    // [MS-NLMP] 4.2.2.1.2: NTOWFv1("Password") = MD4(UTF-16LE("Password")).
    EXPECT_EQ(hex(md4(utf16("Password"))), "a4f49c406510bdcab6824ee7c30fd852");
}

// --- [MS-NLMP] 4.2.4 ---

TEST(ntowfv2, matches_the_spec_vector) {
    EXPECT_EQ(hex(ntowfv2("Password", "User", "Domain")), "0c868a403bfd7a93a3001ef22ef02e3f");
}

TEST(ntowfv2, upper_cases_the_user_but_not_the_domain) {
    EXPECT_EQ(ntowfv2("Password", "user", "Domain"), ntowfv2("Password", "USER", "Domain"));
    EXPECT_NE(ntowfv2("Password", "User", "domain"), ntowfv2("Password", "User", "Domain"));
    EXPECT_NE(ntowfv2("password", "User", "Domain"), ntowfv2("Password", "User", "Domain"));
    // Latin-1, Latin Extended-A and Cyrillic letters are upper-cased as Windows does.
    EXPECT_EQ(ntowfv2("pw", "józef.łęcki", "D"), ntowfv2("pw", "JÓZEF.ŁĘCKI", "D"));
    EXPECT_EQ(ntowfv2("pw", "ÿvette", "D"), ntowfv2("pw", "ŸVETTE", "D"));
    EXPECT_EQ(ntowfv2("pw", "иван", "D"), ntowfv2("pw", "ИВАН", "D"));
    // ÷ has no case; ß has no single upper-case letter.
    EXPECT_NE(ntowfv2("pw", "a÷b", "D"), ntowfv2("pw", "A×B", "D"));
    EXPECT_NE(ntowfv2("pw", "straße", "D"), ntowfv2("pw", "STRASSE", "D"));
}

TEST(authenticate_message, reproduces_the_spec_ntlmv2_example) {
    // The CHALLENGE of [MS-NLMP] 4.2.4: target name "Server", AV pairs MsvAvNbDomainName
    // "Domain" and MsvAvNbComputerName "Server", no timestamp.
    const std::string target_info = av(2, utf16("Domain")) + av(1, utf16("Server")) + av(0, {});
    const std::string bytes =
        hand_challenge(0xe28a8233, view(spec_server_challenge), utf16("Server"), target_info);
    std::string error;
    const auto c = parse_challenge(bytes, error);
    ASSERT_TRUE(c) << error;
    EXPECT_EQ(c->target_name, "Server");
    EXPECT_EQ(c->nb_domain_name, "Domain");
    EXPECT_FALSE(c->timestamp);

    const credentials creds{"User", "Domain", "Password", "COMPUTER"};
    const std::string m = authenticate_message(*c, creds, spec_client_challenge, 0);
    const auto a = parse_authenticate(m, error);
    ASSERT_TRUE(a) << error;
    EXPECT_EQ(hex(a->lm_response), "86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa");
    ASSERT_GE(a->nt_response.size(), 16u);
    EXPECT_EQ(hex(a->nt_response.substr(0, 16)), "68cd0ab851e51c96aabc927bebef6a1c");
    // The blob ([MS-NLMP] 4.2.4.1.3 "temp"): header, time 0, client challenge, the AV pairs.
    EXPECT_EQ(hex(a->nt_response.substr(16)),
              "0101000000000000"
              "0000000000000000"
              "aaaaaaaaaaaaaaaa"
              "00000000" +
                  hex(target_info) + "00000000");
    EXPECT_EQ(a->user, "User");
    EXPECT_EQ(a->domain, "Domain");
    EXPECT_EQ(a->workstation, "COMPUTER");
    EXPECT_TRUE(verify_ntlmv2(*a, spec_server_challenge, "Password"));
}

// --- the real Exchange servers ---

struct trace_challenge {
    fs::path file;
    std::string header_value;
};

// Every "WWW-Authenticate:" value the servers sent in the traces.
std::vector<trace_challenge> www_authenticate_values() {
    std::vector<trace_challenge> out;
    for (const auto& entry : fs::recursive_directory_iterator(traces_dir)) {
        if (entry.path().extension() != ".trace") continue;
        std::ifstream in(entry.path(), std::ios::binary);
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            constexpr std::string_view prefix = "< WWW-Authenticate:";
            if (line.starts_with(prefix)) {
                std::string value = line.substr(prefix.size());
                while (!value.empty() && value.front() == ' ') value.erase(0, 1);
                out.push_back({entry.path(), value});
            }
        }
    }
    return out;
}

std::vector<std::pair<fs::path, challenge>> trace_challenges() {
    std::vector<std::pair<fs::path, challenge>> out;
    for (const auto& [file, value] : www_authenticate_values()) {
        const auto token = token_from_header(value);
        if (!token) continue;
        std::string error;
        auto c = parse_challenge(*token, error);
        EXPECT_TRUE(c) << file << ": " << error;
        if (c) out.emplace_back(file, std::move(*c));
    }
    return out;
}

const challenge* challenge_from(const std::vector<std::pair<fs::path, challenge>>& all,
                                std::string_view server) {
    for (const auto& [file, c] : all)
        if (file.string().find(server) != std::string::npos) return &c;
    return nullptr;
}

TEST(trace_challenges, every_ntlm_challenge_parses) {
    ASSERT_TRUE(fs::is_directory(traces_dir)) << traces_dir;
    std::size_t ntlm_values = 0, negotiate_only = 0;
    for (const auto& [file, value] : www_authenticate_values()) {
        if (offers_ntlm(value)) {
            ++ntlm_values;
            EXPECT_TRUE(token_from_header(value)) << file << ": " << value;
        } else {
            ++negotiate_only;
            EXPECT_FALSE(token_from_header(value)) << file << ": " << value;
        }
    }
    // One 401 per server version; Exchange 2010 also offers "Negotiate" in a header of its own.
    EXPECT_EQ(ntlm_values, 2u);
    EXPECT_EQ(negotiate_only, 1u);

    const auto all = trace_challenges();
    ASSERT_EQ(all.size(), 2u);
    for (const auto& [file, c] : all) {
        SCOPED_TRACE(file.string());
        EXPECT_NE(c.flags & negotiate_unicode, 0u);
        EXPECT_NE(c.flags & negotiate_ntlm, 0u);
        EXPECT_NE(c.flags & negotiate_target_info, 0u);
        EXPECT_NE(c.server_challenge, (std::array<std::uint8_t, 8>{}));
        EXPECT_FALSE(c.target_name.empty());
        EXPECT_FALSE(c.target_info.empty());
        EXPECT_EQ(c.target_name, c.nb_domain_name);
    }

    const challenge* e2007 = challenge_from(all, "Exchange2007_SP1");
    ASSERT_NE(e2007, nullptr);
    EXPECT_EQ(e2007->target_name, "EXCHANGE2007");
    EXPECT_EQ(e2007->nb_domain_name, "EXCHANGE2007");
    EXPECT_FALSE(e2007->timestamp);  // Windows Server 2003 R2 sends none
    EXPECT_EQ(e2007->target_info.size(), 216u);
    EXPECT_NE(e2007->target_info.find(utf16("WINDOWS2003R2")), std::string::npos);

    const challenge* e2010 = challenge_from(all, "Exchange2010_SP2");
    ASSERT_NE(e2010, nullptr);
    EXPECT_EQ(e2010->target_name, "GSSLAB");
    EXPECT_EQ(e2010->nb_domain_name, "GSSLAB");
    EXPECT_EQ(hex(view(e2010->server_challenge)), "54e937134b39ab56");
    EXPECT_EQ(e2010->flags, 0x02818205u);
    ASSERT_TRUE(e2010->timestamp);
    // 2013-10-10 02:52:27.689 UTC; the 401's Date header says 02:52:27.
    EXPECT_EQ(*e2010->timestamp, 0x01cec563c15d9b43u);
    EXPECT_EQ((*e2010->timestamp - filetime_from_unix(0)) / 10'000'000, 1'381'373'547u);
    EXPECT_NE(e2010->target_info.find(utf16("EXCHANGE2010")), std::string::npos);
    EXPECT_NE(e2010->target_info.find(utf16("exchange2010.gsslab.pnq.redhat.com")),
              std::string::npos);
}

TEST(trace_challenges, are_answered_with_a_verifiable_ntlmv2_response) {
    const auto all = trace_challenges();
    const challenge* c = challenge_from(all, "Exchange2010_SP2");
    ASSERT_NE(c, nullptr);
    auto creds = split_account("GSSLAB\\svc-agendad", "correct horse");
    creds.workstation = "AGENDAD01";
    const std::array<std::uint8_t, 8> client{1, 2, 3, 4, 5, 6, 7, 8};
    const std::string m =
        authenticate_message(*c, creds, client, filetime_from_unix(1'800'000'000));

    std::string error;
    const auto a = parse_authenticate(m, error);
    ASSERT_TRUE(a) << error;
    EXPECT_EQ(a->user, "svc-agendad");
    EXPECT_EQ(a->domain, "GSSLAB");
    EXPECT_EQ(a->workstation, "AGENDAD01");
    EXPECT_NE(a->flags & negotiate_unicode, 0u);
    EXPECT_NE(a->flags & negotiate_ntlm, 0u);
    // The server sent a timestamp: the LM response is zeros and the blob carries the server's
    // time, not ours.
    EXPECT_EQ(a->lm_response, std::string(24, '\0'));
    EXPECT_EQ(a->nt_response.substr(16 + 8, 8),
              c->target_info.substr(c->target_info.size() - 12, 8));
    // The target info is echoed as sent.
    EXPECT_NE(a->nt_response.find(c->target_info), std::string::npos);

    EXPECT_TRUE(verify_ntlmv2(*a, c->server_challenge, "correct horse"));
    EXPECT_FALSE(verify_ntlmv2(*a, c->server_challenge, "Correct horse"));
    EXPECT_FALSE(verify_ntlmv2(*a, c->server_challenge, ""));
    auto other_challenge = c->server_challenge;
    other_challenge[0] ^= 1;
    EXPECT_FALSE(verify_ntlmv2(*a, other_challenge, "correct horse"));
    // Any change to the blob (here its client challenge) breaks the proof.
    auto tampered = *a;
    tampered.nt_response[16 + 16] ^= 1;
    EXPECT_FALSE(verify_ntlmv2(tampered, c->server_challenge, "correct horse"));
    // The user as the server reads it (another name, same password) is part of the key.
    tampered = *a;
    tampered.user = "administrator";
    EXPECT_FALSE(verify_ntlmv2(tampered, c->server_challenge, "correct horse"));
}

TEST(trace_challenges, without_a_timestamp_get_an_lmv2_response_and_our_time) {
    const auto all = trace_challenges();
    const challenge* c = challenge_from(all, "Exchange2007_SP1");
    ASSERT_NE(c, nullptr);
    // No domain given: the server's NetBIOS domain is used.
    const auto creds = split_account("svc", "pw");
    const std::array<std::uint8_t, 8> client{9, 9, 9, 9, 9, 9, 9, 9};
    const std::uint64_t now = filetime_from_unix(1'800'000'000);
    std::string error;
    const auto a = parse_authenticate(authenticate_message(*c, creds, client, now), error);
    ASSERT_TRUE(a) << error;
    EXPECT_EQ(a->domain, "EXCHANGE2007");
    ASSERT_EQ(a->lm_response.size(), 24u);
    EXPECT_EQ(a->lm_response.substr(16), view(client));
    EXPECT_NE(a->lm_response.substr(0, 16), std::string(16, '\0'));
    std::string expected_time;
    for (int i = 0; i < 8; ++i) expected_time += static_cast<char>((now >> (8 * i)) & 0xFF);
    EXPECT_EQ(a->nt_response.substr(16 + 8, 8), expected_time);
    EXPECT_TRUE(verify_ntlmv2(*a, c->server_challenge, "pw"));
}

// --- round trip with our own CHALLENGE ---

TEST(challenge_message, round_trips_through_parse_challenge) {
    const std::array<std::uint8_t, 8> sc{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3};
    const std::uint64_t ts = filetime_from_unix(1'790'000'000);
    std::string error;
    const auto c = parse_challenge(challenge_message(sc, "CONTOSO", "EX01", ts), error);
    ASSERT_TRUE(c) << error;
    EXPECT_EQ(c->server_challenge, sc);
    EXPECT_EQ(c->target_name, "CONTOSO");
    EXPECT_EQ(c->nb_domain_name, "CONTOSO");
    EXPECT_EQ(c->timestamp, ts);
    EXPECT_NE(c->flags & negotiate_target_info, 0u);
    EXPECT_NE(c->flags & negotiate_unicode, 0u);
    EXPECT_NE(c->target_info.find(utf16("EX01")), std::string::npos);
    EXPECT_NE(c->target_info.find(utf16("ex01.contoso")), std::string::npos);

    const auto without =
        parse_challenge(challenge_message(sc, "CONTOSO", "EX01", std::nullopt), error);
    ASSERT_TRUE(without) << error;
    EXPECT_FALSE(without->timestamp);
}

TEST(challenge_message, timestamp_is_used_in_the_blob_and_zeroes_the_lm_response) {
    const std::array<std::uint8_t, 8> sc{7, 7, 7, 7, 7, 7, 7, 7};
    const std::array<std::uint8_t, 8> cc{1, 1, 2, 2, 3, 3, 4, 4};
    const std::uint64_t server_time = 0x01d9aabbccddeeffULL;
    std::string error;
    const auto with = parse_challenge(challenge_message(sc, "CONTOSO", "EX01", server_time), error);
    ASSERT_TRUE(with) << error;
    const auto creds = split_account("CONTOSO\\svc", "pw");
    const auto a = parse_authenticate(authenticate_message(*with, creds, cc, 12345), error);
    ASSERT_TRUE(a) << error;
    EXPECT_EQ(hex(a->nt_response.substr(16 + 8, 8)), "ffeeddccbbaad901");
    EXPECT_EQ(a->lm_response, std::string(24, '\0'));
    EXPECT_TRUE(verify_ntlmv2(*a, sc, "pw"));

    const auto without =
        parse_challenge(challenge_message(sc, "CONTOSO", "EX01", std::nullopt), error);
    ASSERT_TRUE(without) << error;
    const auto b = parse_authenticate(authenticate_message(*without, creds, cc, 12345), error);
    ASSERT_TRUE(b) << error;
    EXPECT_EQ(hex(b->nt_response.substr(16 + 8, 8)), "3930000000000000");
    EXPECT_NE(b->lm_response, std::string(24, '\0'));
    EXPECT_TRUE(verify_ntlmv2(*b, sc, "pw"));
}

TEST(authenticate_message, sends_a_upn_with_an_empty_domain) {
    const std::array<std::uint8_t, 8> sc{1, 2, 3, 4, 5, 6, 7, 8};
    std::string error;
    const auto c = parse_challenge(challenge_message(sc, "CONTOSO", "EX01", 1), error);
    ASSERT_TRUE(c) << error;
    const auto a = parse_authenticate(
        authenticate_message(*c, split_account("svc@contoso.com", "pw"), {}, 0), error);
    ASSERT_TRUE(a) << error;
    EXPECT_EQ(a->user, "svc@contoso.com");
    EXPECT_EQ(a->domain, "");
    EXPECT_TRUE(verify_ntlmv2(*a, sc, "pw"));
}

TEST(authenticate_message, carries_names_beyond_ascii) {
    const std::array<std::uint8_t, 8> sc{1, 2, 3, 4, 5, 6, 7, 8};
    std::string error;
    const auto c = parse_challenge(challenge_message(sc, "CONTOSO", "EX01", std::nullopt), error);
    ASSERT_TRUE(c) << error;
    credentials creds{"zoë.łukasz", "ÉQUIPE", "pässwörd 🔑", "PC-😀"};
    const auto a = parse_authenticate(authenticate_message(*c, creds, {}, 0), error);
    ASSERT_TRUE(a) << error;
    EXPECT_EQ(a->user, creds.user);
    EXPECT_EQ(a->domain, creds.domain);
    EXPECT_EQ(a->workstation, creds.workstation);  // a surrogate pair there and back
    EXPECT_TRUE(verify_ntlmv2(*a, sc, "pässwörd 🔑"));
    EXPECT_FALSE(verify_ntlmv2(*a, sc, "pässwörd"));
}

TEST(verify_ntlmv2, never_accepts_an_ntlmv1_response) {
    authenticate a;
    a.user = "User";
    a.domain = "Domain";
    a.nt_response = std::string(24, '\x11');
    EXPECT_FALSE(verify_ntlmv2(a, spec_server_challenge, "Password"));
    a.nt_response.clear();
    EXPECT_FALSE(verify_ntlmv2(a, spec_server_challenge, "Password"));
}

// --- helpers ---

TEST(split_account, reads_the_three_forms) {
    auto c = split_account("CONTOSO\\svc", "pw");
    EXPECT_EQ(c.domain, "CONTOSO");
    EXPECT_EQ(c.user, "svc");
    EXPECT_EQ(c.password, "pw");
    c = split_account("svc@contoso.com", "pw");
    EXPECT_EQ(c.domain, "");
    EXPECT_EQ(c.user, "svc@contoso.com");
    c = split_account("svc", "pw");
    EXPECT_EQ(c.domain, "");
    EXPECT_EQ(c.user, "svc");
    EXPECT_EQ(c.workstation, "");
}

TEST(filetime_from_unix, counts_100ns_ticks_from_1601) {
    EXPECT_EQ(filetime_from_unix(0), 116'444'736'000'000'000ULL);
    EXPECT_EQ(filetime_from_unix(1), 116'444'736'010'000'000ULL);
    EXPECT_EQ(filetime_from_unix(-11'644'473'600), 0u);
    EXPECT_EQ(filetime_from_unix(-20'000'000'000), 0u);
}

TEST(token_from_header, finds_the_ntlm_token) {
    const std::string type2 = challenge_message({1, 2, 3, 4, 5, 6, 7, 8}, "D", "C", std::nullopt);
    const std::string b64 = encoding::base64(type2);
    EXPECT_EQ(token_from_header("NTLM " + b64), type2);
    EXPECT_EQ(token_from_header("ntlm " + b64), type2);
    EXPECT_EQ(token_from_header("Negotiate abc, NTLM " + b64), type2);
    EXPECT_EQ(token_from_header("  NTLM   " + b64 + "  "), type2);
    EXPECT_EQ(token_from_header("NTLM"), std::nullopt);
    EXPECT_EQ(token_from_header("Basic realm=x"), std::nullopt);
    EXPECT_EQ(token_from_header("Negotiate " + b64), std::nullopt);
    EXPECT_EQ(token_from_header("NTLM not*base64"), std::nullopt);
    EXPECT_EQ(token_from_header("NTLMX " + b64), std::nullopt);
    EXPECT_EQ(token_from_header(""), std::nullopt);
}

TEST(offers_ntlm, only_for_the_ntlm_scheme) {
    EXPECT_TRUE(offers_ntlm("NTLM"));
    EXPECT_TRUE(offers_ntlm("ntlm"));
    EXPECT_TRUE(offers_ntlm("NTLM TlRMTVNTUAACAAAA"));
    EXPECT_TRUE(offers_ntlm("Negotiate abc, NTLM"));
    EXPECT_TRUE(offers_ntlm("Basic realm=\"x\", NTLM"));
    EXPECT_FALSE(offers_ntlm("Negotiate"));
    EXPECT_FALSE(offers_ntlm("Basic realm=x"));
    EXPECT_FALSE(offers_ntlm("NTLMv2"));
    EXPECT_FALSE(offers_ntlm(""));
}

TEST(authorization_value, is_the_scheme_and_base64) {
    EXPECT_EQ(authorization_value(negotiate_message()),
              "NTLM TlRMTVNTUAABAAAABYKIoAAAAAAgAAAAAAAAACAAAAA=");
    EXPECT_EQ(authorization_value(""), "NTLM ");
}

TEST(negotiate_message, has_the_signature_type_and_documented_flags) {
    const std::string m = negotiate_message();
    ASSERT_EQ(m.size(), 32u);
    EXPECT_EQ(m.substr(0, 8), "NTLMSSP\0"s);
    EXPECT_EQ(m.substr(8, 4), le32(1));
    const std::uint32_t flags = negotiate_unicode | request_target | negotiate_ntlm |
                                negotiate_always_sign | negotiate_extended_session_security |
                                negotiate_target_info | negotiate_128 | negotiate_56;
    EXPECT_EQ(m.substr(12, 4), le32(flags));
    EXPECT_EQ(flags, 0xa0888205u);
    // No OEM, no version: nothing beyond the header is promised.
    EXPECT_EQ(flags & (negotiate_oem | negotiate_version), 0u);
    // Empty domain and workstation fields.
    EXPECT_EQ(m.substr(16, 4), le32(0));
    EXPECT_EQ(m.substr(24, 4), le32(0));
}

// --- hostile CHALLENGE messages ---

std::vector<std::string> valid_challenges() {
    std::vector<std::string> out;
    for (const auto& [file, value] : www_authenticate_values())
        if (auto token = token_from_header(value)) out.push_back(*token);
    out.push_back(challenge_message({1, 2, 3, 4, 5, 6, 7, 8}, "CONTOSO", "EX01", 42));
    out.push_back(challenge_message({1, 2, 3, 4, 5, 6, 7, 8}, "CONTOSO", "EX01", std::nullopt));
    return out;
}

TEST(parse_challenge, refuses_every_truncation) {
    const auto all = valid_challenges();
    ASSERT_EQ(all.size(), 4u);
    for (const std::string& full : all) {
        std::string error;
        ASSERT_TRUE(parse_challenge(full, error)) << error;
        for (std::size_t n = 0; n < full.size(); ++n) {
            // A copy of exactly n bytes, so that a read past the end is seen by valgrind/ASan.
            const std::string cut = full.substr(0, n);
            error.clear();
            EXPECT_FALSE(parse_challenge(cut, error)) << "truncated to " << n << " bytes";
            EXPECT_FALSE(error.empty()) << "truncated to " << n << " bytes";
        }
    }
}

TEST(parse_challenge, refuses_buffers_outside_the_message) {
    const std::string info = av(2, utf16("D")) + av(0, {});
    const std::string good = hand_challenge(0x00828205, "12345678", utf16("D"), info);
    std::string error;
    ASSERT_TRUE(parse_challenge(good, error)) << error;

    std::string m = good;
    m.replace(16, 4, le32(0xFFFFFFF0));  // target name offset: near 4 GiB (must not wrap)
    EXPECT_FALSE(parse_challenge(m, error));
    EXPECT_NE(error.find("target name"), std::string::npos) << error;

    m = good;
    m.replace(44, 4,
              le32(static_cast<std::uint32_t>(good.size())));  // target info just past the end
    EXPECT_FALSE(parse_challenge(m, error));
    EXPECT_NE(error.find("runs past the end"), std::string::npos) << error;

    m = good;
    m.replace(40, 2, le16(0xFFFF));  // a huge target info length
    EXPECT_FALSE(parse_challenge(m, error));
    EXPECT_NE(error.find("target info"), std::string::npos) << error;

    m = good;
    m.replace(44, 4, le32(8));  // target info inside the header
    EXPECT_FALSE(parse_challenge(m, error));
    EXPECT_NE(error.find("header"), std::string::npos) << error;

    m = good;
    m.replace(44, 4, le32(48));  // target info over the target name
    EXPECT_FALSE(parse_challenge(m, error));
    EXPECT_NE(error.find("overlap"), std::string::npos) << error;
}

TEST(parse_challenge, refuses_target_info_larger_than_any_server_sends) {
    // Well-formed, but 20 KB: echoed in the NT response it would overflow its 16-bit length.
    std::string info;
    for (int i = 0; i < 20; ++i) info += av(9, std::string(1000, 'x'));
    info += av(0, {});
    std::string error;
    EXPECT_FALSE(parse_challenge(hand_challenge(0x00828205, "12345678", {}, info), error));
    EXPECT_NE(error.find("more than"), std::string::npos) << error;
}

TEST(parse_challenge, refuses_broken_av_pair_lists) {
    std::string error;
    // No MsvAvEOL.
    auto m = hand_challenge(0x00828205, "12345678", utf16("D"), av(2, utf16("D")));
    EXPECT_FALSE(parse_challenge(m, error));
    EXPECT_NE(error.find("MsvAvEOL"), std::string::npos) << error;
    // A pair running past the list (which is followed by other bytes of the message).
    m = hand_challenge(0x00828205, "12345678", {}, le16(2) + le16(40) + utf16("D") + av(0, {})) +
        std::string(64, 'x');
    EXPECT_FALSE(parse_challenge(m, error));
    EXPECT_NE(error.find("runs past the end of the list"), std::string::npos) << error;
    // A pair header cut short.
    m = hand_challenge(0x00828205, "12345678", {}, av(2, utf16("D")) + "\x00\x00"s);
    EXPECT_FALSE(parse_challenge(m, error));
    // A timestamp that is not 8 bytes.
    m = hand_challenge(0x00828205, "12345678", {}, av(7, "abcd") + av(0, {}));
    EXPECT_FALSE(parse_challenge(m, error));
    EXPECT_NE(error.find("MsvAvTimestamp"), std::string::npos) << error;
    // A NetBIOS domain name of odd length.
    m = hand_challenge(0x00828205, "12345678", {}, av(2, "abc") + av(0, {}));
    EXPECT_FALSE(parse_challenge(m, error));
    // Bytes after MsvAvEOL are kept and echoed, not read.
    m = hand_challenge(0x00828205, "12345678", {}, av(0, {}) + "junk"s);
    const auto c = parse_challenge(m, error);
    ASSERT_TRUE(c) << error;
    EXPECT_EQ(c->target_info, av(0, {}) + "junk");
}

TEST(parse_challenge, refuses_other_messages) {
    std::string error;
    const std::string good = challenge_message({1, 2, 3, 4, 5, 6, 7, 8}, "D", "C", std::nullopt);
    std::string m = good;
    m[0] = 'X';
    EXPECT_FALSE(parse_challenge(m, error));
    EXPECT_NE(error.find("NTLMSSP"), std::string::npos) << error;
    EXPECT_FALSE(parse_challenge(negotiate_message(), error));
    EXPECT_NE(error.find("message type 1"), std::string::npos) << error;
    // An odd-length UTF-16 target name.
    m = hand_challenge(0x00000205, "12345678", "abc", {});
    EXPECT_FALSE(parse_challenge(m, error));
    EXPECT_NE(error.find("odd length"), std::string::npos) << error;
    // An OEM target name (unicode flag clear): ASCII read, other bytes replaced.
    m = hand_challenge(0x00000206, "12345678", "DOM\xe9", {});
    const auto c = parse_challenge(m, error);
    ASSERT_TRUE(c) << error;
    EXPECT_EQ(c->target_name, "DOM\xEF\xBF\xBD");
}

TEST(parse_challenge, survives_every_single_byte_corruption) {
    // Not a check of any answer: every byte of a real message set to 0x00, 0x7F and 0xFF must
    // parse or be refused without reading outside the message (run under valgrind or ASan).
    for (const std::string& full : valid_challenges()) {
        for (std::size_t i = 0; i < full.size(); ++i) {
            for (const char b : {'\x00', '\x7f', '\xff'}) {
                std::string m = full;
                m[i] = b;
                std::string error;
                const auto c = parse_challenge(m, error);
                EXPECT_TRUE(c.has_value() || !error.empty());
            }
        }
    }
}

TEST(parse_authenticate, refuses_every_truncation_and_bad_buffers) {
    std::string error;
    const auto c = parse_challenge(challenge_message({1, 2, 3, 4, 5, 6, 7, 8}, "D", "C", 1), error);
    ASSERT_TRUE(c) << error;
    const std::string full = authenticate_message(*c, split_account("D\\u", "p"), {}, 0);
    ASSERT_TRUE(parse_authenticate(full, error)) << error;
    for (std::size_t n = 0; n < full.size(); ++n) {
        const std::string cut = full.substr(0, n);
        EXPECT_FALSE(parse_authenticate(cut, error)) << "truncated to " << n << " bytes";
    }
    std::string m = full;
    m.replace(20, 2, le16(0xFFFF));  // NT response length
    EXPECT_FALSE(parse_authenticate(m, error));
    EXPECT_NE(error.find("NT response"), std::string::npos) << error;
    m = full;
    m.replace(40, 4, le32(0xFFFFFFFF));  // user name offset
    EXPECT_FALSE(parse_authenticate(m, error));
    EXPECT_NE(error.find("user name"), std::string::npos) << error;
    EXPECT_FALSE(parse_authenticate(challenge_message({}, "D", "C", std::nullopt), error));
}

}  // namespace
}  // namespace agendad::calendar::ews::ntlm
