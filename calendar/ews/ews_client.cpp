// EWS requests with sign-in (NTLMv2 per connection, Basic, OAuth bearer) and Exchange's
// throttling rules: per-mailbox and global gates, ErrorServerBusy's BackOffMilliseconds, 503s
// and transport failures of reads tried again with an exponential backoff with full jitter.
#include "calendar/ews/ews_client.h"

#include <openssl/rand.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <map>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "calendar/encoding.h"
#include "calendar/ews/ntlm.h"
#include "calendar/http/gate.h"

namespace agendad::calendar::ews {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);

source_error failure(source_failure kind, std::string message) {
    return source_error{kind, std::move(message)};
}

// What one request/response leg gave: an HTTP answer, or why there is none.
struct leg {
    std::optional<http::response> answer;
    source_error error;
};

// The NTLM token among the WWW-Authenticate headers of a 401, and the schemes offered.
struct offered {
    std::optional<std::string> ntlm_token;
    std::string schemes;  // "Negotiate, Basic" for messages
};

offered read_challenges(const http::response& r) {
    offered out;
    for (const auto& h : r.headers) {
        if (!encoding::iequals(h.name, "WWW-Authenticate")) continue;
        if (!out.ntlm_token) out.ntlm_token = ntlm::token_from_header(h.value);
        const std::string_view v = h.value;
        const std::string scheme(v.substr(0, v.find(' ')));
        if (!out.schemes.empty()) out.schemes += ", ";
        out.schemes += scheme;
    }
    return out;
}

// A stream's answer (`on_body` set) hands its 2xx body over as it arrives.
struct streaming {
    const std::function<bool(std::string_view)>* on_body = nullptr;
    milliseconds idle_timeout{};
};

std::string_view scheme_name(sign_in::scheme s) {
    switch (s) {
        case sign_in::scheme::ntlm:
            return "NTLM";
        case sign_in::scheme::basic:
            return "Basic";
        case sign_in::scheme::bearer:
            return "OAuth";
    }
    return "NTLM";
}

}  // namespace

struct ews_client::impl {
    asio::any_io_executor executor;
    std::shared_ptr<http::client> http;
    std::string url;
    std::optional<http::url> base;
    sign_in credentials;
    ntlm::credentials ntlm_credentials;
    client_limits limits;
    long long sent = 0;
    long long throttled = 0;
    long long handshakes = 0;
    http::gate global;
    std::map<std::string, std::unique_ptr<http::gate>> mailboxes;
    std::mt19937_64 random{std::random_device{}()};

    // A channel and whether its connection is signed in (NTLM).
    struct slot {
        http::channel channel;
        bool signed_in = false;
    };
    std::vector<std::unique_ptr<slot>> idle;

    // POX Autodiscover, when the URL is to be found: `autodiscover_url` ("" : from the
    // mailbox's domain), one discovery at a time, and where a request goes meanwhile.
    bool autodiscover = false;
    std::string autodiscover_url;
    http::gate discovery{1};
    std::optional<http::url> send_to;
    asio::awaitable<std::optional<source_error>> discover(const std::string& mailbox,
                                                          const std::string& doing);

    impl(asio::any_io_executor ex, std::shared_ptr<http::client> h, std::string u, sign_in c,
         client_limits l)
        : executor(std::move(ex)),
          http(std::move(h)),
          url(std::move(u)),
          base(http::url::parse(url)),
          credentials(std::move(c)),
          ntlm_credentials(ntlm::split_account(credentials.account, credentials.password)),
          limits(l),
          global(l.global) {}

    http::gate& mailbox_gate(const std::string& mailbox) {
        auto& g = mailboxes[encoding::lower(mailbox)];
        if (!g) g = std::make_unique<http::gate>(limits.per_mailbox);
        return *g;
    }

    std::unique_ptr<slot> take_slot() {
        while (!idle.empty()) {
            auto s = std::move(idle.back());
            idle.pop_back();
            if (s->channel.is_open()) return s;
        }
        return std::make_unique<slot>();
    }

    void give_back(std::unique_ptr<slot> s) {
        if (!s->channel.is_open()) return;
        if (idle.size() < static_cast<std::size_t>(std::max(1, limits.global))) {
            idle.push_back(std::move(s));
        }
    }

    milliseconds backoff(int attempt) {
        return http::full_jitter_backoff(
            attempt, limits.first_backoff,
            std::chrono::duration_cast<milliseconds>(limits.max_wait), random);
    }

    std::string where() const {
        if (send_to) return send_to->origin();
        return base ? base->origin() : url;
    }

    // Why nothing can be sent at all: no URL, a password or token that would cross in clear.
    std::optional<source_error> unusable(const std::string& doing) const {
        if (!base) {
            return failure(source_failure::invalid,
                           doing + ": the EWS URL '" + url + "' is not a URL");
        }
        if (base->scheme != "https" && !base->is_loopback()) {
            return failure(source_failure::invalid,
                           doing + ": refusing to sign in to " + base->origin() + " without TLS");
        }
        if (credentials.kind == sign_in::scheme::bearer && !credentials.tokens) {
            return failure(source_failure::invalid, doing + ": OAuth without a token provider");
        }
        return std::nullopt;
    }

    http::request request_for(const std::string& mailbox, const std::string& envelope,
                              bool repeatable) const {
        http::request r;
        r.method = "POST";
        r.headers.push_back({"Content-Type", std::string(soap_content_type)});
        r.headers.push_back({"Accept", "text/xml"});
        if (!mailbox.empty()) r.headers.push_back({"X-AnchorMailbox", mailbox});
        r.body = envelope;
        r.repeatable = repeatable;
        return r;
    }

    asio::awaitable<leg> send(const http::request& r, http::channel& ch, const std::string& doing,
                              streaming stream = {}) {
        ++sent;
        // Two statements, not ?: (GCC 12 miscompiles a co_await inside ?:).
        std::optional<http::result<http::response>> answer;
        if (stream.on_body) {
            answer.emplace(
                co_await http->stream(send_to ? *send_to : *base, r, ch, *stream.on_body,
                                      stream.idle_timeout));
        } else {
            answer.emplace(co_await http->send(send_to ? *send_to : *base, r, ch));
        }
        leg out;
        if (*answer) {
            out.answer = std::move(**answer);
        } else {
            out.error = failure(failure_kind_of(answer->error().kind),
                                doing + ": " + answer->error().message);
        }
        co_return out;
    }

    // NEGOTIATE → CHALLENGE → AUTHENTICATE on `s`'s connection, the last leg carrying `r`:
    // returns the answer to `r`.
    asio::awaitable<leg> ntlm_handshake(slot& s, const http::request& r, const std::string& doing,
                                        streaming stream) {
        s.signed_in = false;
        http::request negotiate = r;
        negotiate.body.clear();  // the server answers 401 before reading anything
        negotiate.repeatable = true;
        negotiate.headers.push_back(
            {"Authorization", ntlm::authorization_value(ntlm::negotiate_message())});
        leg first = co_await send(negotiate, s.channel, doing);
        if (!first.answer) co_return first;
        if (const int status = first.answer->status; status != 401) {
            first.answer.reset();
            first.error = failure(source_failure::invalid,
                                  doing + ": EWS at " + where() +
                                      " did not answer the NTLM sign-in's first step with 401 "
                                      "(it answered " +
                                      std::to_string(status) + "): is the URL right?");
            co_return first;
        }
        const offered o = read_challenges(*first.answer);
        if (!o.ntlm_token) {
            leg out;
            out.error = failure(
                source_failure::denied,
                doing + ": EWS at " + where() + " does not offer NTLM sign-in" +
                    (o.schemes.empty() ? std::string() : " (it offers " + o.schemes + ")") +
                    ": set the source's auth to what the server's EWS virtual directory allows");
            co_return out;
        }
        std::string error;
        const auto challenge = ntlm::parse_challenge(*o.ntlm_token, error);
        if (!challenge) {
            leg out;
            out.error = failure(source_failure::invalid,
                                doing + ": the NTLM challenge of " + where() + " is unreadable: " +
                                    error);
            co_return out;
        }
        if (!s.channel.is_open()) {
            leg out;
            out.error = failure(source_failure::transient,
                                doing + ": " + where() +
                                    " closed the connection in the middle of the NTLM sign-in");
            co_return out;
        }
        std::array<std::uint8_t, 8> client_challenge{};
        if (RAND_bytes(client_challenge.data(), static_cast<int>(client_challenge.size())) != 1) {
            leg out;
            out.error = failure(source_failure::transient,
                                doing + ": no random bytes for the NTLM client challenge");
            co_return out;
        }
        const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
        http::request authenticate = r;
        authenticate.headers.push_back(
            {"Authorization",
             ntlm::authorization_value(ntlm::authenticate_message(
                 *challenge, ntlm_credentials, client_challenge, ntlm::filetime_from_unix(now)))});
        ++handshakes;
        leg last = co_await send(authenticate, s.channel, doing, stream);
        if (!last.answer) co_return last;
        if (last.answer->status == 401) {
            last.answer.reset();
            last.error = failure(source_failure::denied,
                                 doing + ": EWS at " + where() + " refused the NTLM sign-in as " +
                                     credentials.account +
                                     " (wrong password, a locked or expired account, or NTLMv2 "
                                     "not accepted)");
            co_return last;
        }
        s.signed_in = true;
        co_return last;
    }

    // One attempt: the request over a slot, signed in as the scheme wants.
    asio::awaitable<leg> attempt(slot& s, const http::request& r, const std::string& doing,
                                 streaming stream = {}) {
        switch (credentials.kind) {
            case sign_in::scheme::basic: {
                http::request signed_request = r;
                signed_request.headers.push_back(
                    {"Authorization",
                     http::basic_authorization(credentials.account, credentials.password)});
                leg out = co_await send(signed_request, s.channel, doing, stream);
                if (out.answer && out.answer->status == 401) {
                    out.answer.reset();
                    out.error = failure(source_failure::denied,
                                        doing + ": EWS at " + where() +
                                            " refused the Basic sign-in as " +
                                            credentials.account +
                                            " (wrong password, or Basic authentication is off "
                                            "on the EWS virtual directory)");
                }
                co_return out;
            }
            case sign_in::scheme::bearer: {
                for (int round = 0;; ++round) {
                    const source_result<std::string> token = co_await credentials.tokens->token();
                    if (!token) {
                        leg out;
                        out.error = failure(token.error().kind, doing + ": " + token.error().message);
                        co_return out;
                    }
                    http::request signed_request = r;
                    signed_request.headers.push_back({"Authorization", "Bearer " + *token});
                    leg out = co_await send(signed_request, s.channel, doing, stream);
                    if (out.answer && out.answer->status == 401) {
                        credentials.tokens->invalidate(*token);
                        if (round == 0) continue;  // a token revoked early: one new token
                        out.answer.reset();
                        out.error = failure(source_failure::denied,
                                            doing + ": EWS at " + where() +
                                                " refused the OAuth token (is the app granted "
                                                "full_access_as_app, and is hybrid modern "
                                                "authentication enabled?)");
                    }
                    co_return out;
                }
            }
            case sign_in::scheme::ntlm: {
                if (!s.signed_in || !s.channel.is_open()) {
                    co_return co_await ntlm_handshake(s, r, doing, stream);
                }
                leg out = co_await send(r, s.channel, doing, stream);
                // A new connection (the old one closed) or a server that forgot the sign-in:
                // 401 means nothing was processed, so sign in again and send it once more.
                if (out.answer && out.answer->status == 401) {
                    co_return co_await ntlm_handshake(s, r, doing, stream);
                }
                co_return out;
            }
        }
        co_return leg{};
    }
};

// Where POX Autodiscover is asked for `email`: the configured URL, else the two the protocol
// names for its domain (https://<domain>/autodiscover/... then https://autodiscover.<domain>/...).
std::vector<std::string> autodiscover_candidates(const std::string& configured,
                                                 const std::string& email) {
    if (!configured.empty()) return {configured};
    const auto at = email.rfind('@');
    if (at == std::string::npos || at + 1 >= email.size()) return {};
    const std::string domain = encoding::lower(email.substr(at + 1));
    return {"https://" + domain + "/autodiscover/autodiscover.xml",
            "https://autodiscover." + domain + "/autodiscover/autodiscover.xml"};
}

asio::awaitable<std::optional<source_error>> ews_client::impl::discover(
    const std::string& mailbox, const std::string& doing) {
    impl& s = *this;
    co_await s.discovery.acquire();
    http::held one_at_a_time(s.discovery);
    if (s.base) co_return std::nullopt;  // found while this one waited
    std::string email = mailbox;
    std::vector<std::string> candidates = autodiscover_candidates(s.autodiscover_url, email);
    std::string last = "no Autodiscover URL to ask (set url:)";
    constexpr int max_hops = 10;  // redirects and candidates together
    for (int hop = 0; hop < max_hops && !candidates.empty(); ++hop) {
        const std::string candidate = candidates.front();
        candidates.erase(candidates.begin());
        const auto u = http::url::parse(candidate);
        if (!u || (u->scheme != "https" && !u->is_loopback())) {
            last = "'" + candidate + "' is not an https URL";
            continue;
        }
        const std::string step = doing + ": Autodiscover at " + u->origin();
        s.send_to = *u;
        const http::request r = s.request_for(email, autodiscover_request(email), true);
        auto held_slot = s.take_slot();
        leg out = co_await s.attempt(*held_slot, r, step);
        s.give_back(std::move(held_slot));
        s.send_to.reset();
        if (!out.answer) {
            if (out.error.kind == source_failure::denied) co_return out.error;
            last = out.error.message;
            continue;
        }
        if (out.answer->status != 200) {
            last = step + " answered HTTP " + std::to_string(out.answer->status);
            continue;
        }
        auto found = parse_autodiscover(out.answer->body, step);
        if (!found) {
            last = found.error();
            continue;
        }
        switch (found->action) {
            case autodiscover_result::kind::settings: {
                // agendad runs inside the organisation: the internal URL first.
                const std::string& ews = found->internal_ews_url.empty() ? found->ews_url
                                                                          : found->internal_ews_url;
                auto parsed = http::url::parse(ews);
                if (!parsed) {
                    last = step + " gave an EWS URL that is not a URL";
                    continue;
                }
                s.url = ews;
                s.base = std::move(parsed);
                co_return std::nullopt;
            }
            case autodiscover_result::kind::redirect_address:
                email = found->redirect;
                candidates = autodiscover_candidates(s.autodiscover_url, email);
                continue;
            case autodiscover_result::kind::redirect_url:
                candidates.insert(candidates.begin(), found->redirect);
                continue;
            case autodiscover_result::kind::error:
                last = step + " answered error " + found->error_code + " " + found->error_message;
                continue;
        }
    }
    co_return failure(source_failure::transient,
                      doing + ": Autodiscover found no EWS URL for " + mailbox + ": " + last);
}

ews_client::ews_client(boost::asio::any_io_executor executor, std::shared_ptr<http::client> http,
                       std::string ews_url, sign_in credentials, client_limits limits)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(http), std::move(ews_url),
                                   std::move(credentials), limits)) {}

ews_client::~ews_client() = default;

long long ews_client::requests_sent() const {
    return impl_->sent;
}
long long ews_client::throttled() const {
    return impl_->throttled;
}
long long ews_client::handshakes() const {
    return impl_->handshakes;
}
const std::string& ews_client::url() const {
    return impl_->url;
}

void ews_client::use_autodiscover(std::string autodiscover_url) {
    impl_->autodiscover = true;
    impl_->autodiscover_url = std::move(autodiscover_url);
}

bool ews_client::autodiscovers() const {
    return impl_->autodiscover;
}

std::string ews_client::describe_sign_in() const {
    const sign_in& c = impl_->credentials;
    if (c.kind == sign_in::scheme::bearer) return "OAuth";
    return std::string(scheme_name(c.kind)) + " as " + c.account;
}

boost::asio::awaitable<source_result<parsed_response>> ews_client::call(
    const std::string& mailbox, const std::string& envelope, bool repeatable,
    const std::string& doing) {
    auto self = impl_;  // the client may be destroyed while a request waits
    impl& s = *self;
    if (!s.base && s.autodiscover) {
        if (auto lost = co_await s.discover(mailbox, doing)) co_return std::move(*lost);
    }
    if (auto unusable = s.unusable(doing)) co_return std::move(*unusable);

    co_await s.mailbox_gate(mailbox).acquire();
    http::held mailbox_slot(s.mailbox_gate(mailbox));
    co_await s.global.acquire();
    http::held global_slot(s.global);

    const http::request r = s.request_for(mailbox, envelope, repeatable);
    const int max_attempts = std::max(1, s.limits.max_attempts);
    std::string last;
    for (int attempt = 1;; ++attempt) {
        auto slot = s.take_slot();
        leg out = co_await s.attempt(*slot, r, doing);
        s.give_back(std::move(slot));

        std::optional<milliseconds> wait;  // set: try again after it
        if (!out.answer) {
            if (out.error.kind != source_failure::transient || !repeatable) co_return out.error;
            last = out.error.message;
            wait = s.backoff(attempt);
        } else {
            const http::response& a = *out.answer;
            if (a.status == 200 || a.status == 500) {
                auto parsed = parse_response(a.body, doing);
                if (!parsed) {
                    co_return failure(a.status == 500 ? source_failure::transient
                                                      : source_failure::invalid,
                                      parsed.error() + " (HTTP " + std::to_string(a.status) + ")");
                }
                const std::string_view code = overall_code(*parsed);
                const code_class c = classify(code);
                const bool busy = code == "ErrorServerBusy";
                // Throttling refuses a request before it is processed: any request may go again.
                // Other transient codes only for reads.
                if (c == code_class::transient && (busy || repeatable)) {
                    if (busy) ++s.throttled;
                    std::optional<milliseconds> back_off;
                    if (parsed->fault) back_off = parsed->fault->back_off;
                    for (const auto& m : parsed->messages) {
                        if (!back_off && m.back_off) back_off = m.back_off;
                    }
                    last = "Exchange answered " + std::string(code) +
                           (back_off ? " (BackOffMilliseconds " +
                                           std::to_string(back_off->count()) + ")"
                                     : std::string());
                    if (back_off && *back_off > s.limits.max_wait) {
                        co_return failure(source_failure::transient,
                                          doing + ": " + last + ", longer than the " +
                                              std::to_string(s.limits.max_wait.count()) +
                                              " s agendad waits; trying again later");
                    }
                    wait = back_off ? *back_off : s.backoff(attempt);
                } else {
                    co_return std::move(*parsed);
                }
            } else if (a.status == 503 || a.status == 429) {
                ++s.throttled;
                last = "EWS answered " + std::to_string(a.status);
                wait = s.backoff(attempt);
                // A front end (a load balancer, IIS) that says how long to wait is waited for:
                // sooner would only be refused again.
                const auto header = a.find("Retry-After");
                const auto after =
                    header ? http::parse_retry_after(*header, std::chrono::system_clock::now())
                           : std::nullopt;
                if (after) {
                    last += " (Retry-After " + std::to_string(after->count()) + " s)";
                    if (*after > s.limits.max_wait) {
                        co_return failure(source_failure::transient,
                                          doing + ": " + last + ", longer than the " +
                                              std::to_string(s.limits.max_wait.count()) +
                                              " s agendad waits; trying again later");
                    }
                    wait = std::chrono::duration_cast<milliseconds>(*after);
                }
            } else if (a.status == 403) {
                co_return failure(source_failure::denied,
                                  doing + ": EWS at " + s.where() +
                                      " answered 403 Forbidden (is EWS allowed for the account? "
                                      "Set-CASMailbox -EwsEnabled, EWS application policies)");
            } else if (a.status == 404) {
                co_return failure(source_failure::invalid,
                                  doing + ": there is no EWS at " + s.url +
                                      " (404): the endpoint is usually "
                                      "https://<server>/EWS/Exchange.asmx");
            } else if (a.status >= 300 && a.status < 400) {
                const auto location = a.find("Location");
                co_return failure(source_failure::invalid,
                                  doing + ": EWS at " + s.url + " redirects (" +
                                      std::to_string(a.status) + ")" +
                                      (location ? " to " + std::string(*location) : "") +
                                      ": configure the URL it names");
            } else if (a.status >= 500 && repeatable) {
                last = "EWS answered " + std::to_string(a.status);
                wait = s.backoff(attempt);
            } else {
                co_return failure(a.status >= 500 ? source_failure::transient
                                                  : source_failure::invalid,
                                  doing + ": EWS at " + s.where() + " answered HTTP " +
                                      std::to_string(a.status));
            }
        }
        if (attempt >= max_attempts) {
            co_return failure(source_failure::transient,
                              doing + ": " + last + "; gave up after " + std::to_string(attempt) +
                                  " attempts, trying again later");
        }
        asio::steady_timer timer(s.executor, *wait);
        co_await timer.async_wait(with_error);
    }
}

boost::asio::awaitable<source_result<std::optional<parsed_response>>> ews_client::stream(
    const std::string& mailbox, const std::string& envelope,
    const std::function<bool(std::string_view)>& on_body, std::chrono::milliseconds idle_timeout,
    const std::string& doing) {
    auto self = impl_;
    impl& s = *self;
    if (!s.base && s.autodiscover) {
        if (auto lost = co_await s.discover(mailbox, doing)) co_return std::move(*lost);
    }
    if (auto unusable = s.unusable(doing)) co_return std::move(*unusable);
    const http::request r = s.request_for(mailbox, envelope, true);
    auto slot = s.take_slot();
    streaming how;
    how.on_body = &on_body;
    how.idle_timeout = idle_timeout;
    leg out = co_await s.attempt(*slot, r, doing, how);
    s.give_back(std::move(slot));
    if (!out.answer) co_return out.error;
    const http::response& a = *out.answer;
    if (a.status >= 200 && a.status < 300) co_return std::optional<parsed_response>();
    if (a.status == 500) {
        auto parsed = parse_response(a.body, doing);
        if (parsed) co_return std::optional<parsed_response>(std::move(*parsed));
    }
    if (a.status == 503 || a.status == 429) ++s.throttled;
    co_return failure(a.status == 401 || a.status == 403 ? source_failure::denied
                      : a.status >= 500 || a.status == 429 ? source_failure::transient
                                                           : source_failure::invalid,
                      doing + ": EWS at " + s.where() + " answered HTTP " +
                          std::to_string(a.status));
}

std::optional<source_error> fault_failure(const parsed_response& r, const std::string& doing) {
    if (!r.fault) return std::nullopt;
    const soap_fault& f = *r.fault;
    const std::string& code = f.response_code.empty() ? f.code : f.response_code;
    return ews_failure(classify(code), code, f.text, doing);
}

source_error ews_failure(code_class c, std::string_view code, std::string_view text,
                         const std::string& doing) {
    std::string message = doing + ": Exchange answered " + std::string(code);
    if (!text.empty()) message += " (" + std::string(text) + ")";
    source_failure kind = source_failure::invalid;
    switch (c) {
        case code_class::ok:
        case code_class::invalid:
        case code_class::resync:
            kind = source_failure::invalid;
            break;
        case code_class::transient:
        case code_class::resubscribe:
            kind = source_failure::transient;
            break;
        case code_class::conflict:
            kind = source_failure::conflict;
            break;
        case code_class::gone:
            kind = source_failure::gone;
            break;
        case code_class::denied:
            kind = source_failure::denied;
            if (code == "ErrorImpersonateUserDenied" || code == "ErrorImpersonationDenied") {
                message +=
                    ": the service account may not impersonate this mailbox (give it the "
                    "ApplicationImpersonation role: New-ManagementRoleAssignment -Role "
                    "ApplicationImpersonation -User <account>)";
            } else if (code == "ErrorNonExistentMailbox") {
                message += ": no such mailbox on this Exchange organisation";
            }
            break;
    }
    return source_error{kind, std::move(message)};
}

}  // namespace agendad::calendar::ews
