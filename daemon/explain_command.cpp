// `agendad explain`: runs the same parse → context → evaluate path as the daemon on .ics files
// and prints every decision with its evidence. It never sends anything.
#include <boost/json.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "calendar/ical/parse.h"
#include "config/policy_loader.h"
#include "daemon/cli.h"
#include "daemon/explain.h"
#include "daemon/time_arg.h"
#include "policy/evaluate.h"
#include "policy/reply.h"

namespace agendad::daemon {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view explain_usage = R"(Usage:
  agendad explain [--policy FILE] --mailbox ADDRESS --org-domain DOMAIN [--org-domain DOMAIN ...]
                  [--calendar HISTORY.ics ...] [--now TIME] [--json] INVITATION.ics|DIR|- ...

Shows what agendad would do with each invitation and why: every signal that fired with its
evidence, the rule that decided, the action, whether a response would be sent, and the exact
reply. Nothing is sent. Directories are read for *.ics files; '-' reads one invitation from stdin.

Options:
  --policy FILE        policy file (default: the shipped executive policy, built in)
  --mailbox ADDRESS    the calendar owner's e-mail address (required)
  --org-domain DOMAIN  an organisation domain; sub-domains count too (required, repeatable)
  --calendar FILE      the owner's existing calendar (.ics): who the owner met or accepted, whom
                       the owner declined, which meetings are accepted (repeatable). Without it
                       nobody outside the organisation is known.
  --now TIME           evaluate as of TIME, e.g. 2026-11-20T09:00:00Z (default: the clock)
  --json               one JSON object per invitation per line:
                       {file, uid, subject, organizer, start, action, send_response, rule, guard,
                        reason, signals:[{name, evidence}], reply, warnings}
                       or {file, line, error} for a file that cannot be read
  -h, --help           this help

Example:
  agendad explain --mailbox dana@contoso.example --org-domain contoso.example \
                  --calendar calendar.ics --now 2026-11-20T09:00:00Z invites/

Exit status: 0 all invitations explained; 1 some files could not be parsed (the others were
explained); 2 bad arguments, policy or calendar (nothing was explained).
)";

struct options {
    std::string policy_file;
    std::string mailbox;
    std::vector<std::string> org_domains;
    std::vector<std::string> calendars;
    std::optional<calendar::time_point> now;
    bool json = false;
    std::vector<std::string> inputs;
};

int usage_error(std::ostream& err, const std::string& message) {
    err << "agendad explain: " << message << "\n(see agendad explain --help)\n";
    return exit_usage;
}

// Directories become their *.ics files, sorted; files and '-' stay as given.
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs, std::ostream& err) {
    std::vector<std::string> out;
    for (const auto& in : inputs) {
        std::error_code ec;
        if (in != "-" && fs::is_directory(in, ec)) {
            std::vector<std::string> found;
            for (const auto& entry : fs::directory_iterator(in, ec)) {
                if (!entry.is_regular_file(ec)) continue;
                std::string ext = entry.path().extension().string();
                std::transform(ext.begin(), ext.end(), ext.begin(),
                               [](unsigned char c) { return std::tolower(c); });
                if (ext == ".ics") found.push_back(entry.path().string());
            }
            if (ec) err << "agendad explain: " << in << ": " << ec.message() << '\n';
            if (found.empty())
                err << "agendad explain: " << in << ": no .ics files in this directory\n";
            std::sort(found.begin(), found.end());
            out.insert(out.end(), found.begin(), found.end());
        } else {
            out.push_back(in);
        }
    }
    return out;
}

boost::system::result<calendar::parsed_calendar, diagnostic> parse_input(
    const std::string& input, const calendar::parse_options& po) {
    if (input == "-") {
        std::string text{std::istreambuf_iterator<char>(std::cin),
                         std::istreambuf_iterator<char>()};
        return calendar::parse_ics(text, "<stdin>", po);
    }
    return calendar::parse_ics_file(input, po);
}

std::string organizer_display(const calendar::invitation& inv) {
    std::string out = inv.organizer.name.empty() ? std::string() : inv.organizer.name + " ";
    out += "<" + inv.organizer.address + ">";
    if (!inv.organizer.sent_by.empty()) out += " sent by <" + inv.organizer.sent_by + ">";
    return out;
}

std::string action_display(const policy::decision& d) {
    switch (d.action) {
        case policy::action::leave:
            return "leave: no response, the owner decides";
        case policy::action::accept:
            return d.send_response ? "accept, sending a response" : "accept silently";
        case policy::action::request_agenda:
            return d.send_response ? "request an agenda from the organizer"
                                   : "request an agenda (no message)";
        case policy::action::decline:
            return d.send_response ? "decline, sending a response"
                                   : "decline without sending any response";
    }
    return "";
}

void print_human(std::ostream& out, const std::string& file, const calendar::invitation& inv,
                 const policy::decision& d) {
    out << file << '\n';
    out << "  \"" << (inv.subject.empty() ? "(no subject)" : inv.subject) << "\" from "
        << organizer_display(inv) << '\n';
    out << "  starts     " << policy::format_local_start(inv, true, true);
    if (!inv.all_day) out << " = " << calendar::format_utc(inv.start);
    if (inv.is_recurring()) out << ", repeating (" << inv.recurrence.rule << ")";
    out << '\n';
    out << "  action     " << policy::name_of(d.action) << " — " << action_display(d) << '\n';
    out << "  rule       " << d.rule << (d.by_guard ? " (built-in guard)" : "") << '\n';
    if (!d.reason.empty()) out << "  why        " << d.reason << '\n';
    if (!d.signals.empty()) {
        out << "  signals\n";
        std::size_t width = 0;
        for (const auto& s : d.signals) width = std::max(width, policy::name_of(s.id).size());
        for (const auto& s : d.signals) {
            const auto name = policy::name_of(s.id);
            out << "    " << name << std::string(width - name.size() + 2, ' ') << s.evidence
                << '\n';
        }
    }
    for (const auto& w : inv.warnings) out << "  warning    " << w << '\n';
    if (d.send_response) {
        if (d.reply.empty()) {
            out << "  reply      (the response carries no message)\n";
        } else {
            out << "  reply (template " << d.reply_template << ")\n";
            std::istringstream lines(d.reply);
            std::string line;
            while (std::getline(lines, line)) out << "    | " << line << '\n';
        }
    }
    out << '\n';
}

void print_json(std::ostream& out, const std::string& file, const calendar::invitation& inv,
                const policy::decision& d) {
    boost::json::object o;
    o["file"] = file;
    o["uid"] = inv.uid;
    if (inv.recurrence_id) o["recurrence_id"] = calendar::format_utc(*inv.recurrence_id);
    o["sequence"] = inv.sequence;
    o["subject"] = inv.subject;
    o["organizer"] = inv.organizer.address;
    o["start"] = calendar::format_utc(inv.start);
    o["action"] = std::string(policy::name_of(d.action));
    o["send_response"] = d.send_response;
    o["rule"] = d.rule;
    o["guard"] = d.by_guard;
    o["reason"] = d.reason;
    boost::json::array signals;
    for (const auto& s : d.signals) {
        signals.push_back(boost::json::object{{"name", std::string(policy::name_of(s.id))},
                                              {"evidence", s.evidence}});
    }
    o["signals"] = std::move(signals);
    if (d.send_response && !d.reply.empty())
        o["reply"] = d.reply;
    else
        o["reply"] = nullptr;
    boost::json::array warnings;
    for (const auto& w : inv.warnings) warnings.push_back(boost::json::string(w));
    o["warnings"] = std::move(warnings);
    out << boost::json::serialize(o) << '\n';
}

void print_error(std::ostream& out, std::ostream& err, bool json, const std::string& file,
                 const diagnostic& d) {
    if (json) {
        boost::json::object o{{"file", file}, {"error", d.message}};
        if (d.line > 0) o["line"] = d.line;
        out << boost::json::serialize(o) << '\n';
    } else {
        err << "agendad explain: error: " << d.to_string() << '\n';
    }
}

}  // namespace

int explain_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    options opt;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= args.size()) return std::nullopt;
            return std::string(args[++i]);
        };
        if (a == "-h" || a == "--help") {
            out << explain_usage;
            return exit_ok;
        } else if (a == "--json") {
            opt.json = true;
        } else if (a == "--policy" || a == "--mailbox" || a == "--org-domain" ||
                   a == "--calendar" || a == "--now") {
            auto v = value();
            if (!v) return usage_error(err, std::string(a) + " needs a value");
            if (a == "--policy")
                opt.policy_file = *v;
            else if (a == "--mailbox")
                opt.mailbox = *v;
            else if (a == "--org-domain")
                opt.org_domains.push_back(*v);
            else if (a == "--calendar")
                opt.calendars.push_back(*v);
            else {
                opt.now = parse_time_arg(*v);
                if (!opt.now)
                    return usage_error(
                        err, "--now '" + *v + "' is not a time like 2026-11-20T09:00:00Z");
            }
        } else if (a.size() > 1 && a.front() == '-' && a != "-") {
            return usage_error(err, "unknown option '" + std::string(a) + "'");
        } else {
            opt.inputs.emplace_back(a);
        }
    }
    if (opt.mailbox.empty())
        return usage_error(err, "--mailbox ADDRESS is required (the calendar owner's address)");
    if (calendar::domain_of(calendar::normalize_address(opt.mailbox)).empty()) {
        return usage_error(err, "--mailbox '" + opt.mailbox + "' is not an e-mail address");
    }
    if (opt.org_domains.empty()) {
        return usage_error(
            err, "--org-domain DOMAIN is required (the organisation's e-mail domain, e.g. " +
                     std::string(calendar::domain_of(calendar::normalize_address(opt.mailbox))) +
                     "); repeat it for several");
    }
    if (opt.inputs.empty())
        return usage_error(err, "no invitations given (files, directories or '-')");

    // Policy: every problem at once, nothing explained with a broken policy.
    const config::policy_load loaded = opt.policy_file.empty()
                                           ? config::load_builtin_executive_policy()
                                           : config::load_policy_file(opt.policy_file);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) err << e.to_string() << '\n';
        err << "agendad explain: the policy has " << loaded.errors.size()
            << " problem(s); nothing was explained\n";
        return exit_usage;
    }
    const policy::policy& pol = *loaded.policy;

    calendar::parse_options po;
    po.mailbox = opt.mailbox;

    // History: a decision on a partial history could decline someone the owner knows.
    const history_load history = load_history_files(opt.calendars, opt.mailbox);
    if (!history.errors.empty()) {
        for (const auto& e : history.errors)
            err << "agendad explain: error: " << e.to_string() << '\n';
        err << "agendad explain: the calendar has " << history.errors.size()
            << " part(s) that cannot be read; agendad does not decide on a partial history, so "
               "nothing was "
               "explained. Fix or remove them.\n";
        return exit_usage;
    }
    const std::vector<calendar::invitation>& history_events = history.events;
    const policy::history known = policy::history::from_events(history_events, opt.mailbox);

    policy::context ctx;
    ctx.mailbox = opt.mailbox;
    ctx.org_domains = opt.org_domains;
    ctx.now =
        opt.now
            ? *opt.now
            : std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    ctx.known = &known;

    if (!opt.json) {
        out << "agendad explain: policy '" << pol.name << "' (" << pol.source << "), mailbox "
            << calendar::normalize_address(opt.mailbox) << ", now " << calendar::format_utc(ctx.now)
            << ", " << history_events.size() << " calendar event(s)\n";
        if (opt.calendars.empty()) {
            out << "  note: no --calendar given, so nobody outside the organisation is known\n";
        }
        out << '\n';
    }

    std::map<std::string, int> counts;
    int errors = 0;
    int silent = 0;
    for (const auto& file : expand_inputs(opt.inputs, err)) {
        auto parsed = parse_input(file, po);
        if (!parsed) {
            ++errors;
            print_error(out, err, opt.json, file, parsed.error());
            continue;
        }
        if (!parsed->errors.empty()) {
            // Half an invitation is not decided on: the file as a whole is an error.
            ++errors;
            for (const auto& e : parsed->errors) print_error(out, err, opt.json, file, e);
            continue;
        }
        if (parsed->events.empty()) {
            ++errors;
            print_error(out, err, opt.json, file,
                        diagnostic{file, 0, 0, "no VEVENT: not a meeting invitation"});
            continue;
        }
        for (const auto& [inv, d] : decide_all(*parsed, pol, ctx, {.signals_when_guarded = true})) {
            ++counts[std::string(policy::name_of(d.action))];
            if (d.action == policy::action::decline && !d.send_response) ++silent;
            if (opt.json)
                print_json(out, file, inv, d);
            else
                print_human(out, file, inv, d);
        }
    }

    if (!opt.json) {
        int total = 0;
        for (const auto& [k, v] : counts) total += v;
        out << total << " invitation(s):";
        const char* sep = " ";
        for (const auto& name : {"decline", "request_agenda", "accept", "leave"}) {
            if (!counts.count(name)) continue;
            out << sep << counts[name] << ' ' << name;
            if (std::string_view(name) == "decline" && silent > 0)
                out << " (" << silent << " without a response)";
            sep = ", ";
        }
        if (errors > 0) out << "; " << errors << " file(s) could not be read";
        out << '\n';
    }
    return errors > 0 ? exit_input_errors : exit_ok;
}

}  // namespace agendad::daemon
