#include "daemon/cli.h"

#include <ostream>

namespace agendad::daemon {
namespace {

constexpr std::string_view version = "0.1.0";

constexpr std::string_view usage =
    R"(agendad — keeps executives' calendars free of meetings nobody needed.

agendad watches calendars, recognises unsolicited, purpose-free or spam invitations, and by
policy declines them politely, asks the organizer for an agenda, or leaves them to the owner.

Usage:
  agendad run [--config FILE] [--once]              the daemon: watch, decide, act, journal
  agendad run --demo                                 the daemon on the shipped sample mailbox
  agendad decisions [--mailbox A] [--since T]        what was decided, and why
  agendad undo ID                                    take back a decision agendad carried out
  agendad explain [options] INVITATION.ics|DIR...   what agendad would do with invitations, and why
  agendad check [FILE...]                            validate the configuration and policy files
  agendad --version
  agendad COMMAND --help                             help for one command

Exit status: 0 success, 1 some inputs could not be read (the others were processed),
2 bad arguments or configuration (nothing was done).
)";

}  // namespace

int run_cli(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    if (args.empty()) {
        err << usage;
        return exit_usage;
    }
    const std::string_view command = args.front();
    const auto rest = args.subspan(1);
    if (command == "--help" || command == "-h" || command == "help") {
        out << usage;
        return exit_ok;
    }
    if (command == "--version" || command == "version") {
        out << "agendad " << version << '\n';
        return exit_ok;
    }
    if (command == "explain") return explain_command(rest, out, err);
    if (command == "check") return check_command(rest, out, err);
    if (command == "run") return run_command(rest, out, err);
    if (command == "decisions") return decisions_command(rest, out, err);
    if (command == "undo") return undo_command(rest, out, err);
    err << "agendad: unknown command '" << command << "'\n\n" << usage;
    return exit_usage;
}

}  // namespace agendad::daemon
