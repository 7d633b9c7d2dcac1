// The GetStreamingEvents body (calendar/ews/soap.h envelope_splitter): concatenated SOAP
// envelopes arriving in arbitrary chunks, as the EWS source reads a streaming connection, each
// envelope then read with parse_response and read_streaming_events.
//
// Input: the body. The chunk sizes, and one time in four a small envelope size limit, come from
// a hash of it, so that recorded streams seed the corpus as they are.
// Invariants: the documents and the error do not depend on the chunking (the splitter promises
// "whatever the chunking"): chunk by chunk gives exactly what split_envelopes gives for the whole
// body, or the same error; each document is a piece of the body, in order, starting with '<' or a
// byte order mark; an error is final (every later feed repeats it); nothing throws.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/encoding.h"
#include "calendar/ews/soap.h"
#include "fuzz_support.h"

namespace {

using namespace agendad;
using namespace agendad::calendar;
using fuzz::require;

constexpr std::string_view where = "mailbox dana.whitfield@contoso.example, GetStreamingEvents";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string body(reinterpret_cast<const char*>(data), size);
    const std::uint64_t hash = encoding::fnv1a(body);
    const auto step = static_cast<std::uint8_t>(hash);
    // Small limits reach the "envelope too large" path.
    const std::size_t limit =
        (hash >> 8) % 4 == 0 ? 1 + (hash >> 10) % 4096 : ews::max_response_bytes;

    const auto whole = ews::split_envelopes(body, limit);

    ews::envelope_splitter splitter(limit);
    std::vector<std::string> docs;
    std::string error;
    std::size_t at = 0;
    for (std::size_t i = 0; at < body.size(); ++i) {
        // Chunk sizes from 1 byte up, varying along the stream.
        const std::size_t n = 1 + (step + i * 7) % (1 + step % 61);
        auto got = splitter.feed(std::string_view(body).substr(at, n));
        at += n;
        if (!got) {
            error = got.error();
            require(!error.empty(), "envelope_splitter: an error without a message");
            auto again = splitter.feed("<a/>");
            require(!again && again.error() == error, "envelope_splitter: an error that is not final");
            require(!splitter.idle(), "envelope_splitter: idle after an error");
            break;
        }
        for (auto& d : *got) docs.push_back(std::move(d));
    }

    if (whole) {
        require(error.empty(), "envelope_splitter: an error in chunks but none for the whole body",
                error);
        require(splitter.idle(), "envelope_splitter: not idle where the whole body was complete");
        require(docs == *whole, "envelope_splitter: other documents in chunks than in one piece");
    } else if (!error.empty()) {
        require(error == whole.error(), "envelope_splitter: another error in chunks", error);
    } else {
        require(!splitter.idle(), "envelope_splitter: idle although the body ends inside a document");
    }

    std::size_t from = 0;
    for (const auto& d : docs) {
        require(!d.empty(), "envelope_splitter: an empty document");
        const auto first = static_cast<unsigned char>(d.front());
        require(first == '<' || first == 0xEF, "envelope_splitter: a document not starting with '<'");
        const auto found = body.find(d, from);
        require(found != std::string::npos, "envelope_splitter: a document that is not in the body");
        from = found + d.size();

        const auto response = ews::parse_response(d, where);
        if (!response) {
            require(response.error().starts_with(where), "parse_response: an error without where");
            continue;
        }
        if (auto events = ews::read_streaming_events(*response, where)) {
            for (const auto& m : events->messages) {
                for (const auto& n : m.notifications) {
                    require(!n.subscription_id.empty(), "read_streaming_events: no subscription id");
                }
            }
        }
    }
    return 0;
}
