// Logging: one line per event on stderr, a constant message plus key=value fields, with a
// journald priority prefix when systemd collects the output. Never secrets or bodies.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "config/daemon_config.h"

namespace agendad::daemon::log {

using field = std::pair<std::string_view, std::string>;

void set_level(config::log_level level);
bool enabled(config::log_level level);
void write(config::log_level level, std::string_view message,
           std::initializer_list<field> fields = {});

inline void debug(std::string_view m, std::initializer_list<field> f = {}) {
    write(config::log_level::debug, m, f);
}
inline void info(std::string_view m, std::initializer_list<field> f = {}) {
    write(config::log_level::info, m, f);
}
inline void warning(std::string_view m, std::initializer_list<field> f = {}) {
    write(config::log_level::warning, m, f);
}
inline void error(std::string_view m, std::initializer_list<field> f = {}) {
    write(config::log_level::error, m, f);
}

}  // namespace agendad::daemon::log
