#include "daemon/sources.h"

#include "calendar/caldav/caldav_source.h"
#include "calendar/folder/folder_source.h"
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

std::unique_ptr<calendar::source> source_factory::make(const config::source_config& s,
                                                       const config::mailbox_config& m,
                                                       std::string& error) {
    switch (s.kind) {
        case config::source_kind::folder:
            return std::make_unique<calendar::folder_source>(s.folder.path, s.folder.outbox,
                                                             m.address);
        case config::source_kind::caldav: {
            auto& client = clients_[s.name];
            if (!client) {
                calendar::http::tls_options tls;
                tls.ca_file = s.caldav.ca_file;
                client = std::make_shared<calendar::http::client>(executor_, tls);
            }
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
    }
    error = "source '" + s.name + "' has an unknown kind";
    return nullptr;
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
    r.delivery.clear = [&db, entry_id] { db.clear_delivery(entry_id); };
}

}  // namespace agendad::daemon
