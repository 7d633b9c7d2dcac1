// Turns a mailbox's configured source into a calendar::source: shared by `agendad run` and
// `agendad undo`, so that both talk to a calendar the same way.
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "calendar/ews/ews_client.h"
#include "calendar/graph/graph_client.h"
#include "calendar/graph/oauth.h"
#include "calendar/http/http_client.h"
#include "calendar/source.h"
#include "config/daemon_config.h"
#include "daemon/store.h"
#include "policy/policy.h"

namespace agendad::daemon {

// Makes the sources of one configuration. The mailboxes of one CalDAV source share its HTTP
// client (one connection pool and one TLS context per server); those of one Graph source share
// its HTTP client, its token provider and its Graph client (so that Microsoft's throttling
// limits hold across them); those of one EWS source its HTTP client and its EWS client (one
// sign-in, shared NTLM connections, the same throttling gates).
class source_factory {
  public:
    using clock_fn = std::function<std::chrono::sys_seconds()>;
    // `now` is the daemon's clock (default: the system clock); `history` how far back a Graph
    // source reads the calendar to learn whom the owner met.
    explicit source_factory(boost::asio::any_io_executor executor, clock_fn now = {},
                            std::chrono::days history = std::chrono::days{365});

    // nullptr with `error` set when the source cannot be used.
    std::unique_ptr<calendar::source> make(const config::source_config& source,
                                           const config::mailbox_config& mailbox,
                                           std::string& error);

    // The Graph client of a graph source, made on first use; nullptr with `error` set when the
    // source's credentials cannot be used (a certificate and a key that do not belong together).
    std::shared_ptr<calendar::graph::graph_client> graph_client_for(
        const config::source_config& source, std::string& error);

    // The EWS client of an ews source (one sign-in, one set of throttling gates for all its
    // mailboxes), made on first use; nullptr with `error` set when it cannot be made.
    std::shared_ptr<calendar::ews::ews_client> ews_client_for(const config::source_config& source,
                                                              std::string& error);

  private:
    // The HTTP client of a source, made on first use with its CA file, request timeout and
    // limit of requests opening a connection to one server at once (0: none).
    std::shared_ptr<calendar::http::client> http_client_for(
        const std::string& source_name, const std::filesystem::path& ca_file,
        std::chrono::seconds request_timeout, std::size_t max_new_connections = 0);
    // Requests opening a connection to a CalDAV server from one source at once, at most.
    static constexpr std::size_t caldav_max_new_connections = 4;

    boost::asio::any_io_executor executor_;
    clock_fn now_;
    std::chrono::days history_;
    std::map<std::string, std::shared_ptr<calendar::http::client>> clients_;  // by source name
    std::map<std::string, std::shared_ptr<calendar::graph::graph_client>> graph_clients_;
    std::map<std::string, std::shared_ptr<calendar::ews::ews_client>> ews_clients_;
};

// The app credentials of a Graph source, as the token provider takes them. The scope is the
// Graph service's own (the origin of graph_url + "/.default"), so that national clouds work.
calendar::graph::app_credentials app_credentials_of(const config::graph_source& g);

// The OAuth scope of an EWS source with auth: oauth: its own, else the EWS URL's origin +
// "/.default" (the resource Exchange hybrid modern authentication registers).
std::string ews_oauth_scope(const config::ews_source& e);

// Why a Graph source's credentials cannot be used, or nothing: offline, by signing a client
// assertion when it has a certificate (the certificate cannot be read, the key is not RSA, or
// the two do not belong together).
std::optional<std::string> graph_credentials_problem(const config::graph_source& g,
                                                     std::chrono::sys_seconds now);

// A journal entry for meeting `inv` of calendar object `item`, under `key`: the meeting's fields
// filled in, the decision's left to the caller.
journal_entry entry_for(const journal_key& key, const calendar::source_item& item,
                        const calendar::invitation& inv);

// The policy's follow-up reply template `name` (follow_up: in the policy) rendered for `inv`;
// empty when the policy names none.
std::string follow_up_reply(const policy::policy& p, const std::string& name,
                            const calendar::invitation& inv, std::string_view mailbox);

// Lets a source journal the delivery of `entry_id`'s reply in `db` (see
// calendar::delivery_journal).
void journal_deliveries(calendar::response& r, store& db, std::int64_t entry_id);

}  // namespace agendad::daemon
