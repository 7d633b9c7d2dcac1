// Microsoft Graph requests with Microsoft's throttling rules kept

#include "calendar/encoding.h"
// (https://learn.microsoft.com/graph/throttling): per-mailbox and global concurrency gates on the
// one executor, Retry-After (seconds or an HTTP-date) or an exponential backoff with full jitter
// for 429/503/504 and transport failures, one new token after a 401, and never the token sent
// to another origin.
#include "calendar/graph/graph_client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string_view>
#include <utility>

#include "calendar/graph/graph_json.h"
#include "calendar/http/gate.h"

namespace agendad::calendar::graph {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);
using http::gate;
using http::held;

source_error failure(source_failure kind, std::string message) {
    return source_error{kind, std::move(message)};
}

using encoding::iequals;

using encoding::lower;

std::string seconds_text(milliseconds d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
    return buf;
}

// "mailbox x: delta round" → {"mailbox x", "the delta round"} for "Graph throttled ..."; a
// `doing` without ": " is the step itself.
std::pair<std::string, std::string> split_doing(const std::string& doing) {
    const auto at = doing.find(": ");
    if (at == std::string::npos) return {std::string(), doing};
    return {doing.substr(0, at), doing.substr(at + 2)};
}

// The token provider reports a throttled token request's Retry-After in its message
// ("token endpoint answered 429 to ... (Retry-After: 5)"); nullopt when it has none.
std::optional<seconds> token_retry_after(std::string_view message) {
    constexpr std::string_view tag = "(Retry-After: ";
    const auto at = message.rfind(tag);
    if (at == std::string_view::npos || !message.ends_with(')')) return std::nullopt;
    const std::string_view value =
        message.substr(at + tag.size(), message.size() - 1 - (at + tag.size()));
    return http::parse_retry_after(value, std::chrono::system_clock::now());
}

bool idempotent(std::string_view method) {
    return iequals(method, "GET") || iequals(method, "HEAD") || iequals(method, "OPTIONS") ||
           iequals(method, "PUT") || iequals(method, "DELETE");
}

}  // namespace

struct graph_client::impl {
    asio::any_io_executor executor;
    std::shared_ptr<http::client> http;
    std::shared_ptr<token_provider> tokens;
    std::string graph_url;
    std::optional<http::url> base;
    throttling limits;
    long long sent = 0;
    long long throttled = 0;
    gate global;
    std::map<std::string, std::unique_ptr<gate>> mailboxes;  // lower-case address → its gate
    std::mt19937_64 random{std::random_device{}()};

    impl(asio::any_io_executor ex, std::shared_ptr<http::client> h,
         std::shared_ptr<token_provider> t, std::string url, throttling l)
        : executor(std::move(ex)),
          http(std::move(h)),
          tokens(std::move(t)),
          graph_url(std::move(url)),
          limits(l),
          global(l.global) {
        while (graph_url.size() > 1 && graph_url.back() == '/') graph_url.pop_back();
        base = http::url::parse(graph_url);
        if (base && base->target == "/") base->target.clear();
    }

    gate& mailbox_gate(const std::string& mailbox) {
        auto& g = mailboxes[lower(mailbox)];
        if (!g) g = std::make_unique<gate>(limits.per_mailbox);
        return *g;
    }

    // A random (version 4) GUID for client-request-id.
    std::string guid() {
        std::uniform_int_distribution<unsigned> byte(0, 255);
        unsigned char b[16];
        for (auto& x : b) x = static_cast<unsigned char>(byte(random));
        b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
        b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
        char out[37];
        std::snprintf(out, sizeof out,
                      "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                      b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                      b[13], b[14], b[15]);
        return out;
    }

    // Exponential backoff with full jitter: uniform in [0, min(cap, first * 2^(attempt-1))],
    // the cap being max_wait.
    milliseconds backoff(int attempt) {
        return http::full_jitter_backoff(attempt, limits.first_backoff,
                                         std::chrono::duration_cast<milliseconds>(limits.max_wait),
                                         random);
    }

    // Where `target` goes: a path below graph_url, or a full URL of graph_url's origin.
    source_result<http::url> resolve(const std::string& target, const std::string& doing) const {
        if (!base) {
            return failure(source_failure::invalid,
                           doing + ": the Graph URL '" + graph_url + "' is not a URL");
        }
        if (base->scheme != "https" && !base->is_loopback()) {
            return failure(
                source_failure::invalid,
                doing + ": refusing to send an access token to " + base->origin() + " without TLS");
        }
        if (target.starts_with('/')) {
            http::url where = *base;
            where.target = base->target + target;
            return where;
        }
        if (target.starts_with("https://") || target.starts_with("http://")) {
            const auto u = http::url::parse(target);
            if (!u) {
                return failure(source_failure::invalid,
                               doing + ": Graph gave a link that is not a URL");
            }
            if (u->scheme != base->scheme || !iequals(u->host, base->host) ||
                u->port != base->port) {
                return failure(source_failure::invalid,
                               doing + ": refusing to follow a link to " + u->origin() +
                                   ", which is not Graph's origin " + base->origin() +
                                   " (the access token goes nowhere else)");
            }
            return *u;
        }
        return failure(source_failure::invalid,
                       doing + ": '" + target.substr(0, 80) + "' is neither a path nor a URL");
    }
};

graph_client::graph_client(boost::asio::any_io_executor executor,
                           std::shared_ptr<http::client> http,
                           std::shared_ptr<token_provider> tokens, std::string graph_url,
                           throttling limits)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(http), std::move(tokens),
                                   std::move(graph_url), limits)) {}

graph_client::~graph_client() = default;

long long graph_client::requests_sent() const {
    return impl_->sent;
}

long long graph_client::throttled() const {
    return impl_->throttled;
}

const std::string& graph_client::graph_url() const {
    return impl_->graph_url;
}

boost::asio::awaitable<source_result<graph_client::answer>> graph_client::send(
    const std::string& mailbox, const std::string& method, const std::string& target,
    const std::string& body, const std::string& doing) {
    impl& s = *impl_;
    // Checked before anything is sent, the token request included.
    const source_result<http::url> where = s.resolve(target, doing);
    if (!where) co_return where.error();

    const bool safe_to_repeat = idempotent(method);
    const int max_attempts = std::max(1, s.limits.max_attempts);
    int attempts = 0;
    int throttles = 0;
    bool new_token_tried = false;
    std::string last;  // what went wrong last, for the message when giving up

    for (;;) {
        ++attempts;
        const source_result<std::string> token = co_await s.tokens->token();
        std::optional<milliseconds> wait;
        if (!token) {
            // A refused or misconfigured app fails at once; an unwell or throttling token
            // endpoint is waited for as Graph is, holding no slot meanwhile.
            if (token.error().kind != source_failure::transient) {
                co_return failure(token.error().kind, doing + ": " + token.error().message);
            }
            last = token.error().message;
            if (const auto after = token_retry_after(token.error().message)) {
                if (*after > s.limits.max_wait) {
                    co_return failure(source_failure::transient,
                                      doing + ": " + token.error().message + ", longer than the " +
                                          std::to_string(s.limits.max_wait.count()) +
                                          " s agendad waits; trying again later");
                }
                wait = std::chrono::duration_cast<milliseconds>(*after);
            }
        } else {
            http::request req;
            req.method = method;
            req.target = where->target;
            req.headers.push_back({"Authorization", "Bearer " + *token});
            req.headers.push_back({"Accept", "application/json"});
            req.headers.push_back({"Prefer", "outlook.timezone=\"UTC\""});
            if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
            const std::string client_request_id = s.guid();
            req.headers.push_back({"client-request-id", client_request_id});
            req.headers.push_back({"return-client-request-id", "true"});
            req.body = body;

            std::optional<http::result<http::response>> got;
            {
                // Waiting for a slot is not being in flight; the slots are let go before any wait
                // for a retry. The mailbox's first, then the global one: a request waiting for its
                // mailbox never holds a global slot that other mailboxes could use.
                gate& own = s.mailbox_gate(mailbox);
                co_await own.acquire();
                held own_slot(own);
                co_await s.global.acquire();
                held global_slot(s.global);
                ++s.sent;
                auto r = co_await s.http->send(*where, req);
                got.emplace(std::move(r));
            }

            if (!*got) {
                const http::error& e = got->error();
                // A certificate that does not verify needs an admin, not a retry.
                if (const source_failure kind = failure_kind_of(e.kind);
                    kind != source_failure::transient) {
                    co_return failure(kind, doing + ": " + e.message);
                }
                const bool not_sent =
                    e.kind == http::failure::resolve || e.kind == http::failure::connect;
                if (!safe_to_repeat && !not_sent) {
                    // The request may have reached Graph and taken effect: sending it again could
                    // answer twice. The daemon asks state() before it tries again.
                    co_return failure(source_failure::transient,
                                      doing + ": " + e.message +
                                          " (the request may have reached Graph; whether it took "
                                          "effect is checked before it is tried again)");
                }
                last = e.message;
            } else {
                http::response& r = **got;
                answer a;
                a.status = r.status;
                a.body = std::move(r.body);
                if (const auto id = r.find("request-id")) {
                    a.request_id = std::string(*id);
                } else {
                    a.request_id = client_request_id;
                }

                if (r.status == 401) {
                    if (!new_token_tried) {
                        // The token was refused (revoked, expired early): one new token, once.
                        new_token_tried = true;
                        s.tokens->invalidate(*token);
                        --attempts;
                        continue;
                    }
                    co_return graph_failure(a, doing);
                }
                // 504 to a POST: the gateway gave up waiting, Graph may have acted; not repeated.
                const bool retry_later =
                    r.status == 429 || r.status == 503 || (r.status == 504 && safe_to_repeat);
                if (!retry_later) co_return a;

                ++s.throttled;
                ++throttles;
                std::string said = "HTTP " + std::to_string(r.status);
                if (const auto e = parse_error(a.body); e && !e->code.empty())
                    said += " " + e->code;
                last = said + ", request-id " + a.request_id;
                if (const auto header = r.find("Retry-After")) {
                    if (const auto after =
                            http::parse_retry_after(*header, std::chrono::system_clock::now())) {
                        if (*after > s.limits.max_wait) {
                            co_return failure(
                                source_failure::transient,
                                doing + ": Graph asks to wait " + std::to_string(after->count()) +
                                    " s (Retry-After, " + said + "), longer than the " +
                                    std::to_string(s.limits.max_wait.count()) +
                                    " s agendad waits; trying again later");
                        }
                        wait = std::chrono::duration_cast<milliseconds>(*after);
                    }
                }
            }
        }

        if (attempts >= max_attempts) {
            const auto [who, what] = split_doing(doing);
            const std::string prefix = who.empty() ? std::string() : who + ": ";
            if (throttles == attempts) {
                co_return failure(source_failure::transient, prefix + "Graph throttled " + what +
                                                                 " " + std::to_string(attempts) +
                                                                 " times (last: " + last +
                                                                 "); trying again later");
            }
            co_return failure(source_failure::transient,
                              prefix + what + " failed " + std::to_string(attempts) +
                                  " times (last: " + last + "); trying again later");
        }
        if (!wait) wait = s.backoff(attempts);
        asio::steady_timer timer(s.executor, *wait);
        auto [ec] = co_await timer.async_wait(with_error);
        if (ec) {
            co_return failure(source_failure::transient, doing + ": cancelled while waiting " +
                                                             seconds_text(*wait) + " to try again");
        }
    }
}

source_error graph_failure(const graph_client::answer& a, const std::string& doing) {
    std::string text = doing + ": Graph answered HTTP " + std::to_string(a.status);
    const auto e = parse_error(a.body);
    if (e && !e->code.empty()) text += " " + e->code;
    if (e && !e->message.empty()) text += ": " + e->message;
    const bool access_policy = a.status == 403 && e && iequals(e->code, "ErrorAccessDenied");
    if (access_policy) {
        text +=
            " (the mailbox is outside the application access policy, or the app lacks the "
            "Calendars.ReadWrite application permission: ask the admin to add it to the group "
            "of New-ApplicationAccessPolicy)";
    }
    if (!a.request_id.empty()) text += " [request-id " + a.request_id + "]";

    source_failure kind = source_failure::invalid;
    if (a.status == 404 || a.status == 410) {
        kind = source_failure::gone;
    } else if (a.status == 401 || a.status == 403) {
        kind = source_failure::denied;
    } else if (a.status == 409 || a.status == 412) {
        kind = source_failure::conflict;
    } else if (a.status == 429 || a.status >= 500) {
        kind = source_failure::transient;
    }
    return failure(kind, std::move(text));
}

}  // namespace agendad::calendar::graph
