// Tests for config/policy_loader: the shipped executive policy, every kind of mistake a policy
// author can make (each reported at file:line:column, all at once), and a valid custom policy.
#include "config/policy_loader.h"
#include "support/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "policy/reply.h"

namespace agendad::config {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

policy_load load(std::string_view yaml) {
    return load_policy_text(yaml, "test.yaml");
}

std::string describe(const std::vector<diagnostic>& list) {
    std::string out;
    for (const auto& d : list) out += "\n    " + d.to_string();
    return out.empty() ? " (none)" : out;
}

// Looks for a diagnostic at exactly line:column whose message contains `text`, listing every
// diagnostic when there is none so that a wrong location is obvious from the failure alone.
::testing::AssertionResult has_at(const std::vector<diagnostic>& list, int line, int column,
                                  std::string_view text) {
    for (const auto& d : list) {
        if (d.file == "test.yaml" && d.line == line && d.column == column &&
            d.message.find(text) != std::string::npos) {
            return ::testing::AssertionSuccess();
        }
    }
    return ::testing::AssertionFailure() << "no diagnostic test.yaml:" << line << ":" << column
                                         << ": ...\"" << text << "\"...; got:" << describe(list);
}

// Locations in the order the loader reported them.
std::vector<std::pair<int, int>> locations(const std::vector<diagnostic>& list) {
    std::vector<std::pair<int, int>> out;
    for (const auto& d : list) out.emplace_back(d.line, d.column);
    return out;
}

using agendad::test_support::read_file;

// A per-test directory under the system temporary directory, removed afterwards.
class temp_dir {
  public:
    temp_dir() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::random_device random;
        path_ = fs::temp_directory_path() /
                ("agendad-config-" + std::string(info->name()) + "-" + std::to_string(random()));
        fs::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const fs::path& path() const { return path_; }
    fs::path write(const std::string& name, std::string_view text) const {
        const fs::path p = path_ / name;
        std::ofstream(p, std::ios::binary) << text;
        return p;
    }

  private:
    fs::path path_;
};

// ---- the shipped executive policy ----

TEST(config_builtin_policy, loads_without_errors_or_warnings) {
    const policy_load r = load_builtin_executive_policy();
    EXPECT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.errors, IsEmpty()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    ASSERT_TRUE(r.policy.has_value());
    EXPECT_EQ(r.policy->name, "executive");
    EXPECT_EQ(r.policy->source, builtin_executive_policy_name);
    // New mailboxes must not send anything until their owner opts in.
    EXPECT_EQ(r.policy->mode, policy::mode::dry_run);
}

TEST(config_builtin_policy, is_byte_for_byte_the_shipped_file) {
    // The installed file and the compiled-in text must not drift: users copy the file.
    const fs::path shipped = fs::path(AGENDAD_SOURCE_DIR) / "config/policies/executive.yaml";
    const std::string on_disk = read_file(shipped);
    ASSERT_FALSE(on_disk.empty()) << shipped;
    EXPECT_EQ(std::string(builtin_executive_policy_text()), on_disk);
}

TEST(config_builtin_policy, shipped_file_loads_cleanly_from_disk) {
    const fs::path shipped = fs::path(AGENDAD_SOURCE_DIR) / "config/policies/executive.yaml";
    const policy_load r = load_policy_file(shipped);
    EXPECT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
}

TEST(config_builtin_policy, has_the_documented_rules_in_order) {
    const policy_load r = load_builtin_executive_policy();
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    std::vector<std::string> names;
    for (const auto& rule : r.policy->rules) names.push_back(rule.name);
    EXPECT_THAT(names, ElementsAre("declined_recently", "calendar_spam", "untrusted_with_agenda",
                                   "untrusted_without_agenda", "external_checkin_without_agenda",
                                   "internal_checkin_without_agenda", "trusted_otherwise"));
}

TEST(config_builtin_policy, calendar_spam_is_declined_silently) {
    // Answering spam confirms the address to the spammer.
    const policy_load r = load_builtin_executive_policy();
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    const auto& rules = r.policy->rules;
    const auto spam = std::find_if(rules.begin(), rules.end(),
                                   [](const policy::rule& x) { return x.name == "calendar_spam"; });
    ASSERT_NE(spam, rules.end());
    EXPECT_EQ(spam->action, policy::action::decline);
    EXPECT_FALSE(spam->respond);
    EXPECT_TRUE(spam->reply.empty());
}

TEST(config_builtin_policy, every_responding_rule_has_an_existing_reply) {
    const policy_load r = load_builtin_executive_policy();
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    int responding = 0;
    for (const auto& rule : r.policy->rules) {
        if (rule.action != policy::action::decline &&
            rule.action != policy::action::request_agenda) {
            continue;
        }
        if (!rule.respond) continue;
        ++responding;
        SCOPED_TRACE(rule.name);
        ASSERT_FALSE(rule.reply.empty());
        const auto text = r.policy->replies.find(rule.reply);
        ASSERT_NE(text, r.policy->replies.end()) << rule.reply;
        EXPECT_FALSE(text->second.empty());
        EXPECT_FALSE(policy::check_reply_template(text->second).has_value());
    }
    EXPECT_EQ(responding, 4);  // declined_recently, untrusted_without_agenda, two check-ins
}

TEST(config_builtin_policy, follow_ups_have_replies_that_render) {
    const policy_load r = load_builtin_executive_policy();
    ASSERT_TRUE(r.policy);
    for (const auto* name : {&r.policy->no_agenda_by_deadline_reply, &r.policy->undo_reply}) {
        SCOPED_TRACE(*name);
        ASSERT_FALSE(name->empty()) << "the builtin policy must say what to send";
        const auto text = r.policy->replies.find(*name);
        ASSERT_NE(text, r.policy->replies.end());
        EXPECT_FALSE(policy::check_reply_template(text->second).has_value());
    }
}

// ---- one mistake per document, at an exact location ----

struct bad_case {
    std::string name;
    std::string yaml;
    int line;
    int column;
    std::string message;
    std::size_t errors;  // some mistakes have a second, honest consequence
};

std::ostream& operator<<(std::ostream& os, const bad_case& c) {
    return os << c.name;
}

class bad_policy : public ::testing::TestWithParam<bad_case> {};

TEST_P(bad_policy, is_reported_at_its_location) {
    const bad_case& c = GetParam();
    const policy_load r = load(c.yaml);
    EXPECT_FALSE(r.ok());
    EXPECT_FALSE(r.policy.has_value()) << "a broken policy must not be usable";
    EXPECT_TRUE(has_at(r.errors, c.line, c.column, c.message));
    EXPECT_EQ(r.errors.size(), c.errors) << describe(r.errors);
}

// Columns are 1-based; the comments point at the offending token.
const bad_case bad_cases[] = {
    {"unknown_top_level_key",
     "name: x\n"
     "rulez:\n"  // 2:1
     "  - name: a\n"
     "    action: leave\n",
     // ... and, honestly, the policy then has no rules.
     2, 1, "unknown key 'rulez' in the policy (did you mean 'rules'?)", 2},
    {"unknown_key_in_trust",
     "trust:\n"
     "  histroy_days: 30\n"  // 2:3
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n",
     2, 3, "unknown key 'histroy_days' in trust (did you mean 'history_days'?)", 1},
    {"unknown_key_in_rule",
     "rules:\n"
     "  - name: a\n"
     "    actoin: leave\n",  // 3:5
     // ... and the rule then has no action.
     3, 5, "unknown key 'actoin' in a rule (did you mean 'action'?)", 2},
    {"unknown_signal",
     "rules:\n"
     "  - name: a\n"
     "    when:\n"
     "      all: [untrusted_organiser]\n"  // 4:13
     "    action: leave\n",
     4, 13,
     "unknown signal 'untrusted_organiser' in rule 'a' when.all (did you mean "
     "'untrusted_organizer'?)",
     1},
    {"unknown_signal_without_near_match",
     "rules:\n"
     "  - name: a\n"
     "    when:\n"
     "      any: [mood]\n"  // 4:13
     "    action: leave\n",
     4, 13, "unknown signal 'mood' in rule 'a' when.any (see `agendad check --list-signals`)", 1},
    {"unknown_action",
     "rules:\n"
     "  - name: a\n"
     "    action: ignore\n",  // 3:13
     3, 13, "unknown action 'ignore' (one of: leave, accept, request_agenda, decline)", 1},
    {"respond_on_leave",
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n"
     "    respond: true\n",  // 4:14
     4, 14, "rule 'a': 'leave' sends nothing, so 'respond: true' has no meaning", 1},
    {"reply_without_response",
     "rules:\n"
     "  - name: a\n"
     "    action: decline\n"
     "    respond: false\n"
     "    reply: r\n"  // 5:12
     "replies:\n"
     "  r: Hi\n",
     5, 12, "rule 'a' sends no response, so its reply would never be sent", 1},
    {"undefined_reply",
     "rules:\n"
     "  - name: a\n"
     "    action: decline\n"
     "    reply: missing\n"  // 4:12
     "replies:\n"
     "  other: Hi\n",
     4, 12, "rule 'a' uses reply 'missing', which is not defined under replies (defined: other)",
     1},
    {"reply_with_unknown_placeholder",
     "rules:\n"
     "  - name: a\n"
     "    action: decline\n"
     "    reply: r\n"
     "replies:\n"
     "  r: \"Hi {organiser_name}\"\n",  // 6:10, the brace itself
     6, 10, "reply 'r': unknown placeholder {organiser_name}", 1},
    {"block_reply_with_unknown_placeholder",
     "rules:\n"
     "  - name: a\n"
     "    action: decline\n"
     "    reply: r\n"
     "replies:\n"
     "  r: |\n"
     "    Hello,\n"
     "    Hi {organiser_name},\n"  // 8:8, inside the block
     "    Dana\n",
     8, 8, "reply 'r': unknown placeholder {organiser_name}", 1},
    {"reply_with_unclosed_brace",
     "rules:\n"
     "  - name: a\n"
     "    action: decline\n"
     "    reply: r\n"
     "replies:\n"
     "  r: \"Hi {organizer_first_name\"\n",  // 6:10
     6, 10, "reply 'r': '{' without a closing '}'", 1},
    {"duplicate_rule_name",
     "rules:\n"
     "  - name: a\n"
     "    when:\n"
     "      all: [agenda]\n"
     "    action: leave\n"
     "  - name: a\n"  // 6:11
     "    action: leave\n",
     6, 11, "a rule named 'a' already exists: rule names must be unique", 1},
    {"duplicate_top_level_key",
     "name: x\n"
     "name: y\n"  // 2:1
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n",
     2, 1, "'name' appears twice in the policy", 1},
    {"duplicate_key_in_rule",
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n"
     "    action: decline\n",  // 4:5
     4, 5, "'action' appears twice in a rule", 1},
    {"history_days_not_a_number",
     "trust:\n"
     "  history_days: \"ninety\"\n"  // 2:17
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n",
     2, 17, "trust.history_days must be a whole number, not 'ninety'", 1},
    {"history_days_zero",
     "trust:\n"
     "  history_days: 0\n"  // 2:17
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n",
     2, 17, "trust.history_days must be between 1 and 3650, not 0", 1},
    {"history_days_too_large",
     "trust:\n"
     "  history_days: 99999\n"  // 2:17
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n",
     2, 17, "trust.history_days must be between 1 and 3650, not 99999", 1},
    {"vouching_not_a_boolean",
     "trust:\n"
     "  vouching: maybe\n"  // 2:13
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n",
     2, 13, "trust.vouching must be true or false", 1},
    {"org_domain_is_an_address",
     "trust:\n"
     "  org_domains: [contoso.example, dana@contoso.example]\n"  // 2:34
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n",
     2, 34, "'dana@contoso.example' in trust.org_domains is not a domain name", 1},
    {"allow_address_is_not_an_address",
     "trust:\n"
     "  allow:\n"
     "    addresses: [ceo@partner.example, partner.example]\n"  // 3:38
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n",
     3, 38, "'partner.example' in trust.allow.addresses is not an e-mail address", 1},
    {"mode_unknown",
     "mode: live\n"  // 1:7
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n",
     1, 7, "mode must be dry-run or enforce, not 'live'", 1},
    {"rule_without_name",
     "rules:\n"
     "  - action: leave\n",  // 2:5
     2, 5, "a rule needs a name", 1},
    {"rule_without_action",
     "rules:\n"
     "  - name: a\n",  // 2:5
     2, 5, "rule 'a' needs an action: leave, accept, request_agenda or decline", 1},
    {"rule_name_not_snake_case",
     "rules:\n"
     "  - name: Decline Strangers\n"  // 2:11
     "    action: leave\n",
     2, 11, "rule name 'Decline Strangers' must be lower_snake_case", 1},
    {"rule_after_catch_all",
     "rules:\n"
     "  - name: everything\n"
     "    action: leave\n"
     "  - name: later\n"  // 4:5
     "    when:\n"
     "      all: [agenda]\n"
     "    action: leave\n",
     4, 5,
     "rule 'later' is never reached: rule 'everything' before it has no conditions and matches "
     "everything",
     1},
    {"signal_in_all_and_none",
     "rules:\n"
     "  - name: a\n"
     "    when:\n"
     "      all: [agenda, external_organizer]\n"  // 4:7, the when mapping
     "      none: [agenda]\n"
     "    action: leave\n",
     4, 7, "rule 'a' can never match: a signal is in both 'all' and 'none'", 1},
    {"yaml_tab_indentation",
     "name: x\n"
     "rules:\n"
     "  - name: a\n"
     "\taction: leave\n",  // 4:1
     4, 1, "YAML syntax: illegal tab when looking for indentation", 1},
    {"yaml_bad_indentation",
     "name: x\n"
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n"
     "   when: x\n",  // 5:4
     5, 4, "YAML syntax: end of sequence not found", 1},
    {"yaml_unclosed_flow_list",
     "name: x\n"
     "rules:\n"
     "  - name: a\n"
     "    action: [leave\n"  // never closed; yaml-cpp notices at the next key
     "replies: {}\n",
     5, 8, "YAML syntax: end of sequence flow not found", 1},
    {"follow_up_unknown_key",
     "name: x\n"
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n"
     "follow_up:\n"
     "  no_agenda_by_deadlin: late\n",  // 6:3
     6, 3,
     "unknown key 'no_agenda_by_deadlin' in follow_up (did you mean 'no_agenda_by_deadline'?)", 1},
    {"follow_up_names_a_missing_reply",
     "name: x\n"
     "rules:\n"
     "  - name: a\n"
     "    action: leave\n"
     "follow_up:\n"
     "  undo: sorry\n",  // 6:9
     6, 9, "follow_up names reply 'sorry', which is not defined under replies", 1},
    {"no_rules_key",
     "name: x\n"  // 1:1, the document
     "mode: dry-run\n",
     1, 1, "the policy has no rules: every invitation would be left alone", 1},
    {"rules_not_a_list",
     "name: x\n"
     "rules: decline everything\n",  // 2:8
     2, 8, "rules must be a list of rules", 1},
    {"empty_rules_list",
     // Same outcome as no rules at all: every invitation would silently be left alone.
     "name: x\n"
     "rules: []\n",  // 2:8
     2, 8, "the policy has no rules", 1},
};

INSTANTIATE_TEST_SUITE_P(config_policy_loader, bad_policy, ::testing::ValuesIn(bad_cases),
                         [](const ::testing::TestParamInfo<bad_case>& param_info) {
                             return param_info.param.name;
                         });

TEST(config_policy_loader, empty_file_is_an_error_naming_the_file) {
    for (const std::string_view text : {"", "\n", "# nothing but a comment\n"}) {
        SCOPED_TRACE(std::string(text));
        const policy_load r = load(text);
        EXPECT_FALSE(r.ok());
        ASSERT_EQ(r.errors.size(), 1u) << describe(r.errors);
        EXPECT_EQ(r.errors[0].file, "test.yaml");
        EXPECT_THAT(r.errors[0].message, HasSubstr("the policy file is empty"));
    }
}

TEST(config_policy_loader, yaml_syntax_error_reads_as_file_line_column) {
    // A colon in an unquoted value: yaml-cpp stops at the second ':' and nothing else is read.
    const policy_load r = load("name: executive: copy\nrules: []\n");
    ASSERT_EQ(r.errors.size(), 1u) << describe(r.errors);
    EXPECT_EQ(r.errors[0].to_string(), "test.yaml:1:16: YAML syntax: illegal map value");
}

TEST(config_policy_loader, a_misspelt_signal_does_not_make_later_rules_unreachable) {
    // The first rule has a condition, just a misspelt one: calling it a catch-all would send
    // the author after a second, imaginary problem.
    const policy_load r = load(
        "rules:\n"
        "  - name: a\n"
        "    when:\n"
        "      all: [untrusted_organiser]\n"  // 4:13
        "    action: decline\n"
        "  - name: b\n"
        "    action: leave\n");
    EXPECT_TRUE(has_at(r.errors, 4, 13, "unknown signal 'untrusted_organiser'"));
    EXPECT_EQ(r.errors.size(), 1u) << describe(r.errors);
}

TEST(config_policy_loader, reports_every_problem_at_once) {
    const policy_load r = load(
        "name: several\n"                   // 1
        "trust:\n"                          // 2
        "  history_days: 0\n"               // 3: 3:17 out of range
        "  vouching: maybe\n"               // 4: 4:13 not a boolean
        "rules:\n"                          // 5
        "  - name: a\n"                     // 6: 6:5 needs an action
        "    when:\n"                       // 7
        "      all: [agenda]\n"             // 8
        "    actoin: leave\n"               // 9: 9:5 unknown key
        "  - name: b\n"                     // 10
        "    when:\n"                       // 11
        "      all: [no_agendaa]\n"         // 12: 12:13 unknown signal
        "    action: ignore\n"              // 13: 13:13 unknown action
        "replies:\n"                        // 14
        "  r: \"Hi {organiser_name}\"\n");  // 15: 15:10 unknown placeholder
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.errors.size(), 7u) << describe(r.errors);
    // In file order, so that an editor can walk them top to bottom.
    const std::vector<std::pair<int, int>> expected = {{3, 17},  {4, 13},  {6, 5},  {9, 5},
                                                       {12, 13}, {13, 13}, {15, 10}};
    EXPECT_EQ(locations(r.errors), expected) << describe(r.errors);
    EXPECT_TRUE(has_at(r.errors, 12, 13, "did you mean 'no_agenda'?"));
}

TEST(config_policy_loader, unused_reply_is_a_warning_not_an_error) {
    const policy_load r = load(
        "rules:\n"
        "  - name: a\n"
        "    action: leave\n"
        "replies:\n"
        "  spare: Hi\n");  // 5:3
    EXPECT_TRUE(r.ok()) << describe(r.errors);
    ASSERT_EQ(r.warnings.size(), 1u) << describe(r.warnings);
    EXPECT_TRUE(has_at(r.warnings, 5, 3, "reply 'spare' is not used by any rule"));
}

TEST(config_policy_loader, missing_file_names_the_path) {
    const temp_dir dir;
    const fs::path missing = dir.path() / "nope.yaml";
    const policy_load r = load_policy_file(missing);
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u) << describe(r.errors);
    EXPECT_EQ(r.errors[0].file, missing.string());
    EXPECT_THAT(r.errors[0].to_string(), HasSubstr(missing.string()));
    EXPECT_THAT(r.errors[0].message, HasSubstr("no such file"));
}

TEST(config_policy_loader, file_diagnostics_name_the_path_line_and_column) {
    const temp_dir dir;
    const fs::path file = dir.write("typo.yaml",
                                    "rules:\n"
                                    "  - name: a\n"
                                    "    action: leave\n"
                                    "    respnd: false\n");
    const policy_load r = load_policy_file(file);
    ASSERT_EQ(r.errors.size(), 1u) << describe(r.errors);
    EXPECT_EQ(r.errors[0].to_string(),
              file.string() + ":4:5: unknown key 'respnd' in a rule (did you mean 'respond'?)");
}

// ---- a valid custom policy ----

TEST(config_policy_loader, custom_policy_values_land_in_the_policy) {
    // A reply that uses every placeholder agendad knows, so that none of them is refused.
    std::string every_placeholder = "{{literal}} ";
    for (const auto p : policy::reply_placeholders())
        every_placeholder += "{" + std::string(p) + "} ";
    const std::string yaml =
        "name: custom\n"
        "mode: enforce\n"
        "trust:\n"
        "  org_domains: [Contoso.Example, \"*.Fabrikam.example\", \"@tailspin.example\"]\n"
        "  allow:\n"
        "    addresses: [\"MAILTO:Partner@Vendor.Example\", \" <ceo@board.example> \"]\n"
        "    domains: [\"*.Example.com\"]\n"
        "  deny:\n"
        "    addresses: [Spammer@Bad.example]\n"
        "    domains: [Worse.Example]\n"
        "  history_days: 30\n"
        "  declined_within_days: 0\n"
        "  vouching: no\n"
        "spam:\n"
        "  mass_invite_min_external: 5\n"
        "  mass_invite_min_domains: 2\n"
        "rules:\n"
        "  - name: deny_listed\n"
        "    description: never from these\n"
        "    when:\n"
        "      all: [denylisted_organizer]\n"
        "    action: decline\n"
        "    respond: false\n"
        "  - name: strangers\n"
        "    when:\n"
        "      all: [untrusted_organizer]\n"
        "      any: [no_agenda, spam_lure]\n"
        "      none: [allowlisted_organizer]\n"
        "    action: decline\n"
        "    reply: everything\n"
        "  - name: welcome\n"
        "    when:\n"
        "      all: [allowlisted_organizer]\n"
        "    action: accept\n"
        "  - name: rest\n"
        "    action: leave\n"
        "replies:\n"
        "  everything: \"" +
        every_placeholder + "\"\n";
    const policy_load r = load_policy_text(yaml, "/etc/agendad/policy.d/custom.yaml");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_THAT(r.warnings, IsEmpty()) << describe(r.warnings);
    const policy::policy& p = *r.policy;
    EXPECT_EQ(p.name, "custom");
    EXPECT_EQ(p.source, "/etc/agendad/policy.d/custom.yaml");
    EXPECT_EQ(p.mode, policy::mode::enforce);
    // Domains and addresses compare case-insensitively, so they are stored lower-cased;
    // "*.x" and "@x" mean the domain x (sub-domains match anyway).
    EXPECT_THAT(p.trust.org_domains,
                ElementsAre("contoso.example", "fabrikam.example", "tailspin.example"));
    EXPECT_THAT(p.trust.allow_addresses,
                ElementsAre("partner@vendor.example", "ceo@board.example"));
    EXPECT_THAT(p.trust.allow_domains, ElementsAre("example.com"));
    EXPECT_THAT(p.trust.deny_addresses, ElementsAre("spammer@bad.example"));
    EXPECT_THAT(p.trust.deny_domains, ElementsAre("worse.example"));
    EXPECT_EQ(p.trust.history_days, 30);
    EXPECT_EQ(p.trust.declined_within_days, 0);
    EXPECT_FALSE(p.trust.vouching);
    EXPECT_EQ(p.spam.mass_invite_min_external, 5);
    EXPECT_EQ(p.spam.mass_invite_min_domains, 2);

    ASSERT_EQ(p.rules.size(), 4u);
    const policy::rule& deny = p.rules[0];
    EXPECT_EQ(deny.name, "deny_listed");
    EXPECT_EQ(deny.description, "never from these");
    EXPECT_EQ(deny.action, policy::action::decline);
    EXPECT_FALSE(deny.respond);
    EXPECT_TRUE(
        deny.when.all.test(static_cast<std::size_t>(policy::signal_id::denylisted_organizer)));
    EXPECT_EQ(deny.when.all.count(), 1u);

    const policy::rule& strangers = p.rules[1];
    EXPECT_EQ(strangers.action, policy::action::decline);
    EXPECT_TRUE(strangers.respond);  // responding is the default
    EXPECT_EQ(strangers.reply, "everything");
    policy::signal_set any;
    any.set(static_cast<std::size_t>(policy::signal_id::no_agenda));
    any.set(static_cast<std::size_t>(policy::signal_id::spam_lure));
    EXPECT_EQ(strangers.when.any, any);
    EXPECT_TRUE(strangers.when.none.test(
        static_cast<std::size_t>(policy::signal_id::allowlisted_organizer)));

    EXPECT_EQ(p.rules[2].action, policy::action::accept);
    EXPECT_EQ(p.rules[3].action, policy::action::leave);
    EXPECT_FALSE(p.rules[3].respond);  // leave never sends anything
    EXPECT_TRUE(p.rules[3].when.all.none() && p.rules[3].when.any.none());

    ASSERT_EQ(p.replies.count("everything"), 1u);
    EXPECT_EQ(p.replies.at("everything"), every_placeholder);
}

TEST(config_policy_loader, policy_without_name_is_named_after_its_file) {
    const policy_load r = load_policy_text(
        "rules:\n"
        "  - name: a\n"
        "    action: leave\n",
        "/etc/agendad/policy.d/board-members.yaml");
    ASSERT_TRUE(r.ok()) << describe(r.errors);
    EXPECT_EQ(r.policy->name, "board-members");
    EXPECT_EQ(r.policy->mode, policy::mode::dry_run);  // the safe default
}

}  // namespace
}  // namespace agendad::config
