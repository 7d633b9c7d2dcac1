#include "calendar/ical/prescan.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "calendar/encoding.h"

namespace agendad::calendar::ical {
namespace {

using boost::system::result;

bool is_name_char(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

char upper(unsigned char c) {
    return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : static_cast<char>(c);
}

// Lines end with LF, CRLF or a lone CR (classic Mac).
int line_of(std::string_view text, std::size_t offset) {
    int line = 1;
    for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
        if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= text.size() || text[i + 1] != '\n')))
            ++line;
    }
    return line;
}

using encoding::first_invalid_utf8;

// Old Outlook and some web exporters write Windows-1252 without saying so.
std::string windows1252_to_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size() + s.size() / 8);
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x80) {
            out += ch;
        } else {
            const auto cp = encoding::windows1252_code_point(c);
            encoding::append_utf8(out, cp.value_or(encoding::replacement_character));
        }
    }
    return out;
}

bool has_lone_cr(std::string_view s) {
    for (std::size_t i = s.find('\r'); i != std::string_view::npos; i = s.find('\r', i + 1)) {
        if (i + 1 >= s.size() || s[i + 1] != '\n') return true;
    }
    return false;
}

// A fold is a line break followed by one space or tab (RFC 5545 §3.1). Returns its length at i.
std::size_t fold_at(std::string_view t, std::size_t i, std::size_t end) {
    if (t[i] == '\r' && i + 2 < end && t[i + 1] == '\n' && (t[i + 2] == ' ' || t[i + 2] == '\t'))
        return 3;
    if (t[i] == '\n' && i + 1 < end && (t[i + 1] == ' ' || t[i + 1] == '\t')) return 2;
    return 0;
}

std::string excerpt(std::string_view t, std::size_t begin, std::size_t end) {
    std::string out;
    for (std::size_t i = begin; i < end && out.size() < 40; ++i) {
        const char c = t[i];
        if (c == '\r' || c == '\n') break;
        out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
    }
    return out;
}

}  // namespace

std::string_view scan::name_of(const scanned_line& l) const {
    if (l.folded_name >= 0) return folded_names_[static_cast<std::size_t>(l.folded_name)];
    return text().substr(l.begin, l.name_length);
}

bool scan::name_is(const scanned_line& l, std::string_view want) const {
    const std::string_view name = name_of(l);
    if (name.size() != want.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (upper(static_cast<unsigned char>(name[i])) != want[i]) return false;
    }
    return true;
}

std::string scan::unfolded_value(const scanned_line& l) const {
    const std::string_view t = text();
    std::string out;
    std::size_t i = l.value_at;
    while (i < l.end) {
        if (const std::size_t f = fold_at(t, i, l.end)) {
            i += f;
            continue;
        }
        if (t[i] != '\r' && t[i] != '\n') out += t[i];
        ++i;
    }
    return out;
}

result<scan, diagnostic> prescan(std::string_view text, std::string_view file,
                                 std::size_t max_bytes) {
    const auto fail = [&](int line, std::string message) {
        return result<scan, diagnostic>(boost::system::in_place_error,
                                        diagnostic{std::string(file), line, 0, std::move(message)});
    };
    if (text.size() > max_bytes) {
        return fail(0, "input is " + std::to_string(text.size()) + " bytes, over the limit of " +
                           std::to_string(max_bytes) + " bytes");
    }
    if (text.size() >= 2 &&
        ((text[0] == '\xFF' && text[1] == '\xFE') || (text[0] == '\xFE' && text[1] == '\xFF'))) {
        return fail(1, "the file is UTF-16; iCalendar must be UTF-8 (save it as UTF-8)");
    }
    if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
    if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
        return fail(line_of(text, nul), "NUL byte: this is binary data, not iCalendar text");
    }

    scan s;
    s.original_ = text;
    if (const auto bad = first_invalid_utf8(text); bad != std::string_view::npos) {
        s.owned_ = windows1252_to_utf8(text);
        s.warnings_.push_back("not valid UTF-8 (line " + std::to_string(line_of(text, bad)) +
                              "): read as Windows-1252");
    }
    if (has_lone_cr(s.text())) {
        // Classic Mac line ends: make every CR a line break libical understands.
        std::string normalised(s.text());
        for (std::size_t i = 0; i < normalised.size(); ++i) {
            if (normalised[i] == '\r' &&
                (i + 1 >= normalised.size() || normalised[i + 1] != '\n')) {
                normalised[i] = '\n';
            }
        }
        s.owned_ = std::move(normalised);
    }

    const std::string_view t = s.text();
    s.lines_.reserve(static_cast<std::size_t>(std::count(t.begin(), t.end(), '\n')) + 1);
    struct open_component {
        std::size_t index;  // into s.components_
    };
    std::vector<open_component> stack;

    // Validates one logical line [begin, end) that starts on physical line `line`.
    auto finish = [&](std::size_t begin, std::size_t end, int line) -> std::optional<diagnostic> {
        auto error = [&](std::string message) {
            return std::optional<diagnostic>(
                diagnostic{std::string(file), line, 0, std::move(message)});
        };
        scanned_line sl;
        sl.line = line;
        sl.begin = begin;
        sl.end = end;
        std::size_t i = begin;
        while (i < end && is_name_char(static_cast<unsigned char>(t[i]))) ++i;
        sl.name_length = i - begin;
        if (i < end && fold_at(t, i, end)) {
            // A fold inside the name (legal, and very rare): keep the name unfolded aside.
            std::string unfolded(t.substr(begin, i - begin));
            while (i < end) {
                if (const std::size_t f = fold_at(t, i, end)) {
                    i += f;
                    continue;
                }
                const auto c = static_cast<unsigned char>(t[i]);
                if (!is_name_char(c)) break;
                unfolded += static_cast<char>(c);
                ++i;
            }
            sl.folded_name = static_cast<int>(s.folded_names_.size());
            sl.name_length = unfolded.size();
            s.folded_names_.push_back(std::move(unfolded));
        }
        const std::size_t after_name = i;
        // Upper case, for messages only: built when needed.
        auto name_text = [&] {
            std::string name;
            for (char c : s.name_of(sl)) name += upper(static_cast<unsigned char>(c));
            return name;
        };
        if (sl.name_length == 0) {
            const bool blank =
                std::all_of(t.begin() + static_cast<std::ptrdiff_t>(begin),
                            t.begin() + static_cast<std::ptrdiff_t>(end),
                            [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
            if (blank) return std::nullopt;
            return error("not an iCalendar content line (expected NAME:value): '" +
                         excerpt(t, begin, end) + "'");
        }
        if (i >= end || t[i] == '\r' || t[i] == '\n') {
            return error("'" + name_text() + "' has no ':' and no value (a broken line fold?)");
        }
        if (t[i] != ';' && t[i] != ':') {
            return error("not an iCalendar content line (expected NAME:value): '" +
                         excerpt(t, begin, end) + "'");
        }
        if (t[i] == ';') {
            // Parameters run to the first ':' outside quotes; folds only ever start at a line
            // break.
            bool quoted = false;
            while (true) {
                i = t.find_first_of("\":\r\n", i);
                if (i == std::string_view::npos || i >= end) {
                    i = end;
                    break;
                }
                if (t[i] == '"') {
                    quoted = !quoted;
                } else if (t[i] == ':') {
                    if (!quoted) break;
                } else if (const std::size_t f = fold_at(t, i, end)) {
                    i += f;
                    continue;
                }
                ++i;
            }
            if (i >= end) {
                return error(quoted ? "property " + name_text() +
                                          ": unterminated quoted parameter value"
                                    : "property " + name_text() +
                                          ": no ':' between its parameters and its value");
            }
        }
        sl.value_at = i + 1;

        const bool is_begin = s.name_is(sl, "BEGIN");
        if (is_begin || s.name_is(sl, "END")) {
            const std::string name = is_begin ? "BEGIN" : "END";
            // libical does not recognise "BEGIN: VEVENT", "BEGIN:V EVENT" or "BEGIN;X=1:VEVENT";
            // accepting them here would make an event vanish without a word.
            std::string raw = s.unfolded_value(sl);
            while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t')) raw.pop_back();
            if (t[after_name] == ';') return error(name + " takes no parameters");
            std::string value;
            for (char c : raw) {
                if (!is_name_char(static_cast<unsigned char>(c)) || c == '.') {
                    return error(name + ":" + raw + " is not a component name");
                }
                value += upper(static_cast<unsigned char>(c));
            }
            if (value.empty()) return error(name + " without a component name");
            if (is_begin) {
                if (static_cast<int>(stack.size()) >= max_component_depth) {
                    return error("components nested deeper than " +
                                 std::to_string(max_component_depth) + " levels");
                }
                s.components_.push_back(scanned_component{value, line, s.lines_.size(), 0,
                                                          static_cast<int>(stack.size())});
                stack.push_back({s.components_.size() - 1});
            } else {
                if (stack.empty())
                    return error("END:" + value + " without a matching BEGIN:" + value);
                auto& open = s.components_[stack.back().index];
                if (open.name != value) {
                    return error("END:" + value + " does not close BEGIN:" + open.name +
                                 " from line " + std::to_string(open.begin_line));
                }
                open.last = s.lines_.size();
                stack.pop_back();
            }
        } else if (stack.empty()) {
            return error("property " + name_text() +
                         " outside any component (before BEGIN:VCALENDAR or after its END)");
        }
        s.lines_.push_back(std::move(sl));
        return std::nullopt;
    };

    std::size_t pos = 0;
    int line = 1;
    std::size_t logical_begin = std::string_view::npos;
    int logical_line = 0;
    while (pos < t.size()) {
        std::size_t nl = t.find('\n', pos);
        const std::size_t next = (nl == std::string_view::npos) ? t.size() : nl + 1;
        const bool continuation = (t[pos] == ' ' || t[pos] == '\t');
        if (continuation && logical_begin != std::string_view::npos) {
            // Part of the current logical line: nothing to do until it ends.
        } else if (continuation &&
                   std::any_of(t.begin() + static_cast<std::ptrdiff_t>(pos),
                               t.begin() + static_cast<std::ptrdiff_t>(next), [](char c) {
                                   return c != ' ' && c != '\t' && c != '\r' && c != '\n';
                               })) {
            return fail(line,
                        "line starts with a space (a folded continuation) but continues nothing");
        } else if (!continuation) {
            if (logical_begin != std::string_view::npos) {
                if (auto d = finish(logical_begin, pos, logical_line))
                    return result<scan, diagnostic>(boost::system::in_place_error, std::move(*d));
            }
            logical_begin = pos;
            logical_line = line;
        }
        pos = next;
        ++line;
    }
    if (logical_begin != std::string_view::npos) {
        if (auto d = finish(logical_begin, t.size(), logical_line))
            return result<scan, diagnostic>(boost::system::in_place_error, std::move(*d));
    }
    if (!stack.empty()) {
        const auto& open = s.components_[stack.back().index];
        return fail(open.begin_line,
                    "BEGIN:" + open.name + " is never closed (missing END:" + open.name + ")");
    }
    if (s.components_.empty()) return fail(0, "no iCalendar data (no BEGIN:VCALENDAR)");
    return s;
}

}  // namespace agendad::calendar::ical
