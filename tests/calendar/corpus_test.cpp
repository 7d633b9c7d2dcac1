// Every iCalendar file of the shared corpus (real producers, RFC examples, other projects'
// regression and fuzz files) goes through the parser: valid ones parse without losing events,
// malformed ones are rejected with a diagnostic that names the file and the line, none crashes.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>

#include "calendar/ical/parse.h"
#include "support/files.h"

namespace {

namespace fs = std::filesystem;
using agendad::calendar::parse_ics;

const fs::path corpus_dir = fs::path(AGENDAD_SHARED_DIR) / "corpus";

using agendad::test_support::read_file;

// Apple's CalDAV tester keeps its files as templates ("$now.year.1:0101T100000", "$cuaddr1:");
// fill them in the way the tester would before they are iCalendar at all.
std::string fill_caldavtester_template(std::string text) {
    static const std::regex year(R"(\$now\.year\.(-?\d+):)");
    static const std::regex day(R"(\$now\.(-?\d+):)");
    std::string out;
    auto replace_numeric = [](const std::string& in, const std::regex& re, auto make) {
        std::string result;
        auto begin = std::sregex_iterator(in.begin(), in.end(), re);
        std::size_t last = 0;
        for (auto it = begin; it != std::sregex_iterator(); ++it) {
            result += in.substr(last, static_cast<std::size_t>(it->position()) - last);
            result += make(std::stoi((*it)[1].str()));
            last = static_cast<std::size_t>(it->position() + it->length());
        }
        return result + in.substr(last);
    };
    text = replace_numeric(text, year, [](int n) { return std::to_string(2027 + n); });
    text = replace_numeric(text, day, [](int n) {
        const int d = std::clamp(10 + n, 1, 28);
        return std::string("202701") + (d < 10 ? "0" : "") + std::to_string(d);
    });
    text = std::regex_replace(text, std::regex(R"(\$now\.-0:)"), "20270110");
    text = std::regex_replace(text, std::regex(R"(\$cuaddrurn(\d):)"), "urn:x-uid:user$1");
    text = std::regex_replace(text, std::regex(R"(\$cuaddr(\d):)"), "mailto:user$1@example.com");
    text = std::regex_replace(text, std::regex(R"(\$email(\d):)"), "user$1@example.com");
    text = std::regex_replace(text, std::regex(R"(\$username(\d):)"), "user$1");
    text = std::regex_replace(text, std::regex(R"(\$uid(\d|random):)"), "uid-$1");
    return std::regex_replace(text, std::regex(R"(\$[a-z]+\d*:)"), "x");
}

std::vector<fs::path> corpus_files() {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(corpus_dir)) {
        if (!e.is_regular_file()) continue;
        const std::string name = e.path().filename().string();
        const bool fuzz_repro =
            e.path().parent_path().filename() == "libical-test-data" &&
            (name.rfind("fuzz", 0) == 0 || name.rfind("poc-", 0) == 0 ||
             name.rfind("timefuzz", 0) == 0 || name.rfind("timezonefuzz", 0) == 0);
        if (e.path().extension() == ".ics" || fuzz_repro) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

struct expectation {
    int line = 0;
    std::string message;
};

std::map<std::string, expectation> rejections() {
    std::map<std::string, expectation> out;
    std::ifstream in(fs::path(AGENDAD_SOURCE_DIR) / "tests/calendar/corpus_rejections.tsv");
    std::string line;
    bool header = true;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        if (header) {
            header = false;
            continue;
        }
        std::istringstream fields(line);
        std::string file, number, message;
        std::getline(fields, file, '\t');
        std::getline(fields, number, '\t');
        std::getline(fields, message);
        out[file] = expectation{std::stoi(number), message};
    }
    return out;
}

int count_vevents(std::string text) {
    // Any of CRLF, LF or lone CR ends a line (one file uses CR CR LF).
    std::replace(text.begin(), text.end(), '\r', '\n');
    int n = 0;
    std::istringstream lines(text);
    std::string l;
    while (std::getline(lines, l)) {
        std::string upper = l;
        std::transform(upper.begin(), upper.end(), upper.begin(),
                       [](unsigned char c) { return std::toupper(c); });
        if (upper == "BEGIN:VEVENT") ++n;
    }
    return n;
}

TEST(corpus, every_file_parses_or_is_rejected_with_its_line) {
    ASSERT_TRUE(fs::exists(corpus_dir)) << "the shared corpus is missing at " << corpus_dir
                                        << " (configure with -DAGENDAD_SHARED_DIR=...)";
    const auto expected = rejections();
    ASSERT_GT(expected.size(), 50u) << "tests/calendar/corpus_rejections.tsv not found or empty";

    int parsed = 0, rejected = 0, events = 0;
    std::map<std::string, bool> seen_rejections;
    for (const auto& path : corpus_files()) {
        const std::string rel = fs::relative(path, corpus_dir).generic_string();
        std::string text = read_file(path);
        if (rel.rfind("caldavtester-resources/", 0) == 0) text = fill_caldavtester_template(text);

        const auto result = parse_ics(text, rel);
        std::optional<agendad::diagnostic> first_error;
        if (!result)
            first_error = result.error();
        else if (!result->errors.empty())
            first_error = result->errors.front();

        const auto it = expected.find(rel);
        if (first_error) {
            ++rejected;
            SCOPED_TRACE(first_error->to_string());
            EXPECT_EQ(first_error->file, rel) << "a diagnostic must name the file";
            EXPECT_FALSE(first_error->message.empty());
            if (it == expected.end()) {
                ADD_FAILURE() << rel << " is rejected but not listed in corpus_rejections.tsv: "
                              << first_error->to_string();
                continue;
            }
            seen_rejections[rel] = true;
            EXPECT_EQ(first_error->line, it->second.line) << rel;
            EXPECT_EQ(first_error->message.substr(0, it->second.message.size()), it->second.message)
                << rel;
            continue;
        }
        ++parsed;
        EXPECT_EQ(it, expected.end()) << rel << " is listed as rejected but parses";
        // A file that parses keeps every event: nothing is dropped silently.
        EXPECT_EQ(static_cast<int>(result->events.size()), count_vevents(text)) << rel;
        for (const auto& e : result->events) {
            ++events;
            EXPECT_EQ(e.source.file, rel);
            EXPECT_GT(e.source.line, 0) << rel;
            if (e.has_start) {
                EXPECT_GE(e.end, e.start) << rel << " line " << e.source.line;
            }
            EXPECT_EQ(e.organizer.address,
                      agendad::calendar::normalize_address(e.organizer.address))
                << rel;
            for (const auto& a : e.attendees)
                EXPECT_EQ(a.address, agendad::calendar::normalize_address(a.address));
        }
    }
    for (const auto& [file, exp] : expected) {
        EXPECT_TRUE(seen_rejections.count(file))
            << file << " is listed in corpus_rejections.tsv but was not rejected";
    }
    std::cout << "[ corpus   ] " << parsed << " files parsed (" << events << " events), "
              << rejected << " rejected with file and line\n";
    EXPECT_GT(parsed, 900);
}

}  // namespace
