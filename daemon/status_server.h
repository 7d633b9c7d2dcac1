// The status listener: /healthz, /metrics (Prometheus) and /v1/decisions (the journal as JSON),
// served with Beast on one io_context. Loopback by default; anywhere else only with a bearer
// token. It only reads: nothing here changes the journal or a calendar.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "daemon/metrics.h"
#include "daemon/store.h"

namespace agendad::daemon {

struct status_options {
    std::string listen = "127.0.0.1:9187";  // host:port; port 0 picks a free one (tests)
    std::optional<std::string> token;       // required in "Authorization: Bearer ..." when set
    std::size_t max_request_bytes = 16384;
    std::chrono::milliseconds timeout{std::chrono::seconds{10}};  // per connection
};

class status_server {
  public:
    // `clock` gives the time for health and metrics (the daemon's clock); `db` and `m` must
    // outlive the server.
    status_server(boost::asio::any_io_executor executor, status_options options, metrics& m,
                  store& db, std::function<std::chrono::system_clock::time_point()> clock);
    ~status_server();

    // Binds and starts accepting. The error says why not (address in use, bad address, not
    // loopback without a token).
    boost::system::result<void, std::string> start();
    void stop();
    unsigned short port() const;  // the bound port (after start)

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace agendad::daemon
