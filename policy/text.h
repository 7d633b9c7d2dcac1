// Text analysis for the signals: folding for matching, separating what the organizer wrote from
// join text, greetings, signatures and legal footers, finding an agenda, check-in phrasing and
// lures. Pure and allocation-light: it runs on every invitation.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/lexicon.h"

namespace agendad::policy::text {

// Lower case, Latin diacritics removed ("é" → "e", "ß" → "ss"), every run of characters that
// are not letters or digits → one space, trimmed: "Touch-base re: Q1 — Café?" → "touch base re q1
// cafe".
std::string fold(std::string_view utf8);
// Splits folded text on spaces. The tokens are views into `folded`: keep it alive.
std::vector<std::string_view> split_tokens(std::string_view folded);
// A temporary string would die before its tokens are used (`for (auto t : split_tokens(fold(x)))`).
std::vector<std::string_view> split_tokens(std::string&& folded) = delete;

// Whole-word phrase matching over tokens of folded text.
class phrase_matcher {
  public:
    explicit phrase_matcher(std::span<const lexicon::phrase> phrases);

    struct hit {
        const lexicon::phrase* phrase = nullptr;
        std::size_t first = 0;  // first token
        std::size_t count = 0;  // tokens matched
    };
    // The longest phrase that starts at token `at`, if any.
    std::optional<hit> match_at(std::span<const std::string_view> tokens, std::size_t at) const;
    // The first phrase found scanning tokens from `from` (longest at that position).
    std::optional<hit> find(std::span<const std::string_view> tokens, std::size_t from = 0) const;

  private:
    struct entry {
        const lexicon::phrase* phrase;
        std::vector<std::string_view> tokens;
    };
    std::vector<std::vector<entry>> buckets_;  // by hash of the first token
    std::size_t bucket_of(std::string_view first) const;
};

struct description_analysis {
    std::string organizer_text;              // the organizer's own words, one line per line
    std::vector<std::string> join_services;  // services whose join text was removed ("Zoom", ...)
    int join_lines = 0;                      // lines of join text removed
    bool greeting_removed = false;
    bool signature_removed = false;
    bool footer_removed = false;
    bool agenda = false;
    std::string evidence;  // why it is, or is not, an agenda
    struct finding {
        std::string phrase;
        std::string explanation;
    };
    std::optional<finding> lure;  // a prize / gift-card / invoice lure in the description
};

// `has_attachments`: whether "agenda attached" can be believed.
description_analysis analyze_description(std::string_view description, bool has_attachments);

struct phrase_finding {
    std::string phrase;  // as matched (folded)
    std::string lang;
    std::string explanation;  // full evidence sentence
};

// Check-in phrasing in a subject. `ignore` are folded words that carry no purpose in this
// invitation: the people's names, the companies' names from their domains.
std::optional<phrase_finding> find_checkin(std::string_view subject,
                                           std::span<const std::string> ignore);
// The same, asking for the names only when a subject could be purpose-free (most cannot).
std::optional<phrase_finding> find_checkin(std::string_view subject,
                                           const std::function<std::vector<std::string>()>& ignore);

// A prize / gift-card / invoice / account lure in the subject (the description's is found by
// analyze_description).
std::optional<phrase_finding> find_lure_in_subject(std::string_view subject);
// A prize / gift-card / invoice / account lure in the subject or the description.
std::optional<phrase_finding> find_lure(std::string_view subject, std::string_view description);

}  // namespace agendad::policy::text
