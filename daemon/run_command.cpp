// `agendad run`: the daemon. One coroutine per mailbox on one io_context; SIGTERM drains,
// SIGHUP reloads (validated to the side, swapped only if valid); systemd is told READY,
// RELOADING, STOPPING and fed its watchdog.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/rand.h>
#include <stdlib.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "config/daemon_config.h"
#include "daemon/cli.h"
#include "daemon/directory.h"
#include "daemon/ews_streams.h"
#include "daemon/graph_notifications.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/sd_notify.h"
#include "daemon/sources.h"
#include "daemon/status_server.h"
#include "daemon/store.h"
#include "daemon/time_arg.h"
#include "daemon/worker.h"

namespace agendad::daemon {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

constexpr std::string_view run_usage = R"(Usage:
  agendad run [--config FILE] [--once] [--now TIME]
  agendad run --demo [--state-dir DIR] [--once] [--now TIME]

Watches every mailbox of the configuration: reads the calendar, decides each new or changed
invitation with the mailbox's policy, journals the decision, and carries it out (enforce) or only
journals it (dry-run, the default for a new mailbox). Every action happens exactly once, also
across crashes and restarts: the journal in the state directory remembers.

Options:
  --config FILE  the configuration (default /etc/agendad/agendad.yaml); check it first with
                 `agendad check FILE`
  --demo         run the embedded default instead: the shipped sample mailbox
                 (alex.morgan@fabrikam.example, a folder of .ics files) in dry-run, with a fresh
                 state directory under /tmp; the clock starts at the samples' reference time
                 2026-11-20T09:00:00Z unless --now says otherwise
  --state-dir DIR  with --demo: keep the demo's journal in DIR instead of a new folder in /tmp
  --once         one pass over every mailbox (group entries: their members, listed once),
                 then exit (status 0 when every mailbox synced and every group was read)
  --now TIME     start the clock at TIME, e.g. 2026-11-20T09:00:00Z (demos and tests)
  -h, --help     this help

While it runs (not with --once), the status listener (status.listen in the configuration,
127.0.0.1:9187 by default) serves /healthz, /metrics (Prometheus) and /v1/decisions.

Signals: SIGTERM/SIGINT stop after the pass under way (at most 30 s); SIGHUP reloads the
configuration and its policies, and keeps the running one if the new one has problems (the
status listener's address and token change only at restart).
List what was decided with `agendad decisions`; take one back with `agendad undo ID`.
)";

struct run_options {
    std::string config = std::string(config::default_config_path);
    bool demo = false;
    bool once = false;
    std::optional<calendar::time_point> now;
    std::string state_dir;  // --demo only
};

fs::path samples_dir() {
    // Installed, or in the source tree (running from a build directory).
    for (const fs::path& p :
         {fs::path(AGENDAD_INSTALLED_SAMPLES_DIR), fs::path(AGENDAD_SOURCE_SAMPLES_DIR)}) {
        std::error_code ec;
        if (fs::is_directory(p, ec)) return p;
    }
    return AGENDAD_SOURCE_SAMPLES_DIR;
}

config::daemon_config_load load(const run_options& opt, std::ostream& err) {
    if (!opt.demo) return config::load_daemon_config_file(opt.config);
    char pattern[] = "/tmp/agendad-demo-XXXXXX";
    const char* dir = opt.state_dir.empty() ? ::mkdtemp(pattern) : opt.state_dir.c_str();
    config::daemon_config_load out;
    if (!dir) {
        out.errors.push_back(
            diagnostic{"/tmp", 0, 0, "cannot create a state directory for the demo"});
        return out;
    }
    out.config = config::demo_config(samples_dir(), dir);
    err << "agendad: demo: sample mailbox from " << samples_dir().string() << ", state in " << dir
        << " (agendad decisions --state-dir " << dir << " lists what was decided)\n";
    return out;
}

// A mailbox's worker, and the entry of the configuration its settings come from.
struct running_worker {
    std::unique_ptr<mailbox_worker> worker;
    int group = -1;        // -1: an address entry; else the index of its group entry
    bool leaving = false;  // stopped because it is no longer wanted here; ends after its pass
};

// One generation of workers, built from one configuration.
struct generation {
    config::daemon_config config;
    std::unique_ptr<source_factory> sources;  // shared clients of the sources, for new members
    std::map<std::string, running_worker> workers;  // by address
    // Per group entry (config.groups): its members as last listed (nullopt until read once),
    // and the timer of its next listing.
    std::vector<std::optional<std::vector<std::string>>> members;
    std::vector<std::unique_ptr<asio::steady_timer>> group_timers;
    // Change feeds, by source name: Graph change notifications of the Graph sources that have
    // them, streaming notifications of the EWS sources that use them.
    std::map<std::string, std::unique_ptr<change_feed>> notifications;
    int running = 0;       // worker and group coroutines under way
    bool closing = false;  // stopping, or making way for a reload: nothing new starts
};

class supervisor {
  public:
    supervisor(asio::io_context& io, run_options opt, std::unique_ptr<store> db, clock clk)
        : io_(io),
          opt_(std::move(opt)),
          db_(std::move(db)),
          clock_(clk),
          signals_(io, SIGINT, SIGTERM, SIGHUP),
          drain_(io),
          watchdog_(io) {}

    // Builds the workers of `cfg`; false (with the reasons logged) when it cannot. Group
    // entries are listed once it runs: their members join as they are known.
    bool start(config::daemon_config cfg) {
        auto next = std::make_unique<generation>();
        next->config = std::move(cfg);
        next->sources = std::make_unique<source_factory>(
            io_.get_executor(), [this] { return clock_.now(); }, next->config.history_window);
        generation& g = *next;
        for (const auto& entry : g.config.groups) {
            // The Graph client now, so that credentials that cannot work stop the start as
            // they do for an address entry.
            std::string error;
            if (!g.sources->graph_client_for(g.config.sources.at(entry.source), error)) {
                log::error("cannot watch group", {{"group", entry.group}, {"error", error}});
                return false;
            }
            if (!policy_for(g, entry.policy)) {
                log::error("cannot watch group",
                           {{"group", entry.group}, {"error", "no policy " + entry.policy}});
                return false;
            }
        }
        g.members.resize(g.config.groups.size());
        g.group_timers.resize(g.config.groups.size());
        for (const auto& m : g.config.mailboxes) {
            if (!add_worker(g, m, -1)) return false;
        }
        if (!status_ && !opt_.once && !start_status_listener(g.config)) return false;
        if (!opt_.once && !start_notifications(g)) return false;
        current_ = std::move(next);
        for (auto& [address, w] : current_->workers) spawn(*current_, w);
        for (std::size_t i = 0; i < current_->config.groups.size(); ++i) spawn_group(*current_, i);
        for (auto& [name, hub] : current_->notifications) spawn_notifications(*current_, *hub);
        update_subscriptions(*current_);
        report_watching(*current_);
        const auto count = std::to_string(current_->workers.size());
        const auto groups = current_->config.groups.size();
        if (groups == 0) {
            log::info("watching", {{"mailboxes", count}, {"config", current_->config.source_file}});
        } else {
            log::info("watching", {{"mailboxes", count},
                                   {"groups", std::to_string(groups)},
                                   {"config", current_->config.source_file}});
        }
        sd_notify("READY=1\n" + status_line(*current_));
        return true;
    }

    void listen_for_signals() {
        signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
            if (ec) return;
            if (signal == SIGHUP) {
                reload();
                listen_for_signals();
                return;
            }
            log::info("stopping", {{"signal", signal == SIGTERM ? "TERM" : "INT"}});
            sd_notify("STOPPING=1");
            stop_all();
            // A bounded drain: the pass under way may finish, but not forever.
            drain_.expires_after(std::chrono::seconds{30});
            drain_.async_wait([this](const boost::system::error_code& e) {
                if (!e) {
                    log::warning("drain took too long; stopping now");
                    io_.stop();
                }
            });
        });
    }

    void feed_watchdog() {
        const auto interval = watchdog_interval();
        if (!interval) return;
        watchdog_.expires_after(*interval / 2);
        watchdog_.async_wait([this](const boost::system::error_code& ec) {
            if (ec) return;
            sd_notify("WATCHDOG=1");
            feed_watchdog();
        });
    }

    int exit_status() const { return failed_once_ ? exit_input_errors : exit_ok; }

  private:
    // The status listener lives as long as the daemon; a reload that changes it is refused
    // for that part (see reload()).
    bool start_status_listener(const config::daemon_config& cfg) {
        if (cfg.status_listen.empty()) return true;
        status_options options;
        options.listen = cfg.status_listen;
        if (cfg.status_token) options.token = cfg.status_token->value;
        status_ = std::make_unique<status_server>(io_.get_executor(), options, metrics_, *db_,
                                                  [this] { return clock_.now(); });
        if (auto started = status_->start(); !started) {
            log::error("cannot start the status listener",
                       {{"listen", cfg.status_listen}, {"error", started.error()}});
            status_.reset();
            return false;
        }
        log::info("status listener",
                  {{"listen", cfg.status_listen}, {"port", std::to_string(status_->port())}});
        return true;
    }

    // The notification listener of each Graph source that has `notifications:`; its
    // subscriptions follow the source's watched mailboxes (update_subscriptions).
    bool start_notifications(generation& g) {
        for (const auto& [name, source] : g.config.sources) {
            if (source.kind != config::source_kind::graph || !source.graph.notifications) continue;
            const auto& n = *source.graph.notifications;
            std::string error;
            auto client = g.sources->graph_client_for(source, error);
            if (!client) {
                log::error("cannot start Graph notifications",
                           {{"source", name}, {"error", error}});
                return false;
            }
            graph_notification_settings settings;
            settings.source_name = name;
            settings.listen = n.listen;
            settings.public_url = n.public_url;
            settings.client_state = n.client_state ? n.client_state->value : random_client_state();
            generation* gp = &g;
            auto hub = std::make_unique<graph_notifications>(
                io_.get_executor(), settings, client,
                [gp](const std::string& mailbox) {
                    const auto it = gp->workers.find(mailbox);
                    if (it != gp->workers.end() && !it->second.leaving) it->second.worker->wake();
                },
                [this] { return clock_.now(); });
            if (auto started = hub->start(); !started) {
                log::error("cannot start Graph notifications",
                           {{"source", name}, {"error", started.error()}});
                return false;
            }
            log::info("Graph notification listener", {{"source", name},
                                                      {"listen", n.listen},
                                                      {"public_url", n.public_url},
                                                      {"port", std::to_string(hub->port())}});
            g.notifications[name] = std::move(hub);
        }
        for (const auto& [name, source] : g.config.sources) {
            if (source.kind != config::source_kind::ews || !source.ews.streaming) continue;
            if (!source.ews.impersonation) {
                log::info("EWS source polled only: Exchange streams no notifications to a "
                          "delegate",
                          {{"source", name}});
                continue;
            }
            std::string error;
            auto client = g.sources->ews_client_for(source, error);
            if (!client) {
                log::error("cannot start EWS notifications", {{"source", name}, {"error", error}});
                return false;
            }
            ews_stream_settings settings;
            settings.source_name = name;
            settings.impersonation = source.ews.impersonation;
            generation* gp = &g;
            g.notifications[name] = std::make_unique<ews_streams>(
                io_.get_executor(), settings, client, [gp](const std::string& mailbox) {
                    const auto it = gp->workers.find(mailbox);
                    if (it != gp->workers.end() && !it->second.leaving) it->second.worker->wake();
                });
            log::info("EWS streaming notifications", {{"source", name}});
        }
        return true;
    }

    // 32 random bytes in hex: Graph echoes it in every notification, so only Graph knows it.
    static std::string random_client_state() {
        unsigned char bytes[32];
        if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no randomness");
        static constexpr char hex[] = "0123456789abcdef";
        std::string out;
        for (unsigned char b : bytes) {
            out += hex[b >> 4];
            out += hex[b & 0xF];
        }
        return out;
    }

    void spawn_notifications(generation& g, change_feed& hub) {
        ++g.running;
        generation* gp = &g;
        asio::co_spawn(io_, hub.run(), [this, gp](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::error("change notifications stopped", {{"error", ex.what()}});
                }
            }
            if (--gp->running == 0) finished(gp);
        });
    }

    // Each notification listener keeps subscriptions for its source's watched mailboxes.
    static void update_subscriptions(generation& g) {
        for (auto& [name, hub] : g.notifications) {
            std::vector<std::string> mailboxes;
            for (const auto& [address, w] : g.workers) {
                if (!w.leaving && w.worker->setup().mailbox.source == name)
                    mailboxes.push_back(address);
            }
            hub->set_mailboxes(mailboxes);
        }
    }

    static const policy::policy* policy_for(const generation& g, const std::string& name) {
        // The loaded configuration holds every policy a mailbox names, the built-in one included.
        const auto it = g.config.policies.find(name);
        return it == g.config.policies.end() ? nullptr : &it->second;
    }

    // Makes the worker of mailbox `m` (an address entry, or group `group`'s entry with a
    // member's address) in `g`, not yet running; false with the reason logged.
    bool add_worker(generation& g, const config::mailbox_config& m, int group) {
        const auto& source_cfg = g.config.sources.at(m.source);
        std::string error;
        auto source = g.sources->make(source_cfg, m, error);
        if (!source) {
            log::error("cannot watch mailbox", {{"mailbox", m.address}, {"error", error}});
            return false;
        }
        mailbox_setup setup;
        setup.mailbox = m;
        setup.policy = policy_for(g, m.policy);
        if (!setup.policy) {
            log::error("cannot watch mailbox",
                       {{"mailbox", m.address}, {"error", "no policy " + m.policy}});
            return false;
        }
        setup.mode = config::effective_mode(g.config, m);
        setup.agenda_deadline_hours =
            m.agenda_deadline_hours.value_or(g.config.agenda_deadline_hours);
        setup.max_declines_per_hour =
            m.max_declines_per_hour.value_or(g.config.max_declines_per_hour);
        setup.poll = config::poll_interval(source_cfg);
        running_worker w;
        w.worker = std::make_unique<mailbox_worker>(std::move(setup), std::move(source), *db_,
                                                    clock_, &metrics_);
        w.group = group;
        g.workers.insert_or_assign(m.address, std::move(w));
        return true;
    }

    void spawn(generation& g, running_worker& rw) {
        ++g.running;
        generation* gp = &g;
        mailbox_worker* w = rw.worker.get();
        asio::co_spawn(io_, run_worker(*w), [this, gp, w](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::error("mailbox worker stopped",
                               {{"mailbox", w->address()}, {"error", ex.what()}});
                }
            }
            worker_finished(gp, w);
        });
    }

    void worker_finished(generation* g, mailbox_worker* w) {
        const auto it = g->workers.find(w->address());
        if (!g->closing && it != g->workers.end() && it->second.worker.get() == w &&
            it->second.leaving) {
            // Let it go once its coroutine is fully done, then start whatever its address now
            // calls for (another group's settings, say).
            asio::post(io_, [this, g, address = w->address()] {
                const auto left = g->workers.find(address);
                if (left != g->workers.end() && left->second.leaving) g->workers.erase(left);
                reconcile(*g);
            });
        }
        if (--g->running == 0) finished(g);
    }

    asio::awaitable<void> run_worker(mailbox_worker& w) {
        if (opt_.once) {
            const pass_report r = co_await w.pass();
            if (!r.synced) failed_once_ = true;
            co_return;
        }
        co_await w.run(false);
    }

    // Lists group `index` of `g` now and then every group_refresh (after a failure sooner, with
    // a growing delay), and lets reconcile() start and stop its members' workers.
    void spawn_group(generation& g, std::size_t index) {
        ++g.running;
        g.group_timers[index] = std::make_unique<asio::steady_timer>(io_);
        generation* gp = &g;
        asio::co_spawn(io_, watch_group(gp, index), [this, gp, index](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::error("group watch stopped",
                               {{"group", gp->config.groups[index].group}, {"error", ex.what()}});
                }
            }
            if (--gp->running == 0) finished(gp);
        });
    }

    asio::awaitable<void> watch_group(generation* g, std::size_t index) {
        const config::mailbox_config& entry = g->config.groups[index];
        const config::source_config& source = g->config.sources.at(entry.source);
        const std::string source_name = "source '" + source.name + "'";
        const std::chrono::seconds refresh = source.graph.group_refresh;
        std::chrono::seconds retry{30};
        while (!g->closing) {
            std::string error;
            const auto client = g->sources->graph_client_for(source, error);
            if (!client) {  // checked at start; kept for safety
                log::error("cannot read group", {{"group", entry.group}, {"error", error}});
                co_return;
            }
            const auto listed = co_await list_group_members(client, entry.group, source_name);
            if (g->closing) break;
            std::chrono::seconds wait = refresh;
            if (listed) {
                std::vector<std::string> addresses;
                addresses.reserve(listed->size());
                for (const auto& m : *listed) addresses.push_back(m.address);
                const membership_change change = compare_members(g->members[index], addresses);
                const bool first = !g->members[index].has_value();
                g->members[index] = std::move(addresses);
                if (first || !change.joined.empty() || !change.left.empty()) {
                    log::info("group members",
                              {{"group", entry.group},
                               {"source", source.name},
                               {"members", std::to_string(g->members[index]->size())},
                               {"joined", std::to_string(change.joined.size())},
                               {"left", std::to_string(change.left.size())}});
                }
                retry = std::chrono::seconds{30};
                reconcile(*g);
            } else {
                wait = std::min(retry, refresh);
                retry = std::min(retry * 2, refresh);
                log::error("cannot read group; its mailboxes keep running, retrying",
                           {{"group", entry.group},
                            {"source", source.name},
                            {"kind", std::string(calendar::name_of(listed.error().kind))},
                            {"error", listed.error().message},
                            {"retry_in_seconds", std::to_string(wait.count())}});
                if (opt_.once) failed_once_ = true;
            }
            if (opt_.once) break;
            auto& timer = *g->group_timers[index];
            timer.expires_after(wait);
            const auto waited = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            if (std::get<0>(waited)) break;  // cancelled: the generation closes
        }
    }

    // Starts the workers of mailboxes now wanted and stops those no longer wanted (or wanted
    // with another entry's settings: they start again once their last pass is over). Their
    // journal stays.
    void reconcile(generation& g) {
        if (g.closing || &g != current_.get()) return;
        const auto wanted = wanted_mailboxes(g.config, g.members);
        for (auto& [address, rw] : g.workers) {
            if (rw.leaving) continue;
            const auto it = wanted.find(address);
            if (it != wanted.end() && it->second.group == rw.group) continue;
            rw.leaving = true;
            rw.worker->stop();
            log::info(
                it == wanted.end() ? "mailbox no longer watched" : "mailbox moves to another entry",
                {{"mailbox", address}, {"was", entry_name(g, rw.group)}});
        }
        for (const auto& [address, w] : wanted) {
            if (g.workers.count(address)) continue;  // watched, or finishing its last pass
            if (!add_worker(g, w.mailbox, w.group)) continue;
            spawn(g, g.workers.at(address));
            log::info("watching mailbox", {{"mailbox", address}, {"as", entry_name(g, w.group)}});
        }
        report_watching(g);
        update_subscriptions(g);
        sd_notify(status_line(g));
    }

    static std::string entry_name(const generation& g, int group) {
        return group < 0
                   ? std::string("address entry")
                   : "member of group " + g.config.groups[static_cast<std::size_t>(group)].group;
    }

    static std::string status_line(const generation& g) {
        std::size_t watched = 0;
        for (const auto& [address, w] : g.workers) {
            if (!w.leaving) ++watched;
        }
        return "STATUS=watching " + std::to_string(watched) + " mailbox(es)";
    }

    // The mailboxes watched, for /metrics and /healthz.
    void report_watching(const generation& g) {
        std::vector<std::string> addresses;
        std::chrono::seconds fastest_poll{std::chrono::hours{1}};
        for (const auto& [address, w] : g.workers) {
            if (w.leaving) continue;
            addresses.push_back(address);
            fastest_poll = std::min(fastest_poll, w.worker->setup().poll);
        }
        metrics_.watching(addresses, fastest_poll, clock_.now());
    }

    // Nothing new starts in `g`; its workers end after their pass, its group listings now.
    static void close(generation& g) {
        g.closing = true;
        for (auto& [address, w] : g.workers) w.worker->stop();
        for (auto& timer : g.group_timers) {
            if (timer) timer->cancel();
        }
        // Their loops delete the subscriptions, then end.
        for (auto& [name, hub] : g.notifications) hub->stop();
    }

    void stop_all() {
        stopping_ = true;
        if (current_) close(*current_);
        signals_.cancel();
    }

    // Every worker and group listing of generation `g` has returned.
    void finished(generation* g) {
        if (g != current_.get()) return;
        if (pending_.has_value()) {  // a reload: start the new generation
            auto next = std::move(*pending_);
            pending_.reset();
            retired_.push_back(std::move(current_));
            if (!start(std::move(next))) {
                log::error("the reloaded configuration cannot run; stopping");
                io_.stop();
            }
            return;
        }
        // --once, or stopping: nothing is left to run.
        if (status_) status_->stop();
        drain_.cancel();
        watchdog_.cancel();
        signals_.cancel();
    }

    void reload() {
        if (stopping_) return;
        log::info("reloading", {{"config", opt_.demo ? "built-in demo" : opt_.config}});
        if (opt_.demo) {
            log::info("the demo has no configuration file to reload");
            return;
        }
        auto loaded = config::load_daemon_config_file(opt_.config);
        if (!loaded.ok()) {
            for (const auto& e : loaded.errors)
                log::error("configuration problem", {{"where", e.to_string()}});
            log::error("reload refused: keeping the running configuration",
                       {{"problems", std::to_string(loaded.errors.size())}});
            return;
        }
        if (loaded.config->state_directory != current_->config.state_directory) {
            log::error(
                "reload refused: the state directory cannot change while running; restart agendad");
            return;
        }
        const auto token = [](const config::daemon_config& c) {
            return c.status_token ? c.status_token->value : std::string();
        };
        if (loaded.config->status_listen != current_->config.status_listen ||
            token(*loaded.config) != token(current_->config)) {
            log::warning(
                "the status listener's address and token change only at restart; keeping them");
        }
        sd_notify("RELOADING=1");
        log::set_level(loaded.config->log);
        pending_ = std::move(*loaded.config);
        close(*current_);
    }

    asio::io_context& io_;
    run_options opt_;
    std::unique_ptr<store> db_;
    clock clock_;
    metrics metrics_;
    std::unique_ptr<status_server> status_;
    asio::signal_set signals_;
    asio::steady_timer drain_;
    asio::steady_timer watchdog_;
    std::unique_ptr<generation> current_;
    std::vector<std::unique_ptr<generation>> retired_;
    std::optional<config::daemon_config> pending_;
    bool stopping_ = false;
    bool failed_once_ = false;
};

}  // namespace

int run_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    run_options opt;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        if (a == "-h" || a == "--help") {
            out << run_usage;
            return exit_ok;
        } else if (a == "--demo") {
            opt.demo = true;
        } else if (a == "--once") {
            opt.once = true;
        } else if (a == "--config" || a == "--now" || a == "--state-dir") {
            if (i + 1 >= args.size()) {
                err << "agendad run: " << a << " needs a value\n(see agendad run --help)\n";
                return exit_usage;
            }
            const std::string value(args[++i]);
            if (a == "--config") {
                opt.config = value;
            } else if (a == "--state-dir") {
                opt.state_dir = value;
            } else if (!(opt.now = parse_time_arg(value))) {
                err << "agendad run: --now '" << value
                    << "' is not a time like 2026-11-20T09:00:00Z\n";
                return exit_usage;
            }
        } else {
            err << "agendad run: unknown argument '" << a << "'\n(see agendad run --help)\n";
            return exit_usage;
        }
    }
    if (!opt.state_dir.empty() && !opt.demo) {
        err << "agendad run: --state-dir goes with --demo; a configuration names its "
               "state_directory\n";
        return exit_usage;
    }
    if (opt.demo && !opt.now) opt.now = parse_time_arg("2026-11-20T09:00:00Z");

    auto loaded = load(opt, err);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) err << e.to_string() << '\n';
        err << "agendad run: the configuration has " << loaded.errors.size()
            << " problem(s); nothing was started (agendad check shows them too)\n";
        return exit_usage;
    }
    for (const auto& w : loaded.warnings) err << "warning: " << w.to_string() << '\n';
    log::set_level(loaded.config->log);

    // A journal that cannot be trusted means acting could mean acting twice: refuse.
    auto db = store::open(loaded.config->state_directory);
    if (!db) {
        log::error("refusing to act: the journal cannot be used", {{"error", db.error()}});
        return exit_input_errors;
    }

    // Run by this thread alone (the hint spares the scheduler's cross-thread wakeups).
    asio::io_context io{1};
    const clock clk = opt.now ? clock::starting_at(*opt.now) : clock{};
    supervisor s(io, opt, std::move(*db), clk);
    if (!s.start(std::move(*loaded.config))) return exit_usage;
    s.listen_for_signals();
    s.feed_watchdog();
    io.run();
    log::info("stopped");
    return s.exit_status();
}

}  // namespace agendad::daemon
