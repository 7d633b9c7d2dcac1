// Small helpers the daemon benchmarks share: number formatting, percentiles, the machine's
// load, the end of a log, option parsing and the calling thread's CPU time.
#pragma once

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

}  // namespace agendad::bench
