#include "config/daemon_config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <system_error>
#include <tuple>

#include "calendar/invitation.h"
#include "config/policy_loader.h"
#include "yaml_reader.h"

namespace agendad::config {

std::string_view name_of(log_level l) {
    switch (l) {
        case log_level::debug:
            return "debug";
        case log_level::info:
            return "info";
        case log_level::warning:
            return "warning";
        case log_level::error:
            return "error";
    }
    return "info";
}

std::string_view name_of(mailbox_mode m) {
    return m == mailbox_mode::enforce ? "enforce" : "dry-run";
}

std::string_view name_of(source_kind k) {
    switch (k) {
        case source_kind::folder:
            return "folder";
        case source_kind::caldav:
            return "caldav";
        case source_kind::graph:
            return "graph";
        case source_kind::ews:
            return "ews";
    }
    return "folder";
}

std::string_view name_of(ews_auth a) {
    switch (a) {
        case ews_auth::ntlm:
            return "ntlm";
        case ews_auth::basic:
            return "basic";
        case ews_auth::oauth:
            return "oauth";
    }
    return "ntlm";
}

std::chrono::seconds poll_interval(const source_config& s) {
    switch (s.kind) {
        case source_kind::folder:
            return s.folder.poll;
        case source_kind::caldav:
            return s.caldav.poll;
        case source_kind::graph:
            return s.graph.poll;
        case source_kind::ews:
            return s.ews.poll;
    }
    return s.folder.poll;
}

namespace {

namespace fs = std::filesystem;
using detail::valid_address;
using detail::valid_domain;
using detail::yaml_reader;

constexpr std::string_view builtin_policy = "executive";
// Secrets are passwords and tokens; anything larger is a wrong file, not a secret.
constexpr std::size_t max_secret_size = 64 * 1024;
// A certificate chain in PEM is a few KiB; this is generous.
constexpr std::size_t max_certificate_size = 1024 * 1024;

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// A host as written in a URL or host:port: IPv6 in brackets, otherwise a name or IPv4 address.
bool valid_host(std::string_view host) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        const std::string inner(host.substr(1, host.size() - 2));
        in6_addr a{};
        return inet_pton(AF_INET6, inner.c_str(), &a) == 1;
    }
    return valid_domain(host);
}

bool is_loopback_host(std::string_view host) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    const std::string h = lower(std::string(host));
    if (h == "localhost") return true;
    in_addr v4{};
    if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
        return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
    }
    return false;
}

std::optional<int> parse_port(std::string_view s) {
    int port = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
    if (ec != std::errc() || end != s.data() + s.size() || port < 1 || port > 65535)
        return std::nullopt;
    return port;
}

struct host_port {
    std::string host;
    int port = 0;
};

// "host:port" or "[v6]:port"; the error message says how to write it.
std::optional<host_port> split_host_port(std::string_view s, std::string& error) {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
        error = "must be host:port, e.g. 127.0.0.1:9187";
        return std::nullopt;
    }
    host_port out{std::string(s.substr(0, colon)), 0};
    if (out.host.front() != '[' && out.host.find(':') != std::string::npos) {
        error = "IPv6 addresses are written in brackets, e.g. \"[::1]:9187\"";
        return std::nullopt;
    }
    if (!valid_host(out.host)) {
        error = "'" + out.host + "' is not a host name or IP address";
        return std::nullopt;
    }
    const auto port = parse_port(s.substr(colon + 1));
    if (!port) {
        error = "port must be a number between 1 and 65535, not '" +
                std::string(s.substr(colon + 1)) + "'";
        return std::nullopt;
    }
    out.port = *port;
    return out;
}

// An Entra object id: 8-4-4-4-12 hexadecimal digits.
bool is_guid(std::string_view s) {
    if (s.size() != 36) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    }
    return true;
}

// Checks an http(s) URL: the scheme, a valid host and port, no credentials in it, and http only
// to a loopback host (plain http elsewhere would send the password in clear). Returns the
// problem, or nothing. The URL is not repeated when it holds credentials.
std::optional<std::string> url_problem(
    std::string_view url, std::string_view credentials_hint = "use user and password_file") {
    // First, before any message quotes the URL: "user:password@" also without a scheme.
    const auto sep = url.find("://");
    const std::string_view rest = sep == std::string_view::npos ? url : url.substr(sep + 3);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos)
        return "the URL must not contain a user name or password: " + std::string(credentials_hint);
    if (url.find_first_of(" \t\r\n") != std::string_view::npos)
        return "'" + std::string(url) + "' is not a URL (it contains white space)";
    if (sep == std::string_view::npos)
        return "'" + std::string(url) + "' is not a URL (expected https://host/...)";
    const std::string scheme = lower(std::string(url.substr(0, sep)));
    if (scheme != "https" && scheme != "http")
        return "'" + std::string(url) + "' must start with https://";
    std::string_view host = authority;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close != std::string_view::npos) {
            host = authority.substr(0, close + 1);
            const std::string_view after = authority.substr(close + 1);
            if (!after.empty() && after.front() == ':')
                port = after.substr(1);
            else if (!after.empty())
                host = authority;
        }
    } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (!valid_host(host)) return "'" + std::string(url) + "' has no valid host name";
    if (!port.empty() && !parse_port(port))
        return "'" + std::string(url) + "' has an invalid port '" + std::string(port) + "'";
    if (scheme == "http" && !is_loopback_host(host)) {
        return "'" + std::string(url) +
               "' must use https:// (http:// only to a loopback host such as localhost or "
               "127.0.0.1)";
    }
    return std::nullopt;
}

// Why `p` cannot be used as a file (or a folder), or nothing; checked at load time so that a
// typo is reported with its line rather than when the daemon first needs the file.
std::optional<std::string> unusable(const fs::path& p, bool folder) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (st.type() == fs::file_type::not_found) return p.string() + " does not exist";
    if (ec) return p.string() + " cannot be accessed: " + ec.message();
    if (folder && !fs::is_directory(st)) return p.string() + " is not a folder";
    if (!folder && !fs::is_regular_file(st)) return p.string() + " is not a file";
    return std::nullopt;
}

// " (did you mean 'x'?)" for the nearest candidate, else the list of candidates.
std::string suggestion(std::string_view name, const std::vector<std::string>& candidates,
                       std::string_view none_defined) {
    if (candidates.empty()) return " (" + std::string(none_defined) + ")";
    std::string best;
    std::size_t best_distance = 3;
    for (const auto& c : candidates) {
        const std::size_t d = detail::edit_distance(lower(std::string(name)), lower(c));
        if (d < best_distance) {
            best = c;
            best_distance = d;
        }
    }
    if (!best.empty()) return " (did you mean '" + best + "'?)";
    std::string out = " (defined: ";
    for (std::size_t i = 0; i < candidates.size(); ++i) out += (i ? ", " : "") + candidates[i];
    return out + ")";
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// A diagnostic with the place in the configuration it belongs to: a policy file's own
// diagnostics are listed where the configuration names that file.
struct placed {
    int line = 0;
    int column = 0;
    diagnostic d;
};

std::pair<int, int> position_of(const YAML::Node& node) {
    const YAML::Mark m = node.Mark();
    return m.line >= 0 ? std::pair{m.line + 1, m.column + 1} : std::pair{0, 0};
}

class loader {
  public:
    loader(std::string name, const fs::path& base_dir) : r_(std::move(name)) {
        std::error_code ec;
        base_ = base_dir.empty() ? fs::current_path(ec) : fs::absolute(base_dir, ec);
        if (ec) base_ = base_dir;
    }

    daemon_config_load run(std::string_view yaml) {
        daemon_config_load out;
        const auto root = r_.parse(yaml);
        if (!root) {
            out.errors = std::move(r_.errors());
            for (auto& e : out.errors) explain_ipv6_syntax_error(yaml, e);
            return out;
        }
        c_.source_file = r_.file();
        const YAML::Node doc = *root;
        if (!doc.IsDefined() || doc.IsNull()) {
            r_.error(doc, "the configuration is empty: nothing to watch (add mailboxes:)");
        } else if (r_.expect_map(doc, "the configuration",
                                 {"state_directory", "log_level", "status", "defaults", "policies",
                                  "sources", "mailboxes"})) {
            read(doc);
        }
        return finish();
    }

  private:
    // An unquoted "[::1]:9187" starts a YAML flow list, and yaml-cpp's complaint about it ("end
    // of map not found") does not say what to do.
    static void explain_ipv6_syntax_error(std::string_view yaml, diagnostic& e) {
        std::size_t start = 0;
        for (int line = 1; line < e.line && start != std::string_view::npos; ++line) {
            start = yaml.find('\n', start);
            if (start != std::string_view::npos) ++start;
        }
        if (e.line <= 0 || start == std::string_view::npos) return;
        const std::string_view text = yaml.substr(start, yaml.find('\n', start) - start);
        const auto open = text.find(": [");
        if (open != std::string_view::npos && text.find("]:", open) != std::string_view::npos)
            e.message += " (quote IPv6 addresses, e.g. \"[::1]:9187\")";
    }

    void read(const YAML::Node& doc) {
        if (doc["state_directory"]) {
            if (auto p = path_value(doc["state_directory"], "state_directory"))
                c_.state_directory = *p;
        }
        if (doc["log_level"]) read_log_level(doc["log_level"]);
        if (present(doc["status"])) read_status(doc["status"]);
        if (present(doc["defaults"])) read_defaults(doc["defaults"]);
        // The built-in policy is always there, so that the daemon can look every mailbox's
        // policy up in one place.
        if (auto executive = load_builtin_executive_policy(); executive.policy)
            c_.policies.emplace(builtin_policy, std::move(*executive.policy));
        if (present(doc["policies"])) read_policies(doc["policies"]);
        if (present(doc["sources"])) read_sources(doc["sources"]);
        const YAML::Node mailboxes = doc["mailboxes"];
        if (!mailboxes || mailboxes.IsNull()) {
            r_.error(mailboxes ? mailboxes : doc,
                     "nothing to watch: the configuration has no mailboxes");
        } else if (!mailboxes.IsSequence()) {
            r_.error(mailboxes, "mailboxes must be a list, each entry starting with '- address:'");
        } else if (mailboxes.size() == 0) {
            r_.error(mailboxes, "nothing to watch: the list of mailboxes is empty");
        } else {
            std::size_t index = 0;
            for (const auto& item : mailboxes) read_mailbox(item, ++index);
        }
        for (const auto& [name, key] : source_keys_) {
            if (!used_sources_.count(name))
                r_.warning(key, "source '" + name + "' is not used by any mailbox");
        }
        for (const auto& [name, key] : policy_keys_) {
            if (!used_policies_.count(name))
                r_.warning(key, "policy '" + name + "' is not used by any mailbox");
        }
    }

    // An absent or empty (null) section is the same as leaving it out.
    static bool present(const YAML::Node& node) { return node && !node.IsNull(); }

    fs::path resolve(const std::string& p) const {
        fs::path path(p);
        if (path.is_relative()) path = base_ / path;
        return path.lexically_normal();
    }

    std::optional<fs::path> path_value(const YAML::Node& node, const std::string& what) {
        auto s = r_.string(node, what);
        if (!s) return std::nullopt;
        if (s->empty()) {
            r_.error(node, what + " must not be empty");
            return std::nullopt;
        }
        return resolve(*s);
    }

    // A file that must exist now (a CA bundle): a typo would otherwise surface as a TLS failure.
    std::optional<fs::path> existing_file(const YAML::Node& node, const std::string& what) {
        auto p = path_value(node, what);
        if (!p) return std::nullopt;
        if (auto problem = unusable(*p, false)) {
            r_.error(node, what + ": " + *problem);
            return std::nullopt;
        }
        return p;
    }

    std::optional<secret> secret_value(const YAML::Node& node, const std::string& what) {
        auto p = path_value(node, what);
        if (!p) return std::nullopt;
        std::string problem;
        auto s = read_secret_file(*p, problem);
        if (!s) r_.error(node, what + ": " + problem);
        return s;
    }

    std::optional<int> integer(const YAML::Node& node, const std::string& what, int min, int max) {
        return node ? r_.integer(node, what, min, max) : std::nullopt;
    }

    std::optional<bool> boolean(const YAML::Node& node, const std::string& what) {
        return node ? r_.boolean(node, what) : std::nullopt;
    }

    // One of `names` (in order of the enum), with a suggestion for a misspelling.
    std::optional<std::size_t> choice(const YAML::Node& node, const std::string& what,
                                      const std::vector<std::string>& names) {
        const auto s = r_.string(node, what);
        if (!s) return std::nullopt;
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (*s == names[i]) return i;
        }
        std::string list;
        for (std::size_t i = 0; i < names.size(); ++i)
            list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
        std::string message = what + " must be " + list + ", not '" + *s + "'";
        const std::string hint = suggestion(*s, names, "");
        if (hint.rfind(" (did you mean", 0) == 0) message += hint;
        r_.error(node, std::move(message));
        return std::nullopt;
    }

    void read_log_level(const YAML::Node& node) {
        if (auto i = choice(node, "log_level", {"debug", "info", "warning", "error"}))
            c_.log = static_cast<log_level>(*i);
    }

    void read_status(const YAML::Node& node) {
        if (!r_.expect_map(node, "status", {"listen", "token_file"})) return;
        const YAML::Node listen = node["listen"];
        std::optional<host_port> bound;
        bool listen_readable = true;
        if (listen) {
            listen_readable = false;
            if (listen.IsSequence()) {
                // An unquoted [::1]:9187 is a YAML list.
                r_.error(listen,
                         "status.listen must be a text value; quote IPv6 addresses, "
                         "e.g. \"[::1]:9187\"");
            } else if (listen.IsNull()) {
                r_.error(listen,
                         "status.listen must be host:port, or \"\" or off to disable "
                         "the status listener");
            } else if (auto s = r_.string(listen, "status.listen")) {
                listen_readable = true;
                if (s->empty() || *s == "off") {
                    c_.status_listen.clear();
                } else {
                    std::string problem;
                    bound = split_host_port(*s, problem);
                    if (bound) {
                        c_.status_listen = *s;
                    } else {
                        listen_readable = false;
                        r_.error(listen, "status.listen " + problem);
                    }
                }
            }
        } else {
            std::string unused;
            bound = split_host_port(c_.status_listen, unused);
        }
        const YAML::Node token = node["token_file"];
        if (token) c_.status_token = secret_value(token, "status.token_file");
        if (listen_readable && bound && !is_loopback_host(bound->host) && !token) {
            r_.error(listen, "status.listen " + c_.status_listen +
                                 " is reachable from other machines: set status.token_file (a "
                                 "file holding the token clients must send) or listen on "
                                 "127.0.0.1");
        }
        if (token && listen_readable && c_.status_listen.empty())
            r_.warning(token, "status.token_file is not used: the status listener is off");
    }

    void read_defaults(const YAML::Node& node) {
        if (!r_.expect_map(node, "defaults",
                           {"agenda_deadline_hours", "max_declines_per_hour", "history_days"}))
            return;
        if (auto v =
                integer(node["agenda_deadline_hours"], "defaults.agenda_deadline_hours", 1, 720))
            c_.agenda_deadline_hours = *v;
        if (auto v =
                integer(node["max_declines_per_hour"], "defaults.max_declines_per_hour", 0, 10000))
            c_.max_declines_per_hour = *v;
        if (auto v = integer(node["history_days"], "defaults.history_days", 1, 3650))
            c_.history_window = std::chrono::days(*v);
    }

    // Entries of a free-keyed mapping (policies, sources): the key's text, reporting repeats.
    template <typename F>
    void each_entry(const YAML::Node& node, const std::string& what, F&& f) {
        std::set<std::string> seen;
        for (auto it = node.begin(); it != node.end(); ++it) {
            const YAML::Node key = it->first;
            if (!key.IsScalar() || key.Scalar().empty()) {
                r_.error(key, what + " names must be text");
                continue;
            }
            if (!seen.insert(key.Scalar()).second) {
                r_.error(key, "'" + key.Scalar() + "' appears twice in " + what);
                continue;
            }
            f(key.Scalar(), key, it->second);
        }
    }

    void read_policies(const YAML::Node& node) {
        if (!node.IsMap()) {
            r_.error(node,
                     "policies must map names to policy files, e.g. "
                     "board: policy.d/board.yaml");
            return;
        }
        each_entry(node, "policies",
                   [&](const std::string& name, const YAML::Node& key, const YAML::Node& value) {
                       if (name == builtin_policy) {
                           r_.error(
                               key,
                               "'executive' is the built-in policy and cannot be redefined: give "
                               "your copy another name (e.g. executive-custom)");
                           return;
                       }
                       declared_policies_.push_back(name);
                       policy_keys_.emplace_back(name, key);
                       const auto file = path_value(value, "policy '" + name + "'");
                       if (!file) return;
                       if (auto problem = unusable(*file, false)) {
                           r_.error(value, "policy '" + name + "': " + *problem);
                           return;
                       }
                       policy_load loaded = load_policy_file(*file);
                       const auto [line, column] = position_of(value);
                       if (!loaded.ok()) {
                           r_.error(value, "policy '" + name + "': " + file->string() + " has " +
                                               plural(loaded.errors.size(), "problem", "problems"));
                           for (auto& e : loaded.errors)
                               policy_errors_.push_back({line, column, e});
                       }
                       for (auto& w : loaded.warnings)
                           policy_warnings_.push_back({line, column, w});
                       if (loaded.policy) c_.policies.emplace(name, std::move(*loaded.policy));
                   });
    }

    void read_sources(const YAML::Node& node) {
        if (!node.IsMap()) {
            r_.error(node, "sources must map names to sources, e.g. office: {kind: caldav, ...}");
            return;
        }
        each_entry(
            node, "sources",
            [&](const std::string& name, const YAML::Node& key, const YAML::Node& value) {
                source_keys_.emplace_back(name, key);
                declared_sources_.push_back(name);
                // The name becomes a folder name (the default outbox).
                const bool good_name = name != "." && name != ".." &&
                                       std::all_of(name.begin(), name.end(), [](char c) {
                                           return std::isalnum(static_cast<unsigned char>(c)) ||
                                                  c == '-' || c == '_' || c == '.';
                                       });
                if (!good_name) {
                    r_.error(key, "source name '" + name +
                                      "' may contain only letters, digits, '-', '_' and '.'");
                }
                read_source(name, key, value);
            });
    }

    // The key node of `name` in mapping `node` (for a message about the key itself).
    static YAML::Node key_of(const YAML::Node& node, std::string_view name) {
        for (auto it = node.begin(); it != node.end(); ++it) {
            if (it->first.IsScalar() && it->first.Scalar() == name) return it->first;
        }
        return node;
    }

    // expect_map, and for an unknown key that a known one extends ("poll" for "poll_seconds",
    // "client_secret" for "client_secret_file") that one as the suggestion.
    bool expect_keys(const YAML::Node& node, std::string_view what,
                     std::initializer_list<std::string_view> known) {
        const std::size_t before = r_.errors().size();
        const bool is_map = r_.expect_map(node, what, known);
        for (std::size_t i = before; i < r_.errors().size(); ++i) {
            std::string& message = r_.errors()[i].message;
            const std::string prefix = "unknown key '";
            const auto list = message.find(" (known: ");
            if (message.rfind(prefix, 0) != 0 || list == std::string::npos) continue;
            const std::string name =
                message.substr(prefix.size(), message.find('\'', prefix.size()) - prefix.size());
            for (std::string_view k : known) {
                if (!name.empty() && k.size() > name.size() && k.substr(0, name.size()) == name &&
                    k[name.size()] == '_') {
                    message.replace(list, std::string::npos,
                                    " (did you mean '" + std::string(k) + "'?)");
                    break;
                }
            }
        }
        return is_map;
    }

    void read_source(const std::string& name, const YAML::Node& key, const YAML::Node& node) {
        const std::string what = "source '" + name + "'";
        const std::string field = "sources." + name + ".";
        if (!node.IsMap()) {
            r_.error(node, what + " must be a mapping with kind: folder, caldav, graph or ews");
            return;
        }
        source_config s;
        s.name = name;
        std::tie(s.line, s.column) = position_of(key);
        std::optional<std::size_t> kind;
        // Other tools say type: where agendad says kind:; read on, so that one slip is one error.
        const bool type_instead = !node["kind"] && node["type"];
        if (type_instead) {
            r_.error(key_of(node, "type"),
                     what + ": write kind: instead of type: (kind: folder, caldav, graph or ews)");
            kind = choice(node["type"], field + "kind", {"folder", "caldav", "graph", "ews"});
        } else if (!node["kind"]) {
            r_.error(node, what + " needs a kind: folder, caldav, graph or ews");
        } else {
            kind = choice(node["kind"], field + "kind", {"folder", "caldav", "graph", "ews"});
        }
        const std::string_view kind_key = type_instead ? "type" : "kind";
        if (!kind) {
            // Still report misspelt keys.
            expect_keys(node, what,
                        {kind_key,
                         "path",
                         "outbox",
                         "poll_seconds",
                         "request_timeout_seconds",
                         "url",
                         "user",
                         "password_file",
                         "ca_file",
                         "smtp",
                         "tenant",
                         "client_id",
                         "client_secret_file",
                         "certificate_file",
                         "private_key_file",
                         "authority",
                         "graph_url",
                         "window_back_days",
                         "window_ahead_days",
                         "max_concurrent_requests",
                         "per_mailbox_requests",
                         "group_refresh_seconds",
                         "notifications",
                         "auth",
                         "oauth",
                         "impersonation",
                         "streaming",
                         "autodiscover"});
            return;
        }
        s.kind = static_cast<source_kind>(*kind);
        source_kinds_[name] = s.kind;
        const std::size_t errors_before = r_.errors().size();
        switch (s.kind) {
            case source_kind::folder:
                expect_keys(node, what, {kind_key, "path", "outbox", "poll_seconds"});
                read_folder(field, what, node, s.folder);
                break;
            case source_kind::caldav:
                expect_keys(
                    node, what,
                    {kind_key, "url", "user", "password_file", "poll_seconds",
                     "request_timeout_seconds", "ca_file", "smtp"});
                read_caldav(field, what, node, s.caldav);
                break;
            case source_kind::graph:
                expect_keys(
                    node, what,
                    {kind_key, "tenant", "client_id", "client_secret_file", "certificate_file",
                     "private_key_file", "authority", "graph_url", "ca_file", "poll_seconds",
                     "request_timeout_seconds", "window_back_days", "window_ahead_days",
                     "max_concurrent_requests", "per_mailbox_requests", "group_refresh_seconds",
                     "notifications"});
                read_graph(name, field, what, node, s.graph);
                break;
            case source_kind::ews:
                expect_keys(node, what,
                            {kind_key, "url", "autodiscover", "auth", "user", "password_file", "oauth",
                             "impersonation", "ca_file", "poll_seconds",
                             "request_timeout_seconds", "streaming",
                             "max_concurrent_requests", "per_mailbox_requests"});
                read_ews(field, what, node, s.ews);
                break;
        }
        if (r_.errors().size() == errors_before) c_.sources.emplace(name, std::move(s));
    }

    void read_folder(const std::string& field, const std::string& what, const YAML::Node& node,
                     folder_source& f) {
        if (!node["path"]) {
            r_.error(node, what + " needs a path: the folder of .ics files that is the calendar");
        } else if (auto p = path_value(node["path"], field + "path")) {
            if (auto problem = unusable(*p, true))
                r_.error(node["path"], field + "path: " + *problem);
            else
                f.path = *p;
        }
        if (node["outbox"]) {
            if (auto p = path_value(node["outbox"], field + "outbox")) f.outbox = *p;
        }
        if (auto v = integer(node["poll_seconds"], field + "poll_seconds", 1, 86400))
            f.poll = std::chrono::seconds(*v);
    }

    // request_timeout_seconds of a CalDAV, Graph or EWS source: the whole HTTP exchange.
    void read_request_timeout(const std::string& field, const YAML::Node& node,
                              std::chrono::seconds& out) {
        if (auto v = integer(node["request_timeout_seconds"], field + "request_timeout_seconds",
                             1, 3600))
            out = std::chrono::seconds(*v);
    }

    // user and password_file go together: a password without a user (or the reverse) is a
    // half-finished edit, not a choice.
    void read_login(const std::string& field, const std::string& what, const YAML::Node& node,
                    std::string& user, std::optional<secret>& password) {
        const YAML::Node user_node = node["user"];
        const YAML::Node password_node = node["password_file"];
        if (user_node) {
            if (auto u = r_.string(user_node, field + "user")) {
                if (u->empty())
                    r_.error(user_node, field + "user must not be empty");
                else
                    user = *u;
            }
            if (!password_node) {
                r_.error(user_node, what +
                                        " has a user but no password_file (a file holding "
                                        "the password)");
            }
        }
        if (password_node) {
            password = secret_value(password_node, field + "password_file");
            if (!user_node) r_.error(password_node, what + " has a password_file but no user");
        }
    }

    void read_caldav(const std::string& field, const std::string& what, const YAML::Node& node,
                     caldav_source& c) {
        if (!node["url"]) {
            r_.error(node, what + " needs a url: the CalDAV server or calendar (https://...)");
        } else if (auto u = r_.string(node["url"], field + "url")) {
            if (auto problem = url_problem(*u))
                r_.error(node["url"], field + "url: " + *problem);
            else
                c.url = *u;
        }
        read_login(field, what, node, c.user, c.password);
        if (auto v = integer(node["poll_seconds"], field + "poll_seconds", 1, 86400))
            c.poll = std::chrono::seconds(*v);
        read_request_timeout(field, node, c.request_timeout);
        if (node["ca_file"]) {
            if (auto p = existing_file(node["ca_file"], field + "ca_file")) c.ca_file = *p;
        }
        if (present(node["smtp"])) {
            c.smtp = read_smtp(field + "smtp.", node["smtp"]);
        } else {
            r_.warning(node, what +
                                 " has no smtp: replies reach organizers only if the server "
                                 "schedules itself (calendar-auto-schedule); others, such as "
                                 "Radicale, can then only be answered silently");
        }
    }

    // An https URL (http only to loopback, for tests and local proxies) without query or
    // fragment, its trailing slashes dropped.
    std::optional<std::string> base_url(const YAML::Node& node, const std::string& what) {
        auto u = r_.string(node, what);
        if (!u) return std::nullopt;
        if (auto problem = url_problem(*u, "the app's credentials go in their own files")) {
            r_.error(node, what + ": " + *problem);
            return std::nullopt;
        }
        if (u->find_first_of("?#") != std::string::npos) {
            r_.error(node, what + ": '" + *u + "' must not have a query or fragment");
            return std::nullopt;
        }
        std::string out = *u;
        while (!out.empty() && out.back() == '/') out.pop_back();
        return out;
    }

    void read_graph(const std::string& source_name, const std::string& field,
                    const std::string& what, const YAML::Node& node, graph_source& g) {
        read_app_identity(field, what, node, g);
        read_app_credentials(field, what, node, g);
        if (node["authority"]) {
            if (auto u = base_url(node["authority"], field + "authority")) g.authority = *u;
        }
        if (node["graph_url"]) {
            if (auto u = base_url(node["graph_url"], field + "graph_url")) g.graph_url = *u;
        }
        if (node["ca_file"]) {
            if (auto p = existing_file(node["ca_file"], field + "ca_file")) g.ca_file = *p;
        }
        if (auto v = integer(node["poll_seconds"], field + "poll_seconds", 1, 86400))
            g.poll = std::chrono::seconds(*v);
        read_request_timeout(field, node, g.request_timeout);
        if (auto v = integer(node["window_back_days"], field + "window_back_days", 0, 365))
            g.window_back = std::chrono::days(*v);
        if (auto v = integer(node["window_ahead_days"], field + "window_ahead_days", 1, 1825))
            g.window_ahead = std::chrono::days(*v);
        if (auto v = integer(node["max_concurrent_requests"], field + "max_concurrent_requests", 1,
                             10000))
            g.max_concurrent_requests = *v;
        if (const YAML::Node per = node["per_mailbox_requests"]; per) {
            // Exchange Online refuses a fifth concurrent request to one mailbox (429).
            if (auto v = r_.integer(per, field + "per_mailbox_requests", 1, 4))
                g.per_mailbox_requests = *v;
        }
        if (auto v =
                integer(node["group_refresh_seconds"], field + "group_refresh_seconds", 1, 604800))
            g.group_refresh = std::chrono::seconds(*v);
        if (present(node["notifications"]))
            g.notifications =
                read_notifications(source_name, field + "notifications.", node["notifications"]);
    }

    // tenant and client_id of an app registration (Graph, or EWS with OAuth).
    void read_app_identity(const std::string& field, const std::string& what,
                           const YAML::Node& node, graph_source& g) {
        if (!node["tenant"]) {
            r_.error(node, what +
                               " needs a tenant: the directory (tenant) id of the app "
                               "registration, or a verified domain such as contoso.com");
        } else if (auto t = r_.string(node["tenant"], field + "tenant")) {
            const std::string lowered = lower(*t);
            if (lowered == "common" || lowered == "organizations" || lowered == "consumers") {
                r_.error(node["tenant"], field + "tenant '" + *t +
                                             "' cannot be used by a daemon (application "
                                             "permissions need one directory): give the "
                                             "directory (tenant) id");
            } else if (valid_domain(lowered) &&
                       std::all_of(lowered.begin(), lowered.end(),
                                   [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
                g.tenant = *t;  // a GUID or a domain: the token endpoint tells which
            } else {
                r_.error(node["tenant"], field + "tenant '" + *t +
                                             "' is neither a directory (tenant) id (a GUID) "
                                             "nor a domain name");
            }
        }
        if (!node["client_id"]) {
            r_.error(node, what +
                               " needs a client_id: the application (client) id of the app "
                               "registration");
        } else if (auto id = r_.string(node["client_id"], field + "client_id")) {
            if (is_guid(*id))
                g.client_id = *id;
            else
                r_.error(node["client_id"],
                         field + "client_id '" + *id +
                             "' is not an application (client) id: a GUID such as "
                             "11111111-2222-3333-4444-555555555555, shown on the app "
                             "registration's Overview page");
        }
    }

    void read_ews(const std::string& field, const std::string& what, const YAML::Node& node,
                  ews_source& e) {
        if (const YAML::Node ad = node["autodiscover"]; ad) {
            if (node["url"]) {
                r_.error(ad, what + " has both url: and autodiscover: (give the EWS URL, or let "
                                    "Autodiscover find it)");
            } else if (ad.IsScalar() && (ad.Scalar() == "true" || ad.Scalar() == "yes")) {
                e.autodiscover = true;
            } else if (ad.IsScalar() && (ad.Scalar() == "false" || ad.Scalar() == "no")) {
                r_.error(ad, what + " needs a url: when autodiscover is false");
            } else if (auto u = r_.string(ad, field + "autodiscover")) {
                if (auto problem = url_problem(*u, "the service account's password goes in "
                                                   "password_file")) {
                    r_.error(ad, field + "autodiscover: " + *problem);
                } else {
                    e.autodiscover = true;
                    e.autodiscover_url = *u;
                }
            }
        } else if (!node["url"]) {
            r_.error(node, what +
                               " needs a url: the EWS endpoint, such as "
                               "https://mail.contoso.com/EWS/Exchange.asmx (or autodiscover: "
                               "true)");
        } else if (auto u = r_.string(node["url"], field + "url")) {
            if (auto problem = url_problem(*u, "the service account's password goes in "
                                               "password_file")) {
                r_.error(node["url"], field + "url: " + *problem);
            } else if (u->find('#') != std::string::npos) {
                r_.error(node["url"], field + "url: '" + *u + "' must not have a fragment");
            } else {
                e.url = *u;
                if (lower(*u).find("/ews/exchange.asmx") == std::string::npos) {
                    r_.warning(node["url"], field + "url '" + *u +
                                                "' does not end in /EWS/Exchange.asmx, "
                                                "the usual EWS endpoint: is it the right URL?");
                }
            }
        }
        if (node["auth"]) {
            if (auto k = choice(node["auth"], field + "auth", {"ntlm", "basic", "oauth"}))
                e.auth = static_cast<ews_auth>(*k);
        }
        if (e.auth == ews_auth::oauth) {
            for (const char* key : {"user", "password_file"}) {
                if (node[key]) {
                    r_.error(key_of(node, key), what + " uses auth: oauth, which needs no " +
                                                    key + ": the app registration goes under "
                                                          "oauth:");
                }
            }
            const YAML::Node app = node["oauth"];
            if (!present(app) || !app.IsMap()) {
                r_.error(app ? app : node,
                         what + " with auth: oauth needs oauth: {tenant, client_id, and "
                                "certificate_file + private_key_file or client_secret_file}");
            } else {
                const std::string app_field = field + "oauth.";
                const std::string app_what = what + " oauth";
                expect_keys(app, app_what,
                            {"tenant", "client_id", "client_secret_file", "certificate_file",
                             "private_key_file", "authority", "scope"});
                read_app_identity(app_field, app_what, app, e.oauth);
                read_app_credentials(app_field, app_what, app, e.oauth);
                if (app["authority"]) {
                    if (auto u = base_url(app["authority"], app_field + "authority"))
                        e.oauth.authority = *u;
                }
                if (app["scope"]) {
                    if (auto sc = r_.string(app["scope"], app_field + "scope")) {
                        if (sc->empty())
                            r_.error(app["scope"], app_field + "scope must not be empty");
                        else
                            e.oauth_scope = *sc;
                    }
                }
                if (e.autodiscover && e.oauth_scope.empty()) {
                    r_.error(app, app_what + " needs a scope: with autodiscover (the scope is "
                                             "otherwise the EWS URL's origin + /.default, "
                                             "unknown before Autodiscover answers)");
                }
            }
        } else {
            if (node["oauth"]) {
                r_.error(key_of(node, "oauth"),
                         what + " has oauth: but auth: " + std::string(name_of(e.auth)) +
                             " (write auth: oauth to sign in with the app registration)");
            }
            if (!node["user"] && !node["password_file"]) {
                r_.error(node, what + " needs user: and password_file: for the service account "
                                      "(auth: " +
                                      std::string(name_of(e.auth)) + ")");
            }
            read_login(field, what, node, e.user, e.password);
            if (e.auth == ews_auth::basic && !e.url.empty() && lower(e.url).rfind("http:", 0) == 0) {
                r_.error(node["url"], field + "url: Basic authentication sends the password "
                                              "itself: https only");
            }
        }
        if (auto v = boolean(node["impersonation"], field + "impersonation"))
            e.impersonation = *v;
        if (auto v = boolean(node["streaming"], field + "streaming")) e.streaming = *v;
        if (node["ca_file"]) {
            if (auto p = existing_file(node["ca_file"], field + "ca_file")) e.ca_file = *p;
        }
        if (auto v = integer(node["poll_seconds"], field + "poll_seconds", 1, 86400))
            e.poll = std::chrono::seconds(*v);
        read_request_timeout(field, node, e.request_timeout);
        if (auto v = integer(node["max_concurrent_requests"], field + "max_concurrent_requests", 1,
                             10000))
            e.max_concurrent_requests = *v;
        if (auto v = integer(node["per_mailbox_requests"], field + "per_mailbox_requests", 1, 10))
            e.per_mailbox_requests = *v;
    }

    // client_secret_file, or certificate_file with private_key_file: exactly one of the two.
    void read_app_credentials(const std::string& field, const std::string& what,
                              const YAML::Node& node, graph_source& g) {
        const YAML::Node secret_node = node["client_secret_file"];
        const YAML::Node cert_node = node["certificate_file"];
        const YAML::Node key_node = node["private_key_file"];
        if (!secret_node && !cert_node && !key_node) {
            r_.error(node, what +
                               " needs the app's credential: certificate_file and "
                               "private_key_file (recommended), or client_secret_file");
            return;
        }
        if (secret_node && (cert_node || key_node)) {
            r_.error(secret_node, what +
                                      " has both client_secret_file and a certificate: use one "
                                      "of the two (a certificate is recommended)");
            return;
        }
        if (secret_node) {
            g.client_secret = secret_value(secret_node, field + "client_secret_file");
            if (g.client_secret && is_guid(g.client_secret->value)) {
                r_.warning(secret_node, field +
                                            "client_secret_file holds a GUID: is it the "
                                            "secret's ID rather than its Value? (Entra "
                                            "shows the Value only once, when it is made)");
            }
            return;
        }
        if (!key_node) {
            r_.error(cert_node, what + " has a certificate_file but no private_key_file");
        } else if (!cert_node) {
            r_.error(key_node, what + " has a private_key_file but no certificate_file");
        }
        if (cert_node) {
            std::tie(g.certificate_line, g.certificate_column) = position_of(cert_node);
            if (auto p = path_value(cert_node, field + "certificate_file")) {
                std::string problem;
                if (auto pem = read_certificate(*p, problem)) {
                    g.certificate_file = *p;
                    g.certificate_pem = std::move(*pem);
                } else {
                    r_.error(cert_node, field + "certificate_file: " + problem);
                }
            }
        }
        if (key_node) {
            g.private_key = secret_value(key_node, field + "private_key_file");
            if (g.private_key) {
                const std::string& pem = g.private_key->value;
                if (pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
                    pem.find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
                    r_.error(key_node, field + "private_key_file: " + g.private_key->file.string() +
                                           " is encrypted: agendad needs the key without a "
                                           "passphrase (openssl pkey -in KEY -out PLAIN), kept "
                                           "chmod 600 or handed over as a systemd credential");
                    g.private_key.reset();
                } else if (pem.find("PRIVATE KEY-----") == std::string::npos) {
                    r_.error(key_node, field + "private_key_file: " + g.private_key->file.string() +
                                           " holds no PEM private key (-----BEGIN PRIVATE "
                                           "KEY-----)");
                    g.private_key.reset();
                }
            }
        }
    }

    // A PEM certificate: public, so any mode will do, unless the file holds the private key too.
    static std::optional<std::string> read_certificate(const fs::path& p, std::string& problem) {
        if (auto why = unusable(p, false)) {
            problem = *why;
            return std::nullopt;
        }
        std::error_code ec;
        const auto size = fs::file_size(p, ec);
        if (!ec && size > max_certificate_size) {
            problem = p.string() + " is too large for a certificate (over 1 MiB)";
            return std::nullopt;
        }
        std::ifstream in(p, std::ios::binary);
        std::ostringstream text;
        if (in) text << in.rdbuf();
        if (!in) {
            problem = p.string() + " cannot be read (permissions?)";
            return std::nullopt;
        }
        std::string pem = text.str();
        if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
            problem = p.string() + " holds no PEM certificate (-----BEGIN CERTIFICATE-----)";
            return std::nullopt;
        }
        if (pem.find("PRIVATE KEY-----") != std::string::npos) {
            // A combined file: the key's rules apply to it.
            if (!read_secret_file(p, problem)) {
                problem += " (it holds the private key too)";
                return std::nullopt;
            }
        }
        return pem;
    }

    std::optional<graph_notifications> read_notifications(const std::string& source_name,
                                                          const std::string& field,
                                                          const YAML::Node& node) {
        const std::string what = field.substr(0, field.size() - 1);
        if (!expect_keys(node, what, {"public_url", "listen", "client_state_file"}))
            return std::nullopt;
        graph_notifications n;
        bool ok = true;
        if (!node["public_url"]) {
            r_.error(node, what +
                               " needs a public_url: the https:// address Microsoft Graph "
                               "posts change notifications to (forwarded to listen)");
            ok = false;
        } else if (auto u = r_.string(node["public_url"], field + "public_url")) {
            // https (Microsoft Graph posts only to https); http:// passes url_problem only for a
            // loopback host, which Microsoft cannot reach: for tests against a fake Graph.
            auto problem = url_problem(*u, "Graph must be able to post to it");
            if (problem) {
                r_.error(node["public_url"], field + "public_url: " + *problem);
                ok = false;
            } else {
                n.public_url = *u;
            }
        } else {
            ok = false;
        }
        std::optional<host_port> bound;
        const YAML::Node listen = node["listen"];
        if (listen) {
            if (listen.IsSequence()) {
                r_.error(listen, field +
                                     "listen must be a text value; quote IPv6 addresses, e.g. "
                                     "\"[::1]:9188\"");
                ok = false;
            } else if (auto l = r_.string(listen, field + "listen")) {
                std::string problem;
                bound = split_host_port(*l, problem);
                if (bound) {
                    n.listen = *l;
                } else {
                    r_.error(listen, field + "listen " + problem);
                    ok = false;
                }
            } else {
                ok = false;
            }
        } else {
            std::string unused;
            bound = split_host_port(n.listen, unused);
        }
        if (bound) {
            const YAML::Node at = listen ? listen : node;
            std::string unused;
            const auto status = split_host_port(c_.status_listen, unused);
            const auto wildcard = [](const std::string& h) {
                return h == "0.0.0.0" || h == "[::]" || h == "::";
            };
            const auto clash = [&](const host_port& other) {
                return other.port == bound->port && (lower(other.host) == lower(bound->host) ||
                                                     wildcard(other.host) || wildcard(bound->host));
            };
            if (!c_.status_listen.empty() && status && clash(*status)) {
                r_.error(at, field + "listen " + n.listen +
                                 " is the status listener's address (status.listen " +
                                 c_.status_listen + "): give notifications a port of their own");
                ok = false;
            } else {
                for (const auto& [other_name, other] : notification_listeners_) {
                    if (!clash(other)) continue;
                    r_.error(at, field + "listen " + n.listen + " is already used by source '" +
                                     other_name + "': give each source a port of its own");
                    ok = false;
                    break;
                }
            }
            if (ok) notification_listeners_.emplace_back(source_name, *bound);
        }
        if (const YAML::Node state = node["client_state_file"]; state) {
            n.client_state = secret_value(state, field + "client_state_file");
            if (n.client_state && n.client_state->value.size() > 128) {
                r_.error(state, field + "client_state_file: " + n.client_state->file.string() +
                                    " holds more than 128 characters, the most Graph accepts "
                                    "as clientState");
                n.client_state.reset();
            }
            if (!n.client_state) ok = false;
        }
        if (!ok) return std::nullopt;
        return n;
    }

    std::optional<smtp_settings> read_smtp(const std::string& field, const YAML::Node& node) {
        const std::string what = field.substr(0, field.size() - 1);
        if (!r_.expect_map(
                node, what,
                {"host", "port", "security", "user", "password_file", "from", "ca_file"}))
            return std::nullopt;
        smtp_settings s;
        bool host_ok = false;
        if (!node["host"]) {
            r_.error(node, what + " needs a host: the mail server to send replies through");
        } else if (auto h = r_.string(node["host"], field + "host")) {
            if (valid_host(*h)) {
                s.host = *h;
                host_ok = true;
            } else {
                r_.error(node["host"], field + "host '" + *h + "' is not a host name");
            }
        }
        if (node["security"]) {
            if (auto i = choice(node["security"], field + "security", {"starttls", "tls", "none"}))
                s.security = static_cast<smtp_security>(*i);
            if (s.security == smtp_security::none && host_ok && !is_loopback_host(s.host)) {
                r_.error(node["security"],
                         field +
                             "security none sends the password and the replies in clear: "
                             "only allowed to a loopback host (localhost, 127.0.0.1, ::1)");
            }
        }
        s.port = s.security == smtp_security::tls    ? 465
                 : s.security == smtp_security::none ? 25
                                                     : 587;
        if (auto v = integer(node["port"], field + "port", 1, 65535)) s.port = *v;
        read_login(field, what, node, s.user, s.password);
        if (node["from"]) {
            if (auto f = r_.string(node["from"], field + "from")) {
                const std::string a = calendar::normalize_address(*f);
                if (valid_address(a))
                    s.from = a;
                else
                    r_.error(node["from"], field + "from '" + *f + "' is not an e-mail address");
            }
        }
        if (node["ca_file"]) {
            if (auto p = existing_file(node["ca_file"], field + "ca_file")) s.ca_file = *p;
        }
        return s;
    }

    void read_mailbox(const YAML::Node& item, std::size_t index) {
        if (!r_.expect_map(item, "a mailbox",
                           {"address", "group", "source", "calendar", "org_domains", "policy",
                            "mode", "agenda_deadline_hours", "max_declines_per_hour"}))
            return;
        const std::size_t errors_before = r_.errors().size();
        mailbox_config m;
        std::tie(m.line, m.column) = position_of(item);
        std::string what = "mailbox " + std::to_string(index);
        const YAML::Node address = item["address"];
        const YAML::Node group = item["group"];
        if (address && group) {
            r_.error(group,
                     "a mailbox has an address or a group, not both: give the group an entry "
                     "of its own");
        } else if (!address && !group) {
            r_.error(item,
                     "a mailbox needs an address: the calendar owner's e-mail address (or, "
                     "with a graph source, a group: an Entra group's object id)");
        } else if (address) {
            if (auto a = r_.string(address, "address")) {
                const std::string normal = calendar::normalize_address(*a);
                if (!valid_address(normal)) {
                    r_.error(address, "'" + *a + "' is not an e-mail address");
                } else {
                    m.address = normal;
                    what = "mailbox '" + normal + "'";
                    const int line = position_of(address).first;
                    if (const auto [it, fresh] = addresses_.emplace(normal, line); !fresh) {
                        r_.error(address, "mailbox '" + normal + "' is already defined on line " +
                                              std::to_string(it->second) +
                                              " (addresses are case-insensitive)");
                    }
                }
            }
        } else if (auto g = r_.string(group, "group")) {
            const std::string id = lower(*g);
            if (!is_guid(id)) {
                r_.error(group, "group '" + *g +
                                    "' is not a group's object id: a GUID such as "
                                    "1b2c3d4e-0000-4000-8000-123456789abc (Entra admin center → "
                                    "Groups → the group → Object ID)");
            } else {
                m.group = id;
                what = "group '" + id + "'";
            }
        }

        std::optional<source_kind> kind;
        if (!item["source"]) {
            std::string known;
            for (const auto& name : declared_sources_) known += (known.empty() ? "" : ", ") + name;
            r_.error(item, what + " needs a source" +
                               (known.empty() ? " (no sources are defined)"
                                              : " (one of: " + known + ")"));
        } else if (auto s = r_.string(item["source"], what + " source")) {
            used_sources_.insert(*s);
            if (std::find(declared_sources_.begin(), declared_sources_.end(), *s) ==
                declared_sources_.end()) {
                r_.error(item["source"],
                         "unknown source '" + *s + "'" +
                             suggestion(*s, declared_sources_, "no sources are defined"));
            } else {
                m.source = *s;
                if (auto k = source_kinds_.find(*s); k != source_kinds_.end()) kind = k->second;
            }
        }

        if (!m.group.empty() && kind && *kind != source_kind::graph) {
            r_.error(group, what + " is only for graph sources (Entra groups): source '" +
                                m.source + "' is " + std::string(name_of(*kind)) +
                                "; list its mailboxes by address");
        } else if (!m.group.empty() && kind) {
            const int line = position_of(group).first;
            if (const auto [it, fresh] = groups_.emplace(m.source + "\n" + m.group, line); !fresh) {
                r_.error(group, what + " is already listed on line " + std::to_string(it->second) +
                                    " for source '" + m.source + "'");
            }
        }

        if (item["calendar"]) {
            if (auto cal = r_.string(item["calendar"], what + " calendar")) {
                if (kind == source_kind::folder) {
                    r_.error(item["calendar"], what +
                                                   " calendar is only for caldav sources: "
                                                   "source '" +
                                                   m.source +
                                                   "' is a folder, which is the calendar");
                } else if (kind == source_kind::graph || kind == source_kind::ews) {
                    r_.error(item["calendar"],
                             what + " calendar is only for caldav sources: with source '" +
                                 m.source + "' (" +
                                 (kind == source_kind::graph ? "Microsoft Graph" : "EWS") +
                                 ") agendad watches the mailbox's default calendar");
                } else if (cal->empty()) {
                    r_.error(item["calendar"], what + " calendar must not be empty");
                } else if (cal->front() != '/') {
                    if (auto problem = url_problem(*cal))
                        r_.error(item["calendar"], what +
                                                       " calendar must be a URL or a path on "
                                                       "the server (/...): " +
                                                       *problem);
                }
                m.calendar = *cal;
            }
        }

        if (!item["org_domains"]) {
            r_.error(item, what +
                               " needs org_domains: its organisation's domains, e.g. "
                               "[contoso.example]");
        } else {
            read_domains(item["org_domains"], what + " org_domains", m.org_domains);
        }

        m.policy = std::string(builtin_policy);
        if (item["policy"]) {
            if (auto p = r_.string(item["policy"], what + " policy")) {
                used_policies_.insert(*p);
                if (*p != builtin_policy &&
                    std::find(declared_policies_.begin(), declared_policies_.end(), *p) ==
                        declared_policies_.end()) {
                    std::vector<std::string> known{std::string(builtin_policy)};
                    known.insert(known.end(), declared_policies_.begin(), declared_policies_.end());
                    r_.error(item["policy"],
                             "unknown policy '" + *p + "'" + suggestion(*p, known, ""));
                } else {
                    m.policy = *p;
                }
            }
        }

        if (const YAML::Node mode = item["mode"]; mode) {
            if (mode.IsScalar() && mode.Scalar() == "dry_run") {
                m.mode = mailbox_mode::dry_run;  // as policy files accept it
            } else if (auto i = choice(mode, what + " mode", {"dry-run", "enforce"})) {
                m.mode = static_cast<mailbox_mode>(*i);
            }
        }
        if (auto v =
                integer(item["agenda_deadline_hours"], what + " agenda_deadline_hours", 1, 720))
            m.agenda_deadline_hours = *v;
        if (auto v =
                integer(item["max_declines_per_hour"], what + " max_declines_per_hour", 0, 10000))
            m.max_declines_per_hour = *v;
        if (r_.errors().size() == errors_before)
            (m.group.empty() ? c_.mailboxes : c_.groups).push_back(std::move(m));
    }

    void read_domains(const YAML::Node& node, const std::string& what,
                      std::vector<std::string>& out) {
        if (node.IsNull() || (node.IsSequence() && node.size() == 0)) {
            r_.error(node, what + " must name at least one domain, e.g. [contoso.example]");
            return;
        }
        if (!node.IsSequence()) {
            r_.error(node, what + " must be a list, e.g. [contoso.example]");
            return;
        }
        for (std::size_t i = 0; i < node.size(); ++i) {
            const YAML::Node item = node[i];
            const auto written = r_.string(item, what + " entries");
            if (!written) continue;
            std::string d = lower(*written);
            if (d.rfind("*.", 0) == 0) d.erase(0, 2);  // sub-domains are internal anyway
            if (!d.empty() && d.front() == '@') d.erase(0, 1);
            if (!valid_domain(d)) {
                r_.error(item, "'" + *written + "' in " + what + " is not a domain name");
                continue;
            }
            out.push_back(d);
        }
    }

    daemon_config_load finish() {
        for (auto& [name, s] : c_.sources) {
            if (s.kind == source_kind::folder && s.folder.outbox.empty())
                s.folder.outbox = c_.state_directory / "outbox" / name;
        }
        daemon_config_load out;
        out.errors = in_file_order(std::move(r_.errors()), std::move(policy_errors_));
        out.warnings = in_file_order(std::move(r_.warnings()), std::move(policy_warnings_));
        if (out.errors.empty()) out.config = std::move(c_);
        return out;
    }

    // The configuration's own diagnostics by line and column, each policy file's right after
    // the line that names it (in that file's own order).
    static std::vector<diagnostic> in_file_order(std::vector<diagnostic> own,
                                                 std::vector<placed> included) {
        std::vector<placed> all;
        all.reserve(own.size() + included.size());
        for (auto& d : own) all.push_back({d.line, d.column, std::move(d)});
        for (auto& p : included) all.push_back(std::move(p));
        std::stable_sort(all.begin(), all.end(), [](const placed& a, const placed& b) {
            return std::tie(a.line, a.column) < std::tie(b.line, b.column);
        });
        std::vector<diagnostic> out;
        out.reserve(all.size());
        for (auto& p : all) out.push_back(std::move(p.d));
        return out;
    }

    yaml_reader r_;
    fs::path base_;
    daemon_config c_;
    std::vector<std::string> declared_sources_;  // also those with errors: no "unknown source"
    std::vector<std::string> declared_policies_;
    std::map<std::string, source_kind, std::less<>> source_kinds_;
    std::vector<std::pair<std::string, YAML::Node>> source_keys_;
    std::vector<std::pair<std::string, YAML::Node>> policy_keys_;
    std::set<std::string, std::less<>> used_sources_;
    std::set<std::string, std::less<>> used_policies_;
    std::map<std::string, int, std::less<>> addresses_;  // normalised address → line
    std::map<std::string, int, std::less<>> groups_;     // source + group id → line
    std::vector<std::pair<std::string, host_port>> notification_listeners_;  // by source
    std::vector<placed> policy_errors_;
    std::vector<placed> policy_warnings_;
};

// Closes a descriptor on every path out of read_secret_file.
struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

std::optional<secret> read_secret_file(const std::filesystem::path& path, std::string& error) {
    const std::string name = path.string();
    // O_NONBLOCK: a FIFO put there by mistake must not hang the daemon; it is refused below.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        const int e = errno;
        error = (e == ENOENT || e == ENOTDIR)
                    ? name + " does not exist"
                    : name + " cannot be read: " + std::generic_category().message(e);
        return std::nullopt;
    }
    const fd_guard guard{fd};
    // fstat on the open descriptor: what is checked is what is read.
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        error = name + " cannot be read: " + std::generic_category().message(errno);
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
        error = name + " is not a regular file";
        return std::nullopt;
    }
    if ((st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        error = name + " is " + ((st.st_mode & 044) != 0 ? "readable" : "writable") +
                " by other users (mode " + mode + "): chmod 600 " + name;
        return std::nullopt;
    }
    secret out{path, {}};
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = name + " cannot be read: " + std::generic_category().message(errno);
            return std::nullopt;
        }
        if (n == 0) break;
        out.value.append(buffer, static_cast<std::size_t>(n));
        if (out.value.size() > max_secret_size) {
            error = name + " is too large for a secret (over 64 KiB): is it the right file?";
            return std::nullopt;
        }
    }
    // Editors and `echo` end the file with a newline that is not part of the secret (nor is a
    // Windows editor's carriage return before it).
    if (!out.value.empty() && out.value.back() == '\n') {
        out.value.pop_back();
        if (!out.value.empty() && out.value.back() == '\r') out.value.pop_back();
    }
    if (out.value.empty()) {
        error = name + " is empty";
        return std::nullopt;
    }
    return out;
}

daemon_config_load load_daemon_config_text(std::string_view yaml, std::string_view name,
                                           const std::filesystem::path& base_dir) {
    return loader(std::string(name), base_dir).run(yaml);
}

daemon_config_load load_daemon_config_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        daemon_config_load out;
        std::error_code ec;
        const bool exists = std::filesystem::exists(path, ec);
        out.errors.push_back(diagnostic{path.string(), 0, 0,
                                        exists ? "cannot be read (permissions?)" : "no such file"});
        return out;
    }
    std::ostringstream text;
    text << in.rdbuf();
    std::error_code ec;
    std::filesystem::path absolute = std::filesystem::absolute(path, ec);
    if (ec) absolute = path;
    return load_daemon_config_text(text.str(), path.string(), absolute.parent_path());
}

daemon_config demo_config(const std::filesystem::path& samples_dir,
                          const std::filesystem::path& state_directory) {
    daemon_config c;
    c.source_file = "built-in demo";
    c.state_directory = state_directory;
    // Off, so that the demo never clashes with a daemon already listening.
    c.status_listen.clear();
    if (auto executive = load_builtin_executive_policy(); executive.policy)
        c.policies.emplace(builtin_policy, std::move(*executive.policy));

    source_config s;
    s.name = "samples";
    s.kind = source_kind::folder;
    s.folder.path = samples_dir;
    s.folder.outbox = state_directory / "outbox" / "samples";
    s.folder.poll = std::chrono::seconds(2);
    c.sources.emplace(s.name, std::move(s));

    mailbox_config m;
    m.address = "alex.morgan@fabrikam.example";
    m.source = "samples";
    m.org_domains = {"fabrikam.example"};
    m.policy = std::string(builtin_policy);
    m.mode = mailbox_mode::dry_run;
    c.mailboxes.push_back(std::move(m));
    return c;
}

mailbox_mode effective_mode(const daemon_config& config, const mailbox_config& mailbox) {
    if (mailbox.mode) return *mailbox.mode;
    const auto p = config.policies.find(mailbox.policy);
    return p != config.policies.end() && p->second.mode == policy::mode::enforce
               ? mailbox_mode::enforce
               : mailbox_mode::dry_run;
}

}  // namespace agendad::config
