// Small file helpers shared by the tests: reading fixtures and corpus files whole.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace agendad::test_support {

// The whole file as bytes; empty if it cannot be read (the test's own assertions say why).
inline std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace agendad::test_support
