// The agendad command line: dispatches to the subcommands (explain, check; the daemon's run,
// decisions and undo come later). Returns the process exit status.
#pragma once

#include <iosfwd>
#include <span>
#include <string_view>

namespace agendad::daemon {

// Exit statuses shared by every subcommand.
inline constexpr int exit_ok = 0;
inline constexpr int exit_input_errors = 1;  // some inputs could not be used; the others were
inline constexpr int exit_usage = 2;         // bad arguments or configuration: nothing was done

int run_cli(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

int explain_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
int check_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
int run_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
int decisions_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
int undo_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

}  // namespace agendad::daemon
