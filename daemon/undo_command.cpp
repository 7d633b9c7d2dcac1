// `agendad undo ID`: takes back a decision agendad carried out. The owner's answer goes back to
// "not answered" (or tentative when the organizer had been told, with an apology), the organizer
// is trusted from then on, and agendad never touches that meeting again.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <optional>
#include <ostream>
#include <string>

#include "config/daemon_config.h"
#include "daemon/cli.h"
#include "daemon/directory.h"
#include "daemon/sources.h"
#include "daemon/store.h"
#include "daemon/time_arg.h"
#include "policy/reply.h"

namespace agendad::daemon {
namespace {

namespace asio = boost::asio;

constexpr std::string_view undo_usage = R"(Usage:
  agendad undo ID [--config FILE]

Takes back decision ID (see agendad decisions): the owner's answer on the calendar goes back to
"not answered", or to tentative with an apology (the policy's follow_up.undo reply) when a reply
had been sent; the organizer is trusted from then on, and agendad never touches that meeting
again. Works while the daemon runs.

Options:
  --config FILE  the daemon's configuration (default /etc/agendad/agendad.yaml)
  -h, --help     this help

Exit status: 0 undone; 1 the decision cannot be undone (nothing was sent, already undone, the
meeting is gone, the calendar refused); 2 bad arguments or configuration.
)";

struct outcome {
    int status = exit_input_errors;
    std::string message;
};

asio::awaitable<outcome> undo(store& db, const journal_entry& original,
                              const config::mailbox_config& mailbox,
                              const config::source_config& source_config, const policy::policy& pol,
                              calendar::time_point now) {
    std::string error;
    source_factory sources(co_await asio::this_coro::executor);
    auto source = sources.make(source_config, mailbox, error);
    if (!source) co_return outcome{exit_usage, error};
    const std::string everything;
    auto synced = co_await source->sync(everything);
    if (!synced)
        co_return outcome{exit_input_errors, "cannot read the calendar: " + synced.error().message};

    const calendar::invitation* inv = nullptr;
    const calendar::source_item* item = nullptr;
    for (const auto& candidate : synced->items) {
        for (const auto& e : candidate.events) {
            const std::string occurrence =
                e.recurrence_id ? calendar::format_utc(*e.recurrence_id) : std::string();
            if (e.uid != original.key.uid || occurrence != original.key.recurrence_id) continue;
            if (!inv || e.sequence > inv->sequence) {
                inv = &e;
                item = &candidate;
            }
        }
    }
    if (!inv)
        co_return outcome{exit_input_errors,
                          "the meeting is no longer in the calendar; nothing to undo"};

    journal_key key = original.key;
    key.phase = "undo";
    journal_entry e;
    bool resumed = false;
    if (auto existing = db.find(key); !existing) {
        co_return outcome{exit_input_errors, existing.error()};
    } else if (*existing) {
        e = **existing;  // an undo that was interrupted: finish it
        resumed = true;
    } else {
        e = entry_for(key, *item, *inv);
        e.rule = "undo";
        e.action = "undo";
        e.send_response = original.send_response;
        if (e.send_response) e.reply = follow_up_reply(pol, pol.undo_reply, *inv, mailbox.address);
        e.reason = "the owner took back decision #" + std::to_string(original.id);
        e.mode = "enforce";
        e.decided_at = now;
        e.state = entry_state::intent;
        auto id = db.record(e);
        if (!id) co_return outcome{exit_input_errors, id.error()};
        e.id = *id;
    }

    calendar::response r;
    r.status = e.send_response ? calendar::partstat::tentative : calendar::partstat::needs_action;
    r.comment = e.reply;
    r.send = e.send_response;
    r.now = now;
    r.tag = "undo";
    journal_deliveries(r, db, e.id);
    if (inv->owner && !inv->owner->name.empty())
        r.owner_name = inv->owner->name;
    else
        r.owner_name = policy::name_from_address(mailbox.address);

    // An interrupted undo may already have taken effect: ask first, never do it twice.
    bool applied = false;
    if (resumed) {
        auto state = co_await source->state(e.item_id, *inv, r);
        applied = state && state->applied;
    }
    if (!applied) {
        // The calendar object as it is now: the undo changes that version.
        auto done = co_await source->respond(item->item_id, item->etag, *inv, r);
        if (!done) {
            db.set_state(e.id, entry_state::failed, done.error().message, now);
            co_return outcome{exit_input_errors, "the calendar refused: " + done.error().message};
        }
    }
    db.set_state(e.id, entry_state::done, "", now);
    db.set_state(original.id, entry_state::undone, "undone by the owner", now);
    if (!original.organizer.empty()) {
        db.trust(mailbox.address, original.organizer,
                 "the owner undid decision #" + std::to_string(original.id), now);
    }
    co_return outcome{
        exit_ok, "#" + std::to_string(original.id) + " undone: \"" + original.subject + "\" is " +
                     (r.send ? "tentative again, and " + original.organizer + " was told"
                             : "not answered again") +
                     "; " + original.organizer + " is trusted from now on"};
}

}  // namespace

namespace {

// The group entry (with `address` filled in) that watches `address`, listing the groups
// through Graph; nullopt when none has it, with `problem` set when a group could not be read.
std::optional<config::mailbox_config> group_entry_of(const config::daemon_config& cfg,
                                                     const std::string& address,
                                                     std::string& problem) {
    asio::io_context io;
    source_factory sources(io.get_executor());
    std::optional<config::mailbox_config> found;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            for (const auto& entry : cfg.groups) {
                std::string error;
                const auto client = sources.graph_client_for(cfg.sources.at(entry.source), error);
                if (!client) {
                    problem = error;
                    co_return;
                }
                const auto listed = co_await list_group_members(client, entry.group,
                                                                "source '" + entry.source + "'");
                if (!listed) {
                    problem = listed.error().message;
                    co_return;
                }
                for (const auto& m : *listed) {
                    if (m.address == address) {
                        found = entry;
                        found->address = address;
                        co_return;
                    }
                }
            }
        },
        [&](std::exception_ptr e) {
            if (e) problem = "listing the groups failed unexpectedly";
        });
    io.run();
    return found;
}

}  // namespace

int undo_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
    std::string config_file(config::default_config_path);
    std::optional<std::int64_t> id;
    std::optional<calendar::time_point> now;
    auto fail = [&](const std::string& message) {
        err << "agendad undo: " << message << "\n(see agendad undo --help)\n";
        return exit_usage;
    };
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view a = args[i];
        if (a == "-h" || a == "--help") {
            out << undo_usage;
            return exit_ok;
        }
        if (a == "--config" || a == "--now") {
            if (i + 1 >= args.size()) return fail(std::string(a) + " needs a value");
            const std::string value(args[++i]);
            if (a == "--config")
                config_file = value;
            else if (!(now = parse_time_arg(value)))
                return fail("--now '" + value + "' is not a time");
            continue;
        }
        if (id || a.empty() || a.find_first_not_of("0123456789") != std::string_view::npos) {
            return fail("unexpected argument '" + std::string(a) + "': give one decision ID");
        }
        id = std::stoll(std::string(a));
    }
    if (!id) return fail("which decision? give its ID (agendad decisions lists them)");

    auto loaded = config::load_daemon_config_file(config_file);
    if (!loaded.ok()) {
        for (const auto& e : loaded.errors) err << e.to_string() << '\n';
        return fail("cannot use the configuration " + config_file);
    }
    const config::daemon_config& cfg = *loaded.config;
    auto db = store::open(cfg.state_directory);
    if (!db) {
        err << "agendad undo: " << db.error() << '\n';
        return exit_input_errors;
    }
    auto entry = (*db)->entry(*id);
    if (!entry) {
        err << "agendad undo: " << entry.error() << '\n';
        return exit_input_errors;
    }
    if (!*entry) {
        err << "agendad undo: there is no decision #" << *id << '\n';
        return exit_input_errors;
    }
    const journal_entry& original = **entry;
    auto refuse = [&](const std::string& why) {
        err << "agendad undo: #" << *id << ' ' << why << '\n';
        return exit_input_errors;
    };
    if (original.action == "undo") return refuse("is itself an undo");
    if (original.state == entry_state::undone) return refuse("is already undone");
    if (original.state == entry_state::dry_run)
        return refuse("was journaled in dry-run: nothing was sent, nothing to undo");
    if (original.state == entry_state::left || original.action == "leave")
        return refuse("left the meeting to the owner: nothing to undo");
    if (original.state == entry_state::overridden)
        return refuse("was already overridden by the owner");
    if (original.state != entry_state::done) {
        return refuse("is " + std::string(name_of(original.state)) + ": it did not take effect");
    }
    const config::mailbox_config* mailbox = nullptr;
    for (const auto& m : cfg.mailboxes) {
        if (m.address == original.key.mailbox) mailbox = &m;
    }
    // A member of a group entry: the groups are listed now, in the daemon's order (the first
    // group that has the mailbox gives its settings).
    std::optional<config::mailbox_config> member;
    if (!mailbox && !cfg.groups.empty()) {
        std::string problem;
        member = group_entry_of(cfg, original.key.mailbox, problem);
        if (!member && !problem.empty()) return refuse("cannot be undone now: " + problem);
        if (member) mailbox = &*member;
    }
    if (!mailbox)
        return refuse("belongs to " + original.key.mailbox +
                      ", which the configuration no longer watches");
    const auto policy = cfg.policies.find(mailbox->policy);
    if (policy == cfg.policies.end()) return refuse("belongs to a mailbox whose policy is missing");

    asio::io_context io;
    outcome result;
    const calendar::time_point when =
        now.value_or(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()));
    asio::co_spawn(
        io, undo(**db, original, *mailbox, cfg.sources.at(mailbox->source), policy->second, when),
        [&](std::exception_ptr e, outcome o) {
            if (e) {
                result = {exit_input_errors, "undo failed unexpectedly"};
            } else {
                result = std::move(o);
            }
        });
    io.run();
    (result.status == exit_ok ? out : err)
        << (result.status == exit_ok ? "" : "agendad undo: ") << result.message << '\n';
    return result.status;
}

}  // namespace agendad::daemon
