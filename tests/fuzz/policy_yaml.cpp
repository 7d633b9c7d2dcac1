// Policy files (config/policy_loader.h load_policy_text), as `agendad check`, explain and the
// daemon load an administrator's YAML; a policy that loads then decides an ordinary invitation.
//
// Invariants: no exception escapes (yaml-cpp throws on bad YAML: the loader must turn that into
// a diagnostic); a policy is given exactly when there is no error; every diagnostic names the
// file and says what is wrong, errors in file order; every reply a rule names is defined; and a
// policy that loads decides without throwing, within check_decision's rules.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>

#include "config/policy_loader.h"
#include "decision_checks.h"
#include "fuzz_support.h"
#include "policy/evaluate.h"

namespace {

using namespace agendad;
using fuzz::require;

constexpr std::string_view name = "fuzz.yaml";

calendar::invitation ordinary_invitation() {
    using namespace std::chrono;
    calendar::invitation inv;
    inv.method = calendar::method::request;
    inv.uid = "fuzz-1";
    inv.organizer = {"brianna.cole@veritycloud.example", "Brianna Cole", ""};
    inv.attendees.push_back({"dana.whitfield@contoso.example", "Dana Whitfield",
                             calendar::role::required, calendar::partstat::needs_action, true, ""});
    inv.attendees.push_back({"sam.lee@contoso.example", "Sam Lee", calendar::role::required,
                             calendar::partstat::accepted, true, ""});
    inv.subject = "Quick sync";
    inv.description = "Hope you're well! I'd love 15 minutes to connect.";
    inv.start = sys_days{year{2026} / 11 / 24} + hours{16};
    inv.end = inv.start + minutes{30};
    inv.start_local = {2026, 11, 24, 16, 0, "GMT Standard Time"};
    return inv;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view yaml(reinterpret_cast<const char*>(data), size);
    const config::policy_load loaded = config::load_policy_text(yaml, name);
    require(loaded.ok() == loaded.policy.has_value(), "load_policy_text: a policy with errors");
    require(!loaded.errors.empty() || loaded.policy, "load_policy_text: no policy and no error");
    for (const auto* list : {&loaded.errors, &loaded.warnings}) {
        for (std::size_t i = 0; i < list->size(); ++i) {
            const diagnostic& d = (*list)[i];
            require(d.file == name, "load_policy_text: a diagnostic for another file", d.file);
            require(!d.message.empty(), "load_policy_text: a diagnostic without a message");
            require(d.line >= 0 && d.column >= 0, "load_policy_text: a negative position");
            if (i > 0) {
                const diagnostic& before = (*list)[i - 1];
                require(std::tie(before.line, before.column) <= std::tie(d.line, d.column),
                        "load_policy_text: diagnostics out of file order");
            }
        }
    }
    if (!loaded.policy) return 0;
    const policy::policy& p = *loaded.policy;
    for (const auto& r : p.rules) {
        require(!r.name.empty(), "load_policy_text: a rule without a name");
        require(r.reply.empty() || p.replies.count(r.reply) == 1,
                "load_policy_text: a rule's reply is not defined", r.reply);
    }
    policy::context ctx;
    ctx.mailbox = "Dana.Whitfield@contoso.example";
    ctx.org_domains = {"contoso.example"};
    ctx.now = std::chrono::sys_days{std::chrono::year{2026} / 11 / 20};
    const calendar::invitation inv = ordinary_invitation();
    const policy::evaluate_options options{true};
    fuzz::check_decision(policy::evaluate(p, inv, ctx, options), options);
    return 0;
}
