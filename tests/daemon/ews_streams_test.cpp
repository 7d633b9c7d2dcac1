// EWS streaming notifications against the fake EWS over TLS: a change wakes the mailbox at once,
// a stream Exchange closes at its ConnectionTimeout is asked for again without a wake, a dropped
// stream is reopened and wakes the mailbox (events may be lost meanwhile), a mailbox let go
// and stop() end their streams at once.
#include "daemon/ews_streams.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "support/ews_calendar_items.h"
#include "support/fake_ews.h"

namespace {

namespace asio = boost::asio;
using namespace agendad;
using namespace std::chrono_literals;
using agendad::test_support::ews_calendar_items_from_ics;
using agendad::test_support::fake_ews;

const std::string dana = "dana@contoso.example";

std::string meeting(const std::string& uid) {
    const std::string ics =
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:" + uid +
        "\r\nDTSTAMP:20261120T090000Z\r\nDTSTART:20261201T150000Z\r\nDURATION:PT1H\r\n"
        "SUMMARY:Demo\r\nORGANIZER:mailto:rep@vendor.example\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:" +
        dana + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    return ews_calendar_items_from_ics(ics, uid + ".ics", dana).at(0).xml;
}

fake_ews::options quick_streams() {
    fake_ews::options o;
    o.stream_keepalive = 200ms;
    o.stream_minute = 700ms;  // a one-minute ConnectionTimeout ends after 0.7 s
    return o;
}

class ews_streams_test : public ::testing::Test {
  protected:
    ews_streams_test() {
        ews_.add_mailbox(dana, "Dana");
        ews_.grant_impersonation(dana);
        calendar::http::tls_options tls;
        tls.ca_file = ews_.ca_file();
        auto http = std::make_shared<calendar::http::client>(io_.get_executor(), tls);
        calendar::ews::sign_in c;
        c.kind = calendar::ews::sign_in::scheme::basic;
        c.account = "svc-agendad";
        c.password = "test-password";
        auto client = std::make_shared<calendar::ews::ews_client>(io_.get_executor(), http,
                                                                  ews_.ews_url(), c);
        daemon::ews_stream_settings s;
        s.source_name = "exchange";
        s.connection_minutes = 1;
        s.idle_timeout = 2s;
        s.first_retry = 100ms;
        streams_ = std::make_unique<daemon::ews_streams>(
            io_.get_executor(), s, client, [this](const std::string& m) { ++woken_[m]; });
        asio::co_spawn(io_, streams_->run(), [this](std::exception_ptr) { ran_out_ = true; });
    }

    // Runs the io_context until `done` holds or `limit` passes (checked every 20 ms).
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            io_.run_for(20ms);
        }
        return done();
    }

    int count(const std::string& operation) const {
        int n = 0;
        for (const auto& r : ews_.requests()) n += r.operation == operation;
        return n;
    }

    fake_ews ews_{quick_streams()};
    asio::io_context io_;
    std::unique_ptr<daemon::ews_streams> streams_;
    std::map<std::string, int> woken_;
    bool ran_out_ = false;
};

TEST_F(ews_streams_test, a_change_wakes_the_mailbox_and_a_closed_stream_is_asked_again) {
    streams_->set_mailboxes({dana});
    ASSERT_TRUE(run_until([&] { return ews_.open_streams() == 1; }, 5s));
    EXPECT_EQ(ews_.subscriptions().size(), 1u);

    ews_.add_item(dana, meeting("uid-1"));
    ASSERT_TRUE(run_until([&] { return woken_[dana] >= 1; }, 3s));
    EXPECT_GE(streams_->events(), 1);

    // The fake ends each stream after its "minute" with ConnectionStatus Closed: agendad asks
    // again on the same subscription, and a clean close wakes nobody.
    const int woken = woken_[dana];
    ASSERT_TRUE(run_until([&] { return count("GetStreamingEvents") >= 3; }, 5s));
    EXPECT_EQ(count("Subscribe"), 1);
    EXPECT_EQ(woken_[dana], woken);
    EXPECT_TRUE(run_until([&] { return ews_.open_streams() == 1; }, 2s));
}

TEST_F(ews_streams_test, a_dropped_stream_is_reopened_and_wakes_the_mailbox) {
    streams_->set_mailboxes({dana});
    ASSERT_TRUE(run_until([&] { return ews_.open_streams() == 1; }, 5s));
    const int asked = count("GetStreamingEvents");
    ews_.drop_streams();
    ASSERT_TRUE(run_until([&] { return woken_[dana] >= 1; }, 3s)) << "events may have been lost";
    EXPECT_TRUE(run_until(
        [&] { return count("GetStreamingEvents") > asked && ews_.open_streams() == 1; }, 5s));
}

TEST_F(ews_streams_test, a_mailbox_let_go_and_stop_end_their_streams_at_once) {
    streams_->set_mailboxes({dana});
    ASSERT_TRUE(run_until([&] { return ews_.open_streams() == 1; }, 5s));
    streams_->set_mailboxes({});
    EXPECT_TRUE(run_until([&] { return streams_->open_streams() == 0; }, 500ms));
    EXPECT_FALSE(ran_out_);

    streams_->set_mailboxes({dana});
    ASSERT_TRUE(run_until([&] { return streams_->open_streams() == 1; }, 5s));
    const auto stopping = std::chrono::steady_clock::now();
    streams_->stop();
    EXPECT_TRUE(run_until([&] { return ran_out_; }, 1s));
    EXPECT_LT(std::chrono::steady_clock::now() - stopping, 1s);
    EXPECT_EQ(streams_->open_streams(), 0);
}

}  // namespace
