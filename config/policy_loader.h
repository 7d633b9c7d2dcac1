// Policy files (YAML) → policy::policy values, with every problem reported at once as
// file:line:column. Unknown keys are errors (a typo must not silently change behaviour).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/diagnostic.h"
#include "policy/policy.h"

namespace agendad::config {

struct policy_load {
    std::optional<policy::policy> policy;  // set only when there are no errors
    std::vector<diagnostic> errors;
    std::vector<diagnostic> warnings;  // legal but probably unintended (an unused reply, ...)
    bool ok() const { return errors.empty() && policy.has_value(); }
};

// Parses policy YAML; `name` is used in diagnostics and as policy.source.
policy_load load_policy_text(std::string_view yaml, std::string_view name);
policy_load load_policy_file(const std::filesystem::path& path);

// The shipped executive policy, compiled into the binary so that agendad works with no files.
std::string_view builtin_executive_policy_text();
inline constexpr std::string_view builtin_executive_policy_name = "executive.yaml (built in)";
policy_load load_builtin_executive_policy();

}  // namespace agendad::config
