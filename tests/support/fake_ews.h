// An in-process fake of Exchange Web Services (on-premises Exchange behind IIS), on Beast over
// TLS (a test CA made at test time) on 127.0.0.1, for tests and end-to-end runs of agendad. It
// follows Microsoft's documented EWS protocol, with answers shaped like Exchange 15.20's
// (ServerVersionInfo header, s:/m:/t: prefixes, element order), on the paths agendad uses:
//
//   POST /EWS/Exchange.asmx            SOAP 1.1 (Content-Type text/xml), answered text/xml:
//     SyncFolderItems      the calendar folder; SyncState issued by the fake; pages of at most
//                          min(MaxChangesReturned, options.page_size) changes in change order
//                          (Create / Update / Delete); an unknown or expired state →
//                          ErrorInvalidSyncStateData
//     GetItem              several ids, one GetItemResponseMessage each, in order (unknown →
//                          ErrorItemNotFound); the whole CalendarItem whatever the shape asks;
//                          ItemShape/BaseShape required (else an ErrorSchemaValidation fault)
//     CreateItem           AcceptItem / TentativelyAcceptItem / DeclineItem with
//                          ReferenceItemId Id + ChangeKey (stale → ErrorIrresolvableConflict,
//                          missing → ErrorChangeKeyRequired) and MessageDisposition
//     Subscribe            StreamingSubscriptionRequest on the calendar folder
//     GetStreamingEvents   a chunked response, one SOAP envelope per batch of notifications,
//                          ConnectionStatus OK keep-alives, Closed at ConnectionTimeout
//     Unsubscribe
//     anything else        an ErrorInvalidRequest SOAP fault (HTTP 500)
//   POST /autodiscover/autodiscover.xml   POX Autodiscover: EXCH and EXPR with EwsUrl = ews_url()
//
// Authentication as IIS does it, per fake (options.auth): NTLM (401 "NTLM"/"Negotiate", the
// type 2 challenge in a 401, the type 3 checked with NTLMv2; the CONNECTION is then
// authenticated, a new connection starts over), Basic, or a Bearer token. Impersonation
// (t:ExchangeImpersonation/t:ConnectingSID/t:PrimarySmtpAddress or t:SmtpAddress) of granted
// mailboxes; an ungranted one → ErrorImpersonateUserDenied fault, an unknown one →
// ErrorNonExistentMailbox fault (both HTTP 500). Without it, a request addresses the service
// account's own mailbox, or (delegate access) the t:Mailbox of a DistinguishedFolderId when that
// mailbox was granted with grant_delegate().
// Faults as Exchange gives them: SOAP 1.1 s:Fault with faultcode a:<code>, faultstring and
// detail/e:ResponseCode, e:Message (and t:MessageXml), HTTP 500.
// It runs on its own thread; all methods are thread-safe. Requests are limited to 1 MB (413);
// idle connections close after 30 s.
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

class fake_ews {
  public:
    enum class auth_scheme { ntlm, basic, bearer };

    struct options {
        auth_scheme auth = auth_scheme::basic;
        std::string user = "svc-agendad";  // NTLM and Basic user name (NTLM: without domain)
        std::string domain = "CONTOSO";    // NTLM: the server's NetBIOS domain
        std::string password = "test-password";
        std::string token = "test-bearer-token";  // bearer: the one token accepted
        // The service account's own mailbox: what a request without impersonation addresses.
        std::string service_address = "svc-agendad@contoso.example";
        // Changes per SyncFolderItems page at most (the client's MaxChangesReturned may lower it).
        int page_size = 512;
        // A DeclineItem sent (SendAndSaveCopy or SendOnly) removes the item from the calendar, as
        // Exchange moves it to Deleted Items: the next sync reports a Delete.
        bool decline_removes = false;
        // GetStreamingEvents: a keep-alive (ConnectionStatus OK) envelope this often, and how long
        // one "minute" of ConnectionTimeout lasts (tests shorten both).
        std::chrono::milliseconds stream_keepalive{std::chrono::seconds{30}};
        std::chrono::milliseconds stream_minute{std::chrono::minutes{1}};
        // Folder for the server certificate and ca.pem (made if missing); empty: a temporary
        // folder removed with the fake.
        std::filesystem::path folder;
        // Faults injected by the server core before (or, mangling, after) the fake answers
        // (support/faults.h); null: none.
        std::shared_ptr<fault_plan> faults;
    };

    explicit fake_ews(options o);
    ~fake_ews();  // stops the thread; open connections are closed
    fake_ews(const fake_ews&) = delete;
    fake_ews& operator=(const fake_ews&) = delete;

    std::uint16_t port() const;
    std::string origin() const;            // "https://127.0.0.1:<port>"
    std::string ews_url() const;           // origin() + "/EWS/Exchange.asmx"
    std::string autodiscover_url() const;  // origin() + "/autodiscover/autodiscover.xml"
    std::filesystem::path ca_file() const;  // the test CA's certificate (PEM)

    // --- data ---
    // A mailbox (its calendar folder is empty). Addresses compare case-insensitively.
    void add_mailbox(const std::string& address, const std::string& display_name = "");
    // The service account may impersonate this mailbox (ApplicationImpersonation for it).
    void grant_impersonation(const std::string& address);
    // The service account has delegate access to this mailbox's calendar.
    void grant_delegate(const std::string& address);
    // Adds a calendar item: `calendar_item_xml` is one t:CalendarItem element in the EWS types
    // namespace (support/ews_calendar_items.h makes them), any prefix; an ItemId in it is
    // replaced. Returns the new item's id ("AAMkAD..."). The mailbox is added when unknown.
    // Throws std::invalid_argument when the XML is not such an element.
    std::string add_item(const std::string& mailbox, const std::string& calendar_item_xml);
    // Replaces the item's properties (same id, a new ChangeKey; an Update in the next sync, a
    // ModifiedEvent on streams). Unknown ids throw std::invalid_argument.
    void update_item(const std::string& mailbox, const std::string& id,
                     const std::string& calendar_item_xml);
    // Removes it (a Delete in the next sync, a DeletedEvent on streams).
    void remove_item(const std::string& mailbox, const std::string& id);

    struct item_state {
        std::string id;
        std::string change_key;
        std::string my_response_type;  // Accept, Decline, Tentative, NoResponseReceived, ...
        std::string xml;               // the t:CalendarItem as GetItem would give it
    };
    // The item as the fake now has it, or nullopt (unknown or removed).
    std::optional<item_state> item(const std::string& mailbox, const std::string& id) const;
    std::vector<std::string> item_ids(const std::string& mailbox) const;  // in creation order

    // --- faults ---
    struct fault {
        enum class kind {
            server_busy,  // ErrorServerBusy SOAP fault (HTTP 500) with BackOffMilliseconds
            http_status,  // `status` with an empty body
            reset,        // the connection is closed without an answer
            delay,        // `delay`, then the normal answer
        };
        kind what = kind::server_busy;
        std::chrono::milliseconds back_off{std::chrono::seconds{30}};
        int status = 503;
        std::chrono::milliseconds delay{0};  // also before the other kinds' answers
    };
    // The next `times` authenticated requests whose operation is `operation` (the SOAP body's
    // element: "SyncFolderItems", "GetItem", ...; "Autodiscover" for autodiscover; empty: any)
    // get `f` instead of their answer.
    void fail_next(const std::string& operation, fault f, int times = 1);
    // How many fail_next faults were handed out so far (a delay counts as soon as it begins).
    int faults_given() const;
    // Every SyncState issued so far answers ErrorInvalidSyncStateData from now on.
    void expire_sync_states();
    // Every item gets a new ChangeKey silently (no sync change, no notification): a CreateItem
    // that references an old one fails.
    void stale_change_keys();
    // Requests addressing this mailbox fail: `status` 0 → ErrorImpersonateUserDenied when
    // impersonating (ErrorAccessDenied otherwise), 401 or 403 → that HTTP status.
    void deny(const std::string& address, int status = 0);
    // Cuts every open GetStreamingEvents response abruptly (a reset, no closing envelope).
    void drop_streams();

    // --- what it received ---
    struct request_record {
        std::chrono::steady_clock::time_point received;
        std::chrono::steady_clock::time_point answered;
        std::string path;            // "/EWS/Exchange.asmx"
        std::string operation;       // "GetItem", "Autodiscover", ... ("" when unreadable)
        std::string mailbox;         // the mailbox addressed (lower case), if any
        bool impersonated = false;   // via t:ExchangeImpersonation
        std::string anchor_mailbox;  // the X-AnchorMailbox header as sent ("" when absent)
        bool authorization_sent = false;
        std::string authorization_scheme;  // "NTLM", "Basic", "Bearer", ... as sent
        std::vector<std::string> field_uris;  // GetItem's AdditionalProperties FieldURIs
        std::string body;
        int status = 0;  // the HTTP status answered (0: reset)
    };
    std::vector<request_record> requests() const;
    // The highest number of requests for one mailbox in flight at once (open
    // GetStreamingEvents responses are not counted).
    int max_in_flight_per_mailbox() const;
    int ntlm_handshakes() const;  // completed (type 3 accepted)

    struct response_record {
        std::string mailbox;
        std::string item_id;
        std::string kind;         // AcceptItem, TentativelyAcceptItem, DeclineItem
        std::string disposition;  // SendAndSaveCopy, SaveOnly, SendOnly
        std::string body;         // t:Body text ("" when none)
        std::string body_type;    // HTML, Text ("" when no body)
    };
    std::vector<response_record> responses() const;

    struct subscription {
        std::string id;
        std::string mailbox;
        std::vector<std::string> event_types;  // as requested
    };
    std::vector<subscription> subscriptions() const;
    int open_streams() const;  // GetStreamingEvents responses open now

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace agendad::test_support
