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

}  // namespace agendad::daemon
