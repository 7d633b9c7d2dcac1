// A journal entry as JSON: one shape for `agendad decisions --json` and the status listener's
// /v1/decisions, so that the two can never disagree.
#pragma once

#include <boost/json/object.hpp>

#include "daemon/store.h"

namespace agendad::daemon {

boost::json::object to_json(const journal_entry& e);

}  // namespace agendad::daemon
