// `agendad run`: the daemon. One coroutine per mailbox on one io_context; SIGTERM drains,
// SIGHUP reloads (validated to the side, swapped only if valid); systemd is told READY,
// RELOADING, STOPPING and fed its watchdog.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "config/daemon_config.h"
#include "daemon/cli.h"
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
  --once         one pass over every mailbox, then exit (status 0 when every mailbox synced)
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

// One generation of workers, built from one configuration.
struct generation {
    config::daemon_config config;
    std::vector<std::unique_ptr<mailbox_worker>> workers;
    int running = 0;
    int synced_once = 0;
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

    // Builds the workers of `cfg`; false (with the reasons logged) when it cannot.
    bool start(config::daemon_config cfg) {
        auto next = std::make_unique<generation>();
        next->config = std::move(cfg);
        source_factory sources(io_.get_executor());
        for (const auto& m : next->config.mailboxes) {
            const auto& source_cfg = next->config.sources.at(m.source);
            std::string error;
            auto source = sources.make(source_cfg, m, error);
            if (!source) {
                log::error("cannot watch mailbox", {{"mailbox", m.address}, {"error", error}});
                return false;
            }
            mailbox_setup setup;
            setup.mailbox = m;
            setup.policy = policy_for(*next, m.policy);
            if (!setup.policy) {
                log::error("cannot watch mailbox",
                           {{"mailbox", m.address}, {"error", "no policy " + m.policy}});
                return false;
            }
            setup.mode = config::effective_mode(next->config, m);
            setup.agenda_deadline_hours =
                m.agenda_deadline_hours.value_or(next->config.agenda_deadline_hours);
            setup.max_declines_per_hour =
                m.max_declines_per_hour.value_or(next->config.max_declines_per_hour);
            setup.poll = source_cfg.kind == config::source_kind::folder ? source_cfg.folder.poll
                                                                        : source_cfg.caldav.poll;
            next->workers.push_back(std::make_unique<mailbox_worker>(
                std::move(setup), std::move(source), *db_, clock_, &metrics_));
        }
        if (!status_ && !opt_.once && !start_status_listener(next->config)) return false;
        std::vector<std::string> addresses;
        std::chrono::seconds fastest_poll{std::chrono::hours{1}};
        for (const auto& w : next->workers) {
            addresses.push_back(w->address());
            fastest_poll = std::min(fastest_poll, w->setup().poll);
        }
        metrics_.watching(addresses, fastest_poll, clock_.now());
        current_ = std::move(next);
        for (auto& w : current_->workers) spawn(*w);
        const auto count = std::to_string(current_->workers.size());
        log::info("watching", {{"mailboxes", count}, {"config", current_->config.source_file}});
        sd_notify("READY=1\nSTATUS=watching " + count + " mailbox(es)");
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

    static const policy::policy* policy_for(const generation& g, const std::string& name) {
        // The loaded configuration holds every policy a mailbox names, the built-in one included.
        const auto it = g.config.policies.find(name);
        return it == g.config.policies.end() ? nullptr : &it->second;
    }

    void spawn(mailbox_worker& w) {
        ++current_->running;
        generation* g = current_.get();
        asio::co_spawn(io_, run_worker(w), [this, g, &w](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::error("mailbox worker stopped",
                               {{"mailbox", w.address()}, {"error", ex.what()}});
                }
            }
            if (--g->running == 0) finished(g);
        });
    }

    asio::awaitable<void> run_worker(mailbox_worker& w) {
        if (opt_.once) {
            const pass_report r = co_await w.pass();
            if (!r.synced) failed_once_ = true;
            co_return;
        }
        co_await w.run(false);
    }

    void stop_all() {
        stopping_ = true;
        if (current_) {
            for (auto& w : current_->workers) w->stop();
        }
        signals_.cancel();
    }

    // Every worker of generation `g` has returned.
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
        for (auto& w : current_->workers) w->stop();
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

    asio::io_context io;
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
