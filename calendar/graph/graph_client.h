// Microsoft Graph requests for all the mailboxes of one source: one HTTP client and one token
// provider, and Microsoft's throttling rules kept (https://learn.microsoft.com/graph/throttling):
// at most `per_mailbox` requests in flight per mailbox and `global` in all; 429, 503 and 504
// wait for Retry-After (or an exponential backoff with jitter when it is absent) and try again;
// a 401 fetches a new token once and tries again; a token request that fails transiently (the
// token endpoint's 429/5xx, network trouble) is tried again by the same rules (its Retry-After
// when the provider reports one). Everything else is the caller's to judge.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "calendar/graph/oauth.h"
#include "calendar/http/http_client.h"
#include "calendar/source.h"

namespace agendad::calendar::graph {

struct throttling {
    int per_mailbox = 4;  // Microsoft's limit for concurrent requests to one mailbox
    int global = 64;
    int max_attempts = 6;  // for 429/503/504 and transport failures, then transient
    std::chrono::milliseconds first_backoff{1000};
    std::chrono::seconds max_wait{300};  // a longer Retry-After is a transient failure
};

class graph_client {
  public:
    // `graph_url` is "https://graph.microsoft.com/v1.0" (national clouds and tests differ).
    graph_client(boost::asio::any_io_executor executor, std::shared_ptr<http::client> http,
                 std::shared_ptr<token_provider> tokens, std::string graph_url,
                 throttling limits = {});
    ~graph_client();

    struct answer {
        int status = 0;
        std::string body;
        std::string request_id;  // request-id header, for support tickets
    };
    // Sends `method` to `target` (a path below graph_url such as "/users/x/events/y", or a
    // full https URL of the same origin, as nextLink/deltaLink are) for `mailbox`, with JSON
    // `body` when not empty. Returns the final answer (any status) after throttling retries, or
    // a source_error for transport failures, refused tokens and retries given up.
    // `doing` names the step for messages ("mailbox ceo@contoso.com: delta round").
    // A target of another origin fails invalid before anything is sent. Requests that are not
    // idempotent (POST) are sent again only when they certainly did not leave (name lookup,
    // connect) or were refused unprocessed (429, 503); after a timeout, a reset or a 504 they
    // may have taken effect: transient (or the 504 answer), for the caller to check first.
    // Keep the arguments alive until the co_await completes (see calendar/source.h).
    boost::asio::awaitable<source_result<answer>> send(const std::string& mailbox,
                                                       const std::string& method,
                                                       const std::string& target,
                                                       const std::string& body,
                                                       const std::string& doing);

    // Requests sent (retries included) and throttled answers seen: for /metrics.
    long long requests_sent() const;
    long long throttled() const;
    // graph_url as given (trailing slashes dropped): for describe().
    const std::string& graph_url() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Maps a final Graph answer that is not 2xx to a source failure with a clear message naming
// `doing`: 404/410 gone, 401/403 denied (ErrorAccessDenied: "outside the application access
// policy"), 409/412 conflict, 429/5xx transient, other 4xx invalid.
source_error graph_failure(const graph_client::answer& a, const std::string& doing);

}  // namespace agendad::calendar::graph
