#include "policy/reply.h"

#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>

namespace agendad::policy {
namespace {

constexpr std::array<std::string_view, 9> placeholders = {
    "organizer_name", "organizer_first_name", "owner_name", "owner_first_name", "subject",
    "start",          "start_date",           "start_time", "organizer_address"};

bool known_placeholder(std::string_view name) {
    for (auto p : placeholders) {
        if (p == name) return true;
    }
    return false;
}

std::string trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return std::string(s);
}

std::string owner_name(const calendar::invitation& inv, std::string_view mailbox) {
    const std::string want = calendar::normalize_address(mailbox);
    for (const auto& a : inv.attendees) {
        if (a.address == want && !a.name.empty()) return a.name;
    }
    return name_from_address(want);
}

std::string organizer_name(const calendar::invitation& inv) {
    return inv.organizer.name.empty() ? name_from_address(inv.organizer.address)
                                      : inv.organizer.name;
}

}  // namespace

std::span<const std::string_view> reply_placeholders() {
    return placeholders;
}

std::optional<template_problem> check_reply_template(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '{') {
            if (i + 1 < text.size() && text[i + 1] == '{') {
                ++i;
                continue;
            }
            const auto close = text.find('}', i);
            if (close == std::string_view::npos)
                return template_problem{i, "'{' without a closing '}'"};
            const std::string_view name = text.substr(i + 1, close - i - 1);
            if (!known_placeholder(name)) {
                std::string known;
                for (auto p : placeholders) known += (known.empty() ? "" : ", ") + std::string(p);
                return template_problem{
                    i, "unknown placeholder {" + std::string(name) + "}; known: " + known};
            }
            i = close;
        } else if (text[i] == '}') {
            if (i + 1 < text.size() && text[i + 1] == '}') {
                ++i;
                continue;
            }
            return template_problem{i,
                                    "'}' without an opening '{' (write '}}' for a literal brace)"};
        }
    }
    return std::nullopt;
}

std::string first_name(std::string_view display) {
    std::string name = trim(display);
    if (const auto comma = name.find(','); comma != std::string::npos)
        name = trim(std::string_view(name).substr(comma + 1));
    // Skip titles ("Dr.", "Mr.") when a name follows them.
    std::size_t start = 0;
    while (true) {
        const auto space = name.find(' ', start);
        if (space == std::string::npos) break;
        const std::string_view word = std::string_view(name).substr(start, space - start);
        if (!word.empty() && word.back() == '.') {
            start = space + 1;
            continue;
        }
        return std::string(word);
    }
    std::string word = name.substr(start);
    if (word.empty() || word.find('@') != std::string::npos) return "there";
    return word;
}

std::string name_from_address(std::string_view address) {
    std::string local(address.substr(0, address.find('@')));
    std::string out;
    bool start = true;
    for (char c : local) {
        if (c == '.' || c == '_' || c == '-') {
            out += ' ';
            start = true;
            continue;
        }
        out += start ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
        start = false;
    }
    return trim(out);
}

std::string format_local_start(const calendar::invitation& inv, bool date, bool time) {
    using namespace std::chrono;
    static constexpr std::array<std::string_view, 7> weekdays = {
        "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"};
    static constexpr std::array<std::string_view, 12> months = {
        "January", "February", "March",     "April",   "May",      "June",
        "July",    "August",   "September", "October", "November", "December"};
    const auto& l = inv.start_local;
    std::string out;
    const year_month_day ymd{year{l.year}, month{static_cast<unsigned>(l.month)},
                             day{static_cast<unsigned>(l.day)}};
    if (date) {
        if (ymd.ok() && l.month >= 1 && l.month <= 12) {
            const weekday wd{sys_days{ymd}};
            out += std::string(weekdays[wd.c_encoding()]) + " " + std::to_string(l.day) + " " +
                   std::string(months[static_cast<std::size_t>(l.month - 1)]) + " " +
                   std::to_string(l.year);
        } else {
            out += calendar::format_date(inv.start);
        }
    }
    if (time && !inv.all_day) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%02d:%02d", l.hour % 24, l.minute % 60);
        if (!out.empty()) out += ", ";
        out += buf;
        if (!l.zone.empty()) out += " (" + l.zone + ")";
    }
    return out;
}

std::string render_reply(std::string_view text, const calendar::invitation& inv,
                         std::string_view mailbox) {
    std::string out;
    out.reserve(text.size() + 64);
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
            out += c;
            ++i;
            continue;
        }
        if (c != '{') {
            out += c;
            continue;
        }
        const auto close = text.find('}', i);
        if (close == std::string_view::npos) {
            out += text.substr(i);
            break;
        }
        const std::string_view name = text.substr(i + 1, close - i - 1);
        if (name == "organizer_name")
            out += organizer_name(inv);
        else if (name == "organizer_first_name")
            out += inv.organizer.name.empty() ? "there" : first_name(inv.organizer.name);
        else if (name == "organizer_address")
            out += inv.organizer.address;
        else if (name == "owner_name")
            out += owner_name(inv, mailbox);
        else if (name == "owner_first_name")
            out += first_name(owner_name(inv, mailbox));
        else if (name == "subject")
            out += inv.subject.empty() ? "your invitation" : inv.subject;
        else if (name == "start")
            out += format_local_start(inv, true, true);
        else if (name == "start_date")
            out += format_local_start(inv, true, false);
        else if (name == "start_time")
            out += format_local_start(inv, false, true);
        else
            out += text.substr(i, close - i + 1);  // checked at load time; kept verbatim otherwise
        i = close;
    }
    return out;
}

}  // namespace agendad::policy
