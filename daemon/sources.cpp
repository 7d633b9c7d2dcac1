#include "daemon/sources.h"

#include "calendar/caldav/caldav_source.h"
#include "calendar/ews/ews_source.h"
#include "calendar/folder/folder_source.h"
#include "calendar/graph/graph_source.h"
#include "policy/reply.h"

namespace agendad::daemon {
namespace {

calendar::smtp::settings smtp_settings_of(const config::smtp_settings& s) {
    calendar::smtp::settings out;
    out.host = s.host;
    out.port = std::to_string(s.port);
    switch (s.security) {
        case config::smtp_security::starttls:
            out.mode = calendar::smtp::security::starttls;
            break;
        case config::smtp_security::tls:
            out.mode = calendar::smtp::security::tls;
            break;
        case config::smtp_security::none:
            out.mode = calendar::smtp::security::none;
            break;
    }
    out.user = s.user;
    if (s.password) out.password = s.password->value;
    out.ca_file = s.ca_file;
    return out;
}

}  // namespace

source_factory::source_factory(boost::asio::any_io_executor executor, clock_fn now,
                               std::chrono::days history)
    : executor_(std::move(executor)), now_(std::move(now)), history_(history) {
    if (!now_) {
        now_ = [] {
            return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
        };
    }
}

std::shared_ptr<calendar::http::client> source_factory::http_client_for(
    const std::string& source_name, const std::filesystem::path& ca_file,
    std::chrono::seconds request_timeout, std::size_t max_new_connections) {
    auto& client = clients_[source_name];
    if (!client) {
        calendar::http::tls_options tls;
        tls.ca_file = ca_file;
        calendar::http::limits lim;
        lim.request_timeout = request_timeout;
        lim.max_new_connections_per_origin = max_new_connections;
        client = std::make_shared<calendar::http::client>(executor_, tls, lim);
    }
    return client;
}

std::shared_ptr<calendar::graph::graph_client> source_factory::graph_client_for(
    const config::source_config& s, std::string& error) {
    if (s.kind != config::source_kind::graph) {
        error = "source '" + s.name + "' is not a Microsoft Graph source";
        return nullptr;
    }
    auto& client = graph_clients_[s.name];
    if (client) return client;
    if (auto problem = graph_credentials_problem(s.graph, now_())) {
        error = "source '" + s.name + "': " + *problem;
        return nullptr;
    }
    auto http = http_client_for(s.name, s.graph.ca_file, s.graph.request_timeout);
    auto tokens =
        std::make_shared<calendar::graph::token_provider>(http, app_credentials_of(s.graph), now_);
    calendar::graph::throttling limits;
    limits.global = s.graph.max_concurrent_requests;
    limits.per_mailbox = s.graph.per_mailbox_requests;
    client = std::make_shared<calendar::graph::graph_client>(
        executor_, std::move(http), std::move(tokens), s.graph.graph_url, limits);
    return client;
}

std::shared_ptr<calendar::ews::ews_client> source_factory::ews_client_for(
    const config::source_config& s, std::string& error) {
    if (s.kind != config::source_kind::ews) {
        error = "source '" + s.name + "' is not an EWS source";
        return nullptr;
    }
    auto& client = ews_clients_[s.name];
    if (client) return client;
    const config::ews_source& e = s.ews;
    auto http = http_client_for(s.name, e.ca_file, e.request_timeout);
    calendar::ews::sign_in credentials;
    switch (e.auth) {
        case config::ews_auth::ntlm:
        case config::ews_auth::basic:
            credentials.kind = e.auth == config::ews_auth::ntlm
                                   ? calendar::ews::sign_in::scheme::ntlm
                                   : calendar::ews::sign_in::scheme::basic;
            credentials.account = e.user;
            if (e.password) credentials.password = e.password->value;
            break;
        case config::ews_auth::oauth: {
            if (auto problem = graph_credentials_problem(e.oauth, now_())) {
                error = "source '" + s.name + "': " + *problem;
                return nullptr;
            }
            calendar::graph::app_credentials app = app_credentials_of(e.oauth);
            app.scope = ews_oauth_scope(e);
            credentials.kind = calendar::ews::sign_in::scheme::bearer;
            credentials.tokens =
                std::make_shared<calendar::graph::token_provider>(http, std::move(app), now_);
            break;
        }
    }
    calendar::ews::client_limits limits;
    limits.global = e.max_concurrent_requests;
    limits.per_mailbox = e.per_mailbox_requests;
    client = std::make_shared<calendar::ews::ews_client>(executor_, std::move(http), e.url,
                                                         std::move(credentials), limits);
    if (e.autodiscover) client->use_autodiscover(e.autodiscover_url);
    return client;
}

std::unique_ptr<calendar::source> source_factory::make(const config::source_config& s,
                                                       const config::mailbox_config& m,
                                                       std::string& error) {
    switch (s.kind) {
        case config::source_kind::folder:
            return std::make_unique<calendar::folder_source>(s.folder.path, s.folder.outbox,
                                                             m.address);
        case config::source_kind::caldav: {
            // All of a source's mailboxes poll one server, the first passes all at once: a few
            // new connections at a time, which a small server's accept queue takes.
            auto client = http_client_for(s.name, s.caldav.ca_file, s.caldav.request_timeout,
                                          caldav_max_new_connections);
            calendar::caldav_settings settings;
            settings.url = s.caldav.url;
            settings.calendar = m.calendar;
            settings.user = s.caldav.user;
            if (s.caldav.password) settings.password = s.caldav.password->value;
            settings.mailbox = m.address;
            settings.source_name = "source '" + s.name + "'";
            if (s.caldav.smtp) {
                settings.smtp = smtp_settings_of(*s.caldav.smtp);
                settings.smtp_from = s.caldav.smtp->from;
            }
            return std::make_unique<calendar::caldav_source>(client, std::move(settings));
        }
        case config::source_kind::graph: {
            auto client = graph_client_for(s, error);
            if (!client) return nullptr;
            calendar::graph::graph_settings settings;
            settings.mailbox = m.address;
            settings.source_name = "source '" + s.name + "'";
            settings.window_back = s.graph.window_back;
            settings.window_ahead = s.graph.window_ahead;
            settings.history = history_;
            settings.now = now_;
            return std::make_unique<calendar::graph::graph_source>(std::move(client),
                                                                   std::move(settings));
        }
        case config::source_kind::ews: {
            auto client = ews_client_for(s, error);
            if (!client) return nullptr;
            calendar::ews::ews_settings settings;
            settings.mailbox = m.address;
            settings.source_name = "source '" + s.name + "'";
            settings.impersonation = s.ews.impersonation;
            return std::make_unique<calendar::ews::ews_source>(std::move(client),
                                                               std::move(settings));
        }
    }
    error = "source '" + s.name + "' has an unknown kind";
    return nullptr;
}

calendar::graph::app_credentials app_credentials_of(const config::graph_source& g) {
    calendar::graph::app_credentials c;
    c.authority = g.authority;
    c.tenant = g.tenant;
    c.client_id = g.client_id;
    // "https://graph.microsoft.com/v1.0" → "https://graph.microsoft.com/.default".
    const auto scheme = g.graph_url.find("://");
    const auto path =
        scheme == std::string::npos ? std::string::npos : g.graph_url.find('/', scheme + 3);
    c.scope = g.graph_url.substr(0, path) + "/.default";
    if (g.client_secret) c.client_secret = g.client_secret->value;
    c.certificate_pem = g.certificate_pem;
    if (g.private_key) c.private_key_pem = g.private_key->value;
    return c;
}

std::string ews_oauth_scope(const config::ews_source& e) {
    if (!e.oauth_scope.empty()) return e.oauth_scope;
    // "https://mail.contoso.com/EWS/Exchange.asmx" → "https://mail.contoso.com/.default".
    const auto scheme = e.url.find("://");
    const auto path = scheme == std::string::npos ? std::string::npos : e.url.find('/', scheme + 3);
    return e.url.substr(0, path) + "/.default";
}

std::optional<std::string> graph_credentials_problem(const config::graph_source& g,
                                                     std::chrono::sys_seconds now) {
    if (g.client_secret) return std::nullopt;  // only Microsoft can tell whether it is right
    if (g.certificate_pem.empty() || !g.private_key) {
        return "needs client_secret_file, or certificate_file and private_key_file";
    }
    std::string error;
    if (calendar::graph::client_assertion(app_credentials_of(g), now, error).empty()) {
        return "certificate_file " + g.certificate_file.string() + " and private_key_file " +
               g.private_key->file.string() + " cannot sign a client assertion: " + error;
    }
    return std::nullopt;
}

journal_entry entry_for(const journal_key& key, const calendar::source_item& item,
                        const calendar::invitation& inv) {
    journal_entry e;
    e.key = key;
    e.item_id = item.item_id;
    e.etag = item.etag;
    e.subject = inv.subject;
    e.organizer = inv.organizer.address;
    e.start = inv.start;
    return e;
}

std::string follow_up_reply(const policy::policy& p, const std::string& name,
                            const calendar::invitation& inv, std::string_view mailbox) {
    if (name.empty()) return {};
    const auto it = p.replies.find(name);
    return it == p.replies.end() ? std::string() : policy::render_reply(it->second, inv, mailbox);
}

void journal_deliveries(calendar::response& r, store& db, std::int64_t entry_id) {
    r.delivery.started = [&db, entry_id]() -> std::optional<bool> {
        auto started = db.delivery_started(entry_id);
        if (!started) return std::nullopt;
        return started->has_value();
    };
    r.delivery.mark = [&db, entry_id, now = r.now](std::string_view what) {
        return db.mark_delivery(entry_id, what, now).has_value();
    };
    r.delivery.clear = [&db, entry_id] { return db.clear_delivery(entry_id).has_value(); };
}

}  // namespace agendad::daemon
