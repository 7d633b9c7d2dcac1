#include "yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <set>

namespace agendad::config::detail {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] =
                std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = up;
        }
    }
    return row[b.size()];
}

bool valid_domain(std::string_view d) {
    if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.' ||
        d.find("..") != std::string_view::npos) {
        return false;
    }
    return std::all_of(d.begin(), d.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
               static_cast<unsigned char>(c) >= 0x80;
    });
}

bool valid_address(std::string_view a) {
    const auto at = a.find('@');
    return at != std::string_view::npos && at > 0 &&
           a.find('@', at + 1) == std::string_view::npos && valid_domain(a.substr(at + 1)) &&
           a.find(' ') == std::string_view::npos;
}

diagnostic yaml_reader::at(const YAML::Node& node, std::string message) const {
    diagnostic d{file_, 0, 0, std::move(message)};
    if (node.IsDefined()) {
        const YAML::Mark m = node.Mark();
        if (m.line >= 0) {
            d.line = m.line + 1;
            d.column = m.column + 1;
        }
    }
    return d;
}

void yaml_reader::error(const YAML::Node& node, std::string message) {
    errors_.push_back(at(node, std::move(message)));
}
void yaml_reader::warning(const YAML::Node& node, std::string message) {
    warnings_.push_back(at(node, std::move(message)));
}

std::optional<YAML::Node> yaml_reader::parse(std::string_view text) {
    source_ = std::string(text);
    try {
        YAML::Node root = YAML::Load(std::string(text));
        return root;
    } catch (const YAML::Exception& e) {
        diagnostic d{file_, e.mark.line >= 0 ? e.mark.line + 1 : 0,
                     e.mark.column >= 0 ? e.mark.column + 1 : 0, "YAML syntax: " + e.msg};
        errors_.push_back(std::move(d));
        return std::nullopt;
    }
}

void yaml_reader::error_in_scalar(const YAML::Node& scalar, std::size_t offset,
                                  std::string message) {
    diagnostic d = at(scalar, std::move(message));
    const YAML::Mark m = scalar.Mark();
    if (m.line < 0 || !scalar.IsScalar()) {
        errors_.push_back(std::move(d));
        return;
    }
    // The source lines, to see how the scalar is written.
    std::vector<std::string_view> lines;
    for (std::size_t pos = 0; pos <= source_.size();) {
        const auto nl = source_.find('\n', pos);
        const auto end = nl == std::string::npos ? source_.size() : nl;
        lines.push_back(std::string_view(source_).substr(pos, end - pos));
        if (nl == std::string::npos) break;
        pos = nl + 1;
    }
    const auto first = static_cast<std::size_t>(m.line);
    const char indicator =
        first < lines.size() && static_cast<std::size_t>(m.column) < lines[first].size()
            ? lines[first][static_cast<std::size_t>(m.column)]
            : ' ';
    const std::string& value = scalar.Scalar();
    const std::size_t before = std::min(offset, value.size());
    const auto line_in_value = static_cast<std::size_t>(
        std::count(value.begin(), value.begin() + static_cast<std::ptrdiff_t>(before), '\n'));
    const std::size_t line_start = value.rfind('\n', before == 0 ? 0 : before - 1);
    const std::size_t column_in_line =
        (line_start == std::string::npos || before == 0) ? before : before - line_start - 1;
    if (indicator == '|' || indicator == '>') {
        // Block scalar: its text starts on the next line, indented like its first non-blank line.
        std::size_t indent = 0;
        for (std::size_t l = first + 1; l < lines.size(); ++l) {
            const auto non_space = lines[l].find_first_not_of(' ');
            if (non_space == std::string_view::npos) continue;
            indent = non_space;
            break;
        }
        d.line = static_cast<int>(first + 2 + line_in_value);
        d.column = static_cast<int>(indent + column_in_line + 1);
    } else if (line_in_value == 0) {
        const int quote = (indicator == '"' || indicator == '\'') ? 1 : 0;
        d.column = m.column + 1 + quote + static_cast<int>(column_in_line);
    }
    errors_.push_back(std::move(d));
}

bool yaml_reader::expect_map(const YAML::Node& node, std::string_view what,
                             std::initializer_list<std::string_view> known) {
    if (!node.IsMap()) {
        error(node, std::string(what) + " must be a mapping of keys to values");
        return false;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
        const YAML::Node key = it->first;
        const std::string name = key.IsScalar() ? key.Scalar() : std::string();
        if (!seen.insert(name).second) {
            error(key, "'" + name + "' appears twice in " + std::string(what));
            continue;
        }
        if (std::find(known.begin(), known.end(), name) != known.end()) continue;
        std::string message = "unknown key '" + name + "' in " + std::string(what);
        std::string_view best;
        std::size_t best_distance = 3;
        for (std::string_view k : known) {
            const std::size_t dist = edit_distance(name, k);
            if (dist < best_distance) {
                best = k;
                best_distance = dist;
            }
        }
        if (!best.empty()) {
            message += " (did you mean '" + std::string(best) + "'?)";
        } else {
            message += " (known: ";
            bool first = true;
            for (std::string_view k : known) {
                message += (first ? "" : ", ") + std::string(k);
                first = false;
            }
            message += ")";
        }
        error(key, std::move(message));
    }
    return true;
}

std::optional<std::string> yaml_reader::string(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar()) {
        error(node, std::string(what) + " must be a text value");
        return std::nullopt;
    }
    return node.Scalar();
}

std::optional<int> yaml_reader::integer(const YAML::Node& node, std::string_view what, int min,
                                        int max) {
    if (!node.IsScalar()) {
        error(node, std::string(what) + " must be a whole number");
        return std::nullopt;
    }
    const std::string& s = node.Scalar();
    int value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size()) {
        error(node, std::string(what) + " must be a whole number, not '" + s + "'");
        return std::nullopt;
    }
    if (value < min || value > max) {
        error(node, std::string(what) + " must be between " + std::to_string(min) + " and " +
                        std::to_string(max) + ", not " + s);
        return std::nullopt;
    }
    return value;
}

std::optional<bool> yaml_reader::boolean(const YAML::Node& node, std::string_view what) {
    if (node.IsScalar()) {
        const std::string& s = node.Scalar();
        if (s == "true" || s == "yes" || s == "on") return true;
        if (s == "false" || s == "no" || s == "off") return false;
    }
    error(node, std::string(what) + " must be true or false");
    return std::nullopt;
}

std::vector<std::string> yaml_reader::string_list(const YAML::Node& node, std::string_view what) {
    std::vector<std::string> out;
    if (!node.IsDefined() || node.IsNull()) return out;
    if (!node.IsSequence()) {
        error(node, std::string(what) + " must be a list, e.g. [a, b]");
        return out;
    }
    for (const auto& item : node) {
        if (auto s = string(item, std::string(what) + " entries")) out.push_back(*s);
    }
    return out;
}

}  // namespace agendad::config::detail
