// Throughput of agendad's hot path, parse + evaluate, over many Outlook-style invitations, with
// libical's own parsing measured in the same run as the baseline that the ratios are taken to.

#include <libical/ical.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "calendar/ical/parse.h"
#include "calendar/invitation.h"
#include "config/policy_loader.h"
#include "policy/context.h"
#include "policy/evaluate.h"
#include "policy/history.h"

namespace {

namespace fs = std::filesystem;
using namespace agendad;
using bench_clock = std::chrono::steady_clock;

// Could not measure: inputs missing or unusable, or a bad command line. Everything else exits 0:
// a benchmark reports, CI does not gate on the speed of the machine.
constexpr int exit_cannot_run = 2;

// The labelled set's world (labeled-invitations/README.md).
constexpr std::string_view mailbox = "dana.whitfield@contoso.example";
constexpr std::string_view org_domain = "contoso.example";
constexpr calendar::time_point evaluation_time() {
    using namespace std::chrono;
    return time_point_cast<seconds>(sys_days{year{2026} / November / 20} + hours{9});
}

// The targets.
constexpr double target_invitations_per_second = 20'000;
constexpr double target_overhead = 0.25;

constexpr int min_passes = 3;

// Written after every pass so that no phase's work can be optimised away.
volatile std::size_t sink = 0;

struct options {
    std::size_t count = 20'000;
    double seconds = 2;
    std::string phase = "all";
};

constexpr std::string_view phase_names[] = {"all", "libical", "parse", "parse_evaluate",
                                            "evaluate"};

struct source_file {
    std::string name;  // file name, as diagnostics would show it
    std::string text;
};

struct item {
    std::string text;  // distinct per item (own UID); std::string keeps it NUL-terminated
    const source_file* from = nullptr;
    std::string uid;
};

// ---- output helpers ----------------------------------------------------------------------

std::string grouped(double value) {
    const auto n = static_cast<std::uint64_t>(value < 0 ? 0 : value + 0.5);
    std::string digits = std::to_string(n);
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

std::string fixed(double value, int decimals) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
    return buffer;
}

std::string pad_left(std::string_view s, std::size_t width) {
    return std::string(width > s.size() ? width - s.size() : 0, ' ') + std::string(s);
}

std::string pad_right(std::string_view s, std::size_t width) {
    return std::string(s) + std::string(width > s.size() ? width - s.size() : 0, ' ');
}

std::string megabytes(double bytes) {
    return fixed(bytes / (1024.0 * 1024.0), 1) + " MiB";
}

// The 1-minute load average: other processes competing for the cores make every figure
// pessimistic (the ratios much less so: the phases are interleaved).
std::string load_note() {
    double load[1] = {0};
    if (getloadavg(load, 1) != 1) return "load average unknown";
    return "load average " + fixed(load[0], 2) + " on " +
           std::to_string(std::thread::hardware_concurrency()) + " cores";
}

// CPU time of the calling thread: unlike steady_clock it does not count time spent waiting for a
// core, so it shows how much of a slow pass was the machine being busy.
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double peak_rss_bytes() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_maxrss) * 1024.0;  // Linux reports KiB
}

// ---- command line ------------------------------------------------------------------------

void print_usage(std::ostream& out) {
    out << "usage: agendad_bench [--count N] [--seconds S] [--phase NAME]\n"
           "  --count N     invitations in the working set (default 20000)\n"
           "  --seconds S   minimum measuring time per phase, at least "
        << min_passes
        << " passes (default 2)\n"
           "  --phase NAME  all (default), libical, parse, parse_evaluate or evaluate: one phase\n"
           "                alone, e.g. under a profiler\n"
           "Inputs: " AGENDAD_SHARED_DIR
           "/labeled-invitations (invites/*.ics, calendar.ics)\n"
           "        and " AGENDAD_SOURCE_DIR "/config/samples/invitations/*.ics\n";
}

std::optional<options> parse_command_line(int argc, char** argv) {
    options opt;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            print_usage(std::cout);
            std::exit(0);
        }
        if (i + 1 >= argc || (arg != "--count" && arg != "--seconds" && arg != "--phase")) {
            std::cerr << "agendad_bench: unknown option or missing value: '" << arg << "'\n";
            print_usage(std::cerr);
            return std::nullopt;
        }
        const std::string_view value = argv[++i];
        const char* const first = value.data();
        const char* const last = value.data() + value.size();
        if (arg == "--count") {
            const auto [end, ec] = std::from_chars(first, last, opt.count);
            if (ec != std::errc{} || end != last || opt.count == 0) {
                std::cerr << "agendad_bench: --count wants a positive integer, not '" << value
                          << "'\n";
                return std::nullopt;
            }
        } else if (arg == "--seconds") {
            const auto [end, ec] = std::from_chars(first, last, opt.seconds);
            if (ec != std::errc{} || end != last || !(opt.seconds >= 0)) {
                std::cerr << "agendad_bench: --seconds wants a number >= 0, not '" << value
                          << "'\n";
                return std::nullopt;
            }
        } else {
            if (std::find(std::begin(phase_names), std::end(phase_names), value) ==
                std::end(phase_names)) {
                std::cerr << "agendad_bench: unknown phase '" << value
                          << "' (all, libical, parse, parse_evaluate, evaluate)\n";
                return std::nullopt;
            }
            opt.phase = value;
        }
    }
    return opt;
}

// ---- inputs ------------------------------------------------------------------------------

std::optional<std::string> read_whole(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return std::nullopt;
    return text;
}

// The *.ics files of `dir`, sorted by name; empty when there are none or the folder is missing.
std::vector<source_file> read_invitations(const fs::path& dir) {
    std::vector<fs::path> paths;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->is_regular_file(ec) && it->path().extension() == ".ics") paths.push_back(*it);
    }
    std::sort(paths.begin(), paths.end());
    std::vector<source_file> out;
    for (const auto& p : paths) {
        auto text = read_whole(p);
        if (text) out.push_back(source_file{p.filename().string(), std::move(*text)});
    }
    return out;
}

// An Outlook-shaped global object id that is unique per copy, so that nothing downstream can
// recognise a copy by its content.
std::string unique_uid(std::size_t index) {
    auto hex16 = [](std::uint64_t v) {
        char buffer[17];
        std::snprintf(buffer, sizeof buffer, "%016llX", static_cast<unsigned long long>(v));
        return std::string(buffer);
    };
    std::uint64_t mixed = index + 0x9E3779B97F4A7C15ull;  // splitmix64: varied-looking digits
    mixed = (mixed ^ (mixed >> 30)) * 0xBF58476D1CE4E5B9ull;
    mixed = (mixed ^ (mixed >> 27)) * 0x94D049BB133111EBull;
    mixed ^= mixed >> 31;
    return "040000008200E00074C5B7101A82E00800000000" + hex16(mixed) + "000000000000000010000000" +
           hex16(index);
}

// Appends `line` folded at 75 octets, as Outlook writes long UIDs.
void append_folded(std::string& out, std::string_view line, std::string_view eol) {
    std::size_t limit = 75;
    while (line.size() > limit) {
        out.append(line.substr(0, limit)).append(eol).append(" ");
        line.remove_prefix(limit);
        limit = 74;
    }
    out.append(line).append(eol);
}

bool starts_with_uid(std::string_view line) {
    if (line.size() < 4) return false;
    auto up = [](char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; };
    return up(line[0]) == 'U' && up(line[1]) == 'I' && up(line[2]) == 'D' &&
           (line[3] == ':' || line[3] == ';');
}

// `text` with the value of every UID line (folds included) replaced by `uid`; nullopt when the
// text has no UID line.
std::optional<std::string> with_uid(std::string_view text, std::string_view uid) {
    const std::string_view eol = text.find("\r\n") != std::string_view::npos ? "\r\n" : "\n";
    std::string out;
    out.reserve(text.size() + 2 * uid.size());
    bool found = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t next = pos;
        do {  // one logical line: up to a line break that no fold continues
            const std::size_t nl = text.find('\n', next);
            next = nl == std::string_view::npos ? text.size() : nl + 1;
        } while (next < text.size() && (text[next] == ' ' || text[next] == '\t'));
        const std::string_view line = text.substr(pos, next - pos);
        if (starts_with_uid(line)) {
            append_folded(out, "UID:" + std::string(uid), eol);
            found = true;
        } else {
            out.append(line);
        }
        pos = next;
    }
    if (!found) return std::nullopt;
    return out;
}

// ---- measuring ---------------------------------------------------------------------------

struct phase {
    std::string label;
    std::function<std::size_t()> pass;  // one pass over the whole working set; a checksum
    double best_seconds = std::numeric_limits<double>::infinity();      // steady_clock
    double best_cpu_seconds = std::numeric_limits<double>::infinity();  // this thread's CPU time
    double total_seconds = 0;
    int passes = 0;
};

// Runs the phases' passes round-robin, each at least min_passes times and until `min_seconds`
// of it have gone by, and keeps each phase's fastest pass. Interleaving makes a change in the
// machine's load (other builds, frequency scaling) hit the baseline and the rest alike, so the
// ratios stay meaningful on a busy machine.
void measure(std::vector<phase>& phases, double min_seconds) {
    auto done = [&](const phase& p) {
        return p.passes >= min_passes && p.total_seconds >= min_seconds;
    };
    while (!std::all_of(phases.begin(), phases.end(), done)) {
        for (auto& p : phases) {
            if (done(p)) continue;
            const double cpu_start = thread_cpu_seconds();
            const auto start = bench_clock::now();
            const std::size_t checksum = p.pass();
            const auto stop = bench_clock::now();
            const double cpu = thread_cpu_seconds() - cpu_start;
            sink = sink + checksum;
            const double elapsed = std::chrono::duration<double>(stop - start).count();
            p.best_seconds = std::min(p.best_seconds, elapsed);
            p.best_cpu_seconds = std::min(p.best_cpu_seconds, cpu);
            p.total_seconds += elapsed;
            ++p.passes;
        }
    }
}

struct world {
    policy::policy pol;
    policy::history known;
    policy::context ctx;
    calendar::parse_options parse_opts;
};

[[noreturn]] void cannot_run(const std::string& message) {
    std::cerr << "agendad_bench: " << message << '\n';
    std::exit(exit_cannot_run);
}

// Parses one item as the daemon would; exits with a message when it does not parse cleanly, since
// then the figures would not mean much.
calendar::parsed_calendar parse_or_exit(const item& it, const calendar::parse_options& po) {
    auto parsed = calendar::parse_ics(it.text, it.from->name, po);
    if (!parsed) cannot_run(it.from->name + ": " + parsed.error().to_string());
    if (!parsed->errors.empty()) cannot_run(parsed->errors.front().to_string());
    if (parsed->events.empty()) cannot_run(it.from->name + ": no VEVENT");
    return std::move(*parsed);
}

}  // namespace

int main(int argc, char** argv) try {
    const std::optional<options> opt = parse_command_line(argc, argv);
    if (!opt) return exit_cannot_run;
    const bool all = opt->phase == "all";
    auto wanted = [&](std::string_view phase) { return all || opt->phase == phase; };

    // ---- inputs, all in memory before anything is timed ----
    const fs::path shared_dir = AGENDAD_SHARED_DIR;
    const fs::path labelled_dir = shared_dir / "labeled-invitations" / "invites";
    const fs::path calendar_path = shared_dir / "labeled-invitations" / "calendar.ics";
    const fs::path samples_dir = fs::path(AGENDAD_SOURCE_DIR) / "config/samples/invitations";

    const std::vector<source_file> labelled = read_invitations(labelled_dir);
    const std::vector<source_file> samples = read_invitations(samples_dir);
    if (labelled.empty()) {
        cannot_run("no invitations in " + labelled_dir.string() +
                   " (the shared material; set AGENDAD_SHARED_DIR when configuring)");
    }
    if (samples.empty()) cannot_run("no invitations in " + samples_dir.string());
    const std::optional<std::string> calendar_text = read_whole(calendar_path);
    if (!calendar_text) cannot_run("cannot read the mailbox calendar " + calendar_path.string());

    std::vector<const source_file*> sources;
    std::size_t source_bytes = 0;
    for (const auto* set : {&labelled, &samples}) {
        for (const auto& s : *set) {
            sources.push_back(&s);
            source_bytes += s.text.size();
        }
    }

    std::vector<item> items(opt->count);
    std::size_t set_bytes = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        item& it = items[i];
        it.from = sources[i % sources.size()];
        it.uid = unique_uid(i);
        auto text = with_uid(it.from->text, it.uid);
        if (!text) cannot_run(it.from->name + " has no UID line");
        it.text = std::move(*text);
        set_bytes += it.text.size();
    }

    // ---- the world the decisions are made in; built once, outside the timing ----
    world w;
    config::policy_load loaded = config::load_builtin_executive_policy();
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) std::cerr << e.to_string() << '\n';
        cannot_run("the built-in executive policy does not load");
    }
    w.pol = std::move(*loaded.policy);
    w.parse_opts.mailbox = mailbox;
    auto history_cal = calendar::parse_ics(*calendar_text, calendar_path.string(), w.parse_opts);
    if (!history_cal) cannot_run(history_cal.error().to_string());
    if (!history_cal->errors.empty()) cannot_run(history_cal->errors.front().to_string());
    w.known = policy::history::from_events(history_cal->events, mailbox);
    w.ctx.mailbox = mailbox;
    w.ctx.org_domains = {std::string(org_domain)};
    w.ctx.now = evaluation_time();
    w.ctx.known = &w.known;

    icalerror_set_errors_are_fatal(0);  // as agendad runs libical

    std::cout << "agendad parse + evaluate benchmark (libical " << ICAL_MAJOR_VERSION << '.'
              << ICAL_MINOR_VERSION << '.' << ICAL_PATCH_VERSION << ", single thread)\n";
#ifndef __OPTIMIZE__
    std::cout << "  WARNING: unoptimised build; configure with -DCMAKE_BUILD_TYPE=RelWithDebInfo\n";
#endif
    std::cout << "  inputs: " << labelled.size() << " labelled invitations ("
              << labelled_dir.string() << ")\n          + " << samples.size() << " samples ("
              << samples_dir.string() << "), mean "
              << grouped(static_cast<double>(source_bytes) / sources.size()) << " bytes\n"
              << "  working set: " << grouped(static_cast<double>(items.size()))
              << " invitations, each with its own UID, "
              << megabytes(static_cast<double>(set_bytes)) << " in memory\n"
              << "  policy: " << w.pol.name << " (" << w.pol.source
              << "); history: " << history_cal->events.size() << " events of calendar.ics, "
              << w.known.size() << " meetings\n"
              << "  mailbox " << mailbox << ", org domain " << org_domain << ", now "
              << calendar::format_utc(w.ctx.now) << "\n"
              << "  timing: best pass of >= " << min_passes
              << " passes and >= " << fixed(opt->seconds, 1) << " s per phase, phases interleaved\n"
              << "  machine: " << load_note() << "\n\n";

    // ---- sanity: every item parses cleanly and is decided (also warms caches up) ----
    std::map<policy::action, std::size_t> by_action;
    std::size_t silent_declines = 0;
    std::size_t by_guard = 0;
    for (const auto& it : items) {
        icalcomponent* root = icalparser_parse_string(it.text.c_str());
        if (!root) cannot_run(it.from->name + ": libical could not parse it");
        icalcomponent_free(root);
        icalerror_clear_errno();

        const calendar::parsed_calendar parsed = parse_or_exit(it, w.parse_opts);
        const calendar::invitation* inv = calendar::primary_event(parsed);
        if (inv->uid != it.uid) cannot_run(it.from->name + ": the copy's UID was not replaced");
        const policy::decision d = policy::evaluate(w.pol, *inv, w.ctx);
        ++by_action[d.action];
        if (d.action == policy::action::decline && !d.send_response) ++silent_declines;
        if (d.by_guard) ++by_guard;
    }
    std::cout << "sanity: all " << grouped(static_cast<double>(items.size()))
              << " invitations parse without errors and are decided\n  decisions:";
    for (const auto& [action, n] : by_action) {
        std::cout << ' ' << policy::name_of(action) << ' ' << grouped(static_cast<double>(n));
        if (action == policy::action::decline) {
            std::cout << " (" << grouped(static_cast<double>(silent_declines))
                      << " without a response)";
        }
    }
    std::cout << "\n  decided by a built-in guard: " << grouped(static_cast<double>(by_guard))
              << "\n\n"
              << std::flush;

    // ---- phases ----
    // For evaluate alone, every item is parsed up front, outside the timing.
    const double streaming_rss = peak_rss_bytes();
    std::vector<calendar::invitation> parsed_items;
    if (wanted("evaluate")) {
        parsed_items.reserve(items.size());
        for (const auto& it : items) {
            calendar::parsed_calendar parsed = parse_or_exit(it, w.parse_opts);
            parsed_items.push_back(*calendar::primary_event(parsed));
        }
    }
    std::vector<phase> phases;
    if (wanted("libical")) {
        phases.push_back({"libical parse (baseline)", [&] {
                              std::size_t checksum = 0;
                              for (const auto& it : items) {
                                  icalcomponent* root = icalparser_parse_string(it.text.c_str());
                                  checksum += root != nullptr;
                                  icalcomponent_free(root);
                                  icalerror_clear_errno();
                              }
                              return checksum;
                          }});
    }
    if (wanted("parse")) {
        phases.push_back({"agendad parse", [&] {
                              std::size_t checksum = 0;
                              for (const auto& it : items) {
                                  auto parsed =
                                      calendar::parse_ics(it.text, it.from->name, w.parse_opts);
                                  checksum += parsed ? parsed->events.size() : 0;
                              }
                              return checksum;
                          }});
    }
    if (wanted("parse_evaluate")) {
        phases.push_back({"agendad parse + evaluate", [&] {
                              std::size_t checksum = 0;
                              for (const auto& it : items) {
                                  auto parsed =
                                      calendar::parse_ics(it.text, it.from->name, w.parse_opts);
                                  if (!parsed) continue;
                                  const calendar::invitation* inv =
                                      calendar::primary_event(*parsed);
                                  if (!inv) continue;
                                  const policy::decision d = policy::evaluate(w.pol, *inv, w.ctx);
                                  checksum += static_cast<std::size_t>(d.action) + d.rule.size();
                              }
                              return checksum;
                          }});
    }
    if (wanted("evaluate")) {
        phases.push_back({"evaluate (pre-parsed)", [&] {
                              std::size_t checksum = 0;
                              for (const auto& inv : parsed_items) {
                                  const policy::decision d = policy::evaluate(w.pol, inv, w.ctx);
                                  checksum += static_cast<std::size_t>(d.action) + d.rule.size();
                              }
                              return checksum;
                          }});
    }
    measure(phases, opt->seconds);
    auto find = [&](std::string_view label) -> const phase* {
        for (const auto& p : phases) {
            if (p.label == label) return &p;
        }
        return nullptr;
    };
    const phase* const libical = find("libical parse (baseline)");
    const phase* const parse = find("agendad parse");
    const phase* const parse_evaluate = find("agendad parse + evaluate");
    const phase* const evaluate = find("evaluate (pre-parsed)");

    // ---- report ----
    // Figures per invitation from the fastest pass; the derived evaluate row is the difference of
    // two phases and so carries the noise of both.
    const auto n = static_cast<double>(items.size());
    auto us = [&](double seconds) { return seconds / n * 1e6; };
    // "µs" is two bytes for one column, hence 11 and 15.
    std::cout << pad_right("phase", 36) << pad_left("inv/s", 10) << pad_left("µs/inv", 11)
              << pad_left("time/libical", 14) << pad_left("cpu µs/inv", 15) << pad_left("passes", 8)
              << '\n';
    auto row = [&](std::string_view label, double wall_us, double cpu_us, std::string passes) {
        std::cout << pad_right(label, 36) << pad_left(grouped(1e6 / wall_us), 10)
                  << pad_left(fixed(wall_us, 2), 10)
                  << pad_left(libical ? fixed(wall_us / us(libical->best_seconds), 2) : "n/a", 14)
                  << pad_left(fixed(cpu_us, 2), 14) << pad_left(passes, 8) << '\n';
    };
    for (const phase* p : {libical, parse, parse_evaluate}) {
        if (p) {
            row(p->label, us(p->best_seconds), us(p->best_cpu_seconds), std::to_string(p->passes));
        }
    }
    if (parse && parse_evaluate) {
        const double wall = us(parse_evaluate->best_seconds - parse->best_seconds);
        const double cpu = us(parse_evaluate->best_cpu_seconds - parse->best_cpu_seconds);
        if (wall > 0) {
            row("evaluate (parse+evaluate - parse)", wall, cpu, "-");
        } else {
            std::cout << pad_right("evaluate (parse+evaluate - parse)", 36)
                      << "  below the noise\n";
        }
    }
    if (evaluate) {
        row(evaluate->label, us(evaluate->best_seconds), us(evaluate->best_cpu_seconds),
            std::to_string(evaluate->passes));
    }
    std::cout << '\n';

    auto rate_verdict = [&](double seconds) {
        const double rate = n / seconds;
        return grouped(rate) + " inv/s (target >= " + grouped(target_invitations_per_second) +
               "): " + (rate >= target_invitations_per_second ? "PASS" : "FAIL");
    };
    auto overhead_verdict = [&](double seconds, double baseline_seconds) {
        const double overhead = (seconds - baseline_seconds) / baseline_seconds;
        return std::string(overhead >= 0 ? "+" : "") + fixed(overhead * 100, 1) +
               "% (target <= " + fixed(target_overhead * 100, 0) +
               "%): " + (overhead <= target_overhead ? "PASS" : "FAIL");
    };
    if (parse_evaluate) {
        std::cout << "parse+evaluate: " << rate_verdict(parse_evaluate->best_seconds) << '\n';
    }
    // The target: evaluation may add at most 25% to libical's own time. Evaluate alone on
    // parsed invitations against libical parsing the same invitations.
    if (evaluate && libical) {
        std::cout << "evaluation added to libical's time: "
                  << overhead_verdict(libical->best_seconds + evaluate->best_seconds,
                                      libical->best_seconds)
                  << '\n';
    }
    // For information, the whole pipeline against libical alone on the full text. agendad's
    // parse hands libical only what it reads (no alarms, no VTIMEZONEs of known zones, no unused
    // X- properties), so this can be below zero although the pre-scan and normalisation cost
    // something: see bench/README.md.
    if (parse_evaluate && libical) {
        const double overhead =
            (parse_evaluate->best_seconds - libical->best_seconds) / libical->best_seconds;
        std::cout << "parse+evaluate against libical alone on the full text: "
                  << (overhead >= 0 ? "+" : "") << fixed(overhead * 100, 1) << "%\n";
    }
    // Waiting for a core shows as wall time above CPU time; then say what CPU time alone gives.
    bool busy = false;
    for (const auto& p : phases) busy = busy || p.best_seconds > 1.05 * p.best_cpu_seconds;
    if (busy && parse_evaluate) {
        std::cout << "  note: the best passes spent over 5% of their wall time waiting for a core;"
                     " by thread CPU time:\n"
                  << "  parse+evaluate: " << rate_verdict(parse_evaluate->best_cpu_seconds) << '\n';
        if (libical && evaluate) {
            std::cout << "  evaluation added to libical's time: "
                      << overhead_verdict(libical->best_cpu_seconds + evaluate->best_cpu_seconds,
                                          libical->best_cpu_seconds)
                      << '\n';
        }
    }
    std::cout << "at the end: " << load_note() << '\n';
    std::cout << "peak RSS: " << megabytes(peak_rss_bytes());
    if (evaluate) {
        std::cout << " (" << megabytes(streaming_rss)
                  << " before the pre-parsed set for evaluate alone)";
    }
    std::cout << '\n';
    return 0;
} catch (const std::exception& e) {
    std::cerr << "agendad_bench: " << e.what() << '\n';
    return exit_cannot_run;
}
