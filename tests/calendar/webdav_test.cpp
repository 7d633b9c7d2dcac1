// Tests for calendar/caldav/webdav: the request bodies, read back with pugixml and a namespace
// resolver of the test's own, compared with the requests recorded against Radicale and printed
// in RFC 4791; the multistatus parser on Radicale's recorded answers, the RFC 4791/6578
// examples and hand-written bodies, including hostile ones (DTDs, entities, depth, size).
#include "calendar/caldav/webdav.h"
#include "support/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <pugixml.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agendad::calendar::caldav {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

const fs::path corpus = fs::path(AGENDAD_SHARED_DIR) / "corpus";
const fs::path radicale = corpus / "radicale-3.1.8-recorded";
constexpr std::string_view dav = "DAV:";
constexpr std::string_view caldav = "urn:ietf:params:xml:ns:caldav";

std::string read(const fs::path& path) {
    std::string text = test_support::read_file(path);
    EXPECT_FALSE(text.empty()) << "cannot read " << path;
    return text;
}

// The XML body of a recorded HTTP message: from its XML declaration on (the RFC extracts do
// not always keep the empty line after the headers).
std::string http_body(std::string_view message) {
    const auto at = message.find("<?xml");
    EXPECT_NE(at, std::string_view::npos) << "no XML body in\n" << message;
    return at == std::string_view::npos ? std::string() : std::string(message.substr(at));
}

multistatus parse_ok(std::string_view xml) {
    auto parsed = parse_multistatus(xml);
    EXPECT_TRUE(parsed.has_value()) << (parsed ? "" : parsed.error());
    return parsed ? *parsed : multistatus{};
}

std::string parse_error(std::string_view xml, std::size_t max_bytes = std::size_t{64} << 20) {
    auto parsed = parse_multistatus(xml, max_bytes);
    EXPECT_FALSE(parsed.has_value()) << "parsed although it should not";
    return parsed ? std::string() : parsed.error();
}

std::vector<std::string> hrefs_of(const multistatus& ms) {
    std::vector<std::string> out;
    for (const auto& r : ms.responses) out.push_back(r.href);
    return out;
}

std::vector<int> statuses_of(const multistatus& ms) {
    std::vector<int> out;
    for (const auto& r : ms.responses) out.push_back(r.status);
    return out;
}

// ---------------------------------------------------------------------------------------------
// An XML reader of the test's own, to read the request bodies back: pugixml plus namespaces.

std::string_view ns_of(pugi::xml_node n) {
    const std::string name = n.name();
    const auto colon = name.find(':');
    const std::string attribute =
        colon == std::string::npos ? "xmlns"s : "xmlns:" + name.substr(0, colon);
    for (; n.type() == pugi::node_element; n = n.parent()) {
        if (auto a = n.attribute(attribute.c_str())) return a.value();
    }
    return {};
}

std::string local_of(pugi::xml_node n) {
    const std::string name = n.name();
    const auto colon = name.find(':');
    return colon == std::string::npos ? name : name.substr(colon + 1);
}

// "{DAV:}sync-collection({DAV:}sync-token[],{DAV:}sync-level[1],...)": the element tree with
// namespaces resolved, text in brackets, whitespace-only text left out.
std::string shape(pugi::xml_node n) {
    std::string out = "{" + std::string(ns_of(n)) + "}" + local_of(n);
    std::string text, children;
    for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
        if (c.type() == pugi::node_element) {
            if (!children.empty()) children += ",";
            children += shape(c);
        } else if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
            text += c.value();
        }
    }
    if (text.find_first_not_of(" \t\r\n") != std::string::npos) out += "[" + text + "]";
    if (!children.empty()) out += "(" + children + ")";
    return out;
}

struct read_back {
    pugi::xml_document doc;
    pugi::xml_node root;
};

// Parses a request body as a server would; fails the test when it is not well-formed (or, for
// ours, does not declare itself as UTF-8 XML).
void read_request(std::string_view body, read_back& out, bool ours = true) {
    if (ours) {
        EXPECT_THAT(std::string(body), StartsWith("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
    }
    const auto parsed =
        out.doc.load_buffer(body.data(), body.size(), pugi::parse_default | pugi::parse_declaration,
                            pugi::encoding_utf8);
    ASSERT_TRUE(parsed) << parsed.description() << " at " << parsed.offset << " in\n" << body;
    out.root = out.doc.document_element();
}

std::string request_shape(std::string_view body, bool ours = true) {
    read_back r;
    read_request(body, r, ours);
    return r.root ? shape(r.root) : std::string();
}

// The children of a PROPFIND's DAV:prop as {namespace}name, in order.
std::vector<std::string> propfind_properties(std::string_view body) {
    read_back r;
    read_request(body, r);
    std::vector<std::string> out;
    EXPECT_EQ(ns_of(r.root), dav);
    EXPECT_EQ(local_of(r.root), "propfind");
    pugi::xml_node prop = r.root.first_child();
    EXPECT_EQ(local_of(prop), "prop");
    EXPECT_EQ(ns_of(prop), dav);
    EXPECT_FALSE(prop.next_sibling()) << "DAV:propfind holds one DAV:prop";
    for (pugi::xml_node p = prop.first_child(); p; p = p.next_sibling()) {
        EXPECT_FALSE(p.first_child()) << "a PROPFIND names properties, empty: " << p.name();
        out.push_back("{" + std::string(ns_of(p)) + "}" + local_of(p));
    }
    return out;
}

// Bytes that are well-formed UTF-8 (the bodies must be).
bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        std::size_t n = c < 0x80         ? 1
                        : (c >> 5) == 6  ? 2
                        : (c >> 4) == 14 ? 3
                        : (c >> 3) == 30 ? 4
                                         : 0;
        if (n == 0 || i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
        }
        i += n;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Request bodies

TEST(webdav_bodies, propfind_discovery_asks_for_the_discovery_properties) {
    EXPECT_THAT(propfind_properties(propfind_discovery_body()),
                ElementsAre("{DAV:}current-user-principal", "{DAV:}resourcetype",
                            "{urn:ietf:params:xml:ns:caldav}calendar-home-set", "{DAV:}displayname",
                            "{urn:ietf:params:xml:ns:caldav}supported-calendar-component-set",
                            "{DAV:}sync-token"));
}

TEST(webdav_bodies, propfind_calendars_asks_for_type_name_and_components) {
    EXPECT_THAT(propfind_properties(propfind_calendars_body()),
                ElementsAre("{DAV:}resourcetype", "{DAV:}displayname",
                            "{urn:ietf:params:xml:ns:caldav}supported-calendar-component-set"));
}

TEST(webdav_bodies, propfind_etags_asks_for_etag_and_type) {
    EXPECT_THAT(propfind_properties(propfind_etags_body()),
                ElementsAre("{DAV:}getetag", "{DAV:}resourcetype"));
}

TEST(webdav_bodies, initial_sync_has_an_empty_sync_token_as_rfc_6578_wants) {
    const std::string body = sync_collection_body("");
    EXPECT_EQ(request_shape(body),
              "{DAV:}sync-collection({DAV:}sync-token,{DAV:}sync-level[1],"
              "{DAV:}prop({DAV:}getetag))");
    read_back r;
    read_request(body, r);
    pugi::xml_node token = r.root.first_child();
    EXPECT_EQ(local_of(token), "sync-token");
    EXPECT_FALSE(token.first_child()) << "the initial sync-token element is empty";
}

TEST(webdav_bodies, sync_bodies_have_the_shape_of_the_requests_radicale_answered) {
    // 08: initial sync; 11: incremental with the token 08 returned.
    const std::string initial = http_body(read(radicale / "08-sync-initial.request.txt"));
    EXPECT_EQ(request_shape(sync_collection_body("")), request_shape(initial, false));
    const std::string token =
        "http://radicale.org/ns/sync/"
        "5b87d5a2bca9afed6c65f3bbcefae8b75006b537b0573d6ec17055b8c0d81610";
    const std::string incremental =
        http_body(read(radicale / "11-sync-incremental-after-update.request.txt"));
    EXPECT_EQ(request_shape(sync_collection_body(token)), request_shape(incremental, false));
}

TEST(webdav_bodies, sync_token_is_escaped_and_reads_back_unchanged) {
    const std::string token = "http://example.com/ns/sync/1?a=1&b=<2>&c=\"3\"&d='4'";
    const std::string body = sync_collection_body(token);
    EXPECT_THAT(body, Not(HasSubstr("&b=<2>")));
    read_back r;
    read_request(body, r);
    EXPECT_EQ(std::string(r.root.first_child().child_value()), token);
}

TEST(webdav_bodies, bytes_xml_cannot_carry_are_percent_encoded) {
    const std::string token =
        "tok\x01"
        "en\x7F\xFF\xC3\xA9";  // controls, a stray byte, "é"
    const std::string body = sync_collection_body(token);
    EXPECT_TRUE(valid_utf8(body));
    read_back r;
    read_request(body, r);
    EXPECT_EQ(std::string(r.root.first_child().child_value()), "tok%01en%7F%FF\xC3\xA9");
}

TEST(webdav_bodies, multiget_has_the_shape_of_rfc_4791_and_radicale_requests) {
    const std::string rfc =
        http_body(read(corpus / "rfc-examples" / "rfc4791.s7.9.1.28.request.txt"));
    EXPECT_EQ(request_shape(multiget_body({"/bernard/work/abcd1.ics", "/bernard/work/mtg1.ics"})),
              request_shape(rfc, false));
    const std::string recorded = http_body(read(radicale / "16-calendar-multiget.request.txt"));
    EXPECT_EQ(request_shape(multiget_body({"/alice/work/rec-1.ics", "/alice/work/missing.ics"})),
              request_shape(recorded, false));
}

TEST(webdav_bodies, multiget_hrefs_are_escaped_and_kept_in_order) {
    const std::vector<std::string> hrefs = {"/cal/a&b.ics", "/cal/<x>.ics", "/cal/\"q\"'s.ics",
                                            "/cal/caf\xC3\xA9.ics", "/cal/a&amp;b.ics"};
    read_back r;
    read_request(multiget_body(hrefs), r);
    EXPECT_EQ(local_of(r.root), "calendar-multiget");
    EXPECT_EQ(ns_of(r.root), caldav);
    std::vector<std::string> read;
    for (pugi::xml_node c = r.root.first_child(); c; c = c.next_sibling()) {
        if (local_of(c) == "href" && ns_of(c) == dav) read.emplace_back(c.child_value());
    }
    EXPECT_EQ(read, hrefs);
}

TEST(webdav_bodies, bodies_are_what_this_parser_refuses_as_multistatus) {
    // A request body is no answer: the parser names the root it found instead.
    EXPECT_THAT(parse_error(sync_collection_body("")), HasSubstr("{DAV:}sync-collection"));
    EXPECT_THAT(parse_error(multiget_body({"/a"})),
                HasSubstr("{urn:ietf:params:xml:ns:caldav}calendar-multiget"));
}

// ---------------------------------------------------------------------------------------------
// Radicale 3.1.8, recorded

TEST(webdav_radicale, propfind_collection) {
    const auto ms = parse_ok(read(radicale / "03-propfind-collection.response-body.txt"));
    ASSERT_EQ(ms.responses.size(), 1u);
    const auto& r = ms.responses[0];
    EXPECT_EQ(r.href, "/alice/work/");
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.is_collection);
    EXPECT_TRUE(r.is_calendar);
    EXPECT_EQ(r.sync_token,
              "http://radicale.org/ns/sync/"
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_FALSE(r.etag);  // CS:getctag is another property
    EXPECT_FALSE(r.calendar_data);
    EXPECT_FALSE(ms.sync_token) << "the token is a property here, not the report's";
}

TEST(webdav_radicale, propfind_scheduling_leaves_out_what_was_reported_404) {
    const auto ms = parse_ok(read(radicale / "04-propfind-scheduling.response-body.txt"));
    ASSERT_EQ(ms.responses.size(), 1u);
    const auto& r = ms.responses[0];
    EXPECT_EQ(r.href, "/alice/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.current_user_principal, "/alice/");
    EXPECT_THAT(r.calendar_home_set, ElementsAre("/alice/"));
    EXPECT_FALSE(r.is_collection);
    EXPECT_FALSE(r.is_calendar);
    EXPECT_THAT(r.components, IsEmpty());
    EXPECT_FALSE(r.displayname);
    EXPECT_FALSE(r.sync_token);
}

TEST(webdav_radicale, initial_sync_lists_both_events_with_etags) {
    const auto ms = parse_ok(read(radicale / "08-sync-initial.response-body.txt"));
    EXPECT_EQ(ms.sync_token,
              "http://radicale.org/ns/sync/"
              "5b87d5a2bca9afed6c65f3bbcefae8b75006b537b0573d6ec17055b8c0d81610");
    EXPECT_THAT(hrefs_of(ms), ElementsAre("/alice/work/rec-1.ics", "/alice/work/rec-2.ics"));
    EXPECT_THAT(statuses_of(ms), ElementsAre(200, 200));
    EXPECT_EQ(ms.responses[0].etag,
              "\"90eb6e1dcf3865c47094a08b998b589ae19c8419ff73d31e624a426eb588f4f8\"");
    EXPECT_EQ(ms.responses[1].etag,
              "\"6279fa81cb95fa22787ddae592554b5f762236b3bb6b19a29be157f6784d02f1\"");
    for (const auto& r : ms.responses) EXPECT_FALSE(r.calendar_data);
}

TEST(webdav_radicale, incremental_sync_after_update_lists_the_changed_event) {
    const auto ms = parse_ok(read(radicale / "11-sync-incremental-after-update.response-body.txt"));
    EXPECT_EQ(ms.sync_token,
              "http://radicale.org/ns/sync/"
              "7b8ae8fe3c2acdfd1a06c4e2d856d3b085cb3c8e58ee7b256c69b26b1d34437e");
    ASSERT_THAT(hrefs_of(ms), ElementsAre("/alice/work/rec-1.ics"));
    EXPECT_EQ(ms.responses[0].status, 200);
    EXPECT_EQ(ms.responses[0].etag,
              "\"fbeb128ac4d8a5807d9b8ea500be14f2a851ad0e6d1c71c4866a9dd1aab1eb2b\"");
}

TEST(webdav_radicale, delete_answer_is_a_multistatus_too) {
    const auto ms = parse_ok(read(radicale / "12-delete.response-body.txt"));
    EXPECT_THAT(hrefs_of(ms), ElementsAre("/alice/work/rec-2.ics"));
    EXPECT_THAT(statuses_of(ms), ElementsAre(200));
    EXPECT_FALSE(ms.sync_token);
}

TEST(webdav_radicale, incremental_sync_after_delete_reports_404) {
    const auto ms = parse_ok(read(radicale / "13-sync-incremental-after-delete.response-body.txt"));
    EXPECT_EQ(ms.sync_token,
              "http://radicale.org/ns/sync/"
              "ebfe65961371053d1861a1771a41bf238eee73cc00d7f3725505293695b8e914");
    ASSERT_THAT(hrefs_of(ms), ElementsAre("/alice/work/rec-2.ics"));
    EXPECT_EQ(ms.responses[0].status, 404);
    EXPECT_FALSE(ms.responses[0].etag);
}

TEST(webdav_radicale, invalid_token_is_a_valid_sync_token_error) {
    const std::string body = read(radicale / "14-sync-invalid-token.response-body.txt");
    EXPECT_THAT(error_conditions(body), ElementsAre("valid-sync-token"));
    EXPECT_THAT(parse_error(body),
                HasSubstr("not a DAV:multistatus: the root element is {DAV:}error"));
}

// The event Radicale stores, as it serves it (CRLF line ends, raw CRs in the XML text).
constexpr std::string_view radicale_event =
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//research//radicale-recording//EN\r\n"
    "BEGIN:VEVENT\r\nUID:rec-1@example.com\r\nDTSTART:20261201T150000Z\r\n"
    "DTEND:20261201T153000Z\r\nATTENDEE;CN=Alice;PARTSTAT=DECLINED:mailto:alice@example.com\r\n"
    "DTSTAMP:20261101T090000Z\r\nORGANIZER;CN=Sales Rep:mailto:rep@vendor.example\r\n"
    "SEQUENCE:0\r\nSUMMARY:Quick sync\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

TEST(webdav_radicale, calendar_query_returns_calendar_data_with_crlf) {
    const auto ms = parse_ok(read(radicale / "15-calendar-query-timerange.response-body.txt"));
    ASSERT_THAT(hrefs_of(ms), ElementsAre("/alice/work/rec-1.ics"));
    EXPECT_EQ(ms.responses[0].status, 200);
    EXPECT_EQ(ms.responses[0].etag,
              "\"fbeb128ac4d8a5807d9b8ea500be14f2a851ad0e6d1c71c4866a9dd1aab1eb2b\"");
    EXPECT_EQ(ms.responses[0].calendar_data, radicale_event);
}

TEST(webdav_radicale, multiget_reports_the_missing_href_as_404) {
    const auto ms = parse_ok(read(radicale / "16-calendar-multiget.response-body.txt"));
    ASSERT_THAT(hrefs_of(ms), ElementsAre("/alice/work/missing.ics", "/alice/work/rec-1.ics"));
    EXPECT_THAT(statuses_of(ms), ElementsAre(404, 200));
    EXPECT_FALSE(ms.responses[0].etag);
    EXPECT_FALSE(ms.responses[0].calendar_data);
    EXPECT_EQ(ms.responses[1].calendar_data, radicale_event);
    // The event comes back as it was stored by 18-get-event (GET) too.
    EXPECT_EQ(ms.responses[1].calendar_data, read(radicale / "18-get-event.response-body.txt"));
}

TEST(webdav_radicale, every_recorded_xml_body_is_read) {
    int multistatus_bodies = 0, error_bodies = 0;
    for (const auto& entry : fs::directory_iterator(radicale)) {
        const std::string name = entry.path().filename().string();
        if (name.find(".response-body.txt") == std::string::npos) continue;
        const std::string body = test_support::read_file(entry.path());  // some are empty
        if (body.rfind("<?xml", 0) != 0) {
            EXPECT_FALSE(parse_multistatus(body)) << name;
            continue;
        }
        if (body.find("<multistatus") != std::string::npos) {
            ++multistatus_bodies;
            EXPECT_TRUE(parse_multistatus(body)) << name;
            EXPECT_THAT(error_conditions(body), IsEmpty()) << name;
        } else {
            ++error_bodies;
            EXPECT_THAT(error_conditions(body), Not(IsEmpty())) << name;
        }
    }
    EXPECT_EQ(multistatus_bodies, 8);
    EXPECT_EQ(error_bodies, 1);
}

// ---------------------------------------------------------------------------------------------
// RFC 4791 and RFC 6578 examples (as printed; hrefs wrapped as "<D:href\n>...")

TEST(webdav_rfc, sync_response_of_rfc_6578_section_3_8) {
    const auto ms =
        parse_ok(http_body(read(corpus / "rfc-examples" / "rfc6578.s3.8.02.response.txt")));
    EXPECT_EQ(ms.sync_token, "http://example.com/ns/sync/1234");
    EXPECT_THAT(hrefs_of(ms),
                ElementsAre("http://webdav.example.com/home/cyrusdaboo/test.doc",
                            "http://webdav.example.com/home/cyrusdaboo/vcard.vcf",
                            "http://webdav.example.com/home/cyrusdaboo/calendar.ics"));
    EXPECT_THAT(statuses_of(ms), ElementsAre(200, 200, 200));
    EXPECT_EQ(ms.responses[0].etag, "\"00001-abcd1\"");
    EXPECT_EQ(ms.responses[1].etag, "\"00002-abcd1\"");
    EXPECT_EQ(ms.responses[2].etag, "\"00003-abcd1\"");
}

TEST(webdav_rfc, deleted_member_and_truncation_of_rfc_6578) {
    const auto deleted =
        parse_ok(http_body(read(corpus / "rfc-examples" / "rfc6578.s3.9.04.response.txt")));
    EXPECT_EQ(deleted.sync_token, "http://example.com/ns/sync/1238");
    EXPECT_THAT(statuses_of(deleted), ElementsAre(200, 200, 404));
    EXPECT_EQ(deleted.responses[2].href, "http://webdav.example.com/home/cyrusdaboo/test.doc");
    EXPECT_FALSE(deleted.responses[2].etag);

    // 507 on the collection itself: the server truncated the answer (RFC 6578 §3.6).
    const auto truncated =
        parse_ok(http_body(read(corpus / "rfc-examples" / "rfc6578.s3.10.06.response.txt")));
    EXPECT_THAT(statuses_of(truncated), ElementsAre(200, 200, 507));
    EXPECT_EQ(truncated.responses[2].href, "http://webdav.example.com/home/cyrusdaboo/");
    EXPECT_EQ(truncated.sync_token, "http://example.com/ns/sync/1233");
}

TEST(webdav_rfc, status_is_the_first_propstats_when_none_is_2xx) {
    const auto ms =
        parse_ok(http_body(read(corpus / "rfc-examples" / "rfc6578.s3.13.12.response.txt")));
    EXPECT_THAT(statuses_of(ms), ElementsAre(200, 200, 404, 200, 403));
    EXPECT_FALSE(ms.responses[2].etag) << "an empty getetag reported 404 is no etag";
    EXPECT_EQ(ms.responses[3].etag, "\"00003-abcd1\"");
}

TEST(webdav_rfc, multiget_of_rfc_4791_section_7_9_1) {
    const auto ms =
        parse_ok(http_body(read(corpus / "rfc-examples" / "rfc4791.s7.9.1.29.response.txt")));
    EXPECT_THAT(hrefs_of(ms), ElementsAre("http://cal.example.com/bernard/work/abcd1.ics",
                                          "http://cal.example.com/bernard/work/mtg1.ics"));
    EXPECT_THAT(statuses_of(ms), ElementsAre(200, 404));
    EXPECT_EQ(ms.responses[0].etag, "\"fffff-abcd1\"");
    ASSERT_TRUE(ms.responses[0].calendar_data);
    // As printed: LF line ends, kept as they are.
    EXPECT_THAT(
        *ms.responses[0].calendar_data,
        AllOf(StartsWith("BEGIN:VCALENDAR\nVERSION:2.0\n"),
              HasSubstr("UID:74855313FA803DA593CD579A@example.com\n"), Not(HasSubstr("\r"))));
    EXPECT_FALSE(ms.responses[1].calendar_data);
}

// Every href of a body, found by plain text search (independent of any XML parser).
std::vector<std::string> hrefs_by_text(std::string_view body) {
    std::vector<std::string> out;
    for (std::size_t at = body.find("<D:response>"); at != std::string_view::npos;
         at = body.find("<D:response>", at + 1)) {
        const auto open = body.find("<D:href", at);
        const auto start = body.find('>', open) + 1;
        const auto end = body.find("</D:href>", start);
        std::string_view href = body.substr(start, end - start);
        while (!href.empty() && (href.front() == ' ' || href.front() == '\n'))
            href.remove_prefix(1);
        while (!href.empty() && (href.back() == ' ' || href.back() == '\n')) href.remove_suffix(1);
        out.emplace_back(href);
    }
    return out;
}

TEST(webdav_rfc, every_multistatus_example_parses_with_its_hrefs) {
    int files = 0;
    for (const auto& entry : fs::directory_iterator(corpus / "rfc-examples")) {
        const std::string name = entry.path().filename().string();
        if (name.find(".response.txt") == std::string::npos) continue;
        const std::string message = read(entry.path());
        if (message.find("multistatus") == std::string::npos) continue;
        const std::string body = http_body(message);
        ++files;
        auto parsed = parse_multistatus(body);
        ASSERT_TRUE(parsed) << name << ": " << parsed.error();
        EXPECT_EQ(hrefs_of(*parsed), hrefs_by_text(body)) << name;
        for (const auto& r : parsed->responses) {
            EXPECT_TRUE(r.status == 200 || r.status == 404 || r.status == 403 || r.status == 507)
                << name << " " << r.href << " " << r.status;
            if (r.calendar_data) {
                EXPECT_THAT(*r.calendar_data, HasSubstr("BEGIN:VCALENDAR")) << name;
            }
        }
    }
    EXPECT_EQ(files, 16);
}

// ---------------------------------------------------------------------------------------------
// Apple's CalDAV tester resources: request bodies (templates), never a multistatus

TEST(webdav_caldavtester, request_bodies_are_refused_by_name_never_crash) {
    int files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(corpus / "caldavtester-resources")) {
        if (entry.path().extension() != ".xml") continue;
        ++files;
        const std::string body = read(entry.path());
        auto parsed = parse_multistatus(body);
        ASSERT_FALSE(parsed) << entry.path();
        EXPECT_THAT(parsed.error(), StartsWith("not a DAV:multistatus: the root element is {"))
            << entry.path();
        EXPECT_THAT(error_conditions(body), IsEmpty()) << entry.path();
    }
    EXPECT_GT(files, 50);
}

TEST(webdav_caldavtester, sync_report_bodies_have_our_shape_where_they_ask_the_same) {
    // reports/sync/14.xml asks for getcontenttype too; without it, it is our initial sync.
    std::string theirs = read(corpus / "caldavtester-resources" / "reports" / "sync" / "14.xml");
    const auto extra = theirs.find("<D:getcontenttype/>");
    ASSERT_NE(extra, std::string::npos);
    theirs.erase(extra, std::string_view("<D:getcontenttype/>").size());
    pugi::xml_document doc;
    ASSERT_TRUE(doc.load_string(theirs.c_str()));
    EXPECT_EQ(request_shape(sync_collection_body("")), shape(doc.document_element()));
}

// ---------------------------------------------------------------------------------------------
// Namespaces: by URI, whatever the prefix

constexpr std::string_view canonical_fields =
    "<response><href>/c/1.ics</href><propstat><prop><getetag>\"1\"</getetag>"
    "<C:calendar-data>BEGIN:VCALENDAR</C:calendar-data></prop>"
    "<status>HTTP/1.1 200 OK</status></propstat></response>";

void expect_one_event(const multistatus& ms) {
    ASSERT_EQ(ms.responses.size(), 1u);
    EXPECT_EQ(ms.responses[0].href, "/c/1.ics");
    EXPECT_EQ(ms.responses[0].status, 200);
    EXPECT_EQ(ms.responses[0].etag, "\"1\"");
    EXPECT_EQ(ms.responses[0].calendar_data, "BEGIN:VCALENDAR");
}

TEST(webdav_namespaces, default_namespace) {
    expect_one_event(
        parse_ok("<multistatus xmlns=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\">"s +
                 std::string(canonical_fields) + "</multistatus>"));
}

TEST(webdav_namespaces, other_prefixes) {
    expect_one_event(parse_ok(
        "<?xml version=\"1.0\"?><a:multistatus xmlns:a=\"DAV:\" "
        "xmlns:cal=\"urn:ietf:params:xml:ns:caldav\"><a:response><a:href>/c/1.ics</a:href>"
        "<a:propstat><a:prop><a:getetag>\"1\"</a:getetag><cal:calendar-data>BEGIN:VCALENDAR"
        "</cal:calendar-data></a:prop><a:status>HTTP/1.1 200 OK</a:status></a:propstat>"
        "</a:response></a:multistatus>"));
}

TEST(webdav_namespaces, prefixes_declared_on_inner_elements) {
    expect_one_event(
        parse_ok("<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/c/1.ics</D:href>"
                 "<D:propstat><D:prop><D:getetag>\"1\"</D:getetag>"
                 "<x:calendar-data xmlns:x=\"urn:ietf:params:xml:ns:caldav\">BEGIN:VCALENDAR"
                 "</x:calendar-data></D:prop><status xmlns=\"DAV:\">HTTP/1.1 200 OK</status>"
                 "</D:propstat></D:response></D:multistatus>"));
}

TEST(webdav_namespaces, a_redeclared_prefix_means_its_new_namespace) {
    // D is CalDAV inside the response, so D:href there is no DAV:href; the default-namespace
    // href is.
    expect_one_event(parse_ok(
        "<D:multistatus xmlns:D=\"DAV:\"><D:response xmlns=\"DAV:\">"
        "<D:href xmlns:D=\"urn:ietf:params:xml:ns:caldav\">/wrong.ics</D:href><href>/c/1.ics</href>"
        "<propstat><prop><getetag>\"1\"</getetag><D:calendar-data "
        "xmlns:D=\"urn:ietf:params:xml:ns:caldav\">BEGIN:VCALENDAR</D:calendar-data>"
        "<D:calendar-data>not CalDAV</D:calendar-data></prop>"
        "<status>HTTP/1.1 200 OK</status></propstat></D:response></D:multistatus>"));
}

TEST(webdav_namespaces, dav_names_in_another_namespace_are_not_dav) {
    EXPECT_THAT(parse_error("<D:multistatus xmlns:D=\"http://example.com/not-dav\"/>"),
                HasSubstr("root element is {http://example.com/not-dav}multistatus"));
    // No namespace at all (an unbound or absent prefix) is not DAV: either.
    EXPECT_THAT(parse_error("<multistatus/>"), HasSubstr("root element is multistatus"));
    // The default namespace undeclared on an inner element.
    const auto ms = parse_ok(
        "<multistatus xmlns=\"DAV:\"><response><href>/a</href><status>HTTP/1.1 200 OK</status>"
        "</response><response xmlns=\"\"><href>/b</href></response></multistatus>");
    EXPECT_THAT(hrefs_of(ms), ElementsAre("/a"));
}

// ---------------------------------------------------------------------------------------------
// Properties and statuses

TEST(webdav_properties, discovery_properties_are_read) {
    const auto ms = parse_ok(R"(<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:" xmlns:cal="urn:ietf:params:xml:ns:caldav">
  <d:response>
    <d:href>
      /dav/calendars/alice/work/
    </d:href>
    <d:propstat>
      <d:prop>
        <d:current-user-principal><d:href> /dav/principals/alice/ </d:href></d:current-user-principal>
        <d:resourcetype><d:collection/><cal:calendar/></d:resourcetype>
        <cal:calendar-home-set><d:href>/dav/calendars/alice/</d:href><d:href>/other/</d:href></cal:calendar-home-set>
        <d:displayname>Work &amp; more</d:displayname>
        <cal:supported-calendar-component-set><cal:comp name="VEVENT"/><cal:comp name="VTODO"/></cal:supported-calendar-component-set>
        <d:sync-token>
          http://example.com/sync/7
        </d:sync-token>
        <d:getetag>
          "abc"
        </d:getetag>
      </d:prop>
      <d:status>HTTP/1.1 200 OK</d:status>
    </d:propstat>
  </d:response>
</d:multistatus>)");
    ASSERT_EQ(ms.responses.size(), 1u);
    const auto& r = ms.responses[0];
    EXPECT_EQ(r.href, "/dav/calendars/alice/work/");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.current_user_principal, "/dav/principals/alice/");
    EXPECT_TRUE(r.is_collection);
    EXPECT_TRUE(r.is_calendar);
    EXPECT_THAT(r.calendar_home_set, ElementsAre("/dav/calendars/alice/", "/other/"));
    EXPECT_EQ(r.displayname, "Work & more");
    EXPECT_THAT(r.components, ElementsAre("VEVENT", "VTODO"));
    EXPECT_EQ(r.sync_token, "http://example.com/sync/7");
    EXPECT_EQ(r.etag, "\"abc\"");
}

TEST(webdav_properties, only_2xx_propstats_give_properties) {
    const auto ms = parse_ok(
        "<multistatus xmlns=\"DAV:\"><response><href>/a</href>"
        "<propstat><prop><displayname>refused</displayname><getetag>\"x\"</getetag></prop>"
        "<status>HTTP/1.1 403 Forbidden</status></propstat>"
        "<propstat><prop><resourcetype><collection/></resourcetype></prop>"
        "<status>HTTP/1.1 200 OK</status></propstat></response>"
        "<response><href>/b</href><propstat><prop><getetag/></prop>"
        "<status>HTTP/1.1 404 Not Found</status></propstat>"
        "<propstat><prop><displayname/></prop><status>HTTP/1.1 403 Forbidden</status></propstat>"
        "</response></multistatus>");
    ASSERT_EQ(ms.responses.size(), 2u);
    EXPECT_EQ(ms.responses[0].status, 200);
    EXPECT_FALSE(ms.responses[0].displayname);
    EXPECT_FALSE(ms.responses[0].etag);
    EXPECT_TRUE(ms.responses[0].is_collection);
    EXPECT_EQ(ms.responses[1].status, 404) << "no 2xx propstat: the first propstat's status";
}

TEST(webdav_properties, the_responses_own_status_wins) {
    const auto ms = parse_ok(
        "<multistatus xmlns=\"DAV:\"><response><href>/a</href>"
        "<propstat><prop><getetag>\"x\"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat>"
        "<status>HTTP/1.1 507 Insufficient Storage</status></response></multistatus>");
    ASSERT_EQ(ms.responses.size(), 1u);
    EXPECT_EQ(ms.responses[0].status, 507);
    EXPECT_EQ(ms.responses[0].etag, "\"x\"");
}

TEST(webdav_properties, several_hrefs_with_one_status_are_several_resources) {
    const auto ms = parse_ok(
        "<multistatus xmlns=\"DAV:\"><response><href>/a</href><href> /b </href>"
        "<status>HTTP/1.1 404 Not Found</status></response></multistatus>");
    EXPECT_THAT(hrefs_of(ms), ElementsAre("/a", "/b"));
    EXPECT_THAT(statuses_of(ms), ElementsAre(404, 404));
}

struct status_row {
    std::string name;
    std::string line;
    std::optional<int> code;  // nullopt: refused
};

class webdav_status : public ::testing::TestWithParam<status_row> {};

TEST_P(webdav_status, status_lines) {
    const std::string body = "<multistatus xmlns=\"DAV:\"><response><href>/a</href><status>" +
                             GetParam().line + "</status></response></multistatus>";
    auto parsed = parse_multistatus(body);
    if (GetParam().code) {
        ASSERT_TRUE(parsed) << parsed.error();
        ASSERT_EQ(parsed->responses.size(), 1u);
        EXPECT_EQ(parsed->responses[0].status, *GetParam().code);
    } else {
        ASSERT_FALSE(parsed);
        EXPECT_THAT(parsed.error(),
                    AllOf(HasSubstr("is not an HTTP status line"), HasSubstr("at byte ")));
    }
}

INSTANTIATE_TEST_SUITE_P(
    rows, webdav_status,
    ::testing::Values(status_row{"ok", "HTTP/1.1 200 OK", 200},
                      status_row{"not_found", "HTTP/1.1 404 Not Found", 404},
                      status_row{"http2_no_reason", "HTTP/2 207", 207},
                      status_row{"surrounding_space", "\n  HTTP/1.1 201 Created \r\n", 201},
                      status_row{"insufficient_storage", "HTTP/1.1 507 Insufficient Storage", 507},
                      status_row{"no_protocol", "200 OK", std::nullopt},
                      status_row{"letters", "HTTP/1.1 abc", std::nullopt},
                      status_row{"two_digits", "HTTP/1.1 20 OK", std::nullopt},
                      status_row{"four_digits", "HTTP/1.1 2000 OK", std::nullopt},
                      status_row{"out_of_range", "HTTP/1.1 999 What", std::nullopt},
                      status_row{"empty", "", std::nullopt}),
    [](const auto& row) { return row.param.name; });

// ---------------------------------------------------------------------------------------------
// calendar-data text

TEST(webdav_calendar_data, cdata_keeps_crlf_and_outlook_doctype_text) {
    const std::string data =
        "BEGIN:VCALENDAR\r\nX-ALT-DESC;FMTTYPE=text/html:<!DOCTYPE HTML PUBLIC \"-//W3C//DTD "
        "HTML 3.2//EN\">\\n<HTML><BODY>a & b</BODY></HTML>\r\nEND:VCALENDAR\r\n";
    const auto ms = parse_ok(
        "<d:multistatus xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\"><d:response>"
        "<d:href>/a</d:href><d:propstat><d:prop><c:calendar-data>\n<![CDATA[" +
        data +
        "]]>\n</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status>"
        "</d:propstat></d:response></d:multistatus>");
    ASSERT_EQ(ms.responses.size(), 1u);
    EXPECT_EQ(ms.responses[0].calendar_data, data);
}

TEST(webdav_calendar_data, escaped_text_and_character_references) {
    const auto ms = parse_ok(
        "<d:multistatus xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\"><d:response>"
        "<d:href>/a</d:href><d:propstat><d:prop><c:calendar-data>BEGIN:VCALENDAR&#13;\n"
        "SUMMARY:a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#x263A;&#13;\nEND:VCALENDAR\n"
        "</c:calendar-data></d:prop><d:status>HTTP/1.1 200 OK</d:status>"
        "</d:propstat></d:response></d:multistatus>");
    ASSERT_EQ(ms.responses.size(), 1u);
    EXPECT_EQ(ms.responses[0].calendar_data,
              "BEGIN:VCALENDAR\r\nSUMMARY:a & b <c> \"d\" 'e' \xE2\x98\xBA\r\nEND:VCALENDAR\n");
}

TEST(webdav_calendar_data, text_and_cdata_pieces_are_joined) {
    const auto ms = parse_ok(
        "<multistatus xmlns=\"DAV:\"><response><href>/a</href><propstat><prop>"
        "<calendar-data xmlns=\"urn:ietf:params:xml:ns:caldav\">BEGIN:<![CDATA[VCAL]]>ENDAR"
        "</calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response>"
        "</multistatus>");
    ASSERT_EQ(ms.responses.size(), 1u);
    EXPECT_EQ(ms.responses[0].calendar_data, "BEGIN:VCALENDAR");
}

// ---------------------------------------------------------------------------------------------
// Broken bodies: an error that says what and where, never the body

TEST(webdav_broken, response_without_href) {
    const std::string body =
        "<multistatus xmlns=\"DAV:\"><response><status>HTTP/1.1 200 OK</status></response>"
        "</multistatus>";
    EXPECT_THAT(parse_error(body),
                AllOf(HasSubstr("DAV:response without DAV:href"), HasSubstr("at byte 26")));
    EXPECT_THAT(parse_error("<multistatus xmlns=\"DAV:\"><response><href>  </href>"
                            "<status>HTTP/1.1 200 OK</status></response></multistatus>"),
                HasSubstr("an empty DAV:href at byte"));
}

TEST(webdav_broken, response_and_propstat_without_status) {
    EXPECT_THAT(parse_error("<multistatus xmlns=\"DAV:\"><response><href>/a</href></response>"
                            "</multistatus>"),
                HasSubstr("neither DAV:status nor DAV:propstat"));
    EXPECT_THAT(parse_error("<multistatus xmlns=\"DAV:\"><response><href>/a</href><propstat>"
                            "<prop/></propstat></response></multistatus>"),
                HasSubstr("DAV:propstat without DAV:status"));
}

TEST(webdav_broken, garbage_empty_and_truncated) {
    EXPECT_THAT(parse_error("garbage, not XML at all"), HasSubstr("not well-formed XML"));
    EXPECT_THAT(parse_error("\x89PNG\r\n\x1A\n\0\0\0"s), HasSubstr("not well-formed XML"));
    EXPECT_THAT(parse_error(""), HasSubstr("empty body"));
    EXPECT_THAT(parse_error(" \r\n\t"), HasSubstr("empty body"));

    const std::string full = read(radicale / "16-calendar-multiget.response-body.txt");
    for (std::size_t cut : {std::size_t{1}, std::size_t{45}, full.size() / 2, full.size() - 2}) {
        EXPECT_THAT(parse_error(full.substr(0, cut)), HasSubstr("at byte ")) << "cut at " << cut;
    }
    EXPECT_THAT(parse_error(full.substr(0, full.size() / 2)),
                AllOf(StartsWith("not well-formed XML: "), Not(HasSubstr("BEGIN:VCALENDAR"))));
}

TEST(webdav_broken, more_than_one_root_or_text_outside_it) {
    EXPECT_THAT(parse_error("<multistatus xmlns=\"DAV:\"/><multistatus xmlns=\"DAV:\"/>"),
                HasSubstr("more than one root element at byte"));
}

TEST(webdav_broken, messages_quote_at_most_a_little_of_the_body) {
    const std::string long_status(100'000, 'x');
    const std::string error =
        parse_error("<multistatus xmlns=\"DAV:\"><response><href>/a</href><status>" + long_status +
                    "</status></response></multistatus>");
    EXPECT_LT(error.size(), 200u) << error;
    const std::string long_name(100'000, 'n');
    EXPECT_LT(parse_error("<" + long_name + "/>").size(), 200u);
}

TEST(webdav_broken, a_body_over_the_limit_is_refused_before_parsing) {
    // 65 MB of a well-formed multistatus: refused by size alone, at once.
    std::string big = "<multistatus xmlns=\"DAV:\">";
    const std::string response =
        "<response><href>/a</href><status>HTTP/1.1 200 OK</status></response>";
    big.reserve(std::size_t{65} << 20);
    while (big.size() < (std::size_t{65} << 20)) big += response;
    big += "</multistatus>";

    const auto start = std::chrono::steady_clock::now();
    EXPECT_THAT(parse_error(big, 1 << 20),
                AllOf(HasSubstr("over the limit of 1048576 bytes"), HasSubstr("body is ")));
    EXPECT_THAT(parse_error(big), HasSubstr("over the limit of 67108864 bytes"));  // the default
    EXPECT_THAT(error_conditions(big), IsEmpty());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds{5});
}

// ---------------------------------------------------------------------------------------------
// Hostile bodies

constexpr std::string_view billion_laughs = R"(<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<multistatus xmlns="DAV:"><response><href>/&lol9;</href><status>HTTP/1.1 200 OK</status></response></multistatus>)";

TEST(webdav_hostile, billion_laughs_is_refused_for_its_doctype) {
    EXPECT_THAT(
        parse_error(billion_laughs),
        AllOf(HasSubstr("refused: the body has a DOCTYPE declaration"), HasSubstr("at byte 22")));
    EXPECT_THAT(error_conditions(billion_laughs), IsEmpty());
}

constexpr std::string_view xxe = R"(<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE multistatus [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><response><href>/a.ics</href><propstat><prop><C:calendar-data>&xxe;</C:calendar-data><displayname>&xxe;</displayname></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>)";

TEST(webdav_hostile, external_entity_is_refused_and_nothing_is_read) {
    const std::string error = parse_error(xxe);
    EXPECT_THAT(error, HasSubstr("DOCTYPE"));
    EXPECT_THAT(error, Not(HasSubstr("root:")));
    const std::string passwd = test_support::read_file("/etc/passwd");
    if (!passwd.empty()) {
        EXPECT_THAT(error, Not(HasSubstr(passwd.substr(0, 20))));
    }
    EXPECT_THAT(
        error_conditions(
            "<?xml version=\"1.0\"?><!DOCTYPE error [<!ENTITY x SYSTEM "
            "\"file:///etc/passwd\">]><error xmlns=\"DAV:\"><valid-sync-token/>&x;</error>"),
        IsEmpty());
}

TEST(webdav_hostile, undeclared_entities_stay_text_and_read_nothing) {
    // Without a DTD "&xxe;" names nothing: it is never looked up anywhere.
    auto parsed = parse_multistatus(
        "<multistatus xmlns=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:caldav\"><response>"
        "<href>/a</href><propstat><prop><C:calendar-data>&xxe;</C:calendar-data></prop>"
        "<status>HTTP/1.1 200 OK</status></propstat></response></multistatus>");
    if (parsed) {
        ASSERT_EQ(parsed->responses.size(), 1u);
        EXPECT_THAT(parsed->responses[0].calendar_data.value_or(""), Not(HasSubstr("root:")));
    }
}

TEST(webdav_hostile, doctype_wherever_it_hides) {
    for (const std::string& body :
         {"<!DOCTYPE multistatus><multistatus xmlns=\"DAV:\"/>"s,
          "\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- hello -->\n<?pi x?>\n<!doctype "
          "multistatus><multistatus xmlns=\"DAV:\"/>"s,
          "<multistatus xmlns=\"DAV:\"><!DOCTYPE x [<!ENTITY y \"z\">]></multistatus>"s}) {
        const std::string error = parse_error(body);
        EXPECT_TRUE(error.find("DOCTYPE") != std::string::npos ||
                    error.find("document type") != std::string::npos)
            << error;
    }
}

TEST(webdav_hostile, doctype_after_the_root_element) {
    EXPECT_THAT(parse_error("<multistatus xmlns=\"DAV:\"/><!DOCTYPE x [<!ENTITY y \"z\">]>"),
                HasSubstr("refused: the body has a DOCTYPE declaration at byte"));
    // Deeply nested conditional sections in it: still only refused.
    std::string body = "<multistatus xmlns=\"DAV:\"/><!DOCTYPE x [";
    for (int i = 0; i < 100'000; ++i) body += "<![";
    for (int i = 0; i < 100'000; ++i) body += "]]>";
    body += "]>";
    EXPECT_THAT(parse_error(body), HasSubstr("DOCTYPE"));
}

// UTF-16 with a byte-order mark, as RFC 4918 lets servers send (pugixml converts it).
std::string utf16le(std::string_view ascii) {
    std::string out = "\xFF\xFE";
    for (char c : ascii) {
        out += c;
        out += '\0';
    }
    return out;
}

TEST(webdav_hostile, utf16_bodies_are_read_and_their_doctypes_refused) {
    const auto ms = parse_ok(
        utf16le("<?xml version=\"1.0\" encoding=\"UTF-16\"?><multistatus xmlns=\"DAV:\"><response>"
                "<href>/a</href><status>HTTP/1.1 404 Not Found</status></response></multistatus>"));
    EXPECT_THAT(hrefs_of(ms), ElementsAre("/a"));
    EXPECT_THAT(statuses_of(ms), ElementsAre(404));
    EXPECT_THAT(parse_error(utf16le(std::string(xxe))), HasSubstr("DOCTYPE"));
}

std::string nested(int depth) {
    std::string body = "<multistatus xmlns=\"DAV:\"><response><href>/a</href><propstat><prop>";
    const int own = 4;  // multistatus, response, propstat, prop
    for (int i = own; i < depth; ++i) body += "<x>";
    for (int i = own; i < depth; ++i) body += "</x>";
    body += "</prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>";
    return body;
}

TEST(webdav_hostile, nesting_is_bounded_at_256) {
    EXPECT_TRUE(parse_multistatus(nested(256)));
    EXPECT_THAT(parse_error(nested(257)), HasSubstr("nested deeper than 256 levels at byte"));
}

TEST(webdav_hostile, a_hundred_thousand_levels_do_not_crash) {
    EXPECT_THAT(parse_error(nested(100'000)), HasSubstr("nested deeper than 256 levels"));
    std::string bare;
    for (int i = 0; i < 100'000; ++i) bare += "<a>";
    EXPECT_THAT(parse_error(bare), HasSubstr("not well-formed XML"));  // never closed
    for (int i = 0; i < 100'000; ++i) bare += "</a>";
    EXPECT_THAT(parse_error(bare), HasSubstr("nested deeper than 256 levels"));
    EXPECT_THAT(error_conditions(bare), IsEmpty());
}

// ---------------------------------------------------------------------------------------------
// DAV:error bodies

TEST(webdav_errors, conditions_by_namespace_whatever_the_prefix) {
    EXPECT_THAT(error_conditions("<D:error xmlns:D=\"DAV:\"><D:valid-sync-token/></D:error>"),
                ElementsAre("valid-sync-token"));
    EXPECT_THAT(error_conditions("<?xml version=\"1.0\"?>\n<x:error xmlns:x=\"DAV:\" "
                                 "xmlns:C=\"urn:ietf:params:xml:ns:caldav\">\n"
                                 "  <C:supported-calendar-data/>\n  <C:valid-calendar-data/>\n"
                                 "</x:error>"),
                ElementsAre("supported-calendar-data", "valid-calendar-data"));
    // SabreDAV (Nextcloud) adds its exception and message in its own namespace.
    EXPECT_THAT(
        error_conditions("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                         "<d:error xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\">\n"
                         "  <s:sabredav-version>4.1.5</s:sabredav-version>\n"
                         "  <s:exception>Sabre\\DAV\\Exception\\InvalidSyncToken</s:exception>\n"
                         "  <s:message>Invalid or unknown sync token</s:message>\n"
                         "  <d:valid-sync-token/>\n"
                         "  <d:responsedescription>bad token</d:responsedescription>\n"
                         "</d:error>"),
        ElementsAre("valid-sync-token"));
}

TEST(webdav_errors, anything_else_has_no_conditions) {
    EXPECT_THAT(error_conditions(""), IsEmpty());
    EXPECT_THAT(error_conditions("Precondition failed."), IsEmpty());
    EXPECT_THAT(error_conditions("<error><valid-sync-token/></error>"), IsEmpty());  // no DAV:
    EXPECT_THAT(error_conditions("<error xmlns=\"DAV:\"><valid-sync-token/>"), IsEmpty());
    EXPECT_THAT(error_conditions(read(radicale / "08-sync-initial.response-body.txt")), IsEmpty());
}

}  // namespace
}  // namespace agendad::calendar::caldav
