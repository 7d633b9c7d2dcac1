// `agendad check`: validates policy files and the daemon configuration before rollout and prints
// every problem at once.
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/daemon_config.h"
#include "config/policy_loader.h"
#include "daemon/cli.h"
#include "daemon/sources.h"
#include "policy/signal.h"

namespace agendad::daemon {
namespace {

constexpr std::string_view check_usage = R"(Usage:
  agendad check [--config AGENDAD.yaml] [POLICY.yaml|AGENDAD.yaml ...]
  agendad check --list-signals

Validates policy files and daemon configurations and prints every problem at once as
FILE:LINE:COLUMN: message. In a policy: unknown keys, misspelt signals, unknown actions, undefined
or broken reply templates, unreachable rules. In a daemon configuration (a file with a top-level
mailboxes: or sources: key): unknown keys, values out of range, mailboxes naming undefined
sources or policies, missing folders, unsafe URLs, and secret files that are missing, empty or
readable by other users; the policy files it names are checked too. For a Microsoft Graph
source, offline: that the certificate and the private key belong together (by signing a client
assertion) and that the certificate has not expired; without notifications: a warning that
changes are seen by polling. Secrets are never printed.
Without files it checks /etc/agendad/agendad.yaml if it exists, else the built-in executive
policy. Nothing is changed.

Options:
  --config FILE    check FILE as a daemon configuration (whatever its keys)
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

// A daemon configuration has mailboxes or sources at the top level; a policy never does. Block
// style keeps top-level keys at column 0, so a line scan decides without parsing the YAML twice.
bool looks_like_daemon_config(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string line;
    while (std::getline(in, line)) {
        std::string_view key = line;
        if (!key.empty() && (key.front() == '"' || key.front() == '\'')) key.remove_prefix(1);
        for (const std::string_view top : {"mailboxes", "sources"}) {
            if (key.substr(0, top.size()) != top) continue;
            std::string_view rest = key.substr(top.size());
            if (!rest.empty() && (rest.front() == '"' || rest.front() == '\''))
                rest.remove_prefix(1);
            while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
            if (!rest.empty() && rest.front() == ':') return true;
        }
    }
    return false;
}

std::string count(std::size_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// When a PEM certificate expires (its first certificate's notAfter), or nothing when it cannot
// be read (client_assertion has said why).
std::optional<std::chrono::sys_seconds> certificate_expiry(const std::string& pem) {
    const std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
    if (!bio) return std::nullopt;
    const std::unique_ptr<X509, decltype(&X509_free)> cert(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
    if (!cert) return std::nullopt;
    int days = 0;
    int seconds = 0;
    // The difference from now to notAfter.
    if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(cert.get())) != 1)
        return std::nullopt;
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    return now + std::chrono::days{days} + std::chrono::seconds{seconds};
}

// An app registration's certificate (a Graph source's, an EWS source's with auth: oauth): that
// it and the key belong together and are in date. `field` names it: "sources.m365." or
// "sources.exchange.oauth.".
void check_app_certificate(const config::daemon_config& c, const std::string& field,
                           const config::graph_source& g, std::vector<diagnostic>& errors,
                           std::vector<diagnostic>& warnings) {
    if (g.certificate_pem.empty()) return;
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    const diagnostic at{c.source_file, g.certificate_line, g.certificate_column, {}};
    if (auto problem = daemon::graph_credentials_problem(g, now)) {
        diagnostic d = at;
        d.message = field.substr(0, field.size() - 1) + ": " + *problem;
        errors.push_back(std::move(d));
    } else if (const auto expiry = certificate_expiry(g.certificate_pem)) {
        const auto days_left = std::chrono::floor<std::chrono::days>(*expiry - now).count();
        diagnostic d = at;
        if (*expiry <= now) {
            d.message = field + "certificate_file: " + g.certificate_file.string() +
                        " has expired: Microsoft refuses it; make a new certificate and "
                        "upload it to the app registration (Certificates & secrets)";
            errors.push_back(std::move(d));
        } else if (days_left < 30) {
            d.message = field + "certificate_file: " + g.certificate_file.string() +
                        " expires in " + std::to_string(days_left) +
                        " day(s): upload a new one to the app registration before then";
            warnings.push_back(std::move(d));
        }
    }
}

// What only `agendad check` looks at in a valid configuration's Graph and EWS sources: the
// app certificates, and whether changes are polled only.
void check_graph_sources(const config::daemon_config& c, std::vector<diagnostic>& errors,
                         std::vector<diagnostic>& warnings) {
    for (const auto& [name, s] : c.sources) {
        if (s.kind == config::source_kind::ews && s.ews.auth == config::ews_auth::oauth) {
            check_app_certificate(c, "sources." + name + ".oauth.", s.ews.oauth, errors,
                                  warnings);
        }
        if (s.kind != config::source_kind::graph) continue;
        const config::graph_source& g = s.graph;
        check_app_certificate(c, "sources." + name + ".", g, errors, warnings);
        if (!g.notifications) {
            warnings.push_back(
                diagnostic{c.source_file, s.line, s.column,
                           "source '" + name +
                               "' has no notifications: changes are seen by delta polling every " +
                               std::to_string(g.poll.count()) +
                               " s (set notifications: to see them within seconds)"});
        }
    }
}

// "3 mailboxes (2 enforce, 1 dry-run), 2 sources, 1 policy file": what the daemon would run.
std::string summary(const config::daemon_config& c) {
    std::size_t enforce = 0;
    for (const auto& m : c.mailboxes) {
        if (config::effective_mode(c, m) == config::mailbox_mode::enforce) ++enforce;
    }
    std::size_t policy_files = 0;
    for (const auto& [name, p] : c.policies) {
        if (p.source != config::builtin_executive_policy_name) ++policy_files;
    }
    std::string groups;
    if (!c.groups.empty()) {
        std::size_t group_enforce = 0;
        for (const auto& g : c.groups) {
            if (config::effective_mode(c, g) == config::mailbox_mode::enforce) ++group_enforce;
        }
        groups = count(c.groups.size(), "group", "groups") + " (" + std::to_string(group_enforce) +
                 " enforce, " + std::to_string(c.groups.size() - group_enforce) + " dry-run), ";
    }
    return count(c.mailboxes.size(), "mailbox", "mailboxes") + " (" + std::to_string(enforce) +
           " enforce, " + std::to_string(c.mailboxes.size() - enforce) + " dry-run), " + groups +
           count(c.sources.size(), "source", "sources") + ", " +
           count(policy_files, "policy file", "policy files");
}

struct input {
    std::string file;
    bool daemon_config = false;  // forced by --config
};

}  // namespace

int check_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    std::vector<input> files;
    for (std::size_t arg = 0; arg < args.size(); ++arg) {
        const std::string_view a = args[arg];
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
        if (a == "--config" || a.rfind("--config=", 0) == 0) {
            std::string_view file;
            if (a == "--config") {
                if (arg + 1 == args.size()) {
                    err << "agendad check: --config needs a FILE\n(see agendad check --help)\n";
                    return exit_usage;
                }
                file = args[++arg];
            } else {
                file = a.substr(std::string_view("--config=").size());
            }
            if (file.empty()) {
                err << "agendad check: --config needs a FILE\n(see agendad check --help)\n";
                return exit_usage;
            }
            files.push_back({std::string(file), true});
            continue;
        }
        if (a.size() > 1 && a.front() == '-') {
            err << "agendad check: unknown option '" << a << "'\n(see agendad check --help)\n";
            return exit_usage;
        }
        files.push_back({std::string(a), false});
    }

    int failed = 0;
    auto list = [&](const auto& r) {
        for (const auto& e : r.errors) out << e.to_string() << '\n';
        for (const auto& w : r.warnings) out << "warning: " << w.to_string() << '\n';
    };
    auto report = [&](const std::string& name, const config::policy_load& r) {
        list(r);
        if (r.ok()) {
            const auto& p = *r.policy;
            out << name << ": OK: policy '" << p.name << "', " << p.rules.size() << " rules, "
                << p.replies.size() << " replies, mode " << policy::name_of(p.mode) << '\n';
        } else {
            ++failed;
            out << name << ": " << r.errors.size() << " problem(s)\n";
        }
    };
    auto report_config = [&](const std::string& name, config::daemon_config_load r) {
        if (r.ok()) check_graph_sources(*r.config, r.errors, r.warnings);
        list(r);
        if (r.ok()) {
            out << name << ": OK: " << summary(*r.config) << '\n';
        } else {
            ++failed;
            out << name << ": " << r.errors.size() << " problem(s)\n";
        }
    };
    if (files.empty()) {
        const std::filesystem::path installed(config::default_config_path);
        std::error_code ec;
        if (std::filesystem::exists(installed, ec)) {
            files.push_back({installed.string(), true});
        } else {
            out << "(no " << installed.string() << ": checking the built-in executive policy)\n";
            report(std::string(config::builtin_executive_policy_name),
                   config::load_builtin_executive_policy());
        }
    }
    for (const auto& f : files) {
        if (f.daemon_config || looks_like_daemon_config(f.file))
            report_config(f.file, config::load_daemon_config_file(f.file));
        else
            report(f.file, config::load_policy_file(f.file));
    }
    return failed > 0 ? exit_input_errors : exit_ok;
}

}  // namespace agendad::daemon
