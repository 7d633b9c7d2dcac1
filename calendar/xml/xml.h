// XML for the sources that speak it (CalDAV's WebDAV bodies, EWS's SOAP), on pugixml, read the
// one safe way: no DTD ever reaches the parser (a DOCTYPE is refused, wherever it is), so no
// entity is expanded and no external file or URL is read (XXE, billion laughs); bodies over a
// size limit are refused unread; nesting is bounded. pugixml has no namespaces: the helpers
// below match elements by namespace URI and local name, whatever prefixes a server chose.
#pragma once

#include <pugixml.hpp>

#include <boost/system/result.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace agendad::calendar::xml {

// Deeper nesting is hostile: multistatus bodies are seven levels deep, SOAP ones about twelve.
inline constexpr int default_max_depth = 256;

// Parses `body` into `doc`; returns its root element. The error is a sentence naming what is
// wrong and where (byte offset), never the body: over `max_bytes` (refused before parsing),
// empty, a DOCTYPE ("refused: the body has a DOCTYPE declaration at byte N (DTDs and entities
// are never processed; <who> sends none)", `who` e.g. "CalDAV servers"), not well-formed,
// nested deeper than `max_depth`, text outside the root, no or several root elements.
// CDATA and character references are kept; line ends are not normalised.
boost::system::result<pugi::xml_node, std::string> load(std::string_view body,
                                                        std::size_t max_bytes,
                                                        pugi::xml_document& doc,
                                                        std::string_view who,
                                                        int max_depth = default_max_depth);

// The URI bound to the element's prefix by the nearest declaration on it or an ancestor; an
// unbound prefix has no namespace.
std::string_view namespace_of(pugi::xml_node n);
std::string_view local_name(pugi::xml_node n);
// Whether `n` is the element {ns}local.
bool is(pugi::xml_node n, std::string_view ns, std::string_view local);
// The first element child {ns}local, or an empty node.
pugi::xml_node child(pugi::xml_node parent, std::string_view ns, std::string_view local);
// Calls f(child) for every element child {ns}local, in order.
template <typename F>
void for_each_child(pugi::xml_node parent, std::string_view ns, std::string_view local, F&& f) {
    for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
        if (is(c, ns, local)) f(c);
    }
}
// "{ns}local" for messages (both cut to a sane length).
std::string qualified(pugi::xml_node n);

// The element's own text: its text and CDATA children, concatenated as they are.
std::string text_of(pugi::xml_node n);
// The text without surrounding XML white space; nullopt when nothing is left.
std::optional<std::string> trimmed_text(pugi::xml_node n);
std::string_view trim(std::string_view s);  // XML white space (space, tab, CR, LF)

// For error messages: at most 60 bytes of a value from a body, control characters as spaces.
std::string excerpt(std::string_view s);
std::string at_byte(std::ptrdiff_t offset);  // " at byte N"
// " at byte N" of a node: an element's '<', a text's first byte.
std::string at_node(pugi::xml_node n);

// `s` as XML character data or an attribute value: the five specials escaped; bytes XML 1.0
// cannot carry (C0 controls other than tab, LF and CR; DEL is allowed) and bytes that are not
// UTF-8 become U+FFFD, so the result is always well-formed UTF-8 XML text.
std::string escape(std::string_view s);

}  // namespace agendad::calendar::xml
