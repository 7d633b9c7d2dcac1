// The decision path shared by `agendad explain` and the tests that hold the shipped policy to
// its labels: parsed file → one decision per meeting. The daemon's run loop will use it too.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/diagnostic.h"
#include "calendar/ical/parse.h"
#include "policy/context.h"
#include "policy/decision.h"
#include "policy/evaluate.h"
#include "policy/policy.h"

namespace agendad::daemon {

struct explained {
    calendar::invitation invitation;  // with the file's own warnings added
    policy::decision decision;
};

// One decision per meeting (UID) in a parsed file: the series master stands for its exceptions.
std::vector<explained> decide_all(const calendar::parsed_calendar& file,
                                  const policy::policy& policy, const policy::context& context,
                                  const policy::evaluate_options& options = {});

struct history_load {
    std::vector<calendar::invitation> events;
    // Any event that cannot be read is an error: a decision on a partial history could decline
    // someone the owner knows.
    std::vector<diagnostic> errors;
};
history_load load_history_files(std::span<const std::string> files, std::string_view mailbox);

}  // namespace agendad::daemon
