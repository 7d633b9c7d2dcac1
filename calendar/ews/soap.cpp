#include "calendar/ews/soap.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "calendar/encoding.h"
#include "calendar/xml/xml.h"

namespace agendad::calendar::ews {
namespace {

using boost::system::result;
using xml::at_node;
using xml::child;
using xml::for_each_child;
using xml::is;
using xml::local_name;
using xml::namespace_of;
using xml::qualified;
using xml::trim;

constexpr std::string_view who = "Exchange servers";

template <typename T>
result<T, std::string> failure(std::string_view where, std::string message) {
    std::string out(where);
    if (!out.empty()) out += ": ";
    out += message;
    return result<T, std::string>(boost::system::in_place_error, std::move(out));
}

// --- requests ---

constexpr std::string_view declaration = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";

std::string envelope(const request_context& ctx, std::string_view body) {
    std::string out(declaration);
    out += "<soap:Envelope xmlns:soap=\"";
    out += ns::soap;
    out += "\" xmlns:t=\"";
    out += ns::types;
    out += "\" xmlns:m=\"";
    out += ns::messages;
    out +=
        "\">\n"
        "  <soap:Header>\n"
        "    <t:RequestServerVersion Version=\"Exchange2013\"/>\n";
    if (ctx.impersonate && !ctx.mailbox.empty()) {
        out +=
            "    <t:ExchangeImpersonation>\n"
            "      <t:ConnectingSID>\n"
            "        <t:PrimarySmtpAddress>" +
            xml::escape(ctx.mailbox) +
            "</t:PrimarySmtpAddress>\n"
            "      </t:ConnectingSID>\n"
            "    </t:ExchangeImpersonation>\n";
    }
    out += "  </soap:Header>\n  <soap:Body>\n";
    out += body;
    out += "  </soap:Body>\n</soap:Envelope>\n";
    return out;
}

// The calendar folder: the caller's (own or impersonated) or, for delegate access, the named
// mailbox's. `indent` is the element's indentation.
std::string calendar_folder(const request_context& ctx, std::string_view indent) {
    std::string out(indent);
    if (ctx.mailbox.empty() || ctx.impersonate) {
        out += "<t:DistinguishedFolderId Id=\"calendar\"/>\n";
        return out;
    }
    out += "<t:DistinguishedFolderId Id=\"calendar\">\n";
    out.append(indent).append("  <t:Mailbox>\n");
    out.append(indent).append("    <t:EmailAddress>" + xml::escape(ctx.mailbox) +
                              "</t:EmailAddress>\n");
    out.append(indent).append("  </t:Mailbox>\n");
    out.append(indent).append("</t:DistinguishedFolderId>\n");
    return out;
}

std::string id_attributes(const item_id& id) {
    std::string out = "Id=\"" + xml::escape(id.id) + "\"";
    if (!id.change_key.empty()) out += " ChangeKey=\"" + xml::escape(id.change_key) + "\"";
    return out;
}

// --- responses ---

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Trimmed, and cut to `limit` bytes at a UTF-8 sequence boundary with "…" when longer.
std::string bounded(std::string_view s, std::size_t limit = max_message_text_bytes) {
    s = trim(s);
    if (s.size() <= limit) return std::string(s);
    std::size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    return std::string(s.substr(0, cut)) + "\xE2\x80\xA6";
}

std::string trimmed(pugi::xml_node n) {
    return std::string(trim(xml::text_of(n)));
}

// A child element of `parent` named `local`, unqualified or in `ns` (SOAP 1.1 fault children
// are unqualified; some stacks qualify them).
pugi::xml_node unqualified_child(pugi::xml_node parent, std::string_view local,
                                 std::string_view ns) {
    for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
        if (c.type() != pugi::node_element || local_name(c) != local) continue;
        const std::string_view n = namespace_of(c);
        if (n.empty() || n == ns) return c;
    }
    return {};
}

// The namespace bound to `prefix` at `n` (for QName values such as faultcode's text).
std::string_view resolve_prefix(pugi::xml_node n, std::string_view prefix) {
    std::string attribute = "xmlns";
    if (!prefix.empty()) attribute.append(":").append(prefix);
    for (pugi::xml_node e = n; e && e.type() == pugi::node_element; e = e.parent()) {
        if (const pugi::xml_attribute a = e.attribute(attribute.c_str())) return a.value();
    }
    return {};
}

// MessageXml's <t:Value Name="BackOffMilliseconds">N</t:Value>: digits only, capped at a day.
std::optional<std::chrono::milliseconds> back_off_of(pugi::xml_node message_xml) {
    std::optional<std::chrono::milliseconds> out;
    for_each_child(message_xml, ns::types, "Value", [&](pugi::xml_node value) {
        if (out || std::string_view(value.attribute("Name").value()) != "BackOffMilliseconds") {
            return;
        }
        const std::string text = trimmed(value);
        if (text.empty() || text.size() > 12) return;
        std::int64_t ms = 0;
        for (char c : text) {
            if (c < '0' || c > '9') return;
            ms = ms * 10 + (c - '0');
        }
        out = std::min(std::chrono::milliseconds(ms), max_back_off);
    });
    return out;
}

result<response_message, std::string> read_message(pugi::xml_node n) {
    response_message m;
    m.element = std::string(local_name(n));
    m.node = n;
    m.response_class = std::string(trim(n.attribute("ResponseClass").value()));
    if (m.response_class != "Success" && m.response_class != "Warning" &&
        m.response_class != "Error") {
        return result<response_message, std::string>(
            boost::system::in_place_error,
            "a response message (" + qualified(n) + ") whose ResponseClass is '" +
                xml::excerpt(m.response_class) + "', not Success, Warning or Error" + at_node(n));
    }
    m.code = trimmed(child(n, ns::messages, "ResponseCode"));
    if (m.code.empty() && m.response_class == "Success") m.code = "NoError";
    m.text = bounded(xml::text_of(child(n, ns::messages, "MessageText")));
    m.back_off = back_off_of(child(n, ns::messages, "MessageXml"));
    return m;
}

soap_fault read_fault(pugi::xml_node fault) {
    soap_fault f;
    if (pugi::xml_node code = unqualified_child(fault, "faultcode", ns::soap)) {
        const std::string text = trimmed(code);
        const auto colon = text.find(':');
        const std::string_view prefix = colon == std::string::npos
                                            ? std::string_view()
                                            : std::string_view(text).substr(0, colon);
        f.code = colon == std::string::npos ? text : text.substr(colon + 1);
        if (resolve_prefix(code, prefix) == ns::types) f.response_code = f.code;
    }
    f.text = bounded(xml::text_of(unqualified_child(fault, "faultstring", ns::soap)));
    if (pugi::xml_node detail = unqualified_child(fault, "detail", ns::soap)) {
        pugi::xml_node code = child(detail, ns::errors, "ResponseCode");
        if (!code) code = child(detail, ns::types, "ResponseCode");
        if (code) {
            if (std::string c = trimmed(code); !c.empty()) f.response_code = std::move(c);
        }
        pugi::xml_node message_xml = child(detail, ns::types, "MessageXml");
        if (!message_xml) message_xml = child(detail, ns::errors, "MessageXml");
        f.back_off = back_off_of(message_xml);
    }
    return f;
}

std::optional<item_id> id_of(pugi::xml_node n) {
    if (!n) return std::nullopt;
    return item_id{n.attribute("Id").value(), n.attribute("ChangeKey").value()};
}

// The t:ItemId (or another id element) named `local` in `parent`, which must have a non-empty Id.
result<std::optional<item_id>, std::string> optional_id(pugi::xml_node parent,
                                                        std::string_view local) {
    pugi::xml_node n = child(parent, ns::types, local);
    if (!n) return std::optional<item_id>();
    auto id = id_of(n);
    if (id->id.empty()) {
        return result<std::optional<item_id>, std::string>(
            boost::system::in_place_error,
            "a t:" + std::string(local) + " without Id" + at_node(n));
    }
    return id;
}

// Checks that `response` answers `operation` and is not a fault.
result<void, std::string> expect_operation(const parsed_response& response,
                                           std::string_view operation) {
    if (response.fault) {
        const std::string code = response.fault->response_code.empty()
                                     ? response.fault->code
                                     : response.fault->response_code;
        return result<void, std::string>(
            boost::system::in_place_error,
            "a SOAP fault (" + (code.empty() ? std::string("no code") : xml::excerpt(code)) +
                "), not a " + std::string(operation) + " response");
    }
    if (response.operation != operation) {
        return result<void, std::string>(
            boost::system::in_place_error,
            "a " + xml::excerpt(response.operation) + " response, not " + std::string(operation));
    }
    return {};
}

result<const response_message*, std::string> single_message(const parsed_response& response,
                                                            std::string_view operation) {
    if (auto ok = expect_operation(response, operation); !ok) {
        return result<const response_message*, std::string>(boost::system::in_place_error,
                                                            ok.error());
    }
    if (response.messages.size() != 1) {
        return result<const response_message*, std::string>(
            boost::system::in_place_error,
            std::to_string(response.messages.size()) + " response messages in a " +
                std::string(operation) + " response, expected 1" + at_node(response.body_element));
    }
    return &response.messages.front();
}

std::optional<bool> xs_boolean(std::string_view s) {
    s = trim(s);
    if (s == "true" || s == "1") return true;
    if (s == "false" || s == "0") return false;
    return std::nullopt;
}

event_kind event_kind_of(std::string_view name) {
    static constexpr std::array<std::pair<std::string_view, event_kind>, 8> kinds{{
        {"CreatedEvent", event_kind::created},
        {"ModifiedEvent", event_kind::modified},
        {"DeletedEvent", event_kind::deleted},
        {"MovedEvent", event_kind::moved},
        {"CopiedEvent", event_kind::copied},
        {"NewMailEvent", event_kind::new_mail},
        {"StatusEvent", event_kind::status},
        {"FreeBusyChangedEvent", event_kind::free_busy_changed},
    }};
    for (const auto& [n, k] : kinds) {
        if (n == name) return k;
    }
    return event_kind::other;
}

result<notification, std::string> read_notification(pugi::xml_node n) {
    using out_t = result<notification, std::string>;
    notification out;
    out.subscription_id = trimmed(child(n, ns::types, "SubscriptionId"));
    if (out.subscription_id.empty()) {
        return out_t(boost::system::in_place_error,
                     "a notification without t:SubscriptionId" + at_node(n));
    }
    for (pugi::xml_node e = n.first_child(); e; e = e.next_sibling()) {
        if (e.type() != pugi::node_element || namespace_of(e) != ns::types) continue;
        const std::string_view name = local_name(e);
        if (name == "SubscriptionId" || name == "PreviousWatermark" || name == "MoreEvents") {
            continue;
        }
        notification_event ev;
        ev.type = std::string(name);
        ev.kind = event_kind_of(name);
        ev.time_stamp = trimmed(child(e, ns::types, "TimeStamp"));
        ev.watermark = trimmed(child(e, ns::types, "Watermark"));
        const std::pair<std::string_view, std::optional<item_id>*> ids[] = {
            {"ItemId", &ev.item},
            {"FolderId", &ev.folder},
            {"ParentFolderId", &ev.parent_folder},
            {"OldItemId", &ev.old_item},
            {"OldFolderId", &ev.old_folder},
            {"OldParentFolderId", &ev.old_parent_folder},
        };
        for (const auto& [local, target] : ids) {
            auto id = optional_id(e, local);
            if (!id) return out_t(boost::system::in_place_error, id.error());
            *target = std::move(*id);
        }
        out.events.push_back(std::move(ev));
    }
    return out;
}

}  // namespace

// ============================================================================================
// Requests
// ============================================================================================

std::string sync_folder_items(const request_context& ctx, std::string_view sync_state,
                              int max_changes) {
    std::string body =
        "    <m:SyncFolderItems>\n"
        "      <m:ItemShape>\n"
        "        <t:BaseShape>IdOnly</t:BaseShape>\n"
        "      </m:ItemShape>\n"
        "      <m:SyncFolderId>\n";
    body += calendar_folder(ctx, "        ");
    body += "      </m:SyncFolderId>\n";
    if (!sync_state.empty())
        body += "      <m:SyncState>" + xml::escape(sync_state) + "</m:SyncState>\n";
    body += "      <m:MaxChangesReturned>" + std::to_string(std::clamp(max_changes, 1, 512)) +
            "</m:MaxChangesReturned>\n";
    body += "    </m:SyncFolderItems>\n";
    return envelope(ctx, body);
}

const std::vector<std::string_view>& get_item_field_uris() {
    static const std::vector<std::string_view> uris{
        "item:Subject",
        "item:Body",
        "item:DateTimeReceived",
        "item:DateTimeCreated",
        "item:Sensitivity",
        "item:HasAttachments",
        "item:ItemClass",
        "calendar:UID",
        "calendar:RecurrenceId",
        "calendar:DateTimeStamp",
        "calendar:Start",
        "calendar:End",
        "calendar:OriginalStart",
        "calendar:IsAllDayEvent",
        "calendar:LegacyFreeBusyStatus",
        "calendar:Location",
        "calendar:IsMeeting",
        "calendar:IsCancelled",
        "calendar:IsRecurring",
        "calendar:MeetingRequestWasSent",
        "calendar:IsResponseRequested",
        "calendar:CalendarItemType",
        "calendar:MyResponseType",
        "calendar:Organizer",
        "calendar:RequiredAttendees",
        "calendar:OptionalAttendees",
        "calendar:Resources",
        "calendar:AppointmentSequenceNumber",
        "calendar:Recurrence",
        "calendar:StartTimeZone",
        "calendar:EndTimeZone",
    };
    return uris;
}

std::string get_items(const request_context& ctx, const std::vector<item_id>& ids) {
    // ItemResponseShapeType's sequence: BaseShape, ..., BodyType, ..., AdditionalProperties.
    std::string body =
        "    <m:GetItem>\n"
        "      <m:ItemShape>\n"
        "        <t:BaseShape>IdOnly</t:BaseShape>\n"
        "        <t:BodyType>HTML</t:BodyType>\n"
        "        <t:AdditionalProperties>\n";
    for (std::string_view uri : get_item_field_uris()) {
        body += "          <t:FieldURI FieldURI=\"";
        body += uri;
        body += "\"/>\n";
    }
    body +=
        "        </t:AdditionalProperties>\n"
        "      </m:ItemShape>\n"
        "      <m:ItemIds>\n";
    for (const item_id& id : ids) body += "        <t:ItemId " + id_attributes(id) + "/>\n";
    body +=
        "      </m:ItemIds>\n"
        "    </m:GetItem>\n";
    return envelope(ctx, body);
}

std::string respond(const request_context& ctx, response_kind kind, const item_id& ref,
                    std::string_view body_text, bool send) {
    std::string_view element = "DeclineItem";
    if (kind == response_kind::accept) element = "AcceptItem";
    if (kind == response_kind::tentative) element = "TentativelyAcceptItem";
    std::string body = "    <m:CreateItem MessageDisposition=\"";
    body += send ? "SendAndSaveCopy" : "SaveOnly";
    body += "\">\n      <m:Items>\n        <t:";
    body += element;
    body += ">\n";
    // ItemType's Body precedes ResponseObjectCoreType's ReferenceItemId.
    if (!body_text.empty()) {
        body += "          <t:Body BodyType=\"Text\">" + xml::escape(body_text) + "</t:Body>\n";
    }
    body += "          <t:ReferenceItemId " + id_attributes(ref) + "/>\n";
    body += "        </t:";
    body += element;
    body += ">\n      </m:Items>\n    </m:CreateItem>\n";
    return envelope(ctx, body);
}

std::string subscribe_streaming(const request_context& ctx) {
    std::string body =
        "    <m:Subscribe>\n"
        "      <m:StreamingSubscriptionRequest>\n"
        "        <t:FolderIds>\n";
    body += calendar_folder(ctx, "          ");
    body +=
        "        </t:FolderIds>\n"
        "        <t:EventTypes>\n"
        "          <t:EventType>CreatedEvent</t:EventType>\n"
        "          <t:EventType>ModifiedEvent</t:EventType>\n"
        "          <t:EventType>DeletedEvent</t:EventType>\n"
        "          <t:EventType>MovedEvent</t:EventType>\n"
        "          <t:EventType>CopiedEvent</t:EventType>\n"
        "        </t:EventTypes>\n"
        "      </m:StreamingSubscriptionRequest>\n"
        "    </m:Subscribe>\n";
    return envelope(ctx, body);
}

std::string get_streaming_events(const request_context& ctx,
                                 const std::vector<std::string>& subscription_ids,
                                 int connection_timeout_minutes) {
    std::string body =
        "    <m:GetStreamingEvents>\n"
        "      <m:SubscriptionIds>\n";
    for (const std::string& id : subscription_ids) {
        body += "        <t:SubscriptionId>" + xml::escape(id) + "</t:SubscriptionId>\n";
    }
    body += "      </m:SubscriptionIds>\n";
    body += "      <m:ConnectionTimeout>" +
            std::to_string(std::clamp(connection_timeout_minutes, 1, 30)) +
            "</m:ConnectionTimeout>\n";
    body += "    </m:GetStreamingEvents>\n";
    return envelope(ctx, body);
}

std::string unsubscribe(const request_context& ctx, std::string_view subscription_id) {
    return envelope(ctx, "    <m:Unsubscribe>\n      <m:SubscriptionId>" +
                             xml::escape(subscription_id) +
                             "</m:SubscriptionId>\n    </m:Unsubscribe>\n");
}

std::string autodiscover_request(std::string_view email) {
    std::string out(declaration);
    out += "<Autodiscover xmlns=\"";
    out += ns::autodiscover_request;
    out += "\">\n  <Request>\n    <EMailAddress>" + xml::escape(email) + "</EMailAddress>\n";
    out += "    <AcceptableResponseSchema>";
    out += ns::autodiscover_outlook_response;
    out += "</AcceptableResponseSchema>\n  </Request>\n</Autodiscover>\n";
    return out;
}

// ============================================================================================
// Responses
// ============================================================================================

result<parsed_response, std::string> parse_response(std::string_view body, std::string_view where,
                                                    std::size_t max_bytes) {
    using out_t = parsed_response;
    auto doc = std::make_shared<pugi::xml_document>();
    auto root = xml::load(body, max_bytes, *doc, who);
    if (!root) return failure<out_t>(where, root.error());
    // A byte that is not UTF-8 makes a UTF-8 document not well-formed (XML 1.0 §4.3.3), which
    // pugixml does not check: Exchange never sends one, and text read past it would carry it
    // into the journal, `agendad decisions --json` and the replies.
    if (const auto bad = encoding::first_invalid_utf8(body); bad != std::string_view::npos) {
        return failure<out_t>(where, "not valid UTF-8 at byte " + std::to_string(bad) +
                                         ": the answer cannot be read");
    }
    if (!is(*root, ns::soap, "Envelope")) {
        return failure<out_t>(where, "not a SOAP 1.1 envelope: the root element is " +
                                         qualified(*root) + at_node(*root) + " (expected {" +
                                         std::string(ns::soap) + "}Envelope)");
    }
    parsed_response out;
    out.doc = doc;
    if (pugi::xml_node header = child(*root, ns::soap, "Header")) {
        if (pugi::xml_node info = child(header, ns::types, "ServerVersionInfo")) {
            for (const char* part :
                 {"MajorVersion", "MinorVersion", "MajorBuildNumber", "MinorBuildNumber"}) {
                const std::string_view v = trim(info.attribute(part).value());
                if (v.empty()) break;
                if (!out.server_version.empty()) out.server_version += '.';
                out.server_version += xml::excerpt(v);
            }
            out.server_schema = xml::excerpt(trim(info.attribute("Version").value()));
        }
    }
    pugi::xml_node soap_body = child(*root, ns::soap, "Body");
    if (!soap_body)
        return failure<out_t>(where, "a SOAP envelope without soap:Body" + at_node(*root));
    for (pugi::xml_node n = soap_body.first_child(); n; n = n.next_sibling()) {
        if (n.type() != pugi::node_element) continue;
        if (out.body_element) {
            return failure<out_t>(where, "more than one element in soap:Body" + at_node(n));
        }
        out.body_element = n;
    }
    if (!out.body_element) return failure<out_t>(where, "an empty soap:Body" + at_node(soap_body));

    if (is(out.body_element, ns::soap, "Fault")) {
        out.operation = "Fault";
        out.fault = read_fault(out.body_element);
        return out;
    }
    std::string_view operation = local_name(out.body_element);
    constexpr std::string_view suffix = "Response";
    if (operation.size() > suffix.size() && operation.ends_with(suffix)) {
        operation.remove_suffix(suffix.size());
    }
    out.operation = std::string(operation);
    pugi::xml_node messages = child(out.body_element, ns::messages, "ResponseMessages");
    for (pugi::xml_node n = messages.first_child(); n; n = n.next_sibling()) {
        if (n.type() != pugi::node_element || namespace_of(n) != ns::messages) continue;
        auto m = read_message(n);
        if (!m) return failure<out_t>(where, m.error());
        out.messages.push_back(std::move(*m));
    }
    return out;
}

std::string_view overall_code(const parsed_response& response) {
    if (response.fault) {
        return response.fault->response_code.empty()
                   ? std::string_view(response.fault->code)
                   : std::string_view(response.fault->response_code);
    }
    for (std::string_view cls : {"Error", "Warning"}) {
        for (const response_message& m : response.messages) {
            if (m.response_class == cls) return m.code;
        }
    }
    return "NoError";
}

code_class classify(std::string_view code) {
    static constexpr std::string_view transient[] = {
        "ErrorServerBusy",
        "ErrorTimeoutExpired",
        "ErrorInternalServerTransientError",
        "ErrorMailboxStoreUnavailable",
        "ErrorMailboxMoveInProgress",
        "ErrorTooManyObjectsOpened",
        "ErrorConnectionFailed",
        "ErrorExceededConnectionCount",
        "ErrorBatchProcessingStopped",
        "ErrorInsufficientResources",
        "ErrorNoRespondingCASInDestinationSite",
        "ErrorProxyRequestProcessingFailed",
        "ErrorProxiedSubscriptionCallFailure",
    };
    static constexpr std::string_view conflict[] = {
        "ErrorIrresolvableConflict",
        "ErrorStaleObject",
        "ErrorCalendarMeetingRequestIsOutOfDate",
    };
    static constexpr std::string_view gone[] = {
        "ErrorItemNotFound",
        "ErrorCalendarIsCancelledForAccept",
        "ErrorCalendarIsCancelledForDecline",
        "ErrorCalendarIsCancelledForTentative",
        "ErrorCalendarOccurrenceIsDeletedFromRecurrence",
    };
    static constexpr std::string_view denied[] = {
        "ErrorAccessDenied",        "ErrorImpersonateUserDenied",    "ErrorImpersonationDenied",
        "ErrorImpersonationFailed", "ErrorNonExistentMailbox",       "ErrorInvalidSmtpAddress",
        "ErrorNotDelegate",         "ErrorSubscriptionAccessDenied",
    };
    static constexpr std::string_view resync[] = {
        "ErrorInvalidSyncStateData",
        "ErrorSyncFolderNotFound",
    };
    static constexpr std::string_view resubscribe[] = {
        "ErrorSubscriptionNotFound", "ErrorInvalidSubscription",      "ErrorExpiredSubscription",
        "ErrorInvalidWatermark",     "ErrorMissedNotificationEvents",
    };
    const auto in = [&](const auto& list) {
        return std::find(std::begin(list), std::end(list), code) != std::end(list);
    };
    if (code == "NoError") return code_class::ok;
    if (in(transient)) return code_class::transient;
    if (in(conflict)) return code_class::conflict;
    if (in(gone)) return code_class::gone;
    if (in(denied)) return code_class::denied;
    if (in(resync)) return code_class::resync;
    if (in(resubscribe)) return code_class::resubscribe;
    return code_class::invalid;
}

std::string_view to_string(code_class c) {
    switch (c) {
        case code_class::ok:
            return "ok";
        case code_class::transient:
            return "transient";
        case code_class::conflict:
            return "conflict";
        case code_class::gone:
            return "gone";
        case code_class::denied:
            return "denied";
        case code_class::resync:
            return "resync";
        case code_class::resubscribe:
            return "resubscribe";
        case code_class::invalid:
            return "invalid";
    }
    return "invalid";
}

// --- SyncFolderItems ---

result<sync_folder_items_result, std::string> read_sync_folder_items(
    const parsed_response& response, std::string_view where) {
    using out_t = sync_folder_items_result;
    auto single = single_message(response, "SyncFolderItems");
    if (!single) return failure<out_t>(where, single.error());
    out_t out;
    out.doc = response.doc;
    out.message = **single;
    if (out.message.code != "NoError") return out;
    const pugi::xml_node m = out.message.node;

    pugi::xml_node state = child(m, ns::messages, "SyncState");
    out.sync_state = trimmed(state);
    if (out.sync_state.empty()) {
        return failure<out_t>(
            where, "a successful SyncFolderItems response without SyncState" + at_node(m));
    }
    pugi::xml_node last = child(m, ns::messages, "IncludesLastItemInRange");
    const auto includes_last = xs_boolean(xml::text_of(last));
    if (!includes_last) {
        return failure<out_t>(where,
                              "IncludesLastItemInRange is " +
                                  (last ? "'" + xml::excerpt(trimmed(last)) + "'" + at_node(last)
                                        : std::string("missing") + at_node(m)) +
                                  ", not a boolean");
    }
    out.includes_last_item_in_range = *includes_last;

    std::size_t index = 0;
    for (pugi::xml_node c = child(m, ns::messages, "Changes").first_child(); c;
         c = c.next_sibling()) {
        if (c.type() != pugi::node_element) continue;
        const std::string where_change = "change " + std::to_string(index++);
        sync_change change;
        const std::string_view name = local_name(c);
        const bool known = namespace_of(c) == ns::types;
        pugi::xml_node id_parent = c;
        if (known && (name == "Create" || name == "Update")) {
            change.kind = name == "Create" ? change_kind::create : change_kind::update;
            pugi::xml_node item;
            for (item = c.first_child(); item && item.type() != pugi::node_element;
                 item = item.next_sibling()) {
            }
            if (!item) {
                return failure<out_t>(where, where_change + ": a t:" + std::string(name) +
                                                 " without an item" + at_node(c));
            }
            change.item_kind = std::string(local_name(item));
            change.node = item;
            id_parent = item;
        } else if (known && (name == "Delete" || name == "ReadFlagChange")) {
            change.kind = name == "Delete" ? change_kind::remove : change_kind::read_flag_change;
            change.node = c;
        } else {
            change.kind = change_kind::other;
            change.item_kind = std::string(name);
            change.node = c;
        }
        auto id = optional_id(id_parent, "ItemId");
        if (!id) return failure<out_t>(where, where_change + ": " + id.error());
        if (!*id && change.kind != change_kind::other) {
            return failure<out_t>(where, where_change + ": no t:ItemId" + at_node(id_parent));
        }
        if (*id) change.id = std::move(**id);
        out.changes.push_back(std::move(change));
    }
    return out;
}

// --- GetItem ---

result<get_item_result, std::string> read_get_item(const parsed_response& response,
                                                   std::string_view where) {
    using out_t = get_item_result;
    if (auto ok = expect_operation(response, "GetItem"); !ok) {
        return failure<out_t>(where, ok.error());
    }
    out_t out;
    out.doc = response.doc;
    for (std::size_t i = 0; i < response.messages.size(); ++i) {
        fetched_item f;
        f.message = response.messages[i];
        if (f.message.code == "NoError") {
            const std::string where_item = "item " + std::to_string(i);
            pugi::xml_node items = child(f.message.node, ns::messages, "Items");
            pugi::xml_node item;
            for (item = items.first_child(); item && item.type() != pugi::node_element;
                 item = item.next_sibling()) {
            }
            if (!item) {
                return failure<out_t>(where, where_item + ": a successful message without an item" +
                                                 at_node(f.message.node));
            }
            auto id = optional_id(item, "ItemId");
            if (!id) return failure<out_t>(where, where_item + ": " + id.error());
            if (!*id) return failure<out_t>(where, where_item + ": no t:ItemId" + at_node(item));
            f.item_kind = std::string(local_name(item));
            f.id = std::move(**id);
            f.node = item;
        }
        out.items.push_back(std::move(f));
    }
    return out;
}

// --- one message ---

result<create_item_result, std::string> read_create_item(const parsed_response& response,
                                                         std::string_view where) {
    using out_t = create_item_result;
    auto single = single_message(response, "CreateItem");
    if (!single) return failure<out_t>(where, single.error());
    out_t out;
    out.message = **single;
    for (pugi::xml_node item = child(out.message.node, ns::messages, "Items").first_child(); item;
         item = item.next_sibling()) {
        if (item.type() != pugi::node_element) continue;
        if (auto id = id_of(child(item, ns::types, "ItemId")); id && !id->id.empty()) {
            out.items.push_back(std::move(*id));
        }
    }
    return out;
}

result<response_message, std::string> read_single_message(const parsed_response& response,
                                                          std::string_view operation,
                                                          std::string_view where) {
    auto single = single_message(response, operation);
    if (!single) return failure<response_message>(where, single.error());
    return **single;
}

// --- Subscribe ---

result<subscription, std::string> read_subscribe(const parsed_response& response,
                                                 std::string_view where) {
    auto single = single_message(response, "Subscribe");
    if (!single) return failure<subscription>(where, single.error());
    subscription out;
    out.message = **single;
    out.id = trimmed(child(out.message.node, ns::messages, "SubscriptionId"));
    out.watermark = trimmed(child(out.message.node, ns::messages, "Watermark"));
    if (out.message.code == "NoError" && out.id.empty()) {
        return failure<subscription>(
            where,
            "a successful Subscribe response without SubscriptionId" + at_node(out.message.node));
    }
    return out;
}

// --- GetStreamingEvents ---

result<streaming_events, std::string> read_streaming_events(const parsed_response& response,
                                                            std::string_view where) {
    using out_t = streaming_events;
    if (auto ok = expect_operation(response, "GetStreamingEvents"); !ok) {
        return failure<out_t>(where, ok.error());
    }
    out_t out;
    out.doc = response.doc;
    for (const response_message& m : response.messages) {
        streaming_message s;
        s.message = m;
        s.connection_status = trimmed(child(m.node, ns::messages, "ConnectionStatus"));
        std::optional<std::string> error;
        const auto read = [&](pugi::xml_node n) {
            if (error) return;
            auto note = read_notification(n);
            if (!note) {
                error = note.error();
                return;
            }
            s.notifications.push_back(std::move(*note));
        };
        // Streaming answers wrap them in m:Notifications; GetEvents puts one m:Notification
        // directly in the message.
        for_each_child(child(m.node, ns::messages, "Notifications"), ns::messages, "Notification",
                       read);
        for_each_child(m.node, ns::messages, "Notification", read);
        if (error) return failure<out_t>(where, std::move(*error));
        for_each_child(child(m.node, ns::messages, "ErrorSubscriptionIds"), ns::messages,
                       "SubscriptionId", [&](pugi::xml_node id) {
                           if (std::string text = trimmed(id); !text.empty()) {
                               s.error_subscription_ids.push_back(std::move(text));
                           }
                       });
        out.messages.push_back(std::move(s));
    }
    return out;
}

// --- the envelope splitter ---

enum class envelope_splitter::state : unsigned char {
    text,       // character data (or white space between documents)
    open,       // after '<'
    start_tag,  // inside <name ...>
    end_tag,    // inside </name ...>
    pi,         // inside <? ... ?> (the XML declaration among them)
    bang,       // after "<!", deciding between a comment, CDATA and DTD markup
    comment,    // inside <!-- ... -->
    cdata,      // inside <![CDATA[ ... ]]>
};

envelope_splitter::envelope_splitter(std::size_t max_envelope_bytes)
    : max_bytes_(max_envelope_bytes), state_(state::text) {}

result<std::vector<std::string>, std::string> envelope_splitter::fail(std::string message) {
    error_ = std::move(message);
    buffer_.clear();
    return result<std::vector<std::string>, std::string>(boost::system::in_place_error, error_);
}

result<std::vector<std::string>, std::string> envelope_splitter::feed(std::string_view bytes) {
    using out_t = result<std::vector<std::string>, std::string>;
    if (!error_.empty()) return out_t(boost::system::in_place_error, error_);
    std::vector<std::string> out;
    constexpr std::string_view comment_open = "--";
    constexpr std::string_view cdata_open = "[CDATA[";
    for (const char c : bytes) {
        const std::size_t at = offset_++;
        if (state_ == state::text && depth_ == 0) {
            // Between documents, and in a document's prolog before its root element: white
            // space (dropped when no document has started) and markup only. A byte order mark
            // may start a document.
            const auto u = static_cast<unsigned char>(c);
            if (buffer_.empty() && (is_space(c) || u == 0xEF || u == 0xBB || u == 0xBF)) continue;
            if (c != '<' && !is_space(c)) {
                return fail("text outside an envelope" +
                            xml::at_byte(static_cast<std::ptrdiff_t>(at)) + " of the stream");
            }
        }
        buffer_ += c;
        if (buffer_.size() > max_bytes_) {
            return fail("an envelope larger than " + std::to_string(max_bytes_) +
                        " bytes, from byte " + std::to_string(at + 1 - buffer_.size()) +
                        " of the stream");
        }
        bool complete = false;
        switch (state_) {
            case state::text:
                if (c == '<') state_ = state::open;
                break;
            case state::open:
                if (c == '/') {
                    state_ = state::end_tag;
                } else if (c == '?') {
                    state_ = state::pi;
                    run_ = 0;
                } else if (c == '!') {
                    state_ = state::bang;
                    markup_.clear();
                    markup_at_ = at - 1;
                } else {
                    state_ = state::start_tag;
                    quote_ = 0;
                    slash_ = false;
                }
                break;
            case state::start_tag:
                if (quote_ != 0) {
                    if (c == quote_) quote_ = 0;
                } else if (c == '"' || c == '\'') {
                    quote_ = c;
                    slash_ = false;
                } else if (c == '>') {
                    state_ = state::text;
                    if (!slash_) {
                        ++depth_;
                    } else if (depth_ == 0) {
                        complete = true;  // <root/>
                    }
                } else {
                    slash_ = c == '/';
                }
                break;
            case state::end_tag:
                if (c == '>') {
                    state_ = state::text;
                    if (--depth_ < 0) {
                        return fail("an end tag without a start tag" +
                                    xml::at_byte(static_cast<std::ptrdiff_t>(at)) +
                                    " of the stream");
                    }
                    complete = depth_ == 0;
                }
                break;
            case state::pi:
                if (c == '>' && run_ > 0) state_ = state::text;
                run_ = c == '?' ? 1 : 0;
                break;
            case state::bang:
                markup_ += c;
                if (markup_ == comment_open) {
                    state_ = state::comment;
                    run_ = 0;
                } else if (markup_ == cdata_open) {
                    state_ = state::cdata;
                    run_ = 0;
                } else if (!comment_open.starts_with(markup_) && !cdata_open.starts_with(markup_)) {
                    return fail("refused: a DOCTYPE or other DTD declaration" +
                                xml::at_byte(static_cast<std::ptrdiff_t>(markup_at_)) +
                                " of the stream (DTDs and entities are never processed; " +
                                std::string(who) + " send none)");
                }
                break;
            case state::comment:
                if (c == '>' && run_ >= 2) {
                    state_ = state::text;
                } else {
                    run_ = c == '-' ? run_ + 1 : 0;
                }
                break;
            case state::cdata:
                if (c == '>' && run_ >= 2) {
                    state_ = state::text;
                } else {
                    run_ = c == ']' ? run_ + 1 : 0;
                }
                break;
        }
        if (complete) {
            out.push_back(std::move(buffer_));
            buffer_.clear();
        }
    }
    return out;
}

result<std::vector<std::string>, std::string> split_envelopes(std::string_view body,
                                                              std::size_t max_envelope_bytes) {
    envelope_splitter splitter(max_envelope_bytes);
    auto out = splitter.feed(body);
    if (out && !splitter.idle()) {
        return result<std::vector<std::string>, std::string>(
            boost::system::in_place_error, "the stream ends inside an envelope (" +
                                               std::to_string(splitter.pending()) +
                                               " bytes of it received)");
    }
    return out;
}

// --- POX Autodiscover ---

result<autodiscover_result, std::string> parse_autodiscover(std::string_view body,
                                                            std::string_view where,
                                                            std::size_t max_bytes) {
    using out_t = autodiscover_result;
    pugi::xml_document doc;
    auto root = xml::load(body, max_bytes, doc, who);
    if (!root) return failure<out_t>(where, root.error());
    if (!is(*root, ns::autodiscover_response, "Autodiscover")) {
        return failure<out_t>(where, "not a POX Autodiscover answer: the root element is " +
                                         qualified(*root) + at_node(*root) + " (expected {" +
                                         std::string(ns::autodiscover_response) + "}Autodiscover)");
    }
    // The outlook schema's elements (2006a), or the generic one's in an error answer.
    const auto get = [](pugi::xml_node parent, std::string_view local) {
        pugi::xml_node n = child(parent, ns::autodiscover_outlook_response, local);
        return n ? n : child(parent, ns::autodiscover_response, local);
    };
    pugi::xml_node response = get(*root, "Response");
    if (!response)
        return failure<out_t>(where, "an Autodiscover answer without Response" + at_node(*root));

    out_t out;
    if (pugi::xml_node error = get(response, "Error")) {
        out.action = out_t::kind::error;
        out.error_code = bounded(xml::text_of(get(error, "ErrorCode")), 100);
        out.error_message = bounded(xml::text_of(get(error, "Message")));
        return out;
    }
    if (pugi::xml_node user = get(response, "User")) {
        out.display_name = bounded(xml::text_of(get(user, "DisplayName")), 200);
        out.smtp_address = bounded(xml::text_of(get(user, "AutoDiscoverSMTPAddress")), 320);
    }
    pugi::xml_node account = get(response, "Account");
    if (!account) {
        return failure<out_t>(
            where, "an Autodiscover Response with neither Account nor Error" + at_node(response));
    }
    const std::string action = trimmed(get(account, "Action"));
    if (action == "redirectAddr" || action == "redirectUrl") {
        const bool address = action == "redirectAddr";
        out.action = address ? out_t::kind::redirect_address : out_t::kind::redirect_url;
        out.redirect = trimmed(get(account, address ? "RedirectAddr" : "RedirectUrl"));
        if (out.redirect.empty()) {
            return failure<out_t>(where, "an Autodiscover " + action + " without " +
                                             (address ? "RedirectAddr" : "RedirectUrl") +
                                             at_node(account));
        }
        return out;
    }
    if (action != "settings") {
        return failure<out_t>(
            where, "an Autodiscover Account whose Action is '" + xml::excerpt(action) +
                       "', not settings, redirectAddr or redirectUrl" + at_node(account));
    }
    out.action = out_t::kind::settings;
    // Only the Account's own Protocol elements: WEB's nest further Protocols without EwsUrl.
    for (pugi::xml_node p = account.first_child(); p; p = p.next_sibling()) {
        if (p.type() != pugi::node_element || local_name(p) != "Protocol") continue;
        const std::string type = trimmed(get(p, "Type"));
        std::string url = trimmed(get(p, "EwsUrl"));
        if (url.empty()) url = trimmed(get(p, "ExternalEwsUrl"));
        if (type == "EXPR" && out.external_ews_url.empty()) out.external_ews_url = std::move(url);
        if (type == "EXCH" && out.internal_ews_url.empty()) out.internal_ews_url = std::move(url);
    }
    out.ews_url = !out.external_ews_url.empty() ? out.external_ews_url : out.internal_ews_url;
    if (out.ews_url.empty()) {
        return failure<out_t>(where,
                              "an Autodiscover settings answer without EwsUrl in an EXPR or "
                              "EXCH protocol" +
                                  at_node(account));
    }
    return out;
}

}  // namespace agendad::calendar::ews
