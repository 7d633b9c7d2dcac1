// The daemon's configuration (/etc/agendad/agendad.yaml) as typed values, validated like policy
// files: every problem at once as file:line:column, unknown keys are errors, secrets by file.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/diagnostic.h"
#include "policy/policy.h"

namespace agendad::config {

inline constexpr std::string_view default_config_path = "/etc/agendad/agendad.yaml";

enum class log_level { debug, info, warning, error };
std::string_view name_of(log_level l);

// A secret given by file (so that systemd's LoadCredential= works); the value is read when the
// configuration is loaded and never printed. `file` is kept for messages.
struct secret {
    std::filesystem::path file;
    std::string value;
};

enum class smtp_security { starttls, tls, none };  // none: only to a loopback server

struct smtp_settings {
    std::string host;
    int port = 587;
    smtp_security security = smtp_security::starttls;
    std::string user;  // empty: no AUTH
    std::optional<secret> password;
    std::string from;               // envelope and header From; default: the mailbox address
    std::filesystem::path ca_file;  // extra trust anchor (on-prem CA); empty: system store
};

struct folder_source {
    // Every *.ics below `path` is an object of the calendar (an event, an invitation, or a whole
    // calendar export); nothing there is ever modified.
    std::filesystem::path path;
    // Where iTIP REPLY messages are written, one .ics per response; default
    // <state_directory>/outbox/<source name>.
    std::filesystem::path outbox;
    std::chrono::seconds poll{5};
};

struct caldav_source {
    std::string url;  // server or calendar URL (https; http only to loopback)
    std::string user;
    std::optional<secret> password;
    std::chrono::seconds poll{60};
    // The longest one HTTP exchange may take, connecting included: a server that accepts and
    // never answers, or answers a byte at a time, fails that request (and only its mailbox's
    // pass) after this.
    std::chrono::seconds request_timeout{60};
    std::filesystem::path ca_file;
    std::optional<smtp_settings> smtp;  // for iMIP replies when the server does not schedule
};

// Change notifications for a Graph source: Graph POSTs to `public_url` (https, reachable from
// Microsoft), which a reverse proxy forwards to the listener at `listen`.
struct graph_notifications {
    std::string public_url;
    std::string listen = "127.0.0.1:9188";  // host:port
    // The clientState that Graph echoes in every notification; nullopt: generated at start.
    std::optional<secret> client_state;
};

// Microsoft Graph (Exchange Online) with an app registration's client credentials.
struct graph_source {
    std::string tenant;     // directory (tenant) id or a verified domain
    std::string client_id;  // application (client) id
    // One of the two: a client secret, or a certificate with its private key (recommended).
    std::optional<secret> client_secret;
    std::filesystem::path certificate_file;
    std::string certificate_pem;
    std::optional<secret> private_key;  // PEM, unencrypted
    // Where certificate_file is set, for `agendad check`'s messages about the pair.
    int certificate_line = 0;
    int certificate_column = 0;
    std::string authority = "https://login.microsoftonline.com";  // no trailing slash
    std::string graph_url = "https://graph.microsoft.com/v1.0";   // no trailing slash
    std::filesystem::path ca_file;  // extra trust anchor; empty: system store
    std::chrono::seconds poll{60};
    std::chrono::seconds request_timeout{60};          // per HTTP exchange, as for CalDAV
    std::chrono::days window_back{1};                  // the delta window: now - back ...
    std::chrono::days window_ahead{180};               // ... now + ahead
    int max_concurrent_requests = 64;                  // in flight for the whole source
    int per_mailbox_requests = 4;                      // Microsoft allows 4 per mailbox
    std::chrono::seconds group_refresh{3600};          // how often group members are listed again
    std::optional<graph_notifications> notifications;  // nullopt: delta polling only
};

enum class ews_auth { ntlm, basic, oauth };
std::string_view name_of(ews_auth a);

// Exchange Web Services (Exchange Server 2016, 2019, Subscription Edition on premises): one
// service account acting for every mailbox through the ApplicationImpersonation role.
struct ews_source {
    std::string url;  // the EWS endpoint, https://mail.contoso.com/EWS/Exchange.asmx
    // Instead of url: find it by POX Autodiscover, asking autodiscover_url, or (empty) the
    // Autodiscover URLs of the first mailbox's domain.
    bool autodiscover = false;
    std::string autodiscover_url;
    ews_auth auth = ews_auth::ntlm;
    // ntlm: "DOMAIN\account" or a UPN; basic: the UPN. Never used with oauth.
    std::string user;
    std::optional<secret> password;
    // oauth (hybrid modern auth): the app registration: tenant, client_id, its credential and
    // authority, read as for a Graph source; the other fields of graph_source are unused.
    graph_source oauth;
    std::string oauth_scope;  // default: the EWS URL's origin + "/.default"
    // true: the ExchangeImpersonation header acts as each mailbox (ApplicationImpersonation
    // role); false: delegate access to each mailbox's calendar (FullAccess or folder rights).
    bool impersonation = true;
    std::filesystem::path ca_file;  // extra trust anchor (an on-prem CA); empty: system store
    std::chrono::seconds poll{60};
    // Per HTTP exchange, as for CalDAV (a GetStreamingEvents answer: its header only).
    std::chrono::seconds request_timeout{60};
    // Streaming notifications (Subscribe + GetStreamingEvents) wake a mailbox at once; polling
    // stays as the safety net. false: polling only.
    bool streaming = true;
    int max_concurrent_requests = 16;  // in flight for the whole source
    int per_mailbox_requests = 2;      // in flight per mailbox
};

enum class source_kind { folder, caldav, graph, ews };
std::string_view name_of(source_kind k);

struct source_config {
    std::string name;  // key under `sources:`
    int line = 0;      // where it is defined, for messages
    int column = 0;
    source_kind kind = source_kind::folder;
    folder_source folder;
    caldav_source caldav;
    graph_source graph;
    ews_source ews;
};

// How often a source is read.
std::chrono::seconds poll_interval(const source_config& s);

enum class mailbox_mode { dry_run, enforce };
std::string_view name_of(mailbox_mode m);

struct mailbox_config {
    std::string address;  // normalised (lower case); empty in a group entry
    // A group entry (daemon_config::groups, graph sources only): the Entra group's object id
    // (lower case), standing for every user member of the group, with this entry's settings.
    std::string group;
    int line = 0;
    int column = 0;
    std::string source;    // a key of daemon_config::sources
    std::string calendar;  // CalDAV: calendar URL or path; empty: discovered. Folder: unused.
    std::vector<std::string> org_domains;
    std::string policy;  // a key of daemon_config::policies ("executive", built in, is always one)
    // nullopt: the policy's mode (the shipped policy says dry-run).
    std::optional<mailbox_mode> mode;
    // Per-mailbox overrides of the defaults below.
    std::optional<int> agenda_deadline_hours;
    std::optional<int> max_declines_per_hour;
};

struct daemon_config {
    std::string source_file;  // where it was loaded from (or "built-in demo")
    std::filesystem::path state_directory = "/var/lib/agendad";
    log_level log = log_level::info;
    std::string status_listen = "127.0.0.1:9187";  // host:port; "" disables the listener
    std::optional<secret> status_token;            // required when not bound to loopback
    int agenda_deadline_hours =
        24;  // decline a request_agenda with no agenda this long before the start
    int max_declines_per_hour = 20;  // per mailbox; beyond it decisions are journaled, not sent
    std::chrono::days history_window{365};
    std::map<std::string, policy::policy, std::less<>> policies;  // name → loaded policy
    std::map<std::string, source_config, std::less<>> sources;
    std::vector<mailbox_config> mailboxes;  // `address:` entries, in file order
    // `group:` entries, in file order. Their members are watched too, unless a mailbox above
    // names them (an explicit entry wins); a member of several groups follows the first.
    std::vector<mailbox_config> groups;
};

// The mode a mailbox runs in: its own, else its policy's (the shipped policy says dry-run).
mailbox_mode effective_mode(const daemon_config& config, const mailbox_config& mailbox);

struct daemon_config_load {
    std::optional<daemon_config> config;  // set only when there are no errors
    std::vector<diagnostic> errors;       // in file order
    std::vector<diagnostic> warnings;
    bool ok() const { return errors.empty() && config.has_value(); }
};

// Loads and validates the configuration, the policy files it names and its secret files.
// Relative paths are relative to the configuration file's folder.
daemon_config_load load_daemon_config_text(std::string_view yaml, std::string_view name,
                                           const std::filesystem::path& base_dir);
daemon_config_load load_daemon_config_file(const std::filesystem::path& path);

// The embedded default: the shipped sample mailbox in a folder source, dry-run, with its state
// under `state_directory`. What `agendad run --demo` runs.
daemon_config demo_config(const std::filesystem::path& samples_dir,
                          const std::filesystem::path& state_directory);

// Reads a secret file, refusing one that other users can read (mode & 077) or that is not a
// regular file; the message names the file and the fix ("chmod 600 FILE").
std::optional<secret> read_secret_file(const std::filesystem::path& path, std::string& error);

}  // namespace agendad::config
