#include "daemon/log.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "calendar/invitation.h"

namespace agendad::daemon::log {
namespace {

config::log_level current = config::log_level::info;

// systemd sets JOURNAL_STREAM when stderr goes to the journal: then the priority travels as a
// "<N>" prefix and the journal adds the time itself.
bool to_journal() {
    static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
    return journal;
}

int priority(config::log_level l) {
    switch (l) {
        case config::log_level::debug:
            return 7;
        case config::log_level::info:
            return 6;
        case config::log_level::warning:
            return 4;
        case config::log_level::error:
            return 3;
    }
    return 6;
}

void append_value(std::string& line, std::string_view v) {
    const bool quote = v.empty() || v.find_first_of(" \t\"=") != std::string_view::npos;
    if (quote) line += '"';
    for (char c : v) {
        if (c == '"' || c == '\\') line += '\\';
        // One event, one line: a value never breaks it.
        line += (c == '\n' || c == '\r') ? ' ' : c;
    }
    if (quote) line += '"';
}

}  // namespace

void set_level(config::log_level level) {
    current = level;
}
bool enabled(config::log_level level) {
    return static_cast<int>(level) >= static_cast<int>(current);
}

void write(config::log_level level, std::string_view message, std::initializer_list<field> fields) {
    if (!enabled(level)) return;
    std::string line;
    if (to_journal()) {
        line = "<" + std::to_string(priority(level)) + ">";
    } else {
        const auto now =
            std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
        line = calendar::format_utc(now) + " " + std::string(config::name_of(level)) + " ";
    }
    line += message;
    for (const auto& [key, value] : fields) {
        line += ' ';
        line += key;
        line += '=';
        append_value(line, value);
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
}

}  // namespace agendad::daemon::log
