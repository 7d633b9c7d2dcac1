// When a mailbox polls next. Each mailbox polls on a fixed phase of its interval: one of `slots`
// evenly spaced points, chosen by a stable hash of its address. A daemon watching many mailboxes
// so wakes at most `slots` times per interval, each time for all the mailboxes of that slot at
// once (their timers expire at the same instant), instead of once per mailbox; and the polls
// still spread over the interval rather than all arriving at the server together.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace agendad::daemon {

inline constexpr int poll_slots = 20;

// The slot of `mailbox`, in [0, slots): FNV-1a of the address, the same in every run.
int poll_slot(std::string_view mailbox, int slots = poll_slots);

// The next poll of `mailbox` after a pass that ended at `now`: the first point of its slot later
// than now + interval / 2. In steady state (passes shorter than half the interval) polls are
// exactly `interval` apart; after a pass that started off the grid (the first one, one a
// notification asked for) the next comes between half an interval and one and a half later.
std::chrono::steady_clock::time_point next_poll(std::chrono::steady_clock::time_point now,
                                                std::chrono::milliseconds interval,
                                                std::string_view mailbox,
                                                int slots = poll_slots);

}  // namespace agendad::daemon
