// WebDAV/CalDAV XML for the CalDAV source: the request bodies it sends (PROPFIND, REPORT
// sync-collection and calendar-multiget; RFC 4918, 4791, 6578, 6764) and a parser for the
// 207 Multi-Status answers and DAV:error bodies. pugixml underneath: no DTD, no entity beyond the
// five predefined ones, nothing read from anywhere but the given text. Pure: no I/O.
#pragma once

#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::calendar::caldav {

// --- request bodies (UTF-8 XML, with the XML declaration) ---

// PROPFIND (Depth 0) on the configured URL and on a principal: DAV:current-user-principal,
// DAV:resourcetype, CALDAV:calendar-home-set, DAV:displayname,
// CALDAV:supported-calendar-component-set, DAV:sync-token.
std::string propfind_discovery_body();
// PROPFIND (Depth 1) on a calendar home: every child's resourcetype, displayname,
// supported-calendar-component-set.
std::string propfind_calendars_body();
// PROPFIND (Depth 1) on a calendar: every member's getetag and resourcetype (the listing when a
// server has no sync-collection).
std::string propfind_etags_body();
// REPORT sync-collection (RFC 6578) with DAV:sync-level 1 and DAV:getetag; "" for the initial
// sync (an empty <d:sync-token/>). The token is XML-escaped.
std::string sync_collection_body(std::string_view token);
// REPORT calendar-multiget (RFC 4791 §7.9) for DAV:getetag and CALDAV:calendar-data of `hrefs`
// (XML-escaped, in order). RFC 4791 wants at least one href: callers skip the REPORT when there
// is none.
// Hrefs and tokens are URIs: besides the XML escapes (& < > " '), the bytes XML cannot carry
// (C0 controls, DEL, bytes that are not UTF-8) are percent-encoded, so bodies stay well-formed.
std::string multiget_body(const std::vector<std::string>& hrefs);

// --- responses ---

// One DAV:response of a multistatus. Properties come only from a propstat with a 2xx status;
// a property reported with 404 (or any other non-2xx) is absent here. A response that names
// several hrefs with one status (RFC 4918 §14.24) gives one dav_resource per href.
struct dav_resource {
    std::string href;  // as the server wrote it (trimmed; not percent-decoded)
    // The response's own DAV:status when it has one (e.g. 404 for a member removed since a sync
    // token, or a missing href in a multiget), else 200 when some propstat was 2xx, else the first
    // propstat's status.
    int status = 0;
    std::optional<std::string> etag;  // DAV:getetag, quotes kept: "\"abc\""; trimmed
    // CALDAV:calendar-data, text as is: CDATA or escaped text, line ends as the server sent them
    // (XML's CRLF → LF normalisation is not applied).
    std::optional<std::string> calendar_data;
    bool is_collection = false;  // DAV:resourcetype has DAV:collection
    bool is_calendar = false;    // DAV:resourcetype has CALDAV:calendar
    // CALDAV:supported-calendar-component-set names ("VEVENT", "VTODO"); empty: not reported
    // (RFC 4791 then means "any").
    std::vector<std::string> components;
    std::optional<std::string> current_user_principal;  // the href inside it
    std::vector<std::string> calendar_home_set;         // the hrefs inside it
    std::optional<std::string> displayname;
    std::optional<std::string> sync_token;  // DAV:sync-token as a property (PROPFIND)
};

struct multistatus {
    std::vector<dav_resource> responses;
    std::optional<std::string> sync_token;  // the multistatus's own DAV:sync-token (REPORT)
};

// Parses a 207 body. Namespaces are matched by URI, whatever their prefixes (DAV:,
// urn:ietf:params:xml:ns:caldav). The error is a sentence naming what is wrong and where (byte
// offset), never the body: not XML, not a multistatus, a DOCTYPE (refused: servers never send
// one), a response without href, a status that is not an HTTP status line, elements nested more
// than 256 deep, bodies larger than `max_bytes` (refused before parsing).
boost::system::result<multistatus, std::string> parse_multistatus(
    std::string_view xml, std::size_t max_bytes = std::size_t{64} << 20);

// The precondition / postcondition element names in a DAV:error body (RFC 4918 §16), e.g.
// {"valid-sync-token"} for RFC 6578's invalid token answer; empty when the body is not one.
// Only DAV: and CALDAV: elements count: servers add their own (SabreDAV's s:exception and
// s:message), and DAV:responsedescription is prose.
std::vector<std::string> error_conditions(std::string_view xml);

}  // namespace agendad::calendar::caldav
