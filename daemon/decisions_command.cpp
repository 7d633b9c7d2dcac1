// `agendad decisions`: the decision journal with its reasons, for owners and admins.
#include <boost/json.hpp>

#include <filesystem>
#include <ostream>
#include <sstream>
#include <string>

#include "config/daemon_config.h"
#include "daemon/cli.h"
#include "daemon/journal_json.h"
#include "daemon/store.h"
#include "daemon/time_arg.h"

namespace agendad::daemon {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view decisions_usage = R"(Usage:
  agendad decisions [--config FILE | --state-dir DIR] [--mailbox ADDRESS] [--since TIME]
                    [--state STATE] [--limit N] [--json]

Lists the decision journal, newest first: what agendad decided for each invitation, why (the
rule and the signals with their evidence), whether a response was sent, and what happened.

Options:
  --config FILE     read the state directory from this configuration (default
                    /etc/agendad/agendad.yaml)
  --state-dir DIR   read the journal in DIR instead
  --mailbox ADDRESS only this mailbox
  --since TIME      only decisions made at or after TIME (e.g. 2026-11-20 or 2026-11-20T09:00:00Z)
  --state STATE     only entries in this state: intent, done, dry_run, left, rate_limited,
                    failed, overridden, undone, superseded
  --limit N         at most N entries (default 1000)
  --json            one JSON object per entry per line
  -h, --help        this help

States: done (carried out), dry_run (journaled exactly as enforce would have sent it), left (the
rule left it to the owner), rate_limited (over the mailbox's decline limit: not sent), failed (the
calendar refused; retried), intent (being carried out), overridden (the owner answered
differently), undone, superseded (a newer version of the meeting was decided).
)";

std::string describe(const journal_entry& e) {
    if (e.action == "leave") return "leave";
    std::string out = e.action == "request_agenda" ? "request agenda" : e.action;
    out += e.send_response ? " (with reply)" : " (silent)";
    return out;
}

void print_human(std::ostream& out, const journal_entry& e) {
    out << '#' << e.id << "  " << calendar::format_utc(e.decided_at) << "  " << e.key.mailbox
        << "  " << describe(e) << "  [" << name_of(e.state) << "]  " << e.rule << '\n';
    out << "    from " << e.organizer << ": \"" << e.subject << "\" on "
        << calendar::format_utc(e.start) << '\n';
    if (!e.reason.empty()) out << "    why: " << e.reason << '\n';
    std::istringstream signals(e.signals);
    std::string line;
    while (std::getline(signals, line)) out << "      " << line << '\n';
    if (!e.reply.empty() && e.send_response) {
        std::istringstream reply(e.reply);
        out << "    reply:\n";
        while (std::getline(reply, line)) out << "      | " << line << '\n';
    }
    if (e.deadline) out << "    agenda deadline: " << calendar::format_utc(*e.deadline) << '\n';
    if (!e.error.empty()) out << "    error: " << e.error << '\n';
    out << '\n';
}

void print_json(std::ostream& out, const journal_entry& e) {
    out << boost::json::serialize(to_json(e)) << '\n';
}

}  // namespace

int decisions_command(std::span<const std::string_view> args, std::ostream& out,
                      std::ostream& err) {
    std::string config_file = std::string(config::default_config_path);
    std::optional<fs::path> state_dir;
    journal_query query;
    bool json = false;
    auto fail = [&](const std::string& message) {
        err << "agendad decisions: " << message << "\n(see agendad decisions --help)\n";
        return exit_usage;
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        if (a == "-h" || a == "--help") {
            out << decisions_usage;
            return exit_ok;
        }
        if (a == "--json") {
            json = true;
            continue;
        }
        if (a != "--config" && a != "--state-dir" && a != "--mailbox" && a != "--since" &&
            a != "--state" && a != "--limit") {
            return fail("unknown argument '" + std::string(a) + "'");
        }
        if (i + 1 >= args.size()) return fail(std::string(a) + " needs a value");
        const std::string value(args[++i]);
        if (a == "--config") {
            config_file = value;
        } else if (a == "--state-dir") {
            state_dir = value;
        } else if (a == "--mailbox") {
            query.mailbox = calendar::normalize_address(value);
        } else if (a == "--since") {
            if (!(query.since = parse_time_arg(value)))
                return fail("--since '" + value + "' is not a time");
        } else if (a == "--state") {
            if (!(query.state = entry_state_from_name(value)))
                return fail("unknown state '" + value + "'");
        } else {
            try {
                query.limit = std::stoul(value);
            } catch (const std::exception&) {
                return fail("--limit '" + value + "' is not a number");
            }
        }
    }
    if (!state_dir) {
        auto loaded = config::load_daemon_config_file(config_file);
        if (!loaded.ok()) {
            for (const auto& e : loaded.errors) err << e.to_string() << '\n';
            return fail("cannot read the configuration " + config_file + " (or give --state-dir)");
        }
        state_dir = loaded.config->state_directory;
    }
    std::error_code ec;
    if (!fs::exists(*state_dir / "agendad.sqlite3", ec)) {
        err << "agendad decisions: no journal in " << state_dir->string()
            << " (has agendad run there?)\n";
        return exit_input_errors;
    }
    auto db = store::open(*state_dir);
    if (!db) {
        err << "agendad decisions: " << db.error() << '\n';
        return exit_input_errors;
    }
    auto entries = (*db)->list(query);
    if (!entries) {
        err << "agendad decisions: " << entries.error() << '\n';
        return exit_input_errors;
    }
    for (const auto& e : *entries) {
        if (json)
            print_json(out, e);
        else
            print_human(out, e);
    }
    if (!json) out << entries->size() << " decision(s)\n";
    return exit_ok;
}

}  // namespace agendad::daemon
