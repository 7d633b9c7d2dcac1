// The one small interface every calendar source implements (folder of .ics files, CalDAV, Graph,
// EWS): list what changed, answer an invitation, and say whether an answer already took effect.
// Abstract: no Beast, no libical here, so the daemon's worker compiles against this alone.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "calendar/diagnostic.h"
#include "calendar/invitation.h"

namespace agendad::calendar {

namespace http {
enum class failure;  // calendar/http/http_client.h
}  // namespace http

// One calendar object as the source holds it (a .ics file, a CalDAV resource, a Graph event).
struct source_item {
    std::string item_id;             // stable within the source
    std::string etag;                // its version; a new etag means "read it again"
    std::vector<invitation> events;  // its VEVENTs, normalised (owner assigned)
    // Why the object could not be read; such an object is never acted on.
    std::vector<diagnostic> problems;
};

struct sync_result {
    // A complete listing: every item of the calendar is in `items`, and items not in it are gone.
    // Otherwise `items` holds what changed since the token and `removed` what disappeared.
    bool full = false;
    std::vector<source_item> items;
    std::vector<std::string> removed;
    std::string token;  // to pass to the next sync
};

// What the daemon's journal remembers of replies a source delivers outside the calendar (iMIP
// mail): once sent they cannot be checked or taken back, so the point of no return is journaled
// first. A source that delivers nothing outside the calendar ignores this.
struct delivery_journal {
    // Whether an earlier attempt reached its point of no return: the reply may have been
    // delivered, and is never delivered again. nullopt: the journal cannot tell (the source
    // then fails the response as transient). Unset: never.
    std::function<std::optional<bool>()> started;
    // Records durably, right before the point of no return, that the reply (`what`: "iMIP to
    // ..., Message-ID ...") is being delivered. False: it could not be recorded; do not deliver.
    std::function<bool(std::string_view what)> mark;
    // Takes a mark back: the server refused the message after the point of no return (a 4xx or
    // 5xx answer to the end of the data), so it was certainly not delivered. False: the journal
    // could not be changed (a full disk): the mark stays, and the reply is never sent by agendad.
    std::function<bool()> clear;
};

// What to do to the owner's answer.
struct response {
    partstat status = partstat::declined;  // accepted, declined, tentative; needs_action (undo)
    std::string comment;                   // the reply text; empty: none
    bool send = true;                      // false: change the answer without telling the organizer
    std::string owner_name;                // for the reply's ATTENDEE CN
    time_point now{};                      // DTSTAMP of the reply
    // Tells apart two responses to the same meeting version with the same status (a follow-up
    // such as "undo"); "" for the decision itself.
    std::string tag;
    delivery_journal delivery;
};

// Whether a response already took effect: what crash recovery asks before acting again.
struct applied_state {
    // The response has taken effect (as the source defines it: the PARTSTAT on the server, the
    // reply in the outbox): doing it again would do it twice.
    bool applied = false;
    bool item_exists = true;
    partstat owner_status = partstat::none;  // the owner's answer as the source now has it
};

enum class source_failure {
    transient,  // network, timeout, 5xx, 429: try again later
    conflict,   // the item changed under us (stale ETag / ChangeKey): read it again and re-decide
    gone,       // the item no longer exists
    denied,     // 401/403, bad credentials, no permission: an admin must act
    invalid,    // the source's data or our request is wrong: retrying will not help
};

std::string_view name_of(source_failure f);  // "transient", "conflict", ...

// What a failed HTTP exchange means to every source that speaks HTTP: a certificate that does not
// verify (or a TLS handshake that fails) needs an admin — a ca_file, a renewed certificate — not
// a retry; an answer over the size limit will be as large the next time; anything else
// (resolution, connection, timeout, a broken answer) may pass.
source_failure failure_kind_of(http::failure f);

struct source_error {
    source_failure kind = source_failure::transient;
    std::string message;  // for the log: names the mailbox / item, never a secret
};

template <class T>
using source_result = boost::system::result<T, source_error>;

class source {
  public:
    virtual ~source() = default;
    virtual std::string_view kind() const = 0;
    // For the log: what the source watches and how it answers ("CalDAV calendar https://...,
    // replies by iMIP mail through smtp.example.com:587"); never a secret.
    virtual std::string describe() const { return std::string(kind()); }
    // Changes since `token` ("" or a token the source no longer accepts: everything, full=true).
    // Coroutines here take strings by const reference, and callers keep the argument alive across
    // the co_await: GCC 12 miscopies by-value string parameters into coroutine frames.
    // GCC 12 also miscompiles a co_await used directly as an if/while condition (the coroutine
    // crashes on resumption): bind the result first, `if (auto r = co_await f(); !r)`.
    virtual boost::asio::awaitable<source_result<sync_result>> sync(const std::string& token) = 0;
    // Carries out `r` for `inv`, an event of item `item_id` at version `etag`.
    virtual boost::asio::awaitable<source_result<void>> respond(const std::string& item_id,
                                                                const std::string& etag,
                                                                const invitation& inv,
                                                                const response& r) = 0;
    // What the source says now about `inv`'s answer (crash recovery, retries after failures).
    virtual boost::asio::awaitable<source_result<applied_state>> state(const std::string& item_id,
                                                                       const invitation& inv,
                                                                       const response& r) = 0;
};

}  // namespace agendad::calendar
