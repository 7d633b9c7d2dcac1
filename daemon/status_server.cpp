// The status listener: /healthz, /metrics and /v1/decisions on the daemon's HTTP listener

#include "calendar/encoding.h"
// (daemon/http_listener.h: deadlines, size limits, connection caps). It only reads the metrics
// and the journal.
#include "daemon/status_server.h"

#include "daemon/http_listener.h"
#include "daemon/journal_json.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "calendar/invitation.h"
#include "daemon/log.h"
#include "daemon/time_arg.h"

namespace agendad::daemon {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr std::size_t default_limit = 100;
constexpr std::size_t max_limit = 1000;
// Parameter values echoed in error messages are cut: they are the client's own text.
constexpr std::size_t max_echo = 64;

using start_result = boost::system::result<void, std::string>;

start_result fail(std::string message) {
    return start_result(boost::system::in_place_error, std::move(message));
}

// --- requests and replies -----------------------------------------------------------------------

using request = http_request;
using reply = http_reply;

reply text(http::status status, std::string body) {
    return text_reply(status, std::move(body));
}

reply json_reply(http::status status, const boost::json::value& v) {
    reply r;
    r.status = status;
    r.content_type = "application/json";
    r.body = boost::json::serialize(v);
    r.body += '\n';
    return r;
}

reply json_error(http::status status, std::string message) {
    return json_reply(status, boost::json::object{{"error", std::move(message)}});
}

std::string echo(std::string_view value) {
    if (value.size() <= max_echo) return std::string(value);
    return std::string(value.substr(0, max_echo)) + "...";
}

using calendar::encoding::iequals;

enum class auth { ok, missing, wrong };

auth authorize(const request& req, const std::string& token) {
    const auto it = req.find(http::field::authorization);
    if (it == req.end()) return auth::missing;
    std::string_view v(it->value().data(), it->value().size());
    // RFC 7235: the scheme is case-insensitive and followed by one or more spaces.
    constexpr std::string_view scheme = "bearer";
    if (v.size() <= scheme.size() || !iequals(v.substr(0, scheme.size()), scheme) ||
        v[scheme.size()] != ' ')
        return auth::wrong;
    v.remove_prefix(scheme.size());
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return same_secret(v, token) ? auth::ok : auth::wrong;
}

// application/x-www-form-urlencoded: %XX and '+' for a space. nullopt for a broken escape.

// The same fields, names and formats as `agendad decisions --json`, so that scripts can read
// either.
// The query string of /v1/decisions as a journal query, or the 400 that says what is wrong.
// Unknown and repeated parameters are errors: a typo must not silently widen the answer.
std::variant<journal_query, reply> decisions_query(std::string_view query_string) {
    journal_query q;
    q.limit = default_limit;
    std::map<std::string, bool, std::less<>> seen;
    while (!query_string.empty()) {
        const auto amp = query_string.find('&');
        const std::string_view pair = query_string.substr(0, amp);
        query_string = amp == std::string_view::npos ? "" : query_string.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        const auto name = percent_decode(pair.substr(0, eq));
        const auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
        if (!name || !value)
            return json_error(http::status::bad_request, "broken %-escape in the query string");
        if (*name != "mailbox" && *name != "since" && *name != "state" && *name != "limit") {
            return json_error(
                http::status::bad_request,
                "unknown parameter '" + echo(*name) + "' (known: mailbox, since, state, limit)");
        }
        if (seen[*name])
            return json_error(http::status::bad_request, "parameter '" + *name + "' given twice");
        seen[*name] = true;
        if (*name == "mailbox") {
            q.mailbox = calendar::normalize_address(*value);
            if (q.mailbox->empty())
                return json_error(http::status::bad_request, "mailbox is empty");
        } else if (*name == "since") {
            q.since = parse_time_arg(*value);
            if (!q.since) {
                return json_error(http::status::bad_request,
                                  "since '" + echo(*value) +
                                      "' is not a time (e.g. 2026-11-20 or 2026-11-20T09:00:00Z)");
            }
        } else if (*name == "state") {
            q.state = entry_state_from_name(*value);
            if (!q.state) {
                return json_error(http::status::bad_request,
                                  "unknown state '" + echo(*value) +
                                      "' (intent, done, dry_run, left, rate_limited, failed, "
                                      "overridden, undone, superseded)");
            }
        } else {
            std::size_t n = 0;
            const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
            if (value->empty() || ec != std::errc{} || end != value->data() + value->size() ||
                n < 1 || n > max_limit) {
                return json_error(http::status::bad_request, "limit '" + echo(*value) +
                                                                 "' is not a number from 1 to " +
                                                                 std::to_string(max_limit));
            }
            q.limit = n;
        }
    }
    return q;
}

// --- the server ---------------------------------------------------------------------------------

struct server_state {
    server_state(status_options opts, metrics& mm, store& st,
                 std::function<std::chrono::system_clock::time_point()> c)
        : options(std::move(opts)), m(&mm), db(&st), clock(std::move(c)) {}

    status_options options;
    metrics* m;
    store* db;
    std::function<std::chrono::system_clock::time_point()> clock;

    reply handle(const request& req) const;
    reply decisions(std::string_view query_string) const;
};

reply server_state::handle(const request& req) const {
    const std::string_view target(req.target().data(), req.target().size());
    const auto question = target.find('?');
    const std::string_view path = target.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);

    enum class route { healthz, metrics, decisions };
    route r{};
    if (path == "/healthz") {
        r = route::healthz;
    } else if (path == "/metrics") {
        r = route::metrics;
    } else if (path == "/v1/decisions") {
        r = route::decisions;
    } else {
        return text(http::status::not_found, "not found\n");
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
        reply out = text(http::status::method_not_allowed, "only GET and HEAD\n");
        out.headers.emplace_back(http::field::allow, "GET, HEAD");
        return out;
    }
    // A load balancer's health check carries no secret, and the answer reveals nothing.
    if (r != route::healthz && options.token) {
        const auto a = authorize(req, *options.token);
        if (a != auth::ok) {
            reply out = text(http::status::unauthorized, a == auth::missing
                                                             ? "a bearer token is required\n"
                                                             : "the bearer token is not valid\n");
            out.headers.emplace_back(http::field::www_authenticate,
                                     a == auth::missing
                                         ? R"(Bearer realm="agendad")"
                                         : R"(Bearer realm="agendad", error="invalid_token")");
            return out;
        }
    }
    switch (r) {
        case route::healthz: {
            const auto h = m->healthy(clock());
            if (h.ok) return text(http::status::ok, "ok\n");
            return text(http::status::service_unavailable, h.reason + "\n");
        }
        case route::metrics: {
            reply out = text(http::status::ok, m->render(clock()));
            out.content_type = "text/plain; version=0.0.4; charset=utf-8";
            return out;
        }
        case route::decisions:
            return decisions(query);
    }
    return text(http::status::not_found, "not found\n");
}

reply server_state::decisions(std::string_view query_string) const {
    auto parsed = decisions_query(query_string);
    if (auto* bad = std::get_if<reply>(&parsed)) return std::move(*bad);
    const auto entries = db->list(std::get<journal_query>(parsed));
    if (!entries) {
        // The store's sentences name the file and the failure, never a secret.
        log::warning("status listener: cannot read the journal", {{"error", entries.error()}});
        return json_error(http::status::internal_server_error, entries.error());
    }
    boost::json::array list;
    list.reserve(entries->size());
    for (const auto& e : *entries) list.push_back(to_json(e));
    return json_reply(http::status::ok, boost::json::object{{"decisions", std::move(list)}});
}

}  // namespace

struct status_server::impl {
    impl(asio::any_io_executor executor, status_options options, metrics& m, store& db,
         std::function<std::chrono::system_clock::time_point()> clock)
        : state(std::move(options), m, db, std::move(clock)),
          listener(std::move(executor),
                   listener_options{"the status listener", state.options.listen,
                                    state.options.max_request_bytes, state.options.timeout},
                   [this](const request& req) { return state.handle(req); }) {}

    server_state state;
    http_listener listener;
};

status_server::status_server(boost::asio::any_io_executor executor, status_options options,
                             metrics& m, store& db,
                             std::function<std::chrono::system_clock::time_point()> clock)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(options), m, db,
                                   std::move(clock))) {}

status_server::~status_server() {
    stop();
}

boost::system::result<void, std::string> status_server::start() {
    const status_options& o = impl_->state.options;
    if (o.token && o.token->empty())
        return fail("the status token is empty: put a secret in status.token_file");
    const auto parsed = parse_listen("the status listen address", o.listen);
    if (!parsed) return fail(parsed.error());
    if (!is_loopback(parsed->address) && !o.token) {
        return fail("the status listener on " + o.listen +
                    " is not loopback: set status.token_file");
    }
    return impl_->listener.start();
}

void status_server::stop() {
    impl_->listener.stop();
}

unsigned short status_server::port() const {
    return impl_->listener.port();
}

}  // namespace agendad::daemon
