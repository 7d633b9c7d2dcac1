// Tests for daemon/time_arg: the times users give on the command line (--now, later --since),
// in UTC or with an offset, and the ambiguous or impossible ones that must be refused.
#include "daemon/time_arg.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace agendad::daemon {
namespace {

using namespace std::chrono;

// 2026-11-20T09:00:00Z, the evaluation time of the labelled invitations.
constexpr calendar::time_point nine_utc = sys_days{2026y / November / 20} + 9h;

TEST(daemon_time_arg, accepts_utc_with_seconds) {
    EXPECT_EQ(parse_time_arg("2026-11-20T09:00:00Z"), nine_utc);
}

TEST(daemon_time_arg, accepts_utc_without_seconds) {
    EXPECT_EQ(parse_time_arg("2026-11-20T09:00Z"), nine_utc);
}

TEST(daemon_time_arg, applies_a_positive_offset) {
    EXPECT_EQ(parse_time_arg("2026-11-20T10:00:00+01:00"), nine_utc);
}

TEST(daemon_time_arg, applies_a_negative_offset) {
    EXPECT_EQ(parse_time_arg("2026-11-20T04:00:00-05:00"), nine_utc);
}

TEST(daemon_time_arg, offset_can_move_the_date) {
    EXPECT_EQ(parse_time_arg("2026-11-19T23:30:00-09:30"), nine_utc);
}

TEST(daemon_time_arg, keeps_seconds) {
    EXPECT_EQ(parse_time_arg("2026-11-20T09:00:45Z"), nine_utc + 45s);
}

TEST(daemon_time_arg, date_alone_is_midnight_utc) {
    EXPECT_EQ(parse_time_arg("2026-11-20"), calendar::time_point{sys_days{2026y / November / 20}});
}

TEST(daemon_time_arg, accepts_a_leap_day) {
    EXPECT_EQ(parse_time_arg("2028-02-29"), calendar::time_point{sys_days{2028y / February / 29}});
}

// A time without a zone would silently depend on the machine's time zone.
TEST(daemon_time_arg, rejects_a_time_without_zone) {
    EXPECT_EQ(parse_time_arg("2026-11-20T09:00:00"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-11-20T09:00"), std::nullopt);
}

TEST(daemon_time_arg, rejects_impossible_dates) {
    EXPECT_EQ(parse_time_arg("2026-13-01"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-02-30"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-02-29"), std::nullopt);  // 2026 is not a leap year
    EXPECT_EQ(parse_time_arg("2026-00-10"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-11-00"), std::nullopt);
}

TEST(daemon_time_arg, rejects_impossible_times) {
    EXPECT_EQ(parse_time_arg("2026-11-20T25:00Z"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-11-20T24:00Z"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-11-20T09:60Z"), std::nullopt);
}

TEST(daemon_time_arg, rejects_words_and_empty_text) {
    EXPECT_EQ(parse_time_arg("yesterday"), std::nullopt);
    EXPECT_EQ(parse_time_arg("now"), std::nullopt);
    EXPECT_EQ(parse_time_arg(""), std::nullopt);
}

TEST(daemon_time_arg, rejects_incomplete_or_trailing_text) {
    EXPECT_EQ(parse_time_arg("2026-11"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-11-20T"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-11-20T09"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-11-20T09:00:00+01"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-11-20T09:00:00Z tomorrow"), std::nullopt);
    EXPECT_EQ(parse_time_arg("20261120T090000Z"), std::nullopt);
}

// RFC 3339 offsets are at most 23:59; "+25:00" is a typo, not a place on Earth.
TEST(daemon_time_arg, rejects_an_offset_out_of_range) {
    EXPECT_EQ(parse_time_arg("2026-11-20T09:00:00+25:00"), std::nullopt);
    EXPECT_EQ(parse_time_arg("2026-11-20T09:00:00+01:75"), std::nullopt);
}

}  // namespace
}  // namespace agendad::daemon
