// A policy as values: who is trusted, ordered rules from signals to actions, reply templates.
// Built by config/ from YAML (or by tests directly); policy/ never reads files.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "policy/signal.h"

namespace agendad::policy {

enum class action { leave, accept, request_agenda, decline };
std::string_view name_of(action a);
std::optional<action> action_from_name(std::string_view name);

enum class mode { dry_run, enforce };
std::string_view name_of(mode m);

struct trust_settings {
    // Organisation domains; sub-domains are internal too. Added to the mailbox's own list.
    std::vector<std::string> org_domains;
    std::vector<std::string> allow_addresses;
    std::vector<std::string> allow_domains;  // sub-domains match too
    std::vector<std::string> deny_addresses;
    std::vector<std::string> deny_domains;
    int history_days = 365;         // how far back a met/accepted meeting makes someone known
    int declined_within_days = 90;  // how recent a decline must be to count
    bool vouching = true;           // an internal invitee who accepted vouches for the organizer
};

struct spam_settings {
    int mass_invite_min_external = 10;  // external invitees (owner and rooms excluded) ...
    int mass_invite_min_domains = 3;    // ... from at least this many domains
};

// A rule fires when every `all` signal fired, at least one `any` signal fired (if any are
// listed) and no `none` signal fired.
struct condition {
    signal_set all;
    signal_set any;
    signal_set none;
    bool matches(const signal_set& fired) const {
        return (fired & all) == all && (any.none() || (fired & any).any()) && (fired & none).none();
    }
};

struct rule {
    std::string name;         // lower_snake, shown in explain and logs
    std::string description;  // optional, for humans
    condition when;
    ::agendad::policy::action action = ::agendad::policy::action::leave;
    bool respond = true;  // send a response to the organizer (false: silent)
    std::string reply;    // name of a reply template; empty for no text
};

struct policy {
    std::string name;    // from the file, or its stem
    std::string source;  // file it was loaded from, for messages
    ::agendad::policy::mode mode =
        ::agendad::policy::mode::dry_run;  // default for mailboxes without one
    trust_settings trust;
    spam_settings spam;
    std::vector<rule> rules;  // first match wins; when none matches the invitation is left alone
    // Templates for agendad's follow-ups on its own decisions; empty: answer without text.
    std::string no_agenda_by_deadline_reply;  // declining after an unanswered request for an agenda
    std::string undo_reply;                   // `agendad undo` taking back a response that was sent
    std::map<std::string, std::string, std::less<>> replies;  // template name → text
};

}  // namespace agendad::policy
