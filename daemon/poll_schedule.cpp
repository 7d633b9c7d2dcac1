// See poll_schedule.h.
#include "daemon/poll_schedule.h"

#include <algorithm>

#include "calendar/encoding.h"

namespace agendad::daemon {

int poll_slots(std::chrono::milliseconds interval) {
    const auto fit = interval / min_poll_slot_spacing;
    return static_cast<int>(std::clamp<decltype(fit)>(fit, 1, max_poll_slots));
}

int poll_slot(std::string_view mailbox, int slots) {
    return static_cast<int>(calendar::encoding::fnv1a(mailbox) %
                            static_cast<std::uint64_t>(std::max(1, slots)));
}

std::chrono::steady_clock::time_point next_poll(std::chrono::steady_clock::time_point now,
                                                std::chrono::milliseconds interval,
                                                std::string_view mailbox) {
    using std::chrono::nanoseconds;
    using time_point = std::chrono::steady_clock::time_point;
    const nanoseconds period = std::max<nanoseconds>(interval, std::chrono::milliseconds{1});
    const int slots = poll_slots(interval);
    const nanoseconds phase = period / slots * poll_slot(mailbox, slots);
    // The slot's points are phase + k * period on the steady clock: the first one after `after`.
    const time_point after = std::chrono::time_point_cast<time_point::duration>(now + period / 2);
    const nanoseconds since = after.time_since_epoch() - phase;
    auto k = since.count() / period.count();
    if (since.count() % period.count() < 0) --k;  // floor for a clock before its epoch
    const nanoseconds point = phase + period * (k + 1);
    return time_point(std::chrono::duration_cast<time_point::duration>(point));
}

}  // namespace agendad::daemon
