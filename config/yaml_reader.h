// Reads YAML nodes into typed values while collecting every problem with its file:line:column.
// Private to config/: the policy loader and (later) the daemon configuration share it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/diagnostic.h"

namespace agendad::config::detail {

class yaml_reader {
  public:
    explicit yaml_reader(std::string file) : file_(std::move(file)) {}

    // Parses a YAML document; a syntax error is recorded and yields nullopt.
    std::optional<YAML::Node> parse(std::string_view text);

    void error(const YAML::Node& at, std::string message);
    void warning(const YAML::Node& at, std::string message);
    // An error at byte `offset` of a scalar's value: located inside the text itself, also in a
    // block scalar ("|"), so that the column points at the offending character.
    void error_in_scalar(const YAML::Node& scalar, std::size_t offset, std::string message);

    // A mapping whose keys are all in `known`: reports unknown keys (suggesting the nearest known
    // one) and repeated keys. False when `node` is not a mapping.
    bool expect_map(const YAML::Node& node, std::string_view what,
                    std::initializer_list<std::string_view> known);

    std::optional<std::string> string(const YAML::Node& node, std::string_view what);
    std::optional<int> integer(const YAML::Node& node, std::string_view what, int min, int max);
    std::optional<bool> boolean(const YAML::Node& node, std::string_view what);
    // A sequence of strings (an empty or absent node is an empty list).
    std::vector<std::string> string_list(const YAML::Node& node, std::string_view what);

    std::vector<diagnostic>& errors() { return errors_; }
    std::vector<diagnostic>& warnings() { return warnings_; }
    const std::string& file() const { return file_; }

  private:
    diagnostic at(const YAML::Node& node, std::string message) const;

    std::string file_;
    std::string source_;
    std::vector<diagnostic> errors_;
    std::vector<diagnostic> warnings_;
};

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

// One rule for domains and addresses across policy files and the daemon configuration, so that
// what is valid in one is valid in the other.
bool valid_domain(std::string_view domain);
bool valid_address(std::string_view address);

}  // namespace agendad::config::detail
