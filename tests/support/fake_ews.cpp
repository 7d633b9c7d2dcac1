// The fake EWS server: EWS and Autodiscover behind support/tls_http_server.h (HTTP/1.1 over TLS
// on its own io_context and thread, one coroutine per connection; each connection keeps its NTLM
// state, as IIS does), all mailbox state under one mutex. Requests are read with calendar/xml (no
// DTD ever parsed) and answers are written as text in the shape of Exchange 15.20's recordings. GetStreamingEvents keeps its
// connection: the coroutine writes one chunk per envelope and sleeps on a timer that changes to
// the mailbox wake (posted to the io thread, since timers are not thread-safe).
#include "support/fake_ews.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "calendar/encoding.h"
#include "calendar/ews/ntlm.h"
#include "calendar/html_to_text.h"
#include "calendar/invitation.h"
#include "calendar/xml/xml.h"
#include "support/tls_http_server.h"

namespace agendad::test_support {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace xml = agendad::calendar::xml;
namespace enc = agendad::calendar::encoding;
namespace ntlm = agendad::calendar::ews::ntlm;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view ns_soap = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr std::string_view ns_m = "http://schemas.microsoft.com/exchange/services/2006/messages";
constexpr std::string_view ns_t = "http://schemas.microsoft.com/exchange/services/2006/types";
constexpr std::string_view ns_e = "http://schemas.microsoft.com/exchange/services/2006/errors";
constexpr std::string_view ns_ad_response =
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
constexpr std::string_view ns_ad_outlook =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
constexpr const char* ews_path = "/EWS/Exchange.asmx";
constexpr const char* autodiscover_path = "/autodiscover/autodiscover.xml";
constexpr const char* xml_type = "text/xml; charset=utf-8";

// Exchange Online 15.20 (the php-ews recordings) writes this header on every answer.
constexpr const char* server_version_info =
    "<h:ServerVersionInfo MajorVersion=\"15\" MinorVersion=\"20\" MajorBuildNumber=\"3370\" "
    "MinorBuildNumber=\"16\" Version=\"V2018_01_08\" "
    "xmlns:h=\"http://schemas.microsoft.com/exchange/services/2006/types\" "
    "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/>";

// --- text, ids, time ---------------------------------------------------------------------------

std::string big_endian(std::uint64_t v) {
    std::string out(8, '\0');
    for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(v & 0xFF);
    return out;
}

// A GUID-looking text derived from the address, starting with a digit: real store ids carry the
// mailbox GUID as ASCII right after their 4-byte header, which is why they all start "AAMkAD".
std::string mailbox_guid(const std::string& address) {
    std::string h = enc::fnv1a_hex("guid:" + address) + enc::fnv1a_hex("more:" + address);
    if (!(h[0] >= '0' && h[0] <= '9')) h[0] = '9';
    return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
           "-" + h.substr(20, 12);
}

std::string new_item_id(const std::string& guid, std::uint64_t serial) {
    return enc::base64(std::string("\x00\x03\x24\x00", 4) + guid + std::string("\x00\x46\x00\x00", 4) +
                       big_endian(serial) + random_bytes(8));
}

std::string folder_id(const std::string& guid) {
    return enc::base64(std::string("\x01\x03\x24\x00", 4) + guid +
                       std::string("\x00\x2e\x00\x00\x03", 5) + random_bytes(8));
}

// "DwAAABYAAAA...": a calendar item's change key has this 8-byte header, then 22 bytes.
std::string new_change_key() {
    return enc::base64(std::string("\x0f\x00\x00\x00\x16\x00\x00\x00", 8) + random_bytes(22));
}

std::string utc_now() {
    return calendar::format_utc(
        std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
}

// --- answers -----------------------------------------------------------------------------------

struct stream_request {
    std::vector<std::string> subscription_ids;
    int minutes = 0;
};

struct reply {
    int status = 200;
    std::string body;
    std::string content_type = xml_type;
    std::vector<std::pair<std::string, std::string>> headers;
    bool reset = false;                    // close the connection instead of answering
    std::optional<stream_request> stream;  // GetStreamingEvents: stream instead of `body`
};

std::string envelope(const std::string& body) {
    return std::string("<?xml version=\"1.0\" encoding=\"utf-8\"?>") +
           "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header>" +
           server_version_info + "</s:Header><s:Body>" + body + "</s:Body></s:Envelope>";
}

// <m:{operation}Response ...><m:ResponseMessages>{messages}</m:ResponseMessages></...>
std::string response_body(std::string_view operation, const std::string& messages) {
    std::string name = "m:" + std::string(operation) + "Response";
    return "<" + name + " xmlns:m=\"" + std::string(ns_m) +
           "\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
           "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:t=\"" +
           std::string(ns_t) + "\"><m:ResponseMessages>" + messages + "</m:ResponseMessages></" +
           name + ">";
}

reply soap_reply(std::string_view operation, const std::string& messages) {
    reply r;
    r.body = envelope(response_body(operation, messages));
    return r;
}

std::string success_message(std::string_view operation, const std::string& content = "") {
    const std::string name = "m:" + std::string(operation) + "ResponseMessage";
    return "<" + name + " ResponseClass=\"Success\"><m:ResponseCode>NoError</m:ResponseCode>" +
           content + "</" + name + ">";
}

std::string error_message(std::string_view operation, std::string_view code,
                          std::string_view text, const std::string& after = "") {
    const std::string name = "m:" + std::string(operation) + "ResponseMessage";
    return "<" + name + " ResponseClass=\"Error\"><m:MessageText>" + xml::escape(text) +
           "</m:MessageText><m:ResponseCode>" + std::string(code) +
           "</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>" + after + "</" +
           name + ">";
}

// A SOAP 1.1 fault as Exchange writes it (exchangelib's ErrorServerBusy capture): HTTP 500.
reply soap_fault(std::string_view code, std::string_view text,
                 const std::string& message_xml = "") {
    std::string detail = "<e:ResponseCode xmlns:e=\"" + std::string(ns_e) + "\">" +
                         std::string(code) + "</e:ResponseCode><e:Message xmlns:e=\"" +
                         std::string(ns_e) + "\">" + xml::escape(text) + "</e:Message>";
    if (!message_xml.empty()) {
        detail += "<t:MessageXml xmlns:t=\"" + std::string(ns_t) + "\">" + message_xml +
                  "</t:MessageXml>";
    }
    reply r;
    r.status = 500;
    r.body = std::string("<?xml version=\"1.0\" encoding=\"utf-8\"?>") +
             "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
             "<s:Fault><faultcode xmlns:a=\"" +
             std::string(ns_t) + "\">a:" + std::string(code) +
             "</faultcode><faultstring xml:lang=\"en-US\">" + xml::escape(text) +
             "</faultstring><detail>" + detail + "</detail></s:Fault></s:Body></s:Envelope>";
    return r;
}

reply invalid_request(std::string_view why) {
    return soap_fault("ErrorInvalidRequest", "The request is invalid. " + std::string(why));
}

reply schema_violation(std::string_view why) {
    return soap_fault("ErrorSchemaValidation",
                      "The request failed schema validation: " + std::string(why));
}

// IIS's 401 page.
reply unauthorized(std::vector<std::pair<std::string, std::string>> challenges) {
    reply r;
    r.status = 401;
    r.content_type = "text/html";
    r.body = "<!DOCTYPE html><html><head><title>401 - Unauthorized</title></head><body>"
             "<h1>401 - Unauthorized: Access is denied due to invalid credentials.</h1>"
             "</body></html>";
    r.headers = std::move(challenges);
    return r;
}

reply plain_status(int status) {
    reply r;
    r.status = status;
    r.content_type.clear();
    return r;
}

// --- XML helpers --------------------------------------------------------------------------------

struct string_writer final : pugi::xml_writer {
    std::string out;
    void write(const void* data, std::size_t size) override {
        out.append(static_cast<const char*>(data), size);
    }
};

std::string print(pugi::xml_node n) {
    string_writer w;
    n.print(w, "", pugi::format_raw);
    return w.out;
}

std::string text_in(pugi::xml_node parent, std::string_view ns, std::string_view local) {
    return std::string(xml::trimmed_text(xml::child(parent, ns, local)).value_or(""));
}

// The first descendant {ns}local, depth first.
pugi::xml_node descendant(pugi::xml_node n, std::string_view ns, std::string_view local) {
    for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
        if (c.type() != pugi::node_element) continue;
        if (xml::is(c, ns, local)) return c;
        if (auto d = descendant(c, ns, local)) return d;
    }
    return {};
}

// Rewrites a t:CalendarItem to plain "t:" names without namespace declarations (the answers
// declare t once), so that it can be printed inside any answer. Throws on foreign elements.
void normalise(pugi::xml_node n) {
    if (!xml::is(n, ns_t, xml::local_name(n))) {
        throw std::invalid_argument("fake_ews: element " + xml::qualified(n) +
                                    " is not in the EWS types namespace");
    }
    const std::string name = "t:" + std::string(xml::local_name(n));
    for (pugi::xml_node c = n.first_child(); c;) {
        pugi::xml_node next = c.next_sibling();
        if (c.type() == pugi::node_element) normalise(c);
        c = next;
    }
    for (pugi::xml_attribute a = n.first_attribute(); a;) {
        pugi::xml_attribute next = a.next_attribute();
        const std::string_view an = a.name();
        if (an == "xmlns" || an.rfind("xmlns:", 0) == 0) n.remove_attribute(a);
        a = next;
    }
    n.set_name(name.c_str());
}

// --- connections ---------------------------------------------------------------------------------

// NTLM authenticates the connection (IIS): the challenge sent on it, and whether a type 3
// answering it was accepted. Kept as the connection's state (http_connection::state).
struct ntlm_state {
    std::optional<std::array<std::uint8_t, 8>> challenge;
    bool authenticated = false;
};

struct open_stream {
    explicit open_stream(asio::io_context& io) : wake(io) {}
    asio::steady_timer wake;
    bool signalled = false;  // a change arrived while the coroutine was not waiting
    bool dropped = false;
    http_connection* conn = nullptr;
};

// What a request says, before any state is looked at.
struct incoming {
    std::string path;
    std::string method;
    std::string content_type;
    std::string authorization;
    std::string anchor_mailbox;
    std::string body;
};

}  // namespace

// -------------------------------------------------------------------------------------------------

struct fake_ews::impl {
    struct stored_item {
        std::string id;
        std::string change_key;
        std::shared_ptr<pugi::xml_document> doc;  // the normalised t:CalendarItem, no ItemId
        std::uint64_t version = 0;                // last change
        std::uint64_t created_version = 0;
        bool removed = false;
    };
    struct mailbox {
        std::string address;  // lower case
        std::string display_name;
        std::string guid;
        std::string calendar_folder;
        std::map<std::string, stored_item> items;
        std::vector<std::string> order;  // ids in creation order
        bool impersonation = false;
        bool delegate = false;
        std::optional<int> denied;
    };
    struct sync_point {
        std::string mailbox;
        std::uint64_t version = 0;
    };
    struct pending_event {
        std::string type;  // CreatedEvent, ModifiedEvent, DeletedEvent
        std::string item_id;
        std::string change_key;
        std::string parent_folder;
        std::string time;
    };
    struct stored_subscription {
        subscription pub;
        std::vector<pending_event> pending;
    };
    struct pending_fault {
        std::string operation;
        fault f;
        int remaining = 0;
    };
    // Who a request addresses, or the answer that refuses it.
    struct addressing {
        mailbox* mb = nullptr;
        bool impersonated = false;
        std::optional<reply> refusal;
    };

    explicit impl(options o) : opt(std::move(o)), server(server_options(opt)) {
        if (opt.page_size <= 0) opt.page_size = 512;
        if (opt.stream_keepalive <= 0ms) opt.stream_keepalive = 30s;
        if (opt.stream_minute <= 0ms) opt.stream_minute = 60s;
        ensure_mailbox(opt.service_address, "");
        server.start([this](http_connection& c, const http_request& req) { return handle(c, req); });
    }

    static tls_http_server::options server_options(const options& o) {
        tls_http_server::options so;
        so.ca_name = "agendad fake EWS CA";
        so.folder = o.folder;
        so.temp_prefix = "agendad-fake-ews";
        so.faults = o.faults;
        return so;  // IIS answers 413 with an empty body
    }

    asio::io_context& io() { return server.io(); }
    std::string origin() const { return server.origin(); }

    // --- server ---------------------------------------------------------------------------------

    asio::awaitable<http_answer> handle(http_connection& c, const http_request& req) {
        const reply r = co_await process(c, req);
        if (r.reset) co_return http_answer::reset();
        if (r.stream) {
            const bool keep = co_await stream_events(c, *r.stream, req.version());
            co_return keep ? http_answer::written() : http_answer::reset();
        }
        co_return http_answer{r.status, r.content_type, r.headers, r.body};
    }

    static incoming describe(const bhttp::request<bhttp::string_body>& req) {
        incoming in;
        in.method = std::string(req.method_string());
        const std::string target(req.target());
        in.path = target.substr(0, target.find('?'));
        in.content_type = std::string(req[bhttp::field::content_type]);
        in.authorization = std::string(req[bhttp::field::authorization]);
        in.anchor_mailbox = std::string(req["X-AnchorMailbox"]);
        in.body = req.body();
        return in;
    }

    asio::awaitable<reply> process(http_connection& c, const http_request& req) {
        const incoming in = describe(req);
        request_record rec;
        rec.received = steady::now();
        rec.path = in.path;
        rec.anchor_mailbox = in.anchor_mailbox;
        rec.authorization_sent = !in.authorization.empty();
        rec.authorization_scheme = in.authorization.substr(0, in.authorization.find(' '));
        rec.body = in.body;

        reply r;
        std::string counted;  // the mailbox counted in flight
        const bool is_ews = enc::iequals(in.path, ews_path);
        const bool is_autodiscover = enc::iequals(in.path, autodiscover_path);
        if (!is_ews && !is_autodiscover) {
            r = plain_status(404);
        } else if (in.method != "POST") {
            r = plain_status(405);
            r.headers.emplace_back("Allow", "POST");
        } else if (auto denied = authenticate(c, in)) {
            r = std::move(*denied);
        } else {
            pugi::xml_document doc;
            const auto root = xml::load(in.body, http_max_request_bytes, doc, "EWS clients");
            std::optional<fault> f;
            {
                std::lock_guard lock(mu);
                rec.operation = is_autodiscover ? "Autodiscover" : operation_of(root);
                f = take_fault(rec.operation);
            }
            if (f && f->delay > 0ms) {
                asio::steady_timer t(io(), f->delay);
                co_await t.async_wait(with_error);
            }
            if (f && f->what != fault::kind::delay) {
                r = fault_reply(*f);
            } else if (is_autodiscover) {
                std::lock_guard lock(mu);
                r = autodiscover(root, rec);
            } else if (!enc::lower(in.content_type).starts_with("text/xml")) {
                r = plain_status(415);
            } else if (!root) {
                r = schema_violation(root.error());
            } else {
                std::lock_guard lock(mu);
                r = route(*root, rec);
                if (!rec.mailbox.empty() && !r.stream) {
                    counted = rec.mailbox;
                    const int now = ++in_flight[counted];
                    max_in_flight = std::max(max_in_flight, now);
                }
            }
        }
        if (!counted.empty()) {
            // Let other requests for the mailbox overlap this one, as a server's work would.
            asio::steady_timer t(io(), 1ms);
            co_await t.async_wait(with_error);
        }
        std::lock_guard lock(mu);
        if (!counted.empty()) --in_flight[counted];
        rec.status = r.reset ? 0 : r.status;
        rec.answered = steady::now();
        log.push_back(std::move(rec));
        co_return r;
    }

    // --- authentication (IIS) -------------------------------------------------------------------

    std::optional<reply> authenticate(http_connection& c, const incoming& in) {
        const std::string& h = in.authorization;
        const auto space = h.find(' ');
        const std::string scheme = h.substr(0, space);
        const std::string value = space == std::string::npos ? "" : h.substr(space + 1);
        switch (opt.auth) {
            case auth_scheme::basic: {
                const auto decoded = enc::base64_decode(value);
                if (enc::iequals(scheme, "Basic") && decoded &&
                    *decoded == opt.user + ":" + opt.password) {
                    return std::nullopt;
                }
                return unauthorized({{"WWW-Authenticate", "Basic realm=\"127.0.0.1\""}});
            }
            case auth_scheme::bearer:
                if (enc::iequals(scheme, "Bearer") && value == opt.token) return std::nullopt;
                return unauthorized({{"WWW-Authenticate", "Bearer error=\"invalid_token\""}});
            case auth_scheme::ntlm:
                return authenticate_ntlm(c, scheme, value);
        }
        return unauthorized({});
    }

    std::optional<reply> authenticate_ntlm(http_connection& conn, const std::string& scheme,
                                           const std::string& value) {
        ntlm_state& c = conn.state<ntlm_state>();
        const std::vector<std::pair<std::string, std::string>> offer = {
            {"WWW-Authenticate", "Negotiate"}, {"WWW-Authenticate", "NTLM"}};
        if (!enc::iequals(scheme, "NTLM")) {
            // No (or another) Authorization: an authenticated connection needs none.
            if (scheme.empty() && c.authenticated) return std::nullopt;
            c.authenticated = false;
            c.challenge.reset();
            return unauthorized(offer);
        }
        const auto message = enc::base64_decode(value);
        if (!message || message->size() < 12 || message->compare(0, 8, std::string("NTLMSSP\0", 8)) != 0) {
            c.authenticated = false;
            c.challenge.reset();
            return unauthorized(offer);
        }
        const auto type = static_cast<unsigned char>((*message)[8]);
        if (type == 1) {
            // A new handshake, also on an authenticated connection (a client starting over).
            c.authenticated = false;
            std::array<std::uint8_t, 8> challenge{};
            const std::string bytes = random_bytes(8);
            std::copy(bytes.begin(), bytes.end(), challenge.begin());
            c.challenge = challenge;
            const auto unix_now = std::chrono::duration_cast<std::chrono::seconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
            const std::string type2 = ntlm::challenge_message(
                challenge, opt.domain, "EXCH01", ntlm::filetime_from_unix(unix_now));
            return unauthorized({{"WWW-Authenticate", "NTLM " + enc::base64(type2)}});
        }
        if (type == 3 && c.challenge) {
            const auto challenge = *c.challenge;
            c.challenge.reset();
            std::string error;
            const auto a = ntlm::parse_authenticate(*message, error);
            const bool who = a && enc::iequals(a->user, opt.user) &&
                             (a->domain.empty() || enc::iequals(a->domain, opt.domain));
            if (who && ntlm::verify_ntlmv2(*a, challenge, opt.password)) {
                c.authenticated = true;
                std::lock_guard lock(mu);
                ++handshakes;
                return std::nullopt;
            }
        }
        c.authenticated = false;
        c.challenge.reset();
        return unauthorized(offer);
    }

    // --- faults ---------------------------------------------------------------------------------

    std::optional<fault> take_fault(const std::string& operation) {
        for (auto it = faults.begin(); it != faults.end(); ++it) {
            if (!it->operation.empty() && it->operation != operation) continue;
            fault f = it->f;
            ++faults_given;
            if (--it->remaining <= 0) faults.erase(it);
            return f;
        }
        return std::nullopt;
    }

    static reply fault_reply(const fault& f) {
        switch (f.what) {
            case fault::kind::server_busy:
                return soap_fault("ErrorServerBusy",
                                  "The server cannot service this request right now. Try again "
                                  "later.",
                                  "<t:Value Name=\"BackOffMilliseconds\">" +
                                      std::to_string(f.back_off.count()) + "</t:Value>");
            case fault::kind::http_status:
                return plain_status(f.status);
            case fault::kind::reset: {
                reply r;
                r.reset = true;
                return r;
            }
            case fault::kind::delay:
                break;
        }
        return plain_status(500);
    }

    // --- routing (under the mutex) ----------------------------------------------------------------

    // The SOAP body's operation element's local name; "" when the envelope is not one.
    static std::string operation_of(
        const boost::system::result<pugi::xml_node, std::string>& root) {
        if (!root || !xml::is(*root, ns_soap, "Envelope")) return {};
        const pugi::xml_node body = xml::child(*root, ns_soap, "Body");
        for (pugi::xml_node c = body.first_child(); c; c = c.next_sibling()) {
            if (c.type() == pugi::node_element) return std::string(xml::local_name(c));
        }
        return {};
    }

    reply route(pugi::xml_node envelope_node, request_record& rec) {
        if (!xml::is(envelope_node, ns_soap, "Envelope")) {
            return schema_violation("the root element is " + xml::qualified(envelope_node) +
                                    ", not a SOAP 1.1 Envelope");
        }
        const pugi::xml_node header = xml::child(envelope_node, ns_soap, "Header");
        const pugi::xml_node body = xml::child(envelope_node, ns_soap, "Body");
        pugi::xml_node op;
        for (pugi::xml_node c = body.first_child(); c; c = c.next_sibling()) {
            if (c.type() == pugi::node_element) {
                op = c;
                break;
            }
        }
        if (!op) return schema_violation("the SOAP Body holds no operation");
        if (xml::namespace_of(op) != ns_m) {
            return schema_violation("the operation " + xml::qualified(op) +
                                    " is not in the EWS messages namespace");
        }
        const std::string name(xml::local_name(op));
        const bool known = name == "SyncFolderItems" || name == "GetItem" ||
                           name == "CreateItem" || name == "Subscribe" ||
                           name == "GetStreamingEvents" || name == "Unsubscribe";
        if (!known) {
            return invalid_request("The fake EWS server does not implement " + name + ".");
        }
        addressing who = resolve_mailbox(header, op);
        if (who.refusal) return *who.refusal;
        rec.mailbox = who.mb->address;
        rec.impersonated = who.impersonated;
        if (name == "SyncFolderItems") return sync_folder_items(op, *who.mb);
        if (name == "GetItem") return get_item(op, *who.mb, rec);
        if (name == "CreateItem") return create_item(op, *who.mb);
        if (name == "Subscribe") return subscribe(op, *who.mb);
        if (name == "GetStreamingEvents") return get_streaming_events(op);
        return unsubscribe(op);
    }

    // Impersonation header, else a delegate's t:Mailbox in a DistinguishedFolderId, else the
    // service account's own mailbox.
    addressing resolve_mailbox(pugi::xml_node header, pugi::xml_node op) {
        addressing out;
        const pugi::xml_node imp = xml::child(header, ns_t, "ExchangeImpersonation");
        if (imp) {
            const pugi::xml_node sid = xml::child(imp, ns_t, "ConnectingSID");
            std::string smtp = text_in(sid, ns_t, "PrimarySmtpAddress");
            if (smtp.empty()) smtp = text_in(sid, ns_t, "SmtpAddress");
            if (smtp.empty()) {
                out.refusal = schema_violation(
                    "ExchangeImpersonation needs ConnectingSID/PrimarySmtpAddress or SmtpAddress");
                return out;
            }
            mailbox* mb = find_mailbox(smtp);
            if (!mb) {
                out.refusal = soap_fault("ErrorNonExistentMailbox",
                                         "The SMTP address has no mailbox associated with it.",
                                         "<t:Value Name=\"SmtpAddress\">" + xml::escape(smtp) +
                                             "</t:Value>");
                return out;
            }
            if (mb->denied && *mb->denied != 0) {
                out.refusal = plain_status(*mb->denied);
                return out;
            }
            if (!mb->impersonation || mb->denied) {
                out.refusal = soap_fault(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.");
                return out;
            }
            out.mb = mb;
            out.impersonated = true;
            return out;
        }
        const pugi::xml_node named = descendant(op, ns_t, "DistinguishedFolderId");
        const std::string delegate =
            text_in(xml::child(named, ns_t, "Mailbox"), ns_t, "EmailAddress");
        mailbox* mb = delegate.empty() ? find_mailbox(opt.service_address) : find_mailbox(delegate);
        if (!mb) {
            out.refusal = soap_fault("ErrorNonExistentMailbox",
                                     "The SMTP address has no mailbox associated with it.",
                                     "<t:Value Name=\"SmtpAddress\">" + xml::escape(delegate) +
                                         "</t:Value>");
            return out;
        }
        if (mb->denied && *mb->denied != 0) {
            out.refusal = plain_status(*mb->denied);
            return out;
        }
        const bool own = mb->address == enc::lower(opt.service_address);
        if (mb->denied || (!own && !mb->delegate)) {
            out.refusal = soap_fault("ErrorAccessDenied",
                                     "Access is denied. Check credentials and try again.");
            return out;
        }
        out.mb = mb;
        return out;
    }

    // Whether `parent` names the mailbox's calendar: DistinguishedFolderId "calendar" or its
    // FolderId.
    static bool names_calendar(pugi::xml_node parent, const mailbox& mb) {
        if (auto d = xml::child(parent, ns_t, "DistinguishedFolderId")) {
            return enc::iequals(d.attribute("Id").value(), "calendar");
        }
        if (auto f = xml::child(parent, ns_t, "FolderId")) {
            return f.attribute("Id").value() == mb.calendar_folder;
        }
        return false;
    }

    std::string item_xml(const mailbox& mb, const stored_item& it, bool id_only,
                         bool body_as_text) const {
        std::string out = "<t:CalendarItem><t:ItemId Id=\"" + xml::escape(it.id) +
                          "\" ChangeKey=\"" + xml::escape(it.change_key) + "\"/>";
        if (!id_only) {
            out += "<t:ParentFolderId Id=\"" + xml::escape(mb.calendar_folder) +
                   "\" ChangeKey=\"AQAAAA==\"/>";
            const pugi::xml_node root = it.doc->document_element();
            for (pugi::xml_node c = root.first_child(); c; c = c.next_sibling()) {
                if (body_as_text && std::string_view(c.name()) == "t:Body" &&
                    enc::iequals(c.attribute("BodyType").value(), "HTML")) {
                    out += "<t:Body BodyType=\"Text\">" +
                           xml::escape(calendar::html_to_text(xml::text_of(c))) + "</t:Body>";
                    continue;
                }
                out += print(c);
            }
        }
        return out + "</t:CalendarItem>";
    }

    reply sync_folder_items(pugi::xml_node op, mailbox& mb) {
        const pugi::xml_node shape = xml::child(op, ns_m, "ItemShape");
        const std::string base_shape = text_in(shape, ns_t, "BaseShape");
        if (base_shape.empty()) return schema_violation("SyncFolderItems needs ItemShape/BaseShape");
        const pugi::xml_node sync_folder = xml::child(op, ns_m, "SyncFolderId");
        if (!sync_folder) return schema_violation("SyncFolderItems needs SyncFolderId");
        if (!names_calendar(sync_folder, mb)) {
            return invalid_request("The fake EWS server syncs the calendar folder only.");
        }
        const std::string max_text = text_in(op, ns_m, "MaxChangesReturned");
        int max_changes = 0;
        try {
            max_changes = std::stoi(max_text);
        } catch (const std::exception&) {
            return schema_violation("MaxChangesReturned '" + xml::excerpt(max_text) +
                                    "' is not a number");
        }
        if (max_changes < 1 || max_changes > 512) {
            return schema_violation("MaxChangesReturned must be 1 to 512");
        }
        const std::string state = text_in(op, ns_m, "SyncState");
        std::uint64_t from = 0;
        if (!state.empty()) {
            const auto it = sync_states.find(state);
            if (it == sync_states.end() || it->second.mailbox != mb.address) {
                return soap_reply(
                    "SyncFolderItems",
                    error_message("SyncFolderItems", "ErrorInvalidSyncStateData",
                                  "Synchronization state data is corrupt or otherwise invalid.",
                                  "<m:SyncState/><m:IncludesLastItemInRange>true"
                                  "</m:IncludesLastItemInRange>"));
            }
            from = it->second.version;
        }
        std::vector<const stored_item*> changed;
        for (const auto& [id, it] : mb.items) {
            if (it.version <= from) continue;
            if (it.removed && it.created_version > from) continue;  // never seen: nothing to say
            changed.push_back(&it);
        }
        std::sort(changed.begin(), changed.end(),
                  [](const stored_item* a, const stored_item* b) { return a->version < b->version; });
        const std::size_t page = static_cast<std::size_t>(std::min(max_changes, opt.page_size));
        const bool more = changed.size() > page;
        if (more) changed.resize(page);
        const std::uint64_t upto = more ? changed.back()->version : version;
        const std::string new_state =
            enc::base64("agendad-fake-ews|" + mb.address + "|" + std::to_string(upto) + "|" +
                        random_bytes(6));
        sync_states[new_state] = sync_point{mb.address, upto};

        const bool id_only = base_shape == "IdOnly";
        std::string changes;
        for (const stored_item* it : changed) {
            if (it->removed) {
                changes += "<t:Delete><t:ItemId Id=\"" + xml::escape(it->id) + "\" ChangeKey=\"" +
                           xml::escape(it->change_key) + "\"/></t:Delete>";
            } else {
                const char* kind = it->created_version > from ? "Create" : "Update";
                changes += std::string("<t:") + kind + ">" + item_xml(mb, *it, id_only, false) +
                           "</t:" + kind + ">";
            }
        }
        std::string content = "<m:SyncState>" + new_state + "</m:SyncState>" +
                              "<m:IncludesLastItemInRange>" + (more ? "false" : "true") +
                              "</m:IncludesLastItemInRange>";
        content += changes.empty() ? "<m:Changes/>" : "<m:Changes>" + changes + "</m:Changes>";
        return soap_reply("SyncFolderItems", success_message("SyncFolderItems", content));
    }

    reply get_item(pugi::xml_node op, mailbox& mb, request_record& rec) {
        const pugi::xml_node shape = xml::child(op, ns_m, "ItemShape");
        if (text_in(shape, ns_t, "BaseShape").empty()) {
            return schema_violation("GetItem needs ItemShape/BaseShape");
        }
        const pugi::xml_node extra = xml::child(shape, ns_t, "AdditionalProperties");
        for (pugi::xml_node c = extra.first_child(); c; c = c.next_sibling()) {
            if (xml::is(c, ns_t, "FieldURI")) {
                rec.field_uris.emplace_back(c.attribute("FieldURI").value());
            } else if (xml::is(c, ns_t, "ExtendedFieldURI")) {
                std::string what = "ExtendedFieldURI";
                for (auto a : c.attributes()) what += std::string(" ") + a.name() + "=" + a.value();
                rec.field_uris.push_back(what);
            }
        }
        const bool as_text = text_in(shape, ns_t, "BodyType") == "Text";
        const pugi::xml_node ids = xml::child(op, ns_m, "ItemIds");
        std::string messages;
        int count = 0;
        for (pugi::xml_node c = ids.first_child(); c; c = c.next_sibling()) {
            if (c.type() != pugi::node_element) continue;
            ++count;
            const auto it = mb.items.find(c.attribute("Id").value());
            if (!xml::is(c, ns_t, "ItemId") || it == mb.items.end() || it->second.removed) {
                messages += error_message("GetItem", "ErrorItemNotFound",
                                          "The specified object was not found in the store., "
                                          "The process failed to get the correct properties.",
                                          "<m:Items/>");
                continue;
            }
            messages += success_message(
                "GetItem", "<m:Items>" + item_xml(mb, it->second, false, as_text) + "</m:Items>");
        }
        if (count == 0) return schema_violation("GetItem needs ItemIds with at least one id");
        return soap_reply("GetItem", messages);
    }

    reply create_item(pugi::xml_node op, mailbox& mb) {
        const std::string disposition = op.attribute("MessageDisposition").value();
        const pugi::xml_node items = xml::child(op, ns_m, "Items");
        std::string messages;
        int count = 0;
        for (pugi::xml_node c = items.first_child(); c; c = c.next_sibling()) {
            if (c.type() != pugi::node_element) continue;
            ++count;
            messages += respond(c, mb, disposition);
        }
        if (count == 0) return schema_violation("CreateItem needs Items with at least one item");
        return soap_reply("CreateItem", messages);
    }

    std::string respond(pugi::xml_node item, mailbox& mb, const std::string& disposition) {
        const std::string kind(xml::local_name(item));
        const bool known = xml::namespace_of(item) == ns_t &&
                           (kind == "AcceptItem" || kind == "TentativelyAcceptItem" ||
                            kind == "DeclineItem");
        if (!known) {
            return error_message("CreateItem", "ErrorInvalidRequest",
                                 "The fake EWS server creates meeting responses only, not " +
                                     xml::qualified(item) + ".",
                                 "<m:Items/>");
        }
        if (disposition != "SendAndSaveCopy" && disposition != "SaveOnly" &&
            disposition != "SendOnly") {
            return error_message("CreateItem", "ErrorMessageDispositionRequired",
                                 "MessageDisposition attribute is required.", "<m:Items/>");
        }
        const pugi::xml_node ref = xml::child(item, ns_t, "ReferenceItemId");
        const auto it = mb.items.find(ref.attribute("Id").value());
        if (!ref || it == mb.items.end() || it->second.removed) {
            return error_message("CreateItem", "ErrorItemNotFound",
                                 "The specified object was not found in the store.", "<m:Items/>");
        }
        stored_item& target = it->second;
        const std::string change_key = ref.attribute("ChangeKey").value();
        if (change_key.empty()) {
            return error_message("CreateItem", "ErrorChangeKeyRequired",
                                 "The ChangeKey is required for this operation.", "<m:Items/>");
        }
        if (change_key != target.change_key) {
            return error_message("CreateItem", "ErrorIrresolvableConflict",
                                 "The send or update operation could not be performed because "
                                 "the change key passed in the request does not match the current "
                                 "change key for the item.",
                                 "<m:Items/>");
        }
        const pugi::xml_node body = xml::child(item, ns_t, "Body");
        calls.push_back({mb.address, target.id, kind, disposition,
                         body ? xml::text_of(body) : std::string(),
                         body ? std::string(body.attribute("BodyType").value()) : std::string()});

        const char* answer = kind == "AcceptItem"              ? "Accept"
                             : kind == "TentativelyAcceptItem" ? "Tentative"
                                                               : "Decline";
        set_my_response(target, answer);
        change(mb, target, "ModifiedEvent");
        if (kind == "DeclineItem" && opt.decline_removes && disposition != "SaveOnly") {
            target.removed = true;
            change(mb, target, "DeletedEvent");
        }
        return success_message("CreateItem", "<m:Items/>");
    }

    static void set_my_response(stored_item& it, const char* value) {
        pugi::xml_node root = it.doc->document_element();
        pugi::xml_node mine = root.child("t:MyResponseType");
        if (!mine) {
            pugi::xml_node after = root.child("t:CalendarItemType");
            mine = after ? root.insert_child_after("t:MyResponseType", after)
                         : root.append_child("t:MyResponseType");
        }
        mine.text().set(value);
    }

    reply subscribe(pugi::xml_node op, mailbox& mb) {
        const pugi::xml_node request = xml::child(op, ns_m, "StreamingSubscriptionRequest");
        if (!request) {
            return invalid_request("The fake EWS server has streaming subscriptions only.");
        }
        if (!names_calendar(xml::child(request, ns_t, "FolderIds"), mb)) {
            return invalid_request("The fake EWS server notifies about the calendar folder only.");
        }
        stored_subscription s;
        xml::for_each_child(xml::child(request, ns_t, "EventTypes"), ns_t, "EventType",
                            [&](pugi::xml_node e) {
                                s.pub.event_types.push_back(xml::trimmed_text(e).value_or(""));
                            });
        if (s.pub.event_types.empty()) return schema_violation("Subscribe needs EventTypes");
        s.pub.id = enc::base64(std::string("\x26\x00", 2) + "fake-ews.127.0.0.1" +
                               std::string("\x10\x00\x00\x00", 4) + random_bytes(16));
        s.pub.mailbox = mb.address;
        subs.push_back(s);
        return soap_reply("Subscribe",
                          success_message("Subscribe", "<m:SubscriptionId>" + s.pub.id +
                                                           "</m:SubscriptionId>"));
    }

    stored_subscription* find_subscription(const std::string& id) {
        for (auto& s : subs) {
            if (s.pub.id == id) return &s;
        }
        return nullptr;
    }

    reply unsubscribe(pugi::xml_node op) {
        const std::string id = text_in(op, ns_m, "SubscriptionId");
        const auto it = std::find_if(subs.begin(), subs.end(),
                                     [&](const stored_subscription& s) { return s.pub.id == id; });
        if (it == subs.end()) {
            return soap_reply("Unsubscribe",
                              error_message("Unsubscribe", "ErrorSubscriptionNotFound",
                                            "The specified subscription was not found."));
        }
        subs.erase(it);
        wake_streams();
        return soap_reply("Unsubscribe", success_message("Unsubscribe"));
    }

    reply get_streaming_events(pugi::xml_node op) {
        stream_request s;
        xml::for_each_child(xml::child(op, ns_m, "SubscriptionIds"), ns_t, "SubscriptionId",
                            [&](pugi::xml_node e) {
                                s.subscription_ids.push_back(xml::trimmed_text(e).value_or(""));
                            });
        if (s.subscription_ids.empty()) {
            return schema_violation("GetStreamingEvents needs SubscriptionIds");
        }
        const std::string timeout = text_in(op, ns_m, "ConnectionTimeout");
        try {
            s.minutes = std::stoi(timeout);
        } catch (const std::exception&) {
            return schema_violation("ConnectionTimeout '" + xml::excerpt(timeout) +
                                    "' is not a number");
        }
        if (s.minutes < 1 || s.minutes > 30) {
            return schema_violation("ConnectionTimeout must be 1 to 30 minutes");
        }
        for (const auto& id : s.subscription_ids) {
            if (!find_subscription(id)) {
                return soap_reply("GetStreamingEvents",
                                  error_message("GetStreamingEvents", "ErrorSubscriptionNotFound",
                                                "The specified subscription was not found.",
                                                "<m:ConnectionStatus>Closed</m:ConnectionStatus>"));
            }
        }
        reply r;
        r.stream = std::move(s);
        return r;
    }

    reply autodiscover(const boost::system::result<pugi::xml_node, std::string>& root,
                       request_record& rec) {
        reply r;
        if (!root) {
            r.status = 400;
            r.content_type.clear();
            return r;
        }
        // The request's namespace varies between clients' spellings: match local names.
        std::string wanted;
        for (pugi::xml_node req = root->first_child(); req; req = req.next_sibling()) {
            if (xml::local_name(req) != "Request") continue;
            for (pugi::xml_node c = req.first_child(); c; c = c.next_sibling()) {
                if (xml::local_name(c) == "EMailAddress") {
                    wanted = xml::trimmed_text(c).value_or("");
                }
            }
        }
        const mailbox* mb = wanted.empty() ? nullptr : find_mailbox(wanted);
        rec.mailbox = mb ? mb->address : enc::lower(wanted);
        const std::string ews = xml::escape(origin() + ews_path);
        std::string response;
        if (!mb) {
            response = "<Response><Error Time=\"00:00:00.0000000\" Id=\"1\"><ErrorCode>500"
                       "</ErrorCode><Message>The email address can't be found.</Message>"
                       "<DebugData/></Error></Response>";
        } else {
            const std::string name = mb->display_name.empty() ? mb->address : mb->display_name;
            response = "<Response xmlns=\"" + std::string(ns_ad_outlook) + "\"><User><DisplayName>" +
                       xml::escape(name) + "</DisplayName><AutoDiscoverSMTPAddress>" +
                       xml::escape(mb->address) +
                       "</AutoDiscoverSMTPAddress></User><Account><AccountType>email"
                       "</AccountType><Action>settings</Action><MicrosoftOnline>False"
                       "</MicrosoftOnline><Protocol><Type>EXCH</Type><Server>127.0.0.1</Server>"
                       "<ASUrl>" + ews + "</ASUrl><EwsUrl>" + ews + "</EwsUrl><EmwsUrl>" + ews +
                       "</EmwsUrl></Protocol><Protocol><Type>EXPR</Type><Server>127.0.0.1"
                       "</Server><SSL>On</SSL><AuthPackage>Ntlm</AuthPackage><EwsUrl>" + ews +
                       "</EwsUrl></Protocol></Account></Response>";
        }
        r.body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"" +
                 std::string(ns_ad_response) + "\">" + response + "</Autodiscover>";
        return r;
    }

    // --- streaming --------------------------------------------------------------------------------

    static std::string stream_envelope(const std::string& content) {
        return envelope(response_body(
            "GetStreamingEvents", success_message("GetStreamingEvents", content)));
    }

    // The notifications waiting for these subscriptions, as one envelope ("" when none).
    std::string take_notifications(const std::vector<std::string>& ids) {
        std::string notifications;
        for (const auto& id : ids) {
            stored_subscription* s = find_subscription(id);
            if (!s || s->pending.empty()) continue;
            notifications += "<m:Notification><t:SubscriptionId>" + s->pub.id +
                             "</t:SubscriptionId>";
            for (const auto& e : s->pending) {
                notifications += "<t:" + e.type + "><t:TimeStamp>" + e.time +
                                 "</t:TimeStamp><t:ItemId Id=\"" + xml::escape(e.item_id) +
                                 "\" ChangeKey=\"" + xml::escape(e.change_key) +
                                 "\"/><t:ParentFolderId Id=\"" + xml::escape(e.parent_folder) +
                                 "\" ChangeKey=\"AQAAAA==\"/></t:" + e.type + ">";
            }
            notifications += "</m:Notification>";
            s->pending.clear();
        }
        if (notifications.empty()) return {};
        return stream_envelope("<m:Notifications>" + notifications + "</m:Notifications>");
    }

    // Writes the stream; false when the connection is gone (or was cut).
    asio::awaitable<bool> stream_events(http_connection& c, const stream_request& s,
                                        unsigned http_version) {
        auto& lowest = beast::get_lowest_layer(c.stream());
        bhttp::response<bhttp::empty_body> res{bhttp::status::ok, http_version};
        res.set(bhttp::field::content_type, xml_type);
        res.chunked(true);
        bhttp::response_serializer<bhttp::empty_body> sr{res};
        lowest.expires_after(http_idle_timeout);
        auto [hec, hn] = co_await bhttp::async_write_header(c.stream(), sr, with_error);
        lowest.expires_never();
        if (hec) co_return false;

        auto me = std::make_unique<open_stream>(io());
        me->conn = &c;
        open_stream* self = me.get();
        streams.insert(self);
        {
            std::lock_guard lock(mu);
            ++streams_open;
        }
        const auto forget = [&] {
            streams.erase(self);
            std::lock_guard lock(mu);
            --streams_open;
        };
        const auto deadline = steady::now() + s.minutes * opt.stream_minute;
        auto next_keepalive = steady::now() + opt.stream_keepalive;
        bool closed = false;
        for (;;) {
            std::string batch;
            bool none_left = true;
            {
                std::lock_guard lock(mu);
                batch = take_notifications(s.subscription_ids);
                for (const auto& id : s.subscription_ids) none_left &= !find_subscription(id);
            }
            const auto now = steady::now();
            if (batch.empty() && now >= next_keepalive) {
                batch = stream_envelope("<m:ConnectionStatus>OK</m:ConnectionStatus>");
            }
            if (now >= next_keepalive) next_keepalive = now + opt.stream_keepalive;
            if (now >= deadline || none_left) {
                batch += stream_envelope("<m:ConnectionStatus>Closed</m:ConnectionStatus>");
                closed = true;
            }
            if (self->dropped) break;
            if (!batch.empty()) {
                lowest.expires_after(http_idle_timeout);
                auto [wec, wn] =
                    co_await asio::async_write(c.stream(), bhttp::make_chunk(asio::buffer(batch)),
                                               with_error);
                lowest.expires_never();
                if (wec || self->dropped) break;
            }
            if (closed) {
                lowest.expires_after(http_idle_timeout);
                auto [lec, ln] =
                    co_await asio::async_write(c.stream(), bhttp::make_chunk_last(), with_error);
                lowest.expires_never();
                forget();
                co_return !lec;
            }
            if (self->signalled) {
                self->signalled = false;
                continue;
            }
            self->wake.expires_at(std::min(deadline, next_keepalive));
            co_await self->wake.async_wait(with_error);
            self->signalled = false;
            if (self->dropped) break;
        }
        forget();
        co_return false;
    }

    // Runs on the io thread: every open stream looks for news.
    void wake_streams() {
        asio::post(io(), [this] {
            for (open_stream* s : streams) {
                s->signalled = true;
                s->wake.cancel();
            }
        });
    }

    // --- data (under the mutex) ---------------------------------------------------------------

    mailbox* find_mailbox(const std::string& address) {
        const auto it = mailboxes.find(enc::lower(xml::trim(address)));
        return it == mailboxes.end() ? nullptr : &it->second;
    }
    const mailbox* find_mailbox(const std::string& address) const {
        return const_cast<impl*>(this)->find_mailbox(address);
    }

    mailbox& ensure_mailbox(const std::string& address, const std::string& display_name) {
        const std::string key = enc::lower(xml::trim(address));
        auto [it, added] = mailboxes.try_emplace(key);
        if (added) {
            it->second.address = key;
            it->second.guid = mailbox_guid(key);
            it->second.calendar_folder = folder_id(it->second.guid);
        }
        if (!display_name.empty()) it->second.display_name = display_name;
        return it->second;
    }

    // A change to `it` (already made): a new change key and version, and a notification.
    void change(mailbox& mb, stored_item& it, const char* event_type) {
        it.change_key = new_change_key();
        it.version = ++version;
        const std::string now = utc_now();
        bool any = false;
        for (auto& s : subs) {
            if (s.pub.mailbox != mb.address) continue;
            const bool wanted = std::find(s.pub.event_types.begin(), s.pub.event_types.end(),
                                          event_type) != s.pub.event_types.end();
            if (!wanted) continue;
            s.pending.push_back({event_type, it.id, it.change_key, mb.calendar_folder, now});
            any = true;
        }
        if (any) wake_streams();
    }

    static std::shared_ptr<pugi::xml_document> parse_item(const std::string& text,
                                                          const char* who) {
        auto doc = std::make_shared<pugi::xml_document>();
        const auto root = xml::load(text, http_max_request_bytes, *doc, "tests");
        if (!root) throw std::invalid_argument(std::string(who) + ": " + root.error());
        if (!xml::is(*root, ns_t, "CalendarItem")) {
            throw std::invalid_argument(std::string(who) + ": the root element is " +
                                        xml::qualified(*root) + ", not a t:CalendarItem");
        }
        pugi::xml_node item = *root;
        normalise(item);
        for (const char* name : {"t:ItemId", "t:ParentFolderId"}) {
            while (pugi::xml_node n = item.child(name)) item.remove_child(n);
        }
        return doc;
    }

    // --- state ------------------------------------------------------------------------------------

    options opt;
    mutable std::mutex mu;

    std::map<std::string, mailbox> mailboxes;  // by lower-case address
    std::uint64_t version = 0;
    std::uint64_t serial = 0;
    std::map<std::string, sync_point> sync_states;
    std::vector<stored_subscription> subs;
    std::vector<pending_fault> faults;
    std::vector<request_record> log;
    std::vector<response_record> calls;
    std::map<std::string, int> in_flight;
    int max_in_flight = 0;
    int handshakes = 0;
    int faults_given = 0;  // fail_next faults handed out (a delay counts when it starts)
    int streams_open = 0;

    std::set<open_stream*> streams;  // the io thread's only
    // Last: destroyed first, so its thread stops before the state it serves goes.
    tls_http_server server;
};

// -------------------------------------------------------------------------------------------------

fake_ews::fake_ews(options o) : impl_(std::make_unique<impl>(std::move(o))) {}
fake_ews::~fake_ews() = default;

std::uint16_t fake_ews::port() const {
    return impl_->server.port();
}
std::string fake_ews::origin() const {
    return impl_->origin();
}
std::string fake_ews::ews_url() const {
    return impl_->origin() + ews_path;
}
std::string fake_ews::autodiscover_url() const {
    return impl_->origin() + autodiscover_path;
}
std::filesystem::path fake_ews::ca_file() const {
    return impl_->server.ca_file();
}

void fake_ews::add_mailbox(const std::string& address, const std::string& display_name) {
    std::lock_guard lock(impl_->mu);
    impl_->ensure_mailbox(address, display_name);
}

void fake_ews::grant_impersonation(const std::string& address) {
    std::lock_guard lock(impl_->mu);
    impl_->ensure_mailbox(address, "").impersonation = true;
}

void fake_ews::grant_delegate(const std::string& address) {
    std::lock_guard lock(impl_->mu);
    impl_->ensure_mailbox(address, "").delegate = true;
}

std::string fake_ews::add_item(const std::string& mailbox, const std::string& calendar_item_xml) {
    auto doc = impl::parse_item(calendar_item_xml, "fake_ews::add_item");
    std::lock_guard lock(impl_->mu);
    auto& mb = impl_->ensure_mailbox(mailbox, "");
    impl::stored_item it;
    it.id = new_item_id(mb.guid, ++impl_->serial);
    it.doc = std::move(doc);
    it.created_version = impl_->version + 1;
    const std::string id = it.id;
    auto& stored = mb.items[id] = std::move(it);
    mb.order.push_back(id);
    impl_->change(mb, stored, "CreatedEvent");
    return id;
}

void fake_ews::update_item(const std::string& mailbox, const std::string& id,
                           const std::string& calendar_item_xml) {
    auto doc = impl::parse_item(calendar_item_xml, "fake_ews::update_item");
    std::lock_guard lock(impl_->mu);
    auto* mb = impl_->find_mailbox(mailbox);
    const auto it = mb ? mb->items.find(id) : decltype(mb->items.end()){};
    if (!mb || it == mb->items.end() || it->second.removed) {
        throw std::invalid_argument("fake_ews::update_item: no item " + id + " in " + mailbox);
    }
    it->second.doc = std::move(doc);
    impl_->change(*mb, it->second, "ModifiedEvent");
}

void fake_ews::remove_item(const std::string& mailbox, const std::string& id) {
    std::lock_guard lock(impl_->mu);
    auto* mb = impl_->find_mailbox(mailbox);
    const auto it = mb ? mb->items.find(id) : decltype(mb->items.end()){};
    if (!mb || it == mb->items.end() || it->second.removed) {
        throw std::invalid_argument("fake_ews::remove_item: no item " + id + " in " + mailbox);
    }
    it->second.removed = true;
    impl_->change(*mb, it->second, "DeletedEvent");
}

std::optional<fake_ews::item_state> fake_ews::item(const std::string& mailbox,
                                                   const std::string& id) const {
    std::lock_guard lock(impl_->mu);
    const auto* mb = impl_->find_mailbox(mailbox);
    if (!mb) return std::nullopt;
    const auto it = mb->items.find(id);
    if (it == mb->items.end() || it->second.removed) return std::nullopt;
    item_state out;
    out.id = it->second.id;
    out.change_key = it->second.change_key;
    out.my_response_type =
        it->second.doc->document_element().child("t:MyResponseType").text().get();
    // The answer's element, with the namespace declaration the answer's envelope would give.
    out.xml = "<t:CalendarItem xmlns:t=\"" + std::string(ns_t) + "\">" +
              impl_->item_xml(*mb, it->second, false, false).substr(16);
    return out;
}

std::vector<std::string> fake_ews::item_ids(const std::string& mailbox) const {
    std::lock_guard lock(impl_->mu);
    std::vector<std::string> out;
    const auto* mb = impl_->find_mailbox(mailbox);
    if (!mb) return out;
    for (const auto& id : mb->order) {
        if (!mb->items.at(id).removed) out.push_back(id);
    }
    return out;
}

void fake_ews::fail_next(const std::string& operation, fault f, int times) {
    if (times <= 0) return;
    std::lock_guard lock(impl_->mu);
    impl_->faults.push_back({operation, f, times});
}

int fake_ews::faults_given() const {
    std::lock_guard lock(impl_->mu);
    return impl_->faults_given;
}

void fake_ews::expire_sync_states() {
    std::lock_guard lock(impl_->mu);
    impl_->sync_states.clear();
}

void fake_ews::stale_change_keys() {
    std::lock_guard lock(impl_->mu);
    for (auto& [address, mb] : impl_->mailboxes) {
        for (auto& [id, it] : mb.items) it.change_key = new_change_key();
    }
}

void fake_ews::deny(const std::string& address, int status) {
    std::lock_guard lock(impl_->mu);
    impl_->ensure_mailbox(address, "").denied = status;
}

void fake_ews::drop_streams() {
    asio::post(impl_->io(), [i = impl_.get()] {
        for (open_stream* s : i->streams) {
            s->dropped = true;
            s->conn->close();
            s->wake.cancel();
        }
    });
}

std::vector<fake_ews::request_record> fake_ews::requests() const {
    std::lock_guard lock(impl_->mu);
    return impl_->log;
}

int fake_ews::max_in_flight_per_mailbox() const {
    std::lock_guard lock(impl_->mu);
    return impl_->max_in_flight;
}

int fake_ews::ntlm_handshakes() const {
    std::lock_guard lock(impl_->mu);
    return impl_->handshakes;
}

std::vector<fake_ews::response_record> fake_ews::responses() const {
    std::lock_guard lock(impl_->mu);
    return impl_->calls;
}

std::vector<fake_ews::subscription> fake_ews::subscriptions() const {
    std::lock_guard lock(impl_->mu);
    std::vector<subscription> out;
    for (const auto& s : impl_->subs) out.push_back(s.pub);
    return out;
}

int fake_ews::open_streams() const {
    std::lock_guard lock(impl_->mu);
    return impl_->streams_open;
}

}  // namespace agendad::test_support
