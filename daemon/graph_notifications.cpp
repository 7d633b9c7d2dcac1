#include "daemon/graph_notifications.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "calendar/graph/subscriptions.h"
#include "daemon/http_listener.h"
#include "daemon/log.h"

namespace agendad::daemon {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace graph = calendar::graph;
using steady = std::chrono::steady_clock;

constexpr std::size_t max_validation_token = 4096;
// A notification body holds at most a few hundred small items; Graph batches them.
constexpr std::size_t max_request_bytes = std::size_t{1} << 20;

std::string_view path_of(std::string_view target) {
    return target.substr(0, target.find('?'));
}

// The value of `name` in the query string of `target`, decoded; nullopt when absent or broken.
std::optional<std::string> query_value(std::string_view target, std::string_view name) {
    const auto question = target.find('?');
    if (question == std::string_view::npos) return std::nullopt;
    std::string_view query = target.substr(question + 1);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == name)
            return eq == std::string_view::npos ? std::string()
                                                : percent_decode(pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        query.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

}  // namespace

struct graph_notifications::impl : std::enable_shared_from_this<graph_notifications::impl> {
    struct mailbox_state {
        std::optional<graph::subscription> sub;
        bool renew_now = false;
        int failures = 0;
        steady::time_point retry_at{};
    };

    impl(asio::any_io_executor ex, graph_notification_settings s,
         std::shared_ptr<graph::graph_client> c, wake_fn w,
         std::function<std::chrono::sys_seconds()> n)
        : executor(ex),
          settings(std::move(s)),
          client(std::move(c)),
          wake(std::move(w)),
          now(std::move(n)),
          timer(ex),
          listener(ex,
                   listener_options{
                       "the Graph notification listener (source '" + settings.source_name + "')",
                       settings.listen, max_request_bytes, std::chrono::seconds{10}},
                   [this](const http_request& req) { return handle(req); }) {}

    asio::any_io_executor executor;
    graph_notification_settings settings;
    std::shared_ptr<graph::graph_client> client;
    wake_fn wake;
    std::function<std::chrono::sys_seconds()> now;
    asio::steady_timer timer;
    http_listener listener;
    std::set<std::string> wanted;
    std::map<std::string, mailbox_state> mailboxes;      // by address
    std::map<std::string, std::string> by_subscription;  // subscription id → mailbox
    bool stopped = false;
    bool kicked = false;
    long long accepted = 0;
    long long refused = 0;

    std::string notification_url() const { return settings.public_url + "/notifications"; }
    std::string lifecycle_url() const { return settings.public_url + "/lifecycle"; }

    void kick() {
        kicked = true;
        timer.cancel();
    }

    http_reply handle(const http_request& req) {
        const std::string_view target(req.target().data(), req.target().size());
        const std::string_view path = path_of(target);
        const bool lifecycle = path.ends_with("/lifecycle");
        if (!lifecycle && !path.ends_with("/notifications"))
            return text_reply(http::status::not_found, "not found\n");
        if (req.method() != http::verb::post) {
            http_reply r = text_reply(http::status::method_not_allowed, "only POST\n");
            r.headers.emplace_back(http::field::allow, "POST");
            return r;
        }
        // The validation handshake: Graph checks that the URL is ours before it subscribes.
        if (auto token = query_value(target, "validationToken")) {
            if (token->size() > max_validation_token)
                return text_reply(http::status::bad_request, "validationToken too long\n");
            http_reply r = text_reply(http::status::ok, std::move(*token));
            r.content_type = "text/plain";
            return r;
        }
        std::string error;
        const auto items = graph::parse_notifications(req.body(), error);
        if (!items) {
            log::warning("Graph notification refused",
                         {{"source", settings.source_name}, {"error", error}});
            return text_reply(http::status::bad_request, error + "\n");
        }
        for (const graph::notification& n : *items) take(n);
        // Acknowledged at once: the delta round runs on the worker, not in this answer.
        return text_reply(http::status::accepted, "");
    }

    void take(const graph::notification& n) {
        const auto found = by_subscription.find(n.subscription_id);
        if (found == by_subscription.end() || !same_secret(n.client_state, settings.client_state)) {
            ++refused;
            log::warning("Graph notification ignored: unknown subscription or wrong clientState",
                         {{"source", settings.source_name}, {"subscription", n.subscription_id}});
            return;
        }
        const std::string mailbox = found->second;
        if (n.lifecycle_event.empty() || n.lifecycle_event == "missed") {
            ++accepted;
            wake(mailbox);
            return;
        }
        auto& m = mailboxes[mailbox];
        log::info("Graph lifecycle notification", {{"mailbox", mailbox},
                                                   {"event", n.lifecycle_event},
                                                   {"subscription", n.subscription_id}});
        if (n.lifecycle_event == "subscriptionRemoved") {
            by_subscription.erase(n.subscription_id);
            m.sub.reset();
            m.retry_at = {};
        } else {
            // reauthorizationRequired, and anything newer: renewing reauthorizes.
            m.renew_now = true;
        }
        // Changes may have been missed while the subscription was in trouble.
        wake(mailbox);
        kick();
    }

    void forget(const std::string& mailbox) {
        auto it = mailboxes.find(mailbox);
        if (it == mailboxes.end()) return;
        if (it->second.sub) by_subscription.erase(it->second.sub->id);
        mailboxes.erase(it);
    }

    void failed(mailbox_state& m, const std::string& mailbox, const calendar::source_error& e,
                std::string_view doing) {
        ++m.failures;
        const auto wait = std::min<std::chrono::seconds>(
            std::chrono::seconds{60} * (1 << std::min(m.failures, 6)), std::chrono::hours{1});
        m.retry_at = steady::now() + wait;
        log::warning(doing, {{"mailbox", mailbox},
                             {"error", e.message},
                             {"retry_in_seconds", std::to_string(wait.count())}});
    }

    asio::awaitable<void> maintain() {
        // Mailboxes no longer watched: their subscriptions go.
        std::vector<std::string> gone;
        for (const auto& [mailbox, m] : mailboxes) {
            if (!wanted.count(mailbox)) gone.push_back(mailbox);
        }
        for (const std::string& mailbox : gone) {
            auto it = mailboxes.find(mailbox);
            if (it == mailboxes.end()) continue;
            const std::optional<graph::subscription> sub = it->second.sub;
            forget(mailbox);
            if (sub) co_await graph::unsubscribe(*client, *sub);
        }
        const std::vector<std::string> names(wanted.begin(), wanted.end());
        for (const std::string& mailbox : names) {
            if (stopped) co_return;
            if (!wanted.count(mailbox)) continue;
            mailbox_state& m = mailboxes[mailbox];
            if (steady::now() < m.retry_at) continue;
            const auto t = now();
            if (!m.sub) {
                graph::subscription_request r{mailbox, notification_url(), lifecycle_url(),
                                              settings.client_state};
                auto made = co_await graph::subscribe(*client, r, t);
                mailbox_state& after = mailboxes[mailbox];
                if (!made) {
                    failed(after, mailbox, made.error(), "cannot subscribe to Graph notifications");
                    continue;
                }
                after = mailbox_state{};
                after.sub = *made;
                by_subscription[made->id] = mailbox;
                log::info("subscribed to Graph notifications",
                          {{"mailbox", mailbox},
                           {"subscription", made->id},
                           {"expires", graph::iso8601(made->expires)}});
                // Whatever changed before the subscription existed is read now.
                wake(mailbox);
                continue;
            }
            if (!m.renew_now && m.sub->expires - t > settings.renew_before) continue;
            const graph::subscription old = *m.sub;
            auto renewed = co_await graph::renew(*client, old, t);
            mailbox_state& after = mailboxes[mailbox];
            if (renewed) {
                after.sub = *renewed;
                after.renew_now = false;
                after.failures = 0;
                continue;
            }
            if (renewed.error().kind == calendar::source_failure::gone) {
                // Graph dropped it: make a new one on the next look, at once.
                by_subscription.erase(old.id);
                after.sub.reset();
                after.retry_at = {};
                kick();
                continue;
            }
            failed(after, mailbox, renewed.error(), "cannot renew the Graph subscription");
        }
    }

    asio::awaitable<void> run(std::shared_ptr<impl> self) {
        while (!stopped) {
            kicked = false;
            co_await maintain();
            if (stopped || kicked) continue;
            timer.expires_after(settings.check_every);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        // A clean shutdown leaves no subscription behind at Microsoft.
        std::vector<graph::subscription> left;
        for (const auto& [mailbox, m] : mailboxes) {
            if (m.sub) left.push_back(*m.sub);
        }
        for (const graph::subscription& s : left) co_await graph::unsubscribe(*client, s);
        (void)self;
    }
};

graph_notifications::graph_notifications(asio::any_io_executor executor,
                                         graph_notification_settings settings,
                                         std::shared_ptr<graph::graph_client> client, wake_fn wake,
                                         std::function<std::chrono::sys_seconds()> now)
    : impl_(std::make_shared<impl>(std::move(executor), std::move(settings), std::move(client),
                                   std::move(wake), std::move(now))) {}

graph_notifications::~graph_notifications() {
    impl_->listener.stop();
}

boost::system::result<void, std::string> graph_notifications::start() {
    return impl_->listener.start();
}

void graph_notifications::set_mailboxes(const std::vector<std::string>& mailboxes) {
    impl_->wanted = std::set<std::string>(mailboxes.begin(), mailboxes.end());
    impl_->kick();
}

asio::awaitable<void> graph_notifications::run() {
    co_await impl_->run(impl_);
}

void graph_notifications::stop() {
    impl_->stopped = true;
    impl_->listener.stop();
    impl_->timer.cancel();
}

unsigned short graph_notifications::port() const {
    return impl_->listener.port();
}

int graph_notifications::subscribed() const {
    return static_cast<int>(impl_->by_subscription.size());
}

long long graph_notifications::notifications() const {
    return impl_->accepted;
}

long long graph_notifications::rejected() const {
    return impl_->refused;
}

}  // namespace agendad::daemon
