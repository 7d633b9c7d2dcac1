// EWS requests for all the mailboxes of one source: one HTTP client, one sign-in (NTLMv2, Basic
// or an OAuth bearer token), and Exchange's throttling rules kept: at most `per_mailbox`
// requests in flight per mailbox and `global` in all; ErrorServerBusy waits BackOffMilliseconds
// and tries again; HTTP 503 and 429 wait for Retry-After (an exponential backoff without one),
// transport failures of reads an exponential backoff, and are tried again. Every request names
// its mailbox in X-AnchorMailbox (Exchange 2013 and later route by it; with impersonation it
// must be the impersonated address).
//
// NTLM authenticates a connection, not a request: the client keeps a pool of channels
// (http::channel), each signed in once by the NEGOTIATE/CHALLENGE/AUTHENTICATE handshake and
// then reused; a channel whose connection the server closed signs in again.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "calendar/ews/soap.h"
#include "calendar/graph/oauth.h"
#include "calendar/http/http_client.h"
#include "calendar/source.h"

namespace agendad::calendar::ews {

struct sign_in {
    enum class scheme { ntlm, basic, bearer };
    scheme kind = scheme::ntlm;
    // ntlm: "DOMAIN\\account" or a UPN; basic: the UPN. Never logged with the password.
    std::string account;
    std::string password;
    // bearer: the OAuth token provider (hybrid modern auth).
    std::shared_ptr<graph::token_provider> tokens;
};

struct client_limits {
    int per_mailbox = 2;
    int global = 16;
    int max_attempts = 6;  // ErrorServerBusy, 503 and transport failures of reads, then transient
    std::chrono::milliseconds first_backoff{1000};
    std::chrono::seconds max_wait{300};  // a longer BackOffMilliseconds is a transient failure
};

class ews_client {
  public:
    // `ews_url`: "https://mail.contoso.com/EWS/Exchange.asmx" (http only to loopback).
    ews_client(boost::asio::any_io_executor executor, std::shared_ptr<http::client> http,
               std::string ews_url, sign_in credentials, client_limits limits = {});
    ~ews_client();

    // Sends `envelope` (built by soap.h) for `mailbox` and reads the answer: the parsed
    // envelope, which may hold a SOAP fault or error messages for the caller to classify, after
    // ErrorServerBusy and 503 retries. `repeatable`: the request changes nothing (SyncFolderItems,
    // GetItem, Subscribe, Unsubscribe), so it may go again after a transport failure; CreateItem
    // is sent again only when Exchange certainly did not process it (ErrorServerBusy, 503, a 401
    // of the sign-in). Failures: denied (sign-in refused: 401 after a fresh handshake, 403),
    // transient (network, timeouts, throttling beyond max_attempts or max_wait, 5xx without a
    // SOAP body), invalid (404: no EWS at the URL, a body that is not SOAP). `doing` names the
    // step for messages ("mailbox ceo@contoso.com: SyncFolderItems").
    // Keep the arguments alive until the co_await completes (see calendar/source.h).
    boost::asio::awaitable<source_result<parsed_response>> call(const std::string& mailbox,
                                                                const std::string& envelope,
                                                                bool repeatable,
                                                                const std::string& doing);

    // Sends `envelope` (GetStreamingEvents) for `mailbox` and hands the answer's body to
    // `on_body` as it arrives (several envelopes over minutes: feed an envelope_splitter),
    // `idle_timeout` bounding each silence; false from `on_body` ends it. Signs in like call(),
    // but holds no per-mailbox or global slot: a stream lasts, and the mailbox's other requests
    // go on beside it. nullopt: the stream ended (the server closed it, or `on_body` did); a
    // parsed response: Exchange answered with a SOAP fault instead of a stream; failures as for
    // call(), nothing retried (the caller reconnects).
    boost::asio::awaitable<source_result<std::optional<parsed_response>>> stream(
        const std::string& mailbox, const std::string& envelope,
        const std::function<bool(std::string_view)>& on_body,
        std::chrono::milliseconds idle_timeout, const std::string& doing);

    // Requests sent (retries and sign-in legs included), ErrorServerBusy/503 answers seen, and
    // NTLM handshakes done: for /metrics and tests.
    long long requests_sent() const;
    long long throttled() const;
    long long handshakes() const;
    // The EWS URL: as given, or as Autodiscover found it ("" until then).
    const std::string& url() const;
    // Finds the EWS URL by POX Autodiscover before the first request (with the same sign-in),
    // instead of the URL given: asking `autodiscover_url`, or, when it is empty, the two URLs
    // the protocol names for the first mailbox's domain (https://<domain>/autodiscover/
    // autodiscover.xml, then https://autodiscover.<domain>/...), following redirectAddr and
    // redirectUrl answers (https only, 10 hops at most). The internal EWS URL wins over the
    // external one. Until it succeeds every request fails transient, naming what was tried.
    void use_autodiscover(std::string autodiscover_url);
    bool autodiscovers() const;
    // "NTLM as CONTOSO\\svc" / "Basic as svc@contoso.com" / "OAuth": for describe().
    std::string describe_sign_in() const;

  private:
    struct impl;
    std::shared_ptr<impl> impl_;
};

// How a response code becomes a source failure, with `doing` and the code in the message.
source_error ews_failure(code_class c, std::string_view code, std::string_view text,
                         const std::string& doing);
// A SOAP fault's failure (its ResponseCode, else its faultcode, classified); nullopt when `r`
// is not a fault.
std::optional<source_error> fault_failure(const parsed_response& r, const std::string& doing);

}  // namespace agendad::calendar::ews
