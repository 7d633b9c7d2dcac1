// What the daemon counts, rendered in the Prometheus text exposition format 0.0.4 and summed up
// as a health verdict. Pure bookkeeping: the status listener serves it, nothing here does I/O.
#include "daemon/metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>
#include <tuple>

#include "calendar/invitation.h"

namespace agendad::daemon {
namespace {

using std::chrono::system_clock;

// From a fast local sync (a folder) to a slow CalDAV server behind a proxy; past 30 s the
// source's own timeouts are what matters.
constexpr std::array<double, 12> duration_bounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                 0.5,   1,    2.5,   5,    10,  30};

// A mailbox that has not synced for this many poll intervals is stuck, not just slow.
constexpr int stale_after_polls = 3;
// ...but never less than this: with a short poll interval, one slow sync must not flap the check.
constexpr std::chrono::seconds min_stale_after{std::chrono::minutes{3}};

// Shortest text that reads back as the same double, as Prometheus expects ("0.005", "30",
// "1.5e-07"), with its spellings of the special values.
std::string number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    std::array<char, 64> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    return std::string(buf.data(), r.ptr);
}

std::string number(std::uint64_t v) {
    return std::to_string(v);
}

// Label values may hold anything a mailbox address or rule name holds; the format allows any
// UTF-8 but needs backslash, double quote and newline escaped.
std::string escape_label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    return out;
}

using label = std::pair<std::string_view, std::string_view>;

std::string labels(std::initializer_list<label> pairs) {
    if (pairs.size() == 0) return {};
    std::string out = "{";
    bool first = true;
    for (const auto& [name, value] : pairs) {
        if (!first) out += ',';
        first = false;
        out += name;
        out += "=\"";
        out += escape_label(value);
        out += '"';
    }
    out += '}';
    return out;
}

// HELP and TYPE exactly once per metric family, before its samples (the format requires it and
// Prometheus rejects a family that is split).
void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;  // constant text without backslashes or newlines: nothing to escape
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

void sample(std::string& out, std::string_view name, const std::string& label_text,
            const std::string& value) {
    out += name;
    out += label_text;
    out += ' ';
    out += value;
    out += '\n';
}

std::string describe_duration(std::chrono::seconds s) {
    using namespace std::chrono;
    if (s < minutes{1}) return std::to_string(s.count()) + "s";
    if (s < hours{1}) {
        const auto m = duration_cast<minutes>(s);
        return std::to_string(m.count()) + "m" + std::to_string((s - m).count()) + "s";
    }
    const auto h = duration_cast<hours>(s);
    return std::to_string(h.count()) + "h" + std::to_string(duration_cast<minutes>(s - h).count()) +
           "m";
}

calendar::time_point to_seconds(system_clock::time_point t) {
    return std::chrono::floor<std::chrono::seconds>(t);
}

}  // namespace

void metrics::histogram::observe(double seconds) {
    // A clock step backwards can make a measured duration negative; it was still an observation.
    if (!(seconds >= 0)) seconds = 0;
    ++count;
    sum += seconds;
    // Counted in the first bucket whose bound it does not exceed ("le"); past the last bound it
    // is only in +Inf, which is `count`.
    const auto it = std::lower_bound(bounds.begin(), bounds.end(), seconds);
    if (it != bounds.end()) ++buckets[static_cast<std::size_t>(it - bounds.begin())];
}

metrics::mailbox_state& metrics::state(std::string_view mailbox) {
    auto it = mailboxes_.find(mailbox);
    if (it == mailboxes_.end()) {
        it = mailboxes_.emplace(std::string(mailbox), mailbox_state{}).first;
        for (histogram* h : {&it->second.sync_seconds, &it->second.respond_seconds}) {
            h->bounds.assign(duration_bounds.begin(), duration_bounds.end());
            h->buckets.assign(duration_bounds.size(), 0);
        }
    }
    return it->second;
}

void metrics::decision(std::string_view /*mailbox*/, std::string_view action, std::string_view rule,
                       std::string_view state) {
    ++decisions_[std::make_tuple(std::string(action), std::string(rule), std::string(state))];
}

void metrics::sync_succeeded(std::string_view mailbox, std::chrono::duration<double> took,
                             std::chrono::system_clock::time_point at) {
    auto& s = state(mailbox);
    s.sync_seconds.observe(took.count());
    s.last_success = std::max(s.last_success, at);
    s.ever_synced = true;
}

void metrics::sync_failed(std::string_view mailbox, std::string_view kind) {
    auto& s = state(mailbox);
    ++s.sync_errors;
    ++s.sync_errors_by_kind[kind.empty() ? std::string("unknown") : std::string(kind)];
}

void metrics::respond_finished(std::string_view mailbox, std::chrono::duration<double> took,
                               bool ok) {
    auto& s = state(mailbox);
    s.respond_seconds.observe(took.count());
    if (!ok) ++s.respond_failures;
}

void metrics::watching(const std::vector<std::string>& mailboxes,
                       std::chrono::seconds poll_interval, system_clock::time_point now) {
    poll_ = poll_interval;
    const std::set<std::string, std::less<>> wanted(mailboxes.begin(), mailboxes.end());
    // A mailbox taken out of the configuration must not keep reporting its last values (a stale
    // timestamp gauge would alert forever).
    std::erase_if(mailboxes_, [&](const auto& entry) { return !wanted.contains(entry.first); });
    // A mailbox watched again keeps its first time.
    for (const auto& name : wanted) {
        auto& s = state(name);
        if (s.watched_since == system_clock::time_point{}) s.watched_since = now;
    }
}

std::string metrics::render(std::chrono::system_clock::time_point /*now*/) const {
    std::string out;
    out.reserve(4096 + mailboxes_.size() * 4096);

    family(out, "agendad_up", "gauge", "1 while agendad runs and answers.");
    sample(out, "agendad_up", "", "1");

    std::uint64_t watched = 0;
    for (const auto& [name, s] : mailboxes_) {
        if (s.watched_since != system_clock::time_point{}) ++watched;
    }
    family(out, "agendad_mailboxes_watched", "gauge", "Mailboxes the daemon watches.");
    sample(out, "agendad_mailboxes_watched", "", number(watched));

    family(out, "agendad_decisions_total", "counter",
           "Decisions journaled, by action, rule and the state journaled (intent: to be carried out).");
    for (const auto& [key, count] : decisions_) {
        const auto& [action, rule, st] = key;
        sample(out, "agendad_decisions_total",
               labels({{"action", action}, {"rule", rule}, {"state", st}}), number(count));
    }

    family(out, "agendad_sync_errors_total", "counter", "Failed sync rounds, by mailbox and kind.");
    for (const auto& [name, s] : mailboxes_) {
        for (const auto& [kind, count] : s.sync_errors_by_kind) {
            sample(out, "agendad_sync_errors_total", labels({{"mailbox", name}, {"kind", kind}}),
                   number(count));
        }
    }

    family(out, "agendad_last_sync_success_timestamp_seconds", "gauge",
           "Unix time of the last successful sync of a mailbox (0: never).");
    for (const auto& [name, s] : mailboxes_) {
        // Milliseconds are plenty, and print as the exact decimal instead of 1795165200.2499998.
        const auto ms = std::chrono::floor<std::chrono::milliseconds>(s.last_success);
        const double at =
            s.ever_synced ? static_cast<double>(ms.time_since_epoch().count()) / 1000.0 : 0.0;
        sample(out, "agendad_last_sync_success_timestamp_seconds", labels({{"mailbox", name}}),
               number(at));
    }

    const auto render_histogram = [&](std::string_view metric, std::string_view help,
                                      const histogram mailbox_state::*which) {
        family(out, metric, "histogram", help);
        const std::string bucket = std::string(metric) + "_bucket";
        const std::string sum = std::string(metric) + "_sum";
        const std::string count = std::string(metric) + "_count";
        for (const auto& [name, s] : mailboxes_) {
            const histogram& h = s.*which;
            std::uint64_t cumulative = 0;
            for (std::size_t i = 0; i < h.bounds.size(); ++i) {
                cumulative += h.buckets[i];
                sample(out, bucket, labels({{"mailbox", name}, {"le", number(h.bounds[i])}}),
                       number(cumulative));
            }
            sample(out, bucket, labels({{"mailbox", name}, {"le", "+Inf"}}), number(h.count));
            sample(out, sum, labels({{"mailbox", name}}), number(h.sum));
            sample(out, count, labels({{"mailbox", name}}), number(h.count));
        }
    };
    render_histogram("agendad_sync_duration_seconds", "How long a sync round took, by mailbox.",
                     &mailbox_state::sync_seconds);
    render_histogram("agendad_respond_duration_seconds",
                     "How long sending a response to the calendar took, by mailbox.",
                     &mailbox_state::respond_seconds);

    family(out, "agendad_respond_failures_total", "counter",
           "Responses the calendar refused or that failed, by mailbox.");
    for (const auto& [name, s] : mailboxes_) {
        sample(out, "agendad_respond_failures_total", labels({{"mailbox", name}}),
               number(s.respond_failures));
    }
    return out;
}

metrics::health metrics::healthy(std::chrono::system_clock::time_point now) const {
    const auto stale_after =
        std::max<std::chrono::seconds>(stale_after_polls * poll_, min_stale_after);
    health h;
    for (const auto& [name, s] : mailboxes_) {
        // Mailboxes only seen through events, never watched, are not the daemon's to answer for.
        if (s.watched_since == system_clock::time_point{}) continue;
        // Once synced, only the daemon's own clock is compared (watched_since is the wall clock).
        const auto since = s.ever_synced ? s.last_success : s.watched_since;
        if (now - since <= stale_after) continue;
        const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - since);
        std::string why = "mailbox " + name;
        if (s.ever_synced) {
            why += " has not synced for " + describe_duration(age) + " (last success " +
                   calendar::format_utc(to_seconds(s.last_success)) + ")";
        } else {
            why += " has not synced since it was watched " + describe_duration(age) + " ago";
        }
        if (!h.ok) h.reason += "; ";
        h.ok = false;
        h.reason += why;
    }
    if (!h.ok) {
        h.reason += "; expected every " + describe_duration(poll_) + ", stale after " +
                    describe_duration(stale_after);
    }
    return h;
}

}  // namespace agendad::daemon
