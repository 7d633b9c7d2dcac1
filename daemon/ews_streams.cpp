// EWS streaming notifications: a subscription and a GetStreamingEvents stream per mailbox, each
// in its own coroutine, raced against its stop signal so that a stream waiting for bytes ends
// at once when the mailbox leaves or the daemon stops. See ews_streams.h.
#include "daemon/ews_streams.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <utility>

#include "calendar/ews/soap.h"
#include "calendar/http/gate.h"
#include "daemon/log.h"

namespace agendad::daemon {
namespace {

namespace asio = boost::asio;
namespace ews = calendar::ews;
using std::chrono::milliseconds;
using namespace asio::experimental::awaitable_operators;

constexpr auto with_error = asio::as_tuple(asio::use_awaitable);

bool is_change(ews::event_kind k) {
    return k == ews::event_kind::created || k == ews::event_kind::modified ||
           k == ews::event_kind::deleted || k == ews::event_kind::moved ||
           k == ews::event_kind::copied;
}

}  // namespace

struct ews_streams::impl : std::enable_shared_from_this<impl> {
    asio::any_io_executor executor;
    ews_stream_settings settings;
    std::shared_ptr<ews::ews_client> client;
    wake_fn wake;
    std::mt19937_64 random{std::random_device{}()};

    // One mailbox's stream: its stop signal (a timer that never fires on its own).
    struct follower {
        explicit follower(const asio::any_io_executor& ex)
            : stop(ex, asio::steady_timer::time_point::max()) {}
        asio::steady_timer stop;
        bool stopping = false;
    };
    std::map<std::string, std::shared_ptr<follower>> followers;
    std::set<std::string> wanted;
    int running = 0;  // follower coroutines under way
    bool stopping = false;
    asio::steady_timer changed;  // wakes run(): the wanted set changed, or a follower ended
    int open = 0;
    long long events = 0;
    long long wakes = 0;

    impl(asio::any_io_executor ex, ews_stream_settings s, std::shared_ptr<ews::ews_client> c,
         wake_fn w)
        : executor(ex),
          settings(std::move(s)),
          client(std::move(c)),
          wake(std::move(w)),
          changed(ex, asio::steady_timer::time_point::max()) {}

    void poke() { changed.cancel(); }

    void wake_worker(const std::string& mailbox) {
        ++wakes;
        if (wake) wake(mailbox);
    }

    asio::awaitable<void> pause(milliseconds d) {
        asio::steady_timer t(executor, d);
        co_await t.async_wait(with_error);
    }

    milliseconds backoff(int failures) {
        return std::max(milliseconds{100}, calendar::http::full_jitter_backoff(
                                               failures, settings.first_retry,
                                               settings.max_retry, random));
    }

    ews::request_context context(const std::string& mailbox) const {
        ews::request_context c;
        c.mailbox = mailbox;
        c.impersonate = settings.impersonation;
        return c;
    }

    // Subscribes; the subscription id, or "" after logging why not.
    asio::awaitable<std::string> subscribe(const std::string& mailbox) {
        const std::string doing = "mailbox " + mailbox + ": streaming Subscribe";
        const std::string envelope = ews::subscribe_streaming(context(mailbox));
        auto answer = co_await client->call(mailbox, envelope, true, doing);
        if (!answer) {
            log::warning("cannot subscribe to EWS notifications",
                         {{"source", settings.source_name},
                          {"mailbox", mailbox},
                          {"error", answer.error().message}});
            co_return std::string();
        }
        auto sub = ews::read_subscribe(*answer, doing);
        if (!sub) {
            log::warning("cannot subscribe to EWS notifications",
                         {{"source", settings.source_name},
                          {"mailbox", mailbox},
                          {"error", sub.error()}});
            co_return std::string();
        }
        if (ews::classify(sub->message.code) != ews::code_class::ok) {
            log::warning("cannot subscribe to EWS notifications",
                         {{"source", settings.source_name},
                          {"mailbox", mailbox},
                          {"error", sub->message.code + " " + sub->message.text}});
            co_return std::string();
        }
        co_return sub->id;
    }

    // Follows one mailbox until stopped (the race in run() ends it).
    asio::awaitable<void> follow(const std::string& mailbox, const follower& me) {
        int failures = 0;
        while (!me.stopping) {
            const std::string id = co_await subscribe(mailbox);
            if (me.stopping) break;
            if (id.empty()) {
                co_await pause(backoff(++failures));
                continue;
            }
            log::debug("EWS streaming subscription",
                       {{"source", settings.source_name}, {"mailbox", mailbox}, {"id", id}});
            bool resubscribe = false;
            while (!resubscribe && !me.stopping) {
                ews::envelope_splitter splitter;
                bool closed = false;
                std::string problem;
                const std::string doing = "mailbox " + mailbox + ": GetStreamingEvents";
                const std::function<bool(std::string_view)> on_body =
                    [&](std::string_view bytes) {
                        auto documents = splitter.feed(bytes);
                        if (!documents) {
                            problem = documents.error();
                            return false;
                        }
                        bool woke = false;
                        for (const std::string& d : *documents) {
                            auto parsed = ews::parse_response(d, doing);
                            if (!parsed) {
                                problem = parsed.error();
                                return false;
                            }
                            auto read = ews::read_streaming_events(*parsed, doing);
                            if (!read) {
                                problem = read.error();
                                return false;
                            }
                            for (const auto& m : read->messages) {
                                const auto c = ews::classify(m.message.code);
                                if (c == ews::code_class::resubscribe) {
                                    resubscribe = true;
                                    return false;
                                }
                                if (c != ews::code_class::ok) {
                                    problem = m.message.code + " " + m.message.text;
                                    return false;
                                }
                                if (m.connection_status == "Closed") closed = true;
                                for (const auto& n : m.notifications) {
                                    for (const auto& e : n.events) {
                                        if (!is_change(e.kind)) continue;
                                        ++events;
                                        woke = true;
                                    }
                                }
                            }
                        }
                        if (woke) wake_worker(mailbox);
                        return true;
                    };
                const std::string envelope = ews::get_streaming_events(
                    context(mailbox), {id}, settings.connection_minutes);
                ++open;
                auto ended = co_await client->stream(mailbox, envelope, on_body,
                                                     settings.idle_timeout, doing);
                --open;
                if (me.stopping) break;  // cancelled: the mailbox left, or the daemon stops
                if (resubscribe) break;
                if (ended && !*ended && problem.empty()) {
                    // Exchange closed the stream at its timeout (or just ended it): ask again.
                    failures = 0;
                    if (!closed) wake_worker(mailbox);  // ended early: something may be missed
                    continue;
                }
                if (ended && *ended) {
                    // A SOAP answer instead of a stream.
                    const std::string code(ews::overall_code(**ended));
                    if (ews::classify(code) == ews::code_class::resubscribe) break;
                    problem = code;
                }
                if (!ended) problem = ended.error().message;
                log::warning("EWS notification stream broke; reconnecting",
                             {{"source", settings.source_name},
                              {"mailbox", mailbox},
                              {"error", problem}});
                wake_worker(mailbox);  // what happened meanwhile is read by a sync round
                co_await pause(backoff(++failures));
            }
        }
    }

    void start_follower(const std::string& mailbox) {
        auto f = std::make_shared<follower>(executor);
        followers[mailbox] = f;
        ++running;
        auto self = shared_from_this();
        asio::co_spawn(
            executor,
            [self, f, mailbox]() -> asio::awaitable<void> {
                // Whichever ends first cancels the other: the stop signal ends a stream that is
                // waiting for bytes at once.
                co_await (self->follow(mailbox, *f) || f->stop.async_wait(with_error));
            },
            [self, mailbox, f](std::exception_ptr e) {
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& ex) {
                        log::error("EWS notifications stopped for a mailbox",
                                   {{"mailbox", mailbox}, {"error", ex.what()}});
                    }
                }
                --self->running;
                const auto it = self->followers.find(mailbox);
                if (it != self->followers.end() && it->second == f) self->followers.erase(it);
                self->poke();
            });
    }

    void reconcile() {
        for (auto& [mailbox, f] : followers) {
            if ((stopping || !wanted.count(mailbox)) && !f->stopping) {
                f->stopping = true;
                f->stop.cancel();
            }
        }
        if (stopping) return;
        for (const auto& mailbox : wanted) {
            if (!followers.count(mailbox)) start_follower(mailbox);
        }
    }
};

ews_streams::ews_streams(boost::asio::any_io_executor executor, ews_stream_settings settings,
                         std::shared_ptr<calendar::ews::ews_client> client, wake_fn wake)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(settings), std::move(client),
                                   std::move(wake))) {}

ews_streams::~ews_streams() = default;

void ews_streams::set_mailboxes(const std::vector<std::string>& mailboxes) {
    impl_->wanted = std::set<std::string>(mailboxes.begin(), mailboxes.end());
    impl_->poke();
}

boost::asio::awaitable<void> ews_streams::run() {
    auto self = impl_;
    for (;;) {
        self->reconcile();
        if (self->stopping && self->running == 0) break;
        self->changed.expires_at(asio::steady_timer::time_point::max());
        co_await self->changed.async_wait(with_error);
    }
}

void ews_streams::stop() {
    impl_->stopping = true;
    impl_->poke();
}

int ews_streams::open_streams() const {
    return impl_->open;
}
long long ews_streams::events() const {
    return impl_->events;
}
long long ews_streams::wakes() const {
    return impl_->wakes;
}

}  // namespace agendad::daemon
