#include "calendar/xml/xml.h"

#include <algorithm>

#include "calendar/encoding.h"

namespace agendad::calendar::xml {
namespace {

using boost::system::result;

// Where a DOCTYPE would be: in the prolog, before the root element. Found here so that no DTD
// ever reaches the parser; one anywhere else is caught after parsing (pugixml reports it as a
// node). "<!DOCTYPE" inside a CDATA section (Outlook's HTML in calendar-data) is content.
std::optional<std::size_t> doctype_in_prolog(std::string_view body) {
    std::size_t i = 0;
    if (body.substr(0, 3) == "\xEF\xBB\xBF") i = 3;
    while (i < body.size()) {
        const char c = body[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ++i;
            continue;
        }
        const std::string_view rest = body.substr(i);
        std::size_t end = std::string_view::npos;
        if (rest.substr(0, 2) == "<?") {
            end = rest.find("?>");
            if (end != std::string_view::npos) end += 2;
        } else if (rest.substr(0, 4) == "<!--") {
            end = rest.find("-->", 4);
            if (end != std::string_view::npos) end += 3;
        } else {
            constexpr std::string_view doctype = "<!DOCTYPE";
            const bool is_doctype =
                rest.size() >= doctype.size() &&
                std::equal(doctype.begin(), doctype.end(), rest.begin(), [](char a, char b) {
                    return a == (b >= 'a' && b <= 'z' ? static_cast<char>(b - 32) : b);
                });
            if (is_doctype) return i;
            return std::nullopt;
        }
        if (end == std::string_view::npos) return std::nullopt;  // the parser says what is wrong
        i += end;
    }
    return std::nullopt;
}

std::string doctype_refused(std::ptrdiff_t offset, std::string_view who) {
    std::string out = "refused: the body has a DOCTYPE declaration" + at_byte(offset) +
                      " (DTDs and entities are never processed; ";
    out.append(who).append(" send none)");
    return out;
}

}  // namespace

result<pugi::xml_node, std::string> load(std::string_view body, std::size_t max_bytes,
                                         pugi::xml_document& doc, std::string_view who,
                                         int max_depth) {
    const auto fail = [](std::string message) {
        return result<pugi::xml_node, std::string>(boost::system::in_place_error,
                                                   std::move(message));
    };
    if (body.size() > max_bytes) {
        return fail("body is " + std::to_string(body.size()) + " bytes, over the limit of " +
                    std::to_string(max_bytes) + " bytes");
    }
    if (trim(body).empty()) return fail("empty body: no XML");
    if (auto at = doctype_in_prolog(body)) {
        return fail(doctype_refused(static_cast<std::ptrdiff_t>(*at), who));
    }

    // No parse_eol: calendar-data keeps its CRLF. parse_doctype only makes a DOCTYPE visible
    // as a node, to refuse it below; pugixml never reads a DTD's declarations.
    constexpr unsigned flags = pugi::parse_cdata | pugi::parse_escapes | pugi::parse_doctype;
    const pugi::xml_parse_result parsed = doc.load_buffer(body.data(), body.size(), flags);
    if (!parsed) {
        return fail(std::string("not well-formed XML: ") + parsed.description() +
                    at_byte(parsed.offset));
    }

    // Iterative walk (the depth is what is being checked): no DOCTYPE, bounded nesting.
    int depth = 0;
    for (pugi::xml_node n = doc.first_child(); n;) {
        if (n.type() == pugi::node_doctype) return fail(doctype_refused(n.offset_debug(), who));
        if (n.type() == pugi::node_element && depth + 1 > max_depth) {
            return fail("elements nested deeper than " + std::to_string(max_depth) + " levels" +
                        at_node(n));
        }
        if (pugi::xml_node first = n.first_child()) {
            ++depth;
            n = first;
            continue;
        }
        while (n && !n.next_sibling()) {
            n = n.parent();
            --depth;
            if (n == doc) n = pugi::xml_node();
        }
        if (n) n = n.next_sibling();
    }

    pugi::xml_node root;
    for (pugi::xml_node n = doc.first_child(); n; n = n.next_sibling()) {
        if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) {
            return fail("text outside the root element" + at_node(n));
        }
        if (n.type() != pugi::node_element) continue;
        if (root) return fail("more than one root element" + at_node(n));
        root = n;
    }
    if (!root) return fail("no root element");
    return root;
}

std::string_view namespace_of(pugi::xml_node n) {
    const std::string_view name = n.name();
    const auto colon = name.find(':');
    std::string attribute = "xmlns";
    if (colon != std::string_view::npos) {
        attribute += ':';
        attribute += name.substr(0, colon);
    }
    for (pugi::xml_node e = n; e && e.type() == pugi::node_element; e = e.parent()) {
        if (const pugi::xml_attribute a = e.attribute(attribute.c_str())) return a.value();
    }
    return {};
}

std::string_view local_name(pugi::xml_node n) {
    const std::string_view name = n.name();
    const auto colon = name.find(':');
    return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

bool is(pugi::xml_node n, std::string_view ns, std::string_view local) {
    return n.type() == pugi::node_element && local_name(n) == local && namespace_of(n) == ns;
}

pugi::xml_node child(pugi::xml_node parent, std::string_view ns, std::string_view local) {
    for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
        if (is(c, ns, local)) return c;
    }
    return {};
}

std::string qualified(pugi::xml_node n) {
    const std::string_view ns = namespace_of(n);
    return (ns.empty() ? std::string() : "{" + excerpt(ns) + "}") + excerpt(local_name(n));
}

std::string text_of(pugi::xml_node n) {
    std::string out;
    for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
        if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) out += c.value();
    }
    return out;
}

std::optional<std::string> trimmed_text(pugi::xml_node n) {
    const std::string text = text_of(n);
    const std::string_view t = trim(text);
    if (t.empty()) return std::nullopt;
    return std::string(t);
}

std::string_view trim(std::string_view s) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && space(s.front())) s.remove_prefix(1);
    while (!s.empty() && space(s.back())) s.remove_suffix(1);
    return s;
}

std::string excerpt(std::string_view s) {
    constexpr std::size_t limit = 60;
    std::string out;
    for (char c : s.substr(0, limit)) {
        out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
    }
    if (s.size() > limit) out += "...";
    return out;
}

std::string at_byte(std::ptrdiff_t offset) {
    return " at byte " + std::to_string(offset < 0 ? 0 : offset);
}

std::string at_node(pugi::xml_node n) {
    const std::ptrdiff_t offset = n.offset_debug();
    return at_byte(n.type() == pugi::node_element && offset > 0 ? offset - 1 : offset);
}

std::string escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 16);
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        const std::size_t length = encoding::decode_utf8(s, i, cp);
        const std::string_view raw = s.substr(i, length);
        i += length;
        const bool allowed = cp == 0x09 || cp == 0x0A || cp == 0x0D ||
                             (cp >= 0x20 && cp != 0xFFFE && cp != 0xFFFF);
        if (!allowed) {
            encoding::append_utf8(out, 0xFFFD);
            continue;
        }
        switch (cp) {
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
                // decode_utf8 gives U+FFFD for what is not UTF-8: write the replacement, not
                // the bytes.
                if (cp == 0xFFFD && raw != "\xEF\xBF\xBD") {
                    encoding::append_utf8(out, 0xFFFD);
                } else {
                    out.append(raw);
                }
        }
    }
    return out;
}

}  // namespace agendad::calendar::xml
