// OAuth2 client credentials for Microsoft Graph (Microsoft identity platform v2.0): a token
// from {authority}/{tenant}/oauth2/v2.0/token with a client secret, or with a certificate (a
// client assertion: a JWT signed RS256 with the app's private key, its header carrying x5t and
// x5t#S256, the certificate's SHA-1 and SHA-256 thumbprints, base64url). Tokens are cached and
// fetched again before they expire; concurrent callers share one request.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "calendar/http/http_client.h"
#include "calendar/source.h"

namespace agendad::calendar::graph {

struct app_credentials {
    std::string authority = "https://login.microsoftonline.com";  // national clouds, tests
    std::string tenant;     // directory (tenant) id or a verified domain
    std::string client_id;  // application (client) id
    std::string scope = "https://graph.microsoft.com/.default";
    // One of the two: a client secret, or a certificate (PEM) with its private key (PEM).
    std::string client_secret;
    std::string certificate_pem;
    std::string private_key_pem;
};

// The token endpoint's answer.
struct token_answer {
    std::string access_token;
    long long expires_in = 0;       // seconds
    std::string error;              // "invalid_client", ...
    std::string error_description;  // "AADSTS7000215: Invalid client secret provided. ..."
};
std::optional<token_answer> parse_token_answer(std::string_view json);

// A signed client assertion (RFC 7523) for `creds` with a certificate: header
// {"alg":"RS256","typ":"JWT","x5t":...,"x5t#S256":...}, claims aud = the token endpoint URL,
// iss = sub = client_id, jti (random), nbf = iat = now, exp = now + 10 minutes. Empty with
// `error` set when the certificate or key cannot be read, the key is not RSA (RS256 only), is
// encrypted, or the two do not belong together. `error` never carries key material.
std::string client_assertion(const app_credentials& creds, std::chrono::sys_seconds now,
                             std::string& error);

// "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token" (trailing slashes of the
// authority dropped).
std::string token_endpoint(const app_credentials& creds);

// The token request's body (application/x-www-form-urlencoded): client_id, scope,
// grant_type=client_credentials and client_secret, or, when `assertion` is not empty,
// client_assertion_type (jwt-bearer) and client_assertion instead of the secret.
std::string token_request_body(const app_credentials& creds, const std::string& assertion);

// One form value percent-encoded: A-Z a-z 0-9 - . _ ~ kept, every other byte %XX (uppercase).
std::string form_encode(std::string_view value);

// base64url without padding (RFC 4648 §5, as JWTs use it).
std::string base64url(std::string_view bytes);

class token_provider {
  public:
    using clock_fn = std::function<std::chrono::sys_seconds()>;
    // `http` is shared with the Graph requests; `now` is the clock the cache goes by (tests
    // move it; empty: the system clock). Client assertions carry the system clock's time: the
    // token endpoint checks them against its own. Use the provider from one thread (the http
    // client's), and keep it alive until its token() calls complete.
    token_provider(std::shared_ptr<http::client> http, app_credentials creds, clock_fn now);
    ~token_provider();

    // A valid access token: the cached one while it has more than `refresh_margin` (or half its
    // lifetime, when that is shorter) left, otherwise a new one; callers that arrive while a token
    // is being fetched wait for that same request. Failures: denied for a refused client (400/401
    // invalid_client, unauthorized_client, invalid_scope, invalid_grant, invalid_request; any 401
    // or 403: the message carries the AADSTS text), transient for network trouble, timeouts, 429
    // and 5xx (the cached token is still returned then if it has at least a minute left), invalid
    // for bad settings and anything else. Never logs or returns the secret, the assertion or the
    // token in messages.
    boost::asio::awaitable<source_result<std::string>> token();
    // Drops `token` if it is the cached one (a Graph 401 said it is no longer valid), so that
    // the next token() fetches a new one.
    void invalidate(const std::string& token);
    // How many tokens were fetched (metrics, tests).
    int fetches() const;

    std::chrono::seconds refresh_margin{300};

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace agendad::calendar::graph
