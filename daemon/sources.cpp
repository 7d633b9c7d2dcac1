#include "daemon/sources.h"

#include "calendar/folder/folder_source.h"

namespace agendad::daemon {

std::unique_ptr<calendar::source> make_source(const config::source_config& s,
                                              const config::mailbox_config& m, std::string& error) {
    switch (s.kind) {
        case config::source_kind::folder:
            return std::make_unique<calendar::folder_source>(s.folder.path, s.folder.outbox,
                                                             m.address);
        case config::source_kind::caldav:
            error = "source '" + s.name +
                    "' is a CalDAV source, which this version of agendad cannot use yet";
            return nullptr;
    }
    error = "unknown source kind";
    return nullptr;
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
}

}  // namespace agendad::daemon
