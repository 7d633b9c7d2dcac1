#include "daemon/time_arg.h"

#include <charconv>

namespace agendad::daemon {
namespace {

bool read_int(std::string_view s, std::size_t at, std::size_t len, int& out) {
    if (at + len > s.size()) return false;
    for (std::size_t i = at; i < at + len; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
    }
    std::from_chars(s.data() + at, s.data() + at + len, out);
    return true;
}

}  // namespace

std::optional<calendar::time_point> parse_time_arg(std::string_view s) {
    using namespace std::chrono;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (!read_int(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !read_int(s, 5, 2, mo) ||
        s[7] != '-' || !read_int(s, 8, 2, d)) {
        return std::nullopt;
    }
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                             day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return std::nullopt;
    std::size_t i = 10;
    seconds offset{0};
    if (i < s.size()) {
        if (s[i] != 'T' && s[i] != ' ') return std::nullopt;
        if (!read_int(s, i + 1, 2, h) || i + 3 >= s.size() || s[i + 3] != ':' ||
            !read_int(s, i + 4, 2, mi)) {
            return std::nullopt;
        }
        i += 6;
        if (i < s.size() && s[i] == ':') {
            if (!read_int(s, i + 1, 2, sec)) return std::nullopt;
            i += 3;
        }
        if (h > 23 || mi > 59 || sec > 60) return std::nullopt;
        if (i >= s.size()) return std::nullopt;  // a time needs a zone: Z or an offset
        if (s[i] == 'Z' || s[i] == 'z') {
            ++i;
        } else if (s[i] == '+' || s[i] == '-') {
            int oh = 0, om = 0;
            if (!read_int(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' ||
                !read_int(s, i + 4, 2, om)) {
                return std::nullopt;
            }
            // Real offsets run from -12:00 to +14:00.
            if (oh > 14 || om > 59) return std::nullopt;
            offset = hours{oh} + minutes{om};
            if (s[i] == '-') offset = -offset;
            i += 6;
        } else {
            return std::nullopt;
        }
    }
    if (i != s.size()) return std::nullopt;
    return calendar::time_point{sys_days{ymd}} + hours{h} + minutes{mi} + seconds{sec} - offset;
}

}  // namespace agendad::daemon
