// A plain-HTTP proxy on 127.0.0.1 in front of a real server (Radicale) that injects the faults of
// a support/faults.h plan: every request is forwarded to the upstream server over a connection
// of its own (one upstream connection per client connection, opened again when the upstream
// closes it, as Radicale's HTTP/1.0 server does after every answer) unless the plan gives it a
// fault that replaces the answer; a fault that mangles the answer is applied to what upstream
// answered, so that the request did take effect. Answers go back with keep-alive as the client
// asked. It runs on its own thread; all methods are thread-safe. No Beast in this header.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::test_support {

class fault_plan;

class fault_proxy final {
  public:
    // Listens on a free port of 127.0.0.1 and serves at once. `upstream_port` on 127.0.0.1;
    // `plan` may be null (then it only forwards).
    fault_proxy(std::uint16_t upstream_port, std::shared_ptr<fault_plan> plan);
    ~fault_proxy();  // stops the thread; open connections are closed
    fault_proxy(const fault_proxy&) = delete;
    fault_proxy& operator=(const fault_proxy&) = delete;

    std::uint16_t port() const;
    // "http://127.0.0.1:<port>" + path.
    std::string url(std::string_view path = "/") const;

    struct exchange {
        std::string method;
        std::string target;
        int status = 0;        // upstream's answer; 0 when there was none (a replacing fault)
        bool faulted = false;  // the client got a fault instead of (or made of) that answer
    };
    std::vector<exchange> exchanges() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace agendad::test_support
