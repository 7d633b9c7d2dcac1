// Concurrency gates and backoff for the sources' HTTP clients (Graph, EWS): Microsoft limits
// requests in flight per mailbox and asks for waits with jitter when it throttles.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <random>

namespace agendad::calendar::http {

// A counting semaphore for coroutines on one executor (not thread-safe: the client is used from
// one thread). Waiting coroutines queue in order; a released slot passes straight to the first
// waiter, so a newcomer never overtakes the queue.
class gate {
  public:
    explicit gate(int capacity) : capacity_(std::max(1, capacity)) {}
    gate(const gate&) = delete;
    gate& operator=(const gate&) = delete;

    boost::asio::awaitable<void> acquire() {
        if (used_ < capacity_ && waiting_.empty()) {
            ++used_;
            co_return;
        }
        auto w = std::make_shared<waiter>(co_await boost::asio::this_coro::executor);
        waiting_.push_back(w);
        // Whatever ends the wait (also the frame destroyed while it waits): a slot handed to
        // us and not taken goes on to the next waiter, and a wait not granted leaves the queue.
        struct leave {
            gate* g;
            std::shared_ptr<waiter> w;
            bool taken = false;
            ~leave() {
                if (taken) return;
                if (w->granted) {
                    g->release();
                } else {
                    auto& q = g->waiting_;
                    q.erase(std::remove(q.begin(), q.end(), w), q.end());
                }
            }
        } guard{this, w};
        while (!w->granted) {
            auto [ec] = co_await w->timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
            (void)ec;  // cancelled by release(): the slot is ours
        }
        guard.taken = true;
    }

    void release() {
        if (!waiting_.empty()) {
            auto w = std::move(waiting_.front());
            waiting_.pop_front();
            w->granted = true;  // the slot passes on: used_ stays
            w->timer.cancel();
            return;
        }
        if (used_ > 0) --used_;
    }

  private:
    struct waiter {
        explicit waiter(const boost::asio::any_io_executor& ex)
            : timer(ex, boost::asio::steady_timer::time_point::max()) {}
        boost::asio::steady_timer timer;
        bool granted = false;
    };
    int capacity_;
    int used_ = 0;
    std::deque<std::shared_ptr<waiter>> waiting_;
};

// Holds a slot of a gate until the end of the scope.
class held {
  public:
    explicit held(gate& g) : g_(&g) {}
    held(const held&) = delete;
    held& operator=(const held&) = delete;
    ~held() { g_->release(); }

  private:
    gate* g_;
};

// Exponential backoff with full jitter: uniform in [0, min(cap, first * 2^(attempt-1))].
template <class Random>
std::chrono::milliseconds full_jitter_backoff(int attempt, std::chrono::milliseconds first,
                                              std::chrono::milliseconds cap, Random& random) {
    std::chrono::milliseconds bound = std::max(first, std::chrono::milliseconds{1});
    for (int i = 1; i < attempt && bound < cap; ++i) bound *= 2;
    bound = std::min(bound, cap);
    std::uniform_int_distribution<long long> pick(0, std::max<long long>(bound.count(), 0));
    return std::chrono::milliseconds{pick(random)};
}

}  // namespace agendad::calendar::http
