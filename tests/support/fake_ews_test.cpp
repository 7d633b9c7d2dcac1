// The fake EWS server as a client sees it: raw SOAP over agendad's HTTP client (and a raw TLS
// reader for the streaming response), answers read with calendar/xml. The NTLM tests drive the
// handshake with calendar/ews/ntlm.h's client side over one channel (one connection).
#include "support/fake_ews.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "calendar/encoding.h"
#include "calendar/ews/ntlm.h"
#include "calendar/http/http_client.h"
#include "calendar/xml/xml.h"
#include "support/ews_calendar_items.h"
#include "support/files.h"

namespace agendad::test_support {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
namespace ah = agendad::calendar::http;
namespace xml = agendad::calendar::xml;
namespace enc = agendad::calendar::encoding;
namespace ntlm = agendad::calendar::ews::ntlm;
using namespace std::chrono_literals;

constexpr std::string_view ns_soap = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr std::string_view ns_m = "http://schemas.microsoft.com/exchange/services/2006/messages";
constexpr std::string_view ns_t = "http://schemas.microsoft.com/exchange/services/2006/types";
constexpr std::string_view ns_e = "http://schemas.microsoft.com/exchange/services/2006/errors";
constexpr const char* owner = "dana.whitfield@contoso.example";

// --- a client ------------------------------------------------------------------------------------

asio::awaitable<void> send_on(ah::client& c, const ah::url& u, const ah::request& r,
                              ah::channel* ch, std::optional<ah::result<ah::response>>& out) {
    if (ch) {
        auto res = co_await c.send(u, r, *ch);
        out.emplace(std::move(res));
    } else {
        auto res = co_await c.send(u, r);
        out.emplace(std::move(res));
    }
}

class caller {
  public:
    explicit caller(const fake_ews& f)
        : client_(io_.get_executor(), ah::tls_options{true, f.ca_file()}) {}

    ah::result<ah::response> post(const std::string& url_text, const std::string& body,
                                  const std::vector<ah::header>& headers,
                                  ah::channel* ch = nullptr) {
        const auto u = ah::url::parse(url_text);
        if (!u) throw std::runtime_error("bad URL " + url_text);
        ah::request req;
        req.method = "POST";
        req.headers = headers;
        req.headers.push_back({"Content-Type", "text/xml; charset=utf-8"});
        req.body = body;
        std::optional<ah::result<ah::response>> out;
        asio::co_spawn(io_, send_on(client_, *u, req, ch, out), asio::detached);
        io_.restart();
        io_.run();
        if (!out) throw std::runtime_error("the send did not complete");
        return std::move(*out);
    }

  private:
    asio::io_context io_;
    ah::client client_;
};

std::vector<ah::header> basic(const std::string& user = "svc-agendad",
                              const std::string& password = "test-password") {
    return {{"Authorization", ah::basic_authorization(user, password)}};
}

std::string soap(const std::string& body, const std::string& impersonate = "") {
    std::string header = "<t:RequestServerVersion Version=\"Exchange2013_SP1\"/>";
    if (!impersonate.empty()) {
        header += "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>" +
                  impersonate + "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>";
    }
    return "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"" +
           std::string(ns_soap) + "\" xmlns:t=\"" + std::string(ns_t) + "\" xmlns:m=\"" +
           std::string(ns_m) + "\"><soap:Header>" + header + "</soap:Header><soap:Body>" + body +
           "</soap:Body></soap:Envelope>";
}

std::string sync_body(const std::string& state, int max_changes = 512) {
    std::string b =
        "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
        "<m:SyncFolderId><t:DistinguishedFolderId Id=\"calendar\"/></m:SyncFolderId>";
    if (!state.empty()) b += "<m:SyncState>" + state + "</m:SyncState>";
    return b + "<m:MaxChangesReturned>" + std::to_string(max_changes) +
           "</m:MaxChangesReturned><m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>";
}

std::string get_item_body(const std::vector<std::string>& ids) {
    std::string b =
        "<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        "<t:FieldURI FieldURI=\"item:Subject\"/><t:FieldURI FieldURI=\"calendar:Organizer\"/>"
        "</t:AdditionalProperties></m:ItemShape><m:ItemIds>";
    for (const auto& id : ids) b += "<t:ItemId Id=\"" + xml::escape(id) + "\"/>";
    return b + "</m:ItemIds></m:GetItem>";
}

std::string respond_body(const std::string& kind, const std::string& id,
                         const std::string& change_key, const std::string& disposition) {
    return "<m:CreateItem MessageDisposition=\"" + disposition + "\"><m:Items><t:" + kind +
           "><t:ReferenceItemId Id=\"" + xml::escape(id) + "\" ChangeKey=\"" +
           xml::escape(change_key) + "\"/><t:Body BodyType=\"Text\">No agenda, no meeting."
           "</t:Body></t:" + kind + "></m:Items></m:CreateItem>";
}

std::string simple_item(const std::string& subject) {
    return "<t:CalendarItem xmlns:t=\"" + std::string(ns_t) + "\"><t:Subject>" + subject +
           "</t:Subject><t:Start>2026-11-24T18:00:00Z</t:Start><t:End>2026-11-24T18:30:00Z"
           "</t:End><t:CalendarItemType>Single</t:CalendarItemType><t:MyResponseType>"
           "NoResponseReceived</t:MyResponseType></t:CalendarItem>";
}

// --- reading answers ---------------------------------------------------------------------------

struct parsed {
    pugi::xml_document doc;
    pugi::xml_node root;
};

std::unique_ptr<parsed> parse(const std::string& body) {
    auto p = std::make_unique<parsed>();
    const auto root = xml::load(body, std::size_t{16} << 20, p->doc, "the fake EWS server");
    if (!root) throw std::runtime_error("not XML: " + root.error());
    p->root = *root;
    return p;
}

void collect(pugi::xml_node n, std::string_view ns, std::string_view local,
             std::vector<pugi::xml_node>& out) {
    for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
        if (c.type() != pugi::node_element) continue;
        if (xml::is(c, ns, local)) out.push_back(c);
        collect(c, ns, local, out);
    }
}

std::vector<pugi::xml_node> all(pugi::xml_node n, std::string_view ns, std::string_view local) {
    std::vector<pugi::xml_node> out;
    collect(n, ns, local, out);
    return out;
}

pugi::xml_node first(pugi::xml_node n, std::string_view ns, std::string_view local) {
    const auto v = all(n, ns, local);
    return v.empty() ? pugi::xml_node() : v.front();
}

std::string text(pugi::xml_node n) {
    return std::string(xml::trimmed_text(n).value_or(""));
}

// The fault's detail/e:ResponseCode ("" when the answer is no fault).
std::string fault_code(const std::string& body) {
    const auto p = parse(body);
    return text(first(first(p->root, ns_soap, "Fault"), ns_e, "ResponseCode"));
}

struct sync_page {
    std::string state;
    bool last = false;
    std::vector<std::pair<std::string, std::string>> changes;  // (Create/Update/Delete, id)
};

sync_page read_sync(const std::string& body) {
    const auto p = parse(body);
    sync_page out;
    const auto message = first(p->root, ns_m, "SyncFolderItemsResponseMessage");
    EXPECT_EQ(std::string(message.attribute("ResponseClass").value()), "Success") << body;
    out.state = text(xml::child(message, ns_m, "SyncState"));
    out.last = text(xml::child(message, ns_m, "IncludesLastItemInRange")) == "true";
    for (pugi::xml_node c = xml::child(message, ns_m, "Changes").first_child(); c;
         c = c.next_sibling()) {
        if (c.type() != pugi::node_element) continue;
        out.changes.emplace_back(std::string(xml::local_name(c)),
                                 first(c, ns_t, "ItemId").attribute("Id").value());
    }
    return out;
}

fake_ews::options quick_options() {
    fake_ews::options o;
    o.stream_keepalive = 400ms;
    o.stream_minute = 1500ms;
    return o;
}

// --- authentication ----------------------------------------------------------------------------

TEST(FakeEws, RefusesRequestsWithoutValidBasicCredentials) {
    fake_ews fake(quick_options());
    caller c(fake);
    auto none = c.post(fake.ews_url(), soap(sync_body("")), {});
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 401);
    EXPECT_EQ(none->find("WWW-Authenticate").value_or(""), "Basic realm=\"127.0.0.1\"");
    auto wrong = c.post(fake.ews_url(), soap(sync_body("")), basic("svc-agendad", "nope"));
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    auto right = c.post(fake.ews_url(), soap(sync_body("")), basic());
    ASSERT_TRUE(right);
    EXPECT_EQ(right->status, 200) << right->body;
    EXPECT_EQ(right->find("Content-Type").value_or(""), "text/xml; charset=utf-8");
    const auto records = fake.requests();
    ASSERT_EQ(records.size(), 3u);
    EXPECT_FALSE(records[0].authorization_sent);
    EXPECT_EQ(records[2].authorization_scheme, "Basic");
    EXPECT_EQ(records[2].operation, "SyncFolderItems");
    EXPECT_EQ(records[2].mailbox, "svc-agendad@contoso.example");
}

TEST(FakeEws, BearerTokenMustMatch) {
    auto o = quick_options();
    o.auth = fake_ews::auth_scheme::bearer;
    o.token = "abc";
    fake_ews fake(o);
    caller c(fake);
    auto wrong = c.post(fake.ews_url(), soap(sync_body("")), {{"Authorization", "Bearer abd"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    auto right = c.post(fake.ews_url(), soap(sync_body("")), {{"Authorization", "Bearer abc"}});
    ASSERT_TRUE(right);
    EXPECT_EQ(right->status, 200);
}

// The client's half of the handshake, over `ch`: the status of the request that carries the
// type 3 message.
int ntlm_login(caller& c, const fake_ews& fake, ah::channel& ch, const std::string& password,
               const std::string& body) {
    auto offer = c.post(fake.ews_url(), body, {}, &ch);
    EXPECT_TRUE(offer);
    if (!offer) return 0;
    EXPECT_EQ(offer->status, 401);
    bool offers_ntlm = false;
    for (const auto& h : offer->headers) {
        if (enc::iequals(h.name, "WWW-Authenticate") && ntlm::offers_ntlm(h.value)) {
            offers_ntlm = true;
        }
    }
    EXPECT_TRUE(offers_ntlm);
    auto challenged = c.post(fake.ews_url(), body,
                             {{"Authorization", ntlm::authorization_value(ntlm::negotiate_message())}},
                             &ch);
    EXPECT_TRUE(challenged);
    if (!challenged) return 0;
    EXPECT_EQ(challenged->status, 401);
    const auto token = ntlm::token_from_header(challenged->find("WWW-Authenticate").value_or(""));
    EXPECT_TRUE(token);
    if (!token) return 0;
    std::string error;
    const auto challenge = ntlm::parse_challenge(*token, error);
    EXPECT_TRUE(challenge) << error;
    if (!challenge) return 0;
    EXPECT_EQ(challenge->nb_domain_name, "CONTOSO");
    EXPECT_TRUE(challenge->timestamp.has_value());
    const auto creds = ntlm::split_account("CONTOSO\\svc-agendad", password);
    const std::array<std::uint8_t, 8> client_challenge{1, 2, 3, 4, 5, 6, 7, 8};
    const std::string type3 = ntlm::authenticate_message(*challenge, creds, client_challenge,
                                                         *challenge->timestamp);
    auto done = c.post(fake.ews_url(), body, {{"Authorization", ntlm::authorization_value(type3)}},
                       &ch);
    EXPECT_TRUE(done);
    return done ? done->status : 0;
}

TEST(FakeEws, NtlmAuthenticatesTheConnectionOnly) {
    auto o = quick_options();
    o.auth = fake_ews::auth_scheme::ntlm;
    fake_ews fake(o);
    caller c(fake);
    ah::channel ch;
    EXPECT_EQ(ntlm_login(c, fake, ch, "test-password", soap(sync_body(""))), 200);
    EXPECT_EQ(fake.ntlm_handshakes(), 1);
    // The same connection needs no Authorization any more.
    auto again = c.post(fake.ews_url(), soap(sync_body("")), {}, &ch);
    ASSERT_TRUE(again);
    EXPECT_TRUE(ch.reused());
    EXPECT_EQ(again->status, 200);
    // A new connection starts over.
    ah::channel other;
    auto fresh = c.post(fake.ews_url(), soap(sync_body("")), {}, &other);
    ASSERT_TRUE(fresh);
    EXPECT_EQ(fresh->status, 401);
}

TEST(FakeEws, NtlmRefusesAWrongPassword) {
    auto o = quick_options();
    o.auth = fake_ews::auth_scheme::ntlm;
    fake_ews fake(o);
    caller c(fake);
    ah::channel ch;
    EXPECT_EQ(ntlm_login(c, fake, ch, "wrong-password", soap(sync_body(""))), 401);
    EXPECT_EQ(fake.ntlm_handshakes(), 0);
}

// --- impersonation ------------------------------------------------------------------------------

TEST(FakeEws, ImpersonationNeedsAGrant) {
    fake_ews fake(quick_options());
    fake.add_mailbox(owner);
    fake.add_mailbox("raj.patel@contoso.example");
    fake.grant_impersonation(owner);
    fake.add_item(owner, simple_item("Board meeting"));
    caller c(fake);

    auto headers = basic();
    headers.push_back({"X-AnchorMailbox", owner});
    auto granted = c.post(fake.ews_url(), soap(sync_body(""), owner), headers);
    ASSERT_TRUE(granted);
    ASSERT_EQ(granted->status, 200) << granted->body;
    EXPECT_EQ(read_sync(granted->body).changes.size(), 1u);

    auto ungranted =
        c.post(fake.ews_url(), soap(sync_body(""), "raj.patel@contoso.example"), basic());
    ASSERT_TRUE(ungranted);
    EXPECT_EQ(ungranted->status, 500);
    EXPECT_EQ(fault_code(ungranted->body), "ErrorImpersonateUserDenied");

    auto unknown = c.post(fake.ews_url(), soap(sync_body(""), "nobody@contoso.example"), basic());
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 500);
    EXPECT_EQ(fault_code(unknown->body), "ErrorNonExistentMailbox");

    fake.deny(owner, 403);
    auto denied = c.post(fake.ews_url(), soap(sync_body(""), owner), basic());
    ASSERT_TRUE(denied);
    EXPECT_EQ(denied->status, 403);

    const auto records = fake.requests();
    ASSERT_EQ(records.size(), 4u);
    EXPECT_EQ(records[0].mailbox, owner);
    EXPECT_TRUE(records[0].impersonated);
    EXPECT_EQ(records[0].anchor_mailbox, owner);
    EXPECT_EQ(records[1].anchor_mailbox, "");
}

// --- SyncFolderItems ------------------------------------------------------------------------------

TEST(FakeEws, SyncPagesThroughChangesAndRefusesUnknownStates) {
    auto o = quick_options();
    o.page_size = 2;
    fake_ews fake(o);
    fake.grant_impersonation(owner);
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(fake.add_item(owner, simple_item("m" + std::to_string(i))));
    for (const auto& id : ids) EXPECT_EQ(id.rfind("AAMkAD", 0), 0u) << id;
    caller c(fake);

    std::string state;
    std::vector<std::string> seen;
    std::vector<bool> lasts;
    for (int call = 0; call < 5; ++call) {
        auto r = c.post(fake.ews_url(), soap(sync_body(state), owner), basic());
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 200) << r->body;
        const auto page = read_sync(r->body);
        for (const auto& [kind, id] : page.changes) {
            EXPECT_EQ(kind, "Create");
            seen.push_back(id);
        }
        state = page.state;
        lasts.push_back(page.last);
        if (page.last) break;
    }
    EXPECT_EQ(lasts, (std::vector<bool>{false, false, true}));
    EXPECT_EQ(seen, ids);

    // Changes since the state, in order.
    fake.update_item(owner, ids[3], simple_item("moved"));
    fake.remove_item(owner, ids[1]);
    auto r = c.post(fake.ews_url(), soap(sync_body(state), owner), basic());
    ASSERT_TRUE(r);
    const auto page = read_sync(r->body);
    ASSERT_EQ(page.changes.size(), 2u);
    EXPECT_EQ(page.changes[0], std::make_pair(std::string("Update"), ids[3]));
    EXPECT_EQ(page.changes[1], std::make_pair(std::string("Delete"), ids[1]));
    EXPECT_TRUE(page.last);

    // Nothing new: an empty page, still a state.
    auto idle = c.post(fake.ews_url(), soap(sync_body(page.state), owner), basic());
    ASSERT_TRUE(idle);
    EXPECT_TRUE(read_sync(idle->body).changes.empty());

    auto bogus = c.post(fake.ews_url(), soap(sync_body("H4sIAAAAbogus"), owner), basic());
    ASSERT_TRUE(bogus);
    EXPECT_EQ(bogus->status, 200);
    const auto p = parse(bogus->body);
    EXPECT_EQ(text(first(p->root, ns_m, "ResponseCode")), "ErrorInvalidSyncStateData");

    fake.expire_sync_states();
    auto expired = c.post(fake.ews_url(), soap(sync_body(page.state), owner), basic());
    ASSERT_TRUE(expired);
    const auto e = parse(expired->body);
    EXPECT_EQ(text(first(e->root, ns_m, "ResponseCode")), "ErrorInvalidSyncStateData");
}

// --- GetItem ---------------------------------------------------------------------------------------

TEST(FakeEws, GetItemAnswersEachIdInOrder) {
    fake_ews fake(quick_options());
    fake.grant_impersonation(owner);
    const auto a = fake.add_item(owner, simple_item("First"));
    const auto b = fake.add_item(owner, simple_item("Second"));
    caller c(fake);
    auto r = c.post(fake.ews_url(), soap(get_item_body({b, "AAMkADnope", a}), owner), basic());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const auto p = parse(r->body);
    const auto messages = all(p->root, ns_m, "GetItemResponseMessage");
    ASSERT_EQ(messages.size(), 3u);
    EXPECT_EQ(text(first(messages[0], ns_t, "Subject")), "Second");
    EXPECT_EQ(text(first(messages[1], ns_m, "ResponseCode")), "ErrorItemNotFound");
    EXPECT_EQ(text(first(messages[2], ns_t, "Subject")), "First");
    EXPECT_EQ(std::string(first(messages[2], ns_t, "ItemId").attribute("ChangeKey").value()),
              fake.item(owner, a)->change_key);
    EXPECT_EQ(fake.requests().back().field_uris,
              (std::vector<std::string>{"item:Subject", "calendar:Organizer"}));

    // Not schema-shaped: no ItemShape.
    auto bad = c.post(fake.ews_url(),
                      soap("<m:GetItem><m:ItemIds><t:ItemId Id=\"" + a +
                               "\"/></m:ItemIds></m:GetItem>",
                           owner),
                      basic());
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 500);
    EXPECT_EQ(fault_code(bad->body), "ErrorSchemaValidation");
}

// --- CreateItem ------------------------------------------------------------------------------------

TEST(FakeEws, DeclineRemovesAndAcceptUpdates) {
    auto o = quick_options();
    o.decline_removes = true;
    fake_ews fake(o);
    fake.grant_impersonation(owner);
    const auto a = fake.add_item(owner, simple_item("Vendor pitch"));
    const auto b = fake.add_item(owner, simple_item("Board meeting"));
    caller c(fake);
    auto start = c.post(fake.ews_url(), soap(sync_body(""), owner), basic());
    ASSERT_TRUE(start);
    const std::string state = read_sync(start->body).state;

    const auto before = fake.item(owner, a)->change_key;
    auto declined = c.post(
        fake.ews_url(), soap(respond_body("DeclineItem", a, before, "SendAndSaveCopy"), owner),
        basic());
    ASSERT_TRUE(declined);
    ASSERT_EQ(declined->status, 200);
    const auto dp = parse(declined->body);
    EXPECT_EQ(text(first(dp->root, ns_m, "ResponseCode")), "NoError") << declined->body;
    EXPECT_FALSE(fake.item(owner, a).has_value());

    const auto b_key = fake.item(owner, b)->change_key;
    auto accepted = c.post(fake.ews_url(),
                           soap(respond_body("AcceptItem", b, b_key, "SaveOnly"), owner), basic());
    ASSERT_TRUE(accepted);
    const auto ap = parse(accepted->body);
    EXPECT_EQ(text(first(ap->root, ns_m, "ResponseCode")), "NoError");
    EXPECT_EQ(fake.item(owner, b)->my_response_type, "Accept");
    EXPECT_NE(fake.item(owner, b)->change_key, b_key);

    auto sync = c.post(fake.ews_url(), soap(sync_body(state), owner), basic());
    ASSERT_TRUE(sync);
    const auto page = read_sync(sync->body);
    ASSERT_EQ(page.changes.size(), 2u);
    EXPECT_EQ(page.changes[0], std::make_pair(std::string("Delete"), a));
    EXPECT_EQ(page.changes[1], std::make_pair(std::string("Update"), b));

    const auto calls = fake.responses();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0].mailbox, owner);
    EXPECT_EQ(calls[0].item_id, a);
    EXPECT_EQ(calls[0].kind, "DeclineItem");
    EXPECT_EQ(calls[0].disposition, "SendAndSaveCopy");
    EXPECT_EQ(calls[0].body, "No agenda, no meeting.");
    EXPECT_EQ(calls[0].body_type, "Text");
    EXPECT_EQ(calls[1].kind, "AcceptItem");
}

TEST(FakeEws, StaleChangeKeyIsRefused) {
    fake_ews fake(quick_options());
    fake.grant_impersonation(owner);
    const auto a = fake.add_item(owner, simple_item("Vendor pitch"));
    const auto key = fake.item(owner, a)->change_key;
    EXPECT_EQ(key.rfind("DwAAABYAAA", 0), 0u) << key;
    fake.stale_change_keys();
    caller c(fake);
    auto r = c.post(fake.ews_url(),
                    soap(respond_body("DeclineItem", a, key, "SendAndSaveCopy"), owner), basic());
    ASSERT_TRUE(r);
    const auto p = parse(r->body);
    EXPECT_EQ(text(first(p->root, ns_m, "ResponseCode")), "ErrorIrresolvableConflict");
    EXPECT_EQ(fake.item(owner, a)->my_response_type, "NoResponseReceived");
    EXPECT_TRUE(fake.responses().empty());
}

// --- faults -------------------------------------------------------------------------------------

TEST(FakeEws, ServerBusyHasTheDocumentedShape) {
    fake_ews fake(quick_options());
    fake_ews::fault f;
    f.back_off = 1234ms;
    fake.fail_next("GetItem", f);
    caller c(fake);
    // Another operation is not affected.
    auto sync = c.post(fake.ews_url(), soap(sync_body("")), basic());
    ASSERT_TRUE(sync);
    EXPECT_EQ(sync->status, 200);
    auto busy = c.post(fake.ews_url(), soap(get_item_body({"AAMkADx"})), basic());
    ASSERT_TRUE(busy);
    EXPECT_EQ(busy->status, 500);
    const auto p = parse(busy->body);
    const auto fault = first(p->root, ns_soap, "Fault");
    ASSERT_TRUE(fault);
    EXPECT_EQ(text(xml::child(fault, "", "faultcode")), "a:ErrorServerBusy");
    EXPECT_EQ(text(first(fault, ns_e, "ResponseCode")), "ErrorServerBusy");
    const auto value = first(first(fault, ns_t, "MessageXml"), ns_t, "Value");
    EXPECT_EQ(std::string(value.attribute("Name").value()), "BackOffMilliseconds");
    EXPECT_EQ(text(value), "1234");
    auto after = c.post(fake.ews_url(), soap(get_item_body({"AAMkADx"})), basic());
    ASSERT_TRUE(after);
    EXPECT_EQ(after->status, 200);
}

TEST(FakeEws, ResetAndStatusFaults) {
    fake_ews fake(quick_options());
    fake_ews::fault reset;
    reset.what = fake_ews::fault::kind::reset;
    fake.fail_next("", reset);
    fake_ews::fault status;
    status.what = fake_ews::fault::kind::http_status;
    status.status = 503;
    fake.fail_next("SyncFolderItems", status);
    caller c(fake);
    auto cut = c.post(fake.ews_url(), soap(sync_body("")), basic());
    EXPECT_FALSE(cut);
    auto unavailable = c.post(fake.ews_url(), soap(sync_body("")), basic());
    ASSERT_TRUE(unavailable);
    EXPECT_EQ(unavailable->status, 503);
    EXPECT_EQ(fake.requests().front().status, 0);
}

TEST(FakeEws, UnknownOperationsAndOversizedBodies) {
    fake_ews fake(quick_options());
    caller c(fake);
    auto r = c.post(fake.ews_url(), soap("<m:FindFolder/>"), basic());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(fault_code(r->body), "ErrorInvalidRequest");
    auto big = c.post(fake.ews_url(), std::string((std::size_t{1} << 20) + 10, 'x'), basic());
    ASSERT_TRUE(big);
    EXPECT_EQ(big->status, 413);
}

TEST(FakeEws, AutodiscoverNamesTheEwsUrl) {
    fake_ews fake(quick_options());
    fake.add_mailbox(owner, "Dana Whitfield");
    caller c(fake);
    const std::string request =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Autodiscover xmlns=\"http://schemas."
        "microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request>"
        "<EMailAddress>Dana.Whitfield@contoso.example</EMailAddress><AcceptableResponseSchema>"
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
        "</AcceptableResponseSchema></Request></Autodiscover>";
    auto r = c.post(fake.autodiscover_url(), request, basic());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    const auto p = parse(r->body);
    const std::string_view outlook =
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
    std::set<std::string> urls;
    for (auto protocol : all(p->root, outlook, "Protocol")) {
        urls.insert(text(xml::child(protocol, outlook, "EwsUrl")));
    }
    EXPECT_EQ(urls, (std::set<std::string>{fake.ews_url()}));
    EXPECT_EQ(fake.requests().back().operation, "Autodiscover");

    auto unknown = c.post(fake.autodiscover_url(),
                          "<Autodiscover><Request><EMailAddress>x@y.example</EMailAddress>"
                          "</Request></Autodiscover>",
                          basic());
    ASSERT_TRUE(unknown);
    EXPECT_NE(unknown->body.find("<ErrorCode>500</ErrorCode>"), std::string::npos);
}

// --- streaming ------------------------------------------------------------------------------------

// A raw HTTPS reader for the long-lived GetStreamingEvents response: everything received, as is.
class stream_reader {
  public:
    stream_reader(const fake_ews& fake, const std::string& body) : tls_(ssl::context::tls_client),
                                                                   stream_(io_, tls_) {
        tls_.load_verify_file(fake.ca_file().string());
        stream_.set_verify_mode(ssl::verify_peer);
        asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), fake.port());
        stream_.lowest_layer().connect(ep);
        stream_.handshake(ssl::stream_base::client);
        const std::string request =
            "POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; "
            "charset=utf-8\r\nAuthorization: " +
            ah::basic_authorization("svc-agendad", "test-password") +
            "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
        asio::write(stream_, asio::buffer(request));
    }

    // Reads until `what` has arrived (true) or `limit` passed or the connection ended (false).
    bool wait_for(const std::string& what, std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (received.find(what, searched_) == std::string::npos) {
            const auto left = deadline - std::chrono::steady_clock::now();
            if (left <= 0ms || ended) return false;
            read_some(std::chrono::duration_cast<std::chrono::milliseconds>(left));
        }
        return true;
    }
    // Reads until the server closes the connection or `limit` passes.
    void wait_for_end(std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!ended) {
            const auto left = deadline - std::chrono::steady_clock::now();
            if (left <= 0ms) return;
            read_some(std::chrono::duration_cast<std::chrono::milliseconds>(left));
        }
    }
    // Skips what has been looked at so far in later wait_for calls.
    void mark() { searched_ = received.size(); }

    std::string received;
    bool ended = false;

  private:
    void read_some(std::chrono::milliseconds limit) {
        char buf[4096];
        bool done = false;
        boost::system::error_code error;
        std::size_t n = 0;
        stream_.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, std::size_t k) {
            error = ec;
            n = k;
            done = true;
        });
        io_.restart();
        io_.run_for(limit);
        if (!done) {
            stream_.lowest_layer().cancel();
            io_.restart();
            io_.run();
            return;
        }
        if (error) {
            ended = true;
            return;
        }
        received.append(buf, n);
    }

    asio::io_context io_;
    ssl::context tls_;
    ssl::stream<asio::ip::tcp::socket> stream_;
    std::size_t searched_ = 0;
};

std::string subscribe(caller& c, const fake_ews& fake) {
    auto r = c.post(fake.ews_url(),
                    soap("<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds>"
                         "<t:DistinguishedFolderId Id=\"calendar\"/></t:FolderIds><t:EventTypes>"
                         "<t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent"
                         "</t:EventType><t:EventType>DeletedEvent</t:EventType></t:EventTypes>"
                         "</m:StreamingSubscriptionRequest></m:Subscribe>",
                         owner),
                    basic());
    if (!r || r->status != 200) return {};
    const auto p = parse(r->body);
    return text(first(p->root, ns_m, "SubscriptionId"));
}

std::string streaming_body(const std::string& id, int minutes = 1) {
    return soap("<m:GetStreamingEvents><m:SubscriptionIds><t:SubscriptionId>" + id +
                    "</t:SubscriptionId></m:SubscriptionIds><m:ConnectionTimeout>" +
                    std::to_string(minutes) + "</m:ConnectionTimeout></m:GetStreamingEvents>",
                owner);
}

bool wait_until(const std::function<bool()>& ok, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!ok()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

TEST(FakeEws, StreamingDeliversEventsKeepAlivesAndCloses) {
    fake_ews fake(quick_options());
    fake.grant_impersonation(owner);
    caller c(fake);
    const std::string id = subscribe(c, fake);
    ASSERT_FALSE(id.empty());
    ASSERT_EQ(fake.subscriptions().size(), 1u);

    stream_reader reader(fake, streaming_body(id));
    ASSERT_TRUE(wait_until([&] { return fake.open_streams() == 1; }, 2s));
    const auto added = std::chrono::steady_clock::now();
    const auto item = fake.add_item(owner, simple_item("New invitation"));
    ASSERT_TRUE(reader.wait_for("</t:CreatedEvent>", 2s)) << reader.received;
    EXPECT_LT(std::chrono::steady_clock::now() - added, 2s);
    EXPECT_NE(reader.received.find("Transfer-Encoding: chunked"), std::string::npos);
    // The envelope is whole and names the item.
    const auto begin = reader.received.find("<?xml");
    const auto end = reader.received.find("</s:Envelope>", begin);
    ASSERT_NE(end, std::string::npos);
    const auto p = parse(reader.received.substr(begin, end + 13 - begin));
    const auto created = first(p->root, ns_t, "CreatedEvent");
    EXPECT_EQ(std::string(first(created, ns_t, "ItemId").attribute("Id").value()), item);
    EXPECT_TRUE(first(created, ns_t, "ParentFolderId"));
    EXPECT_EQ(text(first(p->root, ns_t, "SubscriptionId")), id);

    EXPECT_TRUE(reader.wait_for("<m:ConnectionStatus>OK</m:ConnectionStatus>", 2s));
    reader.mark();
    EXPECT_TRUE(reader.wait_for("<m:ConnectionStatus>Closed</m:ConnectionStatus>", 3s))
        << reader.received;
    EXPECT_TRUE(reader.wait_for("\r\n0\r\n\r\n", 1s));  // the last chunk ends the response
    ASSERT_TRUE(wait_until([&] { return fake.open_streams() == 0; }, 2s));

    auto gone = c.post(fake.ews_url(),
                       soap("<m:Unsubscribe><m:SubscriptionId>" + id +
                                "</m:SubscriptionId></m:Unsubscribe>",
                            owner),
                       basic());
    ASSERT_TRUE(gone);
    EXPECT_EQ(text(first(parse(gone->body)->root, ns_m, "ResponseCode")), "NoError");
    auto after = c.post(fake.ews_url(), streaming_body(id), basic());
    ASSERT_TRUE(after);
    EXPECT_EQ(text(first(parse(after->body)->root, ns_m, "ResponseCode")),
              "ErrorSubscriptionNotFound");
}

TEST(FakeEws, DropStreamsCutsWithoutClosing) {
    fake_ews fake(quick_options());
    fake.grant_impersonation(owner);
    caller c(fake);
    const std::string id = subscribe(c, fake);
    ASSERT_FALSE(id.empty());
    stream_reader reader(fake, streaming_body(id, 30));
    ASSERT_TRUE(wait_until([&] { return fake.open_streams() == 1; }, 2s));
    fake.drop_streams();
    reader.wait_for_end(2s);
    EXPECT_TRUE(reader.ended);
    EXPECT_EQ(reader.received.find("Closed"), std::string::npos);
}

// --- ews_calendar_items ----------------------------------------------------------------------------

// RFC 5545 unfolding, lines ending in LF.
std::string unfold(const std::string& ics) {
    std::string unfolded;
    for (std::size_t i = 0; i < ics.size(); ++i) {
        if (ics[i] == '\r') continue;
        if (ics[i] == '\n' && i + 1 < ics.size() && (ics[i + 1] == ' ' || ics[i + 1] == '\t')) {
            ++i;
            continue;
        }
        unfolded += ics[i];
    }
    return unfolded;
}

// The owner's PARTSTAT in an invitation's text ("" when the owner is not listed).
std::string owner_partstat(const std::string& ics) {
    const std::string unfolded = unfold(ics);
    std::size_t pos = 0;
    while ((pos = unfolded.find("\nATTENDEE", pos)) != std::string::npos) {
        const auto end = unfolded.find('\n', pos + 1);
        const std::string line = enc::lower(unfolded.substr(pos, end - pos));
        pos = end;
        if (line.find(std::string("mailto:") + owner) == std::string::npos) continue;
        const auto p = line.find("partstat=");
        if (p == std::string::npos) return "needs-action";
        return line.substr(p + 9, line.find_first_of(";:", p) - p - 9);
    }
    return {};
}

TEST(EwsCalendarItems, EveryLabelledInvitationBecomesAnItem) {
    const auto folder = std::filesystem::path(AGENDAD_SHARED_DIR) / "labeled-invitations/invites";
    ASSERT_TRUE(std::filesystem::is_directory(folder)) << folder;
    fake_ews fake(quick_options());
    int files = 0;
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
        if (entry.path().extension() != ".ics") continue;
        ++files;
        const std::string ics = read_file(entry.path());
        const auto items = ews_calendar_items_from_file(entry.path(), owner);
        ASSERT_FALSE(items.empty()) << entry.path();
        const auto& item = items.front();
        const auto p = parse(item.xml);
        ASSERT_TRUE(xml::is(p->root, ns_t, "CalendarItem")) << entry.path();
        const std::string organizer =
            text(first(xml::child(p->root, ns_t, "Organizer"), ns_t, "EmailAddress"));
        EXPECT_FALSE(organizer.empty()) << entry.path();
        const std::string text_lower = enc::lower(unfold(ics));
        const auto organizer_line = text_lower.find("\norganizer");
        ASSERT_NE(organizer_line, std::string::npos) << entry.path();
        const std::string line =
            text_lower.substr(organizer_line, text_lower.find('\n', organizer_line + 1) - organizer_line);
        EXPECT_NE(line.find(":mailto:" + organizer), std::string::npos) << entry.path();
        const std::string mine = text(xml::child(p->root, ns_t, "MyResponseType"));
        const std::string partstat = owner_partstat(ics);
        const std::string expected = organizer == owner         ? "Organizer"
                                     : partstat == "accepted"  ? "Accept"
                                     : partstat == "declined"  ? "Decline"
                                     : partstat == "tentative" ? "Tentative"
                                                               : "NoResponseReceived";
        EXPECT_EQ(mine, expected) << entry.path();
        EXPECT_EQ(text(xml::child(p->root, ns_t, "UID")), item.uid);
        // The fake takes it as it is.
        const auto id = fake.add_item(owner, item.xml);
        EXPECT_EQ(fake.item(owner, id)->my_response_type, expected);
    }
    EXPECT_GE(files, 30);
}

TEST(EwsCalendarItems, RecurrenceAndZonesAsExchangeWritesThem) {
    const auto file = std::filesystem::path(AGENDAD_SHARED_DIR) / "labeled-invitations/calendar.ics";
    const auto items = ews_calendar_items_from_file(file, owner);
    bool weekly = false;
    for (const auto& item : items) {
        const auto p = parse(item.xml);
        EXPECT_EQ(std::string(xml::child(p->root, ns_t, "StartTimeZone").attribute("Id").value()),
                  "Pacific Standard Time");
        const auto rec = xml::child(p->root, ns_t, "Recurrence");
        if (!rec) continue;
        EXPECT_EQ(text(xml::child(p->root, ns_t, "CalendarItemType")), "RecurringMaster");
        const auto w = xml::child(rec, ns_t, "WeeklyRecurrence");
        if (w && text(xml::child(w, ns_t, "DaysOfWeek")) == "Monday") {
            weekly = true;
            EXPECT_EQ(text(first(rec, ns_t, "StartDate")), "2026-01-05");
            EXPECT_TRUE(xml::child(rec, ns_t, "NoEndRecurrence"));
        }
    }
    EXPECT_TRUE(weekly);
}

TEST(EwsCalendarItems, HtmlBodyCancellationAndErrors) {
    const std::string ics =
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:CANCEL\r\nBEGIN:VEVENT\r\nUID:u-1\r\n"
        "DTSTAMP:20261120T080000Z\r\nDTSTART:20261124T180000Z\r\nDTEND:20261124T183000Z\r\n"
        "SUMMARY:Sync\r\nDESCRIPTION:plain\r\nX-ALT-DESC;FMTTYPE=text/html:<p>Agenda</p>\r\n"
        "ORGANIZER;CN=Ann:mailto:ann@vendor.example\r\nATTENDEE;PARTSTAT=TENTATIVE;ROLE=OPT-"
        "PARTICIPANT:mailto:dana.whitfield@contoso.example\r\nRRULE:FREQ=MONTHLY;BYDAY=2TU\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n";
    const auto items = ews_calendar_items_from_ics(ics, "cancel.ics", owner);
    ASSERT_EQ(items.size(), 1u);
    const auto p = parse(items[0].xml);
    const auto body = xml::child(p->root, ns_t, "Body");
    EXPECT_EQ(std::string(body.attribute("BodyType").value()), "HTML");
    EXPECT_EQ(xml::text_of(body), "<p>Agenda</p>");
    EXPECT_EQ(text(xml::child(p->root, ns_t, "IsCancelled")), "true");
    EXPECT_EQ(text(xml::child(p->root, ns_t, "MyResponseType")), "Tentative");
    EXPECT_EQ(text(xml::child(p->root, ns_t, "DateTimeReceived")), "2026-11-20T08:00:00Z");
    EXPECT_TRUE(first(xml::child(p->root, ns_t, "OptionalAttendees"), ns_t, "Attendee"));
    const auto monthly = first(p->root, ns_t, "RelativeMonthlyRecurrence");
    EXPECT_EQ(text(xml::child(monthly, ns_t, "DaysOfWeek")), "Tuesday");
    EXPECT_EQ(text(xml::child(monthly, ns_t, "DayOfWeekIndex")), "Second");
    EXPECT_EQ(std::string(xml::child(p->root, ns_t, "StartTimeZone").attribute("Id").value()),
              "UTC");

    try {
        ews_calendar_items_from_ics("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "broken.ics", owner);
        ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("broken.ics"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace agendad::test_support
