// When a mailbox polls next. Each mailbox polls on a fixed phase of its interval: one of a few
// evenly spaced points (slots), chosen by a stable hash of its address. A daemon watching many
// mailboxes so wakes at most once per slot, for all the mailboxes of that slot at once (their
// timers expire at the same instant), instead of once per mailbox; and the polls still spread
// over the interval rather than all arriving at the server together.
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace agendad::daemon {

// At most 20 slots per interval, and slots at least 200 ms apart: 5 for a 1 s interval, 20 from
// 4 s up. A wakeup costs more than the work of one poll, so a short interval has few slots, each
// polling many mailboxes back to back (measured with 100 mailboxes at 1 s: 20 slots took 1.0-1.2 %
// of a core, 5 slots 0.8 %, 2 slots no less); a long one spreads the load on the server more
// finely, which costs nothing then.
inline constexpr int max_poll_slots = 20;
inline constexpr std::chrono::milliseconds min_poll_slot_spacing{200};
int poll_slots(std::chrono::milliseconds interval);

// The slot of `mailbox`, in [0, slots): FNV-1a of the address, the same in every run.
int poll_slot(std::string_view mailbox, int slots);

// The next poll of `mailbox` after a pass that ended at `now`: the first point of its slot later
// than now + interval / 2. In steady state (passes shorter than half the interval) polls are
// exactly `interval` apart; after a pass that started off the grid (the first one, one a
// notification asked for) the next comes between half an interval and one and a half later.
std::chrono::steady_clock::time_point next_poll(std::chrono::steady_clock::time_point now,
                                                std::chrono::milliseconds interval,
                                                std::string_view mailbox);

}  // namespace agendad::daemon
