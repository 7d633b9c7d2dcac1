// agendad: a meeting-hygiene daemon for Outlook/Exchange calendars. See `agendad --help`.
#include <iostream>
#include <string_view>
#include <vector>

#include "daemon/cli.h"

int main(int argc, char** argv) {
    std::vector<std::string_view> args(argv + 1, argv + argc);
    return agendad::daemon::run_cli(args, std::cout, std::cerr);
}
