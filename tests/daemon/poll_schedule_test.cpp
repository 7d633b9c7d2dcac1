// The poll schedule (daemon/poll_schedule.h): polls exactly one interval apart in steady state,
// never sooner than half an interval after a pass, mailboxes spread over the slots, and the
// mailboxes of one slot due at the very same instant (one wakeup for all of them).
#include "daemon/poll_schedule.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

namespace {

using agendad::daemon::next_poll;
using agendad::daemon::poll_slot;
using agendad::daemon::max_poll_slots;
using agendad::daemon::poll_slots;
using namespace std::chrono_literals;
using time_point = std::chrono::steady_clock::time_point;

const time_point start = time_point(std::chrono::hours{1000} + 123456789ns);

TEST(poll_schedule, the_next_poll_is_between_half_and_one_and_a_half_intervals_away) {
    for (const auto interval : {1000ms, 60000ms, 300000ms}) {
        for (int i = 0; i < 200; ++i) {
            const std::string mailbox = "user" + std::to_string(i) + "@contoso.example";
            const time_point now = start + std::chrono::microseconds{i * 7919};
            const time_point next = next_poll(now, interval, mailbox);
            EXPECT_GT(next, now + interval / 2) << mailbox;
            EXPECT_LE(next, now + interval * 3 / 2) << mailbox;
        }
    }
}

TEST(poll_schedule, in_steady_state_polls_are_exactly_one_interval_apart) {
    const std::string mailbox = "dana.whitfield@contoso.example";
    time_point poll = next_poll(start, 1000ms, mailbox);
    for (int i = 0; i < 50; ++i) {
        // A pass of 3 ms, or of 400 ms: the next poll is one interval after this one.
        const auto pass = i % 2 ? 3ms : 400ms;
        const time_point next = next_poll(poll + pass, 1000ms, mailbox);
        EXPECT_EQ(next - poll, std::chrono::steady_clock::duration(1000ms)) << i;
        poll = next;
    }
}

TEST(poll_schedule, mailboxes_started_together_spread_over_the_interval_and_share_wakeups) {
    // 100 mailboxes whose first passes all ended within a few milliseconds of each other.
    std::map<time_point, int> due;
    for (int i = 0; i < 100; ++i) {
        const std::string mailbox = "mailbox" + std::to_string(i) + "@contoso.example";
        ++due[next_poll(start + std::chrono::milliseconds{i % 7}, 1000ms, mailbox)];
    }
    // At most one wakeup per slot (5 of them for a 1 s interval), and no slot holds a crowd.
    EXPECT_EQ(due.size(), 5u);
    for (const auto& [when, n] : due) EXPECT_LE(n, 30);
    EXPECT_GE(std::prev(due.end())->first - due.begin()->first,
              std::chrono::steady_clock::duration(800ms))
        << "the polls spread over the interval";
}

TEST(poll_schedule, slots_are_at_least_200_ms_apart_and_at_most_20) {
    EXPECT_EQ(poll_slots(50ms), 1);
    EXPECT_EQ(poll_slots(1000ms), 5);
    EXPECT_EQ(poll_slots(2000ms), 10);
    EXPECT_EQ(poll_slots(4000ms), 20);
    EXPECT_EQ(poll_slots(300000ms), 20);
    // A 5-minute interval: 20 wakeups, 15 s apart.
    std::set<time_point> due;
    for (int i = 0; i < 500; ++i) {
        due.insert(next_poll(start, 300000ms, "user" + std::to_string(i) + "@contoso.example"));
    }
    EXPECT_EQ(due.size(), static_cast<std::size_t>(max_poll_slots));
}

TEST(poll_schedule, a_mailbox_keeps_its_slot) {
    EXPECT_EQ(poll_slot("dana.whitfield@contoso.example", max_poll_slots),
              poll_slot("dana.whitfield@contoso.example", max_poll_slots));
    std::set<int> slots;
    for (int i = 0; i < 1000; ++i) {
        const int s = poll_slot("m" + std::to_string(i) + "@contoso.example", max_poll_slots);
        EXPECT_GE(s, 0);
        EXPECT_LT(s, max_poll_slots);
        slots.insert(s);
    }
    EXPECT_EQ(slots.size(), static_cast<std::size_t>(max_poll_slots));
    EXPECT_EQ(poll_slot("anything", 1), 0);
}

}  // namespace
