// EWS (Exchange Web Services) SOAP for the EWS calendar source: the request envelopes it sends
// (SyncFolderItems, GetItem, CreateItem with an Accept/TentativelyAccept/DeclineItem, a
// streaming Subscribe, GetStreamingEvents, Unsubscribe; the POX Autodiscover request) and
// readers for what Exchange answers: the envelope itself (response messages, SOAP faults,
// ServerVersionInfo), each operation's payload, the concatenated envelopes of a
// GetStreamingEvents stream, and POX Autodiscover. CalendarItem elements are handed out as
// pugixml nodes: calendar/ews/ews_items maps them to invitations. Every body is read through
// xml::load (no DTD ever: XXE and billion laughs are refused; size and depth bounded), and
// elements are matched by namespace URI, never by prefix. Pure: no I/O.
#pragma once

#include <pugixml.hpp>

#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::calendar::ews {

// --- namespaces (matched by URI; prefixes are whatever a server chose) ---
namespace ns {
inline constexpr std::string_view soap = "http://schemas.xmlsoap.org/soap/envelope/";
inline constexpr std::string_view messages =
    "http://schemas.microsoft.com/exchange/services/2006/messages";
inline constexpr std::string_view types =
    "http://schemas.microsoft.com/exchange/services/2006/types";
// The detail of a SOAP fault (e:ResponseCode, e:Message).
inline constexpr std::string_view errors =
    "http://schemas.microsoft.com/exchange/services/2006/errors";
inline constexpr std::string_view autodiscover_request =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";
inline constexpr std::string_view autodiscover_response =
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
inline constexpr std::string_view autodiscover_outlook_response =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
}  // namespace ns

// Bodies larger than this are refused unread. A GetItem of a few calendar items with HTML
// bodies is far smaller; so is one envelope of a streaming answer.
inline constexpr std::size_t max_response_bytes = 32 * 1024 * 1024;
// POX Autodiscover answers are a few kilobytes.
inline constexpr std::size_t max_autodiscover_bytes = 1024 * 1024;
// MessageText, faultstring and the like are cut to this many bytes (at a UTF-8 boundary,
// ending in "…"): they go to logs, not to decisions.
inline constexpr std::size_t max_message_text_bytes = 1000;
// A BackOffMilliseconds larger than a day is taken as a day.
inline constexpr std::chrono::milliseconds max_back_off{24 * 60 * 60 * 1000};

// The HTTP Content-Type of every EWS request body (SOAP 1.1) and of the POX Autodiscover one.
inline constexpr std::string_view soap_content_type = "text/xml; charset=utf-8";

// ============================================================================================
// Requests: each function returns a whole UTF-8 SOAP envelope (with the XML declaration).
// Every envelope carries <t:RequestServerVersion Version="Exchange2013"/> (understood by
// Exchange 2013, 2016, 2019 and SE) and, with impersonation, <t:ExchangeImpersonation> naming
// the mailbox by <t:PrimarySmtpAddress>. All text is escaped with xml::escape: a value can
// never add markup, and bytes XML cannot carry (NUL, other C0 controls, bytes that are not
// UTF-8) become U+FFFD.
// ============================================================================================

// Whose mailbox a request works on.
struct request_context {
    // The watched mailbox's SMTP address; empty: the account's own mailbox.
    std::string mailbox;
    // true: the service account impersonates `mailbox` (ApplicationImpersonation role): the
    // ExchangeImpersonation header names it and folders are the impersonated user's own.
    // false: delegate access: folders name the mailbox (<t:DistinguishedFolderId> with
    // <t:Mailbox><t:EmailAddress>). Ignored when `mailbox` is empty.
    bool impersonate = false;
};

// An item's identity in a mailbox: the Id (stable) and the ChangeKey (changes with every
// change to the item; CreateItem responses need the current one).
struct item_id {
    std::string id;
    std::string change_key;
    friend bool operator==(const item_id&, const item_id&) = default;
};

// SyncFolderItems on the calendar folder, ItemShape IdOnly (the client then GetItems what
// changed). `sync_state` empty: the first round (no <m:SyncState>). `max_changes` is clamped to
// EWS's 1..512.
std::string sync_folder_items(const request_context& ctx, std::string_view sync_state,
                              int max_changes = 512);

// The FieldURIs get_items asks for, in order: everything a meeting decision reads. Each is a
// documented value of the FieldURI attribute (UnindexedFieldURIType; Microsoft's "FieldURI"
// reference page): a name Exchange does not know is answered with ErrorSchemaValidation.
//   item:Subject item:Body item:DateTimeReceived item:DateTimeCreated item:Sensitivity
//   item:HasAttachments item:ItemClass calendar:UID calendar:RecurrenceId
//   calendar:DateTimeStamp calendar:Start calendar:End calendar:OriginalStart
//   calendar:IsAllDayEvent calendar:LegacyFreeBusyStatus calendar:Location calendar:IsMeeting
//   calendar:IsCancelled calendar:IsRecurring calendar:MeetingRequestWasSent
//   calendar:IsResponseRequested calendar:CalendarItemType calendar:MyResponseType
//   calendar:Organizer calendar:RequiredAttendees calendar:OptionalAttendees
//   calendar:Resources calendar:AppointmentSequenceNumber calendar:Recurrence
//   calendar:StartTimeZone calendar:EndTimeZone
// StartTimeZone/EndTimeZone (Exchange 2010 and later) rather than StartTimeZoneId: the element
// carries the Windows zone name in its Id attribute as well as the definition, so a zone that
// calendar/time_zones does not know can still be read from its periods.
const std::vector<std::string_view>& get_item_field_uris();

// GetItem of `ids` (in order; the answer has one message per id in the same order), BaseShape
// IdOnly plus get_item_field_uris(), BodyType HTML: the organizer's body as written, converted
// by calendar/html_to_text like the Graph source's, so that one meeting reads the same
// whichever source fetched it (Exchange's own HTML→text conversion differs in line breaks and
// link rendering). EWS wants at least one id: callers skip the request when there is none.
std::string get_items(const request_context& ctx, const std::vector<item_id>& ids);

enum class response_kind { accept, tentative, decline };

// CreateItem of an AcceptItem / TentativelyAcceptItem / DeclineItem referring to `ref` (Id and
// the current ChangeKey), MessageDisposition SendAndSaveCopy (`send`: the organizer gets the
// response) or SaveOnly (silent: nothing is sent; Exchange keeps the response message as a
// draft, whose id the answer gives, see read_create_item). `body_text`, when not empty, is the
// response's <t:Body BodyType="Text">, placed before <t:ReferenceItemId> as the
// ResponseObjectType sequence wants (ItemType's Body comes first).
std::string respond(const request_context& ctx, response_kind kind, const item_id& ref,
                    std::string_view body_text, bool send);

// Subscribe with a StreamingSubscriptionRequest on the calendar folder for CreatedEvent,
// ModifiedEvent, DeletedEvent, MovedEvent and CopiedEvent. (On Exchange 2013 and later, the
// HTTP requests of one streaming subscription should carry X-AnchorMailbox: the mailbox, so
// that they reach the same mailbox server; that is the HTTP client's part.) Exchange refuses
// subscriptions under delegate access (ErrorSubscriptionDelegateAccessNotSupported, classified
// invalid): a delegate mailbox is polled with SyncFolderItems instead.
std::string subscribe_streaming(const request_context& ctx);

// GetStreamingEvents for `subscription_ids`; `connection_timeout_minutes` is clamped to EWS's
// 1..30.
std::string get_streaming_events(const request_context& ctx,
                                 const std::vector<std::string>& subscription_ids,
                                 int connection_timeout_minutes);

// Unsubscribe (streaming subscriptions end when their connection does, but a pull
// subscription or an explicit end wants this).
std::string unsubscribe(const request_context& ctx, std::string_view subscription_id);

// The POX Autodiscover request body for `email` (request schema .../outlook/requestschema/2006,
// AcceptableResponseSchema .../outlook/responseschema/2006a). No SOAP envelope.
std::string autodiscover_request(std::string_view email);

// ============================================================================================
// Responses.
// ============================================================================================

// One m:*ResponseMessage element of a response.
struct response_message {
    std::string element;         // its local name: "SyncFolderItemsResponseMessage"
    std::string response_class;  // Success, Warning or Error
    // ResponseCode (trimmed): NoError, ErrorServerBusy, ErrorInvalidSyncStateData, ... A
    // Success message without one is NoError.
    std::string code;
    std::string text;  // MessageText, trimmed and cut to max_message_text_bytes; may be empty
    // MessageXml's <t:Value Name="BackOffMilliseconds">, when the server gave one.
    std::optional<std::chrono::milliseconds> back_off;
    pugi::xml_node node;  // the element (valid while the response's document lives)
};

// A SOAP 1.1 Fault (Exchange answers HTTP 500 with one for ErrorServerBusy,
// ErrorSchemaValidation, ErrorInvalidServerVersion, ErrorImpersonateUserDenied, ...).
struct soap_fault {
    // faultcode's local part (the QName's prefix dropped): "ErrorServerBusy", or SOAP's own
    // "Client" / "Server".
    std::string code;
    std::string text;  // faultstring, trimmed and cut like MessageText
    // detail's e:ResponseCode; else faultcode's local part when faultcode is an EWS type
    // (namespace ns::types); else empty.
    std::string response_code;
    std::optional<std::chrono::milliseconds> back_off;  // detail's MessageXml, as above
};

// A response envelope, parsed. Copies share the document.
struct parsed_response {
    std::shared_ptr<const pugi::xml_document> doc;
    // The soap:Body element's local name without a trailing "Response": "SyncFolderItems" for
    // m:SyncFolderItemsResponse, "Fault" for a fault, "SendNotification" for a push message.
    std::string operation;
    pugi::xml_node body_element;  // the soap:Body's element
    // The body element's m:ResponseMessages children, in document order.
    std::vector<response_message> messages;
    std::optional<soap_fault> fault;
    // t:ServerVersionInfo in the header: "15.20.3370.16" (MajorVersion.MinorVersion.
    // MajorBuildNumber.MinorBuildNumber, as many as given) and its Version attribute
    // ("V2018_01_08", "Exchange2010_SP2"); empty when absent.
    std::string server_version;
    std::string server_schema;
};

// Reads a SOAP envelope from Exchange. `where` names the request in error messages ("mailbox
// ceo@contoso.com, SyncFolderItems"). The error is a sentence starting with `where`, naming
// what is wrong and the byte offset, never quoting the body: over `max_bytes` (refused before
// parsing), empty, a DOCTYPE, not well-formed, nested over 256 deep, a root that is not
// {http://schemas.xmlsoap.org/soap/envelope/}Envelope (Microsoft's how-to pages print
// https://schemas.xmlsoap.org/...: no server sends that), no soap:Body, a Body without
// exactly one element, a response message whose ResponseClass is not Success, Warning or Error.
// A SOAP Fault is not an error: it is parsed into `fault`.
boost::system::result<parsed_response, std::string> parse_response(
    std::string_view body, std::string_view where, std::size_t max_bytes = max_response_bytes);

// The code that decides what a client does with a response: the fault's response_code (its
// code when it has none), else the code of the first Error message, else of the first Warning
// message, else "NoError".
std::string_view overall_code(const parsed_response& response);

// What a client does about an EWS response code.
enum class code_class {
    ok,           // NoError
    transient,    // retry later (after back_off when given): ErrorServerBusy, ErrorTimeoutExpired,
                  // ErrorInternalServerTransientError, ErrorMailboxStoreUnavailable,
                  // ErrorMailboxMoveInProgress (the mailbox answers again once moved; Autodiscover
                  // may then give a new URL), ErrorTooManyObjectsOpened, ErrorConnectionFailed,
                  // ErrorExceededConnectionCount, ErrorBatchProcessingStopped, ...
    conflict,     // the ChangeKey is stale or the meeting changed: GetItem again and decide again
                  // (ErrorIrresolvableConflict, ErrorStaleObject,
                  // ErrorCalendarMeetingRequestIsOutOfDate)
    gone,         // the item no longer exists or the meeting was cancelled: nothing to do
                  // (ErrorItemNotFound, ErrorCalendarIsCancelledForAccept/Decline/Tentative,
                  // ErrorCalendarOccurrenceIsDeletedFromRecurrence)
    denied,       // the account may not work on this mailbox: an administrator must act; retrying
                  // will not help (ErrorAccessDenied, ErrorImpersonateUserDenied,
                  // ErrorImpersonationDenied, ErrorImpersonationFailed, ErrorNonExistentMailbox,
                  // ErrorInvalidSmtpAddress, ErrorNotDelegate, ErrorSubscriptionAccessDenied)
    resync,       // the sync state is no good: SyncFolderItems again from an empty state
                  // (ErrorInvalidSyncStateData, ErrorSyncFolderNotFound)
    resubscribe,  // the subscription is gone: subscribe again and run a sync round to catch up
                  // (ErrorSubscriptionNotFound, ErrorInvalidSubscription,
                  // ErrorExpiredSubscription, ErrorInvalidWatermark,
                  // ErrorMissedNotificationEvents)
    invalid,      // anything else (ErrorSchemaValidation, ErrorInvalidServerVersion,
                  // ErrorInvalidIdMalformed, an empty code, ...): our request or the server is
                  // wrong; log it, do not retry it as is
};
code_class classify(std::string_view response_code);
std::string_view to_string(code_class c);

// --- SyncFolderItems ---

enum class change_kind {
    create,            // t:Create: a new item
    update,            // t:Update: a changed item
    remove,            // t:Delete: the item is gone
    read_flag_change,  // t:ReadFlagChange: only its read flag changed; ignorable for a calendar
    other,             // a change element this reader does not know (`item_kind` names it)
};

struct sync_change {
    change_kind kind = change_kind::other;
    // Create/Update: the item element's local name (CalendarItem, MeetingRequest, Message, ...);
    // other: the change element's local name; empty for Delete and ReadFlagChange.
    std::string item_kind;
    item_id id;  // the item's t:ItemId (Id as written, never empty; ChangeKey may be empty)
    pugi::xml_node node;  // Create/Update: the item element; otherwise the change element
};

struct sync_folder_items_result {
    std::shared_ptr<const pugi::xml_document> doc;  // keeps the nodes valid
    response_message message;  // check classify(message.code) first: on an error, nothing else
                               // is read
    std::string sync_state;    // the state for the next round (Success: never empty)
    bool includes_last_item_in_range = true;  // false: call again with sync_state at once
    std::vector<sync_change> changes;         // in document order
};

// The SyncFolderItems payload of `response`. The error (starting with `where`) is for a
// response that is not one: a fault, another operation, not exactly one message, and on
// Success a missing SyncState, an IncludesLastItemInRange that is not a boolean, an item
// without t:ItemId or with an empty Id (naming the change's index and byte).
boost::system::result<sync_folder_items_result, std::string> read_sync_folder_items(
    const parsed_response& response, std::string_view where);

// --- GetItem ---

struct fetched_item {
    response_message message;  // this item's GetItemResponseMessage
    // The first element of m:Items: its local name ("CalendarItem"), its t:ItemId and itself;
    // empty (kind "", id {}, node empty) when the message carries no item (an error).
    std::string item_kind;
    item_id id;
    pugi::xml_node node;
};

struct get_item_result {
    std::shared_ptr<const pugi::xml_document> doc;  // keeps the nodes valid
    std::vector<fetched_item> items;  // one per GetItemResponseMessage, i.e. in request order
};

// The GetItem payload of `response`. Errors: a fault, another operation, a successful message
// whose m:Items holds no item, an item without t:ItemId or with an empty Id.
boost::system::result<get_item_result, std::string> read_get_item(const parsed_response& response,
                                                                  std::string_view where);

// --- CreateItem (respond), Unsubscribe and the like: one message ---

struct create_item_result {
    response_message message;  // classify(message.code): ok, conflict, gone, ...
    // The items Exchange created and reports (a SaveOnly response's draft); often none.
    std::vector<item_id> items;
};
boost::system::result<create_item_result, std::string> read_create_item(
    const parsed_response& response, std::string_view where);

// The single response message of `operation` ("Unsubscribe", "DeleteItem", ...). Errors: a
// fault, another operation, not exactly one message.
boost::system::result<response_message, std::string> read_single_message(
    const parsed_response& response, std::string_view operation, std::string_view where);

// --- Subscribe ---

struct subscription {
    response_message message;
    std::string id;         // m:SubscriptionId (Success: never empty)
    std::string watermark;  // m:Watermark, when given (pull subscriptions; streaming: none)
};
boost::system::result<subscription, std::string> read_subscribe(const parsed_response& response,
                                                                std::string_view where);

// --- GetStreamingEvents ---

enum class event_kind {
    created,
    modified,
    deleted,
    moved,
    copied,
    new_mail,
    status,
    free_busy_changed,
    other
};

struct notification_event {
    event_kind kind = event_kind::other;
    std::string type;               // the element's local name: "CreatedEvent", ...
    std::string time_stamp;         // t:TimeStamp as written ("2013-09-16T04:31:29Z"); may be empty
    std::string watermark;          // t:Watermark, when given
    std::optional<item_id> item;    // t:ItemId: the event is about an item
    std::optional<item_id> folder;  // t:FolderId: the event is about a folder
    std::optional<item_id> parent_folder;      // t:ParentFolderId
    std::optional<item_id> old_item;           // moved/copied: t:OldItemId
    std::optional<item_id> old_folder;         // moved/copied: t:OldFolderId
    std::optional<item_id> old_parent_folder;  // moved/copied: t:OldParentFolderId
};

struct notification {
    std::string subscription_id;
    std::vector<notification_event> events;  // in document order
};

struct streaming_message {
    response_message message;
    // m:ConnectionStatus: "OK" (more envelopes follow on this connection) or "Closed" (the
    // server ends the connection: issue GetStreamingEvents again); empty when absent.
    std::string connection_status;
    std::vector<notification> notifications;
    // m:ErrorSubscriptionIds: the subscriptions an error (ErrorSubscriptionNotFound, ...) is
    // about.
    std::vector<std::string> error_subscription_ids;
};

struct streaming_events {
    std::shared_ptr<const pugi::xml_document> doc;
    std::vector<streaming_message> messages;
};

// One envelope of a GetStreamingEvents answer. Errors: a fault, another operation, a
// notification without t:SubscriptionId, an ItemId/FolderId without Id.
boost::system::result<streaming_events, std::string> read_streaming_events(
    const parsed_response& response, std::string_view where);

// A GetStreamingEvents HTTP body is several complete SOAP envelopes one after another, each
// sent as soon as there is something to say (keep-alives, notifications, the final Closed),
// each possibly preceded by an XML declaration. The splitter takes the bytes as they arrive
// and hands out each complete top-level document (from its XML declaration or first element to
// the end of its root element) as soon as its last byte is in, whatever the chunking. It
// follows XML's lexical structure (tags, quoted attribute values, comments, CDATA, processing
// instructions), nothing more: each document is then read with parse_response.
class envelope_splitter {
  public:
    explicit envelope_splitter(std::size_t max_envelope_bytes = max_response_bytes);

    // Takes the next bytes of the body; returns the documents they complete, in order. The
    // error (naming the byte offset in the whole stream) is final, as the stream cannot be
    // resynchronised: text outside any element, a DOCTYPE or other DTD markup, an end tag
    // without a start tag, a document growing past max_envelope_bytes. Every later call
    // returns the same error.
    boost::system::result<std::vector<std::string>, std::string> feed(std::string_view bytes);

    // Bytes held of a document not complete yet (white space between documents is not held).
    std::size_t pending() const { return buffer_.size(); }
    // Whether the stream may end here: no partial document held, no error.
    bool idle() const { return buffer_.empty() && error_.empty(); }

  private:
    enum class state : unsigned char;
    boost::system::result<std::vector<std::string>, std::string> fail(std::string message);

    std::size_t max_bytes_;
    std::string buffer_;      // the partial document, from its first byte
    std::size_t offset_ = 0;  // stream offset of the next byte
    int depth_ = 0;           // open elements of the partial document
    state state_;
    char quote_ = 0;             // the quote of the attribute value being read, if any
    bool slash_ = false;         // the start tag's previous byte was '/'
    std::size_t run_ = 0;        // '-', ']' or '?' just seen toward a terminator
    std::string markup_;         // the bytes after "<!" while deciding what they open
    std::size_t markup_at_ = 0;  // stream offset of that "<!"
    std::string error_;
};

// A whole GetStreamingEvents body (as recorded) split with envelope_splitter. Error: as feed,
// or the body ends inside a document.
boost::system::result<std::vector<std::string>, std::string> split_envelopes(
    std::string_view body, std::size_t max_envelope_bytes = max_response_bytes);

// --- POX Autodiscover ---

struct autodiscover_result {
    enum class kind {
        settings,          // the EWS URL is known
        redirect_address,  // Autodiscover again for `redirect` (an e-mail address)
        redirect_url,      // POST the same request to `redirect` (an https URL)
        error,             // the server answered with an Error: error_code, error_message
    };
    kind action = kind::error;
    // settings: EXPR's EwsUrl (Outlook Anywhere, reachable from outside), else EXCH's (the
    // internal one); both are kept as well.
    std::string ews_url;
    std::string external_ews_url;  // EXPR's EwsUrl (or ExternalEwsUrl), may be empty
    std::string internal_ews_url;  // EXCH's EwsUrl, may be empty
    std::string redirect;
    std::string error_code;     // "500", ...
    std::string error_message;  // trimmed, cut like MessageText
    std::string display_name;   // User/DisplayName, may be empty
    std::string smtp_address;   // User/AutoDiscoverSMTPAddress, may be empty
};

// Reads a POX Autodiscover answer (root {.../responseschema/2006}Autodiscover). Errors (starting
// with `where`): not XML (an HTML error page), another root, a settings answer without any
// EwsUrl in an EXPR or EXCH protocol, a redirect without its address or URL, an Action this
// reader does not know, a Response with neither Account nor Error.
boost::system::result<autodiscover_result, std::string> parse_autodiscover(
    std::string_view body, std::string_view where, std::size_t max_bytes = max_autodiscover_bytes);

}  // namespace agendad::calendar::ews
