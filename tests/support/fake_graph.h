// An in-process fake of Microsoft Graph and of the Microsoft identity platform's token
// endpoint, on Beast over TLS (a test CA made at test time) on 127.0.0.1, for tests and
// benchmarks. It follows Microsoft's documented protocol closely enough that a real client
// cannot tell on the paths agendad uses:
//
//   POST /{tenant}/oauth2/v2.0/token           client credentials: secret or JWT assertion
//   GET  /v1.0/users/{id}/calendarView/delta   paged with @odata.nextLink ($skiptoken), ends
//                                              with @odata.deltaLink ($deltatoken); @removed
//   GET  /v1.0/users/{id}/calendarView         startDateTime/endDateTime, paged ($skip)
//   GET  /v1.0/users/{id}/events/{id}          one event (a series master too)
//   POST /v1.0/users/{id}/events/{id}/{accept|tentativelyAccept|decline}
//                                              {"comment","sendResponse"} → 202 Accepted
//   GET  /v1.0/groups/{id}/transitiveMembers/microsoft.graph.user   paged ($skiptoken)
//   POST/PATCH/DELETE /v1.0/subscriptions[/{id}]   with the validation handshake (GET too)
//
// Every Graph call needs "Authorization: Bearer <a token it issued, not expired>" (else 401
// InvalidAuthenticationToken with WWW-Authenticate); users it does not know give 404
// ErrorInvalidUser, unknown events 404 ErrorItemNotFound, denied users 403 ErrorAccessDenied.
// Pages hold at most options.page_size items; "Prefer: odata.maxpagesize=N" and $top lower it.
// The first delta call needs startDateTime and endDateTime (else 400 ErrorInvalidParameter);
// unknown or expired skip/delta tokens answer 410 SyncStateNotFound. Answers carry request-id.
// Token endpoint refusals use the identity platform's shape ({"error","error_description":
// "AADSTSnnn: ...","error_codes":[n],...}): a wrong secret, tenant, client id or assertion is
// 401 invalid_client (AADSTS7000215, 90002, 700016, 700027), a missing parameter 400
// invalid_request, a scope without "/.default" 400 invalid_scope.
// It runs on its own thread: a test in the same process or a separate agendad process may use
// it. All methods are thread-safe. Requests are limited to 1 MB; idle connections close after
// 30 s.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace agendad::test_support {

class fault_plan;

class fake_graph {
  public:
    struct options {
        std::string tenant = "contoso-tenant";
        std::string client_id = "11111111-2222-3333-4444-555555555555";
        std::string client_secret = "test-client-secret";  // empty: secrets refused
        // PEM certificate whose key signs accepted client assertions; empty: none accepted.
        std::string client_certificate_pem;
        std::chrono::seconds token_lifetime{3599};
        int page_size = 10;  // events per page (clients cannot ask for more)
        // Declining an event removes it from the calendar (as Exchange does by default): GET
        // answers 404 and the next delta round reports it @removed.
        bool decline_removes = false;
        // Folder for the server certificate and ca.pem (made if missing); empty: a temporary
        // folder removed with the fake.
        std::filesystem::path folder;
        // Faults injected by the server core before (or, mangling, after) the fake answers
        // (support/faults.h); null: none.
        std::shared_ptr<fault_plan> faults;
    };

    explicit fake_graph(options o);
    ~fake_graph();  // stops the thread; open connections are closed
    fake_graph(const fake_graph&) = delete;
    fake_graph& operator=(const fake_graph&) = delete;

    std::uint16_t port() const;
    std::string authority() const;          // "https://127.0.0.1:<port>" (token endpoint's base)
    std::string graph_url() const;          // "https://127.0.0.1:<port>/v1.0"
    std::filesystem::path ca_file() const;  // the test CA's certificate (PEM)

    // --- data ---
    // A mailbox, by address (UPN); Graph ids and addresses both address it in URLs.
    void add_user(const std::string& address);
    // The user's Graph id (a GUID derived from the address): what notifications' "resource"
    // ("Users/{id}/Events/{event}") and group members' "id" carry, as Graph's do.
    std::string user_id(const std::string& address) const;
    // Adds an event (Graph event JSON object; "id", "changeKey", "iCalUId",
    // "lastModifiedDateTime" are filled in when missing, "type" too: seriesMaster when it has a
    // "recurrence", else singleInstance); returns its id. The user is added when unknown. Times
    // are read from start/end "dateTime" as UTC whatever "timeZone" says (write UTC). Occurrence
    // ids are "<master id>_occ_<yyyymmdd>" and carry the master's iCalUId. A "seriesMaster"
    // appears in calendarView and delta as its occurrences: one "occurrence" item per
    // instance inside the window (daily/weekly patterns expanded; others: the first instance),
    // with "seriesMasterId" set, the master itself only through GET /events/{id}.
    std::string add_event(const std::string& user, const std::string& event_json);
    // Merges `patch_json` into the event (a new changeKey; it shows in the next delta round).
    // An occurrence id changes that occurrence only. Unknown ids throw std::invalid_argument.
    void update_event(const std::string& user, const std::string& id,
                      const std::string& patch_json);
    void remove_event(const std::string& user, const std::string& id);  // next delta: @removed
    // The event as the fake now has it (JSON), or nullopt.
    std::optional<std::string> event(const std::string& user, const std::string& id) const;
    void set_group(const std::string& group_id, const std::vector<std::string>& member_addresses);

    // --- faults ---
    struct fault {
        int status = 503;                                 // 0: reset the connection instead
        std::optional<std::chrono::seconds> retry_after;  // Retry-After header
        std::chrono::milliseconds delay{0};               // wait before answering (slow server)
        std::string body;                                 // empty: a Graph error body for status
    };
    // The next `times` requests whose target contains `path_contains` (any, if empty; the
    // token endpoint too) get `f` instead of their answer, before the token is checked.
    void fail_next(const std::string& path_contains, fault f, int times = 1);
    // Every delta (and skip) token issued so far answers 410 Gone SyncStateNotFound from now on.
    void expire_delta_tokens();
    // Graph calls for this user answer 403 ErrorAccessDenied (outside the app access policy).
    void deny_user(const std::string& address);
    // Tokens issued so far answer 401 InvalidAuthenticationToken from now on.
    void revoke_tokens();

    // --- what it received ---
    struct request_record {
        std::string method;
        std::string target;  // path and query as received
        std::string user;    // the mailbox the call addressed (lower case), if any
        std::string body;
        int status = 0;  // what it answered
        std::chrono::steady_clock::time_point received;
        std::chrono::steady_clock::time_point answered;
    };
    std::vector<request_record> requests() const;
    // The highest number of Graph requests for one user that were in flight at once.
    int max_in_flight_per_user() const;
    int tokens_issued() const;

    struct response_call {
        std::string user;
        std::string event_id;
        std::string action;  // accept, tentativelyAccept, decline
        std::string comment;
        bool send_response = true;
    };
    std::vector<response_call> responses() const;

    // --- change notifications ---
    // POST /subscriptions (resource "/users/{id}/events") first POSTs to notificationUrl (then
    // lifecycleNotificationUrl) with "?validationToken=<url-encoded text>", http or https, and
    // needs 200, Content-Type text/plain and the token as body within 10 s, else 400
    // ValidationError; expirationDateTime must be in the future and at most 4230 minutes ahead
    // (else 400 InvalidRequest). PATCH renews (same rule), DELETE → 204, unknown ids → 404.
    struct subscription {
        std::string id;
        std::string resource;  // "/users/{id}/events" as the client gave it
        std::string user;      // lower case
        std::string change_type;
        std::string notification_url;
        std::string lifecycle_url;
        std::string client_state;
        std::string expiration;  // ISO 8601 as last set
    };
    std::vector<subscription> subscriptions() const;
    // The CA to trust when POSTing to notification URLs (the subscriber's test server);
    // without it, the fake's own ca_file().
    void trust_for_notifications(const std::filesystem::path& ca_file);
    // POSTs a change notification for `user`'s subscription(s) (changeType updated), as Graph
    // does; returns the HTTP status the subscriber answered (0: no subscription or no answer;
    // with several subscriptions the first non-2xx). Runs on the calling thread with an
    // io_context of its own: the subscriber must not be served by that same thread. Expired
    // subscriptions and those without "updated" in changeType get nothing. "resource" is
    // "Users/{user_id}/Events/{event_id}" (the user's GUID, as Graph sends it).
    int notify(const std::string& user, const std::string& event_id);
    // POSTs a lifecycle notification (reauthorizationRequired, subscriptionRemoved, missed) to
    // lifecycleNotificationUrl, or notificationUrl without one; the status as for notify().
    int notify_lifecycle(const std::string& user, const std::string& event);

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace agendad::test_support
