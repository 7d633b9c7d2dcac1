// `agendad check`: validates policy files before rollout and prints every problem at once.
#include <ostream>
#include <string>
#include <vector>

#include "config/policy_loader.h"
#include "daemon/cli.h"
#include "policy/signal.h"

namespace agendad::daemon {
namespace {

constexpr std::string_view check_usage = R"(Usage:
  agendad check [POLICY.yaml ...]
  agendad check --list-signals

Validates policy files and prints every problem at once as FILE:LINE:COLUMN: message (unknown
keys, misspelt signals, unknown actions, undefined or broken reply templates, unreachable rules).
Without files it checks the built-in executive policy. Nothing is changed.

Options:
  --list-signals   list the signals a rule's when: all/any/none may name, and the built-in guards
  -h, --help       this help

Exit status: 0 every file is valid (warnings allowed); 1 a file has problems; 2 bad arguments.
)";

constexpr std::string_view guards =
    R"(Built-in guards (always first, always leave the invitation alone):
  guard_cancelled               METHOD:CANCEL or STATUS:CANCELLED
  guard_not_a_request           a REPLY, COUNTER, PUBLISH or other non-request message
  guard_no_organizer            an appointment without organizer
  guard_own_meeting             the owner organizes it (or sends it as SENT-BY)
  guard_not_invited             the owner is not on the attendee list
  guard_no_response_requested   RSVP=FALSE, or the owner is a NON-PARTICIPANT
  guard_already_responded       the owner's PARTSTAT is already ACCEPTED, DECLINED, TENTATIVE, ...
  guard_no_start                no DTSTART: the meeting has no time
  guard_past_event              the event (or the last occurrence of its series) is over
  guard_already_accepted        an update of a meeting already accepted in the calendar (same UID)
  guard_no_uid                  no UID: a response could not be matched
)";

}  // namespace

int check_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    std::vector<std::string> files;
    for (const std::string_view a : args) {
        if (a == "-h" || a == "--help") {
            out << check_usage;
            return exit_ok;
        }
        if (a == "--list-signals") {
            out << "Signals (use them in a rule's when: all / any / none):\n";
            for (std::size_t i = 0; i < policy::signal_count; ++i) {
                const auto id = static_cast<policy::signal_id>(i);
                const auto name = policy::name_of(id);
                out << "  " << name << std::string(name.size() < 24 ? 24 - name.size() : 1, ' ')
                    << policy::meaning_of(id) << '\n';
            }
            out << '\n' << guards;
            return exit_ok;
        }
        if (a.size() > 1 && a.front() == '-') {
            err << "agendad check: unknown option '" << a << "'\n(see agendad check --help)\n";
            return exit_usage;
        }
        files.emplace_back(a);
    }

    int failed = 0;
    auto report = [&](const std::string& name, const config::policy_load& r) {
        for (const auto& e : r.errors) out << e.to_string() << '\n';
        for (const auto& w : r.warnings) out << "warning: " << w.to_string() << '\n';
        if (r.ok()) {
            const auto& p = *r.policy;
            out << name << ": OK: policy '" << p.name << "', " << p.rules.size() << " rules, "
                << p.replies.size() << " replies, mode " << policy::name_of(p.mode) << '\n';
        } else {
            ++failed;
            out << name << ": " << r.errors.size() << " problem(s)\n";
        }
    };
    if (files.empty()) {
        report(std::string(config::builtin_executive_policy_name),
               config::load_builtin_executive_policy());
    }
    for (const auto& f : files) report(f, config::load_policy_file(f));
    return failed > 0 ? exit_input_errors : exit_ok;
}

}  // namespace agendad::daemon
