#include "calendar/caldav/webdav.h"

#include <pugixml.hpp>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <utility>

#include "calendar/encoding.h"
#include "calendar/xml/xml.h"

namespace agendad::calendar::caldav {
namespace {

using boost::system::result;
using xml::at_node;
using xml::child;
using xml::excerpt;
using xml::for_each_child;
using xml::is;
using xml::local_name;
using xml::namespace_of;
using xml::qualified;
using xml::text_of;
using xml::trim;
using xml::trimmed_text;

constexpr std::string_view dav_ns = "DAV:";
constexpr std::string_view caldav_ns = "urn:ietf:params:xml:ns:caldav";

// --- request bodies ---

// An href or a sync token as element text. Both are URIs (RFC 4918 §8.3, RFC 6578 §3.2): the
// five XML specials are escaped, and the bytes XML 1.0 cannot carry at all (C0 controls, DEL,
// bytes that are not UTF-8) are percent-encoded as a URI would carry them, so that the body is
// always well-formed UTF-8.
std::string xml_text(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 16);
    const auto plain = [](unsigned char b) {
        return b >= 0x20 && b < 0x7F && b != '&' && b != '<' && b != '>' && b != '"' &&
               b != '\'';
    };
    for (std::size_t i = 0; i < s.size();) {
        // A run of ASCII that needs nothing, at once (a sync token goes out on every poll).
        std::size_t run = i;
        while (run < s.size() && plain(static_cast<unsigned char>(s[run]))) ++run;
        if (run > i) {
            out.append(s.substr(i, run - i));
            i = run;
            continue;
        }
        const char c = s[i];
        const auto u = static_cast<unsigned char>(c);
        const std::size_t length = u < 0x80 ? 1 : encoding::utf8_sequence_length(s, i);
        if (length > 1) {
            out.append(s.substr(i, length));
            i += length;
            continue;
        }
        ++i;
        if (length == 0 || u < 0x20 || u == 0x7F) {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned>(u));
            out += hex;
            continue;
        }
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&apos;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

constexpr std::string_view declaration = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n";
constexpr std::string_view both_namespaces =
    "xmlns:d=\"DAV:\" xmlns:c=\"urn:ietf:params:xml:ns:caldav\"";

std::string propfind(std::initializer_list<std::string_view> properties) {
    std::string out(declaration);
    out += "<d:propfind ";
    out += both_namespaces;
    out += ">\n  <d:prop>\n";
    for (std::string_view p : properties) {
        out += "    <";
        out += p;
        out += "/>\n";
    }
    out += "  </d:prop>\n</d:propfind>\n";
    return out;
}

// --- parsing ---

// "HTTP/1.1 404 Not Found" → 404.
std::optional<int> status_code(std::string_view line) {
    line = trim(line);
    if (line.substr(0, 5) != "HTTP/") return std::nullopt;
    const auto space = line.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    std::string_view rest = trim(line.substr(space));
    if (rest.size() < 3) return std::nullopt;
    int code = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        if (rest[i] < '0' || rest[i] > '9') return std::nullopt;
        code = code * 10 + (rest[i] - '0');
    }
    if (rest.size() > 3 && rest[3] != ' ' && rest[3] != '\t') return std::nullopt;
    if (code < 100 || code > 599) return std::nullopt;
    return code;
}

result<int, std::string> status_of(pugi::xml_node status) {
    const std::string text = text_of(status);
    if (auto code = status_code(text)) return *code;
    return result<int, std::string>(
        boost::system::in_place_error,
        "DAV:status '" + excerpt(trim(text)) + "' is not an HTTP status line" + at_node(status));
}

bool is_2xx(int status) {
    return status >= 200 && status <= 299;
}

// Reads one DAV:prop of a 2xx propstat into `r`.
void read_props(pugi::xml_node prop, dav_resource& r) {
    for (pugi::xml_node p = prop.first_child(); p; p = p.next_sibling()) {
        if (p.type() != pugi::node_element) continue;
        const std::string_view ns = namespace_of(p);
        const std::string_view name = local_name(p);
        if (ns == dav_ns) {
            if (name == "getetag") {
                r.etag = trimmed_text(p);
            } else if (name == "resourcetype") {
                if (child(p, dav_ns, "collection")) r.is_collection = true;
                if (child(p, caldav_ns, "calendar")) r.is_calendar = true;
            } else if (name == "current-user-principal") {
                if (pugi::xml_node href = child(p, dav_ns, "href")) {
                    r.current_user_principal = trimmed_text(href);
                }
            } else if (name == "displayname") {
                r.displayname = text_of(p);
            } else if (name == "sync-token") {
                r.sync_token = trimmed_text(p);
            }
        } else if (ns == caldav_ns) {
            if (name == "calendar-data") {
                r.calendar_data = text_of(p);
            } else if (name == "calendar-home-set") {
                for_each_child(p, dav_ns, "href", [&](pugi::xml_node href) {
                    if (auto h = trimmed_text(href)) r.calendar_home_set.push_back(std::move(*h));
                });
            } else if (name == "supported-calendar-component-set") {
                for_each_child(p, caldav_ns, "comp", [&](pugi::xml_node comp) {
                    const std::string_view component = trim(comp.attribute("name").value());
                    if (!component.empty()) r.components.emplace_back(component);
                });
            }
        }
    }
}

// One DAV:response; several when it names several hrefs with one status (RFC 4918 §14.24).
result<void, std::string> read_response(pugi::xml_node response, std::vector<dav_resource>& out) {
    const auto fail = [](std::string message) {
        return result<void, std::string>(boost::system::in_place_error, std::move(message));
    };
    std::vector<std::string> hrefs;
    std::optional<std::string> href_error;
    for_each_child(response, dav_ns, "href", [&](pugi::xml_node href) {
        if (auto h = trimmed_text(href)) {
            hrefs.push_back(std::move(*h));
        } else if (!href_error) {
            href_error = "an empty DAV:href" + at_node(href);
        }
    });
    if (href_error) return fail(std::move(*href_error));
    if (hrefs.empty()) return fail("a DAV:response without DAV:href" + at_node(response));

    dav_resource r;
    std::optional<int> own_status;
    if (pugi::xml_node status = child(response, dav_ns, "status")) {
        auto code = status_of(status);
        if (!code) return fail(code.error());
        own_status = *code;
    }
    std::optional<int> first_propstat;
    bool any_2xx = false;
    for (pugi::xml_node ps = response.first_child(); ps; ps = ps.next_sibling()) {
        if (!is(ps, dav_ns, "propstat")) continue;
        pugi::xml_node status = child(ps, dav_ns, "status");
        if (!status) return fail("a DAV:propstat without DAV:status" + at_node(ps));
        auto code = status_of(status);
        if (!code) return fail(code.error());
        if (!first_propstat) first_propstat = *code;
        if (!is_2xx(*code)) continue;  // the properties it names are missing or refused
        any_2xx = true;
        for_each_child(ps, dav_ns, "prop", [&](pugi::xml_node prop) { read_props(prop, r); });
    }
    if (own_status) {
        r.status = *own_status;
    } else if (any_2xx) {
        r.status = 200;
    } else if (first_propstat) {
        r.status = *first_propstat;
    } else {
        return fail("a DAV:response with neither DAV:status nor DAV:propstat" + at_node(response));
    }
    for (std::size_t i = 0; i + 1 < hrefs.size(); ++i) {
        dav_resource copy = r;
        copy.href = std::move(hrefs[i]);
        out.push_back(std::move(copy));
    }
    r.href = std::move(hrefs.back());
    out.push_back(std::move(r));
    return {};
}

}  // namespace

std::string propfind_discovery_body() {
    return propfind({"d:current-user-principal", "d:resourcetype", "c:calendar-home-set",
                     "d:displayname", "c:supported-calendar-component-set", "d:sync-token"});
}

std::string propfind_calendars_body() {
    return propfind({"d:resourcetype", "d:displayname", "c:supported-calendar-component-set"});
}

std::string propfind_etags_body() {
    return propfind({"d:getetag", "d:resourcetype"});
}

std::string sync_collection_body(std::string_view token) {
    std::string out(declaration);
    out += "<d:sync-collection xmlns:d=\"DAV:\">\n";
    if (token.empty()) {
        out += "  <d:sync-token/>\n";
    } else {
        out += "  <d:sync-token>" + xml_text(token) + "</d:sync-token>\n";
    }
    out +=
        "  <d:sync-level>1</d:sync-level>\n"
        "  <d:prop>\n"
        "    <d:getetag/>\n"
        "  </d:prop>\n"
        "</d:sync-collection>\n";
    return out;
}

std::string multiget_body(const std::vector<std::string>& hrefs) {
    std::string out(declaration);
    out += "<c:calendar-multiget ";
    out += both_namespaces;
    out +=
        ">\n"
        "  <d:prop>\n"
        "    <d:getetag/>\n"
        "    <c:calendar-data/>\n"
        "  </d:prop>\n";
    for (const std::string& href : hrefs) out += "  <d:href>" + xml_text(href) + "</d:href>\n";
    out += "</c:calendar-multiget>\n";
    return out;
}

boost::system::result<multistatus, std::string> parse_multistatus(std::string_view xml,
                                                                  std::size_t max_bytes) {
    using out_t = result<multistatus, std::string>;
    pugi::xml_document doc;
    auto root = calendar::xml::load(xml, max_bytes, doc, "CalDAV servers");
    if (!root) return out_t(boost::system::in_place_error, root.error());
    if (!is(*root, dav_ns, "multistatus")) {
        return out_t(boost::system::in_place_error, "not a DAV:multistatus: the root element is " +
                                                        qualified(*root) + at_node(*root));
    }
    multistatus ms;
    for (pugi::xml_node n = root->first_child(); n; n = n.next_sibling()) {
        if (is(n, dav_ns, "response")) {
            if (auto read = read_response(n, ms.responses); !read) {
                return out_t(boost::system::in_place_error, read.error());
            }
        } else if (is(n, dav_ns, "sync-token")) {
            ms.sync_token = trimmed_text(n);
        }
    }
    return ms;
}

std::vector<std::string> error_conditions(std::string_view xml) {
    pugi::xml_document doc;
    auto root = calendar::xml::load(xml, std::size_t{64} << 20, doc, "CalDAV servers");
    if (!root || !is(*root, dav_ns, "error")) return {};
    std::vector<std::string> out;
    for (pugi::xml_node n = root->first_child(); n; n = n.next_sibling()) {
        if (n.type() != pugi::node_element) continue;
        const std::string_view ns = namespace_of(n);
        if (ns != dav_ns && ns != caldav_ns) continue;  // server extras: SabreDAV's message, ...
        if (ns == dav_ns && local_name(n) == "responsedescription") continue;
        out.emplace_back(local_name(n));
    }
    return out;
}

}  // namespace agendad::calendar::caldav
