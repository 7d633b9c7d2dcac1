// OAuth2 client credentials for Microsoft Graph: the client assertion checked with OpenSSL
// independently of the code under test (signature, thumbprints, claims), the form body, the
// token endpoint's answer; then the token provider against the fake token endpoint over TLS
// (secret and certificate flows, refusals, caching, refresh, single flight, failures), first a
// scripted one for exact answers, then the fake Microsoft identity platform of tests/support.
#include "calendar/graph/oauth.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <unistd.h>

#include <array>
#include <chrono>
#include <deque>
#include <filesystem>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "support/fake_graph.h"
#include "support/test_ca.h"

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
namespace cg = agendad::calendar::graph;
namespace ah = agendad::calendar::http;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using agendad::calendar::source_failure;
using agendad::calendar::source_result;
using namespace std::chrono_literals;
using testing::HasSubstr;
using testing::Not;
using testing::StartsWith;

// ---------------------------------------------------------------------------------------------
// OpenSSL helpers of the test's own (not the code under test's)

struct bio_free {
    void operator()(BIO* p) const { BIO_free(p); }
};
struct x509_free {
    void operator()(X509* p) const { X509_free(p); }
};
struct pkey_free {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct md_ctx_free {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, md_ctx_free>;

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(n));
}

x509_ptr parse_cert(const std::string& pem) {
    bio_ptr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
    return x509_ptr{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
}

struct rsa_app {
    std::string cert_pem;
    std::string key_pem;
};

// A self-signed RSA certificate and its key, as an admin uploads to the app registration.
rsa_app make_rsa_app(const std::string& cn, int bits = 2048) {
    pkey_ptr key{EVP_RSA_gen(static_cast<unsigned>(bits))};
    if (!key) throw std::runtime_error("EVP_RSA_gen");
    x509_ptr cert{X509_new()};
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 4242);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -86400);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 86400);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) throw std::runtime_error("X509_sign");
    rsa_app out;
    bio_ptr c{BIO_new(BIO_s_mem())};
    PEM_write_bio_X509(c.get(), cert.get());
    out.cert_pem = bio_text(c.get());
    bio_ptr k{BIO_new(BIO_s_mem())};
    PEM_write_bio_PrivateKey(k.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    out.key_pem = bio_text(k.get());
    return out;
}

// Made once: RSA key generation takes a moment.
const rsa_app& app_cert() {
    static const rsa_app a = make_rsa_app("agendad graph app");
    return a;
}
const rsa_app& other_app_cert() {
    static const rsa_app a = make_rsa_app("another app");
    return a;
}

// The same key encrypted with a passphrase (PKCS#8).
std::string encrypted_key_pem(const std::string& key_pem) {
    bio_ptr in{BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()))};
    pkey_ptr key{PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr)};
    bio_ptr out{BIO_new(BIO_s_mem())};
    static char pass[] = "correct horse";
    PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(), nullptr, 0, nullptr,
                                  pass);
    return bio_text(out.get());
}

// base64url decoding written for the test: the standard alphabet after translating - and _,
// padding restored, decoded by OpenSSL.
std::optional<std::string> unbase64url(std::string_view s) {
    std::string b64(s);
    for (char& c : b64) {
        if (c == '-') c = '+';
        if (c == '_') c = '/';
        if (c == '+' || c == '/' || c == '=') continue;
        if (!std::isalnum(static_cast<unsigned char>(c))) return std::nullopt;
    }
    if (b64.find('=') != std::string::npos || b64.size() % 4 == 1) return std::nullopt;
    const std::size_t pad = (4 - b64.size() % 4) % 4;
    b64.append(pad, '=');
    std::string out(b64.size() / 4 * 3 + 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(b64.data()),
                                  static_cast<int>(b64.size()));
    if (n < 0) return std::nullopt;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

// base64url encoding for the test: OpenSSL's base64, translated, padding dropped.
std::string to_base64url(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
    }
    return out;
}

std::string thumbprint(const std::string& cert_pem, const EVP_MD* md) {
    x509_ptr cert = parse_cert(cert_pem);
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int n = 0;
    X509_digest(cert.get(), md, out.data(), &n);
    return to_base64url(std::string_view(reinterpret_cast<const char*>(out.data()), n));
}

struct jwt {
    json::object header;
    json::object claims;
    std::string signing_input;  // header.claims as sent
    std::string signature;      // raw bytes
};

std::optional<jwt> decode_jwt(const std::string& token) {
    const std::size_t a = token.find('.');
    const std::size_t b = a == std::string::npos ? a : token.find('.', a + 1);
    if (b == std::string::npos || token.find('.', b + 1) != std::string::npos) return std::nullopt;
    const auto header = unbase64url(std::string_view(token).substr(0, a));
    const auto claims = unbase64url(std::string_view(token).substr(a + 1, b - a - 1));
    const auto signature = unbase64url(std::string_view(token).substr(b + 1));
    if (!header || !claims || !signature) return std::nullopt;
    boost::system::error_code ec;
    json::value h = json::parse(*header, ec);
    if (ec || !h.is_object()) return std::nullopt;
    json::value c = json::parse(*claims, ec);
    if (ec || !c.is_object()) return std::nullopt;
    return jwt{h.get_object(), c.get_object(), token.substr(0, b), *signature};
}

// RS256 (PKCS#1 v1.5, SHA-256) checked with the certificate's public key.
bool verify_rs256(const std::string& cert_pem, const std::string& input,
                  const std::string& signature) {
    x509_ptr cert = parse_cert(cert_pem);
    EVP_PKEY* key = X509_get0_pubkey(cert.get());
    md_ctx_ptr ctx{EVP_MD_CTX_new()};
    EVP_PKEY_CTX* pctx = nullptr;
    if (EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) != 1) return false;
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) return false;
    const int ok = EVP_DigestVerify(
        ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
        reinterpret_cast<const unsigned char*>(input.data()), input.size());
    ERR_clear_error();
    return ok == 1;
}

std::string str(const json::object& o, std::string_view name) {
    const json::value* v = o.if_contains(name);
    return v && v->is_string() ? std::string(v->get_string().data(), v->get_string().size())
                               : std::string("<missing>");
}
std::int64_t num(const json::object& o, std::string_view name) {
    const json::value* v = o.if_contains(name);
    return v && v->is_int64() ? v->get_int64() : -1;
}

// application/x-www-form-urlencoded decoded by the test: name → value.
std::map<std::string, std::string> parse_form(const std::string& body) {
    std::map<std::string, std::string> out;
    auto decode = [](std::string_view s) {
        std::string r;
        for (std::size_t i = 0; i < s.size(); ++i) {
            if (s[i] == '+') {
                r += ' ';
            } else if (s[i] == '%' && i + 2 < s.size()) {
                r += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
                i += 2;
            } else {
                r += s[i];
            }
        }
        return r;
    };
    std::size_t start = 0;
    while (start <= body.size()) {
        std::size_t end = body.find('&', start);
        if (end == std::string::npos) end = body.size();
        const std::string_view pair = std::string_view(body).substr(start, end - start);
        const std::size_t eq = pair.find('=');
        out[decode(pair.substr(0, eq))] =
            eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1));
        start = end + 1;
    }
    return out;
}

cg::app_credentials cert_credentials(const rsa_app& a = app_cert()) {
    cg::app_credentials c;
    c.tenant = "contoso-tenant";
    c.client_id = "11111111-2222-3333-4444-555555555555";
    c.certificate_pem = a.cert_pem;
    c.private_key_pem = a.key_pem;
    return c;
}

const std::chrono::sys_seconds t0{std::chrono::seconds{1'700'000'000}};

// ---------------------------------------------------------------------------------------------
// Encodings and the request

TEST(graph_oauth, token_endpoint_joins_authority_and_tenant) {
    cg::app_credentials c;
    c.tenant = "contoso.onmicrosoft.com";
    EXPECT_EQ(cg::token_endpoint(c),
              "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
    c.authority = "https://login.microsoftonline.us/";
    c.tenant = "0e1f2a3b-aaaa-bbbb-cccc-123456789abc";
    EXPECT_EQ(cg::token_endpoint(c),
              "https://login.microsoftonline.us/0e1f2a3b-aaaa-bbbb-cccc-123456789abc/oauth2/v2.0/"
              "token");
    c.authority = "https://127.0.0.1:8443//";
    EXPECT_EQ(cg::token_endpoint(c),
              "https://127.0.0.1:8443/0e1f2a3b-aaaa-bbbb-cccc-123456789abc/oauth2/v2.0/token");
}

TEST(graph_oauth, base64url_has_no_padding_and_the_url_alphabet) {
    // RFC 4648 §10's vectors, padding dropped.
    EXPECT_EQ(cg::base64url(""), "");
    EXPECT_EQ(cg::base64url("f"), "Zg");
    EXPECT_EQ(cg::base64url("fo"), "Zm8");
    EXPECT_EQ(cg::base64url("foo"), "Zm9v");
    EXPECT_EQ(cg::base64url("foob"), "Zm9vYg");
    EXPECT_EQ(cg::base64url("fooba"), "Zm9vYmE");
    EXPECT_EQ(cg::base64url("foobar"), "Zm9vYmFy");
    EXPECT_EQ(cg::base64url("\xfb\xff\xbf"), "-_-_");
    EXPECT_EQ(cg::base64url("\xfb\xff"), "-_8");
    // The thumbprint example in Microsoft's documentation of certificate credentials.
    const unsigned char sha1[] = {0x84, 0xE0, 0x5C, 0x1D, 0x98, 0xBC, 0xE3, 0xA5, 0x42, 0x1D,
                                  0x22, 0x5B, 0x14, 0x0B, 0x36, 0xE8, 0x6A, 0x3D, 0x55, 0x34};
    EXPECT_EQ(cg::base64url(std::string_view(reinterpret_cast<const char*>(sha1), sizeof sha1)),
              "hOBcHZi846VCHSJbFAs26Go9VTQ");
    // Agrees with the test's own encoder on every length and byte value.
    std::string bytes;
    for (int i = 0; i < 300; ++i) {
        bytes += static_cast<char>((i * 37 + 11) & 0xFF);
        ASSERT_EQ(cg::base64url(bytes), to_base64url(bytes)) << "length " << bytes.size();
    }
}

TEST(graph_oauth, form_encode_keeps_unreserved_and_escapes_everything_else) {
    EXPECT_EQ(cg::form_encode("AZaz09-._~"), "AZaz09-._~");
    EXPECT_EQ(cg::form_encode("a b&c=d+e/f?g#h%i"), "a%20b%26c%3Dd%2Be%2Ff%3Fg%23h%25i");
    EXPECT_EQ(cg::form_encode("\xc3\xa9\x01\xff"), "%C3%A9%01%FF");
    EXPECT_EQ(cg::form_encode("https://graph.microsoft.com/.default"),
              "https%3A%2F%2Fgraph.microsoft.com%2F.default");
}

TEST(graph_oauth, secret_request_body) {
    cg::app_credentials c;
    c.tenant = "contoso";
    c.client_id = "11111111-2222-3333-4444-555555555555";
    c.client_secret = "s3cr~t+/=&% ok";
    const std::string body = cg::token_request_body(c, "");
    EXPECT_EQ(body,
              "client_id=11111111-2222-3333-4444-555555555555"
              "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
              "&grant_type=client_credentials"
              "&client_secret=s3cr~t%2B%2F%3D%26%25%20ok");
    const auto form = parse_form(body);
    EXPECT_EQ(form.size(), 4u);
    EXPECT_EQ(form.at("client_secret"), c.client_secret);
    EXPECT_EQ(form.at("scope"), "https://graph.microsoft.com/.default");
}

TEST(graph_oauth, assertion_request_body_carries_no_secret) {
    const auto c = cert_credentials();
    std::string error;
    const std::string assertion = cg::client_assertion(c, t0, error);
    ASSERT_FALSE(assertion.empty()) << error;
    const auto form = parse_form(cg::token_request_body(c, assertion));
    EXPECT_EQ(form.size(), 5u);
    EXPECT_EQ(form.at("client_id"), c.client_id);
    EXPECT_EQ(form.at("grant_type"), "client_credentials");
    EXPECT_EQ(form.at("scope"), "https://graph.microsoft.com/.default");
    EXPECT_EQ(form.at("client_assertion_type"),
              "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    EXPECT_EQ(form.at("client_assertion"), assertion);
    EXPECT_EQ(form.count("client_secret"), 0u);
}

// ---------------------------------------------------------------------------------------------
// The client assertion

TEST(graph_oauth, assertion_is_an_rs256_jwt_with_microsofts_header_and_claims) {
    const auto c = cert_credentials();
    std::string error = "stale";
    const std::string assertion = cg::client_assertion(c, t0, error);
    ASSERT_FALSE(assertion.empty()) << error;
    EXPECT_EQ(error, "");
    EXPECT_EQ(assertion.find('='), std::string::npos);
    const auto t = decode_jwt(assertion);
    ASSERT_TRUE(t) << assertion;

    EXPECT_EQ(t->header.size(), 4u) << json::serialize(t->header);
    EXPECT_EQ(str(t->header, "alg"), "RS256");
    EXPECT_EQ(str(t->header, "typ"), "JWT");
    EXPECT_EQ(str(t->header, "x5t"), thumbprint(app_cert().cert_pem, EVP_sha1()));
    EXPECT_EQ(str(t->header, "x5t#S256"), thumbprint(app_cert().cert_pem, EVP_sha256()));
    EXPECT_EQ(str(t->header, "x5t").size(), 27u);       // 20 bytes
    EXPECT_EQ(str(t->header, "x5t#S256").size(), 43u);  // 32 bytes

    EXPECT_EQ(str(t->claims, "aud"),
              "https://login.microsoftonline.com/contoso-tenant/oauth2/v2.0/token");
    EXPECT_EQ(str(t->claims, "iss"), c.client_id);
    EXPECT_EQ(str(t->claims, "sub"), c.client_id);
    EXPECT_EQ(num(t->claims, "nbf"), 1'700'000'000);
    EXPECT_EQ(num(t->claims, "iat"), 1'700'000'000);
    EXPECT_EQ(num(t->claims, "exp"), 1'700'000'600);
    EXPECT_TRUE(std::regex_match(
        str(t->claims, "jti"),
        std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
        << str(t->claims, "jti");

    EXPECT_EQ(t->signature.size(), 256u);  // RSA 2048
    EXPECT_TRUE(verify_rs256(app_cert().cert_pem, t->signing_input, t->signature));
    // The signature covers the claims: a changed claim does not verify, nor does another key.
    std::string forged = t->signing_input;
    forged.back() = forged.back() == 'A' ? 'B' : 'A';
    EXPECT_FALSE(verify_rs256(app_cert().cert_pem, forged, t->signature));
    EXPECT_FALSE(verify_rs256(other_app_cert().cert_pem, t->signing_input, t->signature));
}

TEST(graph_oauth, assertion_audience_follows_the_authority) {
    auto c = cert_credentials();
    c.authority = "https://login.microsoftonline.us/";
    std::string error;
    const auto t = decode_jwt(cg::client_assertion(c, t0, error));
    ASSERT_TRUE(t) << error;
    EXPECT_EQ(str(t->claims, "aud"),
              "https://login.microsoftonline.us/contoso-tenant/oauth2/v2.0/token");
}

TEST(graph_oauth, every_assertion_has_its_own_jti) {
    const auto c = cert_credentials();
    std::string error;
    const auto a = decode_jwt(cg::client_assertion(c, t0, error));
    const auto b = decode_jwt(cg::client_assertion(c, t0, error));
    ASSERT_TRUE(a && b) << error;
    EXPECT_NE(str(a->claims, "jti"), str(b->claims, "jti"));
}

TEST(graph_oauth, certificate_and_key_in_one_pem_file) {
    auto c = cert_credentials();
    c.certificate_pem = app_cert().key_pem + app_cert().cert_pem;
    c.private_key_pem = c.certificate_pem;
    std::string error;
    const auto t = decode_jwt(cg::client_assertion(c, t0, error));
    ASSERT_TRUE(t) << error;
    EXPECT_TRUE(verify_rs256(app_cert().cert_pem, t->signing_input, t->signature));
}

TEST(graph_oauth, key_of_another_certificate_is_refused) {
    auto c = cert_credentials();
    c.private_key_pem = other_app_cert().key_pem;
    std::string error;
    EXPECT_EQ(cg::client_assertion(c, t0, error), "");
    EXPECT_EQ(error, "the private key does not belong to the certificate");
    EXPECT_EQ(ERR_peek_error(), 0ul) << "the OpenSSL error queue is left clean";
}

TEST(graph_oauth, unreadable_certificate_or_key_is_explained) {
    std::string error;
    auto c = cert_credentials();
    c.certificate_pem = "this is not a certificate";
    EXPECT_EQ(cg::client_assertion(c, t0, error), "");
    EXPECT_THAT(error, StartsWith("cannot read the certificate: "));
    EXPECT_EQ(ERR_peek_error(), 0ul);

    c.certificate_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    EXPECT_EQ(cg::client_assertion(c, t0, error), "");
    EXPECT_THAT(error, StartsWith("cannot read the certificate: "));

    c.certificate_pem = "";
    EXPECT_EQ(cg::client_assertion(c, t0, error), "");
    EXPECT_EQ(error, "cannot read the certificate: it is empty");

    c = cert_credentials();
    c.private_key_pem = "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n";
    EXPECT_EQ(cg::client_assertion(c, t0, error), "");
    EXPECT_THAT(error, StartsWith("cannot read the private key: "));
    EXPECT_THAT(error, Not(HasSubstr("garbage")));
    EXPECT_EQ(ERR_peek_error(), 0ul);
}

TEST(graph_oauth, encrypted_key_is_refused_without_prompting) {
    auto c = cert_credentials();
    c.private_key_pem = encrypted_key_pem(app_cert().key_pem);
    ASSERT_THAT(c.private_key_pem, HasSubstr("ENCRYPTED PRIVATE KEY"));
    std::string error;
    EXPECT_EQ(cg::client_assertion(c, t0, error), "");
    EXPECT_THAT(error, HasSubstr("encrypted with a passphrase"));
}

TEST(graph_oauth, non_rsa_key_is_refused) {
    const agendad::test_support::test_ca ca;
    const auto ec = ca.issue({"app.example"}, {});  // P-256
    auto c = cert_credentials();
    c.certificate_pem = ec.cert_pem;
    c.private_key_pem = ec.key_pem;
    std::string error;
    EXPECT_EQ(cg::client_assertion(c, t0, error), "");
    EXPECT_THAT(error, HasSubstr("not an RSA key"));
}

// ---------------------------------------------------------------------------------------------
// The token endpoint's answer

TEST(graph_oauth, parse_token_answer_success_and_error) {
    const auto ok = cg::parse_token_answer(
        R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0.x.y"})");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->access_token, "eyJ0.x.y");
    EXPECT_EQ(ok->expires_in, 3599);
    EXPECT_EQ(ok->error, "");

    const auto refused = cg::parse_token_answer(
        R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1","error_codes":[7000215],"timestamp":"2024-01-01 00:00:00Z"})");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->access_token, "");
    EXPECT_EQ(refused->error, "invalid_client");
    EXPECT_THAT(refused->error_description, StartsWith("AADSTS7000215: Invalid client secret"));
}

TEST(graph_oauth, parse_token_answer_is_lenient_on_types_and_strict_on_json) {
    // expires_in as a string (older endpoints), as a double; wrong types are ignored.
    EXPECT_EQ(cg::parse_token_answer(R"({"access_token":"t","expires_in":"3600"})")->expires_in,
              3600);
    EXPECT_EQ(cg::parse_token_answer(R"({"access_token":"t","expires_in":60.7})")->expires_in, 60);
    EXPECT_EQ(cg::parse_token_answer(R"({"access_token":"t","expires_in":-5})")->expires_in, 0);
    EXPECT_EQ(cg::parse_token_answer(R"({"access_token":"t","expires_in":"12x"})")->expires_in, 0);
    EXPECT_EQ(cg::parse_token_answer(R"({"access_token":"t","expires_in":1e300})")->expires_in,
              2147483647);
    EXPECT_EQ(cg::parse_token_answer(R"({"access_token":42,"error":["x"]})")->access_token, "");

    EXPECT_FALSE(cg::parse_token_answer(""));
    EXPECT_FALSE(cg::parse_token_answer("<html>Service Unavailable</html>"));
    EXPECT_FALSE(cg::parse_token_answer(R"(["access_token"])"));
    EXPECT_FALSE(cg::parse_token_answer(R"({"access_token":"t")"));
    EXPECT_FALSE(cg::parse_token_answer(R"({"access_token":"t"} trailing)"));
    EXPECT_FALSE(cg::parse_token_answer(std::string(100000, '[') + std::string(100000, ']')));
    EXPECT_FALSE(cg::parse_token_answer(R"({"access_token":")" +
                                        std::string(std::size_t{2} << 20, 'a') + R"("})"));
}

// ---------------------------------------------------------------------------------------------
// The provider, without a token endpoint

// Runs `body` on `io` until it finishes (at most `limit`).
template <class F>
void run(asio::io_context& io, F&& body, std::chrono::seconds limit = 20s) {
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(io, std::forward<F>(body), [&](const std::exception_ptr& e) {
        done = true;
        failure = e;
    });
    io.restart();
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
    if (failure) std::rethrow_exception(failure);
    ASSERT_TRUE(done) << "the coroutine did not finish in time";
}

std::string describe(const source_result<std::string>& r) {
    if (r) return "token " + *r;
    return std::string(agendad::calendar::name_of(r.error().kind)) + ": " + r.error().message;
}

class provider_test : public ::testing::Test {
  protected:
    std::shared_ptr<ah::client> make_client(ah::tls_options tls = {}, ah::limits lim = {}) {
        return std::make_shared<ah::client>(io_.get_executor(), std::move(tls), lim);
    }
    cg::token_provider::clock_fn clock() {
        return [this] { return now_; };
    }
    source_result<std::string> token_of(cg::token_provider& p) {
        std::optional<source_result<std::string>> r;
        run(io_, [&]() -> asio::awaitable<void> { r = co_await p.token(); });
        if (!r) return agendad::calendar::source_error{source_failure::invalid, "no result"};
        return *r;
    }

    asio::io_context io_;
    std::chrono::sys_seconds now_ = t0;
};

TEST_F(provider_test, bad_settings_are_invalid_before_anything_is_sent) {
    auto c = cert_credentials();
    c.client_secret = "also-a-secret";
    cg::token_provider both(make_client(), c, clock());
    auto r = token_of(both);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::invalid);
    EXPECT_THAT(r.error().message, HasSubstr("both a client secret and a certificate"));
    EXPECT_THAT(r.error().message, Not(HasSubstr("also-a-secret")));

    cg::app_credentials none;
    none.tenant = "contoso";
    none.client_id = "id";
    cg::token_provider neither(make_client(), none, clock());
    r = token_of(neither);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::invalid);

    c = cert_credentials();
    c.private_key_pem = other_app_cert().key_pem;
    cg::token_provider mismatched(make_client(), c, clock());
    r = token_of(mismatched);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::invalid);
    EXPECT_THAT(r.error().message, HasSubstr("the private key does not belong to the certificate"));

    cg::app_credentials plain;
    plain.authority = "http://login.example.com";
    plain.tenant = "contoso";
    plain.client_id = "id";
    plain.client_secret = "plain-secret";
    cg::token_provider cleartext(make_client(), plain, clock());
    r = token_of(cleartext);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::invalid);
    EXPECT_THAT(r.error().message, HasSubstr("without TLS"));
    EXPECT_EQ(both.fetches() + neither.fetches() + mismatched.fetches() + cleartext.fetches(), 0);
}

TEST_F(provider_test, unreachable_endpoint_is_transient) {
    cg::app_credentials c;
    c.authority = "https://127.0.0.1:1";  // nothing listens on port 1
    c.tenant = "contoso";
    c.client_id = "id";
    c.client_secret = "unreachable-secret";
    cg::token_provider p(make_client(), c, clock());
    const auto r = token_of(p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::transient) << describe(r);
    EXPECT_THAT(r.error().message, Not(HasSubstr("unreachable-secret")));
    EXPECT_EQ(p.fetches(), 0);
}

// ---------------------------------------------------------------------------------------------
// The provider against a scripted token endpoint (TLS on 127.0.0.1, on the test's io_context):
// exact answers for the mapping of statuses and messages.

// Answers each request with the next scripted answer (200 with a fresh token when none is left),
// recording what it received.
class script_endpoint {
  public:
    struct answer {
        int status = 200;
        std::string body;
        std::string retry_after;  // Retry-After header when not empty
        std::chrono::milliseconds delay{0};
    };
    struct received {
        std::string method;
        std::string target;
        std::string content_type;
        std::string body;
    };

    script_endpoint(asio::io_context& io, const std::filesystem::path& dir)
        : state_(std::make_shared<state>(io)) {
        static const agendad::test_support::test_ca ca("agendad oauth test CA");
        const auto server = ca.issue({"localhost"}, {"127.0.0.1"});
        state_->tls.use_certificate_chain(asio::buffer(server.cert_pem));
        state_->tls.use_private_key(asio::buffer(server.key_pem), ssl::context::pem);
        ca_file_ = dir / "ca.pem";
        ca.write_cert(ca_file_);
        asio::co_spawn(io, accept_loop(), asio::detached);
    }

    std::string authority() const {
        return "https://127.0.0.1:" + std::to_string(state_->acceptor.local_endpoint().port());
    }
    const std::filesystem::path& ca_file() const { return ca_file_; }
    void push(answer a) { state_->answers.push_back(std::move(a)); }
    const std::vector<received>& requests() const { return state_->requests; }

    static std::string token_json(const std::string& token, int expires_in = 3599) {
        return R"({"token_type":"Bearer","expires_in":)" + std::to_string(expires_in) +
               R"(,"ext_expires_in":3599,"access_token":")" + token + R"("})";
    }

  private:
    struct state {
        explicit state(asio::io_context& io)
            : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
              tls(ssl::context::tls_server) {}
        tcp::acceptor acceptor;
        ssl::context tls;
        std::deque<answer> answers;
        std::vector<received> requests;
        int issued = 0;
        std::list<std::unique_ptr<ssl::stream<tcp::socket>>> streams;
    };

    // Coroutine parameters by reference only (GCC 12): each frame owns the state through a local
    // copy of the pointer, taken before its first suspension; the state owns the connections.
    asio::awaitable<void> accept_loop() {
        const std::shared_ptr<state> s = state_;
        for (;;) {
            auto [ec, socket] =
                co_await s->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            s->streams.push_back(
                std::make_unique<ssl::stream<tcp::socket>>(std::move(socket), s->tls));
            asio::co_spawn(s->acceptor.get_executor(), serve(s, *s->streams.back()),
                           asio::detached);
        }
    }

    static asio::awaitable<void> serve(const std::shared_ptr<state>& owner,
                                       ssl::stream<tcp::socket>& stream) {
        const std::shared_ptr<state> s = owner;
        auto [hec] = co_await stream.async_handshake(ssl::stream_base::server,
                                                     asio::as_tuple(asio::use_awaitable));
        if (hec) co_return;
        boost::beast::flat_buffer buffer;
        for (;;) {
            bhttp::request<bhttp::string_body> req;
            auto [rec, rn] = co_await bhttp::async_read(stream, buffer, req,
                                                        asio::as_tuple(asio::use_awaitable));
            if (rec) co_return;
            s->requests.push_back(
                received{std::string(req.method_string()), std::string(req.target()),
                         std::string(req[bhttp::field::content_type]), req.body()});
            answer a;
            if (s->answers.empty()) {
                a.body = token_json("token-" + std::to_string(++s->issued));
            } else {
                a = s->answers.front();
                s->answers.pop_front();
            }
            if (a.delay.count() > 0) {
                asio::steady_timer t(s->acceptor.get_executor(), a.delay);
                auto [tec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
                (void)tec;
            }
            bhttp::response<bhttp::string_body> res(static_cast<bhttp::status>(a.status), 11);
            res.set(bhttp::field::content_type, "application/json; charset=utf-8");
            if (!a.retry_after.empty()) res.set(bhttp::field::retry_after, a.retry_after);
            res.body() = a.body;
            res.prepare_payload();
            auto [wec, wn] =
                co_await bhttp::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            if (wec) co_return;
        }
    }

    std::shared_ptr<state> state_;
    std::filesystem::path ca_file_;
};

class scripted_test : public provider_test {
  protected:
    void SetUp() override {
        static int counter = 0;
        dir_ =
            std::filesystem::temp_directory_path() /
            ("agendad-oauth-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
        std::filesystem::create_directories(dir_);
        endpoint_.emplace(io_, dir_);
        creds_.authority = endpoint_->authority();
        creds_.tenant = "contoso-tenant";
        creds_.client_id = "11111111-2222-3333-4444-555555555555";
        creds_.client_secret = "Zx8Q~scripted.secret-value";
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    cg::token_provider provider(const cg::app_credentials& c, ah::limits lim = {}) {
        return cg::token_provider(make_client(ah::tls_options{true, endpoint_->ca_file()}, lim), c,
                                  clock());
    }
    std::unique_ptr<cg::token_provider> make_provider() {
        return std::make_unique<cg::token_provider>(
            make_client(ah::tls_options{true, endpoint_->ca_file()}), creds_, clock());
    }

    // The message of a failure must never carry the credentials.
    void expect_clean(const source_result<std::string>& r) {
        ASSERT_FALSE(r);
        EXPECT_THAT(r.error().message, Not(HasSubstr(creds_.client_secret)));
        EXPECT_THAT(r.error().message, Not(HasSubstr("\r")));
        EXPECT_THAT(r.error().message, Not(HasSubstr("\n")));
    }

    std::filesystem::path dir_;
    std::optional<script_endpoint> endpoint_;
    cg::app_credentials creds_;
};

TEST_F(scripted_test, secret_flow_posts_the_form_and_caches_the_token) {
    auto p = make_provider();
    auto r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(*r, "token-1");
    EXPECT_EQ(p->fetches(), 1);
    ASSERT_EQ(endpoint_->requests().size(), 1u);
    const auto& req = endpoint_->requests()[0];
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.target, "/contoso-tenant/oauth2/v2.0/token");
    EXPECT_EQ(req.content_type, "application/x-www-form-urlencoded");
    const auto form = parse_form(req.body);
    EXPECT_EQ(form.at("client_secret"), creds_.client_secret);
    EXPECT_EQ(form.at("grant_type"), "client_credentials");

    now_ += 3599s - p->refresh_margin - 1s;  // still more than the margin left
    r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(*r, "token-1");
    EXPECT_EQ(endpoint_->requests().size(), 1u);

    now_ += 1s;  // exactly the margin left: time to refresh
    r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(*r, "token-2");
    EXPECT_EQ(p->fetches(), 2);
}

TEST_F(scripted_test, certificate_flow_posts_a_verifiable_assertion) {
    auto c = cert_credentials();
    c.authority = creds_.authority;
    auto p = provider(c);
    const auto r = token_of(p);
    ASSERT_TRUE(r) << describe(r);
    ASSERT_EQ(endpoint_->requests().size(), 1u);
    const auto form = parse_form(endpoint_->requests()[0].body);
    EXPECT_EQ(form.count("client_secret"), 0u);
    EXPECT_EQ(form.at("client_assertion_type"),
              "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    const auto t = decode_jwt(form.at("client_assertion"));
    ASSERT_TRUE(t);
    EXPECT_TRUE(verify_rs256(app_cert().cert_pem, t->signing_input, t->signature));
    EXPECT_EQ(str(t->claims, "aud"), cg::token_endpoint(c));
    // Stamped with the system clock (the endpoint's view of time), not the provider's clock.
    const auto real_now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now())
                              .time_since_epoch()
                              .count();
    EXPECT_NEAR(static_cast<double>(num(t->claims, "nbf")), static_cast<double>(real_now), 60);
}

TEST_F(scripted_test, refused_client_is_denied_with_the_aadsts_text_and_no_secret) {
    // Microsoft's answer shape; this server even echoes the secret, which must not reach the log.
    endpoint_->push(
        {401,
         R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value (got )" +
             creds_.client_secret +
             R"().\r\nTrace ID: 0a1b\r\nCorrelation ID: 2c3d\r\nTimestamp: 2024-05-01 10:00:00Z","error_codes":[7000215]})",
         "", 0ms});
    auto p = make_provider();
    const auto r = token_of(*p);
    expect_clean(r);
    EXPECT_EQ(r.error().kind, source_failure::denied) << describe(r);
    EXPECT_THAT(r.error().message,
                StartsWith("token endpoint refused the app: AADSTS7000215: Invalid client secret"));
    EXPECT_THAT(r.error().message, HasSubstr("Trace ID: 0a1b Correlation ID: 2c3d"));
    EXPECT_THAT(r.error().message, HasSubstr("invalid_client"));
    EXPECT_THAT(r.error().message, HasSubstr(creds_.client_id));
    EXPECT_EQ(p->fetches(), 0);
}

TEST_F(scripted_test, every_refusal_code_is_denied) {
    for (const std::string code : {"invalid_client", "unauthorized_client", "invalid_scope",
                                   "invalid_grant", "invalid_request"}) {
        endpoint_->push(
            {400,
             R"({"error":")" + code +
                 R"(","error_description":"AADSTS70011: The provided value for scope is not valid."})",
             "", 0ms});
        auto p = make_provider();
        const auto r = token_of(*p);
        expect_clean(r);
        EXPECT_EQ(r.error().kind, source_failure::denied) << code << ": " << describe(r);
        EXPECT_THAT(r.error().message, StartsWith("token endpoint refused the app: AADSTS70011"));
    }
}

TEST_F(scripted_test, statuses_map_to_failure_kinds) {
    struct row {
        int status;
        std::string body;
        source_failure kind;
    };
    const std::vector<row> rows = {
        {429, R"({"error":"temporarily_unavailable"})", source_failure::transient},
        {500, "<html>oops</html>", source_failure::transient},
        {503, "", source_failure::transient},
        {504, "", source_failure::transient},
        {400, R"({"error":"temporarily_unavailable","error_description":"AADSTS50196"})",
         source_failure::transient},
        {400, R"({"error":"unsupported_grant_type"})", source_failure::invalid},
        {400, "not json", source_failure::invalid},
        {403, "", source_failure::denied},
        {404, "", source_failure::invalid},
        {302, "", source_failure::invalid},
        {200, R"({"token_type":"Bearer","expires_in":3599})", source_failure::invalid},
        {200, R"({"access_token":"t-no-expiry"})", source_failure::invalid},
        {200, "<html>captive portal</html>", source_failure::invalid},
    };
    for (const auto& row : rows) {
        endpoint_->push({row.status, row.body, "", 0ms});
        auto p = make_provider();
        const auto r = token_of(*p);
        expect_clean(r);
        EXPECT_EQ(r.error().kind, row.kind)
            << row.status << " " << row.body << " → " << describe(r);
        EXPECT_EQ(p->fetches(), 0);
    }
}

TEST_F(scripted_test, short_lived_token_is_kept_for_half_its_lifetime) {
    endpoint_->push({200, script_endpoint::token_json("short", 240), "", 0ms});
    auto p = make_provider();  // refresh_margin 300 s, longer than the token lives
    auto r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    now_ += 119s;
    r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(*r, "short");
    now_ += 1s;
    r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(*r, "token-1");
    EXPECT_EQ(endpoint_->requests().size(), 2u);
}

TEST_F(scripted_test, throttled_answer_names_retry_after) {
    endpoint_->push({429, "", "17", 0ms});
    auto p = make_provider();
    const auto r = token_of(*p);
    expect_clean(r);
    EXPECT_EQ(r.error().kind, source_failure::transient);
    EXPECT_THAT(r.error().message, HasSubstr("429"));
    EXPECT_THAT(r.error().message, HasSubstr("Retry-After: 17"));
}

TEST_F(scripted_test, invalidate_drops_only_the_cached_token) {
    auto p = make_provider();
    auto r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    p->invalidate("some-other-token");
    r = token_of(*p);
    EXPECT_EQ(*r, "token-1");
    p->invalidate("token-1");
    r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(*r, "token-2");
    EXPECT_EQ(endpoint_->requests().size(), 2u);
}

TEST_F(scripted_test, transient_refresh_failure_keeps_a_token_that_still_works) {
    auto p = make_provider();
    ASSERT_TRUE(token_of(*p));
    // Within the refresh margin, two minutes left: the endpoint is down, the token still works.
    now_ += 3599s - 120s;
    endpoint_->push({503, "", "", 0ms});
    auto r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(*r, "token-1");
    // Thirty seconds left: too little to hand out.
    now_ += 90s;
    endpoint_->push({503, "", "", 0ms});
    r = token_of(*p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::transient);
    // A refusal is reported even while the old token lasts: an admin must act.
    now_ -= 90s;
    endpoint_->push(
        {401, R"({"error":"invalid_client","error_description":"AADSTS7000222"})", "", 0ms});
    r = token_of(*p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied);
    EXPECT_EQ(endpoint_->requests().size(), 4u);
}

// Runs `n` token() calls at once; their results.
std::vector<source_result<std::string>> concurrent_tokens(asio::io_context& io,
                                                          cg::token_provider& p, int n) {
    std::vector<std::optional<source_result<std::string>>> slots(static_cast<std::size_t>(n));
    int finished = 0;
    for (auto& slot : slots) {
        asio::co_spawn(
            io,
            [&p, &slot, &finished]() -> asio::awaitable<void> {
                slot = co_await p.token();
                ++finished;
            },
            asio::detached);
    }
    io.restart();
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (finished < n && std::chrono::steady_clock::now() < deadline) io.run_one_for(100ms);
    std::vector<source_result<std::string>> out;
    for (auto& slot : slots) {
        if (slot) {
            out.push_back(*slot);
        } else {
            out.push_back(agendad::calendar::source_error{source_failure::invalid, "unfinished"});
        }
    }
    return out;
}

TEST_F(scripted_test, concurrent_callers_share_one_request) {
    endpoint_->push({200, script_endpoint::token_json("shared-token"), "", 300ms});
    auto p = make_provider();
    const auto results = concurrent_tokens(io_, *p, 5);
    for (const auto& r : results) {
        ASSERT_TRUE(r) << describe(r);
        EXPECT_EQ(*r, "shared-token");
    }
    EXPECT_EQ(endpoint_->requests().size(), 1u);
    EXPECT_EQ(p->fetches(), 1);
}

TEST_F(scripted_test, concurrent_callers_share_one_failure_and_the_next_call_tries_again) {
    endpoint_->push({503, "", "", 200ms});
    auto p = make_provider();
    const auto results = concurrent_tokens(io_, *p, 4);
    for (const auto& r : results) {
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().kind, source_failure::transient) << describe(r);
    }
    EXPECT_EQ(endpoint_->requests().size(), 1u);
    const auto again = token_of(*p);
    ASSERT_TRUE(again) << describe(again);
    EXPECT_EQ(endpoint_->requests().size(), 2u);
}

TEST_F(scripted_test, slow_endpoint_times_out_as_transient) {
    endpoint_->push({200, script_endpoint::token_json("too-late"), "", 3000ms});
    ah::limits lim;
    lim.request_timeout = 500ms;
    auto p = provider(creds_, lim);
    const auto start = std::chrono::steady_clock::now();
    const auto r = token_of(p);
    expect_clean(r);
    EXPECT_EQ(r.error().kind, source_failure::transient) << describe(r);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);
}

// ---------------------------------------------------------------------------------------------
// The provider against the fake Microsoft identity platform (its own thread, TLS)

class fake_endpoint_test : public provider_test {
  protected:
    void SetUp() override {
        static int counter = 0;
        dir_ =
            std::filesystem::temp_directory_path() /
            ("agendad-oauth-fake-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
        std::filesystem::create_directories(dir_);
        agendad::test_support::fake_graph::options o;
        o.client_certificate_pem = app_cert().cert_pem;
        o.folder = dir_;
        fake_.emplace(o);
        secret_.authority = fake_->authority();
        secret_.tenant = o.tenant;
        secret_.client_id = o.client_id;
        secret_.client_secret = o.client_secret;
        cert_ = cert_credentials();
        cert_.authority = fake_->authority();
        cert_.tenant = o.tenant;
        cert_.client_id = o.client_id;
    }
    void TearDown() override {
        fake_.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::shared_ptr<ah::client> fake_client(ah::limits lim = {}) {
        return make_client(ah::tls_options{true, fake_->ca_file()}, lim);
    }
    std::unique_ptr<cg::token_provider> make_provider(const cg::app_credentials& c,
                                                      ah::limits lim = {}) {
        return std::make_unique<cg::token_provider>(fake_client(lim), c, clock());
    }

    // The status Graph answers a request made with `token` (401 when it refuses the token).
    int graph_status(const std::string& token) {
        fake_->add_user("ceo@contoso.com");
        auto http = fake_client();
        const auto base = ah::url::parse(fake_->graph_url() + "/users/ceo@contoso.com/events/none");
        ah::request req;
        req.headers.push_back({"Authorization", "Bearer " + token});
        int status = -1;
        run(io_, [&]() -> asio::awaitable<void> {
            const auto r = co_await http->send(*base, req);
            status = r ? r->status : 0;
        });
        return status;
    }

    std::filesystem::path dir_;
    std::optional<agendad::test_support::fake_graph> fake_;
    cg::app_credentials secret_;
    cg::app_credentials cert_;
};

TEST_F(fake_endpoint_test, secret_flow_gets_a_token_graph_accepts) {
    auto p = make_provider(secret_);
    const auto r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_FALSE(r->empty());
    EXPECT_EQ(fake_->tokens_issued(), 1);
    EXPECT_EQ(p->fetches(), 1);
    EXPECT_EQ(graph_status(*r), 404);  // past authentication: the event does not exist
    EXPECT_EQ(graph_status("not-a-token"), 401);
}

TEST_F(fake_endpoint_test, certificate_flow_gets_a_token_graph_accepts) {
    auto p = make_provider(cert_);
    const auto r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(fake_->tokens_issued(), 1);
    EXPECT_EQ(graph_status(*r), 404);
    // What went over the wire: an assertion, no secret.
    const auto requests = fake_->requests();
    ASSERT_FALSE(requests.empty());
    EXPECT_THAT(requests[0].body, HasSubstr("client_assertion="));
    EXPECT_THAT(requests[0].body, Not(HasSubstr("client_secret")));
}

TEST_F(fake_endpoint_test, wrong_secret_is_denied_with_the_aadsts_text) {
    auto c = secret_;
    c.client_secret = "Wrong~Secret.Value-123";
    auto p = make_provider(c);
    const auto r = token_of(*p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied) << describe(r);
    EXPECT_THAT(r.error().message, StartsWith("token endpoint refused the app: AADSTS7000215"));
    EXPECT_THAT(r.error().message, Not(HasSubstr(c.client_secret)));
    EXPECT_THAT(r.error().message, Not(HasSubstr(secret_.client_secret)));
    EXPECT_THAT(r.error().message, Not(HasSubstr("\n")));
    EXPECT_EQ(fake_->tokens_issued(), 0);
    EXPECT_EQ(p->fetches(), 0);
}

TEST_F(fake_endpoint_test, unregistered_certificate_is_denied) {
    auto c = cert_credentials(other_app_cert());
    c.authority = cert_.authority;
    c.tenant = cert_.tenant;
    c.client_id = cert_.client_id;
    auto p = make_provider(c);
    const auto r = token_of(*p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied) << describe(r);
    EXPECT_THAT(r.error().message, StartsWith("token endpoint refused the app: AADSTS700027"));
    EXPECT_THAT(r.error().message, Not(HasSubstr("eyJ")));  // no assertion in the message
}

TEST_F(fake_endpoint_test, unknown_tenant_or_app_is_denied) {
    auto c = secret_;
    c.tenant = "fabrikam-tenant";
    auto p = make_provider(c);
    auto r = token_of(*p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied) << describe(r);
    EXPECT_THAT(r.error().message, HasSubstr("AADSTS90002"));

    c = secret_;
    c.client_id = "99999999-0000-0000-0000-000000000000";
    auto q = make_provider(c);
    r = token_of(*q);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied) << describe(r);
    EXPECT_THAT(r.error().message, HasSubstr("AADSTS700016"));
}

TEST_F(fake_endpoint_test, scope_without_default_is_denied) {
    auto c = secret_;
    c.scope = "https://graph.microsoft.com/Calendars.ReadWrite";
    auto p = make_provider(c);
    const auto r = token_of(*p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::denied) << describe(r);
    EXPECT_THAT(r.error().message, HasSubstr("AADSTS1002012"));
}

TEST_F(fake_endpoint_test, cached_token_is_reused) {
    auto p = make_provider(secret_);
    const auto first = token_of(*p);
    ASSERT_TRUE(first) << describe(first);
    for (int i = 0; i < 3; ++i) {
        now_ += 10min;
        const auto again = token_of(*p);
        ASSERT_TRUE(again) << describe(again);
        EXPECT_EQ(*again, *first);
    }
    EXPECT_EQ(fake_->tokens_issued(), 1);
    EXPECT_EQ(p->fetches(), 1);
}

TEST_F(fake_endpoint_test, token_is_refetched_within_the_refresh_margin) {
    auto p = make_provider(cert_);
    const auto first = token_of(*p);
    ASSERT_TRUE(first) << describe(first);
    now_ += 3599s - p->refresh_margin - 1s;
    auto r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(*r, *first);
    EXPECT_EQ(fake_->tokens_issued(), 1);
    now_ += 2s;  // less than the margin left
    r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_NE(*r, *first);
    EXPECT_EQ(fake_->tokens_issued(), 2);
    EXPECT_EQ(p->fetches(), 2);
    // A longer margin refreshes sooner.
    p->refresh_margin = 1000s;
    now_ += 2598s;
    r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(fake_->tokens_issued(), 2);
    now_ += 2s;
    r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(fake_->tokens_issued(), 3);
}

TEST_F(fake_endpoint_test, invalidated_token_is_refetched) {
    auto p = make_provider(secret_);
    const auto first = token_of(*p);
    ASSERT_TRUE(first) << describe(first);
    fake_->revoke_tokens();  // Graph now answers 401 to it
    EXPECT_EQ(graph_status(*first), 401);
    p->invalidate("an older token");
    EXPECT_EQ(*token_of(*p), *first);  // not the cached one: kept
    p->invalidate(*first);
    const auto second = token_of(*p);
    ASSERT_TRUE(second) << describe(second);
    EXPECT_NE(*second, *first);
    EXPECT_EQ(fake_->tokens_issued(), 2);
    EXPECT_EQ(graph_status(*second), 404);
}

TEST_F(fake_endpoint_test, concurrent_callers_make_one_fetch) {
    auto p = make_provider(cert_);
    const auto results = concurrent_tokens(io_, *p, 8);
    ASSERT_EQ(results.size(), 8u);
    for (const auto& r : results) {
        ASSERT_TRUE(r) << describe(r);
        EXPECT_EQ(*r, *results[0]);
    }
    EXPECT_EQ(fake_->tokens_issued(), 1);
    EXPECT_EQ(p->fetches(), 1);
}

TEST_F(fake_endpoint_test, unavailable_endpoint_is_transient_and_then_recovers) {
    agendad::test_support::fake_graph::fault f;
    f.status = 503;
    f.retry_after = 5s;
    fake_->fail_next("/oauth2/v2.0/token", f);
    auto p = make_provider(secret_);
    auto r = token_of(*p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::transient) << describe(r);
    EXPECT_THAT(r.error().message, HasSubstr("503"));
    EXPECT_THAT(r.error().message, HasSubstr("Retry-After: 5"));
    EXPECT_THAT(r.error().message, Not(HasSubstr(secret_.client_secret)));
    r = token_of(*p);
    ASSERT_TRUE(r) << describe(r);
    EXPECT_EQ(fake_->tokens_issued(), 1);
}

TEST_F(fake_endpoint_test, throttled_and_reset_are_transient) {
    agendad::test_support::fake_graph::fault throttled;
    throttled.status = 429;
    fake_->fail_next("/oauth2/v2.0/token", throttled);
    auto p = make_provider(secret_);
    auto r = token_of(*p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::transient) << describe(r);

    // A reset on a fresh connection (a reused one is retried once by the http client).
    agendad::test_support::fake_graph::fault reset;
    reset.status = 0;
    fake_->fail_next("/oauth2/v2.0/token", reset);
    auto q = make_provider(secret_);
    r = token_of(*q);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::transient) << describe(r);
    EXPECT_EQ(fake_->tokens_issued(), 0);
}

TEST_F(fake_endpoint_test, slow_endpoint_beyond_the_timeout_is_transient) {
    agendad::test_support::fake_graph::fault slow;
    slow.status = 503;
    slow.delay = 3000ms;
    fake_->fail_next("/oauth2/v2.0/token", slow);
    ah::limits lim;
    lim.request_timeout = 500ms;
    auto p = make_provider(cert_, lim);
    const auto start = std::chrono::steady_clock::now();
    const auto r = token_of(*p);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, source_failure::transient) << describe(r);
    EXPECT_THAT(r.error().message, HasSubstr("timed out"));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);
}

}  // namespace
