// Small helpers the daemon benchmarks share: number formatting, percentiles, the machine's
// load, the end of a log, option parsing, the calling thread's CPU time, and blocking HTTP/1.0
// round trips to a server on loopback.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace agendad::bench {

std::string fmt(double v, int decimals = 1);
std::string pad(const std::string& s, std::size_t width, bool left = false);
// Linear interpolation between closest ranks (p in 0..100).
double percentile(std::vector<double> v, double p);
std::string load_average();
std::string tail_of(const std::filesystem::path& file, std::size_t bytes = 3000);
bool parse_int(std::string_view text, int lo, int hi, int& out);
double thread_cpu_seconds();

// A blocking TCP connection to 127.0.0.1:port with `timeout_seconds` send and receive timeouts;
// -1 on failure.
int connect_loopback(std::uint16_t port, int timeout_seconds = 5);
// Sends `request` on a new connection and reads until the server closes it: the whole answer,
// or "" on failure.
std::string round_trip(std::uint16_t port, const std::string& request, int timeout_seconds = 5);
// GET http://127.0.0.1:port/path (HTTP/1.0): the body, or "" on failure.
std::string http_get(std::uint16_t port, const std::string& path, int timeout_seconds = 5);

}  // namespace agendad::bench
