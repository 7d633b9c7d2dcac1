// Runs a coroutine to its end on a test's io_context: what the source and client tests do for
// every call they check.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>
#include <optional>
#include <utility>

namespace agendad::test_support {

// Runs `io` until `work` and everything it started are done; returns its value, or rethrows
// what it threw.
template <class T>
T run_awaitable(boost::asio::io_context& io, boost::asio::awaitable<T> work) {
    std::optional<T> out;
    std::exception_ptr failed;
    boost::asio::co_spawn(io, std::move(work), [&](std::exception_ptr e, T value) {
        failed = e;
        if (!e) out.emplace(std::move(value));
    });
    io.restart();
    io.run();
    if (failed) std::rethrow_exception(failed);
    return std::move(*out);
}

}  // namespace agendad::test_support
