#include "policy/text.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <functional>

#include "calendar/encoding.h"

namespace agendad::policy::text {
namespace {

// Latin-1 Supplement U+00C0..U+00FF, folded.
constexpr std::string_view latin1_fold[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",   // C0-CF
    "d", "n", "o", "o", "o", "o", "o",  " ", "o", "u", "u", "u", "u", "y", "th", "ss",  // D0-DF
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i",  "i",   // E0-EF
    "d", "n", "o", "o", "o", "o", "o",  " ", "o", "u", "u", "u", "u", "y", "th", "y",   // F0-FF
};

// Latin Extended-A U+0100..U+017F, by ranges of the same base letter.
std::string_view latin_ext_a_fold(std::uint32_t cp) {
    struct range {
        std::uint32_t last;
        std::string_view base;
    };
    static constexpr range ranges[] = {
        {0x105, "a"}, {0x10D, "c"},  {0x111, "d"}, {0x11B, "e"}, {0x123, "g"}, {0x127, "h"},
        {0x131, "i"}, {0x133, "ij"}, {0x135, "j"}, {0x138, "k"}, {0x142, "l"}, {0x14B, "n"},
        {0x151, "o"}, {0x153, "oe"}, {0x159, "r"}, {0x161, "s"}, {0x167, "t"}, {0x173, "u"},
        {0x175, "w"}, {0x178, "y"},  {0x17E, "z"}, {0x17F, "s"},
    };
    for (const auto& r : ranges) {
        if (cp <= r.last) return r.base;
    }
    return " ";
}

// Lenient: overlong forms and surrogates are decoded; each invalid byte is one U+FFFD.
using calendar::encoding::decode_utf8_lenient;

bool is_letter_token(std::string_view t) {
    return std::any_of(t.begin(), t.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || static_cast<unsigned char>(c) >= 0x80;
    });
}

bool is_number_token(std::string_view t) {
    // "15", "10am", "3pm", "14h", "2027", "q1" is not a number (it names a quarter).
    std::size_t digits = 0;
    while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
    if (digits == 0) return false;
    const std::string_view rest = t.substr(digits);
    return rest.empty() || rest == "am" || rest == "pm" || rest == "h" || rest == "min" ||
           rest == "mins" || rest == "m" || rest == "st" || rest == "nd" || rest == "rd" ||
           rest == "th";
}

std::string trim_copy(std::string_view s) {
    auto is_space = [](char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
    };
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return std::string(s);
}

// Outlook renders links in plain text as "text<https://...>": keep the text, drop the target.
std::string strip_link_targets(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    std::size_t i = 0;
    while (i < s.size()) {
        if (s[i] == '<') {
            const std::string_view rest = s.substr(i + 1);
            if (rest.rfind("http", 0) == 0 || rest.rfind("mailto:", 0) == 0 ||
                rest.rfind("tel:", 0) == 0) {
                const auto close = s.find('>', i);
                const auto eol = s.find('\n', i);
                if (close != std::string_view::npos &&
                    (eol == std::string_view::npos || close < eol)) {
                    i = close + 1;
                    continue;
                }
            }
        }
        out += s[i++];
    }
    return out;
}

std::string strip_urls(std::string_view s) {
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
        const std::string_view rest = s.substr(i);
        if (rest.rfind("http://", 0) == 0 || rest.rfind("https://", 0) == 0 ||
            rest.rfind("www.", 0) == 0) {
            while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '>' &&
                   s[i] != ')')
                ++i;
            continue;
        }
        out += s[i++];
    }
    return out;
}

bool has_url(std::string_view s) {
    return s.find("http://") != std::string_view::npos ||
           s.find("https://") != std::string_view::npos || s.find("www.") != std::string_view::npos;
}

int count_digits(std::string_view s) {
    return static_cast<int>(
        std::count_if(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }));
}

int count_words(const std::vector<std::string_view>& tokens) {
    return static_cast<int>(std::count_if(tokens.begin(), tokens.end(), is_letter_token));
}

// "- item", "* item", "• item", "1. item", "2) item", "a) item", "(3) item"; returns where the
// item's text starts, or npos.
std::size_t list_item_start(std::string_view line) {
    if (line.empty()) return std::string_view::npos;
    static constexpr std::string_view bullets[] = {"- ",
                                                   "* ",
                                                   "+ ",
                                                   "\xE2\x80\xA2",
                                                   "\xC2\xB7",
                                                   "\xE2\x97\xA6",
                                                   "\xE2\x96\xAA",
                                                   "\xE2\x80\x93 ",
                                                   "\xE2\x80\x94 ",
                                                   "o\t",
                                                   "\xC2\xA7"};
    for (std::string_view b : bullets) {
        if (line.rfind(b, 0) == 0) return b.size();
    }
    std::size_t i = 0;
    if (line[0] == '(') i = 1;
    std::size_t d = i;
    while (d < line.size() && d - i < 3 && line[d] >= '0' && line[d] <= '9') ++d;
    if (d == i && d < line.size() && line[d] >= 'a' && line[d] <= 'h' && d + 1 < line.size() &&
        line[d + 1] == ')') {
        d += 1;  // "a) item"
    } else if (d == i) {
        return std::string_view::npos;
    }
    if (d < line.size() && (line[d] == '.' || line[d] == ')')) {
        ++d;
        if (d < line.size() && (line[d] == ' ' || line[d] == '\t')) return d + 1;
    }
    return std::string_view::npos;
}

// One matcher per word list, built on first use (the lists are static data).
template <std::span<const lexicon::phrase> (*List)()>
const phrase_matcher& matcher() {
    static const phrase_matcher m(List());
    return m;
}

std::string quote(std::string_view s, std::size_t max = 100) {
    std::string out(s.substr(0, max));
    // Do not cut a UTF-8 sequence in half.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    if (s.size() > max) out += "...";
    return "'" + out + "'";
}

struct line_info {
    std::string raw;  // trimmed, link targets removed
    std::string folded;
    std::vector<std::string_view> tokens;  // into folded
    bool blank = false;
    bool separator = false;
    bool join = false;
};

bool is_separator(std::string_view raw) {
    if (raw.size() < 3) return false;
    std::size_t i = 0;
    while (i < raw.size()) {
        std::uint32_t cp = 0;
        const std::size_t len = decode_utf8_lenient(raw, i, cp);
        if ((cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') ||
            (cp >= 0xC0 && cp != 0xD7 && cp != 0xF7 && cp < 0x2000) || cp >= 0x3040) {
            return false;
        }
        i += len;
    }
    return true;
}

bool is_phone_line(const line_info& l) {
    // "+1 669 900 6833 US (San Jose)", "(US) +1 318-555-0142 PIN: 998 112 443#",
    // "+16699006833,,81234567890#"
    return count_digits(l.raw) >= 7 && count_words(l.tokens) <= 5 &&
           (l.raw.find('+') != std::string::npos || l.raw.find('#') != std::string::npos ||
            l.raw.find("-") != std::string::npos || l.raw.find('(') != std::string::npos);
}

bool is_join_line(const line_info& l) {
    if (l.blank || l.separator) return false;
    const int words = count_words(l.tokens);
    if (has_url(l.raw)) {
        const std::string without_urls = fold(strip_urls(l.raw));
        if (count_words(split_tokens(without_urls)) <= 2) return true;  // a bare link
    }
    if (is_phone_line(l)) return true;
    const bool strong_context = has_url(l.raw) || count_digits(l.raw) >= 5;
    // An agenda item ("- PIN reset process", "2. Password policy") is the organizer's text even
    // when it shares a word with join text; only a link or a long number makes it join text.
    if (list_item_start(l.raw) != std::string_view::npos && !strong_context) return false;
    if (matcher<lexicon::join_block_markers>().find(l.tokens) && (words <= 12 || strong_context)) {
        return true;
    }
    if (auto h = matcher<lexicon::join_line_markers>().find(l.tokens)) {
        if (strong_context) return true;
        // One-word markers ("PIN", "password", "dial") are join text as labels: "Passcode: 7xQm2P".
        const bool labelled = l.raw.find(':') != std::string::npos || count_digits(l.raw) >= 3;
        if (words <= 6 && (h->count > 1 || labelled)) return true;
    }
    return false;
}

std::vector<line_info> split_lines(std::string_view description) {
    std::vector<line_info> lines;
    const std::string text = strip_link_targets(description);
    std::size_t pos = 0;
    while (pos <= text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string::npos) nl = text.size();
        line_info l;
        l.raw = trim_copy(std::string_view(text).substr(pos, nl - pos));
        l.folded = fold(l.raw);
        l.tokens = split_tokens(l.folded);
        l.blank = l.tokens.empty() && l.raw.empty();
        l.separator = !l.blank && is_separator(l.raw);
        lines.push_back(std::move(l));
        if (nl == text.size()) break;
        pos = nl + 1;
    }
    // split_tokens returned views into each line's own `folded`; moving a line_info keeps the
    // heap buffer but not a small-string buffer, so recompute the views now that storage is stable.
    for (auto& l : lines) l.tokens = split_tokens(l.folded);
    return lines;
}

// Teams (and Outlook's other add-ins) wrap join text between two separator lines: remove the
// whole block, whatever new wording it carries, when a join marker opens it.
void mark_join_blocks(std::vector<line_info>& lines) {
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (!lines[i].separator) continue;
        std::size_t j = i + 1;
        while (j < lines.size() && lines[j].blank) ++j;
        if (j >= lines.size() || !matcher<lexicon::join_block_markers>().find(lines[j].tokens))
            continue;
        std::size_t end = j + 1;
        while (end < lines.size() && !lines[end].separator && end - j < 40) ++end;
        if (end >= lines.size() || !lines[end].separator) continue;
        for (std::size_t k = i; k <= end; ++k) lines[k].join = true;
        i = end;
    }
}

std::string service_of(const line_info& l) {
    if (auto h = matcher<lexicon::join_block_markers>().find(l.tokens))
        return std::string(h->phrase->lang);
    if (auto h = matcher<lexicon::join_tail_markers>().find(l.tokens))
        return std::string(h->phrase->lang);
    if (auto h = matcher<lexicon::join_line_markers>().find(l.tokens)) {
        if (h->phrase->lang != "online meeting") return std::string(h->phrase->lang);
    }
    return {};
}

bool starts_with_phrase(const line_info& l, const phrase_matcher& list, std::size_t within,
                        phrase_matcher::hit* out = nullptr) {
    for (std::size_t i = 0; i < within && i < l.tokens.size(); ++i) {
        if (auto h = list.match_at(l.tokens, i)) {
            if (out) *out = *h;
            return true;
        }
    }
    return false;
}

// "Best," "Kind regards, Chris", "Viele Grüße / Anna Schmidt": a sign-off phrase, then at most a
// name (capitalised words).
bool is_signoff(const line_info& l) {
    phrase_matcher::hit h;
    if (!starts_with_phrase(l, matcher<lexicon::signoffs>(), 1, &h)) return false;
    if (l.tokens.size() > h.count + 3) return false;
    if (l.raw.find(':') != std::string::npos) return false;
    // Words after the phrase must look like a name: capitalised in the original.
    std::size_t words_seen = 0;
    std::size_t i = 0;
    const std::string& r = l.raw;
    while (i < r.size()) {
        while (i < r.size() && !std::isalpha(static_cast<unsigned char>(r[i])) &&
               static_cast<unsigned char>(r[i]) < 0x80)
            ++i;
        if (i >= r.size()) break;
        const std::size_t start = i;
        while (i < r.size() && (std::isalpha(static_cast<unsigned char>(r[i])) ||
                                static_cast<unsigned char>(r[i]) >= 0x80))
            ++i;
        ++words_seen;
        if (words_seen > h.count && !std::isupper(static_cast<unsigned char>(r[start])) &&
            static_cast<unsigned char>(r[start]) < 0x80) {
            return false;
        }
    }
    return true;
}

bool is_legal_footer(const line_info& l) {
    phrase_matcher::hit h;
    if (!starts_with_phrase(l, matcher<lexicon::legal_markers>(), 2, &h)) return false;
    return count_words(l.tokens) >= 8 || h.count >= 3;
}

bool is_ask(const std::vector<std::string_view>& tokens) {
    return matcher<lexicon::pleasantries>().find(tokens).has_value();
}

// A heading such as "Agenda:", "Standing agenda:", "Ordre du jour :", "Topics to discuss".
struct heading_match {
    bool found = false;
    std::string inline_content;  // text after the ':' on the same line
};

heading_match read_heading(const line_info& l) {
    heading_match m;
    phrase_matcher::hit h;
    if (!starts_with_phrase(l, matcher<lexicon::agenda_headings>(), 4, &h)) return m;
    const auto colon = l.raw.find(':');
    if (colon != std::string::npos) {
        m.found = true;
        m.inline_content = trim_copy(std::string_view(l.raw).substr(colon + 1));
        return m;
    }
    // Without a colon only a short line is a heading ("Agenda", "Topics for today").
    if (l.tokens.size() <= 4) m.found = true;
    return m;
}

// True when the words carry some purpose: not only filler, meeting words or check-in phrasing.
bool has_purpose_words(std::span<const std::string_view> tokens) {
    const phrase_matcher* neutral[] = {
        &matcher<lexicon::filler_words>(), &matcher<lexicon::generic_meeting_words>(),
        &matcher<lexicon::checkin_phrases>(), &matcher<lexicon::social_words>(),
        &matcher<lexicon::attachment_words>()};
    for (std::size_t i = 0; i < tokens.size();) {
        bool skipped = false;
        for (const phrase_matcher* m : neutral) {
            if (auto h = m->match_at(tokens, i)) {
                i += h->count;
                skipped = true;
                break;
            }
        }
        if (skipped) continue;
        if (is_letter_token(tokens[i]) && tokens[i].size() >= 2) return true;
        ++i;
    }
    return false;
}

bool has_purpose_words(std::string_view text) {
    const std::string folded = fold(text);
    return has_purpose_words(split_tokens(folded));
}

// A lure phrase, or an invoice word and a payment-pressure word in the same line.
std::optional<description_analysis::finding> lure_in(std::span<const std::string_view> tokens,
                                                     std::string_view where) {
    if (auto h = matcher<lexicon::lure_phrases>().find(tokens)) {
        return description_analysis::finding{std::string(h->phrase->text),
                                             "'" + std::string(h->phrase->text) + "' (" +
                                                 std::string(h->phrase->lang) + ") in the " +
                                                 std::string(where)};
    }
    const auto bill = matcher<lexicon::invoice_words>().find(tokens);
    if (!bill) return std::nullopt;
    if (const auto pressure = matcher<lexicon::payment_pressure_words>().find(tokens)) {
        return description_analysis::finding{std::string(bill->phrase->text),
                                             "'" + std::string(bill->phrase->text) + "' with '" +
                                                 std::string(pressure->phrase->text) + "' (" +
                                                 std::string(pressure->phrase->lang) + ") in the " +
                                                 std::string(where)};
    }
    return std::nullopt;
}

bool mentions_attachment(const line_info& l) {
    return matcher<lexicon::attachment_words>().find(l.tokens).has_value();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string fold(std::string_view s) {
    // ASCII, by far the common case, goes through a table; other code points are decoded.
    static constexpr std::array<char, 128> ascii = [] {
        std::array<char, 128> t{};
        for (int c = 0; c < 128; ++c) {
            if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                t[c] = static_cast<char>(c);
            else if (c >= 'A' && c <= 'Z')
                t[c] = static_cast<char>(c - 'A' + 'a');
            else
                t[c] = ' ';
        }
        return t;
    }();
    std::string out;
    out.reserve(s.size());
    bool pending_space = false;
    auto put = [&](std::string_view piece) {
        if (piece == " ") {
            pending_space = !out.empty();
            return;
        }
        if (pending_space) out += ' ';
        pending_space = false;
        out += piece;
    };
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        const auto byte = static_cast<unsigned char>(s[i]);
        if (byte < 0x80) {
            const char f = ascii[byte];
            if (f == ' ') {
                pending_space = !out.empty();
            } else {
                if (pending_space) out += ' ';
                pending_space = false;
                out += f;
            }
            ++i;
            continue;
        }
        std::uint32_t cp = 0;
        const std::size_t len = decode_utf8_lenient(s, i, cp);
        if (cp >= 0xC0 && cp <= 0xFF) {
            put(latin1_fold[cp - 0xC0]);
        } else if (cp >= 0x100 && cp <= 0x17F) {
            put(latin_ext_a_fold(cp));
        } else if (cp >= 0x300 && cp <= 0x36F) {
            // Combining accents (decomposed "é"): dropped, the base letter is already out.
        } else if (cp < 0xC0 || (cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
                   (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0xFEFF || cp == 0xFFFD ||
                   (cp >= 0x1F000)) {
            put(" ");  // punctuation, symbols, spaces, emoji
        } else {
            put(s.substr(i, len));  // other scripts: kept as they are
        }
        i += len;
    }
    return out;
}

std::vector<std::string_view> split_tokens(std::string_view folded) {
    std::vector<std::string_view> tokens;
    tokens.reserve(static_cast<std::size_t>(std::count(folded.begin(), folded.end(), ' ')) + 1);
    std::size_t i = 0;
    while (i < folded.size()) {
        while (i < folded.size() && folded[i] == ' ') ++i;
        const std::size_t start = i;
        while (i < folded.size() && folded[i] != ' ') ++i;
        if (i > start) tokens.push_back(folded.substr(start, i - start));
    }
    return tokens;
}

phrase_matcher::phrase_matcher(std::span<const lexicon::phrase> phrases)
    : buckets_(phrases.empty() ? 1 : 256) {
    for (const auto& p : phrases) {
        entry e{&p, split_tokens(p.text)};
        if (e.tokens.empty()) continue;
        buckets_[bucket_of(e.tokens.front())].push_back(std::move(e));
    }
}

std::size_t phrase_matcher::bucket_of(std::string_view first) const {
    return std::hash<std::string_view>{}(first) % buckets_.size();
}

std::optional<phrase_matcher::hit> phrase_matcher::match_at(
    std::span<const std::string_view> tokens, std::size_t at) const {
    if (at >= tokens.size()) return std::nullopt;
    std::optional<hit> best;
    for (const entry& e : buckets_[bucket_of(tokens[at])]) {
        if (e.tokens.size() > tokens.size() - at) continue;
        if (!std::equal(e.tokens.begin(), e.tokens.end(),
                        tokens.begin() + static_cast<std::ptrdiff_t>(at)))
            continue;
        if (!best || e.tokens.size() > best->count) best = hit{e.phrase, at, e.tokens.size()};
    }
    return best;
}

std::optional<phrase_matcher::hit> phrase_matcher::find(std::span<const std::string_view> tokens,
                                                        std::size_t from) const {
    for (std::size_t i = from; i < tokens.size(); ++i) {
        if (auto h = match_at(tokens, i)) return h;
    }
    return std::nullopt;
}

description_analysis analyze_description(std::string_view description, bool has_attachments) {
    description_analysis out;
    std::vector<line_info> lines = split_lines(description);

    mark_join_blocks(lines);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        // Webex: "-- Do not delete or change any of the following text. --" and the rest is its
        // own.
        if (matcher<lexicon::join_tail_markers>().find(lines[i].tokens)) {
            for (std::size_t k = i; k < lines.size(); ++k) {
                if (!lines[k].blank) lines[k].join = true;
            }
            break;
        }
        if (!lines[i].join && is_join_line(lines[i])) lines[i].join = true;
    }
    for (const auto& l : lines) {
        if (!l.join) continue;
        ++out.join_lines;
        const std::string service = service_of(l);
        if (!service.empty() && std::find(out.join_services.begin(), out.join_services.end(),
                                          service) == out.join_services.end()) {
            out.join_services.push_back(service);
        }
    }
    if (out.join_lines > 0 && out.join_services.empty())
        out.join_services.push_back("online meeting");
    for (const auto& l : lines) {
        if (l.join || l.blank) continue;
        if ((out.lure = lure_in(l.tokens, "description"))) break;
    }

    // What is left, in order, without separators; then greeting, signature and footer go.
    std::vector<line_info*> kept;
    for (auto& l : lines) {
        if (!l.join && !l.separator) kept.push_back(&l);
    }
    bool greeting_checked = false;
    std::vector<const line_info*> body;
    std::vector<line_info> trimmed_greetings;  // lines whose greeting prefix was cut
    trimmed_greetings.reserve(1);
    for (std::size_t i = 0; i < kept.size(); ++i) {
        line_info& l = *kept[i];
        if (l.blank) {
            body.push_back(&l);
            continue;
        }
        if (!greeting_checked) {
            greeting_checked = true;
            phrase_matcher::hit h;
            if (starts_with_phrase(l, matcher<lexicon::greetings>(), 1, &h)) {
                out.greeting_removed = true;
                if (count_words(l.tokens) <= 4) continue;
                // "Hi Dana - saw Contoso is hiring SDRs." → keep what follows the salutation.
                const auto cut = l.raw.find_first_of(",:;!-");
                if (cut != std::string::npos && cut < 40) {
                    line_info rest;
                    rest.raw = trim_copy(std::string_view(l.raw).substr(cut + 1));
                    rest.folded = fold(rest.raw);
                    trimmed_greetings.push_back(std::move(rest));
                    trimmed_greetings.back().tokens = split_tokens(trimmed_greetings.back().folded);
                    if (!trimmed_greetings.back().tokens.empty())
                        body.push_back(&trimmed_greetings.back());
                    continue;
                }
            }
        }
        if (is_legal_footer(l)) {
            out.footer_removed = true;
            break;
        }
        if (is_signoff(l)) {
            out.signature_removed = true;
            // The signature: short lines after the sign-off (name, title, phone).
            std::size_t j = i + 1;
            while (j < kept.size()) {
                const line_info& s = *kept[j];
                if (s.blank) {
                    ++j;
                    continue;
                }
                if (is_legal_footer(s)) {
                    out.footer_removed = true;
                    j = kept.size();
                    break;
                }
                if (count_words(s.tokens) > 8 || list_item_start(s.raw) != std::string::npos ||
                    read_heading(s).found)
                    break;
                ++j;
            }
            i = j - 1;
            continue;
        }
        body.push_back(&l);
    }

    for (const line_info* l : body) {
        if (l->blank) {
            if (!out.organizer_text.empty() && out.organizer_text.back() != '\n')
                out.organizer_text += '\n';
            continue;
        }
        if (!out.organizer_text.empty() && out.organizer_text.back() != '\n')
            out.organizer_text += '\n';
        out.organizer_text += l->raw;
    }
    while (!out.organizer_text.empty() && out.organizer_text.back() == '\n')
        out.organizer_text.pop_back();

    // 1. A heading with content: "Agenda:" + items, or "Agenda: pricing and renewal terms".
    std::vector<const line_info*> content;
    for (const line_info* l : body) {
        if (!l->blank) content.push_back(l);
    }
    for (std::size_t i = 0; i < content.size(); ++i) {
        const heading_match h = read_heading(*content[i]);
        if (!h.found) continue;
        if (mentions_attachment(*content[i]) &&
            !has_purpose_words(h.inline_content.empty() ? "" : h.inline_content)) {
            if (has_attachments) {
                out.agenda = true;
                out.evidence = quote(content[i]->raw) + " and the invitation carries an attachment";
                return out;
            }
            out.evidence = quote(content[i]->raw) + " but nothing is attached";
            continue;
        }
        if (!h.inline_content.empty() && has_purpose_words(h.inline_content)) {
            out.agenda = true;
            out.evidence = "heading " + quote(content[i]->raw);
            return out;
        }
        int items = 0;
        std::string first_item;
        for (std::size_t j = i + 1; j < content.size() && items < 50; ++j) {
            const line_info& item = *content[j];
            if (read_heading(item).found || is_ask(item.tokens)) break;
            if (!has_purpose_words(item.tokens)) continue;
            if (first_item.empty()) first_item = item.raw;
            ++items;
        }
        if (items > 0) {
            out.agenda = true;
            out.evidence = "heading " + quote(content[i]->raw, 40) + " followed by " +
                           std::to_string(items) + (items == 1 ? " item (" : " items (") +
                           quote(first_item, 60) + (items > 1 ? ", ...)" : ")");
            return out;
        }
    }

    // 2. Two or more listed items, with or without a heading.
    {
        int items = 0;
        std::string first_item;
        for (const line_info* l : content) {
            const std::size_t at = list_item_start(l->raw);
            if (at == std::string_view::npos) continue;
            const std::string_view text = std::string_view(l->raw).substr(at);
            const std::string folded_item = fold(text);
            if (!has_purpose_words(text) || is_ask(split_tokens(folded_item))) continue;
            if (first_item.empty()) first_item = trim_copy(text);
            ++items;
        }
        if (items >= 2) {
            out.agenda = true;
            out.evidence =
                std::to_string(items) + " listed items (" + quote(first_item, 60) + ", ...)";
            return out;
        }
    }

    // 3. Sentences of subject matter: not time requests or small talk.
    {
        std::string prose;
        for (const line_info* l : content) {
            prose += strip_urls(l->raw);
            // A line without final punctuation still ends a sentence.
            if (!prose.empty() &&
                std::string_view(".!?").find(prose.back()) == std::string_view::npos)
                prose += '.';
            prose += ' ';
        }
        int sentences = 0;
        int words = 0;
        bool discussion = false;
        std::string first_sentence;
        std::size_t start = 0;
        for (std::size_t i = 0; i <= prose.size(); ++i) {
            const bool end =
                (i == prose.size()) || ((prose[i] == '.' || prose[i] == '!' || prose[i] == '?') &&
                                        (i + 1 >= prose.size() || prose[i + 1] == ' '));
            if (!end) continue;
            const std::string sentence =
                trim_copy(std::string_view(prose).substr(start, i - start));
            start = i + 1;
            const std::string folded = fold(sentence);
            const auto tokens = split_tokens(folded);
            const int n = count_words(tokens);
            if (n < 6 || is_ask(tokens)) continue;
            ++sentences;
            words += n;
            if (matcher<lexicon::discussion_verbs>().find(tokens)) discussion = true;
            if (first_sentence.empty()) first_sentence = sentence;
        }
        if (words >= 15 && (sentences >= 2 || discussion)) {
            out.agenda = true;
            out.evidence = std::to_string(sentences) +
                           (sentences == 1 ? " sentence" : " sentences") + " of subject matter (" +
                           quote(first_sentence, 80) + ")";
            return out;
        }
    }

    if (!out.evidence.empty()) return out;  // "agenda attached" without an attachment
    std::string trimmed = trim_copy(out.organizer_text);
    if (trimmed.empty()) {
        if (out.join_lines > 0) {
            std::string services;
            for (const auto& s : out.join_services) services += (services.empty() ? "" : ", ") + s;
            out.evidence = "the description holds only online-meeting join text (" + services + ")";
        } else if (trim_copy(description).empty()) {
            out.evidence = "the description is empty";
        } else {
            out.evidence = "the description holds only a greeting, signature or legal footer";
        }
    } else {
        for (char& c : trimmed) {
            if (c == '\n') c = ' ';
        }
        out.evidence = "the organizer wrote only " + quote(trimmed, 120) +
                       " (no agenda heading, list or subject matter)";
    }
    return out;
}

std::optional<phrase_finding> find_checkin(std::string_view subject,
                                           std::span<const std::string> ignore) {
    return find_checkin(subject,
                        [&] { return std::vector<std::string>(ignore.begin(), ignore.end()); });
}

std::optional<phrase_finding> find_checkin(std::string_view subject,
                                           const std::function<std::vector<std::string>()>& names) {
    std::optional<std::vector<std::string>> ignore;
    const std::string folded = fold(subject);
    const auto tokens = split_tokens(folded);
    if (auto h = matcher<lexicon::checkin_phrases>().find(tokens)) {
        return phrase_finding{std::string(h->phrase->text), std::string(h->phrase->lang),
                              "'" + std::string(h->phrase->text) + "' (" +
                                  std::string(h->phrase->lang) + ") in the subject " +
                                  quote(subject)};
    }
    // Purpose-free: only social or generic meeting words among filler, names and numbers.
    const lexicon::phrase* social = nullptr;
    const lexicon::phrase* generic = nullptr;
    for (std::size_t i = 0; i < tokens.size();) {
        if (auto h = matcher<lexicon::social_words>().match_at(tokens, i)) {
            if (!social) social = h->phrase;
            i += h->count;
            continue;
        }
        if (auto h = matcher<lexicon::generic_meeting_words>().match_at(tokens, i)) {
            if (!generic) generic = h->phrase;
            i += h->count;
            continue;
        }
        if (auto h = matcher<lexicon::filler_words>().match_at(tokens, i)) {
            i += h->count;
            continue;
        }
        if (is_number_token(tokens[i])) {
            ++i;
            continue;
        }
        if (!ignore) ignore = names();
        if (std::find(ignore->begin(), ignore->end(), tokens[i]) != ignore->end()) {
            ++i;
            continue;
        }
        return std::nullopt;  // a word that states a purpose
    }
    if (social) {
        return phrase_finding{std::string(social->text), std::string(social->lang),
                              "social meeting with no stated purpose: '" +
                                  std::string(social->text) + "' (" + std::string(social->lang) +
                                  ") in the subject " + quote(subject)};
    }
    if (generic) {
        return phrase_finding{std::string(generic->text), std::string(generic->lang),
                              "the subject " + quote(subject) + " states no purpose beyond '" +
                                  std::string(generic->text) + "' (" + std::string(generic->lang) +
                                  ")"};
    }
    return std::nullopt;
}

std::optional<phrase_finding> find_lure_in_subject(std::string_view subject) {
    const std::string folded = fold(subject);
    if (auto found = lure_in(split_tokens(folded), "subject")) {
        return phrase_finding{found->phrase, {}, found->explanation};
    }
    return std::nullopt;
}

std::optional<phrase_finding> find_lure(std::string_view subject, std::string_view description) {
    if (auto found = find_lure_in_subject(subject)) return found;
    if (auto found = analyze_description(description, false).lure) {
        return phrase_finding{found->phrase, {}, found->explanation};
    }
    return std::nullopt;
}

}  // namespace agendad::policy::text
