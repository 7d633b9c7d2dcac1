// OAuth2 client credentials against the Microsoft identity platform v2.0 token endpoint: the
// request (form-encoded, a secret or an RS256 client assertion made with OpenSSL 3's EVP API),
// the answer (Boost.JSON), and a cache that shares one request among concurrent callers.
#include "calendar/graph/oauth.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

namespace agendad::calendar::graph {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr std::size_t max_pem_bytes = std::size_t{1} << 20;
constexpr std::size_t max_answer_bytes = std::size_t{1} << 20;
constexpr std::size_t max_description_bytes = 400;
constexpr std::chrono::seconds assertion_lifetime{600};
// A token that has at least this long left is still handed out when a refresh fails for a
// transient reason (the endpoint is down or throttles).
constexpr std::chrono::seconds fallback_minimum{60};

// --- OpenSSL objects, each freed by its own function ---

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

// The reason of the first error OpenSSL queued ("no start line"); empties the queue so that
// nothing is left for the next OpenSSL user on this thread (the TLS code).
std::string take_openssl_error() {
    const unsigned long first = ERR_get_error();
    ERR_clear_error();
    if (first == 0) return "unknown error";
    const char* reason = ERR_reason_error_string(first);
    return reason ? reason : "error " + std::to_string(first);
}

bio_ptr memory_bio(const std::string& text) {
    return bio_ptr{BIO_new_mem_buf(text.data(), static_cast<int>(text.size()))};
}

// A passphrase callback that refuses: OpenSSL's default would prompt on the terminal.
int refuse_passphrase(char*, int, int, void* asked) {
    *static_cast<bool*>(asked) = true;
    return -1;
}

x509_ptr read_certificate(const std::string& pem, std::string& error) {
    if (pem.empty()) {
        error = "cannot read the certificate: it is empty";
        return nullptr;
    }
    if (pem.size() > max_pem_bytes) {
        error = "cannot read the certificate: it is over 1 MiB";
        return nullptr;
    }
    ERR_clear_error();
    bio_ptr bio = memory_bio(pem);
    x509_ptr cert{bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr};
    if (!cert) {
        error = "cannot read the certificate: " + take_openssl_error() +
                " (a PEM block \"BEGIN CERTIFICATE\" is expected)";
    }
    return cert;
}

pkey_ptr read_private_key(const std::string& pem, std::string& error) {
    if (pem.empty()) {
        error = "cannot read the private key: it is empty";
        return nullptr;
    }
    if (pem.size() > max_pem_bytes) {
        error = "cannot read the private key: it is over 1 MiB";
        return nullptr;
    }
    ERR_clear_error();
    bool asked = false;
    bio_ptr bio = memory_bio(pem);
    pkey_ptr key{bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, &asked)
                     : nullptr};
    if (!key) {
        const std::string reason = take_openssl_error();
        error = asked ? "cannot read the private key: it is encrypted with a passphrase (store it "
                        "unencrypted, readable by agendad only)"
                      : "cannot read the private key: " + reason +
                            " (a PEM block \"BEGIN PRIVATE KEY\" or \"BEGIN RSA PRIVATE KEY\" is "
                            "expected)";
    }
    return key;
}

std::string der_of(X509* cert) {
    const int n = i2d_X509(cert, nullptr);
    if (n <= 0) return {};
    std::string der(static_cast<std::size_t>(n), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_X509(cert, &out) != n) return {};
    return der;
}

std::string digest(const EVP_MD* md, std::string_view bytes) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int n = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), out.data(), &n, md, nullptr) != 1) return {};
    return std::string(reinterpret_cast<const char*>(out.data()), n);
}

// 16 random bytes as a version 4 UUID ("2f1c...-...").
std::string random_uuid() {
    std::array<unsigned char, 16> b{};
    if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
        ERR_clear_error();
        return {};
    }
    b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
    b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
        out += hex[b[i] >> 4];
        out += hex[b[i] & 0x0F];
    }
    return out;
}

// RSASSA-PKCS1-v1_5 with SHA-256 of `input`; empty on failure.
std::string sign_rs256(EVP_PKEY* key, std::string_view input) {
    md_ctx_ptr ctx{EVP_MD_CTX_new()};
    if (!ctx) return {};
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    if (EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) != 1) return {};
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0) return {};
    const int size = EVP_PKEY_get_size(key);
    if (size <= 0) return {};
    std::string signature(static_cast<std::size_t>(size), '\0');
    std::size_t length = signature.size();
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
        return {};
    }
    signature.resize(length);
    return signature;
}

std::string to_std(const json::string& s) {
    return std::string(s.data(), s.size());
}

std::string string_field(const json::object& o, std::string_view name) {
    const json::value* v = o.if_contains(name);
    return v && v->is_string() ? to_std(v->get_string()) : std::string();
}

// expires_in as a number, or as a string of digits (as older endpoints send it); 0 otherwise.
long long seconds_field(const json::object& o, std::string_view name) {
    const json::value* v = o.if_contains(name);
    if (!v) return 0;
    constexpr long long most = std::numeric_limits<int>::max();
    if (v->is_int64()) return std::clamp<long long>(v->get_int64(), 0, most);
    if (v->is_uint64())
        return static_cast<long long>(std::min<std::uint64_t>(v->get_uint64(), most));
    if (v->is_double()) {
        const double d = v->get_double();
        if (!std::isfinite(d) || d <= 0) return 0;
        return d >= static_cast<double>(most) ? most : static_cast<long long>(d);
    }
    if (v->is_string()) {
        const json::string& s = v->get_string();
        long long n = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec != std::errc{} || end != s.data() + s.size() || n < 0) return 0;
        return std::min(n, most);
    }
    return 0;
}

// The server's error_description made fit for one log line: control characters as spaces, runs
// of spaces collapsed, at most max_description_bytes (not cutting a UTF-8 sequence), and any
// trace of `secrets` removed (should a server ever echo what it received).
std::string log_text(std::string_view text, const std::vector<std::string_view>& secrets) {
    std::string out;
    for (const char c : text) {
        const bool space = static_cast<unsigned char>(c) < 0x20 || c == 0x7F || c == ' ';
        if (space) {
            if (!out.empty() && out.back() != ' ') out += ' ';
        } else {
            out += c;
        }
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    for (const std::string_view secret : secrets) {
        if (secret.size() < 4) continue;
        for (std::size_t at = out.find(secret); at != std::string::npos;
             at = out.find(secret, at)) {
            out.replace(at, secret.size(), "[redacted]");
        }
    }
    if (out.size() > max_description_bytes) {
        std::size_t cut = max_description_bytes;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
        out.resize(cut);
        out += "...";
    }
    return out;
}

// The error codes with which the endpoint refuses the app itself: an admin must act.
bool is_refusal(std::string_view error) {
    return error == "invalid_client" || error == "unauthorized_client" ||
           error == "invalid_scope" || error == "invalid_grant" || error == "invalid_request";
}

// The POST to the token endpoint. (Not in the coroutine: GCC 12 mishandles braced lists of
// string literals in coroutine bodies.)
http::request token_request(const app_credentials& creds, const std::string& assertion);

source_error failure(source_failure kind, std::string message) {
    return source_error{kind, std::move(message)};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Encodings

std::string base64url(std::string_view bytes) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve((bytes.size() * 4 + 2) / 3);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const std::uint32_t chunk = (std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                                    (std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                                    std::uint32_t{static_cast<unsigned char>(bytes[i + 2])};
        out += alphabet[(chunk >> 18) & 0x3F];
        out += alphabet[(chunk >> 12) & 0x3F];
        out += alphabet[(chunk >> 6) & 0x3F];
        out += alphabet[chunk & 0x3F];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        std::uint32_t chunk = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
        if (rest == 2) chunk |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
        out += alphabet[(chunk >> 18) & 0x3F];
        out += alphabet[(chunk >> 12) & 0x3F];
        if (rest == 2) out += alphabet[(chunk >> 6) & 0x3F];
    }
    return out;
}

std::string form_encode(std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        const auto b = static_cast<unsigned char>(c);
        const bool keep = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') ||
                          (b >= '0' && b <= '9') || b == '-' || b == '.' || b == '_' || b == '~';
        if (keep) {
            out += c;
        } else {
            out += '%';
            out += hex[b >> 4];
            out += hex[b & 0x0F];
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// The request

std::string token_endpoint(const app_credentials& creds) {
    std::string_view authority = creds.authority;
    while (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
    std::string_view tenant = creds.tenant;
    while (!tenant.empty() && tenant.front() == '/') tenant.remove_prefix(1);
    while (!tenant.empty() && tenant.back() == '/') tenant.remove_suffix(1);
    std::string out(authority);
    out += '/';
    out += tenant;
    out += "/oauth2/v2.0/token";
    return out;
}

std::string token_request_body(const app_credentials& creds, const std::string& assertion) {
    std::string body = "client_id=" + form_encode(creds.client_id);
    body += "&scope=" + form_encode(creds.scope);
    body += "&grant_type=client_credentials";
    if (assertion.empty()) {
        body += "&client_secret=" + form_encode(creds.client_secret);
    } else {
        body += "&client_assertion_type=" +
                form_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        body += "&client_assertion=" + form_encode(assertion);
    }
    return body;
}

namespace {

http::request token_request(const app_credentials& creds, const std::string& assertion) {
    http::request req;
    req.method = "POST";
    req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
    req.headers.push_back({"Accept", "application/json"});
    req.body = token_request_body(creds, assertion);
    return req;
}

}  // namespace

std::string client_assertion(const app_credentials& creds, std::chrono::sys_seconds now,
                             std::string& error) {
    error.clear();
    const x509_ptr cert = read_certificate(creds.certificate_pem, error);
    if (!cert) return {};
    const pkey_ptr key = read_private_key(creds.private_key_pem, error);
    if (!key) return {};
    if (EVP_PKEY_is_a(key.get(), "RSA") != 1) {
        error =
            "the private key is not an RSA key (the token endpoint accepts RS256 assertions "
            "only)";
        return {};
    }
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
        ERR_clear_error();
        error = "the private key does not belong to the certificate";
        return {};
    }
    const std::string der = der_of(cert.get());
    const std::string sha1 = der.empty() ? std::string() : digest(EVP_sha1(), der);
    const std::string sha256 = der.empty() ? std::string() : digest(EVP_sha256(), der);
    if (sha1.empty() || sha256.empty()) {
        ERR_clear_error();
        error = "cannot compute the certificate's thumbprint";
        return {};
    }
    const std::string jti = random_uuid();
    if (jti.empty()) {
        error = "cannot make random bytes for the assertion's jti";
        return {};
    }

    json::object header;
    header["alg"] = "RS256";
    header["typ"] = "JWT";
    header["x5t"] = base64url(sha1);
    header["x5t#S256"] = base64url(sha256);

    const std::int64_t issued = now.time_since_epoch().count();
    json::object claims;
    claims["aud"] = token_endpoint(creds);
    claims["iss"] = creds.client_id;
    claims["sub"] = creds.client_id;
    claims["jti"] = jti;
    claims["nbf"] = issued;
    claims["iat"] = issued;
    claims["exp"] = issued + assertion_lifetime.count();

    std::string input = base64url(json::serialize(header));
    input += '.';
    input += base64url(json::serialize(claims));
    const std::string signature = sign_rs256(key.get(), input);
    if (signature.empty()) {
        error = "cannot sign the assertion: " + take_openssl_error();
        return {};
    }
    input += '.';
    input += base64url(signature);
    return input;
}

// ---------------------------------------------------------------------------------------------
// The answer

std::optional<token_answer> parse_token_answer(std::string_view text) {
    try {
        if (text.size() > max_answer_bytes) return std::nullopt;
        json::parse_options options;
        options.max_depth = 16;
        boost::system::error_code ec;
        const json::value v = json::parse(json::string_view(text.data(), text.size()), ec,
                                          json::storage_ptr(), options);
        if (ec || !v.is_object()) return std::nullopt;
        const json::object& o = v.get_object();
        token_answer a;
        a.access_token = string_field(o, "access_token");
        a.expires_in = seconds_field(o, "expires_in");
        a.error = string_field(o, "error");
        a.error_description = string_field(o, "error_description");
        return a;
    } catch (...) {
        return std::nullopt;  // out of memory: no answer
    }
}

// ---------------------------------------------------------------------------------------------
// The provider

namespace {

// One request to the token endpoint and the callers waiting for it: they wait on `done`, which
// never expires by itself and is cancelled once `result` is set.
struct flight {
    explicit flight(const asio::any_io_executor& ex)
        : done(ex, asio::steady_timer::time_point::max()) {}
    asio::steady_timer done;
    std::optional<source_result<std::string>> result;
};

// Ends a flight however the fetching coroutine ends (also when its frame is destroyed before it
// finished): the waiters get a result and wake up.
struct flight_end {
    std::shared_ptr<flight>* slot;  // the provider's in_flight
    std::shared_ptr<flight> f;
    ~flight_end() {
        if (!f->result) {
            f->result = source_result<std::string>(
                failure(source_failure::transient, "the token request was abandoned"));
        }
        if (*slot == f) slot->reset();
        try {
            f->done.cancel();
        } catch (...) {
        }
    }
};

}  // namespace

struct token_provider::impl {
    std::shared_ptr<http::client> http;
    app_credentials creds;
    clock_fn clock;
    std::string cached;  // empty: none
    std::chrono::sys_seconds cached_until{};
    std::chrono::seconds cached_lifetime{0};
    std::shared_ptr<flight> in_flight;
    int fetches = 0;

    std::chrono::sys_seconds now() const {
        if (clock) return clock();
        return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    }

    // For messages: the app and where it asks; never a secret.
    std::string app() const { return "app " + creds.client_id + " at " + token_endpoint(creds); }

    asio::awaitable<source_result<std::string>> fetch();
    source_result<std::string> judge(const http::response& res, const std::string& assertion);
};

token_provider::token_provider(std::shared_ptr<http::client> http, app_credentials creds,
                               clock_fn now)
    : impl_(std::make_unique<impl>()) {
    impl_->http = std::move(http);
    impl_->creds = std::move(creds);
    impl_->clock = std::move(now);
}

token_provider::~token_provider() = default;

int token_provider::fetches() const {
    return impl_->fetches;
}

void token_provider::invalidate(const std::string& token) {
    if (!impl_->cached.empty() && impl_->cached == token) {
        impl_->cached.clear();
        impl_->cached_until = {};
    }
}

asio::awaitable<source_result<std::string>> token_provider::token() {
    impl& s = *impl_;
    // Half the token's lifetime at most: a short-lived token is not fetched again on each call.
    // (No std::min here: it returns a reference to the temporary, which GCC 12 mishandles in
    // coroutines.)
    const std::chrono::seconds half = s.cached_lifetime / 2;
    const std::chrono::seconds margin = half < refresh_margin ? half : refresh_margin;
    if (!s.cached.empty() && s.cached_until - s.now() > margin) co_return s.cached;

    if (s.in_flight) {
        const std::shared_ptr<flight> f = s.in_flight;
        if (!f->result) {
            auto [ec] = co_await f->done.async_wait(asio::as_tuple(asio::use_awaitable));
            (void)ec;  // cancelled: the fetch ended
        }
        if (f->result) co_return *f->result;
        co_return failure(source_failure::transient, "waiting for a token was cancelled");
    }

    const asio::any_io_executor ex = co_await asio::this_coro::executor;
    flight_end end{&s.in_flight, std::make_shared<flight>(ex)};
    s.in_flight = end.f;
    source_result<std::string> r = co_await s.fetch();
    if (!r && r.error().kind == source_failure::transient && !s.cached.empty() &&
        s.cached_until - s.now() >= fallback_minimum) {
        r = s.cached;  // the endpoint is unwell, but the token we have still works for a while
    }
    end.f->result = r;
    co_return r;
}

asio::awaitable<source_result<std::string>> token_provider::impl::fetch() {
    if (creds.tenant.empty()) co_return failure(source_failure::invalid, "no tenant set");
    if (creds.client_id.empty()) co_return failure(source_failure::invalid, "no client id set");
    const bool with_certificate = !creds.certificate_pem.empty() || !creds.private_key_pem.empty();
    if (with_certificate && !creds.client_secret.empty()) {
        co_return failure(source_failure::invalid,
                          app() + ": both a client secret and a certificate are set; set one");
    }
    if (!with_certificate && creds.client_secret.empty()) {
        co_return failure(source_failure::invalid,
                          app() + ": neither a client secret nor a certificate is set");
    }
    const std::string endpoint = token_endpoint(creds);
    const std::optional<http::url> base = http::url::parse(endpoint);
    if (!base) {
        co_return failure(source_failure::invalid,
                          "the token endpoint URL " + endpoint + " is not valid");
    }
    if (base->scheme != "https" && !base->is_loopback()) {
        co_return failure(source_failure::invalid,
                          "refusing to send the app's credentials to " + endpoint + " without TLS");
    }

    std::string assertion;
    if (with_certificate) {
        std::string error;
        assertion = client_assertion(
            creds, std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()),
            error);
        if (assertion.empty()) {
            co_return failure(source_failure::invalid,
                              app() + ": cannot make the client assertion: " + error);
        }
    }

    const http::request req = token_request(creds, assertion);
    const http::result<http::response> sent = co_await http->send(*base, req);
    if (!sent) {
        // A token endpoint whose certificate does not verify needs an admin, not six retries.
        co_return failure(failure_kind_of(sent.error().kind),
                          "token request for " + app() + " failed: " + sent.error().message);
    }
    co_return judge(*sent, assertion);
}

source_result<std::string> token_provider::impl::judge(const http::response& res,
                                                       const std::string& assertion) {
    const std::optional<token_answer> answer = parse_token_answer(res.body);
    const std::string status = std::to_string(res.status);
    if (res.status == 200) {
        if (!answer || answer->access_token.empty()) {
            return failure(source_failure::invalid,
                           "token endpoint answered 200 without an access token for " + app());
        }
        if (answer->expires_in <= 0) {
            return failure(source_failure::invalid,
                           "token endpoint answered 200 without expires_in for " + app());
        }
        cached = answer->access_token;
        cached_lifetime = std::chrono::seconds{answer->expires_in};
        cached_until = now() + cached_lifetime;
        ++fetches;
        return cached;
    }

    // What the server said, fit for a log line.
    std::string said;
    if (answer) {
        said = log_text(answer->error_description,
                        {creds.client_secret, assertion, creds.private_key_pem});
        if (said.empty()) said = log_text(answer->error, {creds.client_secret, assertion});
        if (!answer->error.empty() && !said.starts_with(answer->error)) {
            said += " (" + log_text(answer->error, {creds.client_secret, assertion}) + ")";
        }
    }
    const std::string suffix = said.empty() ? std::string() : ": " + said;

    if (res.status == 429 || res.status == 408 || res.status >= 500 ||
        (answer && answer->error == "temporarily_unavailable")) {
        std::string message = "token endpoint answered " + status + " to " + app() + suffix;
        if (const auto retry = res.find("Retry-After")) {
            message += " (Retry-After: " + log_text(*retry, {}) + ")";
        }
        return failure(source_failure::transient, std::move(message));
    }
    const bool refused = res.status == 401 || res.status == 403 ||
                         (res.status == 400 && answer && is_refusal(answer->error));
    if (refused) {
        return failure(source_failure::denied, "token endpoint refused the app" +
                                                   (said.empty() ? ": HTTP " + status : suffix) +
                                                   " [" + app() + "]");
    }
    return failure(source_failure::invalid,
                   "token endpoint answered " + status + " to " + app() + suffix);
}

}  // namespace agendad::calendar::graph
