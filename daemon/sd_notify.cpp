#include "daemon/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace agendad::daemon {

bool sd_notify(std::string_view state) {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (!path || !*path) return false;
    const std::size_t length = std::strlen(path);
    sockaddr_un address{};
    if (length >= sizeof(address.sun_path)) return false;
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path, length);
    // "@name" is an abstract socket: the '@' stands for a leading NUL byte.
    if (address.sun_path[0] == '@') address.sun_path[0] = '\0';
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + length);
    const ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                                  reinterpret_cast<const sockaddr*>(&address), size);
    ::close(fd);
    return sent == static_cast<ssize_t>(state.size());
}

std::optional<std::chrono::microseconds> watchdog_interval() {
    const char* usec = std::getenv("WATCHDOG_USEC");
    if (!usec) return std::nullopt;
    // The variable is meant for one process only.
    if (const char* pid = std::getenv("WATCHDOG_PID"); pid && std::to_string(::getpid()) != pid)
        return std::nullopt;
    char* end = nullptr;
    const long long value = std::strtoll(usec, &end, 10);
    if (end == usec || value <= 0) return std::nullopt;
    return std::chrono::microseconds{value};
}

}  // namespace agendad::daemon
