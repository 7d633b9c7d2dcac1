// Holds the shipped executive policy to its labels: every invitation of the labelled sets, through
// the very code `agendad explain` runs, gets its labelled action; every shipped rule fires
// somewhere.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/policy_loader.h"
#include "daemon/explain.h"
#include "daemon/time_arg.h"
#include "policy/history.h"

namespace {

namespace fs = std::filesystem;
using agendad::policy::action;

struct labelled_set {
    std::string name;
    fs::path dir;
    std::string mailbox;
    std::vector<std::string> org_domains;
    std::string now = "2026-11-20T09:00:00Z";
};

struct row {
    std::string set;
    fs::path file;
    std::string expected;
    std::string why;
};

// Test names and failure messages show the file, not the bytes of the row.
void PrintTo(const row& r, std::ostream* os) {
    *os << r.set << '/' << r.file.filename().string();
}

std::vector<labelled_set> sets() {
    const fs::path shared = AGENDAD_SHARED_DIR;
    const fs::path source = AGENDAD_SOURCE_DIR;
    std::vector<labelled_set> out = {
        {"dev",
         shared / "labeled-invitations",
         "dana.whitfield@contoso.example",
         {"contoso.example"}},
        {"samples",
         source / "config/samples",
         "alex.morgan@fabrikam.example",
         {"fabrikam.example"}},
    };
    // Held-out sets describe their own mailbox in context.tsv.
    for (const char* name : {"nl", "br"}) {
        labelled_set s{std::string("generalisation_") + name,
                       source / "tests/data/generalisation" / name,
                       "",
                       {}};
        std::ifstream in(s.dir / "context.tsv");
        std::string key, value;
        while (std::getline(in, key, '\t') && std::getline(in, value)) {
            if (key == "mailbox")
                s.mailbox = value;
            else if (key == "org_domain")
                s.org_domains.push_back(value);
            else if (key == "now")
                s.now = value;
        }
        out.push_back(s);
    }
    return out;
}

std::vector<row> rows() {
    std::vector<row> out;
    for (const auto& s : sets()) {
        std::ifstream in(s.dir / "labels.tsv");
        std::string line;
        std::getline(in, line);  // header
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            row r;
            r.set = s.name;
            std::string file;
            std::getline(fields, file, '\t');
            std::getline(fields, r.expected, '\t');
            std::getline(fields, r.why);
            r.file = s.dir / file;
            out.push_back(r);
        }
    }
    return out;
}

const agendad::policy::policy& executive() {
    static const auto loaded = agendad::config::load_builtin_executive_policy();
    return *loaded.policy;
}

struct decided {
    agendad::daemon::explained result;
    std::string error;
};

// Parse, history, context and decision exactly as `agendad explain` does.
decided decide(const row& r) {
    static std::map<std::string, agendad::policy::history> histories;
    labelled_set s;
    for (const auto& candidate : sets()) {
        if (candidate.name == r.set) s = candidate;
    }
    if (!histories.count(s.name)) {
        const std::vector<std::string> files = {(s.dir / "calendar.ics").string()};
        const auto loaded = agendad::daemon::load_history_files(files, s.mailbox);
        if (!loaded.errors.empty()) return {{}, loaded.errors.front().to_string()};
        histories[s.name] = agendad::policy::history::from_events(loaded.events, s.mailbox);
    }
    agendad::policy::context ctx;
    ctx.mailbox = s.mailbox;
    ctx.org_domains = s.org_domains;
    ctx.now = *agendad::daemon::parse_time_arg(s.now);
    ctx.known = &histories[s.name];

    agendad::calendar::parse_options options;
    options.mailbox = s.mailbox;
    const auto parsed = agendad::calendar::parse_ics_file(r.file, options);
    if (!parsed) return {{}, parsed.error().to_string()};
    if (!parsed->errors.empty()) return {{}, parsed->errors.front().to_string()};
    auto all = agendad::daemon::decide_all(*parsed, executive(), ctx);
    if (all.size() != 1)
        return {{}, "expected one meeting in the file, found " + std::to_string(all.size())};
    return {std::move(all.front()), {}};
}

class labels : public ::testing::TestWithParam<row> {};

TEST_P(labels, the_shipped_policy_takes_the_labelled_action) {
    const row& r = GetParam();
    const decided d = decide(r);
    ASSERT_TRUE(d.error.empty()) << d.error;
    const auto& dec = d.result.decision;
    std::string signals;
    for (const auto& s : dec.signals)
        signals += "\n  " + std::string(agendad::policy::name_of(s.id)) + ": " + s.evidence;
    EXPECT_EQ(agendad::policy::name_of(dec.action), r.expected)
        << r.file.filename() << " (" << r.why << ") decided by " << dec.rule << signals;
    // Calendar spam is declined without confirming the address; everything else that acts speaks.
    const bool silent = r.why.find("without sending") != std::string::npos ||
                        r.why.find("calendar spam") != std::string::npos;
    if (dec.action == action::decline) {
        EXPECT_EQ(dec.send_response, !silent) << r.file.filename();
    }
    if (dec.action == action::leave) {
        EXPECT_FALSE(dec.send_response);
    }
    if (dec.send_response) {
        EXPECT_FALSE(dec.reply.empty());
        EXPECT_EQ(dec.reply.find('{'), std::string::npos) << "unreplaced placeholder:\n"
                                                          << dec.reply;
    }
}

std::string row_name(const ::testing::TestParamInfo<row>& info) {
    std::string name = info.param.set + "_" + info.param.file.stem().string();
    for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return name;
}

INSTANTIATE_TEST_SUITE_P(shipped, labels, ::testing::ValuesIn(rows()), row_name);

TEST(labels, every_set_is_present_and_complete) {
    std::map<std::string, int> per_set;
    for (const auto& r : rows()) ++per_set[r.set];
    EXPECT_EQ(per_set["dev"], 36) << "the shared labelled set is missing at " << AGENDAD_SHARED_DIR;
    EXPECT_GE(per_set["samples"], 12);
    EXPECT_GE(per_set["generalisation_nl"], 20);
    EXPECT_GE(per_set["generalisation_br"], 20);
}

// fail2ban's rule: every shipped rule has a sample that fires it, so none is dead or untested.
TEST(labels, every_shipped_rule_fires_on_some_labelled_invitation) {
    std::set<std::string> fired;
    for (const auto& r : rows()) {
        const decided d = decide(r);
        if (d.error.empty()) fired.insert(d.result.decision.rule);
    }
    for (const auto& rule : executive().rules) {
        EXPECT_TRUE(fired.count(rule.name))
            << "no labelled invitation is decided by rule " << rule.name;
    }
}

}  // namespace
