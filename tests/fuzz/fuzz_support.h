// Shared by the fuzz targets: a byte reader for targets that need structured input (libFuzzer's
// FuzzedDataProvider is a clang header, and the replay build uses GCC), and the checks that
// abort when an invariant a user relies on breaks, so that libFuzzer records the input.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "calendar/encoding.h"
#include "calendar/invitation.h"

namespace agendad::fuzz {

// Prints what broke and aborts: libFuzzer saves the input as a crash, the replay driver dies.
[[noreturn]] inline void fail(std::string_view what, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz invariant failed: %.*s", static_cast<int>(what.size()), what.data());
    if (!detail.empty()) {
        // Bounded and escaped: the detail may be the fuzzer's bytes.
        std::fputs(" [", stderr);
        for (const char c : detail.substr(0, 300)) {
            const auto b = static_cast<unsigned char>(c);
            if (b >= 0x20 && b < 0x7F)
                std::fputc(c, stderr);
            else
                std::fprintf(stderr, "\\x%02X", b);
        }
        std::fputs(detail.size() > 300 ? "...]" : "]", stderr);
    }
    std::fputc('\n', stderr);
    std::abort();
}

inline void require(bool ok, std::string_view what, std::string_view detail = {}) {
    if (!ok) fail(what, detail);
}

inline bool valid_utf8(std::string_view s) {
    return calendar::encoding::first_invalid_utf8(s) == std::string_view::npos;
}

// Aborts, showing the bytes around the first ill-formed one, when `s` is not well-formed UTF-8.
inline void require_utf8(std::string_view s, std::string_view what) {
    const std::size_t bad = calendar::encoding::first_invalid_utf8(s);
    if (bad == std::string_view::npos) return;
    const std::size_t from = bad > 40 ? bad - 40 : 0;
    fail(what, s.substr(from, 80));
}

// What every invitation a reader of the calendar hands out must be, whatever it read: its text in
// UTF-8 (it goes into the journal, `decisions --json` and replies), and its owner entry, when it
// has one, the mailbox's own. `who` names the reader in the message.
inline void check_invitation(const calendar::invitation& e, std::string_view mailbox,
                             std::string_view who) {
    const auto text = [who](std::string_view field, const std::string& value) {
        require_utf8(value, std::string(who) + ": not UTF-8: " + std::string(field));
    };
    text("uid", e.uid);
    text("subject", e.subject);
    text("description", e.description);
    text("location", e.location);
    text("organizer", e.organizer.address);
    text("organizer name", e.organizer.name);
    for (const auto& a : e.attendees) {
        text("attendee", a.address);
        text("attendee name", a.name);
    }
    if (e.owner) {
        require(e.owner->address == mailbox,
                std::string(who) + ": the owner's entry is someone else's", e.owner->address);
    }
}

// Whether `s` (well-formed UTF-8) holds a control character (C0, DEL, C1) other than those in
// `allowed`.
inline bool has_control(std::string_view s, std::string_view allowed) {
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        i += calendar::encoding::decode_utf8(s, i, cp);
        const bool control = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
        if (control && (cp >= 0x80 || allowed.find(static_cast<char>(cp)) == std::string_view::npos))
            return true;
    }
    return false;
}

// Reads values out of the fuzzer's bytes; past the end every value is zero or empty, so any input
// is a valid one.
class byte_reader {
  public:
    byte_reader(const std::uint8_t* data, std::size_t size)
        : data_(reinterpret_cast<const char*>(data), size) {}

    bool empty() const { return data_.empty(); }

    std::uint8_t byte() {
        if (data_.empty()) return 0;
        const auto b = static_cast<std::uint8_t>(data_.front());
        data_.remove_prefix(1);
        return b;
    }
    bool flag() { return (byte() & 1) != 0; }
    std::uint32_t u32() {
        std::uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = (v << 8) | byte();
        return v;
    }
    std::uint64_t u64() { return (std::uint64_t{u32()} << 32) | u32(); }
    // A value in [0, n) (n > 0).
    std::size_t below(std::size_t n) { return n <= 256 ? byte() % n : u32() % n; }
    // A value in [lo, hi].
    std::int64_t in_range(std::int64_t lo, std::int64_t hi) {
        const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
        return lo + static_cast<std::int64_t>(span == 0 ? u64() : u64() % span);
    }
    // A string of up to `max` bytes: a length byte, then the bytes.
    std::string string(std::size_t max = 255) {
        const std::size_t n = std::min<std::size_t>(byte(), max);
        const std::string out(data_.substr(0, n));
        data_.remove_prefix(out.size());
        return out;
    }
    // One of `choices` or, one time in four, a string from the input.
    template <std::size_t N>
    std::string pick(const std::string_view (&choices)[N]) {
        const std::size_t i = byte() % (N + N / 3 + 1);
        return i < N ? std::string(choices[i]) : string();
    }
    // Whatever is left.
    std::string rest() {
        std::string out(data_);
        data_ = {};
        return out;
    }

  private:
    std::string_view data_;
};

}  // namespace agendad::fuzz
