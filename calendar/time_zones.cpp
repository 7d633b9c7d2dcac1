#include "calendar/time_zones.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

namespace agendad::calendar {
namespace {

struct zone_pair {
    std::string_view windows;
    std::string_view iana;
};

constexpr zone_pair generated_table[] = {
#include "windows_zones.inc"
};

bool iless(std::string_view a, std::string_view b) {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) <
               std::tolower(static_cast<unsigned char>(y));
    });
}

// Sorted case-insensitively once, so that look-ups are a binary search.
const std::vector<zone_pair>& sorted_table() {
    static const std::vector<zone_pair> table = [] {
        std::vector<zone_pair> t(std::begin(generated_table), std::end(generated_table));
        std::sort(t.begin(), t.end(), [](const zone_pair& a, const zone_pair& b) {
            return iless(a.windows, b.windows);
        });
        return t;
    }();
    return table;
}

}  // namespace

std::optional<std::string_view> windows_zone_to_iana(std::string_view name) {
    while (!name.empty() && (name.front() == ' ' || name.front() == '"')) name.remove_prefix(1);
    while (!name.empty() && (name.back() == ' ' || name.back() == '"')) name.remove_suffix(1);
    const auto& table = sorted_table();
    auto it = std::lower_bound(
        table.begin(), table.end(), name,
        [](const zone_pair& p, std::string_view n) { return iless(p.windows, n); });
    if (it != table.end() && !iless(name, it->windows)) return it->iana;
    return std::nullopt;
}

std::size_t windows_zone_count() {
    return sorted_table().size();
}

}  // namespace agendad::calendar
