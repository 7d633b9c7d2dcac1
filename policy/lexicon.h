// Word lists behind the text signals, in English, German, French, Spanish, Italian, Dutch and
// Portuguese. Every entry is already folded (see text.h): lower case, no diacritics, words
// separated by single spaces; matching is on whole words.
#pragma once

#include <span>
#include <string_view>

namespace agendad::policy::lexicon {

struct phrase {
    std::string_view text;
    std::string_view lang;  // "en", "de", ... or "*" for any
};

// A subject containing one of these is about checking in / catching up ("touch base re: Q1").
std::span<const phrase> checkin_phrases();
// Meeting words with no purpose of their own ("sync", "call", "chat"): a subject made only of
// these, filler and names ("Quick call?", "Sync") is check-in phrasing.
std::span<const phrase> generic_meeting_words();
// Social meetings; purpose-free when nothing but filler and names surrounds them ("Coffee?").
std::span<const phrase> social_words();
// Words that state no purpose: articles, pronouns, time and place fillers, subject prefixes.
std::span<const phrase> filler_words();

// Prize, gift-card, invoice and account lures (calendar spam).
std::span<const phrase> lure_phrases();

// Description structure.
std::span<const phrase> agenda_headings();   // "agenda", "tagesordnung", "ordre du jour", ...
std::span<const phrase> attachment_words();  // "attached", "anbei", "ci joint", ...
std::span<const phrase> greetings();         // line openers: "hi", "hallo", "bonjour", ...
std::span<const phrase> signoffs();          // "best regards", "viele grusse", "cordialement", ...
std::span<const phrase> legal_markers();     // where a legal footer starts
std::span<const phrase> pleasantries();      // time requests and small talk: not subject matter
std::span<const phrase> discussion_verbs();  // "review", "discuss", "besprechen", "discuter", ...

// Online-meeting join text. `lang` holds the service name for these two lists.
std::span<const phrase> join_block_markers();  // a line that opens a join block
std::span<const phrase> join_line_markers();   // a line that is join text wherever it stands
std::span<const phrase> join_tail_markers();   // a line after which everything is join text

// Invoice lures are worded too freely for fixed phrases ("your invoice INV-20931 is 45 days
// overdue"): an invoice word and a payment-pressure word in the same sentence make one.
std::span<const phrase> invoice_words();
std::span<const phrase> payment_pressure_words();

}  // namespace agendad::policy::lexicon
