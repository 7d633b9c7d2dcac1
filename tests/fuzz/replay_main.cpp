// The replay driver: runs a fuzz target's LLVMFuzzerTestOneInput on every file named, and on
// every file below every directory named (sorted, recursively), once each. It stands in for
// libFuzzer's main where there is no libFuzzer (GCC builds), so that committed regression inputs
// and the seed corpus run in every build's test suite. A failing invariant aborts, as under
// libFuzzer; the input that was running is named first, so the failure points at a file.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

bool run_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "fuzz replay: cannot read %s\n", path.c_str());
        return false;
    }
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Named before it runs: if it aborts, this is the last line of the test's output.
    std::fprintf(stderr, "fuzz replay: %s (%zu bytes)\n", path.c_str(), bytes.size());
    // A copy of exactly `size` bytes, as libFuzzer passes them: reading past the end is caught
    // by AddressSanitizer when the build has it.
    const std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
    LLVMFuzzerTestOneInput(copy.data(), copy.size());
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE|DIR ...\n"
                             "Runs the fuzz target once on each file (directories recursively).\n",
                     argv[0]);
        return 2;
    }
    std::size_t ran = 0;
    for (int i = 1; i < argc; ++i) {
        const fs::path arg = argv[i];
        std::error_code ec;
        if (fs::is_directory(arg, ec)) {
            std::vector<fs::path> files;
            for (fs::recursive_directory_iterator it(arg, ec), end; !ec && it != end;
                 it.increment(ec)) {
                if (it->is_regular_file(ec)) files.push_back(it->path());
            }
            if (ec) {
                std::fprintf(stderr, "fuzz replay: cannot list %s: %s\n", arg.c_str(),
                             ec.message().c_str());
                return 1;
            }
            std::sort(files.begin(), files.end());
            for (const auto& f : files) {
                if (!run_file(f)) return 1;
                ++ran;
            }
        } else if (fs::is_regular_file(arg, ec)) {
            if (!run_file(arg)) return 1;
            ++ran;
        } else {
            // A missing corpus must not pass as "nothing to replay".
            std::fprintf(stderr, "fuzz replay: no such file or directory: %s\n", arg.c_str());
            return 1;
        }
    }
    std::printf("fuzz replay: %zu inputs ran\n", ran);
    return ran > 0 ? 0 : 1;
}
