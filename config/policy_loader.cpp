#include "config/policy_loader.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "policy/reply.h"
#include "yaml_reader.h"

namespace agendad::config {
namespace {

using detail::valid_address;
using detail::valid_domain;
using detail::yaml_reader;

std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

bool valid_rule_name(std::string_view n) {
    return !n.empty() && std::islower(static_cast<unsigned char>(n.front())) &&
           std::all_of(n.begin(), n.end(), [](char c) {
               return std::islower(static_cast<unsigned char>(c)) ||
                      std::isdigit(static_cast<unsigned char>(c)) || c == '_';
           });
}

std::vector<std::string> domains(yaml_reader& r, const YAML::Node& node, std::string_view what) {
    std::vector<std::string> out;
    const auto items = r.string_list(node, what);
    std::size_t index = 0;
    for (auto d : items) {
        const YAML::Node item = node.IsSequence() ? node[index] : node;
        ++index;
        d = lower(d);
        if (d.rfind("*.", 0) == 0) d.erase(0, 2);  // "*.example.com": sub-domains match anyway
        if (!d.empty() && d.front() == '@') d.erase(0, 1);
        if (!valid_domain(d)) {
            r.error(item, "'" + d + "' in " + std::string(what) + " is not a domain name");
            continue;
        }
        out.push_back(d);
    }
    return out;
}

std::vector<std::string> addresses(yaml_reader& r, const YAML::Node& node, std::string_view what) {
    std::vector<std::string> out;
    const auto items = r.string_list(node, what);
    std::size_t index = 0;
    for (auto a : items) {
        const YAML::Node item = node.IsSequence() ? node[index] : node;
        ++index;
        a = calendar::normalize_address(a);
        if (!valid_address(a)) {
            r.error(item, "'" + a + "' in " + std::string(what) + " is not an e-mail address");
            continue;
        }
        out.push_back(a);
    }
    return out;
}

void read_trust(yaml_reader& r, const YAML::Node& node, policy::trust_settings& t) {
    if (!r.expect_map(
            node, "trust",
            {"org_domains", "allow", "deny", "history_days", "declined_within_days", "vouching"})) {
        return;
    }
    t.org_domains = domains(r, node["org_domains"], "trust.org_domains");
    for (const auto& [key, addr, dom] : {std::tuple{"allow", &t.allow_addresses, &t.allow_domains},
                                         std::tuple{"deny", &t.deny_addresses, &t.deny_domains}}) {
        const YAML::Node list = node[key];
        if (!list.IsDefined() || list.IsNull()) continue;
        const std::string what = std::string("trust.") + key;
        if (!r.expect_map(list, what, {"addresses", "domains"})) continue;
        *addr = addresses(r, list["addresses"], what + ".addresses");
        *dom = domains(r, list["domains"], what + ".domains");
    }
    if (node["history_days"]) {
        if (auto v = r.integer(node["history_days"], "trust.history_days", 1, 3650))
            t.history_days = *v;
    }
    if (node["declined_within_days"]) {
        if (auto v =
                r.integer(node["declined_within_days"], "trust.declined_within_days", 0, 3650)) {
            t.declined_within_days = *v;
        }
    }
    if (node["vouching"]) {
        if (auto v = r.boolean(node["vouching"], "trust.vouching")) t.vouching = *v;
    }
}

void read_spam(yaml_reader& r, const YAML::Node& node, policy::spam_settings& s) {
    if (!r.expect_map(node, "spam", {"mass_invite_min_external", "mass_invite_min_domains"}))
        return;
    if (node["mass_invite_min_external"]) {
        if (auto v = r.integer(node["mass_invite_min_external"], "spam.mass_invite_min_external", 1,
                               100000)) {
            s.mass_invite_min_external = *v;
        }
    }
    if (node["mass_invite_min_domains"]) {
        if (auto v = r.integer(node["mass_invite_min_domains"], "spam.mass_invite_min_domains", 1,
                               100000)) {
            s.mass_invite_min_domains = *v;
        }
    }
}

policy::signal_set read_signals(yaml_reader& r, const YAML::Node& node, const std::string& what) {
    policy::signal_set set;
    if (!node.IsDefined() || node.IsNull()) return set;
    if (!node.IsSequence()) {
        r.error(node,
                what + " must be a list of signal names, e.g. [untrusted_organizer, no_agenda]");
        return set;
    }
    for (const auto& item : node) {
        auto name = r.string(item, what + " entries");
        if (!name) continue;
        if (auto id = policy::signal_from_name(*name)) {
            set.set(static_cast<std::size_t>(*id));
            continue;
        }
        std::string message = "unknown signal '" + *name + "' in " + what;
        std::string best;
        std::size_t best_distance = 4;
        for (std::size_t i = 0; i < policy::signal_count; ++i) {
            const auto candidate = policy::name_of(static_cast<policy::signal_id>(i));
            const auto dist = detail::edit_distance(*name, candidate);
            if (dist < best_distance) {
                best = std::string(candidate);
                best_distance = dist;
            }
        }
        message += best.empty() ? " (see `agendad check --list-signals`)"
                                : " (did you mean '" + best + "'?)";
        r.error(item, std::move(message));
    }
    return set;
}

struct rule_position {
    YAML::Node node;
    YAML::Node reply;
    bool conditions_unreadable = false;  // `when` had errors: its empty sets do not mean "always"
};

void read_rules(yaml_reader& r, const YAML::Node& node, policy::policy& p,
                std::vector<rule_position>& positions) {
    if (node.IsSequence() && node.size() == 0) {
        r.error(node, "the policy has no rules: every invitation would be left alone");
        return;
    }
    if (!node.IsSequence()) {
        r.error(node, "rules must be a list of rules (each starting with '- name: ...')");
        return;
    }
    std::set<std::string> names;
    for (const auto& item : node) {
        if (!r.expect_map(item, "a rule",
                          {"name", "description", "when", "action", "respond", "reply"}))
            continue;
        policy::rule rule;
        const YAML::Node name = item["name"];
        if (!name) {
            r.error(item, "a rule needs a name (lower_snake_case, e.g. untrusted_without_agenda)");
        } else if (auto n = r.string(name, "rule name")) {
            if (!valid_rule_name(*n)) {
                r.error(name, "rule name '" + *n + "' must be lower_snake_case (a-z, 0-9, _)");
            } else if (!names.insert(*n).second) {
                r.error(name,
                        "a rule named '" + *n + "' already exists: rule names must be unique");
            }
            rule.name = *n;
        }
        if (item["description"]) {
            if (auto d = r.string(item["description"], "description")) rule.description = *d;
        }
        const std::string what = "rule '" + rule.name + "'";
        const std::size_t errors_before_when = r.errors().size();
        if (const YAML::Node when = item["when"]; when && !when.IsNull()) {
            if (r.expect_map(when, what + " when", {"all", "any", "none"})) {
                rule.when.all = read_signals(r, when["all"], what + " when.all");
                rule.when.any = read_signals(r, when["any"], what + " when.any");
                rule.when.none = read_signals(r, when["none"], what + " when.none");
                if ((rule.when.all & rule.when.none).any()) {
                    r.error(when, what + " can never match: a signal is in both 'all' and 'none'");
                }
            }
        }
        const YAML::Node action = item["action"];
        if (!action) {
            r.error(item, what + " needs an action: leave, accept, request_agenda or decline");
        } else if (auto a = r.string(action, "action")) {
            if (auto parsed = policy::action_from_name(*a)) {
                rule.action = *parsed;
            } else {
                r.error(action, "unknown action '" + *a +
                                    "' (one of: leave, accept, request_agenda, decline)");
            }
        }
        if (item["respond"]) {
            if (auto v = r.boolean(item["respond"], "respond")) rule.respond = *v;
            if (rule.action == policy::action::leave && rule.respond) {
                r.error(item["respond"],
                        what + ": 'leave' sends nothing, so 'respond: true' has no meaning");
            }
        }
        if (rule.action == policy::action::leave) rule.respond = false;
        if (item["reply"]) {
            if (auto v = r.string(item["reply"], "reply")) rule.reply = *v;
            if (!rule.respond) {
                r.error(item["reply"],
                        what + " sends no response, so its reply would never be sent");
            }
        }
        positions.push_back({item, item["reply"], r.errors().size() > errors_before_when});
        p.rules.push_back(std::move(rule));
    }
    // A rule that matches everything hides the rules after it.
    for (std::size_t i = 0; i + 1 < p.rules.size(); ++i) {
        const auto& c = p.rules[i].when;
        if (c.all.none() && c.any.none() && c.none.none() && !positions[i].conditions_unreadable) {
            r.error(positions[i + 1].node,
                    "rule '" + p.rules[i + 1].name + "' is never reached: rule '" +
                        p.rules[i].name + "' before it has no conditions and matches everything");
            break;
        }
    }
}

void read_replies(yaml_reader& r, const YAML::Node& node, policy::policy& p) {
    if (!node.IsMap()) {
        r.error(node, "replies must map template names to texts");
        return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
        const std::string name = it->first.IsScalar() ? it->first.Scalar() : std::string();
        auto text = r.string(it->second, "reply '" + name + "'");
        if (!text) continue;
        if (auto problem = policy::check_reply_template(*text)) {
            r.error_in_scalar(it->second, problem->offset,
                              "reply '" + name + "': " + problem->message);
        }
        if (!p.replies.emplace(name, *text).second)
            r.error(it->first, "reply '" + name + "' is defined twice");
    }
}

}  // namespace

policy_load load_policy_text(std::string_view yaml, std::string_view name) {
    policy_load out;
    yaml_reader r{std::string(name)};
    auto root = r.parse(yaml);
    if (!root) {
        out.errors = std::move(r.errors());
        return out;
    }
    policy::policy p;
    p.source = std::string(name);
    if (!root->IsDefined() || root->IsNull()) {
        r.error(*root, "the policy file is empty");
    } else if (r.expect_map(*root, "the policy",
                            {"name", "mode", "trust", "spam", "rules", "replies", "follow_up"})) {
        const YAML::Node& doc = *root;
        if (doc["name"]) {
            if (auto n = r.string(doc["name"], "name")) p.name = *n;
        }
        if (doc["mode"]) {
            if (auto m = r.string(doc["mode"], "mode")) {
                if (*m == "dry-run" || *m == "dry_run")
                    p.mode = policy::mode::dry_run;
                else if (*m == "enforce")
                    p.mode = policy::mode::enforce;
                else
                    r.error(doc["mode"], "mode must be dry-run or enforce, not '" + *m + "'");
            }
        }
        if (doc["trust"]) read_trust(r, doc["trust"], p.trust);
        if (doc["spam"]) read_spam(r, doc["spam"], p.spam);
        std::vector<rule_position> positions;
        if (doc["replies"]) read_replies(r, doc["replies"], p);
        if (!doc["rules"]) {
            r.error(doc, "the policy has no rules: every invitation would be left alone");
        } else {
            read_rules(r, doc["rules"], p, positions);
        }
        std::vector<std::pair<YAML::Node, std::string>> follow_up_replies;
        if (const YAML::Node f = doc["follow_up"]; f && !f.IsNull()) {
            if (r.expect_map(f, "follow_up", {"no_agenda_by_deadline", "undo"})) {
                for (const auto& [key, target] :
                     {std::pair{"no_agenda_by_deadline", &p.no_agenda_by_deadline_reply},
                      std::pair{"undo", &p.undo_reply}}) {
                    if (!f[key]) continue;
                    if (auto v = r.string(f[key], std::string("follow_up.") + key)) {
                        *target = *v;
                        follow_up_replies.emplace_back(f[key], *v);
                    }
                }
            }
        }
        std::set<std::string> used;
        for (const auto& [node, reply] : follow_up_replies) {
            used.insert(reply);
            if (!p.replies.count(reply)) {
                r.error(node, "follow_up names reply '" + reply +
                                  "', which is not defined under replies");
            }
        }
        for (std::size_t i = 0; i < p.rules.size() && i < positions.size(); ++i) {
            const auto& rule = p.rules[i];
            if (rule.reply.empty()) continue;
            used.insert(rule.reply);
            if (!p.replies.count(rule.reply)) {
                std::string known;
                for (const auto& [k, v] : p.replies) known += (known.empty() ? "" : ", ") + k;
                r.error(positions[i].reply,
                        "rule '" + rule.name + "' uses reply '" + rule.reply +
                            "', which is not defined under replies" +
                            (known.empty() ? std::string() : " (defined: " + known + ")"));
            }
        }
        if (doc["replies"] && doc["replies"].IsMap()) {
            for (auto it = doc["replies"].begin(); it != doc["replies"].end(); ++it) {
                const std::string reply = it->first.IsScalar() ? it->first.Scalar() : std::string();
                if (!used.count(reply))
                    r.warning(it->first, "reply '" + reply + "' is not used by any rule");
            }
        }
    }
    if (p.name.empty()) {
        std::string stem = std::string(name);
        if (auto slash = stem.find_last_of('/'); slash != std::string::npos)
            stem = stem.substr(slash + 1);
        if (auto dot = stem.find('.'); dot != std::string::npos) stem = stem.substr(0, dot);
        p.name = stem;
    }
    out.errors = std::move(r.errors());
    out.warnings = std::move(r.warnings());
    // In file order, as an editor would walk them.
    const auto by_position = [](const diagnostic& a, const diagnostic& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    };
    std::stable_sort(out.errors.begin(), out.errors.end(), by_position);
    std::stable_sort(out.warnings.begin(), out.warnings.end(), by_position);
    if (out.errors.empty()) out.policy = std::move(p);
    return out;
}

policy_load load_policy_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        policy_load out;
        std::error_code ec;
        const bool exists = std::filesystem::exists(path, ec);
        out.errors.push_back(diagnostic{path.string(), 0, 0,
                                        exists ? "cannot be read (permissions?)" : "no such file"});
        return out;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return load_policy_text(text.str(), path.string());
}

policy_load load_builtin_executive_policy() {
    return load_policy_text(builtin_executive_policy_text(), builtin_executive_policy_name);
}

}  // namespace agendad::config
